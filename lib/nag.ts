/**
 * The cdk-nag (AwsSolutions) findings the outbox accepts, each acknowledged
 * on the one resource it concerns, for the one finding, with the reason.
 * Everything else cdk-nag reports is fixed in the constructs instead.
 *
 * cdk-nag 3 runs as a policy validation plugin and reads these
 * acknowledgments from construct metadata (`Validations.of(...).acknowledge`),
 * so this module needs no cdk-nag import: the checks themselves are enabled
 * by whoever synthesizes (test/infra/nag.test.ts, or
 * `Validations.of(app).addPlugins(new AwsSolutionsChecks(app))` in an app).
 */
import { Validations } from 'aws-cdk-lib';
import type * as sqs from 'aws-cdk-lib/aws-sqs';
import type { IConstruct } from 'constructs';
import type { TransactionalOutbox } from './outbox/transactional-outbox';
import type { OutboxStack } from './outbox-stack';
import { ServiceFunction } from './service-function';

/** The managed policy every function's role gets from CDK: CloudWatch Logs writes only. */
const BASIC_EXECUTION_ROLE =
  'Policy::arn:<AWS::Partition>:iam::aws:policy/service-role/AWSLambdaBasicExecutionRole';

/** An acknowledged finding: the rule (with its finding, where it has one) and why it stands. */
export interface NagAcknowledgment {
  /** e.g. `AwsSolutions-IAM5[Resource::*]`. */
  readonly id: string;
  /** Why the finding is acceptable here; shown in the validation report. */
  readonly reason: string;
}

/** Findings of every {@link ServiceFunction}'s execution role. */
export const FUNCTION_ROLE_ACKNOWLEDGMENTS: readonly NagAcknowledgment[] = [
  {
    id: `AwsSolutions-IAM4[${BASIC_EXECUTION_ROLE}]`,
    reason:
      'AWSLambdaBasicExecutionRole grants only logs:CreateLogGroup, logs:CreateLogStream and ' +
      'logs:PutLogEvents, which every function needs for its own log group; it is the policy AWS ' +
      'maintains for exactly this, and it grants no access to data.',
  },
];

/** Findings of every {@link ServiceFunction}'s inline (default) policy. */
export const FUNCTION_POLICY_ACKNOWLEDGMENTS: readonly NagAcknowledgment[] = [
  {
    id: 'AwsSolutions-IAM5[Resource::*]',
    reason:
      'Active tracing adds xray:PutTraceSegments and xray:PutTelemetryRecords, which support no ' +
      'resource-level permissions: AWS requires Resource "*" for them. Every other statement names ' +
      'its resource; test/infra/security.test.ts fails on any other wildcard.',
  },
];

/** Why a queue that is itself the last stop for failed messages has no dead-letter queue. */
const TERMINAL_QUEUE_REASONS = {
  poison:
    'The poison queue is itself the dead-letter destination of the relay: it parks events that can ' +
    'never be published, for an operator. Nothing consumes it with redrives, so a DLQ of its own ' +
    'would never receive a message; its depth alarm reports every arrival.',
  onFailure:
    'The on-failure queue is the dead-letter destination of the stream event source mapping: it ' +
    'holds the metadata of batches the poller gave up on. Nothing consumes it with redrives, so a ' +
    'DLQ of its own would never receive a message; its depth alarm reports every arrival.',
  ruleDeadLetter:
    "A consumer rule's dead-letter queue is itself the dead-letter destination of the EventBridge " +
    'target: it holds events the rule could not deliver to the consumer queue. Nothing consumes it ' +
    'with redrives (an operator does), so a DLQ of its own would never receive a message; its ' +
    'depth alarm reports every arrival.',
  tap:
    'The dev-only tap queue is an inspection copy of the bus, read by the e2e tests and people, not ' +
    'processed by a consumer: no message is ever received and failed, so a DLQ would stay empty.',
} as const;

/**
 * Acknowledges the findings the outbox accepts, on the resources of `stack`
 * that exist when it is called: call it last in the stack's constructor.
 */
export function acknowledgeNagFindings(stack: OutboxStack): void {
  acknowledgeOutboxNagFindings(stack.outbox);
  for (const fn of serviceFunctionsIn(stack.sample)) acknowledgeFunctionFindings(fn);
  if (stack.tap) acknowledgeTerminalQueue(stack.tap.queue, TERMINAL_QUEUE_REASONS.tap);
  // A consumer's own dead-letter queue needs nothing: it is a redrive target, which cdk-nag recognizes.
  for (const consumer of stack.consumers) {
    acknowledgeTerminalQueue(consumer.ruleDeadLetterQueue, TERMINAL_QUEUE_REASONS.ruleDeadLetter);
  }
}

/**
 * Acknowledges the findings a `TransactionalOutbox` accepts, in any stack:
 * its functions' managed logging policy and X-Ray wildcard, and the missing
 * dead-letter queues of its poison and on-failure queues (themselves the
 * last stops).
 */
export function acknowledgeOutboxNagFindings(outbox: TransactionalOutbox): void {
  for (const fn of serviceFunctionsIn(outbox)) acknowledgeFunctionFindings(fn);
  acknowledgeTerminalQueue(outbox.relay.poisonQueue, TERMINAL_QUEUE_REASONS.poison);
  acknowledgeTerminalQueue(outbox.relay.onFailureQueue, TERMINAL_QUEUE_REASONS.onFailure);
}

function serviceFunctionsIn(scope: IConstruct): ServiceFunction[] {
  return scope.node.findAll().filter((construct) => construct instanceof ServiceFunction);
}

/** The managed logging policy on the function's role, and X-Ray's `*` in its default policy. */
function acknowledgeFunctionFindings(fn: ServiceFunction): void {
  const role = fn.role;
  if (!role) return;
  Validations.of(role).acknowledge(...FUNCTION_ROLE_ACKNOWLEDGMENTS);
  const policy: IConstruct | undefined = role.node.tryFindChild('DefaultPolicy');
  if (policy) Validations.of(policy).acknowledge(...FUNCTION_POLICY_ACKNOWLEDGMENTS);
}

/** SQS3 (no dead-letter queue) on a queue that is itself where failed messages end. */
function acknowledgeTerminalQueue(queue: sqs.IQueue, reason: string): void {
  Validations.of(queue).acknowledge({ id: 'AwsSolutions-SQS3', reason });
}
