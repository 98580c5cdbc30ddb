import { TransactionCanceledException } from '@aws-sdk/client-dynamodb';
import { DynamoDBDocumentClient, GetCommand, TransactWriteCommand } from '@aws-sdk/lib-dynamodb';
import { marshall } from '@aws-sdk/util-dynamodb';
import { mockClient } from 'aws-sdk-client-mock';
import { allCustomMatcher } from 'aws-sdk-client-mock-vitest';
import type {} from 'aws-sdk-client-mock-vitest/extend';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { MAX_REPLAY_PROFILES } from '../../../lambdas/sample/domain/members';
import { handler } from '../../../lambdas/sample/handlers/update-member';
import { type ApiEventOptions, apiEvent, lambdaContext } from '../../helpers/api-events';
import { expectProblem, headerOf, jsonBody } from '../../helpers/problem';

expect.extend(allCustomMatcher);

const ddb = mockClient(DynamoDBDocumentClient);
const NOW = new Date('2026-03-01T12:00:00.000Z');
const MEMBER_ID = '01JNQ8Z6Y2X3W4V5T6S7R8P9QA';

function storedMember(overrides: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    pk: `MEMBER#${MEMBER_ID}`,
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

function updateMember(options: ApiEventOptions = {}, id = MEMBER_ID) {
  return handler(
    apiEvent('PATCH', `/members/${id}`, {
      pathParameters: { id },
      body: { name: 'Ada Lovelace' },
      ...options,
      headers: { 'if-match': '"3"', ...options.headers },
    }),
    lambdaContext(),
  );
}

function conditionFailedOnMember(current?: Record<string, unknown>): TransactionCanceledException {
  return new TransactionCanceledException({
    message: 'cancelled',
    $metadata: {},
    CancellationReasons: [
      { Code: 'ConditionalCheckFailed', ...(current ? { Item: marshall(current) } : {}) },
      { Code: 'None' },
    ],
  });
}

describe('update-member', () => {
  beforeEach(() => {
    vi.useFakeTimers({ toFake: ['Date'] });
    vi.setSystemTime(NOW);
  });

  afterEach(() => {
    ddb.reset();
    vi.useRealTimers();
  });

  it('answers 200 and stores MemberProfileUpdated with sequence version + 1 in the same transaction', async () => {
    ddb.on(GetCommand).resolves({ Item: storedMember() });
    ddb.on(TransactWriteCommand).resolves({});

    const response = await updateMember();

    expect(response.statusCode).toBe(200);
    expect(headerOf(response, 'etag')).toBe('"4"');
    expect(jsonBody(response)).toMatchObject({
      id: MEMBER_ID,
      version: 4,
      name: 'Ada Lovelace',
      email: 'ada@example.com',
      updatedAt: NOW.toISOString(),
    });
    expect(ddb).toHaveReceivedCommandTimes(TransactWriteCommand, 1);
    const items = ddb.commandCalls(TransactWriteCommand)[0]?.args[0].input.TransactItems;
    expect(items).toHaveLength(2);
    expect(items?.[0]?.Update).toMatchObject({
      TableName: 'outbox-unit',
      Key: { pk: `MEMBER#${MEMBER_ID}`, sk: 'MEMBER' },
      UpdateExpression: 'SET #version = :version, #updatedAt = :now, #name = :name',
      ConditionExpression: 'attribute_exists(pk) AND #version = :expected AND #status = :active',
      ExpressionAttributeValues: {
        ':expected': 3,
        ':version': 4,
        ':name': 'Ada Lovelace',
        ':active': 'active',
      },
      ReturnValuesOnConditionCheckFailure: 'ALL_OLD',
    });
    expect(items?.[1]?.Put?.Item).toMatchObject({
      pk: `MEMBER#${MEMBER_ID}`,
      sk: 'OUTBOX#000000000004',
      eventType: 'MemberProfileUpdated',
      sequence: 4,
      data: { memberId: MEMBER_ID, changes: { name: 'Ada Lovelace' } },
    });
  });

  it('accepts If-Match without quotes and as a weak ETag', async () => {
    ddb.on(GetCommand).resolves({ Item: storedMember() });
    ddb.on(TransactWriteCommand).resolves({});

    const bare = await updateMember({ headers: { 'if-match': '3' } });
    const weak = await updateMember({ headers: { 'if-match': 'W/"3"' } });

    expect(bare.statusCode).toBe(200);
    expect(weak.statusCode).toBe(200);
  });

  it('answers 428 without If-Match, without calling DynamoDB', async () => {
    const event = apiEvent('PATCH', `/members/${MEMBER_ID}`, {
      pathParameters: { id: MEMBER_ID },
      body: { name: 'Ada Lovelace' },
    });

    const response = await handler(event, lambdaContext());

    const problem = expectProblem(response, 428);
    expect(problem.detail).toContain('If-Match');
    expect(ddb).not.toHaveReceivedAnyCommand();
  });

  it.each(['abc', '"0"', '"-3"', '*', '"1234567890123"'])(
    'answers 400 for the malformed If-Match %s, without calling DynamoDB',
    async (ifMatch) => {
      const response = await updateMember({ headers: { 'if-match': ifMatch } });

      const problem = expectProblem(response, 400);
      expect(problem.detail).toContain('If-Match');
      expect(ddb).not.toHaveReceivedAnyCommand();
    },
  );

  it('answers 412 with the current ETag when the stored version differs from If-Match', async () => {
    ddb.on(GetCommand).resolves({ Item: storedMember({ version: 5 }) });

    const response = await updateMember();

    const problem = expectProblem(response, 412);
    expect(problem.detail).toContain('5');
    expect(headerOf(response, 'etag')).toBe('"5"');
    expect(ddb).not.toHaveReceivedCommand(TransactWriteCommand);
  });

  it('answers 404 when the member does not exist', async () => {
    ddb.on(GetCommand).resolves({});

    const response = await updateMember();

    const problem = expectProblem(response, 404);
    expect(problem.detail).toContain(MEMBER_ID);
    expect(ddb).not.toHaveReceivedCommand(TransactWriteCommand);
  });

  it('answers 409 when the member has withdrawn', async () => {
    ddb
      .on(GetCommand)
      .resolves({ Item: storedMember({ status: 'withdrawn', email: undefined, name: undefined }) });

    const response = await updateMember();

    const problem = expectProblem(response, 409);
    expect(problem.detail).toContain('withdrawn');
    expect(ddb).not.toHaveReceivedCommand(TransactWriteCommand);
  });

  it('answers 412 with the newer ETag when another writer commits between the read and the write', async () => {
    ddb.on(GetCommand).resolves({ Item: storedMember() });
    ddb
      .on(TransactWriteCommand)
      .rejects(conditionFailedOnMember(storedMember({ version: 4, name: 'Other' })));

    const response = await updateMember();

    expectProblem(response, 412);
    expect(headerOf(response, 'etag')).toBe('"4"');
    expect(ddb).toHaveReceivedCommandTimes(TransactWriteCommand, 1);
  });

  it('answers 409 when the member withdraws between the read and the write', async () => {
    ddb.on(GetCommand).resolves({ Item: storedMember() });
    ddb
      .on(TransactWriteCommand)
      .rejects(conditionFailedOnMember(storedMember({ status: 'withdrawn', version: 4 })));

    const response = await updateMember();

    expectProblem(response, 409);
  });

  it('answers 400 for an empty patch, without calling DynamoDB', async () => {
    const response = await updateMember({ body: {} });

    const problem = expectProblem(response, 400);
    expect(JSON.stringify(problem.errors)).toContain('at least one of email, name');
    expect(ddb).not.toHaveReceivedAnyCommand();
  });

  it('answers 400 for a path id that is not a ULID, without calling DynamoDB', async () => {
    const response = await updateMember({}, 'MEMBER#X');

    expectProblem(response, 400);
    expect(ddb).not.toHaveReceivedAnyCommand();
  });

  describe('with an Idempotency-Key', () => {
    const NOW_SECONDS = NOW.getTime() / 1000;
    const EXPIRES = NOW_SECONDS + 24 * 60 * 60;

    /** Answers the record read with nothing and the member read with `member`. */
    function storeHolds(member: Record<string, unknown>): void {
      ddb.on(GetCommand).callsFake((input: { Key?: { pk?: string } }) => ({
        Item: String(input.Key?.pk).startsWith('MEMBER#') ? member : undefined,
      }));
    }

    it('keeps the answer personal fields on the member item by version, dropping expired ones, and none in the record', async () => {
      storeHolds(
        storedMember({
          replayProfiles: {
            '1': { email: 'old@example.com', name: 'Old', expiresAt: NOW_SECONDS - 1 },
            '3': { email: 'ada@example.com', name: 'Ada', expiresAt: NOW_SECONDS + 60 },
          },
        }),
      );
      ddb.on(TransactWriteCommand).resolves({});

      const response = await updateMember({ headers: { 'idempotency-key': 'patch-1' } });

      expect(response.statusCode).toBe(200);
      const items = ddb.commandCalls(TransactWriteCommand)[0]?.args[0].input.TransactItems ?? [];
      expect(items[0]?.Update?.UpdateExpression).toContain('#replayProfiles = :replayProfiles');
      expect(items[0]?.Update?.ExpressionAttributeValues?.[':replayProfiles']).toEqual({
        '3': { email: 'ada@example.com', name: 'Ada', expiresAt: NOW_SECONDS + 60 },
        '4': { email: 'ada@example.com', name: 'Ada Lovelace', expiresAt: EXPIRES },
      });
      const record = items.find((item) => String(item.Put?.Item?.pk).startsWith('IDEMPOTENCY#'))?.Put?.Item;
      expect(record?.personal).toEqual({ memberId: MEMBER_ID, version: 4 });
      expect(JSON.stringify(record)).not.toContain('Ada');
      expect(JSON.stringify(record)).not.toContain('ada@example.com');
    });

    it('drops expired answers without a key and adds none', async () => {
      storeHolds(
        storedMember({
          replayProfiles: { '1': { email: 'old@example.com', name: 'Old', expiresAt: NOW_SECONDS - 1 } },
        }),
      );
      ddb.on(TransactWriteCommand).resolves({});

      const response = await updateMember();

      expect(response.statusCode).toBe(200);
      const update = ddb.commandCalls(TransactWriteCommand)[0]?.args[0].input.TransactItems?.[0]?.Update;
      expect(update?.UpdateExpression).toMatch(/ REMOVE #replayProfiles$/);
    });

    it('answers 429 with Retry-After, writing nothing, when the member holds the most stored answers', async () => {
      const full = Object.fromEntries(
        Array.from({ length: MAX_REPLAY_PROFILES }, (_, n) => [
          String(n + 1),
          { email: 'ada@example.com', name: 'Ada', expiresAt: NOW_SECONDS + 100 + n },
        ]),
      );
      storeHolds(storedMember({ replayProfiles: full }));

      const response = await updateMember({ headers: { 'idempotency-key': 'patch-2' } });

      const problem = expectProblem(response, 429);
      expect(problem.detail).toContain('without an Idempotency-Key');
      expect(headerOf(response, 'retry-after')).toBe('101');
      expect(ddb).not.toHaveReceivedCommand(TransactWriteCommand);
    });

    it('answers the update without a key even when the member holds the most stored answers', async () => {
      const full = Object.fromEntries(
        Array.from({ length: MAX_REPLAY_PROFILES }, (_, n) => [
          String(n + 1),
          { email: 'ada@example.com', name: 'Ada', expiresAt: NOW_SECONDS + 100 },
        ]),
      );
      storeHolds(storedMember({ replayProfiles: full }));
      ddb.on(TransactWriteCommand).resolves({});

      const response = await updateMember();

      expect(response.statusCode).toBe(200);
      expect(jsonBody(response)).not.toHaveProperty('replayProfiles');
    });
  });
});
