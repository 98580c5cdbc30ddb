import {
  DynamoDBClient,
  IdempotentParameterMismatchException,
  InternalServerError,
  TransactionCanceledException,
  TransactionInProgressException,
} from '@aws-sdk/client-dynamodb';
import { DynamoDBDocumentClient, TransactWriteCommand } from '@aws-sdk/lib-dynamodb';
import { marshall } from '@aws-sdk/util-dynamodb';
import { mockClient } from 'aws-sdk-client-mock';
import { allCustomMatcher } from 'aws-sdk-client-mock-vitest';
import type {} from 'aws-sdk-client-mock-vitest/extend';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import {
  ConditionFailedError,
  type EntityWrite,
  IdempotencyKeyMismatchError,
  IN_PROGRESS_RETRY_DEFAULTS,
  InvalidKeyPartError,
  InvalidWriteError,
  MAX_ITEM_BYTES,
  MAX_PUT_EVENTS_BYTES,
  MAX_TRANSACTION_BYTES,
  type NewEvent,
  OutboxLimitError,
  OutboxWriter,
  TransactionConflictError,
  TransactionInProgressError,
  TransactionThrottledError,
  WriteLimitError,
} from '../../lambdas/outbox';
import { pendingShard } from '../../lambdas/outbox/keys';

expect.extend(allCustomMatcher);

const ddb = mockClient(DynamoDBDocumentClient);
const client = DynamoDBDocumentClient.from(new DynamoDBClient({}));

const TABLE = 'outbox-unit';
const SOURCE = 'com.example.test';
const NOW = new Date('2026-03-01T12:00:00.000Z');
const MEMBER_ID = '01JNQ8Z6Y2X3W4V5T6S7R8P9QA';
const ORDER_ID = '01JNQ8Z6Y2X3W4V5T6S7R8P001';

/** Waits a writer made: a fake clock that each fake sleep moves on. */
interface FakeTime {
  readonly sleeps: number[];
  elapsedMs: number;
}

function newWriter(time: FakeTime = { sleeps: [], elapsedMs: 0 }): OutboxWriter {
  let next = 0;
  return new OutboxWriter({
    tableName: TABLE,
    source: SOURCE,
    client,
    now: () => NOW,
    newEventId: () => `evt-${++next}`,
    inProgressRetry: {
      sleep: async (ms) => {
        time.sleeps.push(ms);
        time.elapsedMs += ms;
      },
      clock: () => time.elapsedMs,
      random: () => 0.5,
    },
  });
}

function memberPut(id = MEMBER_ID, extra: Record<string, unknown> = {}): EntityWrite {
  return {
    label: 'member',
    Put: {
      Item: { pk: `MEMBER#${id}`, sk: 'MEMBER', id, version: 1, ...extra },
      ConditionExpression: 'attribute_not_exists(pk)',
    },
  };
}

function memberEvent(overrides: Partial<NewEvent> = {}): NewEvent {
  return {
    eventType: 'MemberRegistered',
    aggregateType: 'MEMBER',
    aggregateId: MEMBER_ID,
    sequence: 1,
    data: { memberId: MEMBER_ID },
    ...overrides,
  };
}

/** The items of the one TransactWriteItems the mock received. */
function sentItems() {
  const calls = ddb.commandCalls(TransactWriteCommand);
  expect(calls).toHaveLength(1);
  return calls[0]?.args[0].input.TransactItems ?? [];
}

/** The error a promise rejects with; fails the test when it resolves. */
async function rejectionOf(promise: Promise<unknown>): Promise<unknown> {
  return promise.then(
    () => {
      throw new Error('expected the promise to reject');
    },
    (error: unknown) => error,
  );
}

function expectInstance<T>(value: unknown, type: abstract new (...args: never[]) => T): T {
  expect(value).toBeInstanceOf(type);
  return value as T;
}

function cancelled(
  reasons: { Code: string; Item?: Record<string, unknown> }[],
): TransactionCanceledException {
  return new TransactionCanceledException({
    message: 'Transaction cancelled, please refer cancellation reasons for specific reasons',
    $metadata: {},
    CancellationReasons: reasons.map((reason) => ({
      Code: reason.Code,
      ...(reason.Item ? { Item: marshall(reason.Item) } : {}),
    })),
  });
}

/** A string of `bytes` ASCII characters. */
function text(bytes: number): string {
  return 'x'.repeat(bytes);
}

describe('writer', () => {
  beforeEach(() => {
    ddb.on(TransactWriteCommand).resolves({});
  });

  afterEach(() => {
    ddb.reset();
  });

  describe('transaction shape', () => {
    it('sends one TransactWriteItems with the entity writes first, then one outbox Put per event', async () => {
      const writer = newWriter();
      const memberUpdate: EntityWrite = {
        label: 'order-member',
        Update: {
          Key: { pk: `ORDER#${ORDER_ID}`, sk: 'ORDER' },
          UpdateExpression: 'SET #status = :s',
          ExpressionAttributeNames: { '#status': 'status' },
          ExpressionAttributeValues: { ':s': 'cancelled' },
        },
      };

      await writer.write({
        writes: [memberPut(), memberUpdate],
        events: [memberEvent(), memberEvent({ eventType: 'MemberProfileUpdated', sequence: 2 })],
      });

      expect(ddb).toHaveReceivedCommandTimes(TransactWriteCommand, 1);
      const items = sentItems();
      expect(items).toHaveLength(4);
      expect(items[0]).toEqual({
        Put: {
          TableName: TABLE,
          Item: { pk: `MEMBER#${MEMBER_ID}`, sk: 'MEMBER', id: MEMBER_ID, version: 1 },
          ConditionExpression: 'attribute_not_exists(pk)',
        },
      });
      expect(items[1]).toEqual({ Update: { TableName: TABLE, ...memberUpdate.Update } });
      expect(items[2]?.Put).toMatchObject({
        TableName: TABLE,
        Item: { pk: `MEMBER#${MEMBER_ID}`, sk: 'OUTBOX#000000000001', eventType: 'MemberRegistered' },
        ConditionExpression: 'attribute_not_exists(#pk)',
        ExpressionAttributeNames: { '#pk': 'pk' },
      });
      expect(items[3]?.Put).toMatchObject({
        TableName: TABLE,
        Item: { pk: `MEMBER#${MEMBER_ID}`, sk: 'OUTBOX#000000000002', eventType: 'MemberProfileUpdated' },
        ConditionExpression: 'attribute_not_exists(#pk)',
        ExpressionAttributeNames: { '#pk': 'pk' },
      });
    });

    it('stores the envelope fields, the source and the pending index keys on each outbox item', async () => {
      const writer = newWriter();

      await writer.write({ writes: [memberPut()], events: [memberEvent({ sequence: 12 })] });

      const outbox = sentItems()[1]?.Put?.Item;
      expect(outbox).toEqual({
        pk: `MEMBER#${MEMBER_ID}`,
        sk: 'OUTBOX#000000000012',
        eventId: 'evt-1',
        eventType: 'MemberRegistered',
        source: SOURCE,
        aggregateType: 'MEMBER',
        aggregateId: MEMBER_ID,
        sequence: 12,
        occurredAt: NOW.toISOString(),
        correlationId: 'evt-1',
        data: { memberId: MEMBER_ID },
        pendingPk: `PENDING#${pendingShard(MEMBER_ID)}`,
        pendingSk: `${NOW.toISOString()}#MEMBER#${MEMBER_ID}#000000000012`,
      });
    });

    it('keeps the event id, time, correlation id and trace header the caller gives', async () => {
      const writer = newWriter();
      const event = memberEvent({
        eventId: 'given-id',
        occurredAt: '2026-02-01T00:00:00.000Z',
        correlationId: 'corr-1',
        traceHeader: 'Root=1-65f0a1b2-0123456789abcdef01234567',
      });

      const result = await writer.write({ writes: [], events: [event] });

      const outbox = sentItems()[0]?.Put?.Item;
      expect(outbox).toMatchObject({
        eventId: 'given-id',
        occurredAt: '2026-02-01T00:00:00.000Z',
        correlationId: 'corr-1',
        traceHeader: 'Root=1-65f0a1b2-0123456789abcdef01234567',
        pendingSk: `2026-02-01T00:00:00.000Z#MEMBER#${MEMBER_ID}#000000000001`,
      });
      expect(result.events).toEqual([outbox]);
    });

    it('sends a fresh random ClientRequestToken per call without an idempotency key', async () => {
      const writer = newWriter();

      await writer.write({ writes: [memberPut()], events: [memberEvent()] });
      await writer.write({ writes: [memberPut()], events: [memberEvent()] });

      const tokens = ddb
        .commandCalls(TransactWriteCommand)
        .map((call) => call.args[0].input.ClientRequestToken);
      expect(tokens).toHaveLength(2);
      for (const token of tokens) expect(token).toMatch(/^[0-9a-f-]{36}$/);
      expect(tokens[1]).not.toBe(tokens[0]);
    });

    it('sends a ClientRequestToken of at most 36 characters that is stable for the same idempotency key', async () => {
      const writer = newWriter();
      const key = 'IDEMPOTENCY#some-long-client-key-that-is-far-longer-than-thirty-six-characters#1';
      const request = { writes: [memberPut()], events: [memberEvent()], idempotencyKey: key };

      await writer.write(request);
      await writer.write(request);
      await writer.write({ ...request, idempotencyKey: `${key}x` });

      const tokens = ddb
        .commandCalls(TransactWriteCommand)
        .map((call) => call.args[0].input.ClientRequestToken);
      expect(tokens).toHaveLength(3);
      for (const token of tokens) {
        expect(token).toMatch(/^[A-Za-z0-9_-]{1,36}$/);
        expect(key).not.toContain(token);
      }
      expect(tokens[1]).toBe(tokens[0]);
      expect(tokens[2]).not.toBe(tokens[0]);
    });
  });

  describe('limits, checked before any AWS call', () => {
    it('accepts exactly 100 actions', async () => {
      const writer = newWriter();
      const events = Array.from({ length: 99 }, (_, index) => memberEvent({ sequence: index + 1 }));

      await writer.write({ writes: [memberPut()], events });

      expect(sentItems()).toHaveLength(100);
    });

    it('refuses 101 actions with OutboxLimitError for actions', async () => {
      const writer = newWriter();
      const events = Array.from({ length: 100 }, (_, index) => memberEvent({ sequence: index + 1 }));

      const error = await rejectionOf(writer.write({ writes: [memberPut()], events }));

      expect(expectInstance(error, OutboxLimitError)).toMatchObject({
        limit: 'actions',
        actual: 101,
        max: 100,
      });
      expect(ddb).not.toHaveReceivedAnyCommand();
    });

    it('refuses an item over 400 KB with OutboxLimitError for itemBytes', async () => {
      const writer = newWriter();
      const big = memberPut(MEMBER_ID, { blob: text(MAX_ITEM_BYTES) });

      const error = await rejectionOf(writer.write({ writes: [big], events: [memberEvent()] }));

      const limit = expectInstance(error, OutboxLimitError);
      expect(limit.limit).toBe('itemBytes');
      expect(limit.actual).toBeGreaterThan(MAX_ITEM_BYTES);
      expect(ddb).not.toHaveReceivedAnyCommand();
    });

    it('refuses an Update whose values exceed 400 KB', async () => {
      const writer = newWriter();
      const update: EntityWrite = {
        Update: {
          Key: { pk: `MEMBER#${MEMBER_ID}`, sk: 'MEMBER' },
          UpdateExpression: 'SET #blob = :blob',
          ExpressionAttributeNames: { '#blob': 'blob' },
          ExpressionAttributeValues: { ':blob': text(MAX_ITEM_BYTES + 1) },
        },
      };

      const error = await rejectionOf(writer.write({ writes: [update], events: [] }));

      expect(expectInstance(error, OutboxLimitError).limit).toBe('itemBytes');
      expect(ddb).not.toHaveReceivedAnyCommand();
    });

    it('refuses a transaction over 4 MB made of items under 400 KB with OutboxLimitError for transactionBytes', async () => {
      const writer = newWriter();
      const itemBytes = MAX_ITEM_BYTES - 10 * 1024;
      const count = Math.floor(MAX_TRANSACTION_BYTES / itemBytes) + 1;
      const writes = Array.from({ length: count }, (_, index) =>
        memberPut(`01JNQ8Z6Y2X3W4V5T6S7R8P${String(index).padStart(3, '0')}`, { blob: text(itemBytes) }),
      );

      const error = await rejectionOf(writer.write({ writes, events: [] }));

      const limit = expectInstance(error, OutboxLimitError);
      expect(limit.limit).toBe('transactionBytes');
      expect(limit.actual).toBeGreaterThan(MAX_TRANSACTION_BYTES);
      expect(ddb).not.toHaveReceivedAnyCommand();
    });

    it('refuses an event whose PutEvents entry exceeds 1 MB with OutboxLimitError for eventBytes', async () => {
      const writer = newWriter();
      // 180,000 control characters: 180 KB in the item, but each is 6 bytes (\u0001) in the JSON Detail.
      const event = memberEvent({ data: { blob: '\u0001'.repeat(180_000) } });

      const error = await rejectionOf(writer.write({ writes: [memberPut()], events: [event] }));

      const limit = expectInstance(error, OutboxLimitError);
      expect(limit.limit).toBe('eventBytes');
      expect(limit.actual).toBeGreaterThan(MAX_PUT_EVENTS_BYTES);
      expect(limit.subject).toContain('MemberRegistered');
      expect(ddb).not.toHaveReceivedAnyCommand();
    });

    it('counts multi-byte characters of an event in bytes', async () => {
      const writer = newWriter();
      // 350,000 three-byte characters: about 1.05 MB in UTF-8, though only 350,000 UTF-16 units.
      const event = memberEvent({ data: { blob: '€'.repeat(350_000) } });

      const error = await rejectionOf(writer.write({ writes: [], events: [event] }));

      expect(expectInstance(error, OutboxLimitError).limit).toBe('eventBytes');
      expect(ddb).not.toHaveReceivedAnyCommand();
    });
  });

  describe('malformed requests, refused before any AWS call', () => {
    it('refuses two writes to one item with InvalidWriteError', async () => {
      const writer = newWriter();
      const check: EntityWrite = {
        ConditionCheck: {
          Key: { pk: `MEMBER#${MEMBER_ID}`, sk: 'MEMBER' },
          ConditionExpression: 'attribute_exists(pk)',
        },
      };

      const error = await rejectionOf(writer.write({ writes: [memberPut(), check], events: [] }));

      expect(error).toBeInstanceOf(InvalidWriteError);
      expect(ddb).not.toHaveReceivedAnyCommand();
    });

    it('refuses two events with the same sequence of one aggregate with InvalidWriteError', async () => {
      const writer = newWriter();

      const error = await rejectionOf(
        writer.write({
          writes: [],
          events: [memberEvent(), memberEvent({ eventType: 'MemberProfileUpdated' })],
        }),
      );

      expect(error).toBeInstanceOf(InvalidWriteError);
      expect(ddb).not.toHaveReceivedAnyCommand();
    });

    it.each(['', 'Member Registered', 'member#registered', '1Member', 'a'.repeat(129)])(
      'refuses the event type %j with InvalidWriteError',
      async (eventType) => {
        const writer = newWriter();

        const error = await rejectionOf(writer.write({ writes: [], events: [memberEvent({ eventType })] }));

        expect(error).toBeInstanceOf(InvalidWriteError);
        expect(ddb).not.toHaveReceivedAnyCommand();
      },
    );

    it.each(['abc', `MEMBER#${MEMBER_ID}`, MEMBER_ID.toLowerCase(), ''])(
      'refuses the malformed aggregate id %j',
      async (aggregateId) => {
        const writer = newWriter();

        const error = await rejectionOf(writer.write({ writes: [], events: [memberEvent({ aggregateId })] }));

        expect(expectInstance(error, InvalidKeyPartError).part).toBe('aggregateId');
        expect(ddb).not.toHaveReceivedAnyCommand();
      },
    );

    it.each(['member', 'MEMBER#X', ''])('refuses the malformed aggregate type %j', async (aggregateType) => {
      const writer = newWriter();

      const error = await rejectionOf(writer.write({ writes: [], events: [memberEvent({ aggregateType })] }));

      expect(expectInstance(error, InvalidKeyPartError).part).toBe('aggregateType');
      expect(ddb).not.toHaveReceivedAnyCommand();
    });

    it.each([0, -1, 1.5])('refuses the sequence %d', async (sequence) => {
      const writer = newWriter();

      const error = await rejectionOf(writer.write({ writes: [], events: [memberEvent({ sequence })] }));

      expect(expectInstance(error, InvalidKeyPartError).part).toBe('sequence');
      expect(ddb).not.toHaveReceivedAnyCommand();
    });
  });

  describe('errors of a sent transaction', () => {
    const orderUpdate: EntityWrite = {
      label: 'order',
      Update: {
        Key: { pk: `ORDER#${ORDER_ID}`, sk: 'ORDER' },
        UpdateExpression: 'SET #status = :cancelled',
        ConditionExpression: '#status = :open',
        ExpressionAttributeNames: { '#status': 'status' },
        ExpressionAttributeValues: { ':cancelled': 'cancelled', ':open': 'open' },
        ReturnValuesOnConditionCheckFailure: 'ALL_OLD',
      },
    };
    const unlabelledCheck: EntityWrite = {
      ConditionCheck: {
        Key: { pk: 'MEMBER#01JNQ8Z6Y2X3W4V5T6S7R8P002', sk: 'MEMBER' },
        ConditionExpression: 'attribute_exists(pk)',
      },
    };

    it('turns a failed condition on entity write k into ConditionFailedError naming its label with the old item', async () => {
      const writer = newWriter();
      const oldOrder = { pk: `ORDER#${ORDER_ID}`, sk: 'ORDER', status: 'cancelled', version: 2 };
      const sdkError = cancelled([
        { Code: 'None' },
        { Code: 'ConditionalCheckFailed', Item: oldOrder },
        { Code: 'None' },
        { Code: 'None' },
      ]);
      ddb.on(TransactWriteCommand).rejects(sdkError);

      const error = await rejectionOf(
        writer.write({ writes: [memberPut(), orderUpdate, unlabelledCheck], events: [memberEvent()] }),
      );

      const failed = expectInstance(error, ConditionFailedError);
      expect(failed.failures).toEqual([
        { index: 1, label: 'order', kind: 'entity', code: 'ConditionalCheckFailed', item: oldOrder },
      ]);
      expect(failed.failureOf('order')?.item).toEqual(oldOrder);
      expect(failed.failureOf('member')).toBeUndefined();
      expect(failed.cause).toBe(sdkError);
    });

    it('labels an unlabelled entity write by its position', async () => {
      const writer = newWriter();
      ddb
        .on(TransactWriteCommand)
        .rejects(cancelled([{ Code: 'None' }, { Code: 'None' }, { Code: 'ConditionalCheckFailed' }]));

      const error = await rejectionOf(
        writer.write({ writes: [memberPut(), orderUpdate, unlabelledCheck], events: [] }),
      );

      expect(expectInstance(error, ConditionFailedError).failures).toEqual([
        { index: 2, label: 'write:2', kind: 'entity', code: 'ConditionalCheckFailed' },
      ]);
    });

    it('labels a failure on an event Put as event:<type> of kind event', async () => {
      const writer = newWriter();
      ddb
        .on(TransactWriteCommand)
        .rejects(cancelled([{ Code: 'None' }, { Code: 'None' }, { Code: 'ConditionalCheckFailed' }]));

      const error = await rejectionOf(
        writer.write({
          writes: [memberPut()],
          events: [memberEvent(), memberEvent({ eventType: 'MemberProfileUpdated', sequence: 2 })],
        }),
      );

      const failed = expectInstance(error, ConditionFailedError);
      expect(failed.failures).toEqual([
        { index: 2, label: 'event:MemberProfileUpdated', kind: 'event', code: 'ConditionalCheckFailed' },
      ]);
    });

    it('turns TransactionConflict into a retryable TransactionConflictError', async () => {
      const writer = newWriter();
      const sdkError = cancelled([{ Code: 'TransactionConflict' }, { Code: 'None' }]);
      ddb.on(TransactWriteCommand).rejects(sdkError);

      const error = await rejectionOf(writer.write({ writes: [memberPut()], events: [memberEvent()] }));

      const conflict = expectInstance(error, TransactionConflictError);
      expect(conflict.retryable).toBe(true);
      expect(conflict.cause).toBe(sdkError);
    });

    it('turns throttling into a retryable TransactionThrottledError', async () => {
      const writer = newWriter();
      ddb.on(TransactWriteCommand).rejects(cancelled([{ Code: 'ThrottlingError' }, { Code: 'None' }]));

      const error = await rejectionOf(writer.write({ writes: [memberPut()], events: [memberEvent()] }));

      expect(expectInstance(error, TransactionThrottledError).retryable).toBe(true);
    });

    it('turns IdempotentParameterMismatchException into IdempotencyKeyMismatchError', async () => {
      const writer = newWriter();
      const sdkError = new IdempotentParameterMismatchException({ message: 'mismatch', $metadata: {} });
      ddb.on(TransactWriteCommand).rejects(sdkError);

      const error = await rejectionOf(
        writer.write({ writes: [memberPut()], events: [memberEvent()], idempotencyKey: 'key-1' }),
      );

      const mismatch = expectInstance(error, IdempotencyKeyMismatchError);
      expect(mismatch.retryable).toBe(false);
      expect(mismatch.cause).toBe(sdkError);
    });

    it('sends the identical request again while DynamoDB reports it in progress, and returns the events once it commits', async () => {
      const time: FakeTime = { sleeps: [], elapsedMs: 0 };
      const writer = newWriter(time);
      ddb
        .on(TransactWriteCommand)
        .rejectsOnce(new TransactionInProgressException({ message: 'in progress', $metadata: {} }))
        .rejectsOnce(new TransactionInProgressException({ message: 'in progress', $metadata: {} }))
        .resolves({});

      const result = await writer.write({ writes: [memberPut()], events: [memberEvent()] });

      const inputs = ddb.commandCalls(TransactWriteCommand).map((call) => call.args[0].input);
      expect(inputs).toHaveLength(3);
      expect(inputs[0]?.ClientRequestToken).toMatch(/^[0-9a-f-]{36}$/);
      expect(inputs[1]).toEqual(inputs[0]);
      expect(inputs[2]).toEqual(inputs[0]);
      expect(time.sleeps).toEqual([25, 50]);
      expect(result.events).toEqual([inputs[0]?.TransactItems?.[1]?.Put?.Item]);
    });

    it('keeps the idempotency key’s token on every resend', async () => {
      const writer = newWriter();
      ddb
        .on(TransactWriteCommand)
        .rejectsOnce(new TransactionInProgressException({ message: 'in progress', $metadata: {} }))
        .resolves({});

      await writer.write({ writes: [memberPut()], events: [memberEvent()], idempotencyKey: 'key-1' });

      const tokens = ddb
        .commandCalls(TransactWriteCommand)
        .map((call) => call.args[0].input.ClientRequestToken);
      expect(tokens).toHaveLength(2);
      expect(tokens[1]).toBe(tokens[0]);
    });

    it('translates the outcome a resend learns, e.g. a cancellation', async () => {
      const writer = newWriter();
      ddb
        .on(TransactWriteCommand)
        .rejectsOnce(new TransactionInProgressException({ message: 'in progress', $metadata: {} }))
        .rejects(cancelled([{ Code: 'ConditionalCheckFailed' }, { Code: 'None' }]));

      const error = await rejectionOf(writer.write({ writes: [memberPut()], events: [memberEvent()] }));

      expect(expectInstance(error, ConditionFailedError).failures.map((failure) => failure.label)).toEqual([
        'member',
      ]);
    });

    it('gives up with a retryable TransactionInProgressError when DynamoDB never tells the outcome within the bound', async () => {
      const time: FakeTime = { sleeps: [], elapsedMs: 0 };
      const writer = newWriter(time);
      const sdkError = new TransactionInProgressException({ message: 'in progress', $metadata: {} });
      ddb.on(TransactWriteCommand).rejects(sdkError);

      const error = await rejectionOf(
        writer.write({ writes: [memberPut()], events: [memberEvent()], idempotencyKey: 'key-1' }),
      );

      const inProgress = expectInstance(error, TransactionInProgressError);
      expect(inProgress.retryable).toBe(true);
      expect(inProgress.cause).toBe(sdkError);
      const calls = ddb.commandCalls(TransactWriteCommand).length;
      expect(calls).toBeGreaterThan(1);
      expect(calls).toBeLessThanOrEqual(IN_PROGRESS_RETRY_DEFAULTS.maxAttempts);
      expect(time.elapsedMs).toBeLessThanOrEqual(IN_PROGRESS_RETRY_DEFAULTS.maxWaitMs);
    });

    it('stops resending when the next wait would pass the time bound', async () => {
      const time: FakeTime = { sleeps: [], elapsedMs: 0 };
      let next = 0;
      const writer = new OutboxWriter({
        tableName: TABLE,
        source: SOURCE,
        client,
        now: () => NOW,
        newEventId: () => `evt-${++next}`,
        inProgressRetry: {
          maxAttempts: 100,
          baseDelayMs: 400,
          maxDelayMs: 400,
          maxWaitMs: 1000,
          random: () => 0.99,
          clock: () => time.elapsedMs,
          sleep: async (ms) => {
            time.sleeps.push(ms);
            time.elapsedMs += ms;
          },
        },
      });
      ddb
        .on(TransactWriteCommand)
        .rejects(new TransactionInProgressException({ message: 'in progress', $metadata: {} }));

      const error = await rejectionOf(writer.write({ writes: [memberPut()], events: [memberEvent()] }));

      expect(error).toBeInstanceOf(TransactionInProgressError);
      expect(time.sleeps).toEqual([396, 396]);
      expect(ddb).toHaveReceivedCommandTimes(TransactWriteCommand, 3);
    });

    it('turns a cancellation with ValidationError into WriteLimitError naming the write and DynamoDB’s reason', async () => {
      const writer = newWriter();
      const sdkError = new TransactionCanceledException({
        message: 'Transaction cancelled, please refer cancellation reasons for specific reasons',
        $metadata: {},
        CancellationReasons: [
          { Code: 'ValidationError', Message: 'Item size to update has exceeded the maximum allowed size' },
          { Code: 'None' },
        ],
      });
      ddb.on(TransactWriteCommand).rejects(sdkError);

      const error = await rejectionOf(writer.write({ writes: [memberPut()], events: [memberEvent()] }));

      const limit = expectInstance(error, WriteLimitError);
      expect(limit.retryable).toBe(false);
      expect(limit.cause).toBe(sdkError);
      expect(limit.failures).toEqual([
        {
          index: 0,
          label: 'member',
          kind: 'entity',
          code: 'ValidationError',
          message: 'Item size to update has exceeded the maximum allowed size',
        },
      ]);
      expect(limit.message).toContain('member (the item would exceed the 400 KB item size limit)');
      expect(limit.message).not.toContain('Item size to update');
    });

    it.each([
      [
        'Number underflow. Attempting to store a number with magnitude smaller than supported range',
        "a number is outside DynamoDB's range or precision",
      ],
      [
        'Number overflow. Attempting to store a number with magnitude larger than supported range',
        "a number is outside DynamoDB's range or precision",
      ],
      ['Item size has exceeded the maximum allowed size', 'the item would exceed the 400 KB item size limit'],
    ])('turns a top-level ValidationException "%s" into WriteLimitError', async (message, explained) => {
      const writer = newWriter();
      const sdkError = Object.assign(new Error(message), { name: 'ValidationException', $metadata: {} });
      ddb.on(TransactWriteCommand).rejects(sdkError);

      const error = await rejectionOf(writer.write({ writes: [memberPut()], events: [memberEvent()] }));

      const limit = expectInstance(error, WriteLimitError);
      expect(limit.cause).toBe(sdkError);
      expect(limit.failures).toEqual([]);
      expect(limit.message).toBe(`DynamoDB refused the transaction: a limit would be broken (${explained})`);
    });

    it('turns any other ValidationException into InvalidWriteError, not an untyped error', async () => {
      const writer = newWriter();
      const sdkError = Object.assign(new Error('Invalid UpdateExpression: Syntax error'), {
        name: 'ValidationException',
        $metadata: {},
      });
      ddb.on(TransactWriteCommand).rejects(sdkError);

      const error = await rejectionOf(writer.write({ writes: [memberPut()], events: [memberEvent()] }));

      expect(expectInstance(error, InvalidWriteError).cause).toBe(sdkError);
    });

    it('passes an unknown SDK error through unchanged', async () => {
      const writer = newWriter();
      const sdkError = new InternalServerError({ message: 'internal', $metadata: {} });
      ddb.on(TransactWriteCommand).rejects(sdkError);

      const error = await rejectionOf(writer.write({ writes: [memberPut()], events: [memberEvent()] }));

      expect(error).toBe(sdkError);
    });
  });

  describe('occurredAt, stored as ISO 8601 UTC', () => {
    it.each([
      ['an HTTP date (toUTCString)', 'Sun, 01 Mar 2026 12:00:00 GMT', '2026-03-01T12:00:00.000Z'],
      ['an offset', '2026-03-01T13:30:00+01:30', '2026-03-01T12:00:00.000Z'],
      ['a negative offset across midnight', '2026-02-28T23:00:00-13:00', '2026-03-01T12:00:00.000Z'],
      ['no milliseconds', '2026-03-01T12:00:00Z', '2026-03-01T12:00:00.000Z'],
      ['microseconds', '2026-03-01T12:00:00.123456Z', '2026-03-01T12:00:00.123Z'],
      ['a lower-case zone and a space', '2026-03-01 12:00:00.5z', '2026-03-01T12:00:00.500Z'],
    ])('normalizes %s before it reaches the pending index key', async (_, given, stored) => {
      const writer = newWriter();

      const result = await writer.write({ writes: [], events: [memberEvent({ occurredAt: given })] });

      const outbox = sentItems()[0]?.Put?.Item;
      expect(outbox).toMatchObject({
        occurredAt: stored,
        pendingSk: `${stored}#MEMBER#${MEMBER_ID}#000000000001`,
      });
      expect(result.events[0]?.occurredAt).toBe(stored);
    });

    it.each([
      ['a time without a zone', '2026-03-01T12:00:00'],
      ['a date alone', '2026-03-01'],
      ['an impossible date', '2026-02-30T12:00:00Z'],
      ['an hour out of range', '2026-03-01T24:00:00Z'],
      ['an epoch number as text', '1772366400000'],
      ['free text Date.parse would accept', 'March 1, 2026 12:00 GMT'],
      ['an empty string', ''],
      ['a year that toISOString writes with six digits', '9999-12-31T23:00:00-05:00'],
    ])('refuses %s with InvalidWriteError naming the value, before any AWS call', async (_, given) => {
      const writer = newWriter();

      const error = await rejectionOf(
        writer.write({ writes: [], events: [memberEvent({ occurredAt: given })] }),
      );

      expect(expectInstance(error, InvalidWriteError).message).toContain(JSON.stringify(given));
      expect(ddb).not.toHaveReceivedCommand(TransactWriteCommand);
    });
  });

  describe('numbers DynamoDB cannot store, refused before any AWS call', () => {
    it.each([
      ['a magnitude below 1E-130', 1e-200],
      ['a negative magnitude below 1E-130', -1e-131],
      ['a magnitude beyond 2^53 - 1', 1e200],
      ['NaN', Number.NaN],
      ['Infinity', Number.POSITIVE_INFINITY],
      ['a big integer of 39 digits', 10n ** 38n + 1n],
    ])('refuses %s in an entity Put with WriteLimitError naming the write and the path', async (_, value) => {
      const writer = newWriter();

      const error = await rejectionOf(
        writer.write({
          writes: [memberPut(MEMBER_ID, { items: [{ unitPrice: value }] })],
          events: [memberEvent()],
        }),
      );

      const limit = expectInstance(error, WriteLimitError);
      expect(limit.failures).toEqual([
        expect.objectContaining({ index: 0, label: 'member', kind: 'entity', code: 'UnstorableNumber' }),
      ]);
      expect(limit.message).toContain(`items[0].unitPrice = ${String(value)}`);
      expect(ddb).not.toHaveReceivedCommand(TransactWriteCommand);
    });

    it('refuses such a number in an Update’s values and in an event’s data', async () => {
      const writer = newWriter();
      const update: EntityWrite = {
        label: 'order',
        Update: {
          Key: { pk: `ORDER#${ORDER_ID}`, sk: 'ORDER' },
          UpdateExpression: 'SET total = :total',
          ExpressionAttributeValues: { ':total': 1e-140 },
        },
      };

      const fromUpdate = await rejectionOf(writer.write({ writes: [update], events: [] }));
      const fromEvent = await rejectionOf(
        writer.write({ writes: [], events: [memberEvent({ data: { amounts: new Set([1, 1e-300]) } })] }),
      );

      expect(expectInstance(fromUpdate, WriteLimitError).message).toContain('order (:total = 1e-140');
      expect(expectInstance(fromEvent, WriteLimitError).failures[0]).toMatchObject({
        kind: 'event',
        label: 'event:MemberRegistered',
      });
      expect(ddb).not.toHaveReceivedCommand(TransactWriteCommand);
    });

    it('accepts zero, the smallest and largest numbers DynamoDB and the document client store', async () => {
      const writer = newWriter();

      await writer.write({
        writes: [memberPut(MEMBER_ID, { a: 0, b: 1e-130, c: -Number.MAX_SAFE_INTEGER, d: 10n ** 37n })],
        events: [memberEvent()],
      });

      expect(ddb).toHaveReceivedCommandTimes(TransactWriteCommand, 1);
    });
  });

  describe('sequences of one aggregate in one write', () => {
    it.each([
      ['a hole', [1, 3]],
      ['a descending pair', [2, 1]],
    ])('refuses %s with InvalidWriteError before any AWS call', async (_, sequences) => {
      const writer = newWriter();

      const error = await rejectionOf(
        writer.write({ writes: [], events: sequences.map((sequence) => memberEvent({ sequence })) }),
      );

      expect(expectInstance(error, InvalidWriteError).message).toContain(`MEMBER#${MEMBER_ID}`);
      expect(ddb).not.toHaveReceivedCommand(TransactWriteCommand);
    });

    it('accepts consecutive sequences, interleaved with another aggregate’s', async () => {
      const writer = newWriter();
      const order = (sequence: number) =>
        memberEvent({ aggregateType: 'ORDER', aggregateId: ORDER_ID, eventType: 'OrderCancelled', sequence });

      await writer.write({
        writes: [],
        events: [memberEvent({ sequence: 7 }), order(3), memberEvent({ sequence: 8 }), order(4)],
      });

      expect(sentItems()).toHaveLength(4);
    });
  });
});
