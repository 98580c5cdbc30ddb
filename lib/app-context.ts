/**
 * Reads the app's context values (`-c key=value` or cdk.json) into stack
 * properties, failing with a message that names the key and what it takes.
 */
import { Duration } from 'aws-cdk-lib';
import { isEmailAddress } from './outbox/outbox-monitoring';
import type { OutboxStackProps } from './outbox-stack';
import { parseStage, type Stage } from './stage';

/** The context keys the app reads. */
export const CONTEXT_KEYS = {
  stage: 'stage',
  jwtIssuer: 'jwtIssuer',
  jwtAudience: 'jwtAudience',
  deliveredTtlHours: 'deliveredTtlHours',
  /** Email address subscribed to the alarm topic. */
  alarmEmail: 'alarmEmail',
  /** The table's peak outbox events per second; sizes the pending index's shards. */
  peakEventsPerSecond: 'peakEventsPerSecond',
  /** `true` for the first deployment of the pending-index migration. */
  keepLegacyPendingIndex: 'keepLegacyPendingIndex',
  /** The relay's batching window in seconds (0 to 300). */
  relayBatchingWindowSeconds: 'relayBatchingWindowSeconds',
} as const;

/** The stage synthesized when `-c stage=...` is absent. */
export const DEFAULT_STAGE: Stage = 'dev';

/** Anything context can be read from: a construct's `node`. */
export interface ContextSource {
  /** The context value of `key`, or undefined when it is not set. */
  tryGetContext(key: string): unknown;
}

/** Thrown when a context value is present but unusable. */
export class InvalidContextError extends Error {
  override readonly name = 'InvalidContextError';
}

/** The stack's stage, JWT settings, delivered-item TTL and alarm email from the context. */
export function stackPropsFromContext(context: ContextSource): OutboxStackProps {
  const rawStage = context.tryGetContext(CONTEXT_KEYS.stage);
  const stage = parseStage(rawStage === undefined ? DEFAULT_STAGE : rawStage);
  const issuer = optionalString(context, CONTEXT_KEYS.jwtIssuer);
  const audience = audienceList(context);
  if ((issuer === undefined) !== (audience === undefined)) {
    throw new InvalidContextError(
      `give both ${CONTEXT_KEYS.jwtIssuer} and ${CONTEXT_KEYS.jwtAudience} for JWT authorization, or neither for IAM`,
    );
  }
  const deliveredTtlHours = positiveNumber(context, CONTEXT_KEYS.deliveredTtlHours);
  const alarmEmail = optionalString(context, CONTEXT_KEYS.alarmEmail)?.trim();
  if (alarmEmail !== undefined && !isEmailAddress(alarmEmail)) {
    throw new InvalidContextError(
      `context ${CONTEXT_KEYS.alarmEmail} must be an email address, got ${JSON.stringify(alarmEmail)}`,
    );
  }
  const peakEventsPerSecond = positiveNumber(context, CONTEXT_KEYS.peakEventsPerSecond);
  const keepLegacyPendingIndex = optionalFlag(context, CONTEXT_KEYS.keepLegacyPendingIndex);
  const windowSeconds = batchingWindowSeconds(context);
  return {
    stage,
    ...(peakEventsPerSecond === undefined ? {} : { peakEventsPerSecond }),
    ...(keepLegacyPendingIndex ? { keepLegacyPendingIndex } : {}),
    ...(windowSeconds === undefined ? {} : { relayBatchingWindow: Duration.seconds(windowSeconds) }),
    ...(issuer !== undefined && audience !== undefined ? { jwt: { issuer, audience } } : {}),
    ...(deliveredTtlHours === undefined ? {} : { deliveredTtlHours }),
    ...(alarmEmail === undefined ? {} : { alarmEmail }),
  };
}

/** `true`/`false` (a string on the command line, a boolean in cdk.json). */
function optionalFlag(context: ContextSource, key: string): boolean | undefined {
  const value = context.tryGetContext(key);
  if (value === undefined || value === '') return undefined;
  if (value === true || value === 'true') return true;
  if (value === false || value === 'false') return false;
  throw new InvalidContextError(`context ${key} must be true or false, got ${JSON.stringify(value)}`);
}

/** The relay's batching window: whole seconds from 0 to 300 (the event source mapping's range). */
function batchingWindowSeconds(context: ContextSource): number | undefined {
  const key = CONTEXT_KEYS.relayBatchingWindowSeconds;
  const value = context.tryGetContext(key);
  if (value === undefined || value === '') return undefined;
  const seconds = typeof value === 'number' ? value : typeof value === 'string' ? Number(value) : Number.NaN;
  if (!Number.isInteger(seconds) || seconds < 0 || seconds > 300) {
    throw new InvalidContextError(
      `context ${key} must be a whole number of seconds from 0 to 300, got ${JSON.stringify(value)}`,
    );
  }
  return seconds;
}

function optionalString(context: ContextSource, key: string): string | undefined {
  const value = context.tryGetContext(key);
  if (value === undefined || value === '') return undefined;
  if (typeof value !== 'string') throw new InvalidContextError(`context ${key} must be a string`);
  return value;
}

/** `jwtAudience` as a list: comma-separated on the command line, or an array in cdk.json. */
function audienceList(context: ContextSource): string[] | undefined {
  const value = context.tryGetContext(CONTEXT_KEYS.jwtAudience);
  if (value === undefined || value === '') return undefined;
  const items = typeof value === 'string' ? value.split(',') : value;
  if (!Array.isArray(items) || !items.every((item) => typeof item === 'string')) {
    throw new InvalidContextError(`context ${CONTEXT_KEYS.jwtAudience} must be a comma-separated string`);
  }
  const audience = items.map((item) => item.trim()).filter((item) => item !== '');
  if (audience.length === 0) throw new InvalidContextError(`context ${CONTEXT_KEYS.jwtAudience} is empty`);
  return audience;
}

function positiveNumber(context: ContextSource, key: string): number | undefined {
  const value = context.tryGetContext(key);
  if (value === undefined || value === '') return undefined;
  const number = typeof value === 'number' ? value : typeof value === 'string' ? Number(value) : Number.NaN;
  if (!Number.isFinite(number) || number <= 0) {
    throw new InvalidContextError(`context ${key} must be a positive number, got ${JSON.stringify(value)}`);
  }
  return number;
}
