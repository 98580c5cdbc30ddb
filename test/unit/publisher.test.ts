import { EventBridgeClient, PutEventsCommand, type PutEventsCommandInput } from '@aws-sdk/client-eventbridge';
import { mockClient } from 'aws-sdk-client-mock';
import { allCustomMatcher } from 'aws-sdk-client-mock-vitest';
import type {} from 'aws-sdk-client-mock-vitest/extend';
import fc from 'fast-check';
import { afterEach, describe, expect, it } from 'vitest';
import { toPutEventsEntry } from '../../lambdas/outbox/entry';
import {
  backoffDelay,
  isRetryableError,
  type PublishOptions,
  publishEntries,
  type RetryPolicy,
} from '../../lambdas/outbox/publisher';
import { acceptAll, respond, serviceError, TEST_BUS } from '../helpers/relay-harness';
import { outboxItem } from '../helpers/stream-records';

expect.extend(allCustomMatcher);

const eventBridge = mockClient(EventBridgeClient);

function policy(overrides: Partial<RetryPolicy> = {}): RetryPolicy {
  return {
    maxAttempts: 4,
    baseDelayMs: 100,
    maxDelayMs: 1000,
    remainingTimeMs: () => 60_000,
    safetyMarginMs: 1000,
    sleep: async () => undefined,
    random: () => 0.5,
    ...overrides,
  };
}

function options(overrides: Partial<RetryPolicy> = {}): PublishOptions {
  return { ...policy(overrides), client: new EventBridgeClient({}) };
}

const entries = [1, 2, 3].map((id) => toPutEventsEntry(outboxItem({ aggregateId: id }), TEST_BUS));

describe('isRetryableError', () => {
  it.each([
    ['a throttling error', serviceError('ThrottlingException')],
    ['an internal error', serviceError('InternalException')],
    ['an SDK timeout', serviceError('TimeoutError', 0)],
    ['any 5xx answer', serviceError('SomethingNew', 503)],
    ['a 429 answer', serviceError('SomethingNew', 429)],
    ['a connection reset', Object.assign(new Error('socket hang up'), { code: 'ECONNRESET' })],
    ['an error the SDK marked retryable', Object.assign(new Error('x'), { $retryable: {} })],
  ])('treats %s as retryable', (_, error) => {
    expect(isRetryableError(error)).toBe(true);
  });

  it.each([
    ['a validation error', serviceError('ValidationException')],
    ['access denied', serviceError('AccessDeniedException', 403)],
    ['a plain error', new Error('bug')],
    ['a non-error', 'oops'],
  ])('treats %s as not retryable', (_, error) => {
    expect(isRetryableError(error)).toBe(false);
  });
});

describe('backoffDelay', () => {
  it('stays within [0, min(max, base * 2^(attempt-1))) for any random value', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 30 }),
        fc.double({ min: 0, max: 0.999_999, noNaN: true }),
        (attempt, r) => {
          const delay = backoffDelay(attempt, policy({ random: () => r }));
          const cap = Math.min(1000, 100 * 2 ** (attempt - 1));

          expect(delay).toBeGreaterThanOrEqual(0);
          expect(delay).toBeLessThan(cap);
        },
      ),
    );
  });
});

describe('publishEntries', () => {
  afterEach(() => {
    eventBridge.reset();
  });

  it('reports every entry published when the call succeeds', async () => {
    eventBridge.on(PutEventsCommand).callsFake(acceptAll);

    const result = await publishEntries(entries, options());

    expect(result.outcomes.map((outcome) => outcome.status)).toEqual(['published', 'published', 'published']);
    expect(result.failure).toBeUndefined();
  });

  it('retries an entry that came back without an EventId', async () => {
    eventBridge
      .on(PutEventsCommand)
      .callsFakeOnce((input: PutEventsCommandInput) => {
        const response = acceptAll(input);
        return { ...response, Entries: [response.Entries?.[0] ?? {}, {}, response.Entries?.[2] ?? {}] };
      })
      .callsFake(acceptAll);

    const result = await publishEntries(entries, options());

    expect(eventBridge.commandCalls(PutEventsCommand)[1]?.args[0].input.Entries).toEqual([entries[1]]);
    expect(result.retried).toBe(1);
    expect(result.failure).toBeUndefined();
  });

  it('resends all entries when the results cannot be matched to them', async () => {
    eventBridge
      .on(PutEventsCommand)
      .resolvesOnce({ FailedEntryCount: 0, Entries: [{ EventId: 'only-one' }] })
      .callsFake(acceptAll);

    const result = await publishEntries(entries, options());

    expect(eventBridge.commandCalls(PutEventsCommand)[1]?.args[0].input.Entries).toEqual(entries);
    expect(result.outcomes.every((outcome) => outcome.status === 'published')).toBe(true);
  });

  it('reports a non-retryable entry code as rejected without retrying it', async () => {
    eventBridge
      .on(PutEventsCommand)
      .callsFake((input: PutEventsCommandInput) =>
        respond(input, (_, index) => (index === 0 ? 'MalformedDetail' : undefined)),
      );

    const result = await publishEntries(entries, options());

    expect(eventBridge).toHaveReceivedCommandTimes(PutEventsCommand, 1);
    expect(result.outcomes[0]).toEqual({
      status: 'rejected',
      code: 'MalformedDetail',
      message: 'entry failed with MalformedDetail',
    });
    expect(result.failure).toBeUndefined();
  });

  it('gives up after the last attempt and names the last error code', async () => {
    eventBridge
      .on(PutEventsCommand)
      .callsFake((input: PutEventsCommandInput) => respond(input, () => 'InternalFailure'));

    const result = await publishEntries(entries, options({ maxAttempts: 3 }));

    expect(eventBridge).toHaveReceivedCommandTimes(PutEventsCommand, 3);
    expect(result.failure).toEqual({ reason: 'retries-exhausted', code: 'InternalFailure' });
    expect(result.outcomes.every((outcome) => outcome.status === 'unpublished')).toBe(true);
  });

  it('does not wait into the safety margin', async () => {
    eventBridge.on(PutEventsCommand).rejects(serviceError('ThrottlingException'));
    const sleeps: number[] = [];

    const result = await publishEntries(
      entries,
      options({
        remainingTimeMs: () => 1020,
        safetyMarginMs: 1000,
        sleep: async (ms) => {
          sleeps.push(ms);
        },
      }),
    );

    expect(sleeps).toEqual([]);
    expect(result.failure).toMatchObject({ reason: 'retries-exhausted' });
  });

  it('stops at an entry refused for a configuration reason and keeps the others’ outcomes', async () => {
    eventBridge
      .on(PutEventsCommand)
      .callsFake((input: PutEventsCommandInput) =>
        respond(input, (_, index) => (index === 1 ? 'AccessDeniedException' : undefined)),
      );

    const result = await publishEntries(entries, options());

    expect(result.failure).toMatchObject({ reason: 'entry-refused', code: 'AccessDeniedException' });
    expect(result.outcomes.map((outcome) => outcome.status)).toEqual([
      'published',
      'unpublished',
      'published',
    ]);
  });

  it.each([
    'InvalidAccountIdException',
    'AccessDeniedException',
    'NotAuthorizedForSourceException',
    'RedactionFailure',
    'SomeCodeEventBridgeAddsLater',
  ])('stops at an entry failed with %s instead of calling the event poison', async (code) => {
    eventBridge.on(PutEventsCommand).callsFake((input: PutEventsCommandInput) => respond(input, () => code));

    const result = await publishEntries(entries, options());

    expect(eventBridge).toHaveReceivedCommandTimes(PutEventsCommand, 1);
    expect(result.failure).toMatchObject({ reason: 'entry-refused', code });
    expect(result.outcomes.every((outcome) => outcome.status === 'unpublished')).toBe(true);
  });

  it.each(['MalformedDetail', 'InvalidArgument'])(
    'calls only an entry failed with %s poison',
    async (code) => {
      eventBridge
        .on(PutEventsCommand)
        .callsFake((input: PutEventsCommandInput) =>
          respond(input, (_, index) => (index === 2 ? code : undefined)),
        );

      const result = await publishEntries(entries, options());

      expect(result.outcomes.map((outcome) => outcome.status)).toEqual([
        'published',
        'published',
        'rejected',
      ]);
      expect(result.failure).toBeUndefined();
    },
  );

  it('reports a non-retryable call error without retrying', async () => {
    const error = serviceError('ValidationException');
    eventBridge.on(PutEventsCommand).rejects(error);

    const result = await publishEntries(entries, options());

    expect(eventBridge).toHaveReceivedCommandTimes(PutEventsCommand, 1);
    expect(result.failure).toEqual({ reason: 'call-rejected', error });
  });
});
