import { Duration } from 'aws-cdk-lib';
import { describe, expect, it } from 'vitest';
import { OUTBOX_PREFIX, PENDING_PK, SK } from '../../lambdas/outbox/keys';
import { CONTEXT_KEYS, InvalidContextError, stackPropsFromContext } from '../../lib/app-context';
import { arnOf, logicalIdOf, type Synthesized, synth } from '../helpers/synth';

const MAPPING = 'AWS::Lambda::EventSourceMapping';

/** The relay's mapping: the one on the table's stream (the consumers' mappings read queues). */
function mappingOf(synthesized: Synthesized): Record<string, unknown> {
  const streamArn = { 'Fn::GetAtt': [logicalIdOf(synthesized.stack.outboxTable.table), 'StreamArn'] };
  const mappings = Object.values(synthesized.template.findResources(MAPPING)).filter(
    (mapping) => JSON.stringify(mapping.Properties?.EventSourceArn) === JSON.stringify(streamArn),
  );
  expect(mappings).toHaveLength(1);
  return mappings[0]?.Properties as Record<string, unknown>;
}

describe('relay event source mapping', () => {
  it('reads the table stream from the trim horizon into the relay function', () => {
    const synthesized = synth('dev');
    const { table } = synthesized.stack.outboxTable;

    expect(mappingOf(synthesized)).toMatchObject({
      EventSourceArn: { 'Fn::GetAtt': [logicalIdOf(table), 'StreamArn'] },
      FunctionName: { Ref: logicalIdOf(synthesized.stack.relay.function) },
      StartingPosition: 'TRIM_HORIZON',
    });
  });

  it('reports partial batch failures, bisects, and gives up after bounded retries and age', () => {
    const mapping = mappingOf(synth('dev'));

    expect(mapping).toMatchObject({
      FunctionResponseTypes: ['ReportBatchItemFailures'],
      BisectBatchOnFunctionError: true,
      MaximumRetryAttempts: 10,
      MaximumRecordAgeInSeconds: 6 * 60 * 60,
      ParallelizationFactor: 1,
      BatchSize: 1000,
      MaximumBatchingWindowInSeconds: 1,
    });
    expect(mapping.MaximumRecordAgeInSeconds).toBeLessThanOrEqual(24 * 60 * 60);
  });

  it('sends the metadata of abandoned batches to the on-failure queue', () => {
    const synthesized = synth('dev');

    expect(mappingOf(synthesized).DestinationConfig).toEqual({
      OnFailure: { Destination: arnOf(synthesized.stack.relay.onFailureQueue) },
    });
  });

  it('admits only outbox items whose new image carries the pending marker', () => {
    const mapping = mappingOf(synth('dev')) as { FilterCriteria: { Filters: Array<{ Pattern: string }> } };

    const patterns = mapping.FilterCriteria.Filters.map((filter) => JSON.parse(filter.Pattern));

    expect(patterns).toEqual([
      {
        dynamodb: {
          Keys: { [SK]: { S: [{ prefix: OUTBOX_PREFIX }] } },
          NewImage: { [PENDING_PK]: { S: [{ exists: true }] } },
        },
      },
    ]);
  });
});

describe('relay function', () => {
  it('gets the table, bus, poison queue and delivered TTL through its environment', () => {
    const synthesized = synth('dev');
    const { stack, template } = synthesized;

    const variables =
      template.toJSON().Resources[logicalIdOf(stack.relay.function)].Properties.Environment.Variables;

    expect(variables).toMatchObject({
      TABLE_NAME: { Ref: logicalIdOf(stack.outboxTable.table) },
      EVENT_BUS_NAME: { Ref: logicalIdOf(stack.bus.eventBus) },
      POISON_QUEUE_URL: { Ref: logicalIdOf(stack.relay.poisonQueue) },
      DELIVERED_TTL_HOURS: '24',
    });
  });

  it('passes the deliveredTtlHours prop to the relay', () => {
    const synthesized = synth('dev', { deliveredTtlHours: 2 });

    const variables =
      synthesized.template.toJSON().Resources[logicalIdOf(synthesized.stack.relay.function)].Properties
        .Environment.Variables;

    expect(variables.DELIVERED_TTL_HOURS).toBe('2');
  });

  it('takes the batching window as a stack setting, 0 seconds included', () => {
    expect(mappingOf(synth('dev', { relayBatchingWindow: Duration.seconds(0) }))).toMatchObject({
      MaximumBatchingWindowInSeconds: 0,
    });
    expect(mappingOf(synth('dev', { relayBatchingWindow: Duration.seconds(5) }))).toMatchObject({
      MaximumBatchingWindowInSeconds: 5,
    });
  });

  it('reads the batching window from the context in whole seconds from 0 to 300', () => {
    const context = (value: unknown) => ({
      tryGetContext: (key: string) => (key === CONTEXT_KEYS.relayBatchingWindowSeconds ? value : undefined),
    });

    expect(stackPropsFromContext(context('0')).relayBatchingWindow?.toSeconds()).toBe(0);
    expect(stackPropsFromContext(context(2)).relayBatchingWindow?.toSeconds()).toBe(2);
    for (const bad of ['-1', '301', '0.5', 'soon']) {
      expect(() => stackPropsFromContext(context(bad))).toThrow(InvalidContextError);
    }
  });
});

describe('relay queues', () => {
  it.each(['poisonQueue', 'onFailureQueue'] as const)(
    'keeps the %s encrypted for 14 days and refuses plain HTTP',
    (name) => {
      const synthesized = synth('dev');
      const queue = synthesized.stack.relay[name];
      const resources = synthesized.template.toJSON().Resources;

      expect(resources[logicalIdOf(queue)].Properties).toMatchObject({
        SqsManagedSseEnabled: true,
        MessageRetentionPeriod: 14 * 24 * 60 * 60,
      });
      synthesized.template.hasResourceProperties('AWS::SQS::QueuePolicy', {
        Queues: [{ Ref: logicalIdOf(queue) }],
        PolicyDocument: {
          Statement: [
            {
              Effect: 'Deny',
              Action: 'sqs:*',
              Condition: { Bool: { 'aws:SecureTransport': 'false' } },
              Principal: { AWS: '*' },
              Resource: arnOf(queue),
            },
          ],
        },
      });
    },
  );

  it('retains the queues in prod', () => {
    const synthesized = synth('prod');

    const policy =
      synthesized.template.toJSON().Resources[logicalIdOf(synthesized.stack.relay.poisonQueue)]
        .DeletionPolicy;

    expect(policy).toBe('Retain');
  });
});
