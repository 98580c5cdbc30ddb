/**
 * The sweeper core: finds outbox events that stayed pending longer than a
 * threshold and republishes them, per aggregate in `sequence` order, with the
 * relay's own building blocks (entries, chunk plan, publisher, poison queue,
 * marks). It is what keeps the promise that a committed event is never lost,
 * even after a relay outage longer than the stream's 24 h retention
 * (DESIGN.md section 5).
 *
 * Reads go through the low-level DynamoDB client, so each item is decoded
 * with exactly the relay's rules (`decodeRecord`): an item that is not a
 * valid outbox event becomes poison on its own, instead of failing the
 * unmarshalling of a whole page and blocking its shard.
 *
 * ## Running next to the relay: duplicates, never losses
 *
 * The sweeper and the relay may handle the same event at the same time (a
 * relay that is late, retrying, or catching up after an outage). That can
 * publish an event twice, which at-least-once delivery allows and consumers
 * absorb by `eventId`. It can never lose one, because:
 *
 * - **Both publish before they mark.** An item leaves the pending index only
 *   through a mark, and neither marks an item delivered before EventBridge
 *   has accepted it from that same caller (nor failed before it was parked).
 *   So whenever the pending keys are gone, the event has been published.
 * - **Marks are idempotent.** The delivered mark sets `deliveredAt` and the
 *   TTL and removes the pending keys; applied twice, the second only moves
 *   the timestamps. The sweeper uses `markDelivered` itself, so its marks are
 *   identical to the relay's and neither can undo the other's.
 * - **A mark never recreates a deleted item.** Every mark is conditional on
 *   `attribute_exists(pk)`: a late mark by the slower of the two, after TTL
 *   deleted the item, changes nothing.
 * - **The sweeper reads what is still pending, consistently.** The index is
 *   eventually consistent, so it only names candidates; the events themselves
 *   are read from the table with `ConsistentRead`, and only items that still
 *   carry the pending marker are sent.
 * - **Order holds per publisher.** Each one publishes an aggregate's events
 *   in `sequence` order, each PutEvents call holding at most one event of an
 *   aggregate, so the first copy of event n+1 is always sent after a copy of
 *   event n.
 */

import { MetricUnit } from '@aws-lambda-powertools/metrics';
import {
  type AttributeValue,
  BatchGetItemCommand,
  type BatchGetItemCommandOutput,
  type DynamoDBClient,
  type KeysAndAttributes,
  QueryCommand,
} from '@aws-sdk/client-dynamodb';
import type { PutEventsRequestEntry } from '@aws-sdk/client-eventbridge';
import { type Chunk, type ChunkUnit, planChunks, runChunks } from './chunking';
import { mapWithConcurrency } from './concurrency';
import { decodeRecord, type OutboxStreamRecord } from './decode';
import type { OutboxItem } from './envelope';
import { OUTBOX_PREFIX, type TableKey } from './keys';
import { DEFAULT_LAYOUT, type OutboxLayout } from './layout';
import { DeliveredMarks, type MarkerOptions, markFailed } from './marker';
import { outboxLogger, SILENT_METRICS } from './observability';
import { findOldestPending, findPending, type PendingIndexOptions } from './pending-index';
import { eventUnit, type PoisonEvent, parkPoison, rejectedPoison } from './poison';
import { type PublishFailure, publishEntries, type RetryPolicy } from './publisher';
import {
  MARK_RESERVE_MS,
  RELAY_DEFAULTS,
  type RelayLogger,
  type RelayMetrics,
  type RelayOptions,
  resolvePublishSettings,
} from './relay';

/** Names of the metrics the sweeper emits (namespace `Outbox`, dimension `service`). */
export const SWEEPER_METRICS = {
  /**
   * Age of the oldest pending event across all shards when the run starts,
   * 0 when none is pending (Seconds). Absent when the index could not be read.
   */
  oldestPendingAge: 'OldestPendingAgeSeconds',
  /** Events found pending longer than the threshold (Count). */
  pending: 'PendingEvents',
  /** Events the sweeper published and EventBridge accepted (Count). */
  republished: 'EventsRepublished',
  /** Events the sweeper parked on the poison queue (Count). */
  poisoned: 'EventsPoisoned',
  /**
   * Failures that leave events pending for the next run: an aggregate stopped
   * at an event it could neither publish nor park, a read that failed, a
   * delivered mark that did not happen (Count).
   */
  failures: 'SweepFailures',
} as const;

/** The environment variable holding the threshold in seconds (read by the handler, set by CDK). */
export const SWEEPER_THRESHOLD_ENV = 'SWEEPER_THRESHOLD_SECONDS';

/** Default settings of the sweeper, named so the handler, the construct and the docs agree. */
export const SWEEPER_DEFAULTS = {
  /**
   * How long an event must have been pending before the sweeper republishes
   * it. The relay delivers within about a second, so five minutes means the
   * sweeper never races a healthy relay; it is still short enough that,
   * with a five-minute schedule, an outage is healed within about ten.
   */
  thresholdSeconds: 300,
  /** Index items per Query page. */
  pageSize: 100,
  /** Most index pages per run; bounds one run's work besides its time. */
  maxPages: 1000,
  /** Aggregates read from the table at once. */
  readConcurrency: 8,
} as const;

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

export {
  type FindPendingOptions,
  findOldestPending,
  findPending,
  type OldestPending,
  PENDING_INDEX_ATTRIBUTES,
  type PendingCandidate,
  type PendingIndexOptions,
  type PendingPage,
} from './pending-index';

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

/** Dependencies and settings of {@link republish}: the relay's, without metrics. */
export type RepublishOptions = Omit<RelayOptions, 'metrics'>;

/** An aggregate whose publishing stopped; its later events were not sent. */
export interface StoppedAggregate {
  /** The aggregate's partition key. */
  readonly pk: string;
  /** The first event of it that was neither published nor parked. */
  readonly key: TableKey;
  /** Why, for the log. */
  readonly reason: string;
}

/** What a {@link republish} call came to. */
export interface RepublishResult {
  /** Keys of the events EventBridge accepted, in publishing order. */
  readonly published: readonly TableKey[];
  /** Events parked on the poison queue and marked failed. */
  readonly poisoned: number;
  /** Entries sent again after a retryable failure. */
  readonly retried: number;
  /** Events left pending: their aggregate stopped, or time ran out. */
  readonly unpublished: number;
  /** Aggregates that stopped at an event that could be neither published nor parked. */
  readonly stopped: readonly StoppedAggregate[];
  /** Published events whose delivered mark did not happen; the next sweep sends them again. */
  readonly markFailures: number;
  /** True when publishing stopped because the invocation ran out of time. */
  readonly outOfTime: boolean;
}

/**
 * Publishes the given outbox items, per aggregate in `sequence` order, and
 * marks the published ones delivered, exactly as the relay would: chunks of
 * at most one event per aggregate, retries of throttled entries, poison
 * (oversize, or refused by EventBridge for good) parked and marked failed.
 *
 * When an aggregate's event can be neither published nor parked, that
 * aggregate stops there (its later events stay pending) and the others go
 * on. Items of the same key given twice are sent once. Never throws for an
 * AWS error. For an operator republishing selected events, and for the sweep.
 */
export function republish(items: readonly OutboxItem[], options: RepublishOptions): Promise<RepublishResult> {
  return republishEntries(
    items.map((item) => ({ kind: 'event', key: { pk: item.pk, sk: item.sk }, item })),
    options,
  );
}

/**
 * {@link republish} for entries as {@link findPending} and
 * {@link readAggregatePending} return them: undecodable ones are parked as
 * poison in their place in the aggregate's order.
 */
export function republishEntries(
  entries: readonly PendingEntry[],
  options: RepublishOptions,
): Promise<RepublishResult> {
  return new Republisher(options).run(entries, new Map());
}

/** Dependencies and settings of {@link sweep}. */
export interface SweepOptions extends RepublishOptions {
  /** Low-level client for the reads; `dynamo` (the document client) makes the marks. */
  readonly dynamoDb: DynamoDBClient;
  /** @default none recorded (observability.ts says why) */
  readonly metrics?: RelayMetrics;
  /** Events pending longer than this are republished. @default 300 */
  readonly thresholdSeconds?: number;
  /** Index items per Query page. @default 100 */
  readonly pageSize?: number;
  /** Most index pages per run. @default 1000 */
  readonly maxPages?: number;
  /** Aggregates read from the table at once. @default 8 */
  readonly readConcurrency?: number;
}

/** What one sweep came to. */
export interface SweepResult {
  /** Age of the oldest pending event when the run started; undefined when the index could not be read. */
  readonly oldestPendingAgeSeconds: number | undefined;
  /** Events the index listed as pending longer than the threshold. */
  readonly pendingEvents: number;
  /** Aggregates read from the table. */
  readonly aggregates: number;
  /** Events published and accepted by EventBridge. */
  readonly republished: number;
  /** Events parked on the poison queue. */
  readonly poisoned: number;
  /** Published events left unmarked (sent again by the next run). */
  readonly markFailures: number;
  /** Failures that leave events pending for the next run (see `SWEEPER_METRICS.failures`). */
  readonly failures: number;
  /** True when every shard was read to the threshold; false when a budget or an error ended the run early. */
  readonly complete: boolean;
}

/**
 * One sweep: measures the oldest pending age, then reads the pending index
 * for events older than the threshold, page by page, and for each aggregate
 * named there republishes ALL of its pending events up to the newest old one,
 * in `sequence` order. Writers' clocks may disagree, so an aggregate's earlier
 * event can carry a later `occurredAt` than its successor; it is sent first
 * all the same. An aggregate that fails stays stopped for the rest of the
 * run, so its later events wait for the next one.
 *
 * Stops starting pages when `maxPages` are read or the invocation is within
 * `safetyMarginMs` of its end; the next run starts again from the oldest.
 * Never throws for an AWS error: failures are logged, counted and left for
 * the next run.
 */
export async function sweep(options: SweepOptions): Promise<SweepResult> {
  const logger = options.logger ?? outboxLogger();
  const metrics = options.metrics ?? SILENT_METRICS;
  const now = (options.now ?? (() => new Date()))();
  const remainingTimeMs = options.remainingTimeMs ?? (() => Number.POSITIVE_INFINITY);
  const safetyMarginMs = options.safetyMarginMs ?? RELAY_DEFAULTS.safetyMarginMs;
  const thresholdSeconds = options.thresholdSeconds ?? SWEEPER_DEFAULTS.thresholdSeconds;
  const maxPages = options.maxPages ?? SWEEPER_DEFAULTS.maxPages;
  const readConcurrency = options.readConcurrency ?? SWEEPER_DEFAULTS.readConcurrency;
  if (!(Number.isFinite(thresholdSeconds) && thresholdSeconds >= 0)) {
    throw new RangeError(`thresholdSeconds must be a number of seconds >= 0, got ${thresholdSeconds}`);
  }
  const reader = {
    client: options.dynamoDb,
    tableName: options.tableName,
    layout: options.layout ?? DEFAULT_LAYOUT,
  };
  const republisher = new Republisher(options);
  const stopped = new Map<string, StoppedAggregate>();
  const totals = {
    pendingEvents: 0,
    aggregates: 0,
    republished: 0,
    poisoned: 0,
    markFailures: 0,
    failures: 0,
  };

  let oldestPendingAgeSeconds: number | undefined;
  try {
    const oldest = await findOldestPending({ ...reader, now });
    oldestPendingAgeSeconds = oldest.ageSeconds;
    if (oldest.ageSeconds > thresholdSeconds)
      logger.warn('events are pending past the threshold', { ...oldest });
  } catch (error) {
    totals.failures += 1;
    logger.error('could not read the oldest pending event', { error });
  }

  const olderThan = new Date(now.getTime() - thresholdSeconds * 1000);
  let pages = 0;
  let outOfTime = false;
  let budgetSpent = false;
  let complete = false;
  const shouldContinue = (): boolean => {
    budgetSpent = outOfTime || pages >= maxPages || remainingTimeMs() < safetyMarginMs;
    return !budgetSpent;
  };
  try {
    const scan = findPending({
      ...reader,
      olderThan,
      shouldContinue,
      ...(options.pageSize === undefined ? {} : { pageSize: options.pageSize }),
    });
    for await (const page of scan) {
      pages += 1;
      totals.pendingEvents += page.entries.length;
      const bounds = newestOldKeys(page.entries, stopped);
      const reads = await mapWithConcurrency([...bounds], readConcurrency, async ([pk, upToSk]) => {
        try {
          return await readAggregatePending({ ...reader, pk, upToSk });
        } catch (error) {
          totals.failures += 1;
          // Skipped for the rest of the run; its events wait in the index.
          stopped.set(pk, { pk, key: { pk, sk: upToSk }, reason: 'the aggregate could not be read' });
          logger.error('could not read a pending aggregate', { pk, error });
          return [];
        }
      });
      totals.aggregates += bounds.size;
      const result = await republisher.run(reads.flat(), stopped);
      totals.republished += result.published.length;
      totals.poisoned += result.poisoned;
      totals.markFailures += result.markFailures;
      totals.failures += result.stopped.length + result.markFailures;
      outOfTime ||= result.outOfTime;
    }
    complete = !budgetSpent;
  } catch (error) {
    totals.failures += 1;
    logger.error('sweep stops: the pending index could not be read', { error });
  }
  if (!complete) {
    logger.warn('sweep ended before reading every shard; the next run goes on', {
      pages,
      outOfTime,
      remainingTimeMs: remainingTimeMs(),
    });
  }

  const result: SweepResult = { oldestPendingAgeSeconds, ...totals, complete };
  if (oldestPendingAgeSeconds !== undefined) {
    metrics.addMetric(SWEEPER_METRICS.oldestPendingAge, MetricUnit.Seconds, oldestPendingAgeSeconds);
  }
  metrics.addMetric(SWEEPER_METRICS.pending, MetricUnit.Count, result.pendingEvents);
  metrics.addMetric(SWEEPER_METRICS.republished, MetricUnit.Count, result.republished);
  metrics.addMetric(SWEEPER_METRICS.poisoned, MetricUnit.Count, result.poisoned);
  metrics.addMetric(SWEEPER_METRICS.failures, MetricUnit.Count, result.failures);
  return result;
}

/** Per aggregate in the page, the newest sort key among its old events; stopped aggregates left out. */
function newestOldKeys(
  entries: readonly { readonly key: TableKey }[],
  stopped: ReadonlyMap<string, StoppedAggregate>,
): Map<string, string> {
  const bounds = new Map<string, string>();
  for (const { key } of entries) {
    if (stopped.has(key.pk)) continue;
    const current = bounds.get(key.pk);
    // Outbox sort keys carry the zero-padded sequence: string order is sequence order.
    if (current === undefined || key.sk > current) bounds.set(key.pk, key.sk);
  }
  return bounds;
}

/** One event (or poison) to place in a chunk. */
interface Work extends ChunkUnit {
  readonly key: TableKey;
  readonly item?: OutboxItem;
  /** The entry to publish; absent when the event is poison before any call. */
  readonly entry?: PutEventsRequestEntry;
  /** Present when the event is poison before any call (undecodable, oversize). */
  readonly poison?: PoisonEvent;
}

/** Mutable state of one republish call. */
interface Progress {
  readonly published: TableKey[];
  /** Delivered marks in flight, started chunk by chunk. */
  readonly marks: DeliveredMarks;
  /** Published events whose mark was not started: the invocation was nearly out of time. */
  unmarked: number;
  /** Aggregates stopped so far; shared across the pages of a sweep. */
  readonly stopped: Map<string, StoppedAggregate>;
  /** Aggregates stopped by this call. */
  readonly stoppedNow: StoppedAggregate[];
  poisoned: number;
  retried: number;
  outOfTime: boolean;
}

/** Publishes entries per aggregate in order, with the relay's pieces; configured once per sweep. */
class Republisher {
  private readonly logger: RelayLogger;
  private readonly now: () => Date;
  private readonly remainingTimeMs: () => number;
  private readonly safetyMarginMs: number;
  private readonly concurrency: number;
  private readonly publishPolicy: RetryPolicy;
  private readonly marker: MarkerOptions;

  constructor(private readonly options: RepublishOptions) {
    ({
      logger: this.logger,
      now: this.now,
      remainingTimeMs: this.remainingTimeMs,
      safetyMarginMs: this.safetyMarginMs,
      concurrency: this.concurrency,
      publishPolicy: this.publishPolicy,
      marker: this.marker,
    } = resolvePublishSettings(options));
  }

  /** Publishes and marks `entries`, skipping aggregates already in `stopped` and adding those that stop. */
  async run(
    entries: readonly PendingEntry[],
    stopped: Map<string, StoppedAggregate>,
  ): Promise<RepublishResult> {
    const works = this.prepare(entries, stopped);
    const progress: Progress = {
      published: [],
      marks: new DeliveredMarks(this.marker),
      unmarked: 0,
      stopped,
      stoppedNow: [],
      poisoned: 0,
      retried: 0,
      outOfTime: false,
    };
    const schedule = await runChunks(planChunks(works), {
      concurrency: this.concurrency,
      run: (chunk) => this.runChunk(chunk, works, progress),
    });
    for (const error of schedule.errors) {
      // A defect, not an AWS failure: its events stay pending for the next run.
      this.logger.error('republish stops: a chunk threw', { error });
    }
    const markFailures = await this.settleMarks(progress);
    return {
      published: progress.published,
      poisoned: progress.poisoned,
      retried: progress.retried,
      unpublished: works.length - progress.published.length - progress.poisoned,
      stopped: progress.stoppedNow,
      markFailures,
      outOfTime: progress.outOfTime,
    };
  }

  /** Orders the entries per aggregate by sequence and turns each into a unit of work. */
  private prepare(entries: readonly PendingEntry[], stopped: ReadonlyMap<string, StoppedAggregate>): Work[] {
    const unique = new Map<string, PendingEntry>();
    for (const entry of entries) {
      if (!stopped.has(entry.key.pk)) unique.set(`${entry.key.pk}\u0000${entry.key.sk}`, entry);
    }
    // Aggregate by aggregate, each in sort-key (= sequence) order: planChunks
    // keeps the input order per aggregate.
    const ordered = [...unique.values()].sort(
      (a, b) => compare(a.key.pk, b.key.pk) || compare(a.key.sk, b.key.sk),
    );
    return ordered.map((entry): Work => {
      const { key } = entry;
      if (entry.kind === 'undecodable') {
        const record = asInsertRecord(key, entry.image, this.options.layout ?? DEFAULT_LAYOUT);
        const poison: PoisonEvent = { reason: 'undecodable', detail: entry.detail, key, record };
        return { aggregate: key.pk, key, entries: 0, bytes: 0, poison };
      }
      const { item } = entry;
      return { aggregate: key.pk, key, item, ...eventUnit(item, key, this.options.eventBusName) };
    });
  }

  /**
   * Publishes a chunk's entries and parks its poison. Resolves true unless
   * time ran out: a failed aggregate is stopped on its own, so chunks holding
   * only other aggregates still run (a chunk holding a later event of a
   * stopped aggregate runs without it).
   */
  private async runChunk(chunk: Chunk, works: readonly Work[], progress: Progress): Promise<boolean> {
    if (this.remainingTimeMs() < this.safetyMarginMs) {
      progress.outOfTime = true;
      this.logger.warn('republish stops: the invocation is out of time', { chunk: chunk.index });
      return false;
    }
    const units = chunk.units
      .map((index) => works[index])
      .filter((work): work is Work => work !== undefined && !progress.stopped.has(work.aggregate));
    const toPublish = units.flatMap((work) =>
      work.entry && work.item ? [{ work, entry: work.entry, item: work.item }] : [],
    );
    const toPark = units.flatMap((work) => (work.poison ? [{ work, poison: work.poison }] : []));

    if (toPublish.length > 0) {
      const result = await publishEntries(
        toPublish.map(({ entry }) => entry),
        { ...this.publishPolicy, client: this.options.eventBridge },
      );
      progress.retried += result.retried;
      const delivered: TableKey[] = [];
      result.outcomes.forEach((outcome, index) => {
        const published = toPublish[index];
        if (!published) return;
        const { work, item } = published;
        if (outcome.status === 'published') {
          progress.published.push(work.key);
          delivered.push(work.key);
        } else if (outcome.status === 'rejected') {
          toPark.push({ work, poison: rejectedPoison(outcome.code, outcome.message, work.key, item) });
        } else {
          this.stop(work, describeFailure(result.failure), progress);
        }
      });
      this.startMarks(delivered, progress);
    }
    await Promise.all(toPark.map(({ work, poison }) => this.park(work, poison, progress)));
    return true;
  }

  /** Parks a poison event and marks it failed; stops its aggregate when it cannot be parked. */
  private async park(work: Work, poison: PoisonEvent, progress: Progress): Promise<void> {
    try {
      await parkPoison(poison, {
        client: this.options.sqs,
        queueUrl: this.options.poisonQueueUrl,
        now: this.now,
      });
    } catch (error) {
      // Skipping it would publish its successors past an event nobody can find: stop here.
      this.stop(work, `the poison event could not be parked: ${errorText(error)}`, progress);
      return;
    }
    progress.poisoned += 1;
    this.logger.warn('poison event parked', { key: work.key, reason: poison.reason, detail: poison.detail });
    const marked = await markFailed(work.key, `${poison.reason}: ${poison.detail}`, this.marker);
    if (marked.status === 'failed') {
      // Still pending, so a later sweep parks it again: a duplicate message, nothing lost.
      this.logger.error('could not mark a parked event failed', { key: work.key, error: marked.error });
    }
  }

  private stop(work: Work, reason: string, progress: Progress): void {
    if (progress.stopped.has(work.aggregate)) return;
    const stopped: StoppedAggregate = { pk: work.aggregate, key: work.key, reason };
    progress.stopped.set(work.aggregate, stopped);
    progress.stoppedNow.push(stopped);
    this.logger.error('an aggregate stops: its later events wait for the next sweep', { ...stopped });
  }

  /** Starts the delivered marks of a chunk's published events, which run while later chunks publish. */
  private startMarks(keys: readonly TableKey[], progress: Progress): void {
    if (keys.length === 0) return;
    if (this.remainingTimeMs() < MARK_RESERVE_MS) {
      progress.unmarked += keys.length;
      this.logger.warn('delivered marks skipped: out of time; the next sweep sends these events again', {
        items: keys.length,
      });
      return;
    }
    progress.marks.start(keys);
  }

  /** Waits for every delivered mark started; returns how many marks did not happen. */
  private async settleMarks(progress: Progress): Promise<number> {
    const result = await progress.marks.settle();
    for (const failure of result.failures) {
      this.logger.error('could not mark an event delivered; the next sweep sends it again', {
        key: failure.key,
        error: failure.error,
      });
    }
    return progress.unmarked + result.failures.length;
  }
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

function asInsertRecord(
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

function compare(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

function describeFailure(failure: PublishFailure | undefined): string {
  if (!failure) return 'not published';
  switch (failure.reason) {
    case 'call-rejected':
      return `PutEvents was rejected: ${errorText(failure.error)}`;
    case 'retries-exhausted':
      return `retries exhausted${failure.code ? ` (${failure.code})` : ''}${failure.error ? `: ${errorText(failure.error)}` : ''}`;
    case 'entry-refused':
      return `EventBridge refused the entry: ${failure.code}${failure.message ? ` ${failure.message}` : ''}`;
  }
}

function errorText(error: unknown): string {
  return error instanceof Error ? `${error.name}: ${error.message}` : String(error);
}
