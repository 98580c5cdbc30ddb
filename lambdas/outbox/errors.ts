/**
 * Typed errors of the outbox library. Callers catch them by class; none of
 * them carries SDK wording meant for an end user.
 */

/** Base class of every error the outbox library throws. */
export class OutboxError extends Error {
  override name = 'OutboxError';
  /** True when the same call may succeed if tried again later. */
  readonly retryable: boolean = false;
}

/** Which service limit a request broke. */
export type LimitKind = 'actions' | 'transactionBytes' | 'itemBytes' | 'eventBytes';

/** The request breaks a DynamoDB or EventBridge limit; it was not sent. */
export class OutboxLimitError extends OutboxError {
  override name = 'OutboxLimitError';
  constructor(
    readonly limit: LimitKind,
    readonly actual: number,
    readonly max: number,
    readonly subject?: string,
  ) {
    super(`${subject ? `${subject}: ` : ''}${limit} ${actual} exceeds the limit of ${max}`);
  }
}

/** The request is malformed (an invalid event, or two writes to one item); it was not sent. */
export class InvalidWriteError extends OutboxError {
  override name = 'InvalidWriteError';
}

/** One write of a cancelled transaction, with the reason DynamoDB gave for it. */
export interface WriteFailure {
  /** Position of the write in the transaction. */
  readonly index: number;
  /** The caller's label for an entity write, or `event:<eventType>` for an outbox item. */
  readonly label: string;
  readonly kind: 'entity' | 'event';
  /**
   * DynamoDB's cancellation code, e.g. `ConditionalCheckFailed`, or
   * `UnstorableNumber` for a write the writer refused itself before sending.
   */
  readonly code: string;
  /** DynamoDB's explanation (the writer's, for `UnstorableNumber`), when there is one. */
  readonly message?: string;
  /** The item as it was, when the write asked for `ReturnValuesOnConditionCheckFailure: ALL_OLD`. */
  readonly item?: Record<string, unknown>;
}

/** The transaction was cancelled because one or more conditions failed. Nothing was written. */
export class ConditionFailedError extends OutboxError {
  override name = 'ConditionFailedError';
  constructor(
    readonly failures: readonly WriteFailure[],
    options?: { cause?: unknown },
  ) {
    super(`condition failed on ${failures.map((failure) => failure.label).join(', ')}`, options);
  }

  /** The failure of the write with this label, if that write's condition failed. */
  failureOf(label: string): WriteFailure | undefined {
    return this.failures.find((failure) => failure.label === label);
  }
}

/** Another transaction touched the same items at the same time. Nothing was written; try again. */
export class TransactionConflictError extends OutboxError {
  override name = 'TransactionConflictError';
  override readonly retryable = true;
}

/** DynamoDB throttled the transaction. Nothing was written; try again later. */
export class TransactionThrottledError extends OutboxError {
  override name = 'TransactionThrottledError';
  override readonly retryable = true;
}

/**
 * DynamoDB still reported the transaction in progress
 * (`TransactionInProgressException`) after the writer resent it, with the
 * same `ClientRequestToken`, for as long as its bound allows. Its outcome is
 * unknown: it may yet commit. Retryable: the same request with the same
 * idempotency key, within 10 minutes, returns the outcome instead of writing
 * twice.
 */
export class TransactionInProgressError extends OutboxError {
  override name = 'TransactionInProgressError';
  override readonly retryable = true;
}

/** The idempotency token was used within 10 minutes for a different request. Nothing was written. */
export class IdempotencyKeyMismatchError extends OutboxError {
  override name = 'IdempotencyKeyMismatchError';
}

/**
 * A write breaks a limit DynamoDB checks only on the values or when it
 * applies the write: DynamoDB cancelled the transaction with
 * `ValidationError` (an item that an update expression grows past 400 KB),
 * or refused the request with a `ValidationException` about an item's size
 * or a number's range, or the writer found such a number before sending (a
 * magnitude below 1E-130, NaN, or beyond what the document client stores
 * exactly). It is the request's fault, not the service's: nothing was
 * written and retrying the same request fails the same way. `failures`
 * names the writes when it is known which (empty when DynamoDB did not say).
 */
export class WriteLimitError extends OutboxError {
  override name = 'WriteLimitError';
  constructor(
    readonly failures: readonly WriteFailure[],
    options?: { cause?: unknown },
  ) {
    super(
      failures.length > 0
        ? `DynamoDB refused ${failures.map(describeFailure).join(', ')}: a limit would be broken`
        : `DynamoDB refused the transaction: a limit would be broken${causeDetail(options?.cause)}`,
      options,
    );
  }
}

/** The writer's own code for a number it refused before sending (see {@link WriteLimitError}). */
export const UNSTORABLE_NUMBER = 'UnstorableNumber';

/**
 * A failure in the library's own words: the writer's explanation for a
 * number it refused, else which limit DynamoDB's message is about (its
 * wording stays in `failures[].message` and `cause`).
 */
function describeFailure(failure: WriteFailure): string {
  if (failure.code === UNSTORABLE_NUMBER && failure.message) return `${failure.label} (${failure.message})`;
  const limit = limitOf(failure.message);
  return limit ? `${failure.label} (${limit})` : failure.label;
}

function causeDetail(cause: unknown): string {
  const limit = limitOf(cause instanceof Error ? cause.message : undefined);
  return limit ? ` (${limit})` : '';
}

function limitOf(message: string | undefined): string | undefined {
  if (!message) return undefined;
  if (/size/i.test(message)) return 'the item would exceed the 400 KB item size limit';
  if (/number|magnitude|digits/i.test(message)) return "a number is outside DynamoDB's range or precision";
  return undefined;
}
