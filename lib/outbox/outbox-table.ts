/**
 * The single table holding entities, their outbox items and idempotency
 * records (DESIGN.md section 3), with the stream the relay reads.
 */
import { RemovalPolicy } from 'aws-cdk-lib';
import * as dynamodb from 'aws-cdk-lib/aws-dynamodb';
import { Construct } from 'constructs';
import { PENDING_SHARDS } from '../../lambdas/outbox/keys';
import { PENDING_INDEX_ATTRIBUTES } from '../../lambdas/outbox/pending-index';
import { DEFAULT_ATTRIBUTE_NAMES, type OutboxAttributeNames } from './outbox-layout';

/** The pending index of earlier versions, which projected every attribute. */
export const LEGACY_PENDING_INDEX = 'pending';

/**
 * Write units a partition of an index takes per second (DynamoDB Developer
 * Guide, "Burst and adaptive capacity": a single partition supports up to
 * 1,000 WCU per second). The pending index's sort key grows with time, so
 * DynamoDB cannot split a shard's partition to go faster.
 */
export const PARTITION_WRITE_UNITS_PER_SECOND = 1000;

/**
 * Write units each event spends on its pending-index shard: the entry goes in
 * inside the writer's transaction (2 units: transactional writes count
 * twice, and DynamoDB Local charges the index that way too, DESIGN.md
 * section 9) and comes out with the delivered mark (1 unit). The lean
 * projection keeps each entry under 1 KB whatever the event's size.
 */
export const PENDING_INDEX_UNITS_PER_EVENT = 3;

/**
 * Shards of the pending index for a table-wide peak of `peakEventsPerSecond`:
 * enough partitions that none needs more than its 1,000 write units a second.
 */
export function pendingShardsFor(peakEventsPerSecond: number): number {
  if (!(Number.isFinite(peakEventsPerSecond) && peakEventsPerSecond > 0)) {
    throw new RangeError(`peakEventsPerSecond must be a positive number, got ${peakEventsPerSecond}`);
  }
  return Math.max(
    1,
    Math.ceil((peakEventsPerSecond * PENDING_INDEX_UNITS_PER_EVENT) / PARTITION_WRITE_UNITS_PER_SECOND),
  );
}

/** The table-wide event rate `shards` pending-index shards sustain. */
export function pendingIndexCeiling(shards: number): number {
  return Math.floor((shards * PARTITION_WRITE_UNITS_PER_SECOND) / PENDING_INDEX_UNITS_PER_EVENT);
}

/** Properties of an {@link OutboxTable}. */
export interface OutboxTableProps {
  /**
   * What happens to the table (and its data) when it leaves the stack.
   * @default RemovalPolicy.RETAIN
   */
  readonly removalPolicy?: RemovalPolicy;
  /**
   * Whether DynamoDB refuses to delete the table until this is turned off.
   * @default true
   */
  readonly deletionProtection?: boolean;
  /**
   * The table's peak outbox event rate (events per second, all aggregates).
   * Sizes the pending index's shard count (`pendingShards`); the default's
   * 16 shards sustain about 5,300 events per second.
   * @default - 16 shards (`PENDING_SHARDS`)
   */
  readonly peakEventsPerSecond?: number;
  /**
   * Keep the old `pending` index (every attribute projected) next to the lean
   * one, for the first of the two deployments that migrate a table created
   * by an earlier version (README "Migrating the pending index"): DynamoDB
   * cannot change an index's projection in place, and CloudFormation creates
   * or deletes only one index per update.
   * @default false
   */
  readonly keepLegacyPendingIndex?: boolean;
  /**
   * Names of the key, pending-index and TTL attributes.
   * @default DEFAULT_ATTRIBUTE_NAMES
   */
  readonly attributeNames?: OutboxAttributeNames;
}

/**
 * The pending index as the outbox needs it: sparse on the pending key
 * attributes, projecting the keys, `occurredAt` and `eventId` only
 * (lambdas/outbox/pending-index.ts reads nothing else from it).
 */
export function pendingIndexProps(names: OutboxAttributeNames): dynamodb.GlobalSecondaryIndexPropsV2 {
  return {
    indexName: names.pendingIndexName,
    partitionKey: { name: names.pendingPartitionKey, type: dynamodb.AttributeType.STRING },
    sortKey: { name: names.pendingSortKey, type: dynamodb.AttributeType.STRING },
    projectionType: dynamodb.ProjectionType.INCLUDE,
    nonKeyAttributes: [...PENDING_INDEX_ATTRIBUTES],
  };
}

/**
 * The outbox table.
 *
 * `TableV2` (`AWS::DynamoDB::GlobalTable`) rather than `Table`: it is the
 * construct CDK recommends for new tables, and adding a replica region later
 * is one prop, whereas moving a `Table` to a global table means replacing the
 * resource. With a single replica it costs and behaves like a `Table`.
 *
 * - Stream `NEW_IMAGE`: the relay needs the inserted item; it never reads the
 *   old image, so `NEW_AND_OLD_IMAGES` would only double the record size.
 * - TTL on `expiresAt`: set on delivered outbox items and idempotency records;
 *   undelivered items never carry it, so they never expire.
 * - Sparse GSI `pendingEvents` on `pendingPk`/`pendingSk`: holds only
 *   undelivered outbox items (the keys are removed on delivery). It projects
 *   the keys, `occurredAt` and `eventId` only: its readers pick candidates
 *   from it and read the items from the table, so an index entry costs one
 *   write unit whatever the event's size.
 * - On-demand billing, point-in-time recovery, and encryption at rest with the
 *   AWS-managed key `aws/dynamodb` (auditable in CloudTrail, no key to run).
 */
export class OutboxTable extends Construct {
  /** The table. */
  readonly table: dynamodb.TableV2;
  /** Shards of the pending index the writers spread events over (sized from `peakEventsPerSecond`). */
  readonly pendingShards: number;

  constructor(scope: Construct, id: string, props: OutboxTableProps = {}) {
    super(scope, id);
    this.pendingShards =
      props.peakEventsPerSecond === undefined ? PENDING_SHARDS : pendingShardsFor(props.peakEventsPerSecond);
    const names = props.attributeNames ?? DEFAULT_ATTRIBUTE_NAMES;
    const pendingIndex = pendingIndexProps(names);
    this.table = new dynamodb.TableV2(this, 'Table', {
      partitionKey: { name: names.partitionKey, type: dynamodb.AttributeType.STRING },
      sortKey: { name: names.sortKey, type: dynamodb.AttributeType.STRING },
      billing: dynamodb.Billing.onDemand(),
      dynamoStream: dynamodb.StreamViewType.NEW_IMAGE,
      timeToLiveAttribute: names.ttlAttribute,
      pointInTimeRecoverySpecification: { pointInTimeRecoveryEnabled: true },
      encryption: dynamodb.TableEncryptionV2.awsManagedKey(),
      globalSecondaryIndexes: [
        pendingIndex,
        ...(props.keepLegacyPendingIndex
          ? [
              {
                indexName: LEGACY_PENDING_INDEX,
                partitionKey: pendingIndex.partitionKey,
                ...(pendingIndex.sortKey ? { sortKey: pendingIndex.sortKey } : {}),
                projectionType: dynamodb.ProjectionType.ALL,
              },
            ]
          : []),
      ],
      removalPolicy: props.removalPolicy ?? RemovalPolicy.RETAIN,
      deletionProtection: props.deletionProtection ?? true,
    });
  }
}
