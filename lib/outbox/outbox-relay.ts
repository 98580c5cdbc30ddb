/**
 * The relay: a Lambda function on the table's stream that forwards every
 * committed outbox item to the event bus (DESIGN.md section 4).
 */
import { Duration, RemovalPolicy } from 'aws-cdk-lib';
import type * as dynamodb from 'aws-cdk-lib/aws-dynamodb';
import type * as events from 'aws-cdk-lib/aws-events';
import * as lambda from 'aws-cdk-lib/aws-lambda';
import { DynamoEventSource, SqsDlq } from 'aws-cdk-lib/aws-lambda-event-sources';
import * as sqs from 'aws-cdk-lib/aws-sqs';
import { Construct } from 'constructs';
import { ENV } from '../../lambdas/outbox/functions/env';
import { OUTBOX_PREFIX } from '../../lambdas/outbox/keys';
import { ServiceFunction } from '../service-function';
import { OUTBOX_FUNCTION_ENTRIES } from './outbox-functions';
import {
  DEFAULT_ATTRIBUTE_NAMES,
  DEFAULT_PENDING_SHARDS,
  layoutEnvironment,
  type OutboxAttributeNames,
} from './outbox-layout';

/** The relay's default batching window; see {@link OutboxRelayProps.maxBatchingWindow}. */
export const RELAY_BATCHING_WINDOW = Duration.seconds(1);

/** Properties of an {@link OutboxRelay}. */
export interface OutboxRelayProps {
  /** The outbox table; its stream must carry new images. */
  readonly table: dynamodb.ITable;
  /** The bus the relay publishes to. */
  readonly eventBus: events.IEventBus;
  /**
   * Names of the table's key, pending-index and TTL attributes; the stream
   * filter and the function's layout variables follow them.
   * @default DEFAULT_ATTRIBUTE_NAMES
   */
  readonly attributeNames?: OutboxAttributeNames;
  /**
   * Shards of the pending index (`OUTBOX_PENDING_SHARDS`).
   * @default DEFAULT_PENDING_SHARDS
   */
  readonly pendingShards?: number;
  /**
   * Hours a delivered outbox item lives before TTL deletes it.
   * @default 24
   */
  readonly deliveredTtlHours?: number;
  /**
   * Stream records per invocation. A thousand lets the relay pack each
   * aggregate's k-th events into the same PutEvents calls and sustain more
   * than 1,000 events/s per shard at a 30 ms round trip (bench/results); at
   * 100 it reaches about 650/s.
   * @default 1000
   */
  readonly batchSize?: number;
  /**
   * How long the poller gathers records before it invokes (the event source
   * mapping's `MaximumBatchingWindowInSeconds`, 0 to 300 s). Each second
   * adds up to a second of commit-to-bus latency; at low traffic a window
   * packs more events into each invocation, so fewer invocations (and
   * traces) per event (README "Benchmarks").
   * @default RELAY_BATCHING_WINDOW
   */
  readonly maxBatchingWindow?: Duration;
  /**
   * Retries of a failing batch before the poller gives up on it and sends its
   * metadata to the on-failure queue. Bounded, so one batch cannot hold its
   * shard for the stream's whole 24 h retention.
   * @default 10
   */
  readonly retryAttempts?: number;
  /**
   * Records older than this are not retried but sent to the on-failure queue.
   * Short of the stream's 24 h retention on purpose: the pending-index sweeper
   * republishes anything left undelivered, so giving up early unblocks the
   * shard without losing an event.
   * @default Duration.hours(6)
   */
  readonly maxRecordAge?: Duration;
  /**
   * Concurrent batches per shard. Above 1 Lambda keeps order only per item,
   * not per aggregate, so leave it at 1 unless order does not matter.
   * @default 1
   */
  readonly parallelizationFactor?: number;
  /**
   * Memory of the relay function in MB.
   * @default 1024
   */
  readonly memorySize?: number;
  /**
   * Timeout of the relay function; retries of throttled entries happen within it.
   * @default Duration.seconds(60)
   */
  readonly timeout?: Duration;
  /**
   * What happens to the queues and the log group when they leave the stack.
   * @default RemovalPolicy.RETAIN
   */
  readonly removalPolicy?: RemovalPolicy;
}

/**
 * The relay function, its event source mapping, the poison queue for events
 * that can never be published, and the on-failure queue for batches the
 * poller gave up on.
 */
export class OutboxRelay extends Construct {
  /** The relay function (handler `relay`). */
  readonly function: ServiceFunction;
  /** Poison events: the full item and the reason it could not be published. */
  readonly poisonQueue: sqs.Queue;
  /** Metadata (shard, sequence range) of batches the poller gave up on; an alarm signal. */
  readonly onFailureQueue: sqs.Queue;
  /** The stream event source of the relay. */
  readonly eventSource: DynamoEventSource;

  constructor(scope: Construct, id: string, props: OutboxRelayProps) {
    super(scope, id);
    const removalPolicy = props.removalPolicy ?? RemovalPolicy.RETAIN;
    const names = props.attributeNames ?? DEFAULT_ATTRIBUTE_NAMES;
    const deliveredTtlHours = props.deliveredTtlHours ?? 24;
    if (!(Number.isFinite(deliveredTtlHours) && deliveredTtlHours > 0)) {
      throw new Error(`deliveredTtlHours must be a positive number, got ${deliveredTtlHours}`);
    }

    const queueProps: sqs.QueueProps = {
      encryption: sqs.QueueEncryption.SQS_MANAGED,
      enforceSSL: true,
      retentionPeriod: Duration.days(14),
      // Poison messages carry the whole event (up to the 1 MiB PutEvents limit).
      maxMessageSizeBytes: 1024 * 1024,
      removalPolicy,
    };
    this.poisonQueue = new sqs.Queue(this, 'PoisonQueue', queueProps);
    this.onFailureQueue = new sqs.Queue(this, 'OnFailureQueue', queueProps);

    this.function = new ServiceFunction(this, 'Function', {
      entry: OUTBOX_FUNCTION_ENTRIES.relay,
      serviceName: 'outbox-relay',
      memorySize: props.memorySize ?? 1024,
      timeout: props.timeout ?? Duration.seconds(60),
      environment: {
        [ENV.DELIVERED_TTL_HOURS]: String(deliveredTtlHours),
        ...layoutEnvironment(names, props.pendingShards ?? DEFAULT_PENDING_SHARDS),
      },
      removalPolicy,
    });
    // Delivered marks are PartiQL UPDATEs sent with BatchExecuteStatement
    // (dynamodb:PartiQLUpdate); failed marks are UpdateItem calls. The gap
    // guard reads the event before each aggregate's first in a batch
    // (BatchGetItem) and, when it is still pending, that aggregate's pending
    // events (Query).
    this.function.useTable(props.table, ['PartiQLUpdate', 'UpdateItem', 'BatchGetItem', 'Query']);
    this.function.useEventBus(props.eventBus);
    this.function.useQueue(this.poisonQueue, ENV.POISON_QUEUE_URL);

    this.eventSource = new DynamoEventSource(props.table, {
      startingPosition: lambda.StartingPosition.TRIM_HORIZON,
      batchSize: props.batchSize ?? 1000,
      maxBatchingWindow: props.maxBatchingWindow ?? RELAY_BATCHING_WINDOW,
      reportBatchItemFailures: true,
      bisectBatchOnError: true,
      retryAttempts: props.retryAttempts ?? 10,
      maxRecordAge: props.maxRecordAge ?? Duration.hours(6),
      parallelizationFactor: props.parallelizationFactor ?? 1,
      onFailure: new SqsDlq(this.onFailureQueue),
      // A DynamoDB mapping filters only on the `dynamodb` key, not `eventName`:
      // an outbox INSERT has the pending marker in its new image, a delivered
      // mark removes it, and a TTL delete has no new image at all.
      filters: [relayFilter(names)],
    });
    this.function.addEventSource(this.eventSource);
  }
}

/**
 * The relay's stream filter: outbox items (sort key `OUTBOX#...`) whose new
 * image still has the pending partition key, under the configured names.
 */
export function relayFilter(names: OutboxAttributeNames): Record<string, unknown> {
  return lambda.FilterCriteria.filter({
    dynamodb: {
      Keys: { [names.sortKey]: { S: lambda.FilterRule.beginsWith(OUTBOX_PREFIX) } },
      NewImage: { [names.pendingPartitionKey]: { S: lambda.FilterRule.exists() } },
    },
  });
}
