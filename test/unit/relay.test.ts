import {
  AccessDeniedException,
  EventBridgeClient,
  InternalException,
  PutEventsCommand,
  type PutEventsCommandInput,
} from '@aws-sdk/client-eventbridge';
import { SendMessageCommand, SQSClient } from '@aws-sdk/client-sqs';
import {
  BatchExecuteStatementCommand,
  type BatchExecuteStatementCommandInput,
  DynamoDBDocumentClient,
  TransactWriteCommand,
  UpdateCommand,
} from '@aws-sdk/lib-dynamodb';
import { mockClient } from 'aws-sdk-client-mock';
import { allCustomMatcher } from 'aws-sdk-client-mock-vitest';
import type {} from 'aws-sdk-client-mock-vitest/extend';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { MAX_PUT_EVENTS_BYTES, putEventsEntrySize } from '../../lambdas/outbox/limits';
import { RELAY_METRICS, relayRecords } from '../../lambdas/outbox/relay';
import {
  acceptAll,
  acceptStatements,
  envelopeOf,
  labelOf,
  metricTotal,
  type RelayFakes,
  relayFakes,
  respond,
  serviceError,
  statementKey,
  TEST_BUS,
  TEST_NOW,
  TEST_POISON_QUEUE,
  TEST_TABLE,
} from '../helpers/relay-harness';
import {
  entityInsertRecord,
  insertRecord,
  keyOf,
  modifyRecord,
  outboxItem,
  removeRecord,
  sequenceNumberOf,
  undecodableRecord,
} from '../helpers/stream-records';

expect.extend(allCustomMatcher);

const eventBridge = mockClient(EventBridgeClient);
const ddb = mockClient(DynamoDBDocumentClient);
const sqs = mockClient(SQSClient);

/** Labels (`aggregate#sequence`) of the entries of every PutEvents call, in call order. */
function callLabels(): string[][] {
  return eventBridge
    .commandCalls(PutEventsCommand)
    .map((call) => (call.args[0].input.Entries ?? []).map(labelOf));
}

/** Keys of every delivered mark the mock received, over all calls. */
function deliveredKeys(): unknown[] {
  return ddb
    .commandCalls(BatchExecuteStatementCommand)
    .flatMap((call) => call.args[0].input.Statements ?? [])
    .map(statementKey);
}

/** Insert records for aggregates in this shard order, numbering each aggregate's events 1, 2, ... */
function inShardOrder(aggregates: readonly number[]) {
  const sequences = new Map<number, number>();
  return aggregates.map((aggregateId) => {
    const sequence = (sequences.get(aggregateId) ?? 0) + 1;
    sequences.set(aggregateId, sequence);
    return insertRecord(outboxItem({ aggregateId, sequence }));
  });
}

/** Bodies of the messages parked on the poison queue. */
function parkedBodies(): Record<string, unknown>[] {
  return sqs
    .commandCalls(SendMessageCommand)
    .map((call) => JSON.parse(call.args[0].input.MessageBody ?? '{}') as Record<string, unknown>);
}

describe('relay', () => {
  let fakes: RelayFakes;

  beforeEach(() => {
    fakes = relayFakes();
    eventBridge.on(PutEventsCommand).callsFake(acceptAll);
    ddb.on(BatchExecuteStatementCommand).callsFake(acceptStatements);
    ddb.on(UpdateCommand).resolves({});
    sqs.on(SendMessageCommand).resolves({ MessageId: 'poison-1' });
  });

  afterEach(() => {
    eventBridge.reset();
    ddb.reset();
    sqs.reset();
  });

  describe('publishing', () => {
    it('sends each outbox INSERT as an entry carrying the envelope and returns no failures', async () => {
      const item = outboxItem({ aggregateId: 1, sequence: 3, traceHeader: 'Root=1-abc-def;Sampled=1' });

      const result = await relayRecords([insertRecord(item)], fakes.options());

      expect(result.batchItemFailures).toEqual([]);
      expect(result.published).toBe(1);
      expect(eventBridge).toHaveReceivedCommandWith(PutEventsCommand, {
        Entries: [
          {
            EventBusName: TEST_BUS,
            Source: item.source,
            DetailType: item.eventType,
            Detail: JSON.stringify({
              eventId: item.eventId,
              eventType: item.eventType,
              aggregateType: item.aggregateType,
              aggregateId: item.aggregateId,
              sequence: 3,
              occurredAt: item.occurredAt,
              correlationId: item.correlationId,
              data: item.data,
            }),
            Time: new Date(item.occurredAt),
            TraceHeader: 'Root=1-abc-def;Sampled=1',
          },
        ],
      });
    });

    it('skips MODIFY, REMOVE and entity records without calling EventBridge', async () => {
      const item = outboxItem();

      const result = await relayRecords(
        [modifyRecord(item), removeRecord(item), entityInsertRecord(1)],
        fakes.options(),
      );

      expect(result).toMatchObject({ skipped: 3, published: 0, batchItemFailures: [] });
      expect(eventBridge).not.toHaveReceivedCommand(PutEventsCommand);
      expect(ddb).not.toHaveReceivedCommand(BatchExecuteStatementCommand);
    });

    it('puts at most 10 entries in one PutEvents call', async () => {
      const records = Array.from({ length: 25 }, (_, index) =>
        insertRecord(outboxItem({ aggregateId: index + 1 })),
      );

      const result = await relayRecords(records, fakes.options());

      expect(callLabels().map((labels) => labels.length)).toEqual([10, 10, 5]);
      expect(result.published).toBe(25);
    });

    it('keeps every PutEvents request within the size limit', async () => {
      const bigData = { blob: 'x'.repeat(300 * 1024) };
      const records = Array.from({ length: 7 }, (_, index) =>
        insertRecord(outboxItem({ aggregateId: index + 1, data: bigData })),
      );

      await relayRecords(records, fakes.options());

      const sizes = eventBridge
        .commandCalls(PutEventsCommand)
        .map((call) =>
          (call.args[0].input.Entries ?? []).reduce((sum, entry) => sum + putEventsEntrySize(entry), 0),
        );
      expect(sizes.length).toBeGreaterThan(1);
      for (const size of sizes) expect(size).toBeLessThanOrEqual(MAX_PUT_EVENTS_BYTES);
      expect(callLabels().flat()).toHaveLength(7);
    });

    it('sends one aggregate’s events in separate calls, in sequence order', async () => {
      const records = [
        insertRecord(outboxItem({ aggregateId: 1, sequence: 1 })),
        insertRecord(outboxItem({ aggregateId: 1, sequence: 2 })),
        insertRecord(outboxItem({ aggregateId: 2, sequence: 1 })),
        insertRecord(outboxItem({ aggregateId: 1, sequence: 3 })),
        insertRecord(outboxItem({ aggregateId: 2, sequence: 2 })),
      ];

      await relayRecords(records, fakes.options({ concurrency: 1 }));

      expect(callLabels()).toEqual([['1#1', '2#1'], ['1#2', '2#2'], ['1#3']]);
    });

    it('never has two calls holding the same aggregate in flight', async () => {
      const inFlight = new Set<string>();
      let overlaps = 0;
      let concurrent = 0;
      let maxConcurrent = 0;
      eventBridge.on(PutEventsCommand).callsFake(async (input: PutEventsCommandInput) => {
        const aggregates = (input.Entries ?? []).map((entry) => envelopeOf(entry).aggregateId);
        if (aggregates.some((aggregate) => inFlight.has(aggregate))) overlaps += 1;
        for (const aggregate of aggregates) inFlight.add(aggregate);
        concurrent += 1;
        maxConcurrent = Math.max(maxConcurrent, concurrent);
        // Let other calls start before this one answers; the delay varies per call.
        const turns = 1 + (aggregates.length % 4);
        for (let turn = 0; turn < turns; turn += 1) await new Promise((resolve) => setImmediate(resolve));
        for (const aggregate of aggregates) inFlight.delete(aggregate);
        concurrent -= 1;
        return acceptAll(input);
      });
      // 40 aggregates with one event each, then five of them with three more each.
      const aggregates = [
        ...Array.from({ length: 40 }, (_, index) => index + 1),
        ...Array.from({ length: 15 }, (_, index) => (index % 5) + 1),
      ];
      const records = inShardOrder(aggregates);

      const result = await relayRecords(records, fakes.options({ concurrency: 4 }));

      expect(overlaps).toBe(0);
      expect(maxConcurrent).toBeGreaterThan(1);
      expect(maxConcurrent).toBeLessThanOrEqual(4);
      expect(result.published).toBe(55);
    });
  });

  describe('retries', () => {
    it('retries a throttled entry alone and then succeeds', async () => {
      const records = [1, 2, 3].map((id) => insertRecord(outboxItem({ aggregateId: id })));
      eventBridge
        .on(PutEventsCommand)
        .callsFakeOnce((input: PutEventsCommandInput) =>
          respond(input, (_, index) => (index === 1 ? 'ThrottlingException' : undefined)),
        )
        .callsFake(acceptAll);

      const result = await relayRecords(records, fakes.options());

      expect(callLabels()).toEqual([['1#1', '2#1', '3#1'], ['2#1']]);
      expect(fakes.sleeps).toHaveLength(1);
      expect(result).toMatchObject({ published: 3, retried: 1, batchItemFailures: [] });
      expect(metricTotal(fakes.metrics, RELAY_METRICS.retried)).toBe(1);
    });

    it('retries retryable entries and parks non-retryable ones in the same response', async () => {
      const items = [1, 2, 3, 4].map((id) => outboxItem({ aggregateId: id }));
      const codes = [undefined, 'ThrottlingException', 'MalformedDetail', 'InternalFailure'];
      eventBridge
        .on(PutEventsCommand)
        .callsFakeOnce((input: PutEventsCommandInput) => respond(input, (_, index) => codes[index]))
        .callsFake(acceptAll);

      const result = await relayRecords(
        items.map((item) => insertRecord(item)),
        fakes.options(),
      );

      expect(callLabels()).toEqual([
        ['1#1', '2#1', '3#1', '4#1'],
        ['2#1', '4#1'],
      ]);
      expect(result).toMatchObject({ published: 3, poisoned: 1, retried: 2, batchItemFailures: [] });
      expect(parkedBodies()).toEqual([
        expect.objectContaining({ reason: 'rejected', code: 'MalformedDetail', item: items[2] }),
      ]);
      expect(ddb).toHaveReceivedCommandWith(UpdateCommand, {
        Key: keyOf(items[2] ?? outboxItem()),
        ConditionExpression: 'attribute_exists(#pk)',
      });
    });

    it('stops at an entry failed with InvalidAccountIdException and parks nothing', async () => {
      const records = [1, 2, 3].map((id) => insertRecord(outboxItem({ aggregateId: id })));
      eventBridge
        .on(PutEventsCommand)
        .callsFake((input: PutEventsCommandInput) =>
          respond(input, (_, index) => (index === 0 ? undefined : 'InvalidAccountIdException')),
        );

      const result = await relayRecords(records, fakes.options());

      expect(sqs).not.toHaveReceivedCommand(SendMessageCommand);
      expect(result).toMatchObject({
        published: 1,
        poisoned: 0,
        batchItemFailures: [{ itemIdentifier: sequenceNumberOf(records[1]) }],
      });
    });

    it('retries a whole call that failed with a retryable error', async () => {
      const records = [1, 2].map((id) => insertRecord(outboxItem({ aggregateId: id })));
      eventBridge
        .on(PutEventsCommand)
        .rejectsOnce(new InternalException({ $metadata: { httpStatusCode: 500 }, message: 'internal' }))
        .callsFake(acceptAll);

      const result = await relayRecords(records, fakes.options());

      expect(callLabels()).toEqual([
        ['1#1', '2#1'],
        ['1#1', '2#1'],
      ]);
      expect(result).toMatchObject({ published: 2, retried: 2, batchItemFailures: [] });
    });

    it('backs off exponentially with full jitter between attempts', async () => {
      eventBridge
        .on(PutEventsCommand)
        .callsFake((input: PutEventsCommandInput) => respond(input, () => 'ThrottlingException'));

      await relayRecords(
        [insertRecord(outboxItem())],
        fakes.options({ maxAttempts: 5, baseDelayMs: 100, maxDelayMs: 500, random: () => 0.5 }),
      );

      expect(fakes.sleeps).toEqual([50, 100, 200, 250]);
    });

    it('stops at the first record when retries of a throttled entry run out', async () => {
      const records = [
        insertRecord(outboxItem({ aggregateId: 1 })),
        insertRecord(outboxItem({ aggregateId: 2 })),
      ];
      eventBridge
        .on(PutEventsCommand)
        .callsFake((input: PutEventsCommandInput) =>
          respond(input, (entry) => (labelOf(entry) === '2#1' ? 'ThrottlingException' : undefined)),
        );

      const result = await relayRecords(records, fakes.options({ maxAttempts: 3 }));

      expect(eventBridge).toHaveReceivedCommandTimes(PutEventsCommand, 3);
      expect(result.batchItemFailures).toEqual([{ itemIdentifier: sequenceNumberOf(records[1]) }]);
      expect(metricTotal(fakes.metrics, RELAY_METRICS.publishFailures)).toBe(1);
    });

    it('stops retrying before the invocation’s time runs into the safety margin', async () => {
      let clock = 0;
      const budget = 8000;
      eventBridge
        .on(PutEventsCommand)
        .callsFake((input: PutEventsCommandInput) => respond(input, () => 'ThrottlingException'));
      const record = insertRecord(outboxItem());

      const result = await relayRecords(
        [record],
        fakes.options({
          maxAttempts: 100,
          safetyMarginMs: 5000,
          baseDelayMs: 400,
          maxDelayMs: 1000,
          random: () => 0.9,
          remainingTimeMs: () => budget - clock,
          sleep: async (ms) => {
            clock += ms;
          },
        }),
      );

      expect(clock).toBeLessThanOrEqual(budget - 5000);
      expect(eventBridge.commandCalls(PutEventsCommand).length).toBeLessThan(100);
      expect(result.batchItemFailures).toEqual([{ itemIdentifier: sequenceNumberOf(record) }]);
    });
  });

  describe('failing fast', () => {
    it('stops at a non-retryable call error and reports the first unpublished record', async () => {
      const records = [
        insertRecord(outboxItem({ aggregateId: 1, sequence: 1 })),
        insertRecord(outboxItem({ aggregateId: 2, sequence: 1 })),
        insertRecord(outboxItem({ aggregateId: 1, sequence: 2 })),
        insertRecord(outboxItem({ aggregateId: 2, sequence: 2 })),
        insertRecord(outboxItem({ aggregateId: 1, sequence: 3 })),
      ];
      eventBridge
        .on(PutEventsCommand)
        .callsFakeOnce(acceptAll)
        .rejectsOnce(new AccessDeniedException({ $metadata: { httpStatusCode: 403 }, message: 'denied' }))
        .callsFake(acceptAll);

      const result = await relayRecords(records, fakes.options({ concurrency: 1 }));

      expect(callLabels()).toEqual([
        ['1#1', '2#1'],
        ['1#2', '2#2'],
      ]);
      expect(result.batchItemFailures).toEqual([{ itemIdentifier: sequenceNumberOf(records[2]) }]);
      expect(result.published).toBe(2);
      expect(fakes.sleeps).toEqual([]);
    });

    it('starts no further chunk after an unrecoverable failure', async () => {
      const records = Array.from({ length: 15 }, (_, index) =>
        insertRecord(outboxItem({ aggregateId: index + 1 })),
      );
      eventBridge.on(PutEventsCommand).rejects(serviceError('ValidationException'));

      const result = await relayRecords(records, fakes.options({ concurrency: 1 }));

      expect(eventBridge).toHaveReceivedCommandTimes(PutEventsCommand, 1);
      expect(result.published).toBe(0);
      expect(result.batchItemFailures).toEqual([{ itemIdentifier: sequenceNumberOf(records[0]) }]);
    });

    it('reports the first unpublished record in shard order even when later records were published', async () => {
      const records = Array.from({ length: 15 }, (_, index) =>
        insertRecord(outboxItem({ aggregateId: index + 1 })),
      );
      eventBridge.on(PutEventsCommand).callsFake((input: PutEventsCommandInput) => {
        if ((input.Entries ?? []).some((entry) => labelOf(entry) === '1#1')) {
          throw serviceError('ValidationException');
        }
        return acceptAll(input);
      });

      const result = await relayRecords(records, fakes.options({ concurrency: 4 }));

      expect(callLabels().flat()).toHaveLength(15);
      expect(result.published).toBe(5);
      expect(result.batchItemFailures).toEqual([{ itemIdentifier: sequenceNumberOf(records[0]) }]);
    });

    it('does not start a chunk once the invocation is inside its safety margin', async () => {
      const record = insertRecord(outboxItem());

      const result = await relayRecords([record], fakes.options({ remainingTimeMs: () => 3000 }));

      expect(eventBridge).not.toHaveReceivedCommand(PutEventsCommand);
      expect(result.batchItemFailures).toEqual([{ itemIdentifier: sequenceNumberOf(record) }]);
    });

    it('stops instead of parking events when EventBridge refuses the relay’s access', async () => {
      const records = [1, 2].map((id) => insertRecord(outboxItem({ aggregateId: id })));
      eventBridge
        .on(PutEventsCommand)
        .callsFake((input: PutEventsCommandInput) => respond(input, () => 'NotAuthorizedForSourceException'));

      const result = await relayRecords(records, fakes.options());

      expect(sqs).not.toHaveReceivedCommand(SendMessageCommand);
      expect(result.batchItemFailures).toEqual([{ itemIdentifier: sequenceNumberOf(records[0]) }]);
    });
  });

  describe('poison', () => {
    it('parks an oversize event, marks it failed and publishes the aggregate’s next event', async () => {
      const oversize = outboxItem({
        aggregateId: 1,
        sequence: 1,
        data: { blob: 'x'.repeat(MAX_PUT_EVENTS_BYTES) },
      });
      const next = outboxItem({ aggregateId: 1, sequence: 2 });

      const result = await relayRecords([insertRecord(oversize), insertRecord(next)], fakes.options());

      // An entry over 1 MiB cannot fit an SQS message either: the body keeps the item
      // without its payload; the item itself stays in the table, marked failed.
      const [body] = parkedBodies();
      expect(body).toMatchObject({ reason: 'oversize', key: keyOf(oversize), truncated: true });
      expect(body?.item).toMatchObject({ eventId: oversize.eventId, sequence: 1 });
      expect(body?.item).not.toHaveProperty('data');
      expect(sqs).toHaveReceivedCommandWith(SendMessageCommand, { QueueUrl: TEST_POISON_QUEUE });
      expect(ddb).toHaveReceivedCommandWith(UpdateCommand, {
        TableName: TEST_TABLE,
        Key: keyOf(oversize),
        UpdateExpression: 'SET failedAt = :failedAt, failureReason = :reason REMOVE #pendingPk, #pendingSk',
        ConditionExpression: 'attribute_exists(#pk)',
      });
      expect(callLabels()).toEqual([['1#2']]);
      expect(result).toMatchObject({ published: 1, poisoned: 1, batchItemFailures: [] });
    });

    it('parks an undecodable record with its raw image and continues the shard', async () => {
      const broken = outboxItem({ aggregateId: 1, sequence: 1 });
      const record = undecodableRecord(broken);
      const next = outboxItem({ aggregateId: 1, sequence: 2 });

      const result = await relayRecords([record, insertRecord(next)], fakes.options());

      const [body] = parkedBodies();
      expect(body).toMatchObject({
        reason: 'undecodable',
        key: keyOf(broken),
        record: { SequenceNumber: sequenceNumberOf(record), NewImage: record.dynamodb?.NewImage },
      });
      expect(String(body?.detail)).toContain('eventId');
      expect(ddb).toHaveReceivedCommandWith(UpdateCommand, { Key: keyOf(broken) });
      expect(callLabels()).toEqual([['1#2']]);
      expect(result).toMatchObject({ published: 1, poisoned: 1, batchItemFailures: [] });
    });

    it('stops at a poison event that cannot be parked and holds back its aggregate’s later events', async () => {
      const records = [
        undecodableRecord(outboxItem({ aggregateId: 1, sequence: 1 })),
        insertRecord(outboxItem({ aggregateId: 2, sequence: 1 })),
        insertRecord(outboxItem({ aggregateId: 1, sequence: 2 })),
      ];
      sqs.on(SendMessageCommand).rejects(serviceError('InvalidMessageContents'));

      const result = await relayRecords(records, fakes.options());

      expect(callLabels()).toEqual([['2#1']]);
      expect(ddb).not.toHaveReceivedCommand(UpdateCommand);
      expect(result.batchItemFailures).toEqual([{ itemIdentifier: sequenceNumberOf(records[0]) }]);
    });

    it('counts a failed-mark error without failing the batch', async () => {
      ddb.on(UpdateCommand).rejects(serviceError('ValidationException'));

      const result = await relayRecords([undecodableRecord(outboxItem())], fakes.options());

      expect(result).toMatchObject({ poisoned: 1, markFailures: 1, batchItemFailures: [] });
      expect(fakes.logger.error).toHaveBeenCalled();
    });
  });

  describe('delivered marks', () => {
    it('marks published items delivered with a TTL, with statements that never recreate an item', async () => {
      const items = [1, 2].map((id) => outboxItem({ aggregateId: id }));

      await relayRecords(
        items.map((item) => insertRecord(item)),
        fakes.options({ deliveredRetentionHours: 48 }),
      );

      expect(ddb).toHaveReceivedCommandTimes(BatchExecuteStatementCommand, 1);
      expect(ddb).toHaveReceivedCommandWith(BatchExecuteStatementCommand, {
        Statements: items.map((item) => ({
          Statement:
            `UPDATE "${TEST_TABLE}" SET "deliveredAt" = ? SET "expiresAt" = ? ` +
            'REMOVE "pendingPk" REMOVE "pendingSk" WHERE "pk" = ? AND "sk" = ?',
          Parameters: [TEST_NOW.toISOString(), TEST_NOW.getTime() / 1000 + 48 * 3600, item.pk, item.sk],
        })),
      });
      expect(ddb).not.toHaveReceivedCommand(TransactWriteCommand);
    });

    it('logs and counts failed marks without changing batchItemFailures', async () => {
      ddb.on(BatchExecuteStatementCommand).rejects(serviceError('ValidationException'));
      const records = [1, 2, 3].map((id) => insertRecord(outboxItem({ aggregateId: id })));

      const result = await relayRecords(records, fakes.options());

      expect(result).toMatchObject({ published: 3, markFailures: 3, batchItemFailures: [] });
      expect(fakes.logger.error).toHaveBeenCalledTimes(3);
      expect(metricTotal(fakes.metrics, RELAY_METRICS.markFailures)).toBe(3);
    });

    it('leaves the other marks alone when one item is gone or keeps conflicting', async () => {
      const items = [1, 2, 3].map((id) => outboxItem({ aggregateId: id }));
      const codes = new Map<unknown, string>([
        [items[1]?.pk, 'ConditionalCheckFailed'],
        [items[2]?.pk, 'TransactionConflict'],
      ]);
      ddb.on(BatchExecuteStatementCommand).callsFake((input: BatchExecuteStatementCommandInput) => ({
        Responses: (input.Statements ?? []).map((statement) => {
          const code = codes.get(statementKey(statement).pk);
          return code ? { Error: { Code: code } } : {};
        }),
      }));

      const result = await relayRecords(
        items.map((item) => insertRecord(item)),
        fakes.options({ markMaxAttempts: 2 }),
      );

      // The first call holds all three; only the conflicting one is sent again.
      expect(deliveredKeys()).toEqual([...items.map(keyOf), keyOf(items[2] ?? outboxItem())]);
      expect(result).toMatchObject({ published: 3, markFailures: 1, batchItemFailures: [] });
    });

    it('starts a chunk’s marks before later chunks are published, and settles them before answering', async () => {
      // Two events of one aggregate: two chunks, the second only after the first.
      const records = inShardOrder([1, 1]);
      const order: string[] = [];
      eventBridge.on(PutEventsCommand).callsFake((input: PutEventsCommandInput) => {
        order.push(`publish ${(input.Entries ?? []).map(labelOf).join(',')}`);
        return acceptAll(input);
      });
      let release: () => void = () => undefined;
      const held = new Promise<void>((resolve) => {
        release = resolve;
      });
      ddb.on(BatchExecuteStatementCommand).callsFake(async (input: BatchExecuteStatementCommandInput) => {
        order.push(`mark ${(input.Statements ?? []).length}`);
        // The first mark waits until the second chunk has been published.
        if (order.filter((step) => step.startsWith('mark')).length === 1) await held;
        return acceptStatements(input);
      });
      let answered = false;

      const relayed = relayRecords(records, fakes.options()).then((result) => {
        answered = true;
        return result;
      });
      await vi.waitFor(() => expect(order).toContain('publish 1#2'));
      const answeredBeforeRelease = answered;
      release();
      const result = await relayed;

      expect(order).toEqual(['publish 1#1', 'mark 1', 'publish 1#2', 'mark 1']);
      expect(answeredBeforeRelease).toBe(false);
      expect(result).toMatchObject({ published: 2, markFailures: 0 });
    });

    it('marks each item once when the batch holds the same record twice', async () => {
      const item = outboxItem();

      await relayRecords([insertRecord(item), insertRecord(item)], fakes.options());

      expect(deliveredKeys()).toEqual([keyOf(item)]);
    });
  });

  describe('metrics', () => {
    it('emits the published count and the publish lag', async () => {
      const records = [1, 2].map((id) => insertRecord(outboxItem({ aggregateId: id })));

      await relayRecords(records, fakes.options());

      expect(metricTotal(fakes.metrics, RELAY_METRICS.published)).toBe(2);
      expect(fakes.metrics.addMetric).toHaveBeenCalledWith(RELAY_METRICS.publishLag, 'Milliseconds', 5000);
      expect(metricTotal(fakes.metrics, RELAY_METRICS.poisoned)).toBe(0);
    });
  });
});
