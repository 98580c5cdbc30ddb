/**
 * Property tests of the publishing pipeline under both stop policies, over
 * random units and random failures of EventBridge, SQS and DynamoDB.
 *
 * Call a unit *resolved* once EventBridge accepted its entry (a mocked
 * PutEvents response without an ErrorCode for it) or its poison was parked
 * (a mocked SendMessage that succeeded). For every run, under the relay's
 * `batch` policy and the republishing's `aggregate` policy:
 * - no PutEvents call carries an entry of an aggregate while an earlier unit
 *   of that aggregate is unresolved (retries included), so a later event is
 *   never published before an earlier unresolved one;
 * - no delivered mark names an event EventBridge had not accepted when the
 *   mark was sent, and no failed mark names a unit not yet parked;
 * - the statuses the run reports are exactly what was accepted and parked;
 * - under `aggregate`, every aggregate left with a pending unit is reported
 *   stopped at its first pending unit; under `batch`, a pending unit means a
 *   failure was counted.
 */
import { EventBridgeClient, PutEventsCommand, type PutEventsCommandInput } from '@aws-sdk/client-eventbridge';
import { SendMessageCommand, type SendMessageCommandInput, SQSClient } from '@aws-sdk/client-sqs';
import {
  BatchExecuteStatementCommand,
  type BatchExecuteStatementCommandInput,
  DynamoDBDocumentClient,
  UpdateCommand,
  type UpdateCommandInput,
} from '@aws-sdk/lib-dynamodb';
import { mockClient } from 'aws-sdk-client-mock';
import fc from 'fast-check';
import { afterEach, describe, expect, it } from 'vitest';
import {
  eventWork,
  Pipeline,
  type PipelineUnit,
  poisonWork,
  type StopPolicy,
} from '../../lambdas/outbox/pipeline';
import { answer, faults, turns } from '../helpers/put-events-faults';
import { envelopeOf, relayFakes, serviceError, statementKey, TEST_BUS } from '../helpers/relay-harness';
import { keyOf, outboxItem, undecodableRecord } from '../helpers/stream-records';

const eventBridge = mockClient(EventBridgeClient);
const ddb = mockClient(DynamoDBDocumentClient);
const sqs = mockClient(SQSClient);

const ENTRY_CODES = [
  'ThrottlingException',
  'InternalFailure',
  'MalformedDetail',
  'AccessDeniedException',
] as const;

const scenario = fc.record({
  units: fc.array(
    fc.record({
      aggregate: fc.integer({ min: 1, max: 5 }),
      poison: fc.oneof(
        { weight: 8, arbitrary: fc.constant(false) },
        { weight: 1, arbitrary: fc.constant(true) },
      ),
    }),
    { maxLength: 40 },
  ),
  ...faults(ENTRY_CODES),
  maxAttempts: fc.integer({ min: 1, max: 3 }),
  scope: fc.constantFrom('batch' as const, 'aggregate' as const),
});

interface Built {
  /** Units aggregate by aggregate, each in sequence order, as the republishing gives them. */
  readonly units: PipelineUnit[];
  /** `pk|sk` of each unit. */
  readonly ids: string[];
  /** Ids per aggregate pk, in sequence order. */
  readonly byAggregate: Map<string, string[]>;
}

function build(spec: readonly { aggregate: number; poison: boolean }[]): Built {
  const sequences = new Map<number, number>();
  const specs = spec.map(({ aggregate, poison }) => {
    const sequence = (sequences.get(aggregate) ?? 0) + 1;
    sequences.set(aggregate, sequence);
    return { item: outboxItem({ aggregateId: aggregate, sequence }), poison };
  });
  // The relay gives units in shard order, interleaved; the republishing per aggregate. Both keep each
  // aggregate's order, which is all the pipeline relies on: keep the interleaving given.
  const units = specs.map(({ item, poison }) =>
    poison
      ? poisonWork(item.pk, {
          reason: 'undecodable',
          detail: 'eventId is missing',
          key: keyOf(item),
          record: undecodableRecord(item),
        })
      : eventWork(item, keyOf(item), TEST_BUS),
  );
  const ids = specs.map(({ item }) => idOf(item));
  const byAggregate = new Map<string, string[]>();
  for (const { item } of specs) byAggregate.set(item.pk, [...(byAggregate.get(item.pk) ?? []), idOf(item)]);
  return { units, ids, byAggregate };
}

function idOf(key: { readonly pk: unknown; readonly sk: unknown }): string {
  return `${String(key.pk)}|${String(key.sk)}`;
}

describe('pipeline (properties)', () => {
  afterEach(() => {
    eventBridge.reset();
    ddb.reset();
    sqs.reset();
  });

  it('never sends an aggregate’s later event before an earlier unresolved one, nor marks what was not published', async () => {
    await fc.assert(
      fc.asyncProperty(scenario, async (spec) => {
        eventBridge.reset();
        ddb.reset();
        sqs.reset();
        const built = build(spec.units);
        const accepted = new Set<string>();
        const parked = new Set<string>();
        const resolved = (id: string) => accepted.has(id) || parked.has(id);
        const violations: string[] = [];
        const inFlight = new Set<string>();
        let call = 0;
        let park = 0;

        eventBridge.on(PutEventsCommand).callsFake(async (input: PutEventsCommandInput) => {
          const index = call++;
          const behaviour = spec.calls[index] ?? { kind: 'accept' };
          const entries = input.Entries ?? [];
          const ids = entries.map((entry) => {
            const envelope = envelopeOf(entry);
            const item = outboxItem({
              aggregateType: envelope.aggregateType,
              aggregateId: envelope.aggregateId,
              sequence: envelope.sequence,
            });
            return { id: idOf(item), pk: item.pk };
          });
          for (const { id, pk } of ids) {
            const order = built.byAggregate.get(pk) ?? [];
            const earlier = order.slice(0, order.indexOf(id));
            const open = earlier.filter((before) => !resolved(before));
            if (open.length > 0) violations.push(`${id} sent before ${open.join(', ')} was resolved`);
            if (inFlight.has(pk)) violations.push(`${pk} in two calls at once`);
          }
          for (const { pk } of ids) inFlight.add(pk);
          await turns(spec.delays[index] ?? 0);
          for (const { pk } of ids) inFlight.delete(pk);
          const response = answer(input, behaviour);
          (response.Entries ?? []).forEach((result, position) => {
            const sent = ids[position];
            if (sent && !result.ErrorCode) {
              if (accepted.has(sent.id)) violations.push(`${sent.id} accepted twice`);
              accepted.add(sent.id);
            }
          });
          return response;
        });
        sqs.on(SendMessageCommand).callsFake(async (input: SendMessageCommandInput) => {
          if (spec.parkFailures[park++]) throw serviceError('InternalError', 500);
          const body = JSON.parse(input.MessageBody ?? '{}') as { key: { pk: string; sk: string } };
          parked.add(idOf(body.key));
          return { MessageId: `m-${park}` };
        });
        ddb.on(BatchExecuteStatementCommand).callsFake(async (input: BatchExecuteStatementCommandInput) => {
          for (const statement of input.Statements ?? []) {
            const id = idOf(statementKey(statement));
            if (!accepted.has(id)) violations.push(`${id} marked delivered before EventBridge accepted it`);
          }
          if (spec.markFails) throw serviceError('ValidationException');
          return { Responses: (input.Statements ?? []).map(() => ({})) };
        });
        ddb.on(UpdateCommand).callsFake(async (input: UpdateCommandInput) => {
          const id = idOf({ pk: input.Key?.pk, sk: input.Key?.sk });
          if (!parked.has(id)) violations.push(`${id} marked failed before it was parked`);
          return {};
        });
        const policy: StopPolicy =
          spec.scope === 'batch' ? { scope: 'batch' } : { scope: 'aggregate', stopped: new Map() };

        const run = await new Pipeline(
          relayFakes().options({ concurrency: spec.concurrency, maxAttempts: spec.maxAttempts }),
          spec.scope === 'batch' ? 'relay' : 'republish',
        ).run(built.units, policy);

        expect(violations).toEqual([]);
        expect(run.status).toEqual(
          built.ids.map((id) => (accepted.has(id) ? 'published' : parked.has(id) ? 'poisoned' : 'pending')),
        );
        expect(run.published.map(idOf).sort()).toEqual([...accepted].sort());
        expect(run.poisoned).toBe(parked.size);
        const pendingAggregates = new Map<string, string>();
        built.ids.forEach((id, index) => {
          const pk = built.units[index]?.aggregate ?? '';
          if (run.status[index] === 'pending' && !pendingAggregates.has(pk)) pendingAggregates.set(pk, id);
        });
        if (spec.scope === 'aggregate') {
          expect(new Map(run.stopped.map((stopped) => [stopped.pk, idOf(stopped.key)]))).toEqual(
            pendingAggregates,
          );
        } else if (pendingAggregates.size > 0) {
          expect(run.publishFailures).toBeGreaterThan(0);
        }
      }),
      { numRuns: 300 },
    );
    // 300 runs take a few seconds alone; on a loaded machine that passes the default 5 s cap.
  }, 60_000);
});
