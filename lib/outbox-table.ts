/**
 * The single table holding entities, their outbox items and idempotency
 * records (DESIGN.md section 3), with the stream the relay reads.
 */
import { RemovalPolicy } from 'aws-cdk-lib';
import * as dynamodb from 'aws-cdk-lib/aws-dynamodb';
import { Construct } from 'constructs';
import { PENDING_INDEX, PENDING_PK, PENDING_SK, PK, SK, TTL_ATTRIBUTE } from '../lambdas/outbox/keys';

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
 * - Sparse GSI `pending` on `pendingPk`/`pendingSk`: holds only undelivered
 *   outbox items (the keys are removed on delivery); projection ALL because
 *   the sweeper republishes from the index without reading the table.
 * - On-demand billing, point-in-time recovery, and encryption at rest with the
 *   AWS-managed key `aws/dynamodb` (auditable in CloudTrail, no key to run).
 */
export class OutboxTable extends Construct {
  /** The table. */
  readonly table: dynamodb.TableV2;

  constructor(scope: Construct, id: string, props: OutboxTableProps = {}) {
    super(scope, id);
    this.table = new dynamodb.TableV2(this, 'Table', {
      partitionKey: { name: PK, type: dynamodb.AttributeType.STRING },
      sortKey: { name: SK, type: dynamodb.AttributeType.STRING },
      billing: dynamodb.Billing.onDemand(),
      dynamoStream: dynamodb.StreamViewType.NEW_IMAGE,
      timeToLiveAttribute: TTL_ATTRIBUTE,
      pointInTimeRecoverySpecification: { pointInTimeRecoveryEnabled: true },
      encryption: dynamodb.TableEncryptionV2.awsManagedKey(),
      globalSecondaryIndexes: [
        {
          indexName: PENDING_INDEX,
          partitionKey: { name: PENDING_PK, type: dynamodb.AttributeType.STRING },
          sortKey: { name: PENDING_SK, type: dynamodb.AttributeType.STRING },
          projectionType: dynamodb.ProjectionType.ALL,
        },
      ],
      removalPolicy: props.removalPolicy ?? RemovalPolicy.RETAIN,
      deletionProtection: props.deletionProtection ?? true,
    });
  }
}
