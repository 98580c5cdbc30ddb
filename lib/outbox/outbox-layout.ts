/**
 * Where the outbox keeps its state on a service's table: the names of the
 * key, pending-index and TTL attributes, and the environment variables that
 * hand them to the relay, the sweeper and the writers (the env-var contract
 * with the library, README "Use it in your own service").
 */
import {
  PENDING_INDEX,
  PENDING_PK,
  PENDING_SHARDS,
  PENDING_SK,
  PK,
  SK,
  TTL_ATTRIBUTE,
} from '../../lambdas/outbox/keys';
import { OUTBOX_LAYOUT_ENV as LIBRARY_LAYOUT_ENV } from '../../lambdas/outbox/layout';

/** The attribute and index names the outbox uses on its table. */
export interface OutboxAttributeNames {
  /** The table's partition key attribute (a string). */
  readonly partitionKey: string;
  /** The table's sort key attribute (a string); outbox items use `OUTBOX#<sequence>` in it. */
  readonly sortKey: string;
  /** Name of the sparse pending index. */
  readonly pendingIndexName: string;
  /** Partition key attribute of the pending index (the shard). */
  readonly pendingPartitionKey: string;
  /** Sort key attribute of the pending index (time, aggregate, sequence). */
  readonly pendingSortKey: string;
  /** The TTL attribute (epoch seconds) that removes delivered outbox items. */
  readonly ttlAttribute: string;
}

/** Today's names: `pk`/`sk`, the `pendingEvents` index on `pendingPk`/`pendingSk`, TTL on `expiresAt`. */
export const DEFAULT_ATTRIBUTE_NAMES: OutboxAttributeNames = {
  partitionKey: PK,
  sortKey: SK,
  pendingIndexName: PENDING_INDEX,
  pendingPartitionKey: PENDING_PK,
  pendingSortKey: PENDING_SK,
  ttlAttribute: TTL_ATTRIBUTE,
};

/** The library's default shard count of the pending index. */
export const DEFAULT_PENDING_SHARDS = PENDING_SHARDS;

/**
 * The environment variables of the layout: the library's own names
 * (`outboxLayoutFromEnv` in lambdas/outbox reads them), so the two sides
 * cannot drift apart; every one optional there, with the defaults above.
 */
export const OUTBOX_LAYOUT_ENV = {
  partitionKey: LIBRARY_LAYOUT_ENV.partitionKey,
  sortKey: LIBRARY_LAYOUT_ENV.sortKey,
  pendingIndexName: LIBRARY_LAYOUT_ENV.pendingIndex,
  pendingPartitionKey: LIBRARY_LAYOUT_ENV.pendingPartitionKey,
  pendingSortKey: LIBRARY_LAYOUT_ENV.pendingSortKey,
  ttlAttribute: LIBRARY_LAYOUT_ENV.ttlAttribute,
  pendingShards: LIBRARY_LAYOUT_ENV.pendingShards,
} as const;

/** DynamoDB attribute names: 1 to 255 bytes; we keep to the characters expression names need no escaping for. */
const ATTRIBUTE_NAME_PATTERN = /^[A-Za-z_][A-Za-z0-9_.-]{0,254}$/;
/** DynamoDB index names: 3 to 255 characters of `[a-zA-Z0-9_.-]` (Developer Guide, "Naming rules"). */
const INDEX_NAME_PATTERN = /^[A-Za-z0-9_.-]{3,255}$/;

/** Thrown at synth time when the outbox cannot be added as configured; the message says what to change. */
export class OutboxConfigurationError extends Error {
  override readonly name: string = 'OutboxConfigurationError';
}

/** `names` checked: valid names, and no attribute used for two purposes. */
export function checkAttributeNames(names: OutboxAttributeNames): OutboxAttributeNames {
  const attributes = {
    partitionKey: names.partitionKey,
    sortKey: names.sortKey,
    pendingPartitionKey: names.pendingPartitionKey,
    pendingSortKey: names.pendingSortKey,
    ttlAttribute: names.ttlAttribute,
  };
  for (const [setting, name] of Object.entries(attributes)) {
    if (!ATTRIBUTE_NAME_PATTERN.test(name)) {
      throw new OutboxConfigurationError(
        `${setting} must be an attribute name of letters, digits, '_', '.' or '-', got ${JSON.stringify(name)}`,
      );
    }
  }
  const seen = new Map<string, string>();
  for (const [setting, name] of Object.entries(attributes)) {
    const other = seen.get(name);
    if (other !== undefined) {
      throw new OutboxConfigurationError(
        `${setting} and ${other} are both ${JSON.stringify(name)}; each needs its own attribute`,
      );
    }
    seen.set(name, setting);
  }
  if (!INDEX_NAME_PATTERN.test(names.pendingIndexName)) {
    throw new OutboxConfigurationError(
      `pendingIndexName must be 3 to 255 characters of letters, digits, '_', '.' or '-', got ${JSON.stringify(names.pendingIndexName)}`,
    );
  }
  return names;
}

/** The environment variables that tell a relay, sweeper or writer function the layout. */
export function layoutEnvironment(
  names: OutboxAttributeNames,
  pendingShards: number,
): Record<string, string> {
  return {
    [OUTBOX_LAYOUT_ENV.partitionKey]: names.partitionKey,
    [OUTBOX_LAYOUT_ENV.sortKey]: names.sortKey,
    [OUTBOX_LAYOUT_ENV.pendingIndexName]: names.pendingIndexName,
    [OUTBOX_LAYOUT_ENV.pendingPartitionKey]: names.pendingPartitionKey,
    [OUTBOX_LAYOUT_ENV.pendingSortKey]: names.pendingSortKey,
    [OUTBOX_LAYOUT_ENV.ttlAttribute]: names.ttlAttribute,
    [OUTBOX_LAYOUT_ENV.pendingShards]: String(pendingShards),
  };
}
