/**
 * A copy of every event on a bus in an SQS queue, for inspection and the
 * end-to-end tests. Dev stages only: it is not a consumer and nothing drains it.
 */
import { Duration, RemovalPolicy, Stack } from 'aws-cdk-lib';
import * as events from 'aws-cdk-lib/aws-events';
import * as targets from 'aws-cdk-lib/aws-events-targets';
import * as sqs from 'aws-cdk-lib/aws-sqs';
import { Construct } from 'constructs';

/** Properties of an {@link EventTap}. */
export interface EventTapProps {
  /** The bus whose events are copied. */
  readonly eventBus: events.IEventBus;
  /**
   * How long a copied event stays in the queue.
   * @default Duration.days(4)
   */
  readonly retentionPeriod?: Duration;
  /**
   * What happens to the queue when it leaves the stack.
   * @default RemovalPolicy.DESTROY
   */
  readonly removalPolicy?: RemovalPolicy;
}

/** A rule matching every event on the bus, targeting an encrypted SQS queue. */
export class EventTap extends Construct {
  /** The queue receiving a copy of every event. */
  readonly queue: sqs.Queue;
  /** The rule copying the events. */
  readonly rule: events.Rule;

  constructor(scope: Construct, id: string, props: EventTapProps) {
    super(scope, id);
    this.queue = new sqs.Queue(this, 'Queue', {
      // SQS-managed keys: EventBridge can send to them without a key policy.
      encryption: sqs.QueueEncryption.SQS_MANAGED,
      enforceSSL: true,
      retentionPeriod: props.retentionPeriod ?? Duration.days(4),
      removalPolicy: props.removalPolicy ?? RemovalPolicy.DESTROY,
    });
    this.rule = new events.Rule(this, 'Rule', {
      eventBus: props.eventBus,
      description: 'Copies every event on the bus to the tap queue',
      // Events carry the sender's account, and only this account publishes here: this matches all of them.
      eventPattern: { account: [Stack.of(this).account] },
      targets: [new targets.SqsQueue(this.queue)],
    });
  }
}
