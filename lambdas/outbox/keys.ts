/**
 * The only place where partition and sort keys are built or parsed.
 *
 * Every key segment that comes from outside (an id in a path, an
 * idempotency key in a header) is validated or hashed before it is placed in
 * a key, so a client can never write `#` or another entity's prefix into one.
 */
import { createHash } from 'node:crypto';
import { OutboxError } from './errors';

/** Default name of the table's partition key attribute (`OutboxLayout.partitionKey`). */
export const PK = 'pk';
/** Default name of the table's sort key attribute (`OutboxLayout.sortKey`). */
export const SK = 'sk';
/**
 * Default name of the sparse pending index's partition key attribute
 * (present only while an event is undelivered; `OutboxLayout.pendingPartitionKey`).
 */
export const PENDING_PK = 'pendingPk';
/** Default name of the pending index's sort key attribute (`OutboxLayout.pendingSortKey`). */
export const PENDING_SK = 'pendingSk';
/**
 * Default name of the sparse global secondary index over undelivered outbox
 * items (`OutboxLayout.pendingIndex`).
 * Earlier versions called it `pending` and projected every attribute; a new
 * name lets a deployment add the lean index before dropping the old one
 * (README "Migrating the pending index").
 */
export const PENDING_INDEX = 'pendingEvents';
/**
 * Default number of shards of the pending index's partition key. The index's
 * sort key grows with time, so DynamoDB cannot split a shard: each takes
 * about 1,000 write units per second, and every event writes its shard twice
 * (in, then out). The writer takes another count as a setting
 * (`pendingShardsFor`, lib/outbox-table.ts); readers scan the index and never
 * need to know it.
 */
export const PENDING_SHARDS = 16;
/** Default name of the TTL attribute, epoch seconds (`OutboxLayout.ttlAttribute`). */
export const TTL_ATTRIBUTE = 'expiresAt';

/** Prefix of every outbox item's sort key; the relay's filter criteria match on it. */
export const OUTBOX_PREFIX = 'OUTBOX#';
/** Prefix of every pending index partition key. */
export const PENDING_PREFIX = 'PENDING#';
const IDEMPOTENCY_PREFIX = 'IDEMPOTENCY#';
const READ_MODEL_PREFIX = 'VIEW#';

/** Width of the zero-padded sequence in outbox sort keys: sorts correctly up to 10^12 - 1. */
const SEQUENCE_WIDTH = 12;
/** Largest sequence number that fits the sort key. */
export const MAX_SEQUENCE = 10 ** SEQUENCE_WIDTH - 1;

/** A ULID: 26 Crockford base-32 characters. */
const ULID_PATTERN = /^[0-9A-HJKMNP-TV-Z]{26}$/;
/** Aggregate type names: upper-case words, never a key delimiter. */
const AGGREGATE_TYPE_PATTERN = /^[A-Z][A-Z0-9_]{0,39}$/;

/** A primary key of the table. */
export interface TableKey {
  readonly pk: string;
  readonly sk: string;
}

/** Thrown when a value is not fit to become part of a key. */
export class InvalidKeyPartError extends OutboxError {
  override name = 'InvalidKeyPartError';
  constructor(
    readonly part: string,
    readonly value: unknown,
  ) {
    super(`${part} is not a valid key part`);
  }
}

/** True when `value` is a well-formed ULID (upper-case Crockford base-32). */
export function isId(value: unknown): value is string {
  return typeof value === 'string' && ULID_PATTERN.test(value);
}

/** Returns `value` when it is a well-formed id; throws otherwise. */
export function assertId(value: unknown, part = 'id'): string {
  if (!isId(value)) throw new InvalidKeyPartError(part, value);
  return value;
}

function assertAggregateType(aggregateType: string): string {
  if (!AGGREGATE_TYPE_PATTERN.test(aggregateType)) {
    throw new InvalidKeyPartError('aggregateType', aggregateType);
  }
  return aggregateType;
}

function assertSequence(sequence: number): number {
  if (!Number.isSafeInteger(sequence) || sequence < 1 || sequence > MAX_SEQUENCE) {
    throw new InvalidKeyPartError('sequence', sequence);
  }
  return sequence;
}

/** Partition key of an aggregate: `<TYPE>#<id>`. Its entity and its outbox items share it. */
export function aggregatePk(aggregateType: string, aggregateId: string): string {
  return `${assertAggregateType(aggregateType)}#${assertId(aggregateId, 'aggregateId')}`;
}

/** Key of an aggregate's entity item: `<TYPE>#<id>` / `<TYPE>`. */
export function entityKey(aggregateType: string, aggregateId: string): TableKey {
  return { pk: aggregatePk(aggregateType, aggregateId), sk: assertAggregateType(aggregateType) };
}

/** Zero-padded sequence so that sort keys order like numbers. */
export function formatSequence(sequence: number): string {
  return String(assertSequence(sequence)).padStart(SEQUENCE_WIDTH, '0');
}

/** Key of an outbox item: the aggregate's partition key and `OUTBOX#<sequence>`. */
export function outboxKey(aggregateType: string, aggregateId: string, sequence: number): TableKey {
  return outboxKeyIn(aggregatePk(aggregateType, aggregateId), sequence);
}

/**
 * Key of an outbox item in a partition already checked ({@link aggregatePk}
 * or {@link serviceAggregatePk}): that partition and `OUTBOX#<sequence>`.
 */
export function outboxKeyIn(partition: string, sequence: number): TableKey {
  return { pk: partition, sk: `${OUTBOX_PREFIX}${formatSequence(sequence)}` };
}

/** Prefixes of the keys the library builds itself; a service's own partition key never starts with one. */
const LIBRARY_PREFIXES = [OUTBOX_PREFIX, PENDING_PREFIX, IDEMPOTENCY_PREFIX, READ_MODEL_PREFIX] as const;
/**
 * Longest service-built partition key. The pending index's sort key is
 * `<occurredAt>#<pk>#<sequence>` (38 characters besides the key), and a
 * sort key holds at most 1,024 bytes (DynamoDB developer guide, "Quotas":
 * sort key length); 900 leaves room.
 */
const MAX_SERVICE_PK_BYTES = 900;

/**
 * Checks a partition key value a service built itself (its own single-table
 * design, e.g. `USER#<id>`), for outbox items stored next to its entity.
 * The library cannot know the service's key syntax, so the service builds
 * it from validated parts; the library refuses what would collide with its
 * own keys (a prefix of {@link LIBRARY_PREFIXES}), an empty or oversized
 * value, and control characters.
 */
export function serviceAggregatePk(value: unknown): string {
  if (typeof value !== 'string' || value.length === 0) throw new InvalidKeyPartError('aggregateKey', value);
  if (Buffer.byteLength(value, 'utf8') > MAX_SERVICE_PK_BYTES)
    throw new InvalidKeyPartError('aggregateKey', value);
  // biome-ignore lint/suspicious/noControlCharactersInRegex: control characters are what is refused.
  if (/[\u0000-\u001f\u007f]/.test(value)) throw new InvalidKeyPartError('aggregateKey', value);
  if (LIBRARY_PREFIXES.some((prefix) => value.startsWith(prefix)))
    throw new InvalidKeyPartError('aggregateKey', value);
  return value;
}

/** The partition of an event's aggregate: the service's own key when it gives one, else `<TYPE>#<id>`. */
export function eventPartition(event: {
  readonly aggregateType: string;
  readonly aggregateId: string;
  readonly aggregateKey?: string;
}): string {
  if (event.aggregateKey === undefined) return aggregatePk(event.aggregateType, event.aggregateId);
  assertAggregateType(event.aggregateType);
  if (
    typeof event.aggregateId !== 'string' ||
    event.aggregateId.length === 0 ||
    event.aggregateId.length > 256
  ) {
    throw new InvalidKeyPartError('aggregateId', event.aggregateId);
  }
  return serviceAggregatePk(event.aggregateKey);
}

/** True when a sort key belongs to an outbox item. */
export function isOutboxSk(sk: unknown): sk is string {
  return typeof sk === 'string' && sk.startsWith(OUTBOX_PREFIX);
}

const OUTBOX_SK_PATTERN = new RegExp(`^${OUTBOX_PREFIX}(\\d{${SEQUENCE_WIDTH}})$`);

/**
 * Key of the outbox item just before this one in its aggregate (sequence
 * minus one); undefined for an aggregate's first event or a key that is not
 * an outbox item's.
 */
export function previousOutboxKey(key: TableKey): TableKey | undefined {
  const sequence = Number(OUTBOX_SK_PATTERN.exec(key.sk)?.[1]);
  if (!Number.isSafeInteger(sequence) || sequence <= 1) return undefined;
  return { pk: key.pk, sk: `${OUTBOX_PREFIX}${formatSequence(sequence - 1)}` };
}

/** The pending-index shard of an aggregate: stable, so one aggregate's pending events share a shard. */
export function pendingShard(aggregateId: string): number {
  return pendingShardOf(aggregateId, PENDING_SHARDS);
}

/** {@link pendingShard} for an index of `shards` shards. */
export function pendingShardOf(aggregateId: string, shards: number): number {
  if (!Number.isSafeInteger(shards) || shards < 1) throw new InvalidKeyPartError('pendingShards', shards);
  const digest = createHash('sha256').update(aggregateId).digest();
  return digest.readUInt32BE(0) % shards;
}

/** Partition key of a pending-index shard. */
export function pendingPartition(shard: number, shards: number = PENDING_SHARDS): string {
  if (!Number.isInteger(shard) || shard < 0 || shard >= shards) {
    throw new InvalidKeyPartError('pendingShard', shard);
  }
  return `${PENDING_PREFIX}${shard}`;
}

/**
 * Pending-index keys of an undelivered event. The sort key starts with
 * `occurredAt`, so the sweeper can ask for everything older than a threshold.
 * `partition` is the event's checked partition ({@link eventPartition}).
 */
export function pendingKeys(
  aggregateType: string,
  aggregateId: string,
  sequence: number,
  occurredAt: string,
  shards: number = PENDING_SHARDS,
  partition: string = aggregatePk(aggregateType, aggregateId),
): { pendingPk: string; pendingSk: string } {
  const key = outboxKeyIn(partition, sequence);
  return {
    pendingPk: pendingPartition(pendingShardOf(aggregateId, shards), shards),
    pendingSk: `${occurredAt}#${key.pk}#${formatSequence(sequence)}`,
  };
}

/** Upper bound of pending sort keys for events that occurred before `isoTime`. */
export function pendingSkBefore(isoTime: string): string {
  return `${isoTime}#`;
}

/**
 * Key of an idempotency record. The client's key is hashed together with its
 * scope, so its characters never reach a key and scopes never collide.
 */
export function idempotencyKey(scope: string, clientKey: string): TableKey {
  const digest = createHash('sha256').update(scope).update('\u0000').update(clientKey).digest('hex');
  return { pk: `${IDEMPOTENCY_PREFIX}${digest}`, sk: 'IDEMPOTENCY' };
}

const CONSUMER_NAME_PATTERN = /^[a-z][a-z0-9-]{0,63}$/;

/**
 * Prefix of the partition keys of one consumer's idempotency records:
 * `IDEMPOTENCY#CONSUMER#<name>#`. Tests and operators find (or expire) a
 * consumer's records by it; the consumer itself only uses
 * {@link consumerIdempotencyKey}.
 */
export function consumerIdempotencyPrefix(consumerName: string): string {
  if (!CONSUMER_NAME_PATTERN.test(consumerName)) throw new InvalidKeyPartError('consumerName', consumerName);
  return `${IDEMPOTENCY_PREFIX}CONSUMER#${consumerName}#`;
}

/**
 * Key of one idempotency record of a consumer (Powertools Idempotency's
 * record of one event): a partition of its own per record,
 * `IDEMPOTENCY#CONSUMER#<name>#<hash>` / `IDEMPOTENCY`. One partition per
 * record spreads a busy consumer's writes over the whole table instead of one
 * hot partition (a partition takes at most 1,000 WCU per second; DynamoDB
 * developer guide, "Best practices for designing and using partition keys
 * effectively"), and the hash keeps Powertools' key (function name and
 * payload hash) out of the key's syntax.
 */
export function consumerIdempotencyKey(consumerName: string, idempotencyKey: string): TableKey {
  const digest = createHash('sha256').update(idempotencyKey).digest('hex').slice(0, 32);
  return { pk: `${consumerIdempotencyPrefix(consumerName)}${digest}`, sk: 'IDEMPOTENCY' };
}

/** Sort key of every read-model item: one item per view and aggregate. */
const READ_MODEL_SK = 'VIEW';
/** Read-model (view) names: kebab case, like consumer names. */
const VIEW_PATTERN = /^[a-z][a-z0-9-]{0,63}$/;

/**
 * Key of a consumer's read-model item about one aggregate:
 * `VIEW#<view>#<TYPE>#<id>` / `VIEW`. Its own partition, so a read model
 * never shares an item with the aggregate it describes (and never starts with
 * `OUTBOX#`, so the relay's filter never admits it).
 */
export function readModelKey(view: string, aggregateType: string, aggregateId: string): TableKey {
  if (!VIEW_PATTERN.test(view)) throw new InvalidKeyPartError('view', view);
  return { pk: `${READ_MODEL_PREFIX}${view}#${aggregatePk(aggregateType, aggregateId)}`, sk: READ_MODEL_SK };
}
