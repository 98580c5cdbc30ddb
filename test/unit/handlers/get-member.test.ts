import { DynamoDBDocumentClient, GetCommand } from '@aws-sdk/lib-dynamodb';
import { mockClient } from 'aws-sdk-client-mock';
import { allCustomMatcher } from 'aws-sdk-client-mock-vitest';
import type {} from 'aws-sdk-client-mock-vitest/extend';
import { afterEach, describe, expect, it } from 'vitest';
import { handler } from '../../../lambdas/sample/handlers/get-member';
import { apiEvent, lambdaContext } from '../../helpers/api-events';
import { expectProblem, headerOf, jsonBody } from '../../helpers/problem';

expect.extend(allCustomMatcher);

const ddb = mockClient(DynamoDBDocumentClient);
const MEMBER_ID = '01JNQ8Z6Y2X3W4V5T6S7R8P9QA';
const ORDER_IDS = ['01JNQ8Z6Y2X3W4V5T6S7R8P001', '01JNQ8Z6Y2X3W4V5T6S7R8P002'];

function getMember(id: string) {
  return handler(apiEvent('GET', `/members/${id}`, { pathParameters: { id } }), lambdaContext());
}

describe('get-member', () => {
  afterEach(() => {
    ddb.reset();
  });

  it('answers 200 with the member view and its version as ETag', async () => {
    ddb.on(GetCommand).resolves({
      Item: {
        pk: `MEMBER#${MEMBER_ID}`,
        sk: 'MEMBER',
        entityType: 'MEMBER',
        id: MEMBER_ID,
        status: 'active',
        version: 7,
        email: 'ada@example.com',
        name: 'Ada',
        openOrderIds: new Set(ORDER_IDS),
        ordersRevision: 2,
        createdAt: '2026-03-01T12:00:00.000Z',
        updatedAt: '2026-03-02T12:00:00.000Z',
      },
    });

    const response = await getMember(MEMBER_ID);

    expect(response.statusCode).toBe(200);
    expect(headerOf(response, 'etag')).toBe('"7"');
    expect(jsonBody(response)).toEqual({
      id: MEMBER_ID,
      status: 'active',
      version: 7,
      email: 'ada@example.com',
      name: 'Ada',
      openOrders: 2,
      createdAt: '2026-03-01T12:00:00.000Z',
      updatedAt: '2026-03-02T12:00:00.000Z',
    });
    expect(ddb).toHaveReceivedCommandExactlyOnceWith(GetCommand, {
      TableName: 'outbox-unit',
      Key: { pk: `MEMBER#${MEMBER_ID}`, sk: 'MEMBER' },
      ConsistentRead: true,
    });
  });

  it('answers 404 problem+json when the member does not exist', async () => {
    ddb.on(GetCommand).resolves({});

    const response = await getMember(MEMBER_ID);

    const problem = expectProblem(response, 404);
    expect(problem.detail).toContain(MEMBER_ID);
  });

  it.each(['abc', 'MEMBER#X', `MEMBER#${MEMBER_ID}`, MEMBER_ID.toLowerCase(), `${MEMBER_ID}0`])(
    'answers 400 for the malformed id %s without calling DynamoDB',
    async (id) => {
      ddb.on(GetCommand).resolves({});

      const response = await getMember(id);

      const problem = expectProblem(response, 400);
      expect(problem.detail).toContain('ULID');
      expect(ddb).not.toHaveReceivedAnyCommand();
    },
  );
});
