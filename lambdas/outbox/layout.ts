/**
 * The table layout the outbox works on: the names of the table's key
 * attributes, of the sparse pending index and its keys, of the TTL attribute,
 * and the pending index's shard count. Each defaults to the layout this
 * repository's own table uses, so a service with its own single-table design
 * (say `PK`/`SK`) sets only what differs.
 *
 * In memory an outbox item always has the fields `pk`, `sk`, `pendingPk`,
 * `pendingSk` and `expiresAt` ({@link OutboxItem}); only the stored item
 * uses the layout's names ({@link toStoredItem}, {@link fromStoredItem}).
 */
import type { OutboxItem } from './envelope';
import { OutboxError } from './errors';
import { PENDING_INDEX, PENDING_PK, PENDING_SHARDS, PENDING_SK, PK, SK, TTL_ATTRIBUTE } from './keys';

/** Names and sizes of the table the outbox writes to and reads from. */
export interface OutboxLayout {
  /** The table's partition key attribute. @default 'pk' */
  readonly partitionKey: string;
  /** The table's sort key attribute. @default 'sk' */
  readonly sortKey: string;
  /** The sparse global secondary index over undelivered outbox items. @default 'pendingEvents' */
  readonly pendingIndex: string;
  /** Partition key attribute of the pending index. @default 'pendingPk' */
  readonly pendingPartitionKey: string;
  /** Sort key attribute of the pending index. @default 'pendingSk' */
  readonly pendingSortKey: string;
  /** The table's TTL attribute (epoch seconds), set on delivered items. @default 'expiresAt' */
  readonly ttlAttribute: string;
  /** Shards of the pending index's partition key the writer spreads events over. @default 16 */
  readonly pendingShards: number;
}

/** The layout of this repository's own table. */
export const DEFAULT_LAYOUT: OutboxLayout = Object.freeze({
  partitionKey: PK,
  sortKey: SK,
  pendingIndex: PENDING_INDEX,
  pendingPartitionKey: PENDING_PK,
  pendingSortKey: PENDING_SK,
  ttlAttribute: TTL_ATTRIBUTE,
  pendingShards: PENDING_SHARDS,
});

/**
 * Environment variables of the layout, as the `TransactionalOutbox`
 * construct sets them on the relay, the sweeper and every writer function.
 * Each is optional; an unset one keeps its {@link DEFAULT_LAYOUT} value.
 */
export const OUTBOX_LAYOUT_ENV = {
  partitionKey: 'OUTBOX_PARTITION_KEY',
  sortKey: 'OUTBOX_SORT_KEY',
  pendingIndex: 'OUTBOX_PENDING_INDEX',
  pendingPartitionKey: 'OUTBOX_PENDING_PARTITION_KEY',
  pendingSortKey: 'OUTBOX_PENDING_SORT_KEY',
  ttlAttribute: 'OUTBOX_TTL_ATTRIBUTE',
  pendingShards: 'OUTBOX_PENDING_SHARDS',
} as const satisfies Record<keyof OutboxLayout, string>;

/** Thrown when a layout setting is not usable (a name DynamoDB refuses, two settings with one name). */
export class InvalidLayoutError extends OutboxError {
  override name = 'InvalidLayoutError';
}

/**
 * Attribute names: what DynamoDB allows in a key attribute (1 to 255
 * characters; DynamoDB developer guide, "Supported data types and naming
 * rules"), narrowed to characters that need no escaping in a quoted PartiQL
 * identifier or an expression attribute name.
 */
const ATTRIBUTE_NAME = /^[A-Za-z0-9_.-]{1,255}$/;
/** Index names: 3 to 255 of `a-z A-Z 0-9 _ - .` (same guide). */
const INDEX_NAME = /^[A-Za-z0-9_.-]{3,255}$/;
/**
 * Most shards: each shard of the pending index is one partition of about
 * 1,000 write units per second, so 1,000 shards carry half a million events
 * per second (each event writes its shard twice), far past any table here.
 */
const MAX_PENDING_SHARDS = 1000;

/** Attributes of an outbox item that a layout name must not take over. */
const ENVELOPE_ATTRIBUTES: ReadonlySet<string> = new Set([
  'eventId',
  'eventType',
  'source',
  'aggregateType',
  'aggregateId',
  'sequence',
  'occurredAt',
  'correlationId',
  'dataVersion',
  'data',
  'traceHeader',
  'deliveredAt',
  'failedAt',
  'failureReason',
]);

/**
 * A complete layout from the settings given, each missing one at its
 * default. Throws {@link InvalidLayoutError} for a name DynamoDB refuses, a
 * name an outbox item already uses for something else, two settings with
 * the same attribute name, or a shard count that is not a whole number from
 * 1 to 1000.
 */
export function outboxLayout(settings: Partial<OutboxLayout> = {}): OutboxLayout {
  const layout: OutboxLayout = { ...DEFAULT_LAYOUT, ...definedOnly(settings) };
  const attributes = [
    ['partitionKey', layout.partitionKey],
    ['sortKey', layout.sortKey],
    ['pendingPartitionKey', layout.pendingPartitionKey],
    ['pendingSortKey', layout.pendingSortKey],
    ['ttlAttribute', layout.ttlAttribute],
  ] as const;
  const seen = new Map<string, string>();
  for (const [setting, name] of attributes) {
    if (!ATTRIBUTE_NAME.test(name)) {
      throw new InvalidLayoutError(
        `${setting} ${JSON.stringify(name)} is not an attribute name (1 to 255 of A-Z a-z 0-9 _ . -)`,
      );
    }
    if (ENVELOPE_ATTRIBUTES.has(name)) {
      throw new InvalidLayoutError(`${setting} ${JSON.stringify(name)} is an attribute of every outbox item`);
    }
    const other = seen.get(name);
    if (other) throw new InvalidLayoutError(`${setting} and ${other} are both ${JSON.stringify(name)}`);
    seen.set(name, setting);
  }
  if (!INDEX_NAME.test(layout.pendingIndex)) {
    throw new InvalidLayoutError(
      `pendingIndex ${JSON.stringify(layout.pendingIndex)} is not an index name (3 to 255 of A-Z a-z 0-9 _ . -)`,
    );
  }
  if (
    !Number.isSafeInteger(layout.pendingShards) ||
    layout.pendingShards < 1 ||
    layout.pendingShards > MAX_PENDING_SHARDS
  ) {
    throw new InvalidLayoutError(
      `pendingShards must be a whole number from 1 to ${MAX_PENDING_SHARDS}, got ${layout.pendingShards}`,
    );
  }
  return Object.freeze(layout);
}

/**
 * The layout from environment variables ({@link OUTBOX_LAYOUT_ENV}), for a
 * handler to call once at cold start: `outboxLayoutFromEnv(process.env)`.
 * Unset or empty variables keep their defaults. Throws
 * {@link InvalidLayoutError} naming the variable when one is malformed.
 */
export function outboxLayoutFromEnv(env: Readonly<Record<string, string | undefined>>): OutboxLayout {
  const text = (name: string): string | undefined => {
    const value = env[name];
    return value === undefined || value === '' ? undefined : value;
  };
  const shards = text(OUTBOX_LAYOUT_ENV.pendingShards);
  if (shards !== undefined && !/^\d+$/.test(shards)) {
    throw new InvalidLayoutError(`${OUTBOX_LAYOUT_ENV.pendingShards} must be a whole number, got ${shards}`);
  }
  try {
    return outboxLayout({
      partitionKey: text(OUTBOX_LAYOUT_ENV.partitionKey),
      sortKey: text(OUTBOX_LAYOUT_ENV.sortKey),
      pendingIndex: text(OUTBOX_LAYOUT_ENV.pendingIndex),
      pendingPartitionKey: text(OUTBOX_LAYOUT_ENV.pendingPartitionKey),
      pendingSortKey: text(OUTBOX_LAYOUT_ENV.pendingSortKey),
      ttlAttribute: text(OUTBOX_LAYOUT_ENV.ttlAttribute),
      pendingShards: shards === undefined ? undefined : Number(shards),
    } as Partial<OutboxLayout>);
  } catch (error) {
    if (!(error instanceof InvalidLayoutError)) throw error;
    const setting = Object.entries(OUTBOX_LAYOUT_ENV).find(([key]) => error.message.startsWith(key));
    throw new InvalidLayoutError(
      setting ? `environment variable ${setting[1]}: ${error.message}` : error.message,
      { cause: error },
    );
  }
}

/** The item as the table stores it: key, pending and TTL fields under the layout's names. */
export function toStoredItem(item: OutboxItem, layout: OutboxLayout): Record<string, unknown> {
  const { pk, sk, pendingPk, pendingSk, expiresAt, ...rest } = item;
  return {
    ...rest,
    [layout.partitionKey]: pk,
    [layout.sortKey]: sk,
    ...(pendingPk === undefined ? {} : { [layout.pendingPartitionKey]: pendingPk }),
    ...(pendingSk === undefined ? {} : { [layout.pendingSortKey]: pendingSk }),
    ...(expiresAt === undefined ? {} : { [layout.ttlAttribute]: expiresAt }),
  };
}

/** A stored item (unmarshalled) with its key, pending and TTL fields under the library's own names. */
export function fromStoredItem(
  stored: Record<string, unknown>,
  layout: OutboxLayout,
): Record<string, unknown> {
  const {
    [layout.partitionKey]: pk,
    [layout.sortKey]: sk,
    [layout.pendingPartitionKey]: pendingPk,
    [layout.pendingSortKey]: pendingSk,
    [layout.ttlAttribute]: expiresAt,
    ...rest
  } = stored;
  return {
    ...rest,
    pk,
    sk,
    ...(pendingPk === undefined ? {} : { pendingPk }),
    ...(pendingSk === undefined ? {} : { pendingSk }),
    ...(expiresAt === undefined ? {} : { expiresAt }),
  };
}

function definedOnly(settings: Partial<OutboxLayout>): Partial<OutboxLayout> {
  return Object.fromEntries(Object.entries(settings).filter(([, value]) => value !== undefined));
}
