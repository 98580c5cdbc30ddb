import { TransactionCanceledException } from '@aws-sdk/client-dynamodb';
import { DynamoDBDocumentClient, GetCommand, TransactWriteCommand } from '@aws-sdk/lib-dynamodb';
import { marshall } from '@aws-sdk/util-dynamodb';
import { mockClient } from 'aws-sdk-client-mock';
import { allCustomMatcher } from 'aws-sdk-client-mock-vitest';
import type {} from 'aws-sdk-client-mock-vitest/extend';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { handler } from '../../../lambdas/sample/handlers/cancel-order';
import { type ApiEventOptions, apiEvent, lambdaContext } from '../../helpers/api-events';
import { expectProblem, headerOf, jsonBody } from '../../helpers/problem';

expect.extend(allCustomMatcher);

const ddb = mockClient(DynamoDBDocumentClient);
const NOW = new Date('2026-03-01T12:00:00.000Z');
const MEMBER_ID = '01JNQ8Z6Y2X3W4V5T6S7R8P9QA';
const ORDER_ID = '01JNQ8Z6Y2X3W4V5T6S7R8P001';

function storedOrder(overrides: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    pk: `ORDER#${ORDER_ID}`,
    sk: 'ORDER',
    entityType: 'ORDER',
    id: ORDER_ID,
    memberId: MEMBER_ID,
    items: [{ sku: 'SKU-1', quantity: 2, unitPrice: 9.99 }],
    total: 19.98,
    status: 'open',
    version: 1,
    createdAt: '2026-02-03T00:00:00.000Z',
    updatedAt: '2026-02-03T00:00:00.000Z',
    ...overrides,
  };
}

function cancel(options: ApiEventOptions = {}) {
  return handler(
    apiEvent('POST', `/orders/${ORDER_ID}/cancel`, { pathParameters: { id: ORDER_ID }, ...options }),
    lambdaContext(),
  );
}

describe('cancel-order', () => {
  beforeEach(() => {
    vi.useFakeTimers({ toFake: ['Date'] });
    vi.setSystemTime(NOW);
  });

  afterEach(() => {
    ddb.reset();
    vi.useRealTimers();
  });

  it('answers 200 and stores OrderCancelled with sequence version + 1 and the member update in one transaction', async () => {
    ddb.on(GetCommand).resolves({ Item: storedOrder({ version: 2 }) });
    ddb.on(TransactWriteCommand).resolves({});

    const response = await cancel();

    expect(response.statusCode).toBe(200);
    expect(headerOf(response, 'etag')).toBe('"3"');
    // Exactly the documented fields: no storage attribute (pk, sk, entityType) leaks.
    expect(jsonBody(response)).toEqual({
      id: ORDER_ID,
      memberId: MEMBER_ID,
      items: [{ sku: 'SKU-1', quantity: 2, unitPrice: 9.99 }],
      total: 19.98,
      status: 'cancelled',
      version: 3,
      createdAt: '2026-02-03T00:00:00.000Z',
      updatedAt: NOW.toISOString(),
      cancelledAt: NOW.toISOString(),
      cancellationReason: 'customer-request',
    });
    expect(ddb).toHaveReceivedCommandExactlyOnceWith(GetCommand, {
      TableName: 'outbox-unit',
      Key: { pk: `ORDER#${ORDER_ID}`, sk: 'ORDER' },
      ConsistentRead: true,
    });
    expect(ddb).toHaveReceivedCommandTimes(TransactWriteCommand, 1);
    const items = ddb.commandCalls(TransactWriteCommand)[0]?.args[0].input.TransactItems ?? [];
    expect(items).toHaveLength(3);
    expect(items[0]?.Update).toMatchObject({
      Key: { pk: `ORDER#${ORDER_ID}`, sk: 'ORDER' },
      ConditionExpression: '#status = :open AND #version = :expected',
      ExpressionAttributeValues: { ':expected': 2, ':version': 3, ':reason': 'customer-request' },
    });
    expect(items[1]?.Update).toEqual({
      TableName: 'outbox-unit',
      Key: { pk: `MEMBER#${MEMBER_ID}`, sk: 'MEMBER' },
      UpdateExpression: 'DELETE #openOrderIds :order ADD #ordersRevision :one',
      ConditionExpression: 'attribute_exists(pk)',
      ExpressionAttributeNames: { '#openOrderIds': 'openOrderIds', '#ordersRevision': 'ordersRevision' },
      ExpressionAttributeValues: { ':order': new Set([ORDER_ID]), ':one': 1 },
    });
    expect(items[2]?.Put?.Item).toMatchObject({
      pk: `ORDER#${ORDER_ID}`,
      sk: 'OUTBOX#000000000003',
      eventType: 'OrderCancelled',
      sequence: 3,
      data: { orderId: ORDER_ID, memberId: MEMBER_ID, reason: 'customer-request' },
    });
  });

  it('answers 404 when the order does not exist', async () => {
    ddb.on(GetCommand).resolves({});

    const response = await cancel();

    const problem = expectProblem(response, 404);
    expect(problem.detail).toContain(ORDER_ID);
    expect(ddb).not.toHaveReceivedCommand(TransactWriteCommand);
  });

  it('answers 409 when the order is already cancelled', async () => {
    ddb.on(GetCommand).resolves({ Item: storedOrder({ status: 'cancelled', version: 2 }) });

    const response = await cancel();

    const problem = expectProblem(response, 409);
    expect(problem.detail).toContain('already cancelled');
    expect(ddb).not.toHaveReceivedCommand(TransactWriteCommand);
  });

  it('answers 409 when a concurrent cancellation commits between the read and the write', async () => {
    ddb.on(GetCommand).resolves({ Item: storedOrder() });
    ddb.on(TransactWriteCommand).rejects(
      new TransactionCanceledException({
        message: 'cancelled',
        $metadata: {},
        CancellationReasons: [
          {
            Code: 'ConditionalCheckFailed',
            Item: marshall(storedOrder({ status: 'cancelled', version: 2 })),
          },
          { Code: 'None' },
          { Code: 'None' },
        ],
      }),
    );

    const response = await cancel();

    const problem = expectProblem(response, 409);
    expect(problem.detail).toContain('already cancelled');
    expect(ddb).toHaveReceivedCommandTimes(TransactWriteCommand, 1);
  });

  it.each([
    ['no body', {}],
    ['an empty body', { body: '' }],
    ['{}', { body: {} }],
  ])('accepts %s', async (_case, options: ApiEventOptions) => {
    ddb.on(GetCommand).resolves({ Item: storedOrder() });
    ddb.on(TransactWriteCommand).resolves({});

    const response = await cancel(options);

    expect(response.statusCode).toBe(200);
  });

  it('answers 400 for a body with a field', async () => {
    const response = await cancel({ body: { reason: 'changed my mind' } });

    const problem = expectProblem(response, 400);
    expect(JSON.stringify(problem.errors)).toContain('reason');
    expect(ddb).not.toHaveReceivedAnyCommand();
  });

  it('answers 400 for an order id that is not a ULID', async () => {
    const event = apiEvent('POST', '/orders/ORDER%23X/cancel', { pathParameters: { id: 'ORDER#X' } });

    const response = await handler(event, lambdaContext());

    expectProblem(response, 400);
    expect(ddb).not.toHaveReceivedAnyCommand();
  });
});
