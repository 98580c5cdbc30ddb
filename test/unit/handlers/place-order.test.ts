import { TransactionCanceledException } from '@aws-sdk/client-dynamodb';
import { DynamoDBDocumentClient, TransactWriteCommand } from '@aws-sdk/lib-dynamodb';
import { marshall } from '@aws-sdk/util-dynamodb';
import { mockClient } from 'aws-sdk-client-mock';
import { allCustomMatcher } from 'aws-sdk-client-mock-vitest';
import type {} from 'aws-sdk-client-mock-vitest/extend';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { MAX_OPEN_ORDERS } from '../../../lambdas/sample/domain/orders';
import { handler } from '../../../lambdas/sample/handlers/place-order';
import { apiEvent, lambdaContext } from '../../helpers/api-events';
import { expectProblem, headerOf, jsonBody } from '../../helpers/problem';

expect.extend(allCustomMatcher);

const ddb = mockClient(DynamoDBDocumentClient);
const NOW = new Date('2026-03-01T12:00:00.000Z');
const ULID = /^[0-9A-HJKMNP-TV-Z]{26}$/;
const MEMBER_ID = '01JNQ8Z6Y2X3W4V5T6S7R8P9QA';
const ITEMS = [
  { sku: 'SKU-1', quantity: 2, unitPrice: 9.99 },
  { sku: 'SKU-2', quantity: 1, unitPrice: 0.1 },
];

/** Places an order; a string body is sent as raw JSON text, so number literals arrive as written. */
function placeOrder(body: unknown = { memberId: MEMBER_ID, items: ITEMS }) {
  const headers: Record<string, string> =
    typeof body === 'string' ? { 'content-type': 'application/json' } : {};
  return handler(apiEvent('POST', '/orders', { body, headers }), lambdaContext());
}

function memberConditionFailed(current?: Record<string, unknown>): TransactionCanceledException {
  return new TransactionCanceledException({
    message: 'cancelled',
    $metadata: {},
    CancellationReasons: [
      { Code: 'ConditionalCheckFailed', ...(current ? { Item: marshall(current) } : {}) },
      { Code: 'None' },
      { Code: 'None' },
    ],
  });
}

describe('place-order', () => {
  beforeEach(() => {
    vi.useFakeTimers({ toFake: ['Date'] });
    vi.setSystemTime(NOW);
  });

  afterEach(() => {
    ddb.reset();
    vi.useRealTimers();
  });

  it('answers 201 with the order and stores OrderPlaced in the same transaction', async () => {
    ddb.on(TransactWriteCommand).resolves({});

    const response = await placeOrder();

    expect(response.statusCode).toBe(201);
    const order = jsonBody(response);
    expect(order).toEqual({
      id: expect.stringMatching(ULID),
      memberId: MEMBER_ID,
      items: ITEMS,
      total: 20.08,
      status: 'open',
      version: 1,
      createdAt: NOW.toISOString(),
      updatedAt: NOW.toISOString(),
    });
    const id = String(order.id);
    expect(headerOf(response, 'location')).toBe(`/orders/${id}`);
    expect(headerOf(response, 'etag')).toBe('"1"');
    expect(ddb).toHaveReceivedCommandTimes(TransactWriteCommand, 1);
    const items = ddb.commandCalls(TransactWriteCommand)[0]?.args[0].input.TransactItems ?? [];
    expect(items).toHaveLength(3);
    expect(items[1]?.Put).toMatchObject({
      Item: {
        pk: `ORDER#${id}`,
        sk: 'ORDER',
        id,
        memberId: MEMBER_ID,
        total: 20.08,
        status: 'open',
        version: 1,
      },
      ConditionExpression: 'attribute_not_exists(pk)',
    });
    expect(items[2]?.Put?.Item).toMatchObject({
      pk: `ORDER#${id}`,
      sk: 'OUTBOX#000000000001',
      eventType: 'OrderPlaced',
      sequence: 1,
      data: { orderId: id, memberId: MEMBER_ID, items: ITEMS, total: 20.08 },
    });
  });

  it('records the order on the member under the condition that the member is active, in the same transaction', async () => {
    ddb.on(TransactWriteCommand).resolves({});

    const response = await placeOrder();

    const id = String(jsonBody(response).id);
    const memberUpdate = ddb.commandCalls(TransactWriteCommand)[0]?.args[0].input.TransactItems?.[0]?.Update;
    expect(memberUpdate).toEqual({
      TableName: 'outbox-unit',
      Key: { pk: `MEMBER#${MEMBER_ID}`, sk: 'MEMBER' },
      UpdateExpression: 'ADD #openOrderIds :order, #ordersRevision :one',
      ConditionExpression:
        'attribute_exists(pk) AND #status = :active AND ' +
        '(attribute_not_exists(#openOrderIds) OR size(#openOrderIds) < :maxOpen)',
      ExpressionAttributeNames: {
        '#openOrderIds': 'openOrderIds',
        '#ordersRevision': 'ordersRevision',
        '#status': 'status',
      },
      ExpressionAttributeValues: {
        ':order': new Set([id]),
        ':one': 1,
        ':active': 'active',
        ':maxOpen': MAX_OPEN_ORDERS,
      },
      ReturnValuesOnConditionCheckFailure: 'ALL_OLD',
    });
  });

  it('answers 409 when the member does not exist', async () => {
    ddb.on(TransactWriteCommand).rejects(memberConditionFailed());

    const response = await placeOrder();

    const problem = expectProblem(response, 409);
    expect(problem.detail).toBe(`member ${MEMBER_ID} does not exist`);
    expect(ddb).toHaveReceivedCommandTimes(TransactWriteCommand, 1);
  });

  it('answers 409 when the member has withdrawn', async () => {
    ddb.on(TransactWriteCommand).rejects(
      memberConditionFailed({
        pk: `MEMBER#${MEMBER_ID}`,
        sk: 'MEMBER',
        id: MEMBER_ID,
        status: 'withdrawn',
        version: 4,
      }),
    );

    const response = await placeOrder();

    const problem = expectProblem(response, 409);
    expect(problem.detail).toBe(`member ${MEMBER_ID} has withdrawn`);
    expect(ddb).toHaveReceivedCommandTimes(TransactWriteCommand, 1);
  });

  it.each([
    [
      'a quantity of 0',
      { memberId: MEMBER_ID, items: [{ sku: 'SKU-1', quantity: 0, unitPrice: 1 }] },
      'items.0.quantity',
    ],
    [
      'a fractional quantity',
      { memberId: MEMBER_ID, items: [{ sku: 'SKU-1', quantity: 1.5, unitPrice: 1 }] },
      'items.0.quantity',
    ],
    [
      'a unit price with 3 decimals',
      { memberId: MEMBER_ID, items: [{ sku: 'SKU-1', quantity: 1, unitPrice: 1.005 }] },
      'items.0.unitPrice',
    ],
    [
      'a negative unit price',
      { memberId: MEMBER_ID, items: [{ sku: 'SKU-1', quantity: 1, unitPrice: -1 }] },
      'items.0.unitPrice',
    ],
    [
      'a sku with a #',
      { memberId: MEMBER_ID, items: [{ sku: 'SKU#1', quantity: 1, unitPrice: 1 }] },
      'items.0.sku',
    ],
    ['no items', { memberId: MEMBER_ID, items: [] }, 'items'],
    ['a memberId that is not a ULID', { memberId: 'abc', items: ITEMS }, 'memberId'],
    ['a memberId shaped like a key', { memberId: `MEMBER#${MEMBER_ID}`, items: ITEMS }, 'memberId'],
  ])('answers 400 for %s, naming the field', async (_case, body, field) => {
    const response = await placeOrder(body);

    const problem = expectProblem(response, 400);
    expect(problem.errors?.map((issue) => issue.field)).toContain(field);
    expect(ddb).not.toHaveReceivedAnyCommand();
  });

  it.each([
    ['an unknown field in an item', { memberId: MEMBER_ID, items: [{ ...ITEMS[0], colour: 'red' }] }],
    ['an unknown field in the order', { memberId: MEMBER_ID, items: ITEMS, coupon: 'FREE' }],
  ])('answers 400 for %s, naming it', async (_case, body) => {
    const response = await placeOrder(body);

    const problem = expectProblem(response, 400);
    expect(JSON.stringify(problem.errors)).toMatch(/colour|coupon/);
    expect(ddb).not.toHaveReceivedAnyCommand();
  });

  it.each([
    ['1e-200', '1e-200'],
    ['1e-9', '1e-9'],
    ['12.340000001', '12.340000001'],
    ['0.001', '0.001'],
    ['1.005', '1.005'],
    ['12.3400000000000000001 (becomes 12.34 as a double)', '12.3400000000000000001'],
    ['40 significant digits', '1.000000000000000000000000000000000000001'],
    ['1e400 (Infinity as a double)', '1e400'],
  ])(
    'answers 400 for a unit price of %s, naming the field, without calling DynamoDB',
    async (_case, literal) => {
      const body = `{"memberId":"${MEMBER_ID}","items":[{"sku":"SKU-1","quantity":1,"unitPrice":${literal}}]}`;

      const response = await placeOrder(body);

      const problem = expectProblem(response, 400);
      expect(problem.errors).toEqual([{ field: 'items.0.unitPrice', message: expect.any(String) }]);
      expect(ddb).not.toHaveReceivedAnyCommand();
    },
  );

  it.each([
    ['1.0000000000000001 (becomes 1 as a double)', '1.0000000000000001'],
    ['1e-200', '1e-200'],
    ['10000.5', '10000.5'],
  ])('answers 400 for a quantity of %s, naming the field', async (_case, literal) => {
    const body = `{"memberId":"${MEMBER_ID}","items":[{"sku":"SKU-1","quantity":${literal},"unitPrice":1}]}`;

    const response = await placeOrder(body);

    const problem = expectProblem(response, 400);
    expect(problem.errors?.map((issue) => issue.field)).toEqual(['items.0.quantity']);
    expect(ddb).not.toHaveReceivedAnyCommand();
  });

  it.each([
    ['12.34', 12.34],
    ['12.340', 12.34],
    ['1.2e1', 12],
    ['0.1', 0.1],
    ['1000000', 1_000_000],
    ['999999.99', 999_999.99],
    ['0', 0],
  ])('accepts a unit price of %s exactly', async (literal, stored) => {
    ddb.on(TransactWriteCommand).resolves({});
    const body = `{"memberId":"${MEMBER_ID}","items":[{"sku":"SKU-1","quantity":1,"unitPrice":${literal}}]}`;

    const response = await placeOrder(body);

    expect(response.statusCode).toBe(201);
    expect(jsonBody(response)).toMatchObject({ items: [{ unitPrice: stored }], total: stored });
  });

  it('answers 409 saying why when the member has the most open orders one member can have', async () => {
    ddb.on(TransactWriteCommand).rejects(
      memberConditionFailed({
        pk: `MEMBER#${MEMBER_ID}`,
        sk: 'MEMBER',
        id: MEMBER_ID,
        status: 'active',
        version: 1,
        openOrderIds: new Set(
          Array.from(
            { length: MAX_OPEN_ORDERS },
            (_, n) => `01JNQ8Z6Y2X3W4V5T6S${String(n).padStart(7, '0')}`,
          ),
        ),
      }),
    );

    const response = await placeOrder();

    const problem = expectProblem(response, 409);
    expect(problem.detail).toContain(`${MAX_OPEN_ORDERS} open orders`);
    expect(problem.detail).toContain('400 KB');
    expect(ddb).toHaveReceivedCommandTimes(TransactWriteCommand, 1);
  });

  it('retries when the member condition failed for an order cancelled in between', async () => {
    ddb
      .on(TransactWriteCommand)
      .rejectsOnce(
        memberConditionFailed({
          pk: `MEMBER#${MEMBER_ID}`,
          sk: 'MEMBER',
          id: MEMBER_ID,
          status: 'active',
          version: 1,
          openOrderIds: new Set(['01JNQ8Z6Y2X3W4V5T6S7R8P001']),
        }),
      )
      .resolves({});

    const response = await placeOrder();

    expect(response.statusCode).toBe(201);
    expect(ddb).toHaveReceivedCommandTimes(TransactWriteCommand, 2);
  });
});
