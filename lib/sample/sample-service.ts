/**
 * The sample service, one user of the outbox: the members and orders HTTP
 * API (its command handlers are outbox writers), the notifications and
 * member-activity consumers, and in dev the tap queue. It adds its alarms
 * and dashboard widgets to the outbox's monitoring.
 */
import { RemovalPolicy } from 'aws-cdk-lib';
import { Construct } from 'constructs';
import { OutboxConsumer } from '../outbox/outbox-consumer';
import type { TransactionalOutbox } from '../outbox/transactional-outbox';
import { ServiceFunction } from '../service-function';
import { EventTap } from './event-tap';
import { EVENT_SOURCE, type JwtAuthorization, SampleApi } from './sample-api';
import { sampleHandlerEntry } from './sample-handlers';

/** The member events the sample emits. */
const MEMBER_EVENTS = ['MemberRegistered', 'MemberProfileUpdated', 'MemberWithdrawn'];
/** The order events the sample emits. */
const ORDER_EVENTS = ['OrderPlaced', 'OrderCancelled'];

/** Properties of a {@link SampleService}. */
export interface SampleServiceProps {
  /** The outbox the service writes its events through. */
  readonly outbox: TransactionalOutbox;
  /**
   * Name of the HTTP API.
   * @default - CloudFormation generates one
   */
  readonly apiName?: string;
  /**
   * Authorize the API with JWTs instead of IAM.
   * @default - IAM authorization on every route
   */
  readonly jwt?: JwtAuthorization;
  /**
   * Sender address of the notifications consumer's mails; it (or its domain) must be a verified SES identity.
   * @default 'no-reply@example.com'
   */
  readonly mailFromAddress?: string;
  /**
   * Add the tap queue, a copy of every event on the bus for inspection and the e2e tests.
   * @default false
   */
  readonly eventTap?: boolean;
  /**
   * What happens to the queues and log groups when they leave the stack.
   * @default RemovalPolicy.RETAIN
   */
  readonly removalPolicy?: RemovalPolicy;
}

/** The members and orders sample: API, consumers and the optional tap. */
export class SampleService extends Construct {
  /** The HTTP API. */
  readonly api: SampleApi;
  /** The tap queue copying every event on the bus; only with `eventTap`. */
  readonly tap?: EventTap;
  /** The consumers: welcome and farewell mails, and the member-activity read model. */
  readonly consumers: readonly OutboxConsumer[];

  constructor(scope: Construct, id: string, props: SampleServiceProps) {
    super(scope, id);
    const { outbox } = props;
    const removalPolicy = props.removalPolicy ?? RemovalPolicy.RETAIN;

    this.api = new SampleApi(this, 'Api', {
      outbox,
      removalPolicy,
      ...(props.apiName === undefined ? {} : { apiName: props.apiName }),
      ...(props.jwt ? { jwt: props.jwt } : {}),
    });
    if (props.eventTap) this.tap = new EventTap(this, 'Tap', { eventBus: outbox.eventBus, removalPolicy });
    this.consumers = [
      new OutboxConsumer(this, 'NotificationsConsumer', {
        consumerName: 'notifications',
        entry: sampleHandlerEntry('notifications'),
        table: outbox.table,
        eventBus: outbox.eventBus,
        eventPattern: { source: [EVENT_SOURCE], detailType: MEMBER_EVENTS },
        mailFromAddress: props.mailFromAddress ?? 'no-reply@example.com',
        removalPolicy,
      }),
      new OutboxConsumer(this, 'MemberActivityConsumer', {
        consumerName: 'member-activity',
        entry: sampleHandlerEntry('member-activity'),
        table: outbox.table,
        eventBus: outbox.eventBus,
        eventPattern: { source: [EVENT_SOURCE], detailType: [...MEMBER_EVENTS, ...ORDER_EVENTS] },
        removalPolicy,
      }),
    ];

    const { monitoring } = outbox;
    monitoring.addApi(this.api.httpApi);
    for (const fn of this.node.findAll().filter((construct) => construct instanceof ServiceFunction)) {
      monitoring.addThrottlesAlarm(fn);
    }
    for (const consumer of this.consumers) {
      monitoring.addDeadLetterQueueAlarm(consumer.consumerName, consumer.deadLetterQueue);
      monitoring.addDeadLetterQueueAlarm(`${consumer.consumerName}-rule`, consumer.ruleDeadLetterQueue);
    }
  }
}
