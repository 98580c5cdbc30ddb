/**
 * The consumer helper: wraps the logic of an SQS-fed Lambda function that
 * receives outbox events from EventBridge. It validates each message, applies
 * each event at most once (Powertools Idempotency keyed on `detail.eventId`,
 * persisted in the outbox table with a TTL), reports partial batch failures
 * so only failed messages come back, and counts duplicates, stale events and
 * sequence gaps (Powertools Metrics). No sample-service code lives here.
 */
import { BatchProcessor, EventType, processPartialResponse } from '@aws-lambda-powertools/batch';
import {
  IdempotencyAlreadyInProgressError,
  IdempotencyConfig,
  makeIdempotent,
} from '@aws-lambda-powertools/idempotency';
import { DynamoDBPersistenceLayer } from '@aws-lambda-powertools/idempotency/dynamodb';
import type { DynamoDBPersistenceOptions } from '@aws-lambda-powertools/idempotency/types';
import { Logger } from '@aws-lambda-powertools/logger';
import { type Metrics, MetricUnit } from '@aws-lambda-powertools/metrics';
import type { AttributeValue, DynamoDBClient } from '@aws-sdk/client-dynamodb';
import type { Context, SQSBatchResponse, SQSEvent, SQSRecord } from 'aws-lambda';
import type {
  AnyEventCatalogue,
  CatalogueEnvelope,
  EventCatalogue,
  EventDataRefusal,
  EventDefinitions,
  EventEnvelope,
} from '../outbox';
import {
  consumerIdempotencyKey,
  DEFAULT_LAYOUT,
  type OutboxLayout,
  parseEventData,
  SILENT_METRICS,
} from '../outbox';
import { type DeliveredEvent, parseDelivered } from './envelope';
import { InvalidEnvelopeError, InvalidEventDataError, RetryLaterError } from './errors';
import type { GuardOutcome } from './order-guard';

/** What an event's logic reports; `guard` when it went through the order guard. */
export interface ApplyResult {
  readonly guard?: GuardOutcome;
}

/**
 * How a message reached the consumer this time.
 */
export interface Delivery {
  /** How often SQS has handed this message out, this time included (`ApproximateReceiveCount`). */
  readonly receiveCount: number;
}

/**
 * Applies one event's effect. Runs at most once per `eventId` after a success
 * while the idempotency record lives; after a failure, and after the record
 * expired (an archive replay, a DLQ redrive), it runs again, so its effects
 * must be decided by the read model it writes (the order guard), not by the
 * idempotency record.
 */
export type ApplyEvent<E = EventEnvelope> = (
  event: E,
  delivered: DeliveredEvent,
  delivery: Delivery,
) => Promise<ApplyResult | undefined>;

/** Names of the consumer metrics (namespace and `service` dimension from Powertools' settings). */
export const CONSUMER_METRICS = {
  /** Events delivered again after they were applied; answered from the idempotency record (Count). */
  duplicateEvents: 'DuplicateEvents',
  /** Events older than what the read model holds; ignored by the order guard (Count). */
  staleEvents: 'StaleEvents',
  /** Sequence numbers skipped when an event was applied: earlier events not seen yet (Count). */
  sequenceGaps: 'SequenceGaps',
  /**
   * Messages that are not an outbox event, or whose data the consumer's
   * catalogue refuses; they fail until the DLQ takes them (Count).
   */
  invalidMessages: 'InvalidMessages',
  /** Events that could not be applied yet and wait for a redelivery (Count). */
  deferredEvents: 'DeferredEvents',
  /** Messages that failed for any other reason (Count). */
  failedMessages: 'FailedMessages',
} as const;

/** Settings of a consumer; `E` is the event its logic takes (typed from a catalogue when it has one). */
export interface ConsumerOptions<E = EventEnvelope> {
  /** Kebab-case name of the consumer; scopes its idempotency records. */
  readonly name: string;
  /** The table holding idempotency records (the outbox table). */
  readonly tableName: string;
  /** The client the idempotency records are written with. */
  readonly dynamoDb: DynamoDBClient;
  /** The consumer's logic. */
  readonly apply: ApplyEvent<E>;
  /**
   * The event types the consumer accepts, with their schemas (the producer's
   * catalogue, or the part of it the consumer subscribes to: `pick`). Each
   * event's `data` is then validated on arrival and `apply` gets it typed.
   * Fields the schema does not declare are accepted and kept (a newer minor
   * version adds them); an event of another type, of another major version,
   * or whose data does not match fails its own message only
   * (`InvalidEventDataError`), before its idempotency record is written.
   * @default none: any event, `data` unchecked
   */
  readonly catalogue?: AnyEventCatalogue;
  /** @default a Powertools logger of the library's own (service `outbox-consumer`) */
  readonly logger?: ConsumerLogger;
  /**
   * The handler's metrics, published at the end of each invocation.
   * @default none recorded (lambdas/outbox/observability.ts says why)
   */
  readonly metrics?: ConsumerMetrics;
  /**
   * Key and TTL attribute names of the table the idempotency records go to
   * (the outbox's layout when they share the table). @default DEFAULT_LAYOUT
   */
  readonly layout?: OutboxLayout;
  /**
   * How long an applied event id is remembered (the record's TTL). The
   * records only save work: an event delivered again after its record
   * expired (an archive replay, a DLQ redrive) is applied again, and the
   * consumer's read model (order guard) must make that change nothing.
   * @default 7 days
   */
  readonly idempotencyTtlSeconds?: number;
}

/** The logger methods a consumer uses; a Powertools `Logger` fits. */
export type ConsumerLogger = Pick<Logger, 'info' | 'error' | 'addContext'>;
/** The metrics methods a consumer uses; a Powertools `Metrics` fits. */
export type ConsumerMetrics = Pick<Metrics, 'addMetric' | 'publishStoredMetrics'>;

/** Service name of a consumer's default logger. */
export const CONSUMER_SERVICE_NAME = 'outbox-consumer';

const silentConsumerMetrics: ConsumerMetrics = {
  addMetric: SILENT_METRICS.addMetric,
  publishStoredMetrics(this: Metrics) {
    return this;
  },
};

/** The default time an applied event id is remembered. */
export const DEFAULT_IDEMPOTENCY_TTL_SECONDS = 7 * 24 * 60 * 60;

/**
 * Powertools' DynamoDB persistence with a partition per record: its own keys
 * put every record of a table with a sort key under one static partition key.
 */
class SpreadPersistenceLayer extends DynamoDBPersistenceLayer {
  constructor(
    private readonly consumerName: string,
    private readonly layout: OutboxLayout,
    options: DynamoDBPersistenceOptions,
  ) {
    super(options);
  }

  protected override getKey(idempotencyKey: string): Record<string, AttributeValue> {
    const key = consumerIdempotencyKey(this.consumerName, idempotencyKey);
    return { [this.layout.partitionKey]: { S: key.pk }, [this.layout.sortKey]: { S: key.sk } };
  }
}

/** What the idempotent wrapper notes for its caller: whether the logic ran in this call. */
interface Run {
  ran: boolean;
}

/** The stored result of an applied event (JSON, as the idempotency record keeps it). */
interface StoredResult {
  readonly guard: GuardOutcome | null;
}

/** @throws InvalidEventDataError when the catalogue does not accept the event's data */
function assertAccepted(catalogue: AnyEventCatalogue, event: EventEnvelope): void {
  const checked = parseEventData(catalogue, event.eventType, event.data, event.dataVersion);
  if (!checked.ok) {
    throw new InvalidEventDataError(
      `${event.eventType} ${event.eventId}: ${refusalText(checked)}`,
      event.eventType,
      checked.reason === 'invalid-data' ? checked.issues.map((issue) => issue.path) : [],
    );
  }
}

function refusalText(refusal: EventDataRefusal): string {
  switch (refusal.reason) {
    case 'unknown-type':
      return "the event type is not in the consumer's catalogue";
    case 'unsupported-version':
      return `data version ${refusal.actual} is not of major version ${refusal.expected} of the consumer's catalogue`;
    case 'invalid-data':
      return `data does not match schema ${refusal.version}: ${refusal.issues
        .map((issue) => `${issue.path}: ${issue.message}`)
        .join('; ')}`;
  }
}

/** A consumer's Lambda handler for an SQS event source with `ReportBatchItemFailures`. */
export type ConsumerHandler = (event: SQSEvent, context: Context) => Promise<SQSBatchResponse>;

/** Builds the Lambda handler of a consumer whose events are typed and checked by a catalogue. */
export function createConsumer<D extends EventDefinitions>(
  options: ConsumerOptions<CatalogueEnvelope<D>> & { readonly catalogue: EventCatalogue<D> },
): ConsumerHandler;
/** Builds the Lambda handler of a consumer. */
export function createConsumer(options: ConsumerOptions): ConsumerHandler;
export function createConsumer(options: ConsumerOptions): ConsumerHandler {
  const logger = options.logger ?? new Logger({ serviceName: CONSUMER_SERVICE_NAME });
  const metrics = options.metrics ?? silentConsumerMetrics;
  const layout = options.layout ?? DEFAULT_LAYOUT;
  // Fails at cold start, not on the first event, when the name cannot be part of a key.
  consumerIdempotencyKey(options.name, 'check');
  const persistenceStore = new SpreadPersistenceLayer(options.name, layout, {
    tableName: options.tableName,
    keyAttr: layout.partitionKey,
    sortKeyAttr: layout.sortKey,
    expiryAttr: layout.ttlAttribute,
    awsSdkV3Client: options.dynamoDb,
  });
  const config = new IdempotencyConfig({
    eventKeyJmesPath: 'eventId',
    throwOnNoIdempotencyKey: true,
    expiresAfterSeconds: options.idempotencyTtlSeconds ?? DEFAULT_IDEMPOTENCY_TTL_SECONDS,
  });
  // Only the envelope (argument 0) is hashed; `run` tells the caller whether
  // the logic ran or the result came from an earlier delivery's record.
  const applyOnce = makeIdempotent(
    async (
      event: EventEnvelope,
      delivered: DeliveredEvent,
      delivery: Delivery,
      run: Run,
    ): Promise<StoredResult> => {
      run.ran = true;
      const result = await options.apply(event, delivered, delivery);
      return { guard: result?.guard ?? null };
    },
    { persistenceStore, config, dataIndexArgument: 0 },
  );
  const recordHandler = async (record: SQSRecord): Promise<void> => {
    let delivered: DeliveredEvent | undefined;
    try {
      delivered = parseDelivered(record.body);
      const event = delivered.detail;
      if (options.catalogue) assertAccepted(options.catalogue, event);
      const run: Run = { ran: false };
      const receiveCount = Number(record.attributes?.ApproximateReceiveCount ?? 1);
      const delivery: Delivery = { receiveCount: Number.isSafeInteger(receiveCount) ? receiveCount : 1 };
      const result = await applyOnce(event, delivered, delivery, run);
      const context = { eventId: event.eventId, eventType: event.eventType, sequence: event.sequence };
      if (!run.ran) {
        metrics.addMetric(CONSUMER_METRICS.duplicateEvents, MetricUnit.Count, 1);
        logger.info('duplicate event skipped', context);
        return;
      }
      const guard = result.guard;
      if (guard && !guard.applied) {
        metrics.addMetric(CONSUMER_METRICS.staleEvents, MetricUnit.Count, 1);
        logger.info('stale event ignored', { ...context, current: guard.current });
      } else if (guard?.applied && guard.gap > 0) {
        metrics.addMetric(CONSUMER_METRICS.sequenceGaps, MetricUnit.Count, guard.gap);
        logger.info('event applied after a sequence gap', { ...context, gap: guard.gap });
      }
    } catch (error) {
      // Logged and rethrown: the batch processor reports the message as failed, so SQS keeps it.
      const where = { messageId: record.messageId, eventId: delivered?.detail.eventId };
      if (error instanceof InvalidEnvelopeError) {
        metrics.addMetric(CONSUMER_METRICS.invalidMessages, MetricUnit.Count, 1);
        logger.error('message is not an outbox event', { ...where, error });
      } else if (error instanceof RetryLaterError) {
        metrics.addMetric(CONSUMER_METRICS.deferredEvents, MetricUnit.Count, 1);
        logger.info('event deferred until a redelivery', { ...where, reason: error.message });
      } else if (error instanceof IdempotencyAlreadyInProgressError) {
        // Another delivery of the same event is being applied right now.
        logger.info('event in progress elsewhere; retried later', where);
      } else {
        metrics.addMetric(CONSUMER_METRICS.failedMessages, MetricUnit.Count, 1);
        logger.error('event failed', { ...where, error });
      }
      throw error;
    }
  };

  return async (event, context) => {
    logger.addContext(context);
    // The in-progress record expires with the invocation, so a crashed run does not block a retry.
    config.registerLambdaContext(context);
    try {
      // A batch whose every message failed is answered like any other, so
      // SQS keeps exactly the failed messages and nothing else.
      // A processor per invocation: it holds the batch's outcomes, and
      // invocations that share a module (the local pollers run several at
      // once) must not report each other's failures.
      // One record at a time, in the order the queue delivered them: SQS and
      // EventBridge promise no order, but when a batch does hold an
      // aggregate's events in order (the usual case), applying them side by
      // side would reorder them (a withdrawal overtaking its registration
      // leaves a tombstone, and neither mail is sent).
      return await processPartialResponse(event, recordHandler, new BatchProcessor(EventType.SQS), {
        context,
        throwOnFullBatchFailure: false,
        processInParallel: false,
      });
    } finally {
      metrics.publishStoredMetrics();
    }
  };
}
