import { ConditionalCheckFailedException, DynamoDBClient } from '@aws-sdk/client-dynamodb';
import {
  BatchExecuteStatementCommand,
  type BatchExecuteStatementCommandInput,
  DynamoDBDocumentClient,
  TransactWriteCommand,
  UpdateCommand,
} from '@aws-sdk/lib-dynamodb';
import { mockClient } from 'aws-sdk-client-mock';
import { allCustomMatcher } from 'aws-sdk-client-mock-vitest';
import type {} from 'aws-sdk-client-mock-vitest/extend';
import { afterEach, describe, expect, it } from 'vitest';
import {
  DeliveredMarks,
  type MarkerOptions,
  MarkStatementError,
  markDelivered,
  markFailed,
} from '../../lambdas/outbox/marker';
import { acceptStatements, serviceError, statementKey, TEST_NOW, TEST_TABLE } from '../helpers/relay-harness';
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

/** The keys of each BatchExecuteStatement call the mock received. */
function callKeys(): unknown[][] {
  return ddb
    .commandCalls(BatchExecuteStatementCommand)
    .map((call) => (call.args[0].input.Statements ?? []).map(statementKey));
}

/** Answers each statement with the error code given for its item's pk, success otherwise. */
function answerBy(codes: ReadonlyMap<unknown, string>) {
  return (input: BatchExecuteStatementCommandInput) => ({
    Responses: (input.Statements ?? []).map((statement) => {
      const code = codes.get(statementKey(statement).pk);
      return code ? { Error: { Code: code, Message: `injected ${code}` } } : {};
    }),
  });
}

describe('markDelivered', () => {
  afterEach(() => {
    ddb.reset();
  });

  it('sets deliveredAt and the TTL and removes the pending keys with a PartiQL UPDATE of the item', async () => {
    ddb.on(BatchExecuteStatementCommand).callsFake(acceptStatements);
    const [key] = keys(1);

    const result = await markDelivered(keys(1), markerOptions());

    expect(result).toEqual({ marked: 1, gone: 0, failures: [] });
    expect(ddb).toHaveReceivedCommandWith(BatchExecuteStatementCommand, {
      Statements: [
        {
          Statement:
            `UPDATE "${TEST_TABLE}" SET "deliveredAt" = ? SET "expiresAt" = ? ` +
            'REMOVE "pendingPk" REMOVE "pendingSk" WHERE "pk" = ? AND "sk" = ?',
          Parameters: [TEST_NOW.toISOString(), TEST_NOW.getTime() / 1000 + 24 * 3600, key?.pk, key?.sk],
        },
      ],
    });
    expect(ddb).not.toHaveReceivedCommand(TransactWriteCommand);
  });

  it('sends at most 25 statements per call', async () => {
    ddb.on(BatchExecuteStatementCommand).callsFake(acceptStatements);

    const result = await markDelivered(keys(60), markerOptions());

    expect(callKeys().map((batch) => batch.length)).toEqual([25, 25, 10]);
    expect(result.marked).toBe(60);
  });

  it('sends one statement per item when keys repeat', async () => {
    ddb.on(BatchExecuteStatementCommand).callsFake(acceptStatements);
    const [key] = keys(1);

    await markDelivered([...keys(1), ...keys(1)], markerOptions());

    expect(callKeys()).toEqual([[key]]);
  });

  it('counts an item that no longer exists as gone and marks the others in the same call', async () => {
    const all = keys(3);
    ddb
      .on(BatchExecuteStatementCommand)
      .callsFake(answerBy(new Map([[all[1]?.pk, 'ConditionalCheckFailed']])));

    const result = await markDelivered(all, markerOptions());

    expect(ddb).toHaveReceivedCommandTimes(BatchExecuteStatementCommand, 1);
    expect(result).toEqual({ marked: 2, gone: 1, failures: [] });
  });

  it('sends again only the statement that conflicted, after a backoff', async () => {
    const all = keys(3);
    ddb
      .on(BatchExecuteStatementCommand)
      .callsFakeOnce(answerBy(new Map([[all[2]?.pk, 'TransactionConflict']])))
      .callsFake(acceptStatements);
    const sleeps: number[] = [];

    const result = await markDelivered(all, markerOptions(sleeps));

    expect(sleeps).toHaveLength(1);
    expect(callKeys()).toEqual([all, [all[2]]]);
    expect(result).toEqual({ marked: 3, gone: 0, failures: [] });
  });

  it('reports only the throttled item as failed when its retries run out', async () => {
    const all = keys(2);
    ddb.on(BatchExecuteStatementCommand).callsFake(answerBy(new Map([[all[0]?.pk, 'ThrottlingError']])));

    const result = await markDelivered(all, markerOptions());

    expect(ddb).toHaveReceivedCommandTimes(BatchExecuteStatementCommand, 3);
    expect(result.marked).toBe(1);
    expect(result.failures.map((failure) => failure.key)).toEqual([all[0]]);
    expect(result.failures[0]?.error).toBeInstanceOf(MarkStatementError);
  });

  it('reports an item with a hard statement error as failed without retrying it', async () => {
    const all = keys(2);
    ddb.on(BatchExecuteStatementCommand).callsFake(answerBy(new Map([[all[1]?.pk, 'ValidationError']])));

    const result = await markDelivered(all, markerOptions());

    expect(ddb).toHaveReceivedCommandTimes(BatchExecuteStatementCommand, 1);
    expect(result.marked).toBe(1);
    expect(result.failures).toEqual([{ key: all[1], error: expect.any(MarkStatementError) }]);
  });

  it('retries a throttled call and reports its items as failed when the retries run out', async () => {
    ddb.on(BatchExecuteStatementCommand).rejects(serviceError('ThrottlingException'));

    const result = await markDelivered(keys(2), markerOptions());

    expect(ddb).toHaveReceivedCommandTimes(BatchExecuteStatementCommand, 3);
    expect(result.failures.map((failure) => failure.key)).toEqual(keys(2));
  });

  it('reports every item of a call as failed on a non-retryable error, without retrying', async () => {
    ddb.on(BatchExecuteStatementCommand).rejects(serviceError('AccessDeniedException', 403));

    const result = await markDelivered(keys(2), markerOptions());

    expect(ddb).toHaveReceivedCommandTimes(BatchExecuteStatementCommand, 1);
    expect(result.failures).toHaveLength(2);
  });

  it('keeps the other calls of a large mark when one call fails', async () => {
    const all = keys(30);
    ddb.on(BatchExecuteStatementCommand).callsFake((input: BatchExecuteStatementCommandInput) => {
      if ((input.Statements ?? []).length === 5) throw serviceError('AccessDeniedException', 403);
      return acceptStatements(input);
    });

    const result = await markDelivered(all, markerOptions());

    expect(result.marked).toBe(25);
    expect(result.failures.map((failure) => failure.key)).toEqual(all.slice(25));
  });
});

describe('DeliveredMarks', () => {
  afterEach(() => {
    ddb.reset();
  });

  it('marks each started key once and adds up the results when settled', async () => {
    ddb.on(BatchExecuteStatementCommand).callsFake(acceptStatements);
    const marks = new DeliveredMarks(markerOptions());
    const all = keys(3);

    marks.start(all.slice(0, 2));
    marks.start(all.slice(1));
    const result = await marks.settle();

    expect(callKeys()).toEqual([all.slice(0, 2), all.slice(2)]);
    expect(result).toEqual({ marked: 3, gone: 0, failures: [] });
  });

  it('packs the marks that wait for a free call into the next one, at most 25 a call', async () => {
    let release: () => void = () => undefined;
    const held = new Promise<void>((resolve) => {
      release = resolve;
    });
    ddb.on(BatchExecuteStatementCommand).callsFake(async (input: BatchExecuteStatementCommandInput) => {
      if (ddb.commandCalls(BatchExecuteStatementCommand).length === 1) await held;
      return acceptStatements(input);
    });
    const marks = new DeliveredMarks(markerOptions(), 1);
    const all = keys(40);

    marks.start(all.slice(0, 2));
    marks.start(all.slice(2, 10));
    marks.start(all.slice(10));
    const waitingBeforeRelease = ddb.commandCalls(BatchExecuteStatementCommand).length;
    release();
    const result = await marks.settle();

    expect(waitingBeforeRelease).toBe(1);
    expect(callKeys()).toEqual([all.slice(0, 2), all.slice(2, 27), all.slice(27)]);
    expect(result).toEqual({ marked: 40, gone: 0, failures: [] });
  });

  it('starts the call when asked, before it is settled', async () => {
    ddb.on(BatchExecuteStatementCommand).callsFake(acceptStatements);
    const marks = new DeliveredMarks(markerOptions());

    marks.start(keys(1));

    expect(ddb).toHaveReceivedCommandTimes(BatchExecuteStatementCommand, 1);
    await marks.settle();
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
