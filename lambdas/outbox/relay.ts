/**
 * The relay core: forwards a batch of outbox stream records to EventBridge,
 * in order per aggregate, and reports where the stream must resume.
 *
 * Per batch: decode (skip what is not an outbox INSERT) into units of the
 * publishing pipeline (pipeline.ts), which plans chunks that keep each
 * aggregate's events in sequence, publishes them with bounded concurrency,
 * parks poison events, and marks each chunk's items delivered (or failed) as
 * soon as it is done, while later chunks publish; every mark has settled
 * before the batch's result is returned. Under the relay's `batch` stop
 * policy, an unrecoverable failure stops it starting chunks, and it reports
 * the first record, in shard order, that is neither published, parked nor
 * skipped.
 */
import { MetricUnit } from '@aws-lambda-powertools/metrics';
import { decodeRecord, type OutboxStreamRecord } from './decode';
import { type OutboxLogger, type OutboxMetrics, SILENT_METRICS } from './observability';
import {
  eventWork,
  Pipeline,
  type PipelineOptions,
  type PipelineRun,
  type PipelineUnit,
  poisonWork,
  type StopPolicy,
  type UnitStatus,
} from './pipeline';

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

/** Dependencies and settings of the relay: the pipeline's, plus metrics. */
export interface RelayOptions extends PipelineOptions {
  /** @default none recorded (observability.ts says why) */
  readonly metrics?: RelayMetrics;
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

/** The relay, configured once; `relay` handles one batch. */
export class Relay {
  private readonly pipeline: Pipeline;
  private readonly metrics: RelayMetrics;

  constructor(private readonly options: RelayOptions) {
    this.pipeline = new Pipeline(options, 'relay');
    this.metrics = options.metrics ?? SILENT_METRICS;
  }

  /** Relays one batch; see `relayRecords`. */
  async relay(records: readonly OutboxStreamRecord[]): Promise<RelayResult> {
    const { units, positions, skipped } = this.prepare(records);
    const run = await this.pipeline.run(units, RELAY_POLICY);
    const result: RelayResult = {
      published: run.published.length,
      poisoned: run.poisoned,
      skipped,
      retried: run.retried,
      markFailures: run.deliveredMarkFailures + run.failedMarkFailures,
      batchItemFailures: checkpoint(records, positions, run.status),
    };
    this.emitMetrics(result, run);
    return result;
  }

  /** Decodes the records and turns each outbox INSERT into a unit, with the position of its record. */
  private prepare(records: readonly OutboxStreamRecord[]): {
    units: PipelineUnit[];
    positions: number[];
    skipped: number;
  } {
    const units: PipelineUnit[] = [];
    const positions: number[] = [];
    let skipped = 0;
    records.forEach((record, position) => {
      const decoded = decodeRecord(record, this.options.layout);
      if (decoded.kind === 'skip') {
        skipped += 1;
        return;
      }
      positions.push(position);
      if (decoded.kind === 'undecodable') {
        const { key } = decoded;
        units.push(
          // Without a key the record shares an ordering slot with nothing.
          poisonWork(key?.pk ?? `\u0000record:${position}`, {
            reason: 'undecodable',
            detail: decoded.detail,
            record,
            ...(key ? { key } : {}),
          }),
        );
        return;
      }
      const { item } = decoded;
      units.push(eventWork(item, { pk: item.pk, sk: item.sk }, this.options.eventBusName));
    });
    return { units, positions, skipped };
  }

  private emitMetrics(result: RelayResult, run: PipelineRun): void {
    this.metrics.addMetric(RELAY_METRICS.published, MetricUnit.Count, result.published);
    this.metrics.addMetric(RELAY_METRICS.retried, MetricUnit.Count, result.retried);
    this.metrics.addMetric(RELAY_METRICS.publishFailures, MetricUnit.Count, run.publishFailures);
    this.metrics.addMetric(RELAY_METRICS.poisoned, MetricUnit.Count, result.poisoned);
    this.metrics.addMetric(RELAY_METRICS.markFailures, MetricUnit.Count, result.markFailures);
    if (run.maxLagMs !== undefined) {
      this.metrics.addMetric(RELAY_METRICS.publishLag, MetricUnit.Milliseconds, run.maxLagMs);
    }
  }
}

/**
 * The relay stops the batch at its first failure: the stream redelivers
 * every record from the checkpoint on, so publishing past it would only send
 * copies.
 */
const RELAY_POLICY: StopPolicy = { scope: 'batch' };

/**
 * The first outbox record in shard order still pending. Lambda resumes
 * there; a missing sequence number (never seen from Lambda) makes it retry
 * the batch.
 */
function checkpoint(
  records: readonly OutboxStreamRecord[],
  positions: readonly number[],
  status: readonly UnitStatus[],
): BatchItemFailure[] {
  const index = status.indexOf('pending');
  if (index < 0) return [];
  const record = records[positions[index] as number];
  return [{ itemIdentifier: record?.dynamodb?.SequenceNumber ?? '' }];
}
