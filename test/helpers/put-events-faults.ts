/**
 * Random failure patterns of EventBridge, SQS and DynamoDB for the property
 * tests of the relay and the publishing pipeline, and the PutEvents answers
 * they make.
 */
import type { PutEventsCommandInput, PutEventsCommandOutput } from '@aws-sdk/client-eventbridge';
import fc from 'fast-check';
import { respond, serviceError } from './relay-harness';

/** What one PutEvents call does. */
export type CallBehaviour =
  | { readonly kind: 'accept' }
  | { readonly kind: 'partial'; readonly codes: readonly (string | null)[] }
  | { readonly kind: 'throw'; readonly retryable: boolean };

/** A call's behaviour: mostly accepted, often with some entries failing with one of `codes`, sometimes thrown. */
export function callBehaviour(codes: readonly string[]): fc.Arbitrary<CallBehaviour> {
  return fc.oneof(
    { weight: 5, arbitrary: fc.constant({ kind: 'accept' as const }) },
    {
      weight: 3,
      arbitrary: fc.record({
        kind: fc.constant('partial' as const),
        codes: fc.array(fc.option(fc.constantFrom(...codes), { nil: null, freq: 2 }), {
          minLength: 10,
          maxLength: 10,
        }),
      }),
    },
    { weight: 1, arbitrary: fc.record({ kind: fc.constant('throw' as const), retryable: fc.boolean() }) },
  );
}

/** The failure part of a scenario: per call, per park and for the marks, and the concurrency. */
export function faults(codes: readonly string[]) {
  return {
    calls: fc.array(callBehaviour(codes), { maxLength: 30 }),
    /** Per call, how many event-loop turns the response takes: varies the interleaving. */
    delays: fc.array(fc.integer({ min: 0, max: 3 }), { maxLength: 30 }),
    /** Per SendMessage call, whether parking fails. */
    parkFailures: fc.array(fc.boolean(), { maxLength: 10 }),
    markFails: fc.boolean(),
    concurrency: fc.integer({ min: 1, max: 4 }),
  };
}

/** Answers a PutEvents call as `behaviour` says: throws (throttled or refused), or responds with its codes. */
export function answer(input: PutEventsCommandInput, behaviour: CallBehaviour): PutEventsCommandOutput {
  if (behaviour.kind === 'throw') {
    throw behaviour.retryable ? serviceError('ThrottlingException') : serviceError('ValidationException');
  }
  return respond(input, (_, position) =>
    behaviour.kind === 'partial' ? (behaviour.codes[position] ?? undefined) : undefined,
  );
}

/** Waits `count` turns of the event loop. */
export async function turns(count: number): Promise<void> {
  for (let turn = 0; turn < count; turn += 1) await new Promise((resolve) => setImmediate(resolve));
}
