/**
 * The sweeper: a scheduled Lambda function that republishes outbox events
 * left pending longer than a threshold, so no committed event is lost even
 * after a relay outage longer than the stream's 24 h retention (DESIGN.md
 * section 5).
 */
import { Duration, RemovalPolicy } from 'aws-cdk-lib';
import type * as dynamodb from 'aws-cdk-lib/aws-dynamodb';
import * as events from 'aws-cdk-lib/aws-events';
import * as targets from 'aws-cdk-lib/aws-events-targets';
import type * as sqs from 'aws-cdk-lib/aws-sqs';
import { Construct } from 'constructs';
import { ENV } from '../../lambdas/outbox/functions/env';
import { SWEEPER_DEFAULTS, SWEEPER_THRESHOLD_ENV } from '../../lambdas/outbox/sweeper';
import { ServiceFunction } from '../service-function';
import { OUTBOX_FUNCTION_ENTRIES } from './outbox-functions';
import {
  DEFAULT_ATTRIBUTE_NAMES,
  DEFAULT_PENDING_SHARDS,
  layoutEnvironment,
  type OutboxAttributeNames,
} from './outbox-layout';

/** Properties of an {@link OutboxSweeper}. */
export interface OutboxSweeperProps {
  /** The outbox table with the sparse pending index. */
  readonly table: dynamodb.ITable;
  /** The bus the events go to (the relay's). */
  readonly eventBus: events.IEventBus;
  /** Where events that can never be published are parked (the relay's poison queue). */
  readonly poisonQueue: sqs.IQueue;
  /**
   * Names of the table's key, pending-index and TTL attributes.
   * @default DEFAULT_ATTRIBUTE_NAMES
   */
  readonly attributeNames?: OutboxAttributeNames;
  /**
   * Shards of the pending index (`OUTBOX_PENDING_SHARDS`).
   * @default DEFAULT_PENDING_SHARDS
   */
  readonly pendingShards?: number;
  /**
   * Seconds an event must have been pending before the sweeper republishes
   * it. The relay delivers within about a second, so the default never races
   * a healthy relay, and with the default schedule an outage is healed within
   * about ten minutes.
   * @default 300
   */
  readonly thresholdSeconds?: number;
  /**
   * How often the sweeper runs.
   * @default events.Schedule.rate(Duration.minutes(5))
   */
  readonly schedule?: events.Schedule;
  /**
   * Hours a delivered outbox item lives before TTL deletes it (as the relay's).
   * @default 24
   */
  readonly deliveredTtlHours?: number;
  /**
   * Timeout of one run; a run stops starting work shortly before it. Shorter
   * than the schedule's interval, so runs do not normally overlap (when they
   * do, the cost is duplicate events, never lost ones).
   * @default Duration.minutes(3)
   */
  readonly timeout?: Duration;
  /**
   * Memory of the sweeper function in MB.
   * @default 512
   */
  readonly memorySize?: number;
  /**
   * What happens to the log group when it leaves the stack.
   * @default RemovalPolicy.RETAIN
   */
  readonly removalPolicy?: RemovalPolicy;
}

/**
 * The sweeper function (handler `sweeper`, Powertools service
 * `outbox-sweeper`) and the rule that runs it.
 *
 * The schedule is an EventBridge rule on the account's default bus rather
 * than an EventBridge Scheduler schedule: scheduled rules exist only on the
 * default bus, the rule needs no IAM role of its own (the function's
 * resource policy admits only this rule's ARN), and the local runtime reads
 * scheduled rules from the template already. Scheduler's extras (time zones,
 * flexible windows, one-off runs) buy nothing for a fixed rate.
 */
export class OutboxSweeper extends Construct {
  /** The sweeper function. */
  readonly function: ServiceFunction;
  /** The scheduled rule invoking it. */
  readonly rule: events.Rule;

  constructor(scope: Construct, id: string, props: OutboxSweeperProps) {
    super(scope, id);
    const thresholdSeconds = props.thresholdSeconds ?? SWEEPER_DEFAULTS.thresholdSeconds;
    // The handler reads it as a positive number (numberEnv).
    if (!(Number.isFinite(thresholdSeconds) && thresholdSeconds > 0)) {
      throw new Error(`thresholdSeconds must be a positive number, got ${thresholdSeconds}`);
    }
    const names = props.attributeNames ?? DEFAULT_ATTRIBUTE_NAMES;
    const deliveredTtlHours = props.deliveredTtlHours ?? 24;
    if (!(Number.isFinite(deliveredTtlHours) && deliveredTtlHours > 0)) {
      throw new Error(`deliveredTtlHours must be a positive number, got ${deliveredTtlHours}`);
    }

    this.function = new ServiceFunction(this, 'Function', {
      entry: OUTBOX_FUNCTION_ENTRIES.sweeper,
      serviceName: 'outbox-sweeper',
      memorySize: props.memorySize ?? 512,
      timeout: props.timeout ?? Duration.minutes(3),
      environment: {
        [ENV.DELIVERED_TTL_HOURS]: String(deliveredTtlHours),
        [SWEEPER_THRESHOLD_ENV]: String(thresholdSeconds),
        ...layoutEnvironment(names, props.pendingShards ?? DEFAULT_PENDING_SHARDS),
      },
      removalPolicy: props.removalPolicy ?? RemovalPolicy.RETAIN,
    });
    // Scan on the index finds old pending events (it holds only pending
    // items); Query on the table reads each aggregate's pending events; the
    // delivered marks are PartiQL UPDATEs, the failed marks UpdateItem calls.
    this.function.useTable(props.table, ['PartiQLUpdate', 'UpdateItem', 'Query'], {
      indexName: names.pendingIndexName,
      actions: ['Scan'],
    });
    this.function.useEventBus(props.eventBus);
    this.function.useQueue(props.poisonQueue, ENV.POISON_QUEUE_URL);

    this.rule = new events.Rule(this, 'Schedule', {
      description: 'Runs the outbox sweeper',
      schedule: props.schedule ?? events.Schedule.rate(Duration.minutes(5)),
      targets: [new targets.LambdaFunction(this.function)],
    });
  }
}
