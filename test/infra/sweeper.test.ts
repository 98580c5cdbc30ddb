import { App, Duration, Stack } from 'aws-cdk-lib';
import { Match, Template } from 'aws-cdk-lib/assertions';
import { AttributeType, TableV2 } from 'aws-cdk-lib/aws-dynamodb';
import { EventBus, Schedule } from 'aws-cdk-lib/aws-events';
import { Queue } from 'aws-cdk-lib/aws-sqs';
import { describe, expect, it } from 'vitest';
import { PENDING_INDEX } from '../../lambdas/outbox/keys';
import { OutboxSweeper, type OutboxSweeperProps } from '../../lib/outbox/outbox-sweeper';
import {
  arnOf,
  logicalIdOf,
  type Statement,
  type Synthesized,
  statementsOfFunction,
  statementsWithAction,
  synth,
} from '../helpers/synth';

/** Every action granted on `resource`, sorted. */
function actionsOn(statements: readonly Statement[], resource: unknown): string[] {
  return statements
    .filter((statement) =>
      statement.Resource.some((candidate) => JSON.stringify(candidate) === JSON.stringify(resource)),
    )
    .flatMap((statement) => statement.Action)
    .sort();
}

function sweeperProperties(synthesized: Synthesized): Record<string, unknown> {
  return synthesized.template.toJSON().Resources[logicalIdOf(synthesized.stack.sweeper.function)].Properties;
}

function sweeperVariables(synthesized: Synthesized): Record<string, unknown> {
  return (sweeperProperties(synthesized) as { Environment: { Variables: Record<string, unknown> } })
    .Environment.Variables;
}

/** An OutboxSweeper alone in a scratch stack, with its template. */
function scratchSweeper(props: Partial<OutboxSweeperProps> = {}): {
  sweeper: OutboxSweeper;
  template: Template;
} {
  const stack = new Stack(new App({ context: { 'aws:cdk:bundling-stacks': [] } }), 'Scratch');
  const table = new TableV2(stack, 'Table', { partitionKey: { name: 'pk', type: AttributeType.STRING } });
  const sweeper = new OutboxSweeper(stack, 'Sweeper', {
    table,
    eventBus: new EventBus(stack, 'Bus'),
    poisonQueue: new Queue(stack, 'Poison'),
    ...props,
  });
  return { sweeper, template: Template.fromStack(stack) };
}

describe('sweeper schedule', () => {
  it('runs the sweeper every five minutes from a rule on the default bus', () => {
    const synthesized = synth('dev');
    const { sweeper } = synthesized.stack;

    const rule = synthesized.template.toJSON().Resources[logicalIdOf(sweeper.rule)];

    expect(rule.Properties).toMatchObject({
      ScheduleExpression: 'rate(5 minutes)',
      State: 'ENABLED',
      Targets: [{ Arn: arnOf(sweeper.function) }],
    });
    // Scheduled rules exist only on the default bus: no EventBusName.
    expect(rule.Properties.EventBusName).toBeUndefined();
  });

  it('lets only its rule invoke the sweeper', () => {
    const synthesized = synth('dev');
    const { sweeper } = synthesized.stack;

    synthesized.template.hasResourceProperties('AWS::Lambda::Permission', {
      Action: 'lambda:InvokeFunction',
      FunctionName: arnOf(sweeper.function),
      Principal: 'events.amazonaws.com',
      SourceArn: arnOf(sweeper.rule),
    });
  });

  it('takes another schedule', () => {
    const { sweeper, template } = scratchSweeper({ schedule: Schedule.rate(Duration.minutes(15)) });

    template.hasResourceProperties('AWS::Events::Rule', {
      ScheduleExpression: 'rate(15 minutes)',
      Targets: [Match.objectLike({ Arn: arnOf(sweeper.function) })],
    });
  });
});

describe('sweeper function', () => {
  it('is the sweeper handler under the outbox-sweeper service, with a timeout shorter than its schedule', () => {
    const synthesized = synth('dev');

    expect(sweeperProperties(synthesized)).toMatchObject({ Timeout: 180, MemorySize: 512 });
    expect(sweeperProperties(synthesized).Timeout).toBeLessThan(5 * 60);
    expect(synthesized.stack.sweeper.function.handlerName).toBe('sweeper');
    expect(sweeperVariables(synthesized)).toMatchObject({
      POWERTOOLS_SERVICE_NAME: 'outbox-sweeper',
      POWERTOOLS_METRICS_NAMESPACE: 'Outbox',
    });
  });

  it('gets the table, bus, poison queue, delivered TTL and threshold through its environment', () => {
    const synthesized = synth('dev');
    const { stack } = synthesized;

    expect(sweeperVariables(synthesized)).toMatchObject({
      TABLE_NAME: { Ref: logicalIdOf(stack.outboxTable.table) },
      EVENT_BUS_NAME: { Ref: logicalIdOf(stack.bus.eventBus) },
      POISON_QUEUE_URL: { Ref: logicalIdOf(stack.relay.poisonQueue) },
      DELIVERED_TTL_HOURS: '24',
      SWEEPER_THRESHOLD_SECONDS: '300',
    });
  });

  it('passes the stack’s deliveredTtlHours and its own threshold', () => {
    const synthesized = synth('dev', { deliveredTtlHours: 2 });
    const { template } = scratchSweeper({ thresholdSeconds: 900 });

    expect(sweeperVariables(synthesized).DELIVERED_TTL_HOURS).toBe('2');
    template.hasResourceProperties('AWS::Lambda::Function', {
      Environment: { Variables: Match.objectLike({ SWEEPER_THRESHOLD_SECONDS: '900' }) },
    });
  });

  it.each([0, -1, Number.NaN])('refuses a threshold of %s seconds', (thresholdSeconds) => {
    expect(() => scratchSweeper({ thresholdSeconds })).toThrow(/thresholdSeconds/);
  });
});

describe('sweeper permissions', () => {
  it('allow exactly PartiQLUpdate, UpdateItem and Query on the table and Scan on the pending index', () => {
    const synthesized = synth('dev');
    const { table } = synthesized.stack.outboxTable;
    const statements = statementsOfFunction(synthesized, synthesized.stack.sweeper.function);
    const indexArn = { 'Fn::Join': ['', [arnOf(table), `/index/${PENDING_INDEX}`]] };

    const dynamo = statementsWithAction(statements, 'dynamodb:');

    expect(actionsOn(dynamo, arnOf(table))).toEqual([
      'dynamodb:PartiQLUpdate',
      'dynamodb:Query',
      'dynamodb:UpdateItem',
    ]);
    expect(actionsOn(dynamo, indexArn)).toEqual(['dynamodb:Scan']);
    expect(
      dynamo
        .flatMap((statement) => statement.Resource)
        .every((resource) =>
          [arnOf(table), indexArn].some((r) => JSON.stringify(r) === JSON.stringify(resource)),
        ),
    ).toBe(true);
  });

  it('allow publishing to the outbox bus only', () => {
    const synthesized = synth('dev');
    const statements = statementsOfFunction(synthesized, synthesized.stack.sweeper.function);

    expect(statementsWithAction(statements, 'events:')).toEqual([
      { Effect: 'Allow', Action: ['events:PutEvents'], Resource: [arnOf(synthesized.stack.bus.eventBus)] },
    ]);
  });

  it('allow only sqs:SendMessage, on the poison queue', () => {
    const synthesized = synth('dev');
    const statements = statementsOfFunction(synthesized, synthesized.stack.sweeper.function);

    expect(statementsWithAction(statements, 'sqs:')).toEqual([
      {
        Effect: 'Allow',
        Action: ['sqs:SendMessage'],
        Resource: [arnOf(synthesized.stack.relay.poisonQueue)],
      },
    ]);
  });
});
