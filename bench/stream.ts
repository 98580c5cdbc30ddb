/**
 * A shard's worth of outbox INSERT records: events of many aggregates,
 * interleaved at random (seeded, so every run relays the same stream), each
 * aggregate's sequences increasing in shard order, as DynamoDB Streams
 * delivers them.
 */
import type { DynamoDBRecord } from 'aws-lambda';
import { insertRecord, outboxItem, SequenceNumbers, testId } from '../test/helpers/stream-records';

/** Shape of the generated stream. */
export interface StreamShape {
  readonly aggregates: number;
  readonly eventsPerAggregate: number;
  /** PRNG seed of the interleaving. @default 42 */
  readonly seed?: number;
}

/** mulberry32: a small, fast, seedable PRNG; quality is ample for shuffling. */
export function seededRandom(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/**
 * The records of `aggregates x eventsPerAggregate` events in shard order. Each
 * event carries a payload shaped like a profile update (about 200 bytes of
 * `data`), so decoding and serializing cost what they would in service.
 */
export function outboxStream(shape: StreamShape): DynamoDBRecord[] {
  const random = seededRandom(shape.seed ?? 42);
  const sequenceNumbers = new SequenceNumbers();
  const next = Array.from({ length: shape.aggregates }, () => 1);
  const open = Array.from({ length: shape.aggregates }, (_, index) => index);
  const records: DynamoDBRecord[] = [];
  while (open.length > 0) {
    const slot = Math.floor(random() * open.length);
    const aggregate = open[slot] ?? 0;
    const sequence = next[aggregate] ?? 1;
    const aggregateId = testId(aggregate + 1);
    const item = outboxItem({
      aggregateId,
      sequence,
      eventType: sequence === 1 ? 'MemberRegistered' : 'MemberProfileUpdated',
      occurredAt: new Date(Date.UTC(2026, 2, 1, 12, 0, 0, records.length)).toISOString(),
      data: {
        memberId: aggregateId,
        changes: { email: `member-${aggregate + 1}@example.com`, name: `Member ${aggregate + 1}` },
        note: 'x'.repeat(96),
      },
      traceHeader: `Root=1-67890abc-${String(records.length).padStart(24, '0')};Sampled=0`,
    });
    records.push(insertRecord(item, { sequenceNumber: sequenceNumbers.take() }));
    next[aggregate] = sequence + 1;
    if (sequence >= shape.eventsPerAggregate) {
      // Swap-remove: O(1), and the PRNG decides the order anyway.
      open[slot] = open[open.length - 1] ?? aggregate;
      open.pop();
    }
  }
  return records;
}

/** Splits records into consecutive batches, as the event source mapping hands a shard's records over. */
export function batchesOf<T>(records: readonly T[], size: number): T[][] {
  const batches: T[][] = [];
  for (let start = 0; start < records.length; start += size) batches.push(records.slice(start, start + size));
  return batches;
}
