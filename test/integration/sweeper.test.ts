/**
 * The sweeper against DynamoDB Local and moto, with the dev stack's own
 * table, bus, tap rule and queues (from the synthesized template). No stream
 * poller runs, so the relay is switched off: whatever reaches the bus, the
 * sweeper (or, in the race and discard tests, a relay fed by hand) sent.
 */
import { QueryCommand as RawQueryCommand } from '@aws-sdk/client-dynamodb';
import { QueryCommand } from '@aws-sdk/lib-dynamodb';
import { afterAll, beforeEach, describe, expect, it, vi } from 'vitest';
import type { EventEnvelope, OutboxItem } from '../../lambdas/outbox/envelope';
import { relayInOrder } from '../../lambdas/outbox/gap-guard';
import {
  aggregatePk,
  OUTBOX_PREFIX,
  PENDING_INDEX,
  PENDING_PK,
  PENDING_SHARDS,
  pendingPartition,
} from '../../lambdas/outbox/keys';
import { Relay } from '../../lambdas/outbox/relay';
import { findOldestPending, type SweepOptions, sweep } from '../../lambdas/outbox/sweeper';
import { OutboxWriter } from '../../lambdas/outbox/writer';
import { createStackWorld, localEventBridgeClient, type StackWorld } from '../helpers/local-env';
import { insertRecord, testId } from '../helpers/stream-records';
import { receiveEnvelopes, receiveUntil, tapQueueIsEmpty } from '../helpers/tap-queue';

const SOURCE = 'com.example.sweeper-test';
/** Metrics nobody reads (the shared Powertools ones would pile up across tests). */
const silentMetrics = { addMetric: vi.fn() };
const clients: { destroy(): void }[] = [];

afterAll(() => {
  for (const client of clients) client.destroy();
});

/** Everything one test needs: its own table, bus, tap queue and poison queue. */
type World = StackWorld;

function required<T>(value: T | undefined, what: string): T {
  if (value === undefined) throw new Error(`missing ${what}`);
  return value;
}

async function createWorld(): Promise<World> {
  const world = await createStackWorld('sweeper');
  clients.push(world);
  return world;
}

function sweepOptions(world: World, overrides: Partial<SweepOptions> = {}): SweepOptions {
  return {
    tableName: world.tableName,
    eventBusName: world.busName,
    poisonQueueUrl: world.poisonQueueUrl,
    dynamoDb: world.dynamoDb,
    dynamo: world.doc,
    eventBridge: world.eventBridge,
    sqs: world.sqs,
    metrics: silentMetrics,
    thresholdSeconds: 0,
    ...overrides,
  };
}

/**
 * A writer whose clock runs a second behind the sweeper's, so that with a
 * threshold of 0 every committed event is unambiguously in the past.
 */
function writerFor(world: World): OutboxWriter {
  return new OutboxWriter({
    client: world.doc,
    tableName: world.tableName,
    source: SOURCE,
    eventBusName: world.busName,
    now: () => new Date(Date.now() - 1000),
  });
}

/**
 * Commits `perAggregate` events for each aggregate, interleaving the
 * aggregates and putting one or two events in each transaction. Returns the
 * items as stored, in commit order.
 */
async function commitEvents(writer: OutboxWriter, aggregateIds: readonly string[], perAggregate: number) {
  const committed: OutboxItem[] = [];
  const next = new Map(aggregateIds.map((id) => [id, 1]));
  while ([...next.values()].some((sequence) => sequence <= perAggregate)) {
    for (const aggregateId of aggregateIds) {
      const sequence = next.get(aggregateId) ?? perAggregate + 1;
      if (sequence > perAggregate) continue;
      const count = Math.min(1 + (sequence % 2), perAggregate - sequence + 1);
      const events = Array.from({ length: count }, (_, offset) => ({
        eventType: 'MemberUpdated',
        aggregateType: 'MEMBER',
        aggregateId,
        sequence: sequence + offset,
        data: { step: sequence + offset },
      }));
      const result = await writer.write({ writes: [], events });
      committed.push(...result.events);
      next.set(aggregateId, sequence + count);
    }
  }
  return committed;
}

/** Every outbox item of the aggregates, as stored now. */
async function storedItems(world: World, aggregateIds: readonly string[]): Promise<OutboxItem[]> {
  const items: OutboxItem[] = [];
  for (const aggregateId of aggregateIds) {
    const output = await world.doc.send(
      new QueryCommand({
        TableName: world.tableName,
        KeyConditionExpression: 'pk = :pk AND begins_with(sk, :prefix)',
        ExpressionAttributeValues: { ':pk': aggregatePk('MEMBER', aggregateId), ':prefix': OUTBOX_PREFIX },
        ConsistentRead: true,
      }),
    );
    items.push(...((output.Items ?? []) as OutboxItem[]));
  }
  return items;
}

/** Items still in the pending index (any shard). */
async function pendingIndexSize(world: World): Promise<number> {
  let size = 0;
  for (let shard = 0; shard < PENDING_SHARDS; shard += 1) {
    const output = await world.dynamoDb.send(
      new RawQueryCommand({
        TableName: world.tableName,
        IndexName: PENDING_INDEX,
        KeyConditionExpression: '#pendingPk = :partition',
        ExpressionAttributeNames: { '#pendingPk': PENDING_PK },
        ExpressionAttributeValues: { ':partition': { S: pendingPartition(shard) } },
        Select: 'COUNT',
      }),
    );
    size += output.Count ?? 0;
  }
  return size;
}

/** Sequences per aggregate, in the order their first copy arrived. */
function firstArrivals(envelopes: readonly EventEnvelope[]): Map<string, number[]> {
  const seen = new Set<string>();
  const orders = new Map<string, number[]>();
  for (const envelope of envelopes) {
    if (seen.has(envelope.eventId)) continue;
    seen.add(envelope.eventId);
    orders.set(envelope.aggregateId, [...(orders.get(envelope.aggregateId) ?? []), envelope.sequence]);
  }
  return orders;
}

function expectDelivered(items: readonly OutboxItem[]): void {
  for (const item of items) {
    expect(item).toMatchObject({ deliveredAt: expect.any(String), expiresAt: expect.any(Number) });
    expect(item).not.toHaveProperty('pendingPk');
    expect(item).not.toHaveProperty('pendingSk');
  }
}

describe('sweeper with the relay switched off', () => {
  let world: World;

  beforeEach(async () => {
    world = await createWorld();
  });

  it('publishes every committed event, in sequence order per aggregate, and marks each delivered', async () => {
    const aggregateIds = [11, 12, 13, 14].map(testId);
    const committed = await commitEvents(writerFor(world), aggregateIds, 5);

    // Small pages: the scan resumes across pages while the marks change the index.
    const result = await sweep(sweepOptions(world, { pageSize: 2 }));
    const envelopes = await receiveEnvelopes(world, committed.length);

    expect(result).toMatchObject({
      pendingEvents: committed.length,
      republished: committed.length,
      failures: 0,
      complete: true,
    });
    expect(envelopes.map((envelope) => envelope.eventId).sort()).toEqual(
      committed.map((item) => item.eventId).sort(),
    );
    for (const aggregateId of aggregateIds) {
      expect(
        envelopes
          .filter((envelope) => envelope.aggregateId === aggregateId)
          .map((envelope) => envelope.sequence),
      ).toEqual([1, 2, 3, 4, 5]);
    }
    const stored = await storedItems(world, aggregateIds);
    expect(stored).toHaveLength(committed.length);
    expectDelivered(stored);
    expect(await pendingIndexSize(world)).toBe(0);
  });

  it('publishes nothing on a second run', async () => {
    const aggregateIds = [21, 22].map(testId);
    const committed = await commitEvents(writerFor(world), aggregateIds, 3);
    await sweep(sweepOptions(world));
    await receiveEnvelopes(world, committed.length);

    const again = await sweep(sweepOptions(world));

    expect(again).toMatchObject({
      oldestPendingAgeSeconds: 0,
      pendingEvents: 0,
      republished: 0,
      failures: 0,
    });
    expect(await tapQueueIsEmpty(world)).toBe(true);
  });

  it('publishes an earlier event with a later occurredAt before its successor, and leaves younger ones', async () => {
    const aggregateId = testId(31);
    const at = (secondsAgo: number) => new Date(Date.now() - secondsAgo * 1000).toISOString();
    const writer = writerFor(world);
    const event = (sequence: number, occurredAt: string) => ({
      eventType: 'MemberUpdated',
      aggregateType: 'MEMBER',
      aggregateId,
      sequence,
      occurredAt,
      data: { sequence },
    });
    // Three writers with skewed clocks: 1 looks young, 2 old, 3 young.
    await writer.write({ writes: [], events: [event(1, at(5))] });
    await writer.write({ writes: [], events: [event(2, at(120))] });
    await writer.write({ writes: [], events: [event(3, at(1))] });

    const result = await sweep(sweepOptions(world, { thresholdSeconds: 60 }));
    const envelopes = await receiveEnvelopes(world, 2);

    expect(result).toMatchObject({ pendingEvents: 1, republished: 2 });
    expect(envelopes.map((envelope) => envelope.sequence)).toEqual([1, 2]);
    const [first, second, third] = await storedItems(world, [aggregateId]);
    expectDelivered([required(first, 'event 1'), required(second, 'event 2')]);
    expect(third).toMatchObject({ sequence: 3, pendingPk: expect.any(String) });
    expect(
      (await findOldestPending({ client: world.dynamoDb, tableName: world.tableName, now: new Date() })).key,
    ).toEqual({
      pk: third?.pk,
      sk: third?.sk,
    });
  });
});

describe('sweeper and relay at the same time', () => {
  let world: World;

  beforeEach(async () => {
    world = await createWorld();
  });

  it('publishes every event at least once and marks every one delivered', async () => {
    const aggregateIds = [41, 42, 43, 44].map(testId);
    const committed = await commitEvents(writerFor(world), aggregateIds, 6);
    // The relay's calls are slowed down, so that the two overlap.
    const slowEventBridge = localEventBridgeClient();
    clients.push(slowEventBridge);
    slowEventBridge.middlewareStack.add(
      (next) => async (args) => {
        await new Promise((resolve) => setTimeout(resolve, 25));
        return next(args);
      },
      { step: 'initialize', name: 'slowDown' },
    );
    const relay = new Relay({
      tableName: world.tableName,
      eventBusName: world.busName,
      poisonQueueUrl: world.poisonQueueUrl,
      eventBridge: slowEventBridge,
      dynamo: world.doc,
      sqs: world.sqs,
      metrics: silentMetrics,
    });
    // The stream's records of the commits, in commit order.
    const records = committed.map((item) => insertRecord(item));

    const [relayed, swept] = await Promise.all([relay.relay(records), sweep(sweepOptions(world))]);
    // Every copy sent is on the queue once both have returned: receive until a poll finds none.
    let lastCount = -1;
    const envelopes = await receiveUntil(
      world,
      (received) => {
        const settled = received.length === lastCount;
        lastCount = received.length;
        return settled;
      },
      'the tap queue to drain',
    );

    expect(relayed.batchItemFailures).toEqual([]);
    expect(swept.failures).toBe(0);
    expect(relayed.published + swept.republished).toBeGreaterThanOrEqual(committed.length);
    expect(new Set(envelopes.map((envelope) => envelope.eventId))).toEqual(
      new Set(committed.map((item) => item.eventId)),
    );
    for (const [, sequences] of firstArrivals(envelopes)) expect(sequences).toEqual([1, 2, 3, 4, 5, 6]);
    expectDelivered(await storedItems(world, aggregateIds));
    expect(await pendingIndexSize(world)).toBe(0);
  });
});

describe('relay after a discarded batch', () => {
  let world: World;

  beforeEach(async () => {
    world = await createWorld();
  });

  it('publishes the discarded events of an aggregate before its events in the next batch', async () => {
    const aggregateIds = [51, 52].map(testId);
    const committed = await commitEvents(writerFor(world), aggregateIds, 5);
    // The stream gave up on the batch holding sequences 1 to 3 of each aggregate:
    // the relay only ever sees the records of 4 and 5.
    const later = committed.filter((item) => item.sequence >= 4).map((item) => insertRecord(item));

    const result = await relayInOrder(later, {
      tableName: world.tableName,
      eventBusName: world.busName,
      poisonQueueUrl: world.poisonQueueUrl,
      eventBridge: world.eventBridge,
      dynamo: world.doc,
      dynamoDb: world.dynamoDb,
      sqs: world.sqs,
      metrics: silentMetrics,
    });
    const envelopes = await receiveEnvelopes(world, committed.length);

    expect(result).toMatchObject({ healed: 6, published: 4, batchItemFailures: [] });
    for (const aggregateId of aggregateIds) {
      expect(firstArrivals(envelopes).get(aggregateId)).toEqual([1, 2, 3, 4, 5]);
    }
    expectDelivered(await storedItems(world, aggregateIds));
    expect(await pendingIndexSize(world)).toBe(0);
  });
});
