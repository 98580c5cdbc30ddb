/**
 * The relay core: forwards a batch of outbox stream records to EventBridge,
 * in order per aggregate, and reports where the stream must resume.
 *
 * Per batch: decode (skip what is not an outbox INSERT), build entries, plan
 * chunks that keep each aggregate's events in sequence, publish them with
 * bounded concurrency, park poison events, and mark each chunk's items
 * delivered (or failed) as soon as it is done, while later chunks publish;
 * every mark has settled before the batch's result is returned.
 * On an unrecoverable failure it stops starting chunks and reports the first
 * record, in shard order, that is neither published, parked nor skipped.
 */
import { MetricUnit } from '@aws-lambda-powertools/metrics';
import type { EventBridgeClient, PutEventsRequestEntry } from '@aws-sdk/client-eventbridge';
import type { SQSClient } from '@aws-sdk/client-sqs';
import type { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { type Chunk, type ChunkUnit, planChunks, runChunks } from './chunking';
import { decodeRecord, type OutboxStreamRecord } from './decode';
import type { OutboxItem } from './envelope';
import type { TableKey } from './keys';
import { DEFAULT_LAYOUT, type OutboxLayout } from './layout';
import { DeliveredMarks, type MarkerOptions, markFailed } from './marker';
import { type OutboxLogger, type OutboxMetrics, outboxLogger, SILENT_METRICS } from './observability';
import { eventUnit, type PoisonEvent, parkPoison, rejectedPoison } from './poison';
import { type PublishFailure, publishEntries, type RetryPolicy } from './publisher';

/** The logger methods the relay uses; a Powertools `Logger` fits. */
export type RelayLogger = OutboxLogger;
/** The metrics method the relay uses; a Powertools `Metrics` fits. */
export type RelayMetrics = OutboxMetrics;

/** Names of the metrics the relay emits. */
export const RELAY_METRICS = {
  /** Events EventBridge accepted (Count). */
  published: 'EventsPublished',
  /** Entries sent again after a retryable failure (Count). */
  retried: 'EventsRetried',
  /** Events a chunk could not publish or park, which made the batch stop (Count). */
  publishFailures: 'PublishFailures',
  /** Events parked on the poison queue (Count). */
  poisoned: 'EventsPoisoned',
  /** Delivered or failed marks that did not happen (Count); the sweeper covers them. */
  markFailures: 'MarkFailures',
  /** Largest time from `occurredAt` to acceptance by EventBridge in the batch (Milliseconds). */
  publishLag: 'PublishLag',
  /** Pending events published before a batch because they preceded its events (gap-guard.ts) (Count). */
  healed: 'EventsHealed',
} as const;

/** Dependencies and settings of the relay. */
export interface RelayOptions {
  /** Bus the events go to. */
  readonly eventBusName: string;
  /** Table holding the outbox items (for the marks). */
  readonly tableName: string;
  /** SQS queue poison events are parked on. */
  readonly poisonQueueUrl: string;
  readonly eventBridge: EventBridgeClient;
  readonly dynamo: DynamoDBDocumentClient;
  readonly sqs: SQSClient;
  /** @default the library's own Powertools logger (service `outbox`), see observability.ts */
  readonly logger?: RelayLogger;
  /** @default none recorded (observability.ts says why) */
  readonly metrics?: RelayMetrics;
  /** How long delivered items are kept before TTL deletes them. @default 24 */
  readonly deliveredRetentionHours?: number;
  /** Most PutEvents calls in flight at once. @default 8 */
  readonly concurrency?: number;
  /** Time left in the invocation (Lambda `context.getRemainingTimeInMillis`). @default unlimited */
  readonly remainingTimeMs?: () => number;
  /** Time kept in reserve for marks and the response: no chunk starts and no retry waits into it. @default 5000 */
  readonly safetyMarginMs?: number;
  /** Most PutEvents attempts per chunk, the first one included. @default 10 */
  readonly maxAttempts?: number;
  /** Most attempts per mark call or statement. @default 3 */
  readonly markMaxAttempts?: number;
  /** Backoff cap of the first retry, doubled per attempt, before full jitter. @default 10 */
  readonly baseDelayMs?: number;
  /** Largest backoff cap. @default 2000 */
  readonly maxDelayMs?: number;
  /** Clock. @default () => new Date() */
  readonly now?: () => Date;
  /** Attribute and index names of the table (see {@link outboxLayoutFromEnv}). @default DEFAULT_LAYOUT */
  readonly layout?: OutboxLayout;
  /** Waits between retries; tests pass a fake. @default a timer */
  readonly sleep?: (ms: number) => Promise<void>;
  /** Jitter source, uniform in [0, 1). @default Math.random */
  readonly random?: () => number;
}

/** A record the stream must redeliver, by its `SequenceNumber` (Lambda's partial batch response). */
export interface BatchItemFailure {
  itemIdentifier: string;
}

/** What one batch came to. */
export interface RelayResult {
  /** Events EventBridge accepted. */
  readonly published: number;
  /** Events parked on the poison queue. */
  readonly poisoned: number;
  /** Records that are not outbox INSERTs. */
  readonly skipped: number;
  /** Entries sent again after a retryable failure. */
  readonly retried: number;
  /** Delivered or failed marks that did not happen. */
  readonly markFailures: number;
  /**
   * Empty when every record was published, parked or skipped; otherwise the
   * first other record in shard order, where the stream resumes.
   */
  readonly batchItemFailures: BatchItemFailure[];
}

/** Default settings, named so the handler and the docs agree. */
export const RELAY_DEFAULTS = {
  deliveredRetentionHours: 24,
  concurrency: 8,
  safetyMarginMs: 5000,
  // A throttled entry holds every chunk behind it, so the first retries come
  // quickly (10, 20, 40 ms caps); ten attempts keep the retry horizon of a
  // sustained throttle at about 4.5 s of backoff, as 8 attempts from 50 ms did
  // (5 s). With 5 % of entries throttled this takes the relay from about 58 %
  // to about 70 % of its fault-free throughput (npm run bench).
  maxAttempts: 10,
  markMaxAttempts: 3,
  baseDelayMs: 10,
  maxDelayMs: 2000,
} as const;

/** Marks still run this close to the deadline; less than the publish margin, which exists for them. */
export const MARK_RESERVE_MS = 1000;

type RecordStatus = 'skipped' | 'pending' | 'published' | 'poisoned';

/** One record to publish or park, in shard order. */
interface Work extends ChunkUnit {
  /** Position of the record in the batch. */
  readonly position: number;
  readonly key?: TableKey;
  readonly item?: OutboxItem;
  /** The entry to publish; absent when the record is already known to be poison. */
  readonly entry?: PutEventsRequestEntry;
  /** Present when the record is poison before any call (undecodable, oversize). */
  readonly poison?: PoisonEvent;
}

/**
 * Relays one batch of stream records, given in shard order. Never throws for
 * an AWS error: failures end up in `batchItemFailures`, whose single entry
 * (if any) is the first record that was neither published, parked nor
 * skipped. Per aggregate, the events published are always a prefix of its
 * records in sequence order, poison excepted.
 */
export async function relayRecords(
  records: readonly OutboxStreamRecord[],
  options: RelayOptions,
): Promise<RelayResult> {
  return new Relay(options).relay(records);
}

/** The relay's options with their defaults filled in: what publishing and marking need. */
export interface PublishSettings {
  readonly logger: RelayLogger;
  readonly now: () => Date;
  readonly remainingTimeMs: () => number;
  readonly safetyMarginMs: number;
  readonly concurrency: number;
  readonly publishPolicy: RetryPolicy;
  readonly marker: MarkerOptions;
}

/** Fills in the defaults of the relay's options; the sweeper publishes with the same settings. */
export function resolvePublishSettings(options: Omit<RelayOptions, 'metrics'>): PublishSettings {
  const remainingTimeMs = options.remainingTimeMs ?? (() => Number.POSITIVE_INFINITY);
  const safetyMarginMs = options.safetyMarginMs ?? RELAY_DEFAULTS.safetyMarginMs;
  const now = options.now ?? (() => new Date());
  const pacing = {
    baseDelayMs: options.baseDelayMs ?? RELAY_DEFAULTS.baseDelayMs,
    maxDelayMs: options.maxDelayMs ?? RELAY_DEFAULTS.maxDelayMs,
    remainingTimeMs,
    sleep: options.sleep ?? ((ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms))),
    random: options.random ?? Math.random,
  };
  return {
    logger: options.logger ?? outboxLogger(),
    now,
    remainingTimeMs,
    safetyMarginMs,
    concurrency: options.concurrency ?? RELAY_DEFAULTS.concurrency,
    publishPolicy: {
      ...pacing,
      maxAttempts: options.maxAttempts ?? RELAY_DEFAULTS.maxAttempts,
      safetyMarginMs,
    },
    marker: {
      client: options.dynamo,
      tableName: options.tableName,
      now,
      retentionHours: options.deliveredRetentionHours ?? RELAY_DEFAULTS.deliveredRetentionHours,
      layout: options.layout ?? DEFAULT_LAYOUT,
      retry: {
        ...pacing,
        maxAttempts: options.markMaxAttempts ?? RELAY_DEFAULTS.markMaxAttempts,
        safetyMarginMs: Math.min(MARK_RESERVE_MS, safetyMarginMs),
      },
    },
  };
}

/** The relay, configured once; `relay` handles one batch. */
export class Relay {
  private readonly logger: RelayLogger;
  private readonly metrics: RelayMetrics;
  private readonly now: () => Date;
  private readonly remainingTimeMs: () => number;
  private readonly safetyMarginMs: number;
  private readonly concurrency: number;
  private readonly publishPolicy: RetryPolicy;
  private readonly marker: MarkerOptions;

  constructor(private readonly options: RelayOptions) {
    ({
      logger: this.logger,
      now: this.now,
      remainingTimeMs: this.remainingTimeMs,
      safetyMarginMs: this.safetyMarginMs,
      concurrency: this.concurrency,
      publishPolicy: this.publishPolicy,
      marker: this.marker,
    } = resolvePublishSettings(options));
    this.metrics = options.metrics ?? SILENT_METRICS;
  }

  /** Relays one batch; see `relayRecords`. */
  async relay(records: readonly OutboxStreamRecord[]): Promise<RelayResult> {
    const batch = new Batch(records, new DeliveredMarks(this.marker));
    const works = this.prepare(records, batch);
    const chunks = planChunks(works);
    const schedule = await runChunks(chunks, {
      concurrency: this.concurrency,
      run: (chunk) => this.runChunk(chunk, works, batch),
    });
    for (const error of schedule.errors) {
      // A defect, not an AWS failure; its records stay pending, so the checkpoint covers them.
      this.logger.error('relay stops: a chunk threw', { error });
    }
    await this.settleMarks(batch);

    const result: RelayResult = {
      published: batch.published,
      poisoned: batch.count('poisoned'),
      skipped: batch.count('skipped'),
      retried: batch.retried,
      markFailures: batch.markFailures,
      batchItemFailures: batch.checkpoint(),
    };
    this.emitMetrics(result, batch);
    return result;
  }

  /** Decodes the records and turns each outbox INSERT into a unit of work. */
  private prepare(records: readonly OutboxStreamRecord[], batch: Batch): Work[] {
    const works: Work[] = [];
    records.forEach((record, position) => {
      const decoded = decodeRecord(record, this.options.layout);
      if (decoded.kind === 'skip') {
        batch.status[position] = 'skipped';
        return;
      }
      if (decoded.kind === 'undecodable') {
        works.push({
          position,
          // Without a key the record shares an ordering slot with nothing.
          aggregate: decoded.key?.pk ?? `\u0000record:${position}`,
          ...(decoded.key ? { key: decoded.key } : {}),
          entries: 0,
          bytes: 0,
          poison: {
            reason: 'undecodable',
            detail: decoded.detail,
            record,
            ...(decoded.key ? { key: decoded.key } : {}),
          },
        });
        return;
      }
      const item = decoded.item;
      const key = { pk: item.pk, sk: item.sk };
      works.push({
        position,
        aggregate: item.pk,
        key,
        item,
        ...eventUnit(item, key, this.options.eventBusName),
      });
    });
    return works;
  }

  /** Publishes a chunk's entries and parks its poison; true when every unit is done. */
  private async runChunk(chunk: Chunk, works: readonly Work[], batch: Batch): Promise<boolean> {
    const units = chunk.units.map((index) => works[index]).filter((work): work is Work => work !== undefined);
    if (this.remainingTimeMs() < this.safetyMarginMs) {
      this.logger.warn('relay stops: the invocation is out of time', { chunk: chunk.index });
      return false;
    }
    const toPublish = units.flatMap((work) =>
      work.entry && work.item && work.key
        ? [{ work, entry: work.entry, item: work.item, key: work.key }]
        : [],
    );
    const toPark = units.flatMap((work) => (work.poison ? [{ work, poison: work.poison }] : []));
    let complete = true;

    if (toPublish.length > 0) {
      const result = await publishEntries(
        toPublish.map(({ entry }) => entry),
        { ...this.publishPolicy, client: this.options.eventBridge },
      );
      batch.retried += result.retried;
      const publishedAt = this.now().getTime();
      const delivered: TableKey[] = [];
      let unpublished = 0;
      result.outcomes.forEach((outcome, index) => {
        const published = toPublish[index];
        if (!published) return;
        const { work, item, key } = published;
        if (outcome.status === 'published') {
          batch.status[work.position] = 'published';
          batch.published += 1;
          delivered.push(key);
          batch.maxLagMs = Math.max(batch.maxLagMs, publishedAt - Date.parse(item.occurredAt));
        } else if (outcome.status === 'rejected') {
          toPark.push({ work, poison: rejectedPoison(outcome.code, outcome.message, key, item) });
        } else {
          unpublished += 1;
        }
      });
      this.startMarks(delivered, batch);
      if (result.failure) {
        complete = false;
        batch.publishFailures += unpublished;
        this.logger.error('relay stops: a chunk could not be published', {
          chunk: chunk.index,
          unpublished,
          ...describeFailure(result.failure),
        });
      }
    }

    const parked = await Promise.all(toPark.map(({ work, poison }) => this.park(work, poison, batch)));
    return complete && parked.every(Boolean);
  }

  /** Parks a poison event and marks its item failed; false when it could not be parked. */
  private async park(work: Work, poison: PoisonEvent, batch: Batch): Promise<boolean> {
    try {
      await parkPoison(poison, {
        client: this.options.sqs,
        queueUrl: this.options.poisonQueueUrl,
        now: this.now,
      });
    } catch (error) {
      // Dropping it would lose the event: it stays unpublished and the batch stops at it.
      batch.publishFailures += 1;
      this.logger.error('relay stops: a poison event could not be parked', {
        key: work.key,
        reason: poison.reason,
        error,
      });
      return false;
    }
    batch.status[work.position] = 'poisoned';
    this.logger.warn('poison event parked', { key: work.key, reason: poison.reason, detail: poison.detail });
    const key = work.key;
    if (key) {
      // Not awaited: the chunk's successors need the event parked, not marked.
      batch.failedMarks.push(
        markFailed(key, `${poison.reason}: ${poison.detail}`, this.marker).then((marked) => {
          if (marked.status !== 'failed') return;
          batch.markFailures += 1;
          this.logger.error('could not mark a parked event failed', { key, error: marked.error });
        }),
      );
    }
    return true;
  }

  /**
   * Starts the delivered marks of a chunk's published items; they run while
   * later chunks publish. Skipped when the invocation is nearly out of time:
   * the items stay pending and the gap guard or the sweeper covers them.
   */
  private startMarks(keys: readonly TableKey[], batch: Batch): void {
    if (keys.length === 0) return;
    if (this.remainingTimeMs() < MARK_RESERVE_MS) {
      batch.markFailures += keys.length;
      this.logger.warn('delivered marks skipped: the invocation is out of time; the sweeper covers them', {
        items: keys.length,
      });
      return;
    }
    batch.marks.start(keys);
  }

  /** Waits for every mark of the batch; failures are logged and counted, never fail the batch. */
  private async settleMarks(batch: Batch): Promise<void> {
    const [result] = await Promise.all([batch.marks.settle(), Promise.all(batch.failedMarks)]);
    batch.markFailures += result.failures.length;
    for (const failure of result.failures) {
      this.logger.error('could not mark an event delivered; the sweeper covers it', {
        key: failure.key,
        error: failure.error,
      });
    }
  }

  private emitMetrics(result: RelayResult, batch: Batch): void {
    this.metrics.addMetric(RELAY_METRICS.published, MetricUnit.Count, result.published);
    this.metrics.addMetric(RELAY_METRICS.retried, MetricUnit.Count, result.retried);
    this.metrics.addMetric(RELAY_METRICS.publishFailures, MetricUnit.Count, batch.publishFailures);
    this.metrics.addMetric(RELAY_METRICS.poisoned, MetricUnit.Count, result.poisoned);
    this.metrics.addMetric(RELAY_METRICS.markFailures, MetricUnit.Count, result.markFailures);
    if (result.published > 0) {
      this.metrics.addMetric(RELAY_METRICS.publishLag, MetricUnit.Milliseconds, Math.max(0, batch.maxLagMs));
    }
  }
}

/** Mutable state of one batch. */
class Batch {
  readonly status: RecordStatus[];
  /** Failed marks in flight; each counts its own failure. */
  readonly failedMarks: Promise<void>[] = [];
  published = 0;
  retried = 0;
  markFailures = 0;
  publishFailures = 0;
  maxLagMs = Number.NEGATIVE_INFINITY;

  constructor(
    private readonly records: readonly OutboxStreamRecord[],
    /** Delivered marks in flight. */
    readonly marks: DeliveredMarks,
  ) {
    this.status = records.map(() => 'pending');
  }

  count(status: RecordStatus): number {
    return this.status.filter((candidate) => candidate === status).length;
  }

  /**
   * The first record in shard order still pending. Lambda resumes there; a
   * missing sequence number (never seen from Lambda) makes it retry the batch.
   */
  checkpoint(): BatchItemFailure[] {
    const position = this.status.indexOf('pending');
    if (position < 0) return [];
    return [{ itemIdentifier: this.records[position]?.dynamodb?.SequenceNumber ?? '' }];
  }
}

function describeFailure(failure: PublishFailure): Record<string, unknown> {
  switch (failure.reason) {
    case 'call-rejected':
      return { failure: failure.reason, error: failure.error };
    case 'retries-exhausted':
      return { failure: failure.reason, error: failure.error, code: failure.code };
    case 'entry-refused':
      return { failure: failure.reason, code: failure.code, message: failure.message };
  }
}
