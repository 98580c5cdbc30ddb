/**
 * Keeps per-aggregate order across batches the stream gave up on.
 *
 * The relay's order holds within a shard because a batch that fails is
 * retried before the next one. After its retries run out (or its records get
 * too old), the event source mapping discards the batch and moves on: the
 * discarded events stay pending for the sweeper, but a later event of the
 * same aggregate would reach the bus first. So before relaying a batch, the
 * guard reads (consistently) the aggregate's last outbox item before its
 * first event in the batch. When it is still pending, the guard republishes
 * that aggregate's pending events up to it first, with the sweeper's code,
 * and only then relays the batch. The same read heals a delivered-mark that
 * failed in the previous invocation, minutes before the sweeper would.
 *
 * Sequences may have holes (an entity write that bumps the version without
 * an event; an item TTL deleted after delivery), so the guard never assumes
 * that `sequence - 1` exists. Fast path: one BatchGetItem of the
 * `sequence - 1` items, per 100 aggregates. For each of them that is
 * absent, one consistent Query of that aggregate's outbox items before the
 * batch's first, newest first, `Limit: 1`: whatever it finds is the
 * predecessor. Without that Query, a hole before event 5 would let it
 * overtake a pending event 3.
 *
 * Cost when nothing is missing: one BatchGetItem per 100 aggregates whose
 * first event in the batch is not their first ever, plus one Query (1 read
 * unit) per aggregate whose `sequence - 1` item does not exist or was TTL
 * deleted.
 */

import { MetricUnit } from '@aws-lambda-powertools/metrics';
import {
  BatchGetItemCommand,
  type BatchGetItemCommandOutput,
  type DynamoDBClient,
  type KeysAndAttributes,
  QueryCommand,
} from '@aws-sdk/client-dynamodb';
import { mapWithConcurrency } from './concurrency';
import type { OutboxStreamRecord } from './decode';
import { isOutboxSk, OUTBOX_PREFIX, previousOutboxKey, type TableKey } from './keys';
import { DEFAULT_LAYOUT, type OutboxLayout } from './layout';
import { outboxLogger, SILENT_METRICS } from './observability';
import { type PendingEntry, readAggregatePending } from './pending-reads';
import { resolvePublishSettings } from './pipeline';
import { waitForRetry } from './publisher';
import { RELAY_METRICS, type RelayOptions, type RelayResult, relayRecords } from './relay';
import { republishEntries } from './republish';

/** BatchGetItem reads at most 100 keys per call (DynamoDB API reference). */
const MAX_BATCH_GET_KEYS = 100;
/** Fallback Queries in flight at once: enough to hide latency, few enough not to burst a partition's reads. */
const PREDECESSOR_QUERY_CONCURRENCY = 8;

/** The relay's options plus the low-level client the guard reads with. */
export interface GuardedRelayOptions extends RelayOptions {
  /** Low-level client for the reads (the relay's `dynamo` is a document client). */
  readonly dynamoDb: DynamoDBClient;
}

/** What a guarded batch came to: the relay's result, with the gaps it closed first. */
export interface GuardedRelayResult extends RelayResult {
  /** Events published before the batch because an earlier event of their aggregate was still pending. */
  readonly healed: number;
}

/** An aggregate's first event in the batch, and the key `sequence - 1` would have. */
interface Boundary {
  /** Position of the aggregate's first record in the batch. */
  readonly position: number;
  /** Key of `sequence - 1`, which may not exist; what is pending up to it precedes the batch. */
  readonly previous: TableKey;
}

/**
 * Relays a batch as {@link relayRecords} does, after publishing, in order,
 * any pending event that precedes an aggregate's first event in the batch.
 * When such an event can be neither published nor parked, the batch is
 * relayed only up to that aggregate's first record and the stream resumes
 * there, so nothing of the aggregate overtakes it. Never throws for an AWS
 * error: when the reads fail, nothing is published and the whole batch is
 * retried.
 */
export async function relayInOrder(
  records: readonly OutboxStreamRecord[],
  options: GuardedRelayOptions,
): Promise<GuardedRelayResult> {
  const logger = options.logger ?? outboxLogger();
  const metrics = options.metrics ?? SILENT_METRICS;
  const layout = options.layout ?? DEFAULT_LAYOUT;
  const boundaries = firstEvents(records, layout);

  let pendingBefore: Map<string, Boundary>;
  try {
    pendingBefore = await stillPending(boundaries, options);
  } catch (error) {
    logger.error('relay stops: could not read what precedes the batch', { error });
    return retryFrom(records, 0);
  }

  let healed = 0;
  let resumeAt: number | undefined;
  if (pendingBefore.size > 0) {
    let entries: PendingEntry[];
    try {
      const reads = await Promise.all(
        [...pendingBefore].map(([pk, boundary]) =>
          readAggregatePending({
            client: options.dynamoDb,
            tableName: options.tableName,
            layout,
            pk,
            upToSk: boundary.previous.sk,
          }),
        ),
      );
      entries = reads.flat();
    } catch (error) {
      logger.error('relay stops: could not read the pending events before the batch', { error });
      return retryFrom(records, 0);
    }
    const result = await republishEntries(entries, options);
    healed = result.published.length;
    metrics.addMetric(RELAY_METRICS.healed, MetricUnit.Count, healed);
    logger.warn('published pending events that preceded the batch', {
      aggregates: pendingBefore.size,
      published: healed,
      poisoned: result.poisoned,
      unpublished: result.unpublished,
    });
    if (result.unpublished > 0) {
      // Some aggregate's earlier events are still out: none of the batch's
      // events from the first such aggregate on may be sent yet.
      resumeAt = Math.min(...[...pendingBefore.values()].map((boundary) => boundary.position));
    }
  }

  if (resumeAt === undefined) return { ...(await relayRecords(records, options)), healed };
  if (resumeAt === 0) return { ...retryFrom(records, 0), healed };
  const relayed = await relayRecords(records.slice(0, resumeAt), options);
  return {
    ...relayed,
    healed,
    batchItemFailures:
      relayed.batchItemFailures.length > 0
        ? relayed.batchItemFailures
        : retryFrom(records, resumeAt).batchItemFailures,
  };
}

/**
 * Per aggregate, its first outbox insert in the batch, when it is not the
 * aggregate's first event. Read from the records' keys alone: decoding every
 * image twice would double the relay's CPU per event.
 */
function firstEvents(records: readonly OutboxStreamRecord[], layout: OutboxLayout): Map<string, Boundary> {
  const boundaries = new Map<string, Boundary>();
  const seen = new Set<string>();
  records.forEach((record, position) => {
    if (record.eventName !== 'INSERT') return;
    const keys = record.dynamodb?.Keys as Record<string, { S?: unknown } | undefined> | undefined;
    const pk = keys?.[layout.partitionKey]?.S;
    const sk = keys?.[layout.sortKey]?.S;
    if (typeof pk !== 'string' || typeof sk !== 'string' || !isOutboxSk(sk) || seen.has(pk)) return;
    seen.add(pk);
    const previous = previousOutboxKey({ pk, sk });
    if (previous) boundaries.set(pk, { position, previous });
  });
  return boundaries;
}

/**
 * The boundaries whose previous event is still pending, read with strong
 * consistency: the `sequence - 1` items in BatchGetItems, then, for each
 * aggregate whose `sequence - 1` item does not exist, its newest outbox item
 * before the batch (see {@link latestBefore}).
 */
async function stillPending(
  boundaries: ReadonlyMap<string, Boundary>,
  options: GuardedRelayOptions,
): Promise<Map<string, Boundary>> {
  const layout = options.layout ?? DEFAULT_LAYOUT;
  const pending = new Map<string, Boundary>();
  const found = new Set<string>();
  const all = [...boundaries];
  const policy = resolvePublishSettings(options).marker.retry;
  for (let start = 0; start < all.length; start += MAX_BATCH_GET_KEYS) {
    let request: KeysAndAttributes | undefined = {
      Keys: all.slice(start, start + MAX_BATCH_GET_KEYS).map(([, boundary]) => ({
        [layout.partitionKey]: { S: boundary.previous.pk },
        [layout.sortKey]: { S: boundary.previous.sk },
      })),
      ConsistentRead: true,
      ProjectionExpression: '#pk, #pendingPk',
      ExpressionAttributeNames: { '#pk': layout.partitionKey, '#pendingPk': layout.pendingPartitionKey },
    };
    for (let attempt = 1; request?.Keys && request.Keys.length > 0; attempt += 1) {
      const output: BatchGetItemCommandOutput | undefined = await options.dynamoDb.send(
        new BatchGetItemCommand({ RequestItems: { [options.tableName]: request } }),
      );
      for (const item of output?.Responses?.[options.tableName] ?? []) {
        const pk = item[layout.partitionKey]?.S;
        const boundary = pk === undefined ? undefined : boundaries.get(pk);
        if (!boundary) continue;
        found.add(pk as string);
        if (item[layout.pendingPartitionKey] !== undefined) pending.set(pk as string, boundary);
      }
      request = output?.UnprocessedKeys?.[options.tableName];
      if (request?.Keys?.length && !(await waitForRetry(attempt, policy))) {
        throw new Error(`DynamoDB left ${request.Keys.length} keys unprocessed`);
      }
    }
  }
  const missing = all.filter(([pk]) => !found.has(pk));
  const predecessors = await mapWithConcurrency(missing, PREDECESSOR_QUERY_CONCURRENCY, ([, boundary]) =>
    latestBefore(boundary.previous, options),
  );
  missing.forEach(([pk, boundary], index) => {
    if (predecessors[index]?.pending) pending.set(pk, boundary);
  });
  return pending;
}

/**
 * The aggregate's newest outbox item at or before `last` (a key that need
 * not exist), read consistently: whether there is one and whether it is
 * still pending. The range starts at the outbox prefix, so the entity item
 * and anything else in the partition never match.
 */
async function latestBefore(
  last: TableKey,
  options: GuardedRelayOptions,
): Promise<{ readonly pending: boolean } | undefined> {
  const layout = options.layout ?? DEFAULT_LAYOUT;
  const output = await options.dynamoDb.send(
    new QueryCommand({
      TableName: options.tableName,
      KeyConditionExpression: '#pk = :pk AND #sk BETWEEN :prefix AND :last',
      ExpressionAttributeNames: {
        '#pk': layout.partitionKey,
        '#sk': layout.sortKey,
        '#pendingPk': layout.pendingPartitionKey,
      },
      ExpressionAttributeValues: {
        ':pk': { S: last.pk },
        ':prefix': { S: OUTBOX_PREFIX },
        ':last': { S: last.sk },
      },
      ProjectionExpression: '#pk, #sk, #pendingPk',
      ScanIndexForward: false,
      Limit: 1,
      ConsistentRead: true,
    }),
  );
  const [item] = output?.Items ?? [];
  return item ? { pending: item[layout.pendingPartitionKey] !== undefined } : undefined;
}

/** Nothing from `position` on is done: the stream resumes at that record (an empty batch needs nothing). */
function retryFrom(records: readonly OutboxStreamRecord[], position: number): GuardedRelayResult {
  const record = records[position];
  return {
    published: 0,
    poisoned: 0,
    skipped: 0,
    retried: 0,
    markFailures: 0,
    healed: 0,
    batchItemFailures: record ? [{ itemIdentifier: record.dynamodb?.SequenceNumber ?? '' }] : [],
  };
}
