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
});
