import { InternalServerError, TransactionCanceledException } from '@aws-sdk/client-dynamodb';
import {
  DynamoDBDocumentClient,
  GetCommand,
  TransactWriteCommand,
  type TransactWriteCommandInput,
} from '@aws-sdk/lib-dynamodb';
import { mockClient } from 'aws-sdk-client-mock';
import { allCustomMatcher } from 'aws-sdk-client-mock-vitest';
import type {} from 'aws-sdk-client-mock-vitest/extend';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { handler } from '../../../lambdas/sample/handlers/create-member';
import { type ApiEventOptions, apiEvent, lambdaContext } from '../../helpers/api-events';
import { expectProblem, headerOf, jsonBody } from '../../helpers/problem';

expect.extend(allCustomMatcher);

const ddb = mockClient(DynamoDBDocumentClient);
const NOW = new Date('2026-03-01T12:00:00.000Z');
const NOW_SECONDS = NOW.getTime() / 1000;
const ULID = /^[0-9A-HJKMNP-TV-Z]{26}$/;
const CLIENT_KEY = 'client-key-7f3a9c';
const VALID_BODY = { email: 'ada@example.com', name: 'Ada Lovelace' };

function createMember(options: ApiEventOptions = {}) {
  return handler(apiEvent('POST', '/members', { body: VALID_BODY, ...options }), lambdaContext());
}

/** The TransactItems of every TransactWriteItems the mock received. */
function transactions(): NonNullable<TransactWriteCommandInput['TransactItems']>[] {
  return ddb.commandCalls(TransactWriteCommand).map((call) => call.args[0].input.TransactItems ?? []);
}

/** Answers GetCommand from the items the transactions put, by key, as a table would. */
function storeKeepsPuts(): Map<string, Record<string, unknown>> {
  const items = new Map<string, Record<string, unknown>>();
  ddb.on(GetCommand).callsFake((input: { Key?: { pk?: string; sk?: string } }) => ({
    Item: items.get(`${input.Key?.pk}/${input.Key?.sk}`),
  }));
  return items;
}

function keep(items: Map<string, Record<string, unknown>>, input: TransactWriteCommandInput): void {
  for (const entry of input.TransactItems ?? []) {
    if (entry.Put?.Item) items.set(`${entry.Put.Item.pk}/${entry.Put.Item.sk}`, entry.Put.Item);
  }
}

describe('create-member', () => {
  beforeEach(() => {
    vi.useFakeTimers({ toFake: ['Date'] });
    vi.setSystemTime(NOW);
  });

  afterEach(() => {
    ddb.reset();
    vi.useRealTimers();
  });

  it('answers 201 with the member and stores MemberRegistered in the same transaction', async () => {
    ddb.on(TransactWriteCommand).resolves({});

    const response = await createMember();

    expect(response.statusCode).toBe(201);
    const member = jsonBody(response);
    expect(member).toEqual({
      id: expect.stringMatching(ULID),
      status: 'active',
      version: 1,
      email: 'ada@example.com',
      name: 'Ada Lovelace',
      openOrders: 0,
      createdAt: NOW.toISOString(),
      updatedAt: NOW.toISOString(),
    });
    const id = String(member.id);
    expect(headerOf(response, 'location')).toBe(`/members/${id}`);
    expect(headerOf(response, 'etag')).toBe('"1"');
    expect(headerOf(response, 'content-type')).toBe('application/json');

    expect(ddb).toHaveReceivedCommandTimes(TransactWriteCommand, 1);
    expect(ddb).not.toHaveReceivedCommand(GetCommand);
    const [items] = transactions();
    expect(items).toHaveLength(2);
    expect(items?.[0]?.Put).toEqual({
      TableName: 'outbox-unit',
      Item: {
        pk: `MEMBER#${id}`,
        sk: 'MEMBER',
        entityType: 'MEMBER',
        id,
        status: 'active',
        version: 1,
        email: 'ada@example.com',
        name: 'Ada Lovelace',
        createdAt: NOW.toISOString(),
        updatedAt: NOW.toISOString(),
        ordersRevision: 0,
      },
      ConditionExpression: 'attribute_not_exists(pk)',
    });
    expect(items?.[1]?.Put).toMatchObject({
      TableName: 'outbox-unit',
      ConditionExpression: 'attribute_not_exists(#pk)',
      ExpressionAttributeNames: { '#pk': 'pk' },
      Item: {
        pk: `MEMBER#${id}`,
        sk: 'OUTBOX#000000000001',
        eventType: 'MemberRegistered',
        source: 'com.example.members',
        aggregateType: 'MEMBER',
        aggregateId: id,
        sequence: 1,
        occurredAt: NOW.toISOString(),
        data: { memberId: id, email: 'ada@example.com', name: 'Ada Lovelace' },
        pendingPk: expect.stringMatching(/^PENDING#\d+$/),
      },
    });
  });

  it('carries the correlation id and trace header of the request into the event', async () => {
    ddb.on(TransactWriteCommand).resolves({});
    const traceHeader = 'Root=1-65f0a1b2-0123456789abcdef01234567;Sampled=1';

    await createMember({ headers: { 'x-correlation-id': 'corr-42', 'x-amzn-trace-id': traceHeader } });

    expect(transactions()[0]?.[1]?.Put?.Item).toMatchObject({ correlationId: 'corr-42', traceHeader });
  });

  it('uses the API request id as correlation id when the header is absent or malformed', async () => {
    ddb.on(TransactWriteCommand).resolves({});

    await createMember({ headers: { 'x-correlation-id': 'not valid!' }, requestId: 'req-777' });

    expect(transactions()[0]?.[1]?.Put?.Item).toMatchObject({ correlationId: 'req-777' });
  });

  it('answers 400 for a body that is not JSON', async () => {
    const response = await createMember({
      body: '{"email":',
      headers: { 'content-type': 'application/json' },
    });

    const problem = expectProblem(response, 400);
    expect(problem.detail).toContain('JSON');
    expect(ddb).not.toHaveReceivedAnyCommand();
  });

  it('answers 400 naming an unknown field', async () => {
    const response = await createMember({ body: { ...VALID_BODY, nickname: 'ada' } });

    const problem = expectProblem(response, 400);
    expect(JSON.stringify(problem.errors)).toContain('nickname');
    expect(ddb).not.toHaveReceivedAnyCommand();
  });

  it('answers 400 naming a field of the wrong type', async () => {
    const response = await createMember({ body: { email: 'ada@example.com', name: 42 } });

    const problem = expectProblem(response, 400);
    expect(problem.errors).toEqual([{ field: 'name', message: expect.any(String) }]);
    expect(ddb).not.toHaveReceivedAnyCommand();
  });

  it('answers 400 naming an email that is not an email address', async () => {
    const response = await createMember({ body: { email: 'not-an-email', name: 'Ada' } });

    const problem = expectProblem(response, 400);
    expect(problem.errors).toEqual([{ field: 'email', message: 'must be an email address' }]);
    expect(ddb).not.toHaveReceivedAnyCommand();
  });

  it('answers 400 for a missing field', async () => {
    const response = await createMember({ body: { email: 'ada@example.com' } });

    const problem = expectProblem(response, 400);
    expect(problem.errors).toContainEqual({ field: 'name', message: expect.any(String) });
    expect(ddb).not.toHaveReceivedAnyCommand();
  });

  it('answers 415 for a body that is not application/json', async () => {
    const response = await createMember({ headers: { 'content-type': 'text/plain' } });

    expectProblem(response, 415);
    expect(ddb).not.toHaveReceivedAnyCommand();
  });

  it('accepts application/json with parameters, such as a charset', async () => {
    ddb.on(TransactWriteCommand).resolves({});

    const response = await createMember({ headers: { 'content-type': 'Application/JSON; charset=utf-8' } });

    expect(response.statusCode).toBe(201);
  });

  it('answers 413 for a body over 16 KiB', async () => {
    const response = await createMember({ body: { ...VALID_BODY, name: 'x'.repeat(16 * 1024) } });

    const problem = expectProblem(response, 413);
    expect(problem.detail).toContain('16384');
    expect(ddb).not.toHaveReceivedAnyCommand();
  });

  it('measures a base64-encoded body after decoding it', async () => {
    ddb.on(TransactWriteCommand).resolves({});

    const response = await createMember({ isBase64Encoded: true });

    expect(response.statusCode).toBe(201);
  });

  describe('with an Idempotency-Key', () => {
    it('stores the response without personal data in the same transaction, under a key free of the client key text', async () => {
      ddb.on(GetCommand).resolves({});
      ddb.on(TransactWriteCommand).resolves({});

      const response = await createMember({ headers: { 'idempotency-key': CLIENT_KEY } });

      expect(response.statusCode).toBe(201);
      const { email: _email, name: _name, ...withoutPersonal } = jsonBody(response);
      const id = String(withoutPersonal.id);
      expect(ddb).toHaveReceivedCommandWith(GetCommand, {
        TableName: 'outbox-unit',
        Key: { pk: expect.stringMatching(/^IDEMPOTENCY#/), sk: 'IDEMPOTENCY' },
        ConsistentRead: true,
      });
      const input = ddb.commandCalls(TransactWriteCommand)[0]?.args[0].input;
      expect(input?.TransactItems).toHaveLength(3);
      const record = input?.TransactItems?.[1];
      expect(record).toEqual({
        Put: {
          TableName: 'outbox-unit',
          Item: {
            pk: expect.stringMatching(/^IDEMPOTENCY#[0-9a-f]{64}$/),
            sk: 'IDEMPOTENCY',
            fingerprint: expect.stringMatching(/^[0-9a-f]{64}$/),
            response: { ...response, body: JSON.stringify(withoutPersonal) },
            personal: { memberId: id, version: 1 },
            createdAt: NOW.toISOString(),
            expiresAt: NOW_SECONDS + 24 * 60 * 60,
          },
          ConditionExpression: 'attribute_not_exists(pk) OR expiresAt < :now',
          ExpressionAttributeValues: { ':now': NOW_SECONDS },
        },
      });
      expect(JSON.stringify(record)).not.toContain('ada@example.com');
      expect(JSON.stringify(record)).not.toContain('Ada Lovelace');
      // The personal fields of the answer live on the member item, which a withdrawal erases.
      expect(input?.TransactItems?.[0]?.Put?.Item?.replayProfiles).toEqual({
        '1': { email: 'ada@example.com', name: 'Ada Lovelace', expiresAt: NOW_SECONDS + 24 * 60 * 60 },
      });
      expect(input?.TransactItems?.[2]?.Put?.Item).toMatchObject({ eventType: 'MemberRegistered' });
      expect(input?.ClientRequestToken).toMatch(/^.{1,36}$/);
      expect(JSON.stringify(input)).not.toContain(CLIENT_KEY);
      expect(JSON.stringify(ddb.commandCalls(GetCommand)[0]?.args[0].input)).not.toContain(CLIENT_KEY);
    });

    it('answers a repeat with the stored response marked as replayed and sends no transaction', async () => {
      const items = storeKeepsPuts();
      ddb.on(TransactWriteCommand).callsFake((input: TransactWriteCommandInput) => keep(items, input));
      const first = await createMember({ headers: { 'idempotency-key': CLIENT_KEY } });
      ddb.resetHistory();

      const repeat = await createMember({ headers: { 'idempotency-key': CLIENT_KEY } });

      expect(repeat.statusCode).toBe(201);
      expect(repeat.body).toBe(first.body);
      expect(headerOf(repeat, 'location')).toBe(headerOf(first, 'location'));
      expect(headerOf(repeat, 'idempotent-replayed')).toBe('true');
      // The record, then the member item for the answer's personal fields.
      expect(ddb).toHaveReceivedCommandTimes(GetCommand, 2);
      expect(ddb).not.toHaveReceivedCommand(TransactWriteCommand);
    });

    it('replays without the personal fields once the member item no longer holds them', async () => {
      const items = storeKeepsPuts();
      ddb.on(TransactWriteCommand).callsFake((input: TransactWriteCommandInput) => keep(items, input));
      const first = jsonBody(await createMember({ headers: { 'idempotency-key': CLIENT_KEY } }));
      const key = `MEMBER#${String(first.id)}/MEMBER`;
      const { email: _e, name: _n, replayProfiles: _r, ...erased } = items.get(key) ?? {};
      items.set(key, { ...erased, status: 'withdrawn' });

      const repeat = await createMember({ headers: { 'idempotency-key': CLIENT_KEY } });

      const { email: _email, name: _name, ...rest } = first;
      expect(repeat.statusCode).toBe(201);
      expect(jsonBody(repeat)).toEqual(rest);
      expect(headerOf(repeat, 'idempotent-replayed')).toBe('true');
    });

    it('answers 422 when the key was used for a different request, and sends no transaction', async () => {
      ddb.on(GetCommand).resolves({
        Item: {
          pk: 'IDEMPOTENCY#0',
          sk: 'IDEMPOTENCY',
          fingerprint: 'f'.repeat(64),
          response: { statusCode: 201, headers: {}, body: '{}' },
          createdAt: NOW.toISOString(),
          expiresAt: NOW_SECONDS + 3600,
        },
      });

      const response = await createMember({ headers: { 'idempotency-key': CLIENT_KEY } });

      expectProblem(response, 422);
      expect(ddb).not.toHaveReceivedCommand(TransactWriteCommand);
    });

    it('treats an expired stored response as absent and registers again', async () => {
      ddb.on(GetCommand).resolves({
        Item: {
          pk: 'IDEMPOTENCY#0',
          sk: 'IDEMPOTENCY',
          fingerprint: 'f'.repeat(64),
          response: { statusCode: 201, headers: {}, body: '{}' },
          createdAt: '2026-02-27T12:00:00.000Z',
          expiresAt: NOW_SECONDS - 1,
        },
      });
      ddb.on(TransactWriteCommand).resolves({});

      const response = await createMember({ headers: { 'idempotency-key': CLIENT_KEY } });

      expect(response.statusCode).toBe(201);
      expect(headerOf(response, 'idempotent-replayed')).toBeUndefined();
      expect(ddb).toHaveReceivedCommandTimes(TransactWriteCommand, 1);
    });

    it('answers with the winner response when a concurrent request with the key commits first', async () => {
      const items = storeKeepsPuts();
      ddb.on(TransactWriteCommand).callsFake((input: TransactWriteCommandInput) => {
        // The other request's record lands first: this transaction's record condition fails.
        keep(items, input);
        throw new TransactionCanceledException({
          message: 'cancelled',
          $metadata: {},
          CancellationReasons: [{ Code: 'None' }, { Code: 'ConditionalCheckFailed' }, { Code: 'None' }],
        });
      });

      const response = await createMember({ headers: { 'idempotency-key': CLIENT_KEY } });

      expect(response.statusCode).toBe(201);
      expect(headerOf(response, 'idempotent-replayed')).toBe('true');
      expect(jsonBody(response)).toMatchObject({ email: 'ada@example.com', name: 'Ada Lovelace' });
      expect(ddb).toHaveReceivedCommandTimes(TransactWriteCommand, 1);
      // The record before and after the race, and the member item for the personal fields.
      expect(ddb).toHaveReceivedCommandTimes(GetCommand, 3);
    });

    it.each([
      ['with spaces', 'my key'],
      ['over 255 characters', 'k'.repeat(256)],
      ['with a non-ASCII character', 'schlüssel'],
    ])('answers 400 for a key %s without calling DynamoDB', async (_case, key) => {
      const response = await createMember({ headers: { 'idempotency-key': key } });

      const problem = expectProblem(response, 400);
      expect(problem.detail).toContain('Idempotency-Key');
      expect(ddb).not.toHaveReceivedAnyCommand();
    });

    it('accepts a key of exactly 255 visible characters', async () => {
      ddb.on(GetCommand).resolves({});
      ddb.on(TransactWriteCommand).resolves({});

      const response = await createMember({ headers: { 'idempotency-key': 'k'.repeat(255) } });

      expect(response.statusCode).toBe(201);
    });
  });

  it('answers a bare 500 for an unexpected SDK error, with no SDK message and no stack', async () => {
    const sdkError = new InternalServerError({
      message: 'SECRET-SDK-DETAIL: arn:aws:dynamodb:us-east-1:123456789012:table/outbox-unit',
      $metadata: { httpStatusCode: 500 },
    });
    ddb.on(TransactWriteCommand).rejects(sdkError);

    const response = await createMember();

    const problem = expectProblem(response, 500);
    expect(problem.detail).toBe('an internal error occurred');
    expect(response.body).not.toContain('SECRET-SDK-DETAIL');
    expect(response.body).not.toContain('arn:aws');
    expect(response.body).not.toContain('InternalServerError');
    expect(response.body).not.toMatch(/\bat .+:\d+:\d+/);
  });
});
