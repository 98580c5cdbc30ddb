/**
 * Sends one chunk of entries with PutEvents and retries what may succeed
 * later, within the invocation's time.
 *
 * PutEvents reports a partial failure as HTTP 200 with `FailedEntryCount`
 * and an `ErrorCode` per failed entry, so every response is checked entry by
 * entry. Only throttled and internally failed entries are retried; only the
 * codes in `POISON_ENTRY_CODES` make an event poison; any other code stops
 * the batch.
 */
import {
  type EventBridgeClient,
  PutEventsCommand,
  type PutEventsRequestEntry,
  type PutEventsResultEntry,
} from '@aws-sdk/client-eventbridge';

/*
 * Entry error codes, from the EventBridge API reference, PutEventsResultEntry
 * `ErrorCode` (https://docs.aws.amazon.com/eventbridge/latest/APIReference/API_PutEventsResultEntry.html):
 * retryable: InternalFailure, ThrottlingException; non-retryable:
 * AccessDeniedException, InvalidAccountIdException, InvalidArgument,
 * MalformedDetail, RedactionFailure, NotAuthorizedForSourceException,
 * NotAuthorizedForDetailTypeException. "Non-retryable" there means the same
 * request fails again, not that the event is at fault: most of those name the
 * bus, the account or the relay's permissions, which an operator fixes.
 */

/** Entry error codes worth retrying at once (the API reference's "retryable errors"). */
export const RETRYABLE_ENTRY_CODES: ReadonlySet<string> = new Set(['ThrottlingException', 'InternalFailure']);

/**
 * The only entry error codes that make an event poison: they say this
 * event's own content can never be accepted (`MalformedDetail`: its Detail is
 * not valid JSON; `InvalidArgument`: one of its fields is not valid), so it is
 * parked and its shard goes on. Every other code, including
 * `InvalidAccountIdException`, `AccessDeniedException`, the
 * `NotAuthorizedFor...` codes, `RedactionFailure` and any code EventBridge
 * adds later, is not the event's fault: it stops the batch, the records stay
 * in the stream and in the pending index, and the shard retries and alarms
 * until the setup is fixed. Parking every event as poison instead would
 * empty the stream into the poison queue on one wrong setting.
 */
export const POISON_ENTRY_CODES: ReadonlySet<string> = new Set(['MalformedDetail', 'InvalidArgument']);

/** Error names and codes of whole-call failures that may succeed when tried again. */
const RETRYABLE_ERROR_NAMES: ReadonlySet<string> = new Set([
  'ThrottlingException',
  'Throttling',
  'ThrottledException',
  'TooManyRequestsException',
  'RequestThrottled',
  'RequestThrottledException',
  'RequestLimitExceeded',
  'ProvisionedThroughputExceededException',
  'InternalException',
  'InternalFailure',
  'InternalServerError',
  'InternalServerException',
  'ServiceUnavailable',
  'ServiceUnavailableException',
  'TimeoutError',
  'RequestTimeout',
  'RequestTimeoutException',
  'NetworkingError',
  'ECONNRESET',
  'ECONNREFUSED',
  'ETIMEDOUT',
  'EPIPE',
  'EAI_AGAIN',
]);

/**
 * True when a failed AWS call may succeed if tried again: the SDK marked it
 * retryable, the service answered 429 or 5xx, or it is a throttling, internal,
 * timeout or network error by name or code.
 */
export function isRetryableError(error: unknown): boolean {
  if (typeof error !== 'object' || error === null) return false;
  const candidate = error as {
    name?: unknown;
    code?: unknown;
    $retryable?: unknown;
    $metadata?: { httpStatusCode?: unknown };
  };
  if (candidate.$retryable) return true;
  const status = candidate.$metadata?.httpStatusCode;
  if (typeof status === 'number' && (status >= 500 || status === 429)) return true;
  return (
    (typeof candidate.name === 'string' && RETRYABLE_ERROR_NAMES.has(candidate.name)) ||
    (typeof candidate.code === 'string' && RETRYABLE_ERROR_NAMES.has(candidate.code))
  );
}

/** How retries are paced and bounded. */
export interface RetryPolicy {
  /** Most attempts per call, the first one included. */
  readonly maxAttempts: number;
  /** Backoff cap before jitter of the first retry; doubles per attempt. */
  readonly baseDelayMs: number;
  /** Upper bound of the backoff cap. */
  readonly maxDelayMs: number;
  /** Time left in the invocation. */
  readonly remainingTimeMs: () => number;
  /** Time kept in reserve: no retry waits into it. */
  readonly safetyMarginMs: number;
  /** Waits; tests pass a fake. */
  readonly sleep: (ms: number) => Promise<void>;
  /** Uniform in [0, 1); tests pass a fixed one. */
  readonly random: () => number;
}

/** Exponential backoff with full jitter: uniform in [0, min(max, base * 2^(attempt-1))). */
export function backoffDelay(attempt: number, policy: RetryPolicy): number {
  const cap = Math.min(policy.maxDelayMs, policy.baseDelayMs * 2 ** Math.max(0, attempt - 1));
  return Math.floor(policy.random() * cap);
}

/**
 * Waits before retry number `attempt` when the policy allows another try;
 * false when the attempts or the invocation's time are used up.
 */
export async function waitForRetry(attempt: number, policy: RetryPolicy): Promise<boolean> {
  if (attempt >= policy.maxAttempts) return false;
  const delay = backoffDelay(attempt, policy);
  if (policy.remainingTimeMs() - delay < policy.safetyMarginMs) return false;
  await policy.sleep(delay);
  return true;
}

/** What became of one entry. */
export type EntryOutcome =
  | { readonly status: 'published'; readonly eventId: string }
  /** EventBridge refused the entry for good: the event is poison. */
  | { readonly status: 'rejected'; readonly code: string; readonly message?: string }
  /** Not published, and not the event's fault: it must be sent again later. */
  | { readonly status: 'unpublished' };

/** Why some entries were left unpublished. */
export type PublishFailure =
  /** The call failed with an error that retrying does not fix. */
  | { readonly reason: 'call-rejected'; readonly error: unknown }
  /** Retryable failures outlasted the attempts or the invocation's time. */
  | { readonly reason: 'retries-exhausted'; readonly error?: unknown; readonly code?: string }
  /** An entry failed with a code that is not the event's fault (any code outside `POISON_ENTRY_CODES` and `RETRYABLE_ENTRY_CODES`). */
  | { readonly reason: 'entry-refused'; readonly code: string; readonly message?: string };

/** Result of publishing one chunk. */
export interface PublishResult {
  /** One outcome per entry, in the order given. */
  readonly outcomes: readonly EntryOutcome[];
  /** Entries sent again after a retryable failure (counted per resend). */
  readonly retried: number;
  /** Present when some entries stayed `unpublished`. */
  readonly failure?: PublishFailure;
}

/** Dependencies of `publishEntries`. */
export interface PublishOptions extends RetryPolicy {
  readonly client: EventBridgeClient;
}

/**
 * Publishes entries in one PutEvents call, then retries the retryable
 * failures (failed entries, or the whole call) with backoff until they
 * succeed or the policy gives up. Never throws for an AWS error.
 */
export async function publishEntries(
  entries: readonly PutEventsRequestEntry[],
  options: PublishOptions,
): Promise<PublishResult> {
  const outcomes: EntryOutcome[] = entries.map(() => ({ status: 'unpublished' }));
  let pending = entries.map((_, index) => index);
  let retried = 0;

  for (let attempt = 1; pending.length > 0; attempt += 1) {
    let retry: number[] = [];
    // What made this attempt's retries necessary, for the failure report.
    let lastError: unknown;
    let lastCode: string | undefined;
    const sent = await send(
      options.client,
      pending.map((index) => entries[index] as PutEventsRequestEntry),
    );
    if ('error' in sent) {
      if (!isRetryableError(sent.error)) {
        return { outcomes, retried, failure: { reason: 'call-rejected', error: sent.error } };
      }
      retry = pending;
      lastError = sent.error;
    } else if (sent.results.length !== pending.length) {
      // Results cannot be matched to entries; resending all of them may
      // duplicate some, which at-least-once delivery allows.
      retry = pending;
      lastError = new Error(
        `PutEvents returned ${sent.results.length} results for ${pending.length} entries`,
      );
    } else {
      let refused: PublishFailure | undefined;
      for (const [position, index] of pending.entries()) {
        const result = sent.results[position] ?? {};
        const outcome = classify(result);
        if (outcome === 'refused') {
          refused ??= { reason: 'entry-refused', code: result.ErrorCode ?? 'unknown', ...messageOf(result) };
        } else if (outcome === 'retry') {
          retry.push(index);
          lastCode = result.ErrorCode ?? 'no EventId';
        } else {
          outcomes[index] = outcome;
        }
      }
      if (refused) return { outcomes, retried, failure: refused };
    }
    if (retry.length === 0) break;
    if (!(await waitForRetry(attempt, options))) {
      return {
        outcomes,
        retried,
        failure: {
          reason: 'retries-exhausted',
          ...(lastError === undefined ? {} : { error: lastError }),
          ...(lastCode === undefined ? {} : { code: lastCode }),
        },
      };
    }
    retried += retry.length;
    pending = retry;
  }
  return { outcomes, retried };
}

/** One PutEvents call; an error comes back as a value. */
async function send(
  client: EventBridgeClient,
  entries: PutEventsRequestEntry[],
): Promise<{ results: PutEventsResultEntry[] } | { error: unknown }> {
  try {
    const response = await client.send(new PutEventsCommand({ Entries: entries }));
    return { results: response.Entries ?? [] };
  } catch (error) {
    return { error };
  }
}

/**
 * An entry's outcome: `retry` when it may succeed later, `rejected` only for
 * a poison code, `refused` for every other code (the setup is at fault, or
 * the code is one the relay does not know, which it must not guess about).
 */
function classify(result: PutEventsResultEntry): EntryOutcome | 'retry' | 'refused' {
  const code = result.ErrorCode;
  if (code) {
    if (RETRYABLE_ENTRY_CODES.has(code)) return 'retry';
    if (POISON_ENTRY_CODES.has(code)) return { status: 'rejected', code, ...messageOf(result) };
    return 'refused';
  }
  // Stricter than trusting `FailedEntryCount` alone: an entry counts as
  // published only with an EventId and no ErrorCode.
  return result.EventId ? { status: 'published', eventId: result.EventId } : 'retry';
}

function messageOf(result: PutEventsResultEntry): { message?: string } {
  return result.ErrorMessage ? { message: result.ErrorMessage } : {};
}
