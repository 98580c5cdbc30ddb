/**
 * The gap guard against DynamoDB Local and moto, with the dev stack's own
 * table, bus and tap queue: an aggregate whose sequences have a hole (a
 * version bump without an event) keeps its order after a discarded batch.
 * No stream poller runs; the relay is fed the records by hand, as the event
 * source mapping would after discarding a batch.
 */
import { GetCommand } from '@aws-sdk/lib-dynamodb';
import { afterAll, beforeEach, describe, expect, it, vi } from 'vitest';
import type { OutboxItem } from '../../lambdas/outbox/envelope';
import { type GuardedRelayOptions, relayInOrder } from '../../lambdas/outbox/gap-guard';
import { entityKey } from '../../lambdas/outbox/keys';
import { OutboxWriter } from '../../lambdas/outbox/writer';
import { createStackWorld, type StackWorld } from '../helpers/local-env';
import { insertRecord, testId } from '../helpers/stream-records';
import { receiveEnvelopes, tapQueueIsEmpty } from '../helpers/tap-queue';

const SOURCE = 'com.example.gap-guard-test';
/** Metrics nobody reads (the shared Powertools ones would pile up across tests). */
const silentMetrics = { addMetric: vi.fn() };
const worlds: StackWorld[] = [];

afterAll(() => {
  for (const world of worlds) world.destroy();
});

function relayOptions(world: StackWorld): GuardedRelayOptions {
  return {
    tableName: world.tableName,
    eventBusName: world.busName,
    poisonQueueUrl: world.poisonQueueUrl,
    eventBridge: world.eventBridge,
    dynamo: world.doc,
    dynamoDb: world.dynamoDb,
    sqs: world.sqs,
    metrics: silentMetrics,
  };
}

async function stored(world: StackWorld, item: OutboxItem): Promise<Record<string, unknown> | undefined> {
  const output = await world.doc.send(
    new GetCommand({ TableName: world.tableName, Key: { pk: item.pk, sk: item.sk }, ConsistentRead: true }),
  );
  return output.Item;
}

describe('gap guard with a hole in the sequences', () => {
  let world: StackWorld;
  let writer: OutboxWriter;

  beforeEach(async () => {
    world = await createStackWorld('gap-guard');
    worlds.push(world);
    writer = new OutboxWriter({
      client: world.doc,
      tableName: world.tableName,
      source: SOURCE,
      eventBusName: world.busName,
    });
  });

  it('publishes pending event 3 before event 5 when version 4 had no event', async () => {
    const aggregateId = testId(801);
    const key = entityKey('MEMBER', aggregateId);
    const event = (sequence: number) => ({
      eventType: 'MemberProfileUpdated',
      aggregateType: 'MEMBER',
      aggregateId,
      sequence,
      data: { step: sequence },
    });
    const committed: OutboxItem[] = [];
    for (const sequence of [1, 2, 3]) {
      committed.push(
        ...(
          await writer.write({
            writes: [{ label: 'member', Put: { Item: { ...key, version: sequence } } }],
            events: [event(sequence)],
          })
        ).events,
      );
    }
    // Version 4: the entity changes, no event (so no outbox item 4 ever exists).
    await writer.write({ writes: [{ label: 'member', Put: { Item: { ...key, version: 4 } } }], events: [] });
    const [fifth] = (
      await writer.write({
        writes: [{ label: 'member', Put: { Item: { ...key, version: 5 } } }],
        events: [event(5)],
      })
    ).events;
    if (!fifth) throw new Error('event 5 was not written');
    const [first, second, third] = committed;
    if (!first || !second || !third) throw new Error('events 1 to 3 were not written');

    // Batch 1 (events 1 and 2) is relayed; batch 2 (event 3) is discarded by the
    // mapping after its retries; batch 3 holds event 5.
    const options = relayOptions(world);
    await relayInOrder([insertRecord(first), insertRecord(second)], options);
    expect((await receiveEnvelopes(world, 2)).map((envelope) => envelope.sequence)).toEqual([1, 2]);

    const result = await relayInOrder([insertRecord(fifth)], options);

    expect(result).toMatchObject({ healed: 1, published: 1, batchItemFailures: [] });
    const arrived = await receiveEnvelopes(world, 2);
    expect(arrived.map((envelope) => envelope.sequence)).toEqual([3, 5]);
    expect(await tapQueueIsEmpty(world)).toBe(true);
    for (const item of [third, fifth]) {
      expect(await stored(world, item)).toMatchObject({ deliveredAt: expect.any(String) });
      expect(await stored(world, item)).not.toHaveProperty('pendingPk');
    }
  });
});
