/**
 * One deployment of the outbox and its sample service: table, bus, relay,
 * API, and in dev the tap queue. The stack only composes constructs.
 */
import { CfnOutput, RemovalPolicy, Stack, type StackProps } from 'aws-cdk-lib';
import type { Construct } from 'constructs';
import { EventTap } from './event-tap';
import { type JwtAuthorization, OutboxApi } from './outbox-api';
import { OutboxBus } from './outbox-bus';
import { OutboxRelay } from './outbox-relay';
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
  /** The sample service's HTTP API. */
  readonly api: OutboxApi;
  /** The tap queue copying every event on the bus; dev only. */
  readonly tap?: EventTap;

  constructor(scope: Construct, id: string, props: OutboxStackProps) {
    super(scope, id, props);
    this.stage = props.stage;
    const prod = props.stage === 'prod';
    // Prod keeps data and logs when a resource leaves the stack; dev cleans up after itself.
    const removalPolicy = prod ? RemovalPolicy.RETAIN : RemovalPolicy.DESTROY;

    this.outboxTable = new OutboxTable(this, 'OutboxTable', { removalPolicy, deletionProtection: prod });
    this.bus = new OutboxBus(this, 'Bus', { eventBusName: `outbox-${props.stage}` });
    this.relay = new OutboxRelay(this, 'Relay', {
      table: this.outboxTable.table,
      eventBus: this.bus.eventBus,
      removalPolicy,
      ...(props.deliveredTtlHours === undefined ? {} : { deliveredTtlHours: props.deliveredTtlHours }),
    });
    this.api = new OutboxApi(this, 'Api', {
      table: this.outboxTable.table,
      apiName: `outbox-${props.stage}`,
      removalPolicy,
      ...(props.jwt ? { jwt: props.jwt } : {}),
    });
    if (!prod) this.tap = new EventTap(this, 'Tap', { eventBus: this.bus.eventBus, removalPolicy });

    // Output ids are read by the local runtime and the e2e targets: keep them stable.
    new CfnOutput(this, 'TableName', { value: this.outboxTable.table.tableName });
    new CfnOutput(this, 'TableStreamArn', { value: this.tableStreamArn() });
    new CfnOutput(this, 'EventBusName', { value: this.bus.eventBus.eventBusName });
    new CfnOutput(this, 'ApiUrl', { value: this.api.url });
    new CfnOutput(this, 'PoisonQueueUrl', { value: this.relay.poisonQueue.queueUrl });
    if (this.tap) new CfnOutput(this, 'TapQueueUrl', { value: this.tap.queue.queueUrl });
  }

  private tableStreamArn(): string {
    const arn = this.outboxTable.table.tableStreamArn;
    if (arn === undefined) throw new Error('the outbox table has no stream');
    return arn;
  }
}
