/**
 * What the deploy to LocalStack produced, read back through LocalStack's
 * APIs and compared with the deployed template: every function Active, the
 * relay's stream mapping Enabled with the stack's filter, partial batch
 * responses, retries, record age and on-failure destination, each consumer's
 * queue mapping Enabled, and every alarm present.
 */
import { CloudWatchClient, DescribeAlarmsCommand } from '@aws-sdk/client-cloudwatch';
import {
  type EventSourceMappingConfiguration,
  GetFunctionConfigurationCommand,
} from '@aws-sdk/client-lambda';
import { GetQueueAttributesCommand } from '@aws-sdk/client-sqs';
import { beforeAll, describe, expect, it } from 'vitest';
import { type DeployedStack, readDeployedStack } from './localstack-api';
import { eventSourceMappings, localStackClients } from './localstack-target';

const stackName = process.env.E2E_STACK ?? 'Outbox-dev';
const clients = localStackClients();
let stack: DeployedStack;
let mappings: Awaited<ReturnType<typeof eventSourceMappings>>;

function resourcesOf(type: string) {
  return Object.entries(stack.template.Resources).filter(([, resource]) => resource.Type === type);
}

function physicalId(logicalId: string): string {
  const id = stack.physicalIds.get(logicalId);
  if (!id) throw new Error(`resource ${logicalId} of ${stackName} was not deployed`);
  return id;
}

/** The logical id a `{"Ref": id}` or `{"Fn::GetAtt": [id, ...]}` points at. */
function referenced(value: unknown): string {
  const reference = value as { Ref?: string; 'Fn::GetAtt'?: [string, string] } | undefined;
  const id = reference?.Ref ?? reference?.['Fn::GetAtt']?.[0];
  if (!id) throw new Error(`not a reference: ${JSON.stringify(value)}`);
  return id;
}

async function queueArn(logicalId: string): Promise<string> {
  const output = await clients.sqs.send(
    new GetQueueAttributesCommand({ QueueUrl: physicalId(logicalId), AttributeNames: ['QueueArn'] }),
  );
  return output.Attributes?.QueueArn ?? '';
}

function mappingOf(functionLogicalId: string): EventSourceMappingConfiguration {
  const name = physicalId(functionLogicalId);
  const found = mappings.all.filter((mapping) => mapping.FunctionArn?.split(':').at(-1) === name);
  expect(found, `event source mappings of ${name}`).toHaveLength(1);
  return found[0] as EventSourceMappingConfiguration;
}

beforeAll(async () => {
  stack = await readDeployedStack(clients.cloudFormation, stackName);
  mappings = await eventSourceMappings(clients.lambda);
});

describe('the dev stack deployed to LocalStack with cdklocal', () => {
  it('has every function of the template, each Active', async () => {
    const functions = resourcesOf('AWS::Lambda::Function');
    expect(functions.length).toBeGreaterThanOrEqual(11);

    for (const [logicalId] of functions) {
      const configuration = await clients.lambda.send(
        new GetFunctionConfigurationCommand({ FunctionName: physicalId(logicalId) }),
      );
      expect({ logicalId, state: configuration.State, runtime: configuration.Runtime }).toEqual({
        logicalId,
        state: 'Active',
        runtime: 'nodejs24.x',
      });
    }
  });

  it("has the relay's stream mapping Enabled with the stack's filter, partial batch responses, retries, record age and on-failure queue", async () => {
    const [[, resource] = ['', undefined]] = resourcesOf('AWS::Lambda::EventSourceMapping').filter(
      ([, candidate]) => JSON.stringify(candidate.Properties?.EventSourceArn).includes('StreamArn'),
    );
    const wanted = resource?.Properties ?? {};
    const mapping = mappingOf(referenced(wanted.FunctionName));
    const destination = (wanted.DestinationConfig as { OnFailure: { Destination: unknown } }).OnFailure
      .Destination;

    expect(mapping.State).toBe('Enabled');
    expect(mapping.EventSourceArn).toMatch(/^arn:aws:dynamodb:.*\/stream\//);
    expect(mapping.FilterCriteria?.Filters?.map((filter) => JSON.parse(filter.Pattern ?? ''))).toEqual(
      (wanted.FilterCriteria as { Filters: { Pattern: string }[] }).Filters.map((filter) =>
        JSON.parse(filter.Pattern),
      ),
    );
    expect(mapping.FunctionResponseTypes).toEqual(['ReportBatchItemFailures']);
    expect(mapping.MaximumRetryAttempts).toBe(wanted.MaximumRetryAttempts);
    expect(mapping.MaximumRecordAgeInSeconds).toBe(wanted.MaximumRecordAgeInSeconds);
    expect(mapping.BatchSize).toBe(wanted.BatchSize);
    expect(mapping.StartingPosition).toBe(wanted.StartingPosition);
    expect(mapping.DestinationConfig?.OnFailure?.Destination).toBe(await queueArn(referenced(destination)));
  });

  it("has each consumer's queue mapping Enabled with partial batch responses", async () => {
    const queueMappings = resourcesOf('AWS::Lambda::EventSourceMapping').filter(
      ([, candidate]) => !JSON.stringify(candidate.Properties?.EventSourceArn).includes('StreamArn'),
    );
    expect(queueMappings.length).toBeGreaterThanOrEqual(2);

    for (const [, resource] of queueMappings) {
      const wanted = resource.Properties ?? {};
      const mapping = mappingOf(referenced(wanted.FunctionName));

      expect(mapping.State).toBe('Enabled');
      expect(mapping.EventSourceArn).toBe(await queueArn(referenced(wanted.EventSourceArn)));
      expect(mapping.FunctionResponseTypes).toEqual(['ReportBatchItemFailures']);
      expect(mapping.BatchSize).toBe(wanted.BatchSize);
    }
  });

  it('has every alarm of the template', async () => {
    const wanted = resourcesOf('AWS::CloudWatch::Alarm').map(([logicalId]) => physicalId(logicalId));
    expect(wanted.length).toBeGreaterThan(0);
    const cloudWatch = new CloudWatchClient(clients.config);
    const found = new Set<string>();
    let nextToken: string | undefined;
    do {
      const page = await cloudWatch.send(new DescribeAlarmsCommand({ NextToken: nextToken }));
      for (const alarm of page.MetricAlarms ?? []) if (alarm.AlarmName) found.add(alarm.AlarmName);
      for (const alarm of page.CompositeAlarms ?? []) if (alarm.AlarmName) found.add(alarm.AlarmName);
      nextToken = page.NextToken;
    } while (nextToken);

    expect(wanted.filter((name) => !found.has(name))).toEqual([]);
  });
});
