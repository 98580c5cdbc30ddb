/** Errors of the sample service's rules, independent of HTTP. */

/** Base class of the sample service's errors. */
export class DomainError extends Error {
  override name = 'DomainError';
}

/** The entity does not exist. */
export class NotFoundError extends DomainError {
  override name = 'NotFoundError';
}

/** The request conflicts with the entity's state (withdrawn member, cancelled order, too many open orders). */
export class ConflictError extends DomainError {
  override name = 'ConflictError';
}

/** The caller's expected version is not the entity's version. */
export class VersionMismatchError extends DomainError {
  override name = 'VersionMismatchError';
  constructor(
    readonly expected: number,
    readonly actual: number,
  ) {
    super(`expected version ${expected} but the current version is ${actual}`);
  }
}

/** What the decision was based on changed before it committed; deciding again may succeed. */
export class StaleReadError extends DomainError {
  override name = 'StaleReadError';
}

/** A per-member limit is reached for now; the same request may succeed after `retryAfterSeconds`. */
export class RateLimitedError extends DomainError {
  override name = 'RateLimitedError';
  constructor(
    message: string,
    readonly retryAfterSeconds: number,
  ) {
    super(message);
  }
}
