import { describe, expect, it } from 'vitest';
import { logicalIdOf, synth } from '../helpers/synth';

describe('outbox stack', () => {
  it('is named after its stage', () => {
    expect(synth('dev').stack.stackName).toBe('Outbox-dev');
    expect(synth('prod').stack.stackName).toBe('Outbox-prod');
  });

  it('outputs the table, its stream, the bus, the API URL, the poison queue and, in dev, the tap queue', () => {
    const { stack, template } = synth('dev');
    const { table } = stack.outboxTable;
    const tap = stack.tap;
    if (!tap) throw new Error('the dev stack has no tap');

    expect(template.toJSON().Outputs).toMatchObject({
      TableName: { Value: { Ref: logicalIdOf(table) } },
      TableStreamArn: { Value: { 'Fn::GetAtt': [logicalIdOf(table), 'StreamArn'] } },
      EventBusName: { Value: { Ref: logicalIdOf(stack.bus.eventBus) } },
      ApiUrl: { Value: stack.resolve(stack.api.url) },
      PoisonQueueUrl: { Value: { Ref: logicalIdOf(stack.relay.poisonQueue) } },
      TapQueueUrl: { Value: { Ref: logicalIdOf(tap.queue) } },
    });
  });

  it('outputs no tap queue in prod', () => {
    const outputs = synth('prod').template.toJSON().Outputs;

    expect(Object.keys(outputs).sort()).toEqual([
      'ApiUrl',
      'EventBusName',
      'PoisonQueueUrl',
      'TableName',
      'TableStreamArn',
    ]);
  });

  it('serves the API at the $default stage URL', () => {
    const { stack } = synth('dev');

    const url = JSON.stringify(stack.resolve(stack.api.url));

    expect(url).toContain(JSON.stringify({ Ref: logicalIdOf(stack.api.httpApi) }));
    expect(url).toMatch(/^\{"Fn::Join":\["",\["https:\/\/",.*"\/"\]\]\}$/);
  });

  it('keeps the logical ids its resources had before the outbox and the sample became constructs', () => {
    // Generated ids on purpose: in a deployed stack a new logical id replaces the
    // retained table, queues and API (a new URL), and a new stream mapping reads
    // the stream again from its trim horizon.
    const { stack, template } = synth('prod');

    expect({
      table: logicalIdOf(stack.outboxTable.table),
      bus: logicalIdOf(stack.bus.eventBus),
      poisonQueue: logicalIdOf(stack.relay.poisonQueue),
      onFailureQueue: logicalIdOf(stack.relay.onFailureQueue),
      api: logicalIdOf(stack.api.httpApi),
      consumerQueue: logicalIdOf(stack.consumers[0]?.queue ?? stack),
    }).toEqual({
      table: 'OutboxTable23220A39',
      bus: 'BusEventBus016AB1B4',
      poisonQueue: 'RelayPoisonQueue26040A23',
      onFailureQueue: 'RelayOnFailureQueue77DD6BC5',
      api: 'ApiHttpApi4C294DC0',
      consumerQueue: 'NotificationsConsumerQueue0F800B24',
    });
    expect(Object.keys(template.findResources('AWS::Lambda::EventSourceMapping')).sort()).toEqual([
      'MemberActivityConsumerFunctionSqsEventSourceOutboxprodMemberActivityConsumerQueue17A0700B63BD7D39',
      'NotificationsConsumerFunctionSqsEventSourceOutboxprodNotificationsConsumerQueue16977D9948BF1B74',
      'RelayFunctionDynamoDBEventSourceOutboxprodOutboxTableABF6F229C97DA713',
    ]);
  });

  it('composes the outbox and the sample service that writes through it', () => {
    const { stack } = synth('dev');

    expect(stack.outbox.table).toBe(stack.outboxTable.table);
    expect(stack.relay).toBe(stack.outbox.relay);
    expect(stack.api).toBe(stack.sample.api);
    expect(stack.outbox.node.scope).toBe(stack);
    expect(stack.sample.node.scope).toBe(stack);
  });
});
