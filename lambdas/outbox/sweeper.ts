/**
 * The sweeper core: finds outbox events that stayed pending longer than a
 * threshold and republishes them, per aggregate in `sequence` order, through
 * the relay's own publishing pipeline (pipeline.ts: entries, chunk plan,
 * publisher, poison queue, marks). It is what keeps the promise that a
 * committed event is never lost, even after a relay outage longer than the
 * stream's 24 h retention (DESIGN.md section 5).
 *
 * Split by job: the index reads are in pending-index.ts, the table reads in
 * pending-reads.ts, the republishing (shared with the gap guard and the
 * operator CLI) in republish.ts, the publishing in pipeline.ts; this file is
 * the sweep itself. It re-exports the others' names for the callers that
 * import them from here.
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
import type { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import type { TableKey } from './keys';
import { DEFAULT_LAYOUT } from './layout';
import { outboxLogger, SILENT_METRICS } from './observability';
import { findOldestPending, findPending } from './pending-index';
import { readAggregatesPending } from './pending-reads';
import { RELAY_DEFAULTS } from './pipeline';
import type { RelayMetrics } from './relay';
import { Republisher, type RepublishOptions, type StoppedAggregate } from './republish';

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
export {
  type PendingEntry,
  type ReadAggregateOptions,
  readAggregatePending,
  readPendingItems,
  toPendingEntry,
} from './pending-reads';
export {
  type RepublishOptions,
  type RepublishResult,
  republish,
  republishEntries,
  type StoppedAggregate,
} from './republish';

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
      const reads = await readAggregatesPending({ ...reader, upTo: bounds, concurrency: readConcurrency });
      const entries = reads.flatMap((read) => {
        if ('entries' in read) return read.entries;
        totals.failures += 1;
        // Skipped for the rest of the run; its events wait in the index.
        const { pk, upToSk, error } = read;
        stopped.set(pk, { pk, key: { pk, sk: upToSk }, reason: 'the aggregate could not be read' });
        logger.error('could not read a pending aggregate', { pk, error });
        return [];
      });
      totals.aggregates += bounds.size;
      const result = await republisher.run(entries, stopped);
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
