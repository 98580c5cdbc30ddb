import { readFileSync } from 'node:fs';
import { App } from 'aws-cdk-lib';
import { Match, Template } from 'aws-cdk-lib/assertions';
import * as sqs from 'aws-cdk-lib/aws-sqs';
import { describe, expect, it } from 'vitest';
import { PENDING_INDEX } from '../../lambdas/outbox/keys';
import { RELAY_METRICS } from '../../lambdas/outbox/relay';
import { SWEEPER_METRICS } from '../../lambdas/outbox/sweeper';
import { InvalidContextError, stackPropsFromContext } from '../../lib/app-context';
import { OUTBOX_METRICS, RELAY_SERVICE_NAME, SWEEPER_SERVICE_NAME } from '../../lib/outbox/outbox-monitoring';
import { OutboxStack } from '../../lib/outbox-stack';
import { arnOf, logicalIdOf, type Synthesized, synth } from '../helpers/synth';

const ALARM = 'AWS::CloudWatch::Alarm';
const OPERATIONS_DOC = readFileSync(new URL('../../docs/operations.md', import.meta.url), 'utf8');

interface AlarmResource {
  readonly Properties: Record<string, unknown> & {
    readonly AlarmName: string;
    readonly AlarmDescription: string;
    readonly AlarmActions: unknown[];
    readonly OKActions: unknown[];
  };
}

function alarmsOf(synthesized: Synthesized): AlarmResource[] {
  return Object.values(synthesized.template.findResources(ALARM)) as AlarmResource[];
}

function topicRef(synthesized: Synthesized): { Ref: string } {
  return { Ref: logicalIdOf(synthesized.stack.monitoring.topic) };
}

/** A single-metric alarm's properties, as the template must hold them. */
interface ExpectedAlarm {
  readonly name: string;
  readonly namespace: string;
  readonly metricName: string;
  readonly dimensions: unknown;
  readonly statistic: string;
  readonly period: number;
  readonly comparison: string;
  readonly threshold: number;
  readonly evaluationPeriods: number;
  readonly datapointsToAlarm: number;
  readonly treatMissingData: string;
}

function singleMetricAlarms(synthesized: Synthesized): ExpectedAlarm[] {
  const { relay } = synthesized.stack;
  const relayFunction = [{ Name: 'FunctionName', Value: { Ref: logicalIdOf(relay.function) } }];
  const queue = (construct: sqs.IQueue) => [
    { Name: 'QueueName', Value: { 'Fn::GetAtt': [logicalIdOf(construct), 'QueueName'] } },
  ];
  const base = { period: 300, evaluationPeriods: 1, datapointsToAlarm: 1, treatMissingData: 'notBreaching' };
  const greaterThanZero = { comparison: 'GreaterThanThreshold', threshold: 0 };
  return [
    {
      ...base,
      ...greaterThanZero,
      name: 'relay-errors',
      namespace: 'AWS/Lambda',
      metricName: 'Errors',
      dimensions: relayFunction,
      statistic: 'Sum',
    },
    {
      ...base,
      name: 'relay-iterator-age',
      namespace: 'AWS/Lambda',
      metricName: 'IteratorAge',
      dimensions: relayFunction,
      statistic: 'Maximum',
      period: 60,
      comparison: 'GreaterThanThreshold',
      threshold: 60_000,
      evaluationPeriods: 3,
      datapointsToAlarm: 3,
    },
    {
      ...base,
      ...greaterThanZero,
      name: 'on-failure-queue-depth',
      namespace: 'AWS/SQS',
      metricName: 'ApproximateNumberOfMessagesVisible',
      dimensions: queue(relay.onFailureQueue),
      statistic: 'Maximum',
    },
    {
      ...base,
      ...greaterThanZero,
      name: 'poison-queue-depth',
      namespace: 'AWS/SQS',
      metricName: 'ApproximateNumberOfMessagesVisible',
      dimensions: queue(relay.poisonQueue),
      statistic: 'Maximum',
    },
    {
      ...base,
      ...greaterThanZero,
      name: 'publish-failures',
      namespace: 'Outbox',
      metricName: 'PublishFailures',
      dimensions: [{ Name: 'service', Value: 'outbox-relay' }],
      statistic: 'Sum',
    },
    {
      ...base,
      name: 'oldest-pending-age',
      namespace: 'Outbox',
      metricName: 'OldestPendingAgeSeconds',
      dimensions: [{ Name: 'service', Value: 'outbox-sweeper' }],
      statistic: 'Maximum',
      comparison: 'GreaterThanThreshold',
      threshold: 900,
    },
    {
      ...base,
      name: 'sweeper-silent',
      namespace: 'Outbox',
      metricName: 'OldestPendingAgeSeconds',
      dimensions: [{ Name: 'service', Value: 'outbox-sweeper' }],
      statistic: 'SampleCount',
      comparison: 'LessThanThreshold',
      threshold: 1,
      evaluationPeriods: 3,
      datapointsToAlarm: 3,
      treatMissingData: 'breaching',
    },
  ];
}

describe('alarm topic', () => {
  it('is encrypted with a rotated customer-managed key that CloudWatch may use', () => {
    const synthesized = synth('prod');
    const { topic, topicKey } = synthesized.stack.monitoring;

    synthesized.template.hasResourceProperties('AWS::SNS::Topic', { KmsMasterKeyId: arnOf(topicKey) });
    synthesized.template.hasResourceProperties('AWS::KMS::Key', {
      EnableKeyRotation: true,
      KeyPolicy: {
        Statement: Match.arrayWith([
          Match.objectLike({
            Effect: 'Allow',
            Principal: { Service: 'cloudwatch.amazonaws.com' },
            Action: ['kms:Decrypt', 'kms:GenerateDataKey*'],
          }),
        ]),
      },
    });
    expect(topic.masterKey).toBe(topicKey);
  });

  it('refuses publishing without TLS and admits only this account alarms', () => {
    const synthesized = synth('prod');
    const topic = { Ref: logicalIdOf(synthesized.stack.monitoring.topic) };

    synthesized.template.hasResourceProperties('AWS::SNS::TopicPolicy', {
      Topics: [topic],
      PolicyDocument: {
        Statement: Match.arrayWith([
          Match.objectLike({
            Effect: 'Deny',
            Action: 'sns:Publish',
            Condition: { Bool: { 'aws:SecureTransport': 'false' } },
            Resource: topic,
          }),
          Match.objectLike({
            Effect: 'Allow',
            Principal: { Service: 'cloudwatch.amazonaws.com' },
            Action: 'sns:Publish',
            Resource: topic,
            Condition: {
              ArnLike: { 'aws:SourceArn': Match.anyValue() },
              StringEquals: { 'aws:SourceAccount': { Ref: 'AWS::AccountId' } },
            },
          }),
        ]),
      },
    });
  });

  it('has no subscription without alarmEmail', () => {
    synth('prod').template.resourceCountIs('AWS::SNS::Subscription', 0);
    synth('dev').template.resourceCountIs('AWS::SNS::Subscription', 0);
  });

  it('subscribes alarmEmail by email', () => {
    const synthesized = synth('prod', { alarmEmail: 'oncall@example.com' });

    synthesized.template.resourceCountIs('AWS::SNS::Subscription', 1);
    synthesized.template.hasResourceProperties('AWS::SNS::Subscription', {
      Protocol: 'email',
      Endpoint: 'oncall@example.com',
      TopicArn: topicRef(synthesized),
    });
  });

  it('refuses an alarmEmail that is not an email address', () => {
    const app = new App({ context: { 'aws:cdk:bundling-stacks': [] } });

    expect(() => new OutboxStack(app, 'Outbox-dev', { stage: 'dev', alarmEmail: 'oncall' })).toThrow(
      /alarmEmail must be an email address/,
    );
  });
});

describe('alarmEmail context', () => {
  it('is read into the stack props', () => {
    const context = new App({ context: { stage: 'prod', alarmEmail: ' oncall@example.com ' } }).node;

    expect(stackPropsFromContext(context)).toEqual({ stage: 'prod', alarmEmail: 'oncall@example.com' });
  });

  it('is left out when absent or empty', () => {
    expect(stackPropsFromContext(new App({ context: { alarmEmail: '' } }).node)).toEqual({ stage: 'dev' });
  });

  it('is refused when it is not an email address', () => {
    const context = new App({ context: { alarmEmail: 'oncall' } }).node;

    expect(() => stackPropsFromContext(context)).toThrow(InvalidContextError);
    expect(() => stackPropsFromContext(context)).toThrow(/alarmEmail must be an email address/);
  });
});

describe('alarms', () => {
  for (const stage of ['dev', 'prod'] as const) {
    it(`in ${stage}, notify the topic when they fire and when they recover`, () => {
      const synthesized = synth(stage);
      const alarms = alarmsOf(synthesized);

      expect(alarms.length).toBeGreaterThan(0);
      for (const alarm of alarms) {
        expect(alarm.Properties.AlarmActions, alarm.Properties.AlarmName).toEqual([topicRef(synthesized)]);
        expect(alarm.Properties.OKActions, alarm.Properties.AlarmName).toEqual([topicRef(synthesized)]);
      }
    });
  }

  it('are named after the stack and give their threshold, missing-data choice and runbook section', () => {
    const alarms = alarmsOf(synth('prod'));

    for (const { Properties: alarm } of alarms) {
      expect(alarm.AlarmName).toMatch(/^Outbox-prod-[a-z0-9-]+$/);
      expect(alarm.AlarmDescription, alarm.AlarmName).toMatch(/Threshold/);
      expect(alarm.AlarmDescription, alarm.AlarmName).toMatch(/Missing data is (not )?breaching/);
      const section = /Runbook: docs\/operations\.md#([a-z0-9-]+)$/.exec(alarm.AlarmDescription)?.[1];
      expect(section, alarm.AlarmName).toBeDefined();
      expect(OPERATIONS_DOC, `docs/operations.md has no section ${section}`).toMatch(
        new RegExp(`^#+ .*\\b${section}\\b`, 'm'),
      );
    }
  });

  it('are exactly the documented set plus one throttles alarm per function', () => {
    const synthesized = synth('prod');
    const functionCount = Object.keys(synthesized.template.findResources('AWS::Lambda::Function')).length;

    const names = alarmsOf(synthesized).map((alarm) =>
      alarm.Properties.AlarmName.replace('Outbox-prod-', ''),
    );

    const fixed = names.filter((name) => !name.startsWith('throttles-') && !name.startsWith('dlq-'));
    expect(fixed.sort()).toEqual([
      'api-5xx-rate',
      'api-latency-p99',
      'oldest-pending-age',
      'on-failure-queue-depth',
      'poison-queue-depth',
      'publish-failures',
      'relay-errors',
      'relay-iterator-age',
      'sweeper-silent',
      'table-system-errors',
      'table-throttles',
    ]);
    expect(names.filter((name) => name.startsWith('throttles-'))).toHaveLength(functionCount);
  });

  for (const stage of ['dev', 'prod'] as const) {
    it(`in ${stage}, watch every single-metric condition with its statistic, threshold and periods`, () => {
      const synthesized = synth(stage);

      for (const expected of singleMetricAlarms(synthesized)) {
        synthesized.template.hasResourceProperties(ALARM, {
          AlarmName: `Outbox-${stage}-${expected.name}`,
          Namespace: expected.namespace,
          MetricName: expected.metricName,
          Dimensions: expected.dimensions,
          Statistic: expected.statistic,
          Period: expected.period,
          ComparisonOperator: expected.comparison,
          Threshold: expected.threshold,
          EvaluationPeriods: expected.evaluationPeriods,
          DatapointsToAlarm: expected.datapointsToAlarm,
          TreatMissingData: expected.treatMissingData,
          AlarmActions: [topicRef(synthesized)],
        });
      }
    });
  }

  it('alarm on throttles of every Lambda function in the stack', () => {
    const synthesized = synth('dev');
    const functionIds = Object.keys(synthesized.template.findResources('AWS::Lambda::Function'));

    expect(functionIds.length).toBeGreaterThan(0);
    for (const functionId of functionIds) {
      synthesized.template.hasResourceProperties(ALARM, {
        AlarmName: Match.stringLikeRegexp('^Outbox-dev-throttles-'),
        Namespace: 'AWS/Lambda',
        MetricName: 'Throttles',
        Dimensions: [{ Name: 'FunctionName', Value: { Ref: functionId } }],
        Statistic: 'Sum',
        Period: 300,
        ComparisonOperator: 'GreaterThanThreshold',
        Threshold: 0,
        EvaluationPeriods: 1,
        TreatMissingData: 'notBreaching',
        AlarmActions: [topicRef(synthesized)],
      });
    }
  });

  for (const stage of ['dev', 'prod'] as const) {
    it(`in ${stage}, alarm on the first message of every queue where failed messages end`, () => {
      const synthesized = synth(stage);
      const resources = synthesized.template.toJSON().Resources as Record<
        string,
        { Type: string; Properties?: Record<string, unknown> }
      >;
      const arnRefs: unknown[] = [];
      for (const resource of Object.values(resources)) {
        const properties = resource.Properties ?? {};
        if (resource.Type === 'AWS::SQS::Queue') {
          arnRefs.push(
            (properties.RedrivePolicy as { deadLetterTargetArn?: unknown } | undefined)?.deadLetterTargetArn,
          );
        }
        if (resource.Type === 'AWS::Events::Rule') {
          for (const target of (properties.Targets ?? []) as { DeadLetterConfig?: { Arn?: unknown } }[]) {
            arnRefs.push(target.DeadLetterConfig?.Arn);
          }
        }
        if (resource.Type === 'AWS::Lambda::EventSourceMapping') {
          const destination = properties.DestinationConfig as
            | { OnFailure?: { Destination?: unknown } }
            | undefined;
          arnRefs.push(destination?.OnFailure?.Destination);
        }
      }
      // Parked poison events end on the poison queue, which no configuration points at.
      arnRefs.push(arnOf(synthesized.stack.relay.poisonQueue));
      const queueIds = arnRefs.flatMap((ref) => {
        const getAtt = (ref as { 'Fn::GetAtt'?: [string, string] } | undefined)?.['Fn::GetAtt'];
        return getAtt && resources[getAtt[0]]?.Type === 'AWS::SQS::Queue' ? [getAtt[0]] : [];
      });

      expect(queueIds.length).toBeGreaterThanOrEqual(2);
      for (const queueId of new Set(queueIds)) {
        synthesized.template.hasResourceProperties(ALARM, {
          Namespace: 'AWS/SQS',
          MetricName: 'ApproximateNumberOfMessagesVisible',
          Dimensions: [{ Name: 'QueueName', Value: { 'Fn::GetAtt': [queueId, 'QueueName'] } }],
          Statistic: 'Maximum',
          ComparisonOperator: 'GreaterThanThreshold',
          Threshold: 0,
          AlarmActions: [topicRef(synthesized)],
        });
      }
    });
  }

  it('alarm on a 5xx rate above 1 % over at least 20 requests, in 2 of 3 periods', () => {
    const synthesized = synth('prod');
    const api = { Ref: logicalIdOf(synthesized.stack.api.httpApi) };

    synthesized.template.hasResourceProperties(ALARM, {
      AlarmName: 'Outbox-prod-api-5xx-rate',
      ComparisonOperator: 'GreaterThanThreshold',
      Threshold: 1,
      EvaluationPeriods: 3,
      DatapointsToAlarm: 2,
      TreatMissingData: 'notBreaching',
      AlarmActions: [topicRef(synthesized)],
      Metrics: Match.arrayWith([
        Match.objectLike({ Expression: 'IF(requests >= 20, 100 * errors / requests, 0)', ReturnData: true }),
        {
          Id: 'errors',
          ReturnData: false,
          MetricStat: {
            Metric: {
              Namespace: 'AWS/ApiGateway',
              MetricName: '5xx',
              Dimensions: [{ Name: 'ApiId', Value: api }],
            },
            Period: 300,
            Stat: 'Sum',
          },
        },
        {
          Id: 'requests',
          ReturnData: false,
          MetricStat: {
            Metric: {
              Namespace: 'AWS/ApiGateway',
              MetricName: 'Count',
              Dimensions: [{ Name: 'ApiId', Value: api }],
            },
            Period: 300,
            Stat: 'SampleCount',
          },
        },
      ]),
    });
  });

  it('alarm on a p99 API latency above 1000 ms for 3 periods', () => {
    const synthesized = synth('prod');

    synthesized.template.hasResourceProperties(ALARM, {
      AlarmName: 'Outbox-prod-api-latency-p99',
      Namespace: 'AWS/ApiGateway',
      MetricName: 'Latency',
      Dimensions: [{ Name: 'ApiId', Value: { Ref: logicalIdOf(synthesized.stack.api.httpApi) } }],
      ExtendedStatistic: 'p99',
      Period: 300,
      ComparisonOperator: 'GreaterThanThreshold',
      Threshold: 1000,
      EvaluationPeriods: 3,
      DatapointsToAlarm: 3,
      TreatMissingData: 'notBreaching',
      AlarmActions: [topicRef(synthesized)],
    });
  });

  it('alarm on any DynamoDB system error, summed over at most 10 operations', () => {
    const synthesized = synth('prod');
    const table = { Ref: logicalIdOf(synthesized.stack.outboxTable.table) };
    const alarm = alarmsOf(synthesized).find((candidate) =>
      candidate.Properties.AlarmName.endsWith('-table-system-errors'),
    );
    if (!alarm) throw new Error('no table-system-errors alarm');

    expect(alarm.Properties).toMatchObject({
      ComparisonOperator: 'GreaterThanThreshold',
      Threshold: 0,
      EvaluationPeriods: 1,
      TreatMissingData: 'notBreaching',
    });
    const metrics = alarm.Properties.Metrics as { MetricStat?: { Metric: Record<string, unknown> } }[];
    const stats = metrics.flatMap((metric) => (metric.MetricStat ? [metric.MetricStat] : []));
    // CloudWatch takes at most 10 metrics in one alarm's math.
    expect(stats.length).toBeLessThanOrEqual(10);
    for (const stat of stats) {
      expect(stat).toMatchObject({
        Metric: {
          Namespace: 'AWS/DynamoDB',
          MetricName: 'SystemErrors',
          Dimensions: expect.anything(),
        },
        Period: 300,
        Stat: 'Sum',
      });
    }
    const operations = stats.map((stat) => JSON.stringify(stat.Metric.Dimensions));
    for (const operation of [
      'GetItem',
      'PutItem',
      'UpdateItem',
      'TransactWriteItems',
      'Query',
      'GetRecords',
    ]) {
      expect(operations).toContain(
        JSON.stringify([
          { Name: 'Operation', Value: operation },
          { Name: 'TableName', Value: table },
        ]),
      );
    }
  });

  it('alarm on any read or write throttle of the table and its pending index', () => {
    const synthesized = synth('prod');
    const table = { Ref: logicalIdOf(synthesized.stack.outboxTable.table) };
    const stat = (metricName: string, dimensions: unknown[]) =>
      Match.objectLike({
        MetricStat: {
          Metric: { Namespace: 'AWS/DynamoDB', MetricName: metricName, Dimensions: dimensions },
          Period: 300,
          Stat: 'Sum',
        },
      });
    const tableOnly = [{ Name: 'TableName', Value: table }];
    const index = [{ Name: 'GlobalSecondaryIndexName', Value: PENDING_INDEX }, ...tableOnly];

    synthesized.template.hasResourceProperties(ALARM, {
      AlarmName: 'Outbox-prod-table-throttles',
      ComparisonOperator: 'GreaterThanThreshold',
      Threshold: 0,
      EvaluationPeriods: 1,
      TreatMissingData: 'notBreaching',
      AlarmActions: [topicRef(synthesized)],
      Metrics: Match.arrayWith([
        Match.objectLike({ Expression: 'tableReads + tableWrites + indexReads + indexWrites' }),
        stat('ReadThrottleEvents', tableOnly),
        stat('WriteThrottleEvents', tableOnly),
        stat('ReadThrottleEvents', index),
        stat('WriteThrottleEvents', index),
      ]),
    });
  });

  it('read the relay metrics under the names and service the relay emits them with', () => {
    const synthesized = synth('prod');

    expect({
      published: OUTBOX_METRICS.eventsPublished,
      retried: OUTBOX_METRICS.eventsRetried,
      publishFailures: OUTBOX_METRICS.publishFailures,
      poisoned: OUTBOX_METRICS.eventsPoisoned,
      markFailures: OUTBOX_METRICS.markFailures,
      publishLag: OUTBOX_METRICS.publishLag,
      healed: OUTBOX_METRICS.eventsHealed,
    }).toEqual(RELAY_METRICS);
    const relay = synthesized.template.toJSON().Resources[logicalIdOf(synthesized.stack.relay.function)];
    expect(relay.Properties.Environment.Variables).toMatchObject({
      POWERTOOLS_SERVICE_NAME: RELAY_SERVICE_NAME,
      POWERTOOLS_METRICS_NAMESPACE: 'Outbox',
    });
  });

  it('read the sweeper metrics under the names and service the sweeper emits them with', () => {
    const synthesized = synth('prod');

    expect({
      oldestPendingAge: OUTBOX_METRICS.oldestPendingAgeSeconds,
      pending: OUTBOX_METRICS.pendingEvents,
      republished: OUTBOX_METRICS.eventsRepublished,
      poisoned: OUTBOX_METRICS.eventsPoisoned,
      failures: OUTBOX_METRICS.sweepFailures,
    }).toEqual(SWEEPER_METRICS);
    const sweeper = synthesized.template.toJSON().Resources[logicalIdOf(synthesized.stack.sweeper.function)];
    expect(sweeper.Properties.Environment.Variables).toMatchObject({
      POWERTOOLS_SERVICE_NAME: SWEEPER_SERVICE_NAME,
      POWERTOOLS_METRICS_NAMESPACE: 'Outbox',
    });
  });
});

describe('consumer dead-letter queue alarms', () => {
  it('are added per queue, alarm on the first message and notify the topic', () => {
    const app = new App({ context: { 'aws:cdk:bundling-stacks': [] } });
    const stack = new OutboxStack(app, 'Outbox-prod', { stage: 'prod' });
    const queue = new sqs.Queue(stack, 'ProjectionDlq', { encryption: sqs.QueueEncryption.SQS_MANAGED });

    const alarm = stack.monitoring.addDeadLetterQueueAlarm('order-projection', queue);
    const template = Template.fromStack(stack);

    expect(stack.monitoring.alarms.get('dlq-order-projection')).toBe(alarm);
    template.hasResourceProperties(ALARM, {
      AlarmName: 'Outbox-prod-dlq-order-projection',
      Namespace: 'AWS/SQS',
      MetricName: 'ApproximateNumberOfMessagesVisible',
      Dimensions: [{ Name: 'QueueName', Value: { 'Fn::GetAtt': [logicalIdOf(queue), 'QueueName'] } }],
      Statistic: 'Maximum',
      Period: 300,
      ComparisonOperator: 'GreaterThanThreshold',
      Threshold: 0,
      EvaluationPeriods: 1,
      TreatMissingData: 'notBreaching',
      AlarmActions: [{ Ref: logicalIdOf(stack.monitoring.topic) }],
      AlarmDescription: Match.stringLikeRegexp('docs/operations.md#consumer-dead-letter-queues$'),
    });
  });

  it('refuse a name that is not kebab case', () => {
    const app = new App({ context: { 'aws:cdk:bundling-stacks': [] } });
    const stack = new OutboxStack(app, 'Outbox-dev', { stage: 'dev' });
    const queue = new sqs.Queue(stack, 'Dlq');

    expect(() => stack.monitoring.addDeadLetterQueueAlarm('Order Projection', queue)).toThrow(/kebab case/);
  });
});

describe('dashboard', () => {
  it('shows writes, published events, lag, failures and pending events', () => {
    const synthesized = synth('prod');

    synthesized.template.resourceCountIs('AWS::CloudWatch::Dashboard', 1);
    synthesized.template.hasResourceProperties('AWS::CloudWatch::Dashboard', {
      DashboardName: 'Outbox-prod',
    });
    const [dashboard] = Object.values(synthesized.template.findResources('AWS::CloudWatch::Dashboard'));
    const body = JSON.stringify(dashboard?.Properties?.DashboardBody);

    for (const shown of [
      '\\"AWS/ApiGateway\\",\\"Count\\"',
      '\\"ConsumedWriteCapacityUnits\\"',
      '\\"Outbox\\",\\"EventsPublished\\",\\"service\\",\\"outbox-relay\\"',
      '\\"IteratorAge\\"',
      '\\"Outbox\\",\\"OldestPendingAgeSeconds\\",\\"service\\",\\"outbox-sweeper\\"',
      '\\"AWS/Lambda\\",\\"Errors\\"',
      '\\"PublishFailures\\"',
      '\\"Outbox\\",\\"EventsRepublished\\",\\"service\\",\\"outbox-sweeper\\"',
      '\\"Outbox\\",\\"SweepFailures\\",\\"service\\",\\"outbox-sweeper\\"',
      '\\"EventsPoisoned\\"',
      '\\"ApproximateNumberOfMessagesVisible\\"',
      '\\"Outbox\\",\\"PendingEvents\\",\\"service\\",\\"outbox-sweeper\\"',
      '\\"type\\":\\"alarm\\"',
    ]) {
      expect(body).toContain(shown);
    }
  });
});
