/**
 * Reads of pending outbox items from the table (not the index): one
 * aggregate's pending events, or the items behind index candidates, read
 * with `ConsistentRead` and decoded with the relay's rules (`decodeRecord`),
 * so an item that is not a valid outbox event becomes poison on its own
 * instead of failing a whole page. The sweep, the gap guard and the operator
 * CLI act only on what these reads return.
 */
import {
  type AttributeValue,
  BatchGetItemCommand,
  type BatchGetItemCommandOutput,
  type KeysAndAttributes,
  QueryCommand,
} from '@aws-sdk/client-dynamodb';
import { mapWithConcurrency } from './concurrency';
import { decodeRecord, type OutboxStreamRecord } from './decode';
import type { OutboxItem } from './envelope';
import { OUTBOX_PREFIX, type TableKey } from './keys';
import { DEFAULT_LAYOUT, type OutboxLayout } from './layout';
import type { PendingIndexOptions } from './pending-index';

/** An undelivered outbox item, read from the pending index or the table. */
export type PendingEntry =
  /** A valid outbox event. */
  | { readonly kind: 'event'; readonly key: TableKey; readonly item: OutboxItem }
  /** An item that is not a valid outbox event: it can only be parked as poison. */
  | {
      readonly kind: 'undecodable';
      readonly key: TableKey;
      /** What is wrong with it. */
      readonly detail: string;
      /** The item as stored. */
      readonly image: Readonly<Record<string, AttributeValue>>;
    };

/** Which aggregate to read, and how far. */
export interface ReadAggregateOptions extends PendingIndexOptions {
  /** The aggregate's partition key (`<TYPE>#<id>`). */
  readonly pk: string;
  /** The newest outbox sort key to include. @default all of the aggregate's outbox items */
  readonly upToSk?: string;
}

/**
 * Every pending outbox item of one aggregate (up to `upToSk`), in `sequence`
 * order, read from the table with `ConsistentRead`: what is still pending
 * right now, whatever the index last saw. Items marked delivered or failed
 * carry no pending marker and are left out. Throws the SDK's error.
 */
export async function readAggregatePending(options: ReadAggregateOptions): Promise<PendingEntry[]> {
  const layout = options.layout ?? DEFAULT_LAYOUT;
  const entries: PendingEntry[] = [];
  let cursor: Record<string, AttributeValue> | undefined;
  do {
    const output = await options.client.send(
      new QueryCommand({
        TableName: options.tableName,
        // Between the prefix and the newest sort key wanted: only outbox items
        // (every key in that range starts with the prefix), none newer.
        KeyConditionExpression:
          options.upToSk === undefined
            ? '#pk = :pk AND begins_with(#sk, :prefix)'
            : '#pk = :pk AND #sk BETWEEN :prefix AND :last',
        FilterExpression: 'attribute_exists(#pendingPk)',
        ExpressionAttributeNames: {
          '#pk': layout.partitionKey,
          '#sk': layout.sortKey,
          '#pendingPk': layout.pendingPartitionKey,
        },
        ExpressionAttributeValues: {
          ':pk': { S: options.pk },
          ':prefix': { S: OUTBOX_PREFIX },
          ...(options.upToSk === undefined ? {} : { ':last': { S: options.upToSk } }),
        },
        ConsistentRead: true,
        ...(cursor ? { ExclusiveStartKey: cursor } : {}),
      }),
    );
    entries.push(...(output.Items ?? []).flatMap((image) => decodeEntry(image, layout) ?? []));
    cursor = output.LastEvaluatedKey;
  } while (cursor);
  return entries;
}

/** Several aggregates to read, each up to its own sort key, a few at a time. */
export interface ReadAggregatesOptions extends PendingIndexOptions {
  /** Per aggregate partition key, the newest outbox sort key to include. */
  readonly upTo: ReadonlyMap<string, string>;
  /** Aggregates read at once. @default 8 */
  readonly concurrency?: number;
}

/** One aggregate's read: its pending entries, or the error that ended the read. */
export type AggregateRead =
  | { readonly pk: string; readonly upToSk: string; readonly entries: PendingEntry[] }
  | { readonly pk: string; readonly upToSk: string; readonly error: unknown };

/**
 * {@link readAggregatePending} for several aggregates, at most `concurrency`
 * reads in flight, in the order of `upTo`. A read that fails is reported in
 * its place, not thrown, so the others' results are kept.
 */
export function readAggregatesPending(options: ReadAggregatesOptions): Promise<AggregateRead[]> {
  const { upTo, concurrency, ...reader } = options;
  return mapWithConcurrency([...upTo], concurrency ?? DEFAULT_READ_CONCURRENCY, async ([pk, upToSk]) => {
    try {
      return { pk, upToSk, entries: await readAggregatePending({ ...reader, pk, upToSk }) };
    } catch (error) {
      return { pk, upToSk, error };
    }
  });
}

/** Aggregates read at once when the caller does not say: enough to hide latency, few enough not to burst reads. */
const DEFAULT_READ_CONCURRENCY = 8;

/** BatchGetItem reads at most 100 keys per call (DynamoDB API reference). */
const MAX_BATCH_GET_KEYS = 100;
/** Rounds of BatchGetItem for keys DynamoDB left unprocessed (throttling) before giving up. */
const MAX_BATCH_GET_ROUNDS = 5;

/**
 * The items behind index candidates, read from the table with
 * `ConsistentRead` and decoded with the relay's rules; items no longer
 * pending (marked or deleted since the index named them) are left out, in
 * the order given. Throws the SDK's error, or an `Error` when DynamoDB keeps
 * leaving keys unprocessed.
 */
export async function readPendingItems(
  keys: readonly TableKey[],
  options: PendingIndexOptions,
): Promise<PendingEntry[]> {
  const layout = options.layout ?? DEFAULT_LAYOUT;
  const found = new Map<string, PendingEntry>();
  const id = (key: TableKey) => `${key.pk}\u0000${key.sk}`;
  for (let start = 0; start < keys.length; start += MAX_BATCH_GET_KEYS) {
    let request: KeysAndAttributes | undefined = {
      Keys: keys
        .slice(start, start + MAX_BATCH_GET_KEYS)
        .map((key) => ({ [layout.partitionKey]: { S: key.pk }, [layout.sortKey]: { S: key.sk } })),
      ConsistentRead: true,
    };
    for (let round = 1; request?.Keys?.length; round += 1) {
      if (round > MAX_BATCH_GET_ROUNDS) throw new Error('BatchGetItem kept leaving keys unprocessed');
      const output: BatchGetItemCommandOutput = await options.client.send(
        new BatchGetItemCommand({ RequestItems: { [options.tableName]: request } }),
      );
      for (const image of output.Responses?.[options.tableName] ?? []) {
        const entry =
          image[layout.pendingPartitionKey] === undefined ? undefined : decodeEntry(image, layout);
        if (entry) found.set(id(entry.key), entry);
      }
      request = output.UnprocessedKeys?.[options.tableName];
    }
  }
  return keys.flatMap((key) => found.get(id(key)) ?? []);
}

/**
 * An item as stored (low-level attribute values), decoded with the relay's
 * rules into what {@link republishEntries} takes; undefined when it is not an
 * outbox item at all. For callers that read items the pending index no longer
 * names, such as the operator CLI republishing an event parked as poison.
 */
export function toPendingEntry(
  image: Record<string, AttributeValue>,
  layout: OutboxLayout = DEFAULT_LAYOUT,
): PendingEntry | undefined {
  return decodeEntry(image, layout);
}

/**
 * Decodes a stored item with the relay's rules, presented as the INSERT that
 * created it; undefined for an item that is not an outbox item at all.
 */
function decodeEntry(image: Record<string, AttributeValue>, layout: OutboxLayout): PendingEntry | undefined {
  const pk = image[layout.partitionKey]?.S;
  const sk = image[layout.sortKey]?.S;
  if (pk === undefined || sk === undefined) return undefined;
  const key = { pk, sk };
  const decoded = decodeRecord(asInsertRecord(key, image, layout), layout);
  if (decoded.kind === 'event') return { kind: 'event', key, item: decoded.item };
  if (decoded.kind === 'undecodable') return { kind: 'undecodable', key, detail: decoded.detail, image };
  return undefined;
}

export function asInsertRecord(
  key: TableKey,
  image: Readonly<Record<string, AttributeValue>>,
  layout: OutboxLayout,
): OutboxStreamRecord {
  return {
    eventName: 'INSERT',
    dynamodb: {
      Keys: { [layout.partitionKey]: { S: key.pk }, [layout.sortKey]: { S: key.sk } },
      NewImage: image,
    },
  };
}
