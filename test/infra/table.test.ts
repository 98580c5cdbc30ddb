import { Match } from 'aws-cdk-lib/assertions';
import { describe, expect, it } from 'vitest';
import {
  PENDING_INDEX,
  PENDING_PK,
  PENDING_SHARDS,
  PENDING_SK,
  PK,
  SK,
  TTL_ATTRIBUTE,
} from '../../lambdas/outbox/keys';
import { CONTEXT_KEYS, InvalidContextError, stackPropsFromContext } from '../../lib/app-context';
import { LEGACY_PENDING_INDEX, pendingIndexCeiling, pendingShardsFor } from '../../lib/outbox/outbox-table';
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

  it('has the sparse pending index on pendingPk and pendingSk projecting only what its readers need', () => {
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
          Projection: { ProjectionType: 'INCLUDE', NonKeyAttributes: ['occurredAt', 'eventId'] },
        },
      ],
    });
  });

  it('keeps the old every-attribute pending index beside the lean one for the first migration step', () => {
    const { template } = synth('dev', { keepLegacyPendingIndex: true });

    template.hasResourceProperties(TABLE, {
      GlobalSecondaryIndexes: [
        Match.objectLike({
          IndexName: PENDING_INDEX,
          Projection: Match.objectLike({ ProjectionType: 'INCLUDE' }),
        }),
        Match.objectLike({ IndexName: LEGACY_PENDING_INDEX, Projection: { ProjectionType: 'ALL' } }),
      ],
    });
    expect(LEGACY_PENDING_INDEX).not.toBe(PENDING_INDEX);
  });

  it('sizes the pending index’s shards from the peak event rate, 16 by default', () => {
    expect(synth('dev').stack.outboxTable.pendingShards).toBe(PENDING_SHARDS);
    expect(synth('dev', { peakEventsPerSecond: 20_000 }).stack.outboxTable.pendingShards).toBe(60);
    expect(pendingShardsFor(1)).toBe(1);
    expect(pendingShardsFor(pendingIndexCeiling(16))).toBe(16);
    expect(pendingShardsFor(pendingIndexCeiling(16) + 1)).toBe(17);
    expect(pendingIndexCeiling(16)).toBe(5333);
  });

  it('reads the peak rate and the migration flag from the context', () => {
    const context = (values: Record<string, unknown>) => ({ tryGetContext: (key: string) => values[key] });

    expect(
      stackPropsFromContext(
        context({
          [CONTEXT_KEYS.peakEventsPerSecond]: '20000',
          [CONTEXT_KEYS.keepLegacyPendingIndex]: 'true',
        }),
      ),
    ).toMatchObject({ peakEventsPerSecond: 20_000, keepLegacyPendingIndex: true });
    expect(
      stackPropsFromContext(context({ [CONTEXT_KEYS.keepLegacyPendingIndex]: false })),
    ).not.toHaveProperty('keepLegacyPendingIndex');
    expect(() => stackPropsFromContext(context({ [CONTEXT_KEYS.keepLegacyPendingIndex]: 'yes' }))).toThrow(
      InvalidContextError,
    );
  });

  it('refuses a peak rate that is not a positive number', () => {
    for (const rate of [0, -5, Number.NaN]) {
      expect(() => pendingShardsFor(rate)).toThrow(RangeError);
    }
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
