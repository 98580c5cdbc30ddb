import { TransactionCanceledException } from '@aws-sdk/client-dynamodb';
import {
  DynamoDBDocumentClient,
  GetCommand,
  type GetCommandInput,
  TransactWriteCommand,
  type TransactWriteCommandInput,
} from '@aws-sdk/lib-dynamodb';
import { mockClient } from 'aws-sdk-client-mock';
import { allCustomMatcher } from 'aws-sdk-client-mock-vitest';
import type {} from 'aws-sdk-client-mock-vitest/extend';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { handler } from '../../../lambdas/sample/handlers/withdraw-member';
import { type ApiEventOptions, apiEvent, lambdaContext } from '../../helpers/api-events';
import { expectProblem, headerOf, jsonBody } from '../../helpers/problem';

expect.extend(allCustomMatcher);

const ddb = mockClient(DynamoDBDocumentClient);
const NOW = new Date('2026-03-01T12:00:00.000Z');
const MEMBER_ID = '01JNQ8Z6Y2X3W4V5T6S7R8P9QA';
const MEMBER_PK = `MEMBER#${MEMBER_ID}`;

/** The id of the n-th order of the member; sorts like n. */
function orderId(n: number): string {
  return `01JNQ8Z6Y2X3W4V5T6S7R8P${String(n).padStart(3, '0')}`;
}

function storedMember(overrides: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    pk: MEMBER_PK,
    sk: 'MEMBER',
    entityType: 'MEMBER',
    id: MEMBER_ID,
    status: 'active',
    version: 3,
    email: 'ada@example.com',
    name: 'Ada',
    createdAt: '2026-02-01T00:00:00.000Z',
    updatedAt: '2026-02-02T00:00:00.000Z',
    ordersRevision: 0,
    ...overrides,
  };
}

function storedOrder(id: string, overrides: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    pk: `ORDER#${id}`,
    sk: 'ORDER',
    entityType: 'ORDER',
    id,
    memberId: MEMBER_ID,
    items: [{ sku: 'SKU-1', quantity: 1, unitPrice: 9.99 }],
    total: 9.99,
    status: 'open',
    version: 1,
    createdAt: '2026-02-03T00:00:00.000Z',
    updatedAt: '2026-02-03T00:00:00.000Z',
    ...overrides,
  };
}

/** A member with `count` open orders. */
function memberWithOrders(count: number): Record<string, unknown>[] {
  const ids = Array.from({ length: count }, (_, index) => orderId(index + 1));
  return [
    storedMember({ openOrderIds: new Set(ids), ordersRevision: count }),
    ...ids.map((id) => storedOrder(id)),
  ];
}

/** Answers GetCommand from these items by partition key; `member` may change between reads. */
function storeHolds(items: readonly Record<string, unknown>[]): void {
  const byPk = new Map(items.map((item) => [String(item.pk), item]));
  ddb.on(GetCommand).callsFake((input: GetCommandInput) => ({ Item: byPk.get(String(input.Key?.pk)) }));
}

function withdraw(options: ApiEventOptions = {}) {
  return handler(
    apiEvent('DELETE', `/members/${MEMBER_ID}`, { pathParameters: { id: MEMBER_ID }, ...options }),
    lambdaContext(),
  );
}

function transactions(): TransactWriteCommandInput[] {
  return ddb.commandCalls(TransactWriteCommand).map((call) => call.args[0].input);
}

function memberChanged(): TransactionCanceledException {
  return new TransactionCanceledException({
    message: 'cancelled',
    $metadata: {},
    CancellationReasons: [{ Code: 'ConditionalCheckFailed' }, { Code: 'None' }],
  });
}

describe('withdraw-member', () => {
  beforeEach(() => {
    vi.useFakeTimers({ toFake: ['Date'] });
    vi.setSystemTime(NOW);
  });

  afterEach(() => {
    ddb.reset();
    vi.useRealTimers();
  });

  it('answers 200 with the withdrawn member, its personal data gone', async () => {
    storeHolds([storedMember()]);
    ddb.on(TransactWriteCommand).resolves({});

    const response = await withdraw();

    expect(response.statusCode).toBe(200);
    expect(headerOf(response, 'etag')).toBe('"4"');
    expect(jsonBody(response)).toEqual({
      id: MEMBER_ID,
      status: 'withdrawn',
      version: 4,
      openOrders: 0,
      createdAt: '2026-02-01T00:00:00.000Z',
      updatedAt: NOW.toISOString(),
      withdrawnAt: NOW.toISOString(),
    });
  });

  it('erases email and name and cancels each open order with its events, all in one transaction', async () => {
    storeHolds([
      storedMember({ openOrderIds: new Set([orderId(2), orderId(1)]), ordersRevision: 2 }),
      storedOrder(orderId(1)),
      storedOrder(orderId(2), { version: 3 }),
    ]);
    ddb.on(TransactWriteCommand).resolves({});

    const response = await withdraw();

    expect(response.statusCode).toBe(200);
    expect(ddb).toHaveReceivedCommandTimes(TransactWriteCommand, 1);
    expect(ddb).toHaveReceivedCommandWith(GetCommand, { Key: { pk: `ORDER#${orderId(1)}`, sk: 'ORDER' } });
    expect(ddb).toHaveReceivedCommandWith(GetCommand, { Key: { pk: `ORDER#${orderId(2)}`, sk: 'ORDER' } });
    const items = transactions()[0]?.TransactItems ?? [];
    expect(items).toHaveLength(6);
    const memberUpdate = items[0]?.Update;
    expect(memberUpdate).toMatchObject({
      TableName: 'outbox-unit',
      Key: { pk: MEMBER_PK, sk: 'MEMBER' },
      ConditionExpression: '#version = :expected AND #ordersRevision = :revision AND #status = :active',
      ExpressionAttributeValues: { ':expected': 3, ':revision': 2, ':version': 4, ':withdrawn': 'withdrawn' },
    });
    expect(memberUpdate?.UpdateExpression).toMatch(/ REMOVE .*#email/);
    expect(memberUpdate?.UpdateExpression).toMatch(/ REMOVE .*#name/);
    // The personal fields of stored Idempotency-Key answers go with them.
    expect(memberUpdate?.UpdateExpression).toMatch(/ REMOVE .*#replayProfiles/);
    expect(memberUpdate?.ExpressionAttributeNames).toMatchObject({ '#replayProfiles': 'replayProfiles' });
    expect(memberUpdate?.ExpressionAttributeNames).toMatchObject({ '#email': 'email', '#name': 'name' });
    expect(items[1]?.Update).toMatchObject({
      Key: { pk: `ORDER#${orderId(1)}`, sk: 'ORDER' },
      ConditionExpression: '#status = :open AND #version = :expected',
      ExpressionAttributeValues: { ':expected': 1, ':version': 2, ':reason': 'member-withdrawn' },
    });
    expect(items[2]?.Update).toMatchObject({
      Key: { pk: `ORDER#${orderId(2)}`, sk: 'ORDER' },
      ExpressionAttributeValues: { ':expected': 3, ':version': 4 },
    });
    expect(items.slice(3).map((item) => item.Put?.Item)).toMatchObject([
      { pk: `ORDER#${orderId(1)}`, sk: 'OUTBOX#000000000002', eventType: 'OrderCancelled', sequence: 2 },
      { pk: `ORDER#${orderId(2)}`, sk: 'OUTBOX#000000000004', eventType: 'OrderCancelled', sequence: 4 },
      {
        pk: MEMBER_PK,
        sk: 'OUTBOX#000000000004',
        eventType: 'MemberWithdrawn',
        sequence: 4,
        data: { memberId: MEMBER_ID, cancelledOrderIds: [orderId(1), orderId(2)] },
      },
    ]);
    expect(JSON.stringify(items[5]?.Put?.Item)).not.toContain('ada@example.com');
  });

  it('cancels 49 open orders in one transaction of 100 actions without an idempotency key', async () => {
    storeHolds(memberWithOrders(49));
    ddb.on(TransactWriteCommand).resolves({});

    const response = await withdraw();

    expect(response.statusCode).toBe(200);
    expect(transactions()[0]?.TransactItems).toHaveLength(100);
  });

  it('answers 409 with an explanation when 50 open orders exceed the transaction capacity', async () => {
    storeHolds(memberWithOrders(50));

    const response = await withdraw();

    const problem = expectProblem(response, 409);
    expect(problem.detail).toContain('50 open orders');
    expect(problem.detail).toContain('at most 49');
    expect(problem.detail).toContain('Cancel 1 or more orders first');
    expect(ddb).toHaveReceivedCommandTimes(GetCommand, 1);
    expect(ddb).not.toHaveReceivedCommand(TransactWriteCommand);
  });

  it('leaves room for the idempotency record: with a key, 48 open orders fit in 99 actions', async () => {
    storeHolds(memberWithOrders(48));
    ddb.on(TransactWriteCommand).resolves({});

    const response = await withdraw({ headers: { 'idempotency-key': 'withdraw-48' } });

    expect(response.statusCode).toBe(200);
    const items = transactions()[0]?.TransactItems ?? [];
    expect(items).toHaveLength(99);
    expect(items.filter((item) => String(item.Put?.Item?.pk).startsWith('IDEMPOTENCY#'))).toHaveLength(1);
  });

  it('answers 409 for 49 open orders with a key, as the idempotency record takes one action', async () => {
    storeHolds(memberWithOrders(49));

    const response = await withdraw({ headers: { 'idempotency-key': 'withdraw-49' } });

    const problem = expectProblem(response, 409);
    expect(problem.detail).toContain('at most 48');
    expect(ddb).not.toHaveReceivedCommand(TransactWriteCommand);
  });

  it('answers 404 when the member does not exist', async () => {
    storeHolds([]);

    const response = await withdraw();

    const problem = expectProblem(response, 404);
    expect(problem.detail).toContain(MEMBER_ID);
    expect(ddb).not.toHaveReceivedCommand(TransactWriteCommand);
  });

  it('answers 409 when the member has already withdrawn', async () => {
    storeHolds([storedMember({ status: 'withdrawn', email: undefined, name: undefined })]);

    const response = await withdraw();

    const problem = expectProblem(response, 409);
    expect(problem.detail).toContain('already withdrawn');
    expect(ddb).not.toHaveReceivedCommand(TransactWriteCommand);
  });

  it('decides again from a fresh read when the member changed before the transaction committed', async () => {
    ddb
      .on(GetCommand)
      .resolvesOnce({ Item: storedMember({ version: 3 }) })
      .resolves({ Item: storedMember({ version: 4, name: 'Ada L.' }) });
    ddb.on(TransactWriteCommand).rejectsOnce(memberChanged()).resolves({});

    const response = await withdraw();

    expect(response.statusCode).toBe(200);
    expect(headerOf(response, 'etag')).toBe('"5"');
    expect(ddb).toHaveReceivedCommandTimes(GetCommand, 2);
    const [first, second] = transactions();
    expect(first?.TransactItems?.[0]?.Update?.ExpressionAttributeValues).toMatchObject({ ':expected': 3 });
    expect(second?.TransactItems?.[0]?.Update?.ExpressionAttributeValues).toMatchObject({ ':expected': 4 });
    expect(second?.TransactItems?.[1]?.Put?.Item).toMatchObject({
      eventType: 'MemberWithdrawn',
      sequence: 5,
    });
  });

  it('answers 409 when the member keeps changing for every attempt', async () => {
    storeHolds([storedMember()]);
    ddb.on(TransactWriteCommand).rejects(memberChanged());

    const response = await withdraw();

    expectProblem(response, 409);
    expect(ddb).toHaveReceivedCommandTimes(TransactWriteCommand, 3);
  });

  it('decides again when an open order was cancelled between reading the member and reading the order', async () => {
    // A customer cancellation commits between the two reads: the member still
    // lists the order, the order is already cancelled. A fresh read agrees again.
    ddb
      .on(GetCommand, { Key: { pk: MEMBER_PK, sk: 'MEMBER' } })
      .resolvesOnce({ Item: storedMember({ openOrderIds: new Set([orderId(1)]), ordersRevision: 1 }) })
      .resolves({ Item: storedMember({ ordersRevision: 2 }) });
    ddb
      .on(GetCommand, { Key: { pk: `ORDER#${orderId(1)}`, sk: 'ORDER' } })
      .resolves({ Item: storedOrder(orderId(1), { status: 'cancelled', version: 2 }) });
    ddb.on(TransactWriteCommand).resolves({});

    const response = await withdraw();

    expect(response.statusCode).toBe(200);
    expect(ddb).toHaveReceivedCommandTimes(TransactWriteCommand, 1);
    expect(transactions()[0]?.TransactItems).toHaveLength(2);
  });
});
