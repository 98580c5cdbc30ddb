/**
 * A decision of the sample service: the writes and events to commit
 * together, the result to answer with, and how to explain a failed condition.
 * Domain functions return plans; the caller commits them with the writer.
 */
import type { ConditionFailedError, EntityWrite, NewEvent } from '../../outbox';

/** What the caller of a command adds to its transaction, which the decision must leave room for. */
export interface CommandOptions {
  /** Transaction actions the caller adds (an idempotency record). */
  readonly reservedActions: number;
  /**
   * Set when the answer is stored for an Idempotency-Key: the record's
   * `expiresAt` (epoch seconds). A command whose answer holds personal data
   * then keeps those fields on the member item until then, not in the record.
   */
  readonly replayExpiresAt?: number;
}

/** The member whose personal fields a result shows, at which version. */
export interface PersonalDataRef {
  readonly memberId: string;
  readonly version: number;
}

/** What a command decided. */
export interface Plan<T> {
  readonly writes: readonly EntityWrite[];
  readonly events: readonly NewEvent[];
  readonly result: T;
  /**
   * Present when `result` shows a member's personal fields: a stored answer
   * leaves them out and takes them from the member item on replay.
   */
  readonly personal?: PersonalDataRef;
  /** Turns a failed condition of one of `writes` into the domain error it means. */
  readonly explain: (error: ConditionFailedError) => Error;
}
