import { App, Duration, Stack } from 'aws-cdk-lib';
import { Match, Template } from 'aws-cdk-lib/assertions';
import * as dynamodb from 'aws-cdk-lib/aws-dynamodb';
import * as events from 'aws-cdk-lib/aws-events';
import { describe, expect, it } from 'vitest';
import { OutboxConsumer } from '../../lib/outbox/outbox-consumer';
import { sampleHandlerEntry } from '../../lib/sample/sample-handlers';
import { arnOf, logicalIdOf, statementsOfFunction, statementsWithAction, synth } from '../helpers/synth';

const IDEMPOTENCY_ACTIONS = [
  'dynamodb:GetItem',
  'dynamodb:PutItem',
  'dynamodb:UpdateItem',
  'dynamodb:DeleteItem',
];

function consumerOf(name: string): OutboxConsumer {
  const consumer = synth('dev').stack.consumers.find((each) => each.consumerName === name);
  if (!consumer) throw new Error(`the stack has no consumer ${name}`);
  return consumer;
}

describe('sample consumers', () => {
  it.each(['notifications', 'member-activity'])('wires %s in both stages', (name) => {
    for (const stage of ['dev', 'prod'] as const) {
      expect(synth(stage).stack.consumers.map((consumer) => consumer.consumerName)).toContain(name);
    }
  });

  it("routes each consumer's events by source and detail-type to its own queue, with a retry policy and a DLQ", () => {
    const { template } = synth('dev');
    const consumer = consumerOf('member-activity');

    template.hasResourceProperties('AWS::Events::Rule', {
      EventBusName: { Ref: logicalIdOf(synth('dev').stack.bus.eventBus) },
      EventPattern: {
        source: ['com.example.members'],
        'detail-type': Match.arrayWith(['MemberWithdrawn', 'OrderPlaced', 'OrderCancelled']),
      },
      Targets: [
        Match.objectLike({
          Arn: arnOf(consumer.queue),
          RetryPolicy: { MaximumRetryAttempts: 185, MaximumEventAgeInSeconds: 86400 },
          DeadLetterConfig: { Arn: arnOf(consumer.ruleDeadLetterQueue) },
        }),
      ],
    });
  });

  it('gives each queue a DLQ after 5 receives and a visibility timeout of 6x the function timeout', () => {
    const { template } = synth('dev');
    const consumer = consumerOf('notifications');

    template.hasResourceProperties('AWS::SQS::Queue', {
      RedrivePolicy: { deadLetterTargetArn: arnOf(consumer.deadLetterQueue), maxReceiveCount: 5 },
      VisibilityTimeout: 180,
      SqsManagedSseEnabled: true,
    });
    template.hasResourceProperties('AWS::Lambda::Function', {
      Description: 'lambdas/sample/handlers/notifications.ts',
      Timeout: 30,
    });
  });

  it('encrypts every consumer queue and refuses plain HTTP on it', () => {
    const { template } = synth('dev');
    for (const consumer of synth('dev').stack.consumers) {
      for (const queue of [consumer.queue, consumer.deadLetterQueue, consumer.ruleDeadLetterQueue]) {
        const resource = template.toJSON().Resources[logicalIdOf(queue)];
        expect(resource.Properties.SqsManagedSseEnabled).toBe(true);
        template.hasResourceProperties('AWS::SQS::QueuePolicy', {
          Queues: [{ Ref: logicalIdOf(queue) }],
          PolicyDocument: {
            Statement: Match.arrayWith([
              Match.objectLike({ Effect: 'Deny', Condition: { Bool: { 'aws:SecureTransport': 'false' } } }),
            ]),
          },
        });
      }
    }
  });

  it('reads the queue with partial batch responses and bounded concurrency', () => {
    const { template } = synth('dev');

    for (const consumer of synth('dev').stack.consumers) {
      template.hasResourceProperties('AWS::Lambda::EventSourceMapping', {
        EventSourceArn: arnOf(consumer.queue),
        FunctionName: { Ref: logicalIdOf(consumer.function) },
        BatchSize: 10,
        FunctionResponseTypes: ['ReportBatchItemFailures'],
        ScalingConfig: { MaximumConcurrency: 2 },
      });
    }
  });

  it('grants each consumer exactly the idempotency actions on the table, nothing on indexes', () => {
    const synthesized = synth('dev');
    for (const consumer of synthesized.stack.consumers) {
      const statements = statementsWithAction(
        statementsOfFunction(synthesized, consumer.function),
        'dynamodb:',
      );

      expect(statements).toEqual([
        {
          Effect: 'Allow',
          Action: IDEMPOTENCY_ACTIONS,
          Resource: [arnOf(synthesized.stack.outboxTable.table)],
        },
      ]);
    }
  });

  it('lets only notifications send mail, from its address only', () => {
    const synthesized = synth('dev');
    const notifications = statementsWithAction(
      statementsOfFunction(synthesized, consumerOf('notifications').function),
      'ses:',
    );
    const activity = statementsWithAction(
      statementsOfFunction(synthesized, consumerOf('member-activity').function),
      'ses:',
    );

    expect(activity).toEqual([]);
    expect(notifications).toHaveLength(1);
    expect(notifications[0]?.Action).toEqual(['ses:SendEmail']);
    const resources = JSON.stringify(notifications[0]?.Resource);
    expect(resources).toContain(':identity/no-reply@example.com');
    expect(resources).toContain(':identity/example.com');
    expect(resources).not.toMatch(/"\*"/);
    synth('dev').template.hasResourceProperties('AWS::IAM::Policy', {
      PolicyDocument: {
        Statement: Match.arrayWith([
          Match.objectLike({
            Action: 'ses:SendEmail',
            Condition: { StringEquals: { 'ses:FromAddress': 'no-reply@example.com' } },
          }),
        ]),
      },
    });
  });

  it('alarms on every consumer dead-letter queue', () => {
    const { monitoring } = synth('dev').stack;

    for (const name of ['notifications', 'member-activity']) {
      expect(monitoring.alarms.has(`dlq-${name}`)).toBe(true);
      expect(monitoring.alarms.has(`dlq-${name}-rule`)).toBe(true);
    }
  });
});

describe('OutboxConsumer', () => {
  function build(props: Partial<ConstructorParameters<typeof OutboxConsumer>[2]> = {}): Template {
    const app = new App({ context: { 'aws:cdk:bundling-stacks': [] } });
    const stack = new Stack(app, 'Test');
    const table = new dynamodb.Table(stack, 'Table', {
      partitionKey: { name: 'pk', type: dynamodb.AttributeType.STRING },
      sortKey: { name: 'sk', type: dynamodb.AttributeType.STRING },
    });
    new OutboxConsumer(stack, 'Consumer', {
      consumerName: 'test',
      entry: sampleHandlerEntry('member-activity'),
      table,
      eventBus: new events.EventBus(stack, 'Bus'),
      eventPattern: { detailType: ['X'] },
      ...props,
    });
    return Template.fromStack(stack);
  }

  it('sizes the visibility timeout from the function timeout and batching window, and takes its settings', () => {
    const template = build({
      timeout: Duration.seconds(20),
      maxBatchingWindow: Duration.seconds(5),
      maxReceiveCount: 3,
      maxConcurrency: 7,
      batchSize: 25,
    });

    template.hasResourceProperties('AWS::SQS::Queue', {
      VisibilityTimeout: 125,
      RedrivePolicy: Match.objectLike({ maxReceiveCount: 3 }),
    });
    template.hasResourceProperties('AWS::Lambda::EventSourceMapping', {
      BatchSize: 25,
      MaximumBatchingWindowInSeconds: 5,
      ScalingConfig: { MaximumConcurrency: 7 },
    });
  });

  it.each([
    [{ maxConcurrency: 1 }, /maxConcurrency/],
    [{ maxReceiveCount: 0 }, /maxReceiveCount/],
    [{ consumerName: 'Not Kebab' }, /consumerName/],
    [{ mailFromAddress: 'nobody' }, /mailFromAddress/],
  ])('refuses %o', (props, message) => {
    expect(() => build(props)).toThrow(message);
  });
});
