/**
 * One deployment of the outbox and its sample service: a
 * `TransactionalOutbox` (table, bus, relay, sweeper, alarms) and the
 * `SampleService` that writes through it (API, consumers, in dev the tap
 * queue). The stack only composes the two.
 */
import {
  type CfnElement,
  CfnOutput,
  type Duration,
  Names,
  RemovalPolicy,
  Stack,
  type StackProps,
} from 'aws-cdk-lib';
import type { Construct, IConstruct } from 'constructs';
import { logicalIdFor } from './logical-ids';
import { acknowledgeNagFindings } from './nag';
import type { OutboxBus } from './outbox/outbox-bus';
import type { OutboxConsumer } from './outbox/outbox-consumer';
import type { OutboxMonitoring } from './outbox/outbox-monitoring';
import type { OutboxRelay } from './outbox/outbox-relay';
import type { OutboxSweeper } from './outbox/outbox-sweeper';
import type { OutboxTable } from './outbox/outbox-table';
import { TransactionalOutbox } from './outbox/transactional-outbox';
import type { EventTap } from './sample/event-tap';
import type { JwtAuthorization, SampleApi } from './sample/sample-api';
import { SampleService } from './sample/sample-service';
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
   * pending index's shards (lib/outbox/outbox-table.ts).
   * @default - 16 shards, about 5,300 events per second
   */
  readonly peakEventsPerSecond?: number;
  /**
   * Keep the old `pending` index for the first deployment of a migration (README "Migrating the pending index").
   * @default false
   */
  readonly keepLegacyPendingIndex?: boolean;
  /**
   * The relay's batching window (lib/outbox/outbox-relay.ts).
   * @default RELAY_BATCHING_WINDOW
   */
  readonly relayBatchingWindow?: Duration;
}

/** The outbox stack of one stage. */
export class OutboxStack extends Stack {
  /** The stage this stack deploys. */
  readonly stage: Stage;
  /** The outbox: table, bus, relay, sweeper, their alarms and dashboard. */
  readonly outbox: TransactionalOutbox;
  /** The sample service writing through the outbox. */
  readonly sample: SampleService;
  /** The single table with entities, outbox items and the pending index. */
  readonly outboxTable: OutboxTable;
  /** The event bus and its archive. */
  readonly bus: OutboxBus;
  /** The stream relay, its poison and on-failure queues. */
  readonly relay: OutboxRelay;
  /** The scheduled sweeper republishing events left pending (DESIGN.md section 5). */
  readonly sweeper: OutboxSweeper;
  /** The sample service's HTTP API. */
  readonly api: SampleApi;
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

    this.outbox = new TransactionalOutbox(this, OUTBOX_ID, {
      eventBusName: `outbox-${props.stage}`,
      removalPolicy,
      deletionProtection: prod,
      ...(props.peakEventsPerSecond === undefined ? {} : { peakEventsPerSecond: props.peakEventsPerSecond }),
      ...(props.keepLegacyPendingIndex ? { keepLegacyPendingIndex: true } : {}),
      ...(props.deliveredTtlHours === undefined ? {} : { deliveredTtlHours: props.deliveredTtlHours }),
      ...(props.relayBatchingWindow === undefined
        ? {}
        : { relay: { maxBatchingWindow: props.relayBatchingWindow } }),
      ...(props.alarmEmail === undefined ? {} : { alarmEmail: props.alarmEmail }),
    });
    this.sample = new SampleService(this, SAMPLE_ID, {
      outbox: this.outbox,
      apiName: `outbox-${props.stage}`,
      eventTap: !prod,
      removalPolicy,
      mailFromAddress: props.mailFromAddress ?? 'no-reply@example.com',
      ...(props.jwt ? { jwt: props.jwt } : {}),
    });

    const { outboxTable, bus } = this.outbox;
    // The stack lets the outbox create both, so both exist.
    if (!outboxTable || !bus) throw new Error('the outbox created no table or no bus');
    this.outboxTable = outboxTable;
    this.bus = bus;
    this.relay = this.outbox.relay;
    this.sweeper = this.outbox.sweeper;
    this.monitoring = this.outbox.monitoring;
    this.api = this.sample.api;
    if (this.sample.tap) this.tap = this.sample.tap;
    this.consumers = this.sample.consumers;

    // Output ids are read by the local runtime and the e2e targets: keep them stable.
    new CfnOutput(this, 'TableName', { value: this.outboxTable.table.tableName });
    new CfnOutput(this, 'TableStreamArn', { value: this.outbox.tableStreamArn });
    new CfnOutput(this, 'EventBusName', { value: this.bus.eventBus.eventBusName });
    new CfnOutput(this, 'ApiUrl', { value: this.api.url });
    new CfnOutput(this, 'PoisonQueueUrl', { value: this.relay.poisonQueue.queueUrl });
    if (this.tap) new CfnOutput(this, 'TapQueueUrl', { value: this.tap.queue.queueUrl });

    // Last, so that it sees every resource: cdk-nag findings accepted with their reasons (lib/nag.ts).
    acknowledgeNagFindings(this);
  }

  /**
   * Logical ids as they were before the outbox and the sample became
   * constructs of their own: their ids are left out of the path, so the
   * retained table, queues and log groups, the API (and its URL) and the
   * stream's event source mapping (whose replacement would read the stream
   * again from its trim horizon) stay the same resources (lib/logical-ids.ts).
   */
  protected override allocateLogicalId(element: CfnElement): string {
    return logicalIdFor(this.pathWithoutParts(element).map((id) => this.withoutPartsInUniqueIds(id)));
  }

  /** Construct ids from below the stack down to `construct`, without the two parts. */
  private pathWithoutParts(construct: IConstruct, from: IConstruct = this): string[] {
    const scopes = construct.node.scopes;
    return scopes
      .slice(scopes.indexOf(from) + 1)
      .filter((scope) => scope !== this.outbox && scope !== this.sample)
      .map((scope) => scope.node.id);
  }

  /**
   * Some construct ids embed another construct's unique id (an event source
   * mapping names its queue or stream's table, a rule's permission its
   * function): those unique ids are replaced by the ones without the parts.
   */
  private withoutPartsInUniqueIds(id: string): string {
    const stackPrefix = this.node.id.replace(/[^A-Za-z0-9]/g, '');
    if (!PART_IDS.some((part) => id.includes(`${stackPrefix}${part}`))) return id;
    let rewritten = id;
    for (const part of [this.outbox, this.sample]) {
      for (const construct of part.node.findAll()) {
        const uniqueId = Names.nodeUniqueId(construct.node);
        if (!rewritten.includes(uniqueId)) continue;
        const root = construct.node.scopes[0];
        rewritten = rewritten.replace(uniqueId, logicalIdFor(this.pathWithoutParts(construct, root)));
      }
    }
    return rewritten;
  }
}

/** Construct ids of the two parts; left out of logical ids (see `allocateLogicalId`). */
const OUTBOX_ID = 'Outbox';
const SAMPLE_ID = 'Sample';
const PART_IDS = [OUTBOX_ID, SAMPLE_ID];
