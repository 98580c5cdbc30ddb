import {
  DynamoDBClient,
  QueryCommand,
  type QueryCommandInput,
  type QueryCommandOutput,
  ScanCommand,
  type ScanCommandInput,
  type ScanCommandOutput,
} from '@aws-sdk/client-dynamodb';
import { EventBridgeClient, PutEventsCommand, type PutEventsCommandInput } from '@aws-sdk/client-eventbridge';
import { SendMessageCommand, SQSClient } from '@aws-sdk/client-sqs';
import {
  BatchExecuteStatementCommand,
  type BatchExecuteStatementCommandInput,
  DynamoDBDocumentClient,
  TransactWriteCommand,
  UpdateCommand,
  type UpdateCommandInput,
} from '@aws-sdk/lib-dynamodb';
import { marshall } from '@aws-sdk/util-dynamodb';
import { mockClient } from 'aws-sdk-client-mock';
import { allCustomMatcher } from 'aws-sdk-client-mock-vitest';
import type {} from 'aws-sdk-client-mock-vitest/extend';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { OutboxItem } from '../../lambdas/outbox/envelope';
import { PENDING_INDEX, pendingShard, pendingSkBefore } from '../../lambdas/outbox/keys';
import {
  PENDING_INDEX_ATTRIBUTES,
  republish,
  SWEEPER_DEFAULTS,
  SWEEPER_METRICS,
  type SweepOptions,
  sweep,
} from '../../lambdas/outbox/sweeper';
import {
  acceptAll,
  acceptStatements,
  labelOf,
  metricTotal,
  type RelayFakes,
  relayFakes,
  respond,
  statementKey,
  TEST_TABLE,
} from '../helpers/relay-harness';
import { keyOf, outboxItem, testId } from '../helpers/stream-records';

expect.extend(allCustomMatcher);

const dynamoDb = mockClient(DynamoDBClient);
const ddb = mockClient(DynamoDBDocumentClient);
const eventBridge = mockClient(EventBridgeClient);
const sqs = mockClient(SQSClient);

/** The sweeper's clock. */
const NOW = new Date('2026-03-01T13:00:00.000Z');

/** `occurredAt` this many seconds before {@link NOW}. */
function ago(seconds: number): string {
  return new Date(NOW.getTime() - seconds * 1000).toISOString();
}

/**
 * A fake of the table behind the Scan and Query mocks: the pending index
 * (scanned in (shard, pendingSk) order, `Limit` counted before the
 * `pendingSk <` filter, only the keys and the projected attributes returned,
 * as DynamoDB does) and the table's aggregate reads (`pk`, sort-key range,
 * pending marker present), paged by `Limit`. Delivered and failed marks
 * remove the pending keys, as the real marks do.
 */
class FakeTable {
  private readonly items = new Map<string, OutboxItem>();

  constructor(items: readonly OutboxItem[]) {
    for (const item of items) this.items.set(`${item.pk}|${item.sk}`, item);
  }

  /** Scans of the pending index. */
  scan(input: ScanCommandInput): ScanCommandOutput {
    if (input.IndexName !== PENDING_INDEX) throw new Error(`unexpected scan of ${input.IndexName}`);
    const before = input.ExpressionAttributeValues?.[':before']?.S;
    const position = (item: OutboxItem) => `${item.pendingPk}|${item.pendingSk}`;
    const after = input.ExclusiveStartKey?.after?.S;
    const indexed = [...this.items.values()]
      .filter((item) => item.pendingPk !== undefined && item.pendingSk !== undefined)
      .sort((a, b) => (position(a) < position(b) ? -1 : 1))
      .filter((item) => after === undefined || position(item) > after);
    const page = indexed.slice(0, input.Limit ?? indexed.length);
    const lastItem = page.at(-1);
    const projected = page
      .filter((item) => before === undefined || (item.pendingSk ?? '') < before)
      .map((item) => {
        const { pk, sk, pendingPk, pendingSk } = item;
        const extra = Object.fromEntries(PENDING_INDEX_ATTRIBUTES.map((name) => [name, item[name]]));
        return marshall({ pk, sk, pendingPk, pendingSk, ...extra }, { removeUndefinedValues: true });
      });
    return {
      $metadata: {},
      Items: projected,
      ...(lastItem && page.length < indexed.length
        ? { LastEvaluatedKey: { after: { S: position(lastItem) } } }
        : {}),
    };
  }

  /** Queries of the table: one aggregate's outbox items. */
  query(input: QueryCommandInput): QueryCommandOutput {
    const values = input.ExpressionAttributeValues ?? {};
    const all = [...this.items.values()];
    // Rows with their sort key; pages resume after the last key returned, as
    // DynamoDB's do, whatever was marked in between.
    const prefix = values[':prefix']?.S ?? '';
    const last = values[':last']?.S;
    const rows = all.flatMap((item) =>
      item.pk === values[':pk']?.S &&
      item.sk.startsWith(prefix) &&
      (last === undefined || item.sk <= last) &&
      item.pendingPk !== undefined
        ? [{ sortKey: item.sk, item }]
        : [],
    );
    const after = input.ExclusiveStartKey?.after?.S;
    const remaining = rows
      .filter((row) => after === undefined || row.sortKey > after)
      .sort((a, b) => (a.sortKey < b.sortKey ? -1 : 1));
    const page = remaining.slice(0, input.Limit ?? remaining.length);
    const lastRow = page.at(-1);
    return {
      $metadata: {},
      Items: page.map((row) => marshall(row.item, { removeUndefinedValues: true })),
      ...(lastRow && page.length < remaining.length
        ? { LastEvaluatedKey: { after: { S: lastRow.sortKey } } }
        : {}),
    };
  }

  /** Applies delivered-mark statements. */
  statements(input: BatchExecuteStatementCommandInput): void {
    for (const statement of input.Statements ?? []) {
      const key = statementKey(statement);
      this.unpend(`${String(key.pk)}|${String(key.sk)}`);
    }
  }

  unpend(id: string): void {
    const item = this.items.get(id);
    if (!item) return;
    const { pendingPk: _pendingPk, pendingSk: _pendingSk, ...rest } = item;
    this.items.set(id, rest);
  }
}

/** Installs a fake table holding `items` behind the DynamoDB mocks. */
function table(items: readonly OutboxItem[]): FakeTable {
  const fake = new FakeTable(items);
  dynamoDb.on(QueryCommand).callsFake((input: QueryCommandInput) => fake.query(input));
  dynamoDb.on(ScanCommand).callsFake((input: ScanCommandInput) => fake.scan(input));
  ddb.on(BatchExecuteStatementCommand).callsFake((input: BatchExecuteStatementCommandInput) => {
    fake.statements(input);
    return acceptStatements(input);
  });
  ddb.on(UpdateCommand).callsFake((input: UpdateCommandInput) => {
    fake.unpend(`${String(input.Key?.pk)}|${String(input.Key?.sk)}`);
    return {};
  });
  return fake;
}

/** Labels (`aggregate#sequence`) of the entries of every PutEvents call, in call order. */
function callLabels(): string[][] {
  return eventBridge
    .commandCalls(PutEventsCommand)
    .map((call) => (call.args[0].input.Entries ?? []).map(labelOf));
}

/** Keys of every delivered mark, over all calls. */
function deliveredKeys(): unknown[] {
  return ddb
    .commandCalls(BatchExecuteStatementCommand)
    .flatMap((call) => call.args[0].input.Statements ?? [])
    .map(statementKey);
}

/** Two aggregate ids whose events share a shard of the pending index (so one page holds both). */
function idsInOneShard(): [string, string] {
  const first = testId(1);
  for (let n = 2; ; n += 1) {
    if (pendingShard(testId(n)) === pendingShard(first)) return [first, testId(n)];
  }
}

/** Two aggregate ids whose events live in different shards of the pending index. */
function idsInTwoShards(): [string, string] {
  const first = testId(1);
  for (let n = 2; ; n += 1) {
    if (pendingShard(testId(n)) !== pendingShard(first)) return [first, testId(n)];
  }
}

describe('sweeper', () => {
  let fakes: RelayFakes;
  let options: (overrides?: Partial<SweepOptions>) => SweepOptions;

  beforeEach(() => {
    fakes = relayFakes();
    options = (overrides = {}) => ({
      ...fakes.options(),
      dynamoDb: new DynamoDBClient({}),
      thresholdSeconds: 300,
      now: () => NOW,
      concurrency: 1,
      ...overrides,
    });
    eventBridge.on(PutEventsCommand).callsFake(acceptAll);
    sqs.on(SendMessageCommand).resolves({ MessageId: 'poison-1' });
  });

  afterEach(() => {
    dynamoDb.reset();
    ddb.reset();
    eventBridge.reset();
    sqs.reset();
  });

  describe('selection', () => {
    it('republishes only the events pending longer than the threshold', async () => {
      const old = outboxItem({ aggregateId: 1, occurredAt: ago(301) });
      const young = outboxItem({ aggregateId: 2, occurredAt: ago(299) });
      table([old, young]);

      const result = await sweep(options());

      expect(callLabels()).toEqual([['1#1']]);
      expect(result).toMatchObject({ pendingEvents: 1, republished: 1, failures: 0, complete: true });
      expect(dynamoDb).toHaveReceivedCommandWith(ScanCommand, {
        IndexName: PENDING_INDEX,
        FilterExpression: '#pendingSk < :before',
        ExpressionAttributeValues: { ':before': { S: pendingSkBefore(ago(300)) } },
      });
      expect(dynamoDb).not.toHaveReceivedCommandWith(QueryCommand, { IndexName: PENDING_INDEX });
    });

    it('scans the whole index, page by page', async () => {
      const items = Array.from({ length: 12 }, (_, index) =>
        outboxItem({ aggregateId: index + 1, occurredAt: ago(600 + index) }),
      );
      table(items);

      const result = await sweep(options({ pageSize: 1 }));

      expect(result).toMatchObject({ pendingEvents: 12, republished: 12, complete: true });
      expect(callLabels().flat().sort()).toEqual(items.map((item) => `${Number(item.aggregateId)}#1`).sort());
    });

    it('reads the aggregate from the table consistently, up to its newest old event', async () => {
      const item = outboxItem({ aggregateId: 1, sequence: 4, occurredAt: ago(600) });
      table([item]);

      await sweep(options());

      expect(dynamoDb).toHaveReceivedCommandWith(QueryCommand, {
        ConsistentRead: true,
        KeyConditionExpression: '#pk = :pk AND #sk BETWEEN :prefix AND :last',
        FilterExpression: 'attribute_exists(#pendingPk)',
        ExpressionAttributeValues: {
          ':pk': { S: item.pk },
          ':prefix': { S: 'OUTBOX#' },
          ':last': { S: item.sk },
        },
      });
    });
  });

  describe('order', () => {
    it('publishes an aggregate’s events in sequence order, an earlier one with a later occurredAt first', async () => {
      // Writers' clocks disagree: sequence 1 claims to be younger than sequence 2.
      const first = outboxItem({ aggregateId: 1, sequence: 1, occurredAt: ago(10) });
      const second = outboxItem({ aggregateId: 1, sequence: 2, occurredAt: ago(600) });
      const later = outboxItem({ aggregateId: 1, sequence: 3, occurredAt: ago(5) });
      table([first, second, later]);

      const result = await sweep(options());

      expect(callLabels()).toEqual([['1#1'], ['1#2']]);
      expect(result).toMatchObject({ pendingEvents: 1, republished: 2 });
    });

    it('never puts two events of one aggregate in one call, and packs a page’s aggregates together', async () => {
      const [first, second] = idsInOneShard();
      const items = [first, second].flatMap((aggregateId) =>
        [1, 2, 3].map((sequence) => outboxItem({ aggregateId, sequence, occurredAt: ago(900 - sequence) })),
      );
      table(items);

      await sweep(options());

      const short = (id: string) => String(Number(id));
      expect(callLabels().map((labels) => [...labels].sort())).toEqual(
        [1, 2, 3].map((sequence) => [`${short(first)}#${sequence}`, `${short(second)}#${sequence}`].sort()),
      );
    });
  });

  describe('marks', () => {
    it('marks the published events delivered with the relay’s mark', async () => {
      const items = [1, 2].map((sequence) => outboxItem({ aggregateId: 1, sequence, occurredAt: ago(600) }));
      table(items);

      await sweep(options({ deliveredRetentionHours: 2 }));

      expect(deliveredKeys()).toEqual(items.map(keyOf));
      expect(ddb).toHaveReceivedCommandWith(BatchExecuteStatementCommand, {
        Statements: [
          {
            Statement:
              `UPDATE "${TEST_TABLE}" SET "deliveredAt" = ? SET "expiresAt" = ? ` +
              'REMOVE "pendingPk" REMOVE "pendingSk" WHERE "pk" = ? AND "sk" = ?',
            Parameters: [NOW.toISOString(), NOW.getTime() / 1000 + 2 * 3600, items[0]?.pk, items[0]?.sk],
          },
        ],
      });
      expect(ddb).not.toHaveReceivedCommand(TransactWriteCommand);
    });

    it('finds nothing left to do on a second run', async () => {
      table([1, 2, 3].map((sequence) => outboxItem({ aggregateId: 1, sequence, occurredAt: ago(600) })));
      await sweep(options());
      eventBridge.resetHistory();

      const again = await sweep(options());

      expect(again).toMatchObject({ pendingEvents: 0, republished: 0 });
      expect(eventBridge).not.toHaveReceivedCommand(PutEventsCommand);
    });
  });

  describe('failures', () => {
    it('stops an aggregate at an event it cannot publish while the others go on', async () => {
      const items = [1, 2].flatMap((aggregateId) =>
        [1, 2, 3].map((sequence) => outboxItem({ aggregateId, sequence, occurredAt: ago(600) })),
      );
      table(items);
      eventBridge
        .on(PutEventsCommand)
        .callsFake((input: PutEventsCommandInput) =>
          respond(input, (entry) => (labelOf(entry) === '1#2' ? 'InternalFailure' : undefined)),
        );

      const result = await sweep(options({ maxAttempts: 2 }));

      const published = callLabels().flat();
      expect(published).not.toContain('1#3');
      expect(published.filter((label) => label === '1#2')).toHaveLength(2);
      expect(published).toEqual(expect.arrayContaining(['1#1', '2#1', '2#2', '2#3']));
      expect(deliveredKeys()).toEqual(
        expect.arrayContaining(
          [items[0], items[3], items[4], items[5]].map((item) => keyOf(item ?? outboxItem())),
        ),
      );
      expect(deliveredKeys()).toHaveLength(4);
      expect(result).toMatchObject({ republished: 4, failures: 1 });
      expect(metricTotal(fakes.metrics, SWEEPER_METRICS.failures)).toBe(1);
    });

    it('parks an event EventBridge refuses for good and goes on with its aggregate', async () => {
      const items = [1, 2].map((sequence) => outboxItem({ aggregateId: 1, sequence, occurredAt: ago(600) }));
      table(items);
      eventBridge
        .on(PutEventsCommand)
        .callsFake((input: PutEventsCommandInput) =>
          respond(input, (entry) => (labelOf(entry) === '1#1' ? 'MalformedDetail' : undefined)),
        );

      const result = await sweep(options());

      expect(callLabels()).toEqual([['1#1'], ['1#2']]);
      expect(sqs).toHaveReceivedCommandTimes(SendMessageCommand, 1);
      expect(ddb).toHaveReceivedCommandWith(UpdateCommand, {
        Key: keyOf(items[0] ?? outboxItem()),
        UpdateExpression: expect.stringContaining('SET failedAt = :failedAt'),
      });
      expect(result).toMatchObject({ republished: 1, poisoned: 1, failures: 0 });
    });

    it('leaves an event pending, not poison, when EventBridge answers with a code the relay does not know', async () => {
      const items = [1, 2].map((sequence) => outboxItem({ aggregateId: 1, sequence, occurredAt: ago(600) }));
      table(items);
      eventBridge
        .on(PutEventsCommand)
        .callsFake((input: PutEventsCommandInput) => respond(input, () => 'InvalidAccountIdException'));

      const result = await sweep(options());

      expect(callLabels()).toEqual([['1#1']]);
      expect(sqs).not.toHaveReceivedCommand(SendMessageCommand);
      expect(result).toMatchObject({ republished: 0, poisoned: 0, failures: 1 });
    });

    it('parks an item that is not a valid outbox event and publishes the aggregate’s next one', async () => {
      const broken = { ...outboxItem({ aggregateId: 1, sequence: 1, occurredAt: ago(600) }), eventId: '' };
      const next = outboxItem({ aggregateId: 1, sequence: 2, occurredAt: ago(600) });
      table([broken, next]);

      const result = await sweep(options());

      expect(callLabels()).toEqual([['1#2']]);
      const body = JSON.parse(sqs.commandCalls(SendMessageCommand)[0]?.args[0].input.MessageBody ?? '{}');
      expect(body).toMatchObject({ reason: 'undecodable', key: keyOf(broken) });
      expect(result).toMatchObject({ republished: 1, poisoned: 1 });
    });

    it('keeps the aggregate’s later events pending when a poison event cannot be parked', async () => {
      const items = [1, 2].map((sequence) => outboxItem({ aggregateId: 1, sequence, occurredAt: ago(600) }));
      table(items);
      eventBridge
        .on(PutEventsCommand)
        .callsFake((input: PutEventsCommandInput) =>
          respond(input, (entry) => (labelOf(entry) === '1#1' ? 'MalformedDetail' : undefined)),
        );
      sqs.on(SendMessageCommand).rejects(new Error('SQS is down'));

      const result = await sweep(options());

      expect(callLabels()).toEqual([['1#1']]);
      expect(result).toMatchObject({ republished: 0, poisoned: 0, failures: 1 });
    });

    it('skips an aggregate it cannot read for the rest of the run and republishes the others', async () => {
      const items = [1, 2].map((aggregateId) => outboxItem({ aggregateId, occurredAt: ago(600) }));
      const fake = table(items);
      dynamoDb.on(QueryCommand).callsFake((input: QueryCommandInput) => {
        if (input.ExpressionAttributeValues?.[':pk']?.S === items[0]?.pk) throw new Error('DynamoDB is down');
        return fake.query(input);
      });

      const result = await sweep(options());

      expect(callLabels()).toEqual([['2#1']]);
      expect(deliveredKeys()).toEqual([keyOf(items[1] ?? outboxItem())]);
      expect(result).toMatchObject({ aggregates: 2, republished: 1, failures: 1 });
    });

    it('stops starting work when the invocation is out of time', async () => {
      table([outboxItem({ aggregateId: 1, occurredAt: ago(600) })]);

      const result = await sweep(options({ remainingTimeMs: () => 1000 }));

      expect(eventBridge).not.toHaveReceivedCommand(PutEventsCommand);
      expect(result).toMatchObject({ republished: 0, complete: false });
    });
  });

  describe('metrics', () => {
    it('reports the oldest pending age across the whole index, young events included', async () => {
      const [first, second] = idsInTwoShards();
      table([
        outboxItem({ aggregateId: first, occurredAt: ago(120) }),
        outboxItem({ aggregateId: second, occurredAt: ago(200) }),
      ]);

      const result = await sweep(options());

      expect(result.oldestPendingAgeSeconds).toBe(200);
      expect(metricTotal(fakes.metrics, SWEEPER_METRICS.oldestPendingAge)).toBe(200);
      expect(fakes.metrics.addMetric).toHaveBeenCalledWith('OldestPendingAgeSeconds', 'Seconds', 200);
      expect(metricTotal(fakes.metrics, SWEEPER_METRICS.republished)).toBe(0);
    });

    it('reports 0 and publishes nothing when nothing is pending', async () => {
      table([]);

      const result = await sweep(options());

      expect(result).toMatchObject({ oldestPendingAgeSeconds: 0, pendingEvents: 0, republished: 0 });
      expect(fakes.metrics.addMetric).toHaveBeenCalledWith('OldestPendingAgeSeconds', 'Seconds', 0);
      expect(metricTotal(fakes.metrics, SWEEPER_METRICS.pending)).toBe(0);
      expect(eventBridge).not.toHaveReceivedCommand(PutEventsCommand);
    });

    it('counts the pending events seen and the events republished', async () => {
      table([1, 2, 3].map((sequence) => outboxItem({ aggregateId: 1, sequence, occurredAt: ago(600) })));

      await sweep(options());

      expect(metricTotal(fakes.metrics, SWEEPER_METRICS.pending)).toBe(3);
      expect(metricTotal(fakes.metrics, SWEEPER_METRICS.republished)).toBe(3);
      expect(metricTotal(fakes.metrics, SWEEPER_METRICS.failures)).toBe(0);
    });

    it('leaves the age out and counts a failure when the index cannot be read', async () => {
      dynamoDb.on(ScanCommand).rejects(new Error('DynamoDB is down'));

      const result = await sweep(options());

      expect(result.oldestPendingAgeSeconds).toBeUndefined();
      expect(fakes.metrics.addMetric).not.toHaveBeenCalledWith(
        SWEEPER_METRICS.oldestPendingAge,
        expect.anything(),
        expect.anything(),
      );
      expect(result.failures).toBe(2);
    });
  });

  describe('republish', () => {
    it('sends the given items per aggregate in sequence order, once each, and marks them', async () => {
      const items = [3, 1, 2].map((sequence) => outboxItem({ aggregateId: 1, sequence }));
      table([]);

      const result = await republish([...items, items[0] ?? outboxItem()], fakes.options());

      expect(callLabels()).toEqual([['1#1'], ['1#2'], ['1#3']]);
      expect(result).toMatchObject({
        published: [
          keyOf(items[1] ?? outboxItem()),
          keyOf(items[2] ?? outboxItem()),
          keyOf(items[0] ?? outboxItem()),
        ],
        stopped: [],
      });
      expect(deliveredKeys()).toHaveLength(3);
    });
  });

  it('defaults to a five-minute threshold', () => {
    expect(SWEEPER_DEFAULTS.thresholdSeconds).toBe(300);
  });
});
