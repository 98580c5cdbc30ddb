import { Match } from 'aws-cdk-lib/assertions';
import { describe, expect, it } from 'vitest';
import { arnOf, logicalIdOf, synth } from '../helpers/synth';

const EVERY_EVENT_OF_THE_ACCOUNT = { account: [{ Ref: 'AWS::AccountId' }] };

describe('event bus', () => {
  it('is named after the stage', () => {
    synth('dev').template.hasResourceProperties('AWS::Events::EventBus', { Name: 'outbox-dev' });
    synth('prod').template.hasResourceProperties('AWS::Events::EventBus', { Name: 'outbox-prod' });
  });

  it('archives every event on the bus for 30 days', () => {
    const synthesized = synth('prod');

    synthesized.template.resourceCountIs('AWS::Events::Archive', 1);
    synthesized.template.hasResourceProperties('AWS::Events::Archive', {
      SourceArn: arnOf(synthesized.stack.bus.eventBus),
      EventPattern: EVERY_EVENT_OF_THE_ACCOUNT,
      RetentionDays: 30,
    });
  });
});

describe('event tap', () => {
  it('copies every event on the bus to an encrypted queue in dev', () => {
    const synthesized = synth('dev');
    const { tap, bus } = synthesized.stack;
    if (!tap) throw new Error('the dev stack has no tap');

    synthesized.template.resourcePropertiesCountIs(
      'AWS::Events::Rule',
      { EventPattern: EVERY_EVENT_OF_THE_ACCOUNT },
      1,
    );
    synthesized.template.hasResourceProperties('AWS::Events::Rule', {
      EventBusName: { Ref: logicalIdOf(bus.eventBus) },
      EventPattern: EVERY_EVENT_OF_THE_ACCOUNT,
      State: 'ENABLED',
      Targets: [{ Arn: arnOf(tap.queue), Id: 'Target0' }],
    });
    expect(synthesized.template.toJSON().Resources[logicalIdOf(tap.queue)].Properties).toMatchObject({
      SqsManagedSseEnabled: true,
    });
  });

  it('lets only EventBridge rules of this stack send to the tap queue', () => {
    const synthesized = synth('dev');
    const { tap } = synthesized.stack;
    if (!tap) throw new Error('the dev stack has no tap');

    synthesized.template.hasResourceProperties('AWS::SQS::QueuePolicy', {
      Queues: [{ Ref: logicalIdOf(tap.queue) }],
      PolicyDocument: {
        Statement: Match.arrayWith([
          Match.objectLike({
            Effect: 'Allow',
            Action: ['sqs:SendMessage', 'sqs:GetQueueAttributes', 'sqs:GetQueueUrl'],
            Principal: { Service: 'events.amazonaws.com' },
            Condition: { ArnEquals: { 'aws:SourceArn': arnOf(tap.rule) } },
            Resource: arnOf(tap.queue),
          }),
        ]),
      },
    });
  });

  it('does not exist in prod', () => {
    const synthesized = synth('prod');

    expect(synthesized.stack.tap).toBeUndefined();
    synthesized.template.resourcePropertiesCountIs(
      'AWS::Events::Rule',
      { EventPattern: EVERY_EVENT_OF_THE_ACCOUNT },
      0,
    );
    // The relay's poison and on-failure queues, and each consumer's queue, DLQ and rule DLQ.
    synthesized.template.resourceCountIs('AWS::SQS::Queue', 2 + 2 * 3);
  });
});
