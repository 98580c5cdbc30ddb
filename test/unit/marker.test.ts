import {
  ConditionalCheckFailedException,
  DynamoDBClient,
  TransactionCanceledException,
} from '@aws-sdk/client-dynamodb';
import { DynamoDBDocumentClient, TransactWriteCommand, UpdateCommand } from '@aws-sdk/lib-dynamodb';
import { mockClient } from 'aws-sdk-client-mock';
import { allCustomMatcher } from 'aws-sdk-client-mock-vitest';
import type {} from 'aws-sdk-client-mock-vitest/extend';
import { afterEach, describe, expect, it } from 'vitest';
import { type MarkerOptions, markDelivered, markFailed } from '../../lambdas/outbox/marker';
import { serviceError, TEST_NOW, TEST_TABLE } from '../helpers/relay-harness';
import { keyOf, outboxItem } from '../helpers/stream-records';

expect.extend(allCustomMatcher);

const ddb = mockClient(DynamoDBDocumentClient);

function markerOptions(sleeps: number[] = []): MarkerOptions {
  return {
    client: DynamoDBDocumentClient.from(new DynamoDBClient({})),
    tableName: TEST_TABLE,
    now: () => TEST_NOW,
    retentionHours: 24,
    retry: {
      maxAttempts: 3,
      baseDelayMs: 50,
      maxDelayMs: 1000,
      remainingTimeMs: () => 60_000,
      safetyMarginMs: 1000,
      sleep: async (ms) => {
        sleeps.push(ms);
      },
      random: () => 0.5,
    },
  };
}

function keys(count: number) {
  return Array.from({ length: count }, (_, index) => keyOf(outboxItem({ aggregateId: index + 1 })));
}

function cancelled(codes: readonly string[]) {
  return new TransactionCanceledException({
    $metadata: {},
    message: 'Transaction cancelled',
    CancellationReasons: codes.map((Code) => ({ Code })),
  });
}

/** The keys of each transaction the mock received. */
function transactionKeys(): unknown[][] {
  return ddb
    .commandCalls(TransactWriteCommand)
    .map((call) => (call.args[0].input.TransactItems ?? []).map((action) => action.Update?.Key));
}

describe('markDelivered', () => {
  afterEach(() => {
    ddb.reset();
  });

  it('sets deliveredAt and the TTL and removes the pending keys, only if the item exists', async () => {
    ddb.on(TransactWriteCommand).resolves({});
    const [key] = keys(1);

    const result = await markDelivered(keys(1), markerOptions());

    expect(result).toEqual({ marked: 1, gone: 0, failures: [] });
    expect(ddb).toHaveReceivedCommandWith(TransactWriteCommand, {
      TransactItems: [
        {
          Update: {
            TableName: TEST_TABLE,
            Key: key,
            UpdateExpression:
              'SET deliveredAt = :deliveredAt, #ttl = :expiresAt REMOVE #pendingPk, #pendingSk',
            ConditionExpression: 'attribute_exists(#pk)',
            ExpressionAttributeNames: {
              '#ttl': 'expiresAt',
              '#pendingPk': 'pendingPk',
              '#pendingSk': 'pendingSk',
              '#pk': 'pk',
            },
            ExpressionAttributeValues: {
              ':deliveredAt': TEST_NOW.toISOString(),
              ':expiresAt': TEST_NOW.getTime() / 1000 + 24 * 3600,
            },
          },
        },
      ],
    });
  });

  it('sends at most 100 updates per transaction', async () => {
    ddb.on(TransactWriteCommand).resolves({});

    const result = await markDelivered(keys(250), markerOptions());

    expect(transactionKeys().map((batch) => batch.length)).toEqual([100, 100, 50]);
    expect(result.marked).toBe(250);
  });

  it('sends one update per item when keys repeat', async () => {
    ddb.on(TransactWriteCommand).resolves({});
    const [key] = keys(1);

    await markDelivered([...keys(1), ...keys(1)], markerOptions());

    expect(transactionKeys()).toEqual([[key]]);
  });

  it('drops items whose condition failed and marks the rest in a second transaction', async () => {
    ddb
      .on(TransactWriteCommand)
      .rejectsOnce(cancelled(['ConditionalCheckFailed', 'None', 'ConditionalCheckFailed']))
      .resolves({});
    const all = keys(3);

    const result = await markDelivered(all, markerOptions());

    expect(transactionKeys()[1]).toEqual([all[1]]);
    expect(result).toEqual({ marked: 1, gone: 2, failures: [] });
  });

  it('retries a conflicted transaction after a backoff', async () => {
    ddb
      .on(TransactWriteCommand)
      .rejectsOnce(cancelled(['TransactionConflict', 'None']))
      .resolves({});
    const sleeps: number[] = [];

    const result = await markDelivered(keys(2), markerOptions(sleeps));

    expect(sleeps).toHaveLength(1);
    expect(transactionKeys()).toHaveLength(2);
    expect(result.marked).toBe(2);
  });

  it('reports the items as failures when retries run out', async () => {
    ddb.on(TransactWriteCommand).rejects(cancelled(['TransactionConflict', 'TransactionConflict']));

    const result = await markDelivered(keys(2), markerOptions());

    expect(ddb).toHaveReceivedCommandTimes(TransactWriteCommand, 3);
    expect(result.marked).toBe(0);
    expect(result.failures.map((failure) => failure.key)).toEqual(keys(2));
  });

  it('reports an item with a hard cancellation reason as failed and marks the others', async () => {
    ddb
      .on(TransactWriteCommand)
      .rejectsOnce(cancelled(['None', 'ValidationError']))
      .resolves({});
    const all = keys(2);

    const result = await markDelivered(all, markerOptions());

    expect(result.marked).toBe(1);
    expect(result.failures.map((failure) => failure.key)).toEqual([all[1]]);
  });

  it('reports every item as failed on a non-retryable error, without retrying', async () => {
    ddb.on(TransactWriteCommand).rejects(serviceError('AccessDeniedException', 403));

    const result = await markDelivered(keys(2), markerOptions());

    expect(ddb).toHaveReceivedCommandTimes(TransactWriteCommand, 1);
    expect(result.failures).toHaveLength(2);
  });
});

describe('markFailed', () => {
  afterEach(() => {
    ddb.reset();
  });

  it('sets failedAt and the reason and removes the pending keys, only if the item exists', async () => {
    ddb.on(UpdateCommand).resolves({});
    const [key] = keys(1);

    const result = await markFailed(key ?? { pk: '', sk: '' }, 'rejected: MalformedDetail', markerOptions());

    expect(result).toEqual({ status: 'marked' });
    expect(ddb).toHaveReceivedCommandWith(UpdateCommand, {
      TableName: TEST_TABLE,
      Key: key,
      UpdateExpression: 'SET failedAt = :failedAt, failureReason = :reason REMOVE #pendingPk, #pendingSk',
      ConditionExpression: 'attribute_exists(#pk)',
      ExpressionAttributeValues: {
        ':failedAt': TEST_NOW.toISOString(),
        ':reason': 'rejected: MalformedDetail',
      },
    });
  });

  it('reports an item that no longer exists as gone', async () => {
    ddb
      .on(UpdateCommand)
      .rejects(new ConditionalCheckFailedException({ $metadata: {}, message: 'condition' }));

    const result = await markFailed(keyOf(outboxItem()), 'oversize', markerOptions());

    expect(result).toEqual({ status: 'gone' });
  });

  it('retries a throttled update', async () => {
    ddb.on(UpdateCommand).rejectsOnce(serviceError('ThrottlingException')).resolves({});

    const result = await markFailed(keyOf(outboxItem()), 'oversize', markerOptions());

    expect(ddb).toHaveReceivedCommandTimes(UpdateCommand, 2);
    expect(result).toEqual({ status: 'marked' });
  });

  it('returns a failure instead of throwing when the update fails for good', async () => {
    const error = serviceError('ValidationException');
    ddb.on(UpdateCommand).rejects(error);

    const result = await markFailed(keyOf(outboxItem()), 'oversize', markerOptions());

    expect(result).toEqual({ status: 'failed', error });
  });
});
