/**
 * Environment of the outbox's own functions (relay, sweeper), read once at
 * cold start. The `TransactionalOutbox` construct sets every variable named
 * here together with its grant; a missing one is a deployment fault and fails
 * the cold start loudly.
 */

/** Thrown when a required environment variable is missing or malformed. */
export class ConfigurationError extends Error {
  override readonly name = 'ConfigurationError';
}

/** The value of a required environment variable. */
export function requireEnv(name: string): string {
  const value = process.env[name];
  if (value === undefined || value === '') {
    throw new ConfigurationError(`environment variable ${name} is required`);
  }
  return value;
}

/** A positive number from the environment, or the default. */
export function numberEnv(name: string, fallback: number): number {
  const raw = process.env[name];
  if (raw === undefined || raw === '') return fallback;
  const value = Number(raw);
  if (!Number.isFinite(value) || value <= 0) {
    throw new ConfigurationError(`environment variable ${name} must be a positive number, got ${raw}`);
  }
  return value;
}

/**
 * Names of the environment variables the outbox's functions and its writers
 * read; the CDK constructs set them with their grants (`ServiceFunction`'s
 * `use...` methods, `TransactionalOutbox.grantWriter`).
 */
export const ENV = {
  TABLE_NAME: 'TABLE_NAME',
  /** The `source` of a writer's events. */
  EVENT_SOURCE: 'EVENT_SOURCE',
  EVENT_BUS_NAME: 'EVENT_BUS_NAME',
  POISON_QUEUE_URL: 'POISON_QUEUE_URL',
  DELIVERED_TTL_HOURS: 'DELIVERED_TTL_HOURS',
  /** Optional endpoint override for local runs (DynamoDB Local); never set in AWS. */
  DYNAMODB_ENDPOINT: 'DYNAMODB_ENDPOINT',
  /** Optional endpoint override for local runs (moto); never set in AWS. */
  AWS_ENDPOINT_URL: 'AWS_ENDPOINT_URL',
} as const;
