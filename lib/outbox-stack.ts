/**
 * One deployment of the outbox and its sample service: table, bus, relay,
 * API, and in dev the tap queue. The stack only composes constructs.
 */
import { CfnOutput, type Duration, RemovalPolicy, Stack, type StackProps } from 'aws-cdk-lib';
import type { Construct } from 'constructs';
import { PENDING_INDEX } from '../lambdas/outbox/keys';
import { EventTap } from './event-tap';
import { acknowledgeNagFindings } from './nag';
import { EVENT_SOURCE, type JwtAuthorization, OutboxApi } from './outbox-api';
import { OutboxBus } from './outbox-bus';
import { OutboxConsumer } from './outbox-consumer';
import { OutboxMonitoring } from './outbox-monitoring';
import { OutboxRelay } from './outbox-relay';
import { OutboxSweeper } from './outbox-sweeper';
import { OutboxTable } from './outbox-table';
import type { Stage } from './stage';

/** Properties of an {@link OutboxStack}. */
export interface OutboxStackProps extends StackProps {
  /** The stage: `prod` retains data and protects the table; `dev` is disposable and adds the tap queue. */
  readonly stage: Stage;
  /**
   * Authorize the API with JWTs instead of IAM.
   * @default - IAM authorization on every route
   */
  readonly jwt?: JwtAuthorization;
  /**
   * Hours a delivered outbox item lives before TTL deletes it.
   * @default 24
   */
  readonly deliveredTtlHours?: number;
  /**
   * Email address subscribed to the alarm topic (confirmed by mail before anything arrives).
   * @default - no subscription; subscribe to the topic by other means
   */
  readonly alarmEmail?: string;
  /**
   * Sender address of the notifications consumer's mails; it (or its domain) must be a verified SES identity.
   * @default 'no-reply@example.com'
   */
  readonly mailFromAddress?: string;
  /**
   * The table's peak outbox event rate (events per second); sizes the
   * pending index's shards (lib/outbox-table.ts).
   * @default - 16 shards, about 5,300 events per second
   */
  readonly peakEventsPerSecond?: number;
  /**
   * Keep the old `pending` index for the first deployment of a migration (README "Migrating the pending index").
   * @default false
   */
  readonly keepLegacyPendingIndex?: boolean;
  /**
   * The relay's batching window (lib/outbox-relay.ts).
   * @default RELAY_BATCHING_WINDOW
   */
  readonly relayBatchingWindow?: Duration;
}

/** The outbox stack of one stage. */
export class OutboxStack extends Stack {
  /** The stage this stack deploys. */
  readonly stage: Stage;
  /** The single table with entities, outbox items and the pending index. */
  readonly outboxTable: OutboxTable;
  /** The event bus and its archive. */
  readonly bus: OutboxBus;
  /** The stream relay, its poison and on-failure queues. */
  readonly relay: OutboxRelay;
  /** The scheduled sweeper republishing events left pending (DESIGN.md section 5). */
  readonly sweeper: OutboxSweeper;
  /** The sample service's HTTP API. */
  readonly api: OutboxApi;
  /** The tap queue copying every event on the bus; dev only. */
  readonly tap?: EventTap;
  /** Alarms, their SNS topic and the dashboard (docs/operations.md). */
  readonly monitoring: OutboxMonitoring;
  /** The sample consumers: welcome and farewell mails, and the member-activity read model. */
  readonly consumers: readonly OutboxConsumer[];

  constructor(scope: Construct, id: string, props: OutboxStackProps) {
    super(scope, id, props);
    this.stage = props.stage;
    const prod = props.stage === 'prod';
    // Prod keeps data and logs when a resource leaves the stack; dev cleans up after itself.
    const removalPolicy = prod ? RemovalPolicy.RETAIN : RemovalPolicy.DESTROY;

    this.outboxTable = new OutboxTable(this, 'OutboxTable', {
      removalPolicy,
      deletionProtection: prod,
      ...(props.peakEventsPerSecond === undefined ? {} : { peakEventsPerSecond: props.peakEventsPerSecond }),
      ...(props.keepLegacyPendingIndex ? { keepLegacyPendingIndex: true } : {}),
    });
    this.bus = new OutboxBus(this, 'Bus', { eventBusName: `outbox-${props.stage}` });
    this.relay = new OutboxRelay(this, 'Relay', {
      table: this.outboxTable.table,
      eventBus: this.bus.eventBus,
      removalPolicy,
      ...(props.deliveredTtlHours === undefined ? {} : { deliveredTtlHours: props.deliveredTtlHours }),
      ...(props.relayBatchingWindow === undefined ? {} : { maxBatchingWindow: props.relayBatchingWindow }),
    });
    this.api = new OutboxApi(this, 'Api', {
      table: this.outboxTable.table,
      apiName: `outbox-${props.stage}`,
      removalPolicy,
      ...(props.jwt ? { jwt: props.jwt } : {}),
    });
    if (!prod) this.tap = new EventTap(this, 'Tap', { eventBus: this.bus.eventBus, removalPolicy });
    this.sweeper = new OutboxSweeper(this, 'Sweeper', {
      table: this.outboxTable.table,
      eventBus: this.bus.eventBus,
      poisonQueue: this.relay.poisonQueue,
      removalPolicy,
      ...(props.deliveredTtlHours === undefined ? {} : { deliveredTtlHours: props.deliveredTtlHours }),
    });
    const memberEvents = ['MemberRegistered', 'MemberProfileUpdated', 'MemberWithdrawn'];
    this.consumers = [
      new OutboxConsumer(this, 'NotificationsConsumer', {
        consumerName: 'notifications',
        handlerName: 'notifications',
        table: this.outboxTable.table,
        eventBus: this.bus.eventBus,
        eventPattern: { source: [EVENT_SOURCE], detailType: memberEvents },
        mailFromAddress: props.mailFromAddress ?? 'no-reply@example.com',
        removalPolicy,
      }),
      new OutboxConsumer(this, 'MemberActivityConsumer', {
        consumerName: 'member-activity',
        handlerName: 'member-activity',
        table: this.outboxTable.table,
        eventBus: this.bus.eventBus,
        eventPattern: {
          source: [EVENT_SOURCE],
          detailType: [...memberEvents, 'OrderPlaced', 'OrderCancelled'],
        },
        removalPolicy,
      }),
    ];

    // Created after every function, so each one gets a throttles alarm.
    this.monitoring = new OutboxMonitoring(this, 'Monitoring', {
      table: this.outboxTable.table,
      pendingIndexName: PENDING_INDEX,
      relayFunction: this.relay.function,
      poisonQueue: this.relay.poisonQueue,
      onFailureQueue: this.relay.onFailureQueue,
      httpApi: this.api.httpApi,
      removalPolicy,
      ...(props.alarmEmail === undefined ? {} : { alarmEmail: props.alarmEmail }),
    });
    for (const consumer of this.consumers) {
      this.monitoring.addDeadLetterQueueAlarm(consumer.consumerName, consumer.deadLetterQueue);
      this.monitoring.addDeadLetterQueueAlarm(`${consumer.consumerName}-rule`, consumer.ruleDeadLetterQueue);
    }

    // Output ids are read by the local runtime and the e2e targets: keep them stable.
    new CfnOutput(this, 'TableName', { value: this.outboxTable.table.tableName });
    new CfnOutput(this, 'TableStreamArn', { value: this.tableStreamArn() });
    new CfnOutput(this, 'EventBusName', { value: this.bus.eventBus.eventBusName });
    new CfnOutput(this, 'ApiUrl', { value: this.api.url });
    new CfnOutput(this, 'PoisonQueueUrl', { value: this.relay.poisonQueue.queueUrl });
    if (this.tap) new CfnOutput(this, 'TapQueueUrl', { value: this.tap.queue.queueUrl });

    // Last, so that it sees every resource: cdk-nag findings accepted with their reasons (lib/nag.ts).
    acknowledgeNagFindings(this);
  }

  private tableStreamArn(): string {
    const arn = this.outboxTable.table.tableStreamArn;
    if (arn === undefined) throw new Error('the outbox table has no stream');
    return arn;
  }
}
