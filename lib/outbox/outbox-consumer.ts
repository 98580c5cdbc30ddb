/**
 * A subscriber of the outbox bus in a few lines (DESIGN.md section 6):
 * EventBridge rule -> encrypted SQS queue with a DLQ -> Lambda function with
 * partial batch responses, bounded concurrency, and exactly the rights the
 * consumer helper (lambdas/consumer) and its logic use.
 */
import { Duration, RemovalPolicy, Stack } from 'aws-cdk-lib';
import type * as dynamodb from 'aws-cdk-lib/aws-dynamodb';
import * as events from 'aws-cdk-lib/aws-events';
import * as targets from 'aws-cdk-lib/aws-events-targets';
import * as iam from 'aws-cdk-lib/aws-iam';
import { SqsEventSource } from 'aws-cdk-lib/aws-lambda-event-sources';
import * as sqs from 'aws-cdk-lib/aws-sqs';
import { Construct } from 'constructs';
import { MAIL_FROM_ENV } from '../../lambdas/consumer/env';
import { ServiceFunction, type TableAction } from '../service-function';

/**
 * What Powertools Idempotency does on the table: GetItem reads a record,
 * PutItem claims an event, UpdateItem completes it, DeleteItem releases it
 * after a failure.
 */
export const IDEMPOTENCY_TABLE_ACTIONS: readonly TableAction[] = [
  'GetItem',
  'PutItem',
  'UpdateItem',
  'DeleteItem',
];

/**
 * AWS recommends a queue visibility timeout of at least six times the
 * function's timeout (plus the batching window), so a message is not
 * delivered again while a throttled or retried invocation still holds it
 * (Lambda developer guide, "Using Lambda with Amazon SQS").
 */
export const VISIBILITY_TIMEOUT_FACTOR = 6;

const CONSUMER_NAME_PATTERN = /^[a-z][a-z0-9-]{0,39}$/;
const MAIL_ADDRESS_PATTERN = /^[^\s@]+@([A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)+)$/;

/** Properties of an {@link OutboxConsumer}. */
export interface OutboxConsumerProps {
  /**
   * Kebab-case name of the consumer, e.g. `notifications`: its Powertools
   * service name, and the name its handler gives the consumer helper.
   */
  readonly consumerName: string;
  /**
   * Path of the consumer's handler file (as `NodejsFunction`'s `entry`), e.g.
   * `fileURLToPath(new URL('./welcome-user.ts', import.meta.url))`. It exports
   * `handler`, usually made by `createConsumer` (lambdas/consumer), and is
   * bundled with esbuild like every function of the outbox.
   */
  readonly entry: string;
  /** The outbox table: idempotency records and the consumer's read model live there. */
  readonly table: dynamodb.ITable;
  /** The bus the relay publishes to. */
  readonly eventBus: events.IEventBus;
  /** Which events the consumer receives, e.g. `{ detailType: ['MemberRegistered'] }`. */
  readonly eventPattern: events.EventPattern;
  /**
   * Table actions the consumer's logic uses beyond those of idempotency
   * ({@link IDEMPOTENCY_TABLE_ACTIONS}), e.g. `Query`.
   * @default - none
   */
  readonly tableActions?: readonly TableAction[];
  /**
   * Sender address of a consumer that sends mail through Amazon SES. Sets
   * `MAIL_FROM_ADDRESS` and allows `ses:SendEmail` only from this address,
   * on its own identity and on its domain's.
   * @default - the consumer sends no mail
   */
  readonly mailFromAddress?: string;
  /**
   * Messages per invocation.
   * @default 10
   */
  readonly batchSize?: number;
  /**
   * How long Lambda gathers messages before invoking, when the batch is not full.
   * @default - no batching window
   */
  readonly maxBatchingWindow?: Duration;
  /**
   * Most concurrent invocations the queue's event source starts (2 to 1000),
   * so a backlog cannot exhaust the account's concurrency or the table.
   * @default 2
   */
  readonly maxConcurrency?: number;
  /**
   * Receives of a message before SQS moves it to the dead-letter queue.
   * @default 5
   */
  readonly maxReceiveCount?: number;
  /**
   * Function timeout; the queue's visibility timeout is
   * {@link VISIBILITY_TIMEOUT_FACTOR} times this plus the batching window.
   * @default Duration.seconds(30)
   */
  readonly timeout?: Duration;
  /**
   * Memory of the function in MB.
   * @default 512
   */
  readonly memorySize?: number;
  /**
   * Attempts of the rule to deliver an event to the queue before the rule's
   * dead-letter queue takes it.
   * @default 185
   */
  readonly retryAttempts?: number;
  /**
   * Longest time the rule keeps retrying an event (60 seconds to 24 hours).
   * @default Duration.hours(24)
   */
  readonly maxEventAge?: Duration;
  /**
   * Plain configuration variables of the function.
   * @default - none
   */
  readonly environment?: Readonly<Record<string, string>>;
  /**
   * What happens to the queues and the log group when they leave the stack.
   * @default RemovalPolicy.RETAIN
   */
  readonly removalPolicy?: RemovalPolicy;
}

/** An EventBridge rule, its queues and the consumer function behind them. */
export class OutboxConsumer extends Construct {
  /** The consumer's name. */
  readonly consumerName: string;
  /** The rule selecting the consumer's events. */
  readonly rule: events.Rule;
  /** The queue the rule delivers to and the function reads from. */
  readonly queue: sqs.Queue;
  /** Messages the function failed on `maxReceiveCount` times. */
  readonly deadLetterQueue: sqs.Queue;
  /** Events the rule could not deliver to the queue. */
  readonly ruleDeadLetterQueue: sqs.Queue;
  /** The consumer function. */
  readonly function: ServiceFunction;

  constructor(scope: Construct, id: string, props: OutboxConsumerProps) {
    super(scope, id);
    if (!CONSUMER_NAME_PATTERN.test(props.consumerName)) {
      throw new Error(`consumerName must be kebab case, got ${props.consumerName}`);
    }
    const maxConcurrency = props.maxConcurrency ?? 2;
    if (!Number.isInteger(maxConcurrency) || maxConcurrency < 2 || maxConcurrency > 1000) {
      throw new Error(`maxConcurrency must be an integer from 2 to 1000, got ${maxConcurrency}`);
    }
    const maxReceiveCount = props.maxReceiveCount ?? 5;
    if (!Number.isInteger(maxReceiveCount) || maxReceiveCount < 1 || maxReceiveCount > 1000) {
      throw new Error(`maxReceiveCount must be an integer from 1 to 1000, got ${maxReceiveCount}`);
    }
    this.consumerName = props.consumerName;
    const removalPolicy = props.removalPolicy ?? RemovalPolicy.RETAIN;
    const timeout = props.timeout ?? Duration.seconds(30);
    const batchingWindow = props.maxBatchingWindow ?? Duration.seconds(0);

    // SQS-managed keys: EventBridge can send to them without a key policy.
    const queueDefaults = { encryption: sqs.QueueEncryption.SQS_MANAGED, enforceSSL: true, removalPolicy };
    this.deadLetterQueue = new sqs.Queue(this, 'DeadLetterQueue', {
      ...queueDefaults,
      retentionPeriod: Duration.days(14),
    });
    this.queue = new sqs.Queue(this, 'Queue', {
      ...queueDefaults,
      visibilityTimeout: Duration.seconds(
        VISIBILITY_TIMEOUT_FACTOR * timeout.toSeconds() + batchingWindow.toSeconds(),
      ),
      retentionPeriod: Duration.days(4),
      deadLetterQueue: { queue: this.deadLetterQueue, maxReceiveCount },
    });
    this.ruleDeadLetterQueue = new sqs.Queue(this, 'RuleDeadLetterQueue', {
      ...queueDefaults,
      retentionPeriod: Duration.days(14),
    });

    this.rule = new events.Rule(this, 'Rule', {
      eventBus: props.eventBus,
      description: `Delivers the events of consumer ${props.consumerName} to its queue`,
      eventPattern: props.eventPattern,
      targets: [
        new targets.SqsQueue(this.queue, {
          retryAttempts: props.retryAttempts ?? 185,
          maxEventAge: props.maxEventAge ?? Duration.hours(24),
          deadLetterQueue: this.ruleDeadLetterQueue,
        }),
      ],
    });

    this.function = new ServiceFunction(this, 'Function', {
      entry: props.entry,
      handlerName: props.consumerName,
      serviceName: props.consumerName,
      timeout,
      removalPolicy,
      ...(props.memorySize === undefined ? {} : { memorySize: props.memorySize }),
      ...(props.environment === undefined ? {} : { environment: props.environment }),
    });
    this.function.useTable(props.table, [...IDEMPOTENCY_TABLE_ACTIONS, ...(props.tableActions ?? [])]);
    if (props.mailFromAddress !== undefined) this.allowMailFrom(props.mailFromAddress);
    this.function.addEventSource(
      new SqsEventSource(this.queue, {
        batchSize: props.batchSize ?? 10,
        maxConcurrency,
        reportBatchItemFailures: true,
        ...(props.maxBatchingWindow === undefined ? {} : { maxBatchingWindow: props.maxBatchingWindow }),
      }),
    );
  }

  /** Sets the sender address and allows sending from it alone, with its grant (see `mailFromAddress`). */
  private allowMailFrom(address: string): void {
    const match = MAIL_ADDRESS_PATTERN.exec(address);
    const domain = match?.[1];
    if (!domain) throw new Error(`mailFromAddress must be an email address, got ${JSON.stringify(address)}`);
    this.function.addEnvironment(MAIL_FROM_ENV, address);
    const stack = Stack.of(this);
    this.function.addToRolePolicy(
      new iam.PolicyStatement({
        actions: ['ses:SendEmail'],
        // SES authorizes against the identity that verifies the sender: the address or its domain.
        resources: [address, domain].map((identity) =>
          stack.formatArn({ service: 'ses', resource: 'identity', resourceName: identity }),
        ),
        conditions: { StringEquals: { 'ses:FromAddress': address } },
      }),
    );
  }
}
