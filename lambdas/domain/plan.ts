/**
 * A decision of the sample service: the writes and events to commit
 * together, the result to answer with, and how to explain a failed condition.
 * Domain functions return plans; the caller commits them with the writer.
 */
import type { ConditionFailedError, EntityWrite, NewEvent } from '../outbox';

/** What a command decided. */
export interface Plan<T> {
  readonly writes: readonly EntityWrite[];
  readonly events: readonly NewEvent[];
  readonly result: T;
  /** Turns a failed condition of one of `writes` into the domain error it means. */
  readonly explain: (error: ConditionFailedError) => Error;
}
