import { Match } from 'aws-cdk-lib/assertions';
import { describe, expect, it } from 'vitest';
import { PENDING_INDEX, PENDING_PK, PENDING_SK, PK, SK, TTL_ATTRIBUTE } from '../../lambdas/outbox/keys';
import { synth } from '../helpers/synth';

const TABLE = 'AWS::DynamoDB::GlobalTable';

describe('outbox table', () => {
  it('is the only table, keyed by pk and sk strings', () => {
    const { template } = synth('dev');

    template.resourceCountIs(TABLE, 1);
    template.resourceCountIs('AWS::DynamoDB::Table', 0);
    template.hasResourceProperties(TABLE, {
      KeySchema: [
        { AttributeName: PK, KeyType: 'HASH' },
        { AttributeName: SK, KeyType: 'RANGE' },
      ],
      AttributeDefinitions: Match.arrayWith([
        { AttributeName: PK, AttributeType: 'S' },
        { AttributeName: SK, AttributeType: 'S' },
      ]),
    });
  });

  it('streams new images, expires items on expiresAt and bills on demand', () => {
    const { template } = synth('dev');

    template.hasResourceProperties(TABLE, {
      StreamSpecification: { StreamViewType: 'NEW_IMAGE' },
      TimeToLiveSpecification: { AttributeName: TTL_ATTRIBUTE, Enabled: true },
      BillingMode: 'PAY_PER_REQUEST',
    });
  });

  it('encrypts with a KMS key and keeps point-in-time recovery on', () => {
    const { template } = synth('dev');

    template.hasResourceProperties(TABLE, {
      SSESpecification: { SSEEnabled: true, SSEType: 'KMS' },
      Replicas: [
        Match.objectLike({ PointInTimeRecoverySpecification: { PointInTimeRecoveryEnabled: true } }),
      ],
    });
  });

  it('has the sparse pending index on pendingPk and pendingSk with every attribute projected', () => {
    const { template } = synth('dev');

    template.hasResourceProperties(TABLE, {
      AttributeDefinitions: Match.arrayWith([
        { AttributeName: PENDING_PK, AttributeType: 'S' },
        { AttributeName: PENDING_SK, AttributeType: 'S' },
      ]),
      GlobalSecondaryIndexes: [
        {
          IndexName: PENDING_INDEX,
          KeySchema: [
            { AttributeName: PENDING_PK, KeyType: 'HASH' },
            { AttributeName: PENDING_SK, KeyType: 'RANGE' },
          ],
          Projection: { ProjectionType: 'ALL' },
        },
      ],
    });
  });

  it('is retained and protected from deletion in prod', () => {
    const { template } = synth('prod');

    template.hasResource(TABLE, {
      DeletionPolicy: 'Retain',
      UpdateReplacePolicy: 'Retain',
      Properties: Match.objectLike({ Replicas: [Match.objectLike({ DeletionProtectionEnabled: true })] }),
    });
  });

  it('is deleted with the stack in dev', () => {
    const { template } = synth('dev');

    template.hasResource(TABLE, {
      DeletionPolicy: 'Delete',
      Properties: Match.objectLike({ Replicas: [Match.objectLike({ DeletionProtectionEnabled: false })] }),
    });
  });

  it('exposes the stream the relay reads', () => {
    const { stack } = synth('dev');

    expect(stack.outboxTable.table.tableStreamArn).toBeDefined();
  });
});
