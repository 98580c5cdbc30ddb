/** Errors of the consumer helper. Each one fails only its own message, which SQS redelivers. */

/** Base class of the consumer helper's errors. */
export class ConsumerError extends Error {
  override name = 'ConsumerError';
}

/** A message that is not an EventBridge event carrying an outbox envelope; it ends in the DLQ. */
export class InvalidEnvelopeError extends ConsumerError {
  override name = 'InvalidEnvelopeError';
}

/**
 * An outbox event whose `data` the consumer's catalogue does not accept: an
 * event type not in it, a major version it does not know, or data that does
 * not match the schema. Only its own message fails (and ends in the DLQ
 * after the queue's receives); the batch's other messages are applied.
 */
export class InvalidEventDataError extends InvalidEnvelopeError {
  override name = 'InvalidEventDataError';
  constructor(
    message: string,
    /** The event's type. */
    readonly eventType: string,
    /** Paths of the offending fields (empty when the type or version is the problem). */
    readonly fields: readonly string[],
  ) {
    super(message);
  }
}

/**
 * The event cannot be applied yet (an event it depends on has not arrived).
 * The message fails and comes back after the queue's visibility timeout;
 * after `maxReceiveCount` receives it goes to the DLQ, whose alarm calls an
 * operator.
 */
export class RetryLaterError extends ConsumerError {
  override name = 'RetryLaterError';
  constructor(
    message: string,
    readonly eventId: string,
  ) {
    super(message);
  }
}

/** A guarded transition kept losing the race for its item; the message is retried later. */
export class GuardContentionError extends ConsumerError {
  override name = 'GuardContentionError';
  constructor(
    readonly key: { readonly pk: string; readonly sk: string },
    readonly attempts: number,
  ) {
    super(`the guarded item ${key.pk} changed concurrently ${attempts} times in a row`);
  }
}
