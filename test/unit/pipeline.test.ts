/**
 * The publishing pipeline the relay and the republishing share, under each
 * stop policy: what a failure stops, what is marked, what is parked.
 */
import { EventBridgeClient, PutEventsCommand, type PutEventsCommandInput } from '@aws-sdk/client-eventbridge';
import { SendMessageCommand, SQSClient } from '@aws-sdk/client-sqs';
import { BatchExecuteStatementCommand, DynamoDBDocumentClient, UpdateCommand } from '@aws-sdk/lib-dynamodb';
import { mockClient } from 'aws-sdk-client-mock';
import { allCustomMatcher } from 'aws-sdk-client-mock-vitest';
import type {} from 'aws-sdk-client-mock-vitest/extend';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { OutboxItem } from '../../lambdas/outbox/envelope';
import { MAX_PUT_EVENTS_BYTES } from '../../lambdas/outbox/limits';
import {
  eventWork,
  Pipeline,
  type PipelineUnit,
  poisonWork,
  type StoppedAggregate,
} from '../../lambdas/outbox/pipeline';
import {
  acceptAll,
  acceptStatements,
  labelOf,
  type RelayFakes,
  relayFakes,
  respond,
  serviceError,
  statementKey,
  TEST_BUS,
} from '../helpers/relay-harness';
import { keyOf, outboxItem, undecodableRecord } from '../helpers/stream-records';

expect.extend(allCustomMatcher);

const eventBridge = mockClient(EventBridgeClient);
const ddb = mockClient(DynamoDBDocumentClient);
const sqs = mockClient(SQSClient);

/** Labels (`aggregate#sequence`) of the entries of every PutEvents call, in call order. */
function callLabels(): string[][] {
  return eventBridge
    .commandCalls(PutEventsCommand)
    .map((call) => (call.args[0].input.Entries ?? []).map(labelOf));
}

/** Keys named by the delivered-mark statements, in call order. */
function deliveredKeys(): { pk: unknown; sk: unknown }[] {
  return ddb
    .commandCalls(BatchExecuteStatementCommand)
    .flatMap((call) => (call.args[0].input.Statements ?? []).map(statementKey));
}

/** Units of `aggregates` x `sequences` events, aggregate by aggregate, each in sequence order. */
function events(aggregates: readonly number[], sequences: readonly number[]): OutboxItem[] {
  return aggregates.flatMap((aggregateId) =>
    sequences.map((sequence) => outboxItem({ aggregateId, sequence })),
  );
}

function unitsOf(items: readonly OutboxItem[]): PipelineUnit[] {
  return items.map((item) => eventWork(item, keyOf(item), TEST_BUS));
}

/** A unit for an item that did not decode: poison in its aggregate's place. */
function undecodable(item: OutboxItem): PipelineUnit {
  return poisonWork(item.pk, {
    reason: 'undecodable',
    detail: 'eventId is missing',
    key: keyOf(item),
    record: undecodableRecord(item),
  });
}

describe('pipeline', () => {
  let fakes: RelayFakes;

  beforeEach(() => {
    fakes = relayFakes();
    eventBridge.on(PutEventsCommand).callsFake(acceptAll);
    ddb.on(BatchExecuteStatementCommand).callsFake(acceptStatements);
    ddb.on(UpdateCommand).resolves({});
    sqs.on(SendMessageCommand).resolves({ MessageId: 'm-1' });
  });

  afterEach(() => {
    eventBridge.reset();
    ddb.reset();
    sqs.reset();
  });

  describe('units', () => {
    it('makes an event over the PutEvents size limit oversize poison instead of an entry', () => {
      const item = outboxItem({ data: { blob: 'x'.repeat(MAX_PUT_EVENTS_BYTES) } });

      const unit = eventWork(item, keyOf(item), TEST_BUS);

      expect(unit).toMatchObject({
        aggregate: item.pk,
        entries: 0,
        bytes: 0,
        poison: { reason: 'oversize' },
      });
      expect(unit.entry).toBeUndefined();
    });
  });

  describe('both policies', () => {
    it.each(['batch', 'aggregate'] as const)(
      'publishes every aggregate in sequence order and marks exactly what was published (%s)',
      async (scope) => {
        const items = events([1, 2], [1, 2, 3]);

        const run = await new Pipeline(fakes.options(), 'relay').run(
          unitsOf(items),
          scope === 'batch' ? { scope } : { scope, stopped: new Map() },
        );

        expect(callLabels()).toEqual([
          ['1#1', '2#1'],
          ['1#2', '2#2'],
          ['1#3', '2#3'],
        ]);
        expect(run.status).toEqual(items.map(() => 'published'));
        expect(run.published).toHaveLength(6);
        expect(deliveredKeys()).toEqual(expect.arrayContaining(items.map(keyOf)));
        expect(deliveredKeys()).toHaveLength(6);
        expect(run).toMatchObject({ poisoned: 0, publishFailures: 0, deliveredMarkFailures: 0, stopped: [] });
      },
    );

    it.each(['batch', 'aggregate'] as const)(
      'parks an undecodable unit in its aggregate’s place, marks it failed and goes on (%s)',
      async (scope) => {
        const [first, second] = events([1], [1, 2]) as [OutboxItem, OutboxItem];

        const run = await new Pipeline(fakes.options(), 'relay').run(
          [undecodable(first), ...unitsOf([second])],
          scope === 'batch' ? { scope } : { scope, stopped: new Map() },
        );

        expect(run.status).toEqual(['poisoned', 'published']);
        expect(callLabels()).toEqual([['1#2']]);
        expect(sqs).toHaveReceivedCommandTimes(SendMessageCommand, 1);
        expect(ddb).toHaveReceivedCommandWith(UpdateCommand, { Key: keyOf(first) });
        expect(deliveredKeys()).toEqual([keyOf(second)]);
      },
    );

    it.each(['batch', 'aggregate'] as const)(
      'starts no chunk when the invocation is out of time (%s)',
      async (scope) => {
        const run = await new Pipeline(fakes.options({ remainingTimeMs: () => 1000 }), 'republish').run(
          unitsOf(events([1], [1])),
          scope === 'batch' ? { scope } : { scope, stopped: new Map() },
        );

        expect(eventBridge).not.toHaveReceivedCommand(PutEventsCommand);
        expect(run).toMatchObject({ outOfTime: true, status: ['pending'], published: [] });
      },
    );

    it('counts delivered and failed marks that did not happen apart', async () => {
      ddb.on(BatchExecuteStatementCommand).rejects(serviceError('ValidationException'));
      ddb.on(UpdateCommand).rejects(serviceError('ValidationException'));
      const [first, second] = events([1], [1, 2]) as [OutboxItem, OutboxItem];

      const run = await new Pipeline(fakes.options(), 'relay').run(
        [undecodable(first), ...unitsOf([second])],
        {
          scope: 'batch',
        },
      );

      expect(run).toMatchObject({ deliveredMarkFailures: 1, failedMarkFailures: 1, poisoned: 1 });
      expect(run.status).toEqual(['poisoned', 'published']);
    });
  });

  describe('batch policy', () => {
    it('starts no chunk after the first failure and leaves the later units pending', async () => {
      eventBridge
        .on(PutEventsCommand)
        .callsFake((input: PutEventsCommandInput) =>
          respond(input, (entry) => (labelOf(entry) === '1#2' ? 'AccessDeniedException' : undefined)),
        );
      const items = events([1, 2], [1, 2, 3]);

      const run = await new Pipeline(fakes.options({ concurrency: 1 }), 'relay').run(unitsOf(items), {
        scope: 'batch',
      });

      expect(callLabels()).toEqual([
        ['1#1', '2#1'],
        ['1#2', '2#2'],
      ]);
      expect(run.status).toEqual(['published', 'pending', 'pending', 'published', 'published', 'pending']);
      expect(run.publishFailures).toBe(1);
      expect(deliveredKeys()).toEqual(
        expect.arrayContaining([items[0], items[3], items[4]].map((item) => keyOf(item as OutboxItem))),
      );
      expect(deliveredKeys()).toHaveLength(3);
    });

    it('stops at a poison unit that cannot be parked', async () => {
      sqs.on(SendMessageCommand).rejects(serviceError('InternalError', 500));
      const [first, second] = events([1], [1, 2]) as [OutboxItem, OutboxItem];

      const run = await new Pipeline(fakes.options(), 'relay').run(
        [undecodable(first), ...unitsOf([second])],
        {
          scope: 'batch',
        },
      );

      expect(eventBridge).not.toHaveReceivedCommand(PutEventsCommand);
      expect(ddb).not.toHaveReceivedCommand(UpdateCommand);
      expect(run).toMatchObject({ status: ['pending', 'pending'], poisoned: 0, publishFailures: 1 });
    });
  });

  describe('aggregate policy', () => {
    it('stops only the failed aggregate and reports where it stopped', async () => {
      eventBridge
        .on(PutEventsCommand)
        .callsFake((input: PutEventsCommandInput) =>
          respond(input, (entry) => (labelOf(entry) === '1#2' ? 'AccessDeniedException' : undefined)),
        );
      const items = events([1, 2], [1, 2, 3]);
      const stopped = new Map<string, StoppedAggregate>();

      const run = await new Pipeline(fakes.options({ concurrency: 1 }), 'republish').run(unitsOf(items), {
        scope: 'aggregate',
        stopped,
      });

      expect(callLabels()).toEqual([['1#1', '2#1'], ['1#2', '2#2'], ['2#3']]);
      expect(run.status).toEqual(['published', 'pending', 'pending', 'published', 'published', 'published']);
      expect(run.stopped).toEqual([
        {
          pk: items[1]?.pk,
          key: keyOf(items[1] as OutboxItem),
          reason: expect.stringContaining('AccessDenied'),
        },
      ]);
      expect([...stopped.keys()]).toEqual([items[0]?.pk]);
      expect(deliveredKeys()).toHaveLength(4);
      expect(deliveredKeys()).not.toContainEqual(keyOf(items[1] as OutboxItem));
    });

    it('leaves out the units of aggregates a caller already stopped', async () => {
      const items = events([1, 2], [1]);
      const [first] = items as [OutboxItem];
      const stopped = new Map<string, StoppedAggregate>([
        [first.pk, { pk: first.pk, key: keyOf(first), reason: 'stopped on an earlier page' }],
      ]);

      const run = await new Pipeline(fakes.options(), 'republish').run(unitsOf(items), {
        scope: 'aggregate',
        stopped,
      });

      expect(callLabels()).toEqual([['2#1']]);
      expect(run.status).toEqual(['pending', 'published']);
      expect(run.stopped).toEqual([]);
    });

    it('holds back the aggregate’s later events when a poison unit cannot be parked', async () => {
      sqs.on(SendMessageCommand).rejects(serviceError('InternalError', 500));
      const [first, second] = events([1], [1, 2]) as [OutboxItem, OutboxItem];
      const other = outboxItem({ aggregateId: 2 });

      const run = await new Pipeline(fakes.options(), 'republish').run(
        [undecodable(first), ...unitsOf([second, other])],
        { scope: 'aggregate', stopped: new Map() },
      );

      expect(callLabels()).toEqual([['2#1']]);
      expect(run.status).toEqual(['pending', 'pending', 'published']);
      expect(run.stopped).toEqual([
        { pk: first.pk, key: keyOf(first), reason: expect.stringContaining('could not be parked') },
      ]);
    });
  });
});
