/**
 * The local stream poller against DynamoDB Local's real stream: each test
 * gets its own table with a NEW_IMAGE stream, writes items, and runs the
 * poller with a recording handler.
 */
import { randomBytes } from 'node:crypto';
import {
  type AttributeValue,
  CreateTableCommand,
  DeleteTableCommand,
  DynamoDBClient,
  PutItemCommand,
  UpdateItemCommand,
} from '@aws-sdk/client-dynamodb';
import { DynamoDBStreamsClient } from '@aws-sdk/client-dynamodb-streams';
import type { Context, DynamoDBBatchResponse, DynamoDBRecord, DynamoDBStreamEvent } from 'aws-lambda';
import { afterAll, afterEach, beforeAll, describe, expect, inject, it } from 'vitest';
import { InvalidEventPatternError } from '../../local/event-filter';
import {
  InvalidEventSourceMappingError,
  type StreamBatchFailure,
  type StreamPoller,
  type StreamPollerOptions,
  StreamPollerStoppedError,
  startStreamPoller,
} from '../../local/stream-poller';
import { waitFor, withDeadline } from '../helpers/wait';

const CREDENTIALS = { accessKeyId: 'test', secretAccessKey: 'test' };
const RELAY_FILTER = {
  Filters: [
    {
      Pattern: JSON.stringify({
        dynamodb: {
          Keys: { sk: { S: [{ prefix: 'OUTBOX#' }] } },
          NewImage: { pendingPk: { S: [{ exists: true }] } },
        },
      }),
    },
  ],
};

let dynamoDb: DynamoDBClient;
let streams: DynamoDBStreamsClient;
const pollers: StreamPoller[] = [];
const tables: string[] = [];

beforeAll(() => {
  const config = { region: 'us-east-1', credentials: CREDENTIALS, endpoint: inject('dynamoDbEndpoint') };
  dynamoDb = new DynamoDBClient(config);
  streams = new DynamoDBStreamsClient(config);
});

afterEach(async () => {
  await Promise.all(pollers.splice(0).map((poller) => poller.stop()));
  await Promise.all(
    tables.splice(0).map((name) => dynamoDb.send(new DeleteTableCommand({ TableName: name }))),
  );
});

afterAll(() => {
  dynamoDb.destroy();
  streams.destroy();
});

/** A fresh table with a NEW_IMAGE stream; returns its stream ARN. */
async function streamTable(): Promise<{ table: string; streamArn: string }> {
  const table = `poller-${randomBytes(4).toString('hex')}`;
  const output = await dynamoDb.send(
    new CreateTableCommand({
      TableName: table,
      AttributeDefinitions: [
        { AttributeName: 'pk', AttributeType: 'S' },
        { AttributeName: 'sk', AttributeType: 'S' },
      ],
      KeySchema: [
        { AttributeName: 'pk', KeyType: 'HASH' },
        { AttributeName: 'sk', KeyType: 'RANGE' },
      ],
      BillingMode: 'PAY_PER_REQUEST',
      StreamSpecification: { StreamEnabled: true, StreamViewType: 'NEW_IMAGE' },
    }),
  );
  tables.push(table);
  const streamArn = output.TableDescription?.LatestStreamArn;
  if (!streamArn) throw new Error(`table ${table} has no stream`);
  return { table, streamArn };
}

/** Puts a pending outbox item `OUTBOX#<n>` (the relay filter admits it). */
function putOutbox(table: string, n: number, extra: Record<string, AttributeValue> = {}): Promise<unknown> {
  return dynamoDb.send(
    new PutItemCommand({
      TableName: table,
      Item: {
        pk: { S: 'MEMBER#1' },
        sk: { S: `OUTBOX#${String(n).padStart(3, '0')}` },
        pendingPk: { S: 'PENDING#1' },
        ...extra,
      },
    }),
  );
}

async function putOutboxItems(table: string, count: number): Promise<void> {
  // Sequentially: shard order is write order only for writes that do not overlap.
  for (let n = 1; n <= count; n += 1) await putOutbox(table, n);
}

/** What a recording handler saw. */
interface Recorder {
  readonly batches: DynamoDBRecord[][];
  readonly contexts: Context[];
  readonly handler: StreamPollerOptions['handler'];
}

/** A handler that records every event and answers with `respond` (throwing when it throws). */
function recorder(
  respond: (records: DynamoDBRecord[], call: number) => DynamoDBBatchResponse | undefined = () => undefined,
): Recorder {
  const batches: DynamoDBRecord[][] = [];
  const contexts: Context[] = [];
  return {
    batches,
    contexts,
    handler: async (event: DynamoDBStreamEvent, context: Context) => {
      batches.push(event.Records);
      contexts.push(context);
      return respond(event.Records, batches.length);
    },
  };
}

function start(options: Omit<StreamPollerOptions, 'dynamoDbStreams'>): StreamPoller {
  const poller = startStreamPoller({
    dynamoDbStreams: streams,
    pollIntervalMs: 50,
    retryBaseDelayMs: 10,
    retryMaxDelayMs: 50,
    ...options,
  });
  pollers.push(poller);
  return poller;
}

function sortKeys(records: readonly DynamoDBRecord[]): string[] {
  return records.map((record) => record.dynamodb?.Keys?.sk?.S ?? '?');
}

function outboxKeys(...numbers: number[]): string[] {
  return numbers.map((n) => `OUTBOX#${String(n).padStart(3, '0')}`);
}

function idle(poller: StreamPoller): Promise<void> {
  return withDeadline(poller.idle(), 20_000, 'the poller to become idle');
}

describe('stream poller', () => {
  it('delivers records in shard order, shaped as Lambda delivers them', async () => {
    const { table, streamArn } = await streamTable();
    await putOutbox(table, 1, { data: { B: new Uint8Array([1, 2, 3]) } });
    await putOutbox(table, 2);
    await putOutbox(table, 3);
    const seen = recorder();

    const poller = start({ streamArn, handler: seen.handler, functionTimeoutMs: 30_000 });
    await idle(poller);

    const records = seen.batches.flat();
    expect(sortKeys(records)).toEqual(outboxKeys(1, 2, 3));
    const sequences = records.map((record) => BigInt(record.dynamodb?.SequenceNumber ?? '0'));
    expect(sequences).toEqual([...sequences].sort((a, b) => (a < b ? -1 : a > b ? 1 : 0)));
    expect(records[0]).toEqual({
      eventID: expect.any(String),
      eventName: 'INSERT',
      eventVersion: '1.1',
      eventSource: 'aws:dynamodb',
      awsRegion: expect.any(String),
      dynamodb: {
        ApproximateCreationDateTime: expect.any(Number),
        Keys: { pk: { S: 'MEMBER#1' }, sk: { S: 'OUTBOX#001' } },
        NewImage: {
          pk: { S: 'MEMBER#1' },
          sk: { S: 'OUTBOX#001' },
          pendingPk: { S: 'PENDING#1' },
          data: { B: 'AQID' },
        },
        SequenceNumber: expect.stringMatching(/^\d+$/),
        SizeBytes: expect.any(Number),
        StreamViewType: 'NEW_IMAGE',
      },
      eventSourceARN: streamArn,
    });
    const createdAt = records[0]?.dynamodb?.ApproximateCreationDateTime ?? 0;
    // Epoch seconds (DynamoDB Local rounds down to the minute), not milliseconds.
    expect(Math.abs(Date.now() / 1000 - createdAt)).toBeLessThan(180);
    const remaining = seen.contexts[0]?.getRemainingTimeInMillis() ?? 0;
    expect(remaining).toBeGreaterThan(0);
    expect(remaining).toBeLessThanOrEqual(30_000);
  });

  it('drops records that the filter criteria do not admit, before invoking', async () => {
    const { table, streamArn } = await streamTable();
    await dynamoDb.send(
      new PutItemCommand({ TableName: table, Item: { pk: { S: 'MEMBER#1' }, sk: { S: 'MEMBER' } } }),
    );
    await putOutbox(table, 1);
    await dynamoDb.send(
      new PutItemCommand({ TableName: table, Item: { pk: { S: 'MEMBER#1' }, sk: { S: 'OUTBOX#002' } } }),
    );
    // The delivered mark: a MODIFY whose new image has no pending key.
    await dynamoDb.send(
      new UpdateItemCommand({
        TableName: table,
        Key: { pk: { S: 'MEMBER#1' }, sk: { S: 'OUTBOX#001' } },
        UpdateExpression: 'REMOVE pendingPk',
      }),
    );
    await putOutbox(table, 3);
    const seen = recorder();

    const poller = start({ streamArn, handler: seen.handler, FilterCriteria: RELAY_FILTER });
    await idle(poller);

    const records = seen.batches.flat();
    expect(sortKeys(records)).toEqual(outboxKeys(1, 3));
    expect(records.map((record) => record.eventName)).toEqual(['INSERT', 'INSERT']);
    expect(poller.stats.filteredOut).toBe(3);
  });

  it('invokes with at most BatchSize records', async () => {
    const { table, streamArn } = await streamTable();
    await putOutboxItems(table, 5);
    const seen = recorder();

    const poller = start({ streamArn, handler: seen.handler, BatchSize: 2 });
    await idle(poller);

    expect(seen.batches.map(sortKeys)).toEqual([outboxKeys(1, 2), outboxKeys(3, 4), outboxKeys(5)]);
    expect(poller.stats).toMatchObject({ invocations: 3, records: 5, failedInvocations: 0 });
  });

  it('redelivers from the lowest reported failure and never redelivers the records before it', async () => {
    const { table, streamArn } = await streamTable();
    await putOutboxItems(table, 6);
    // The first invocation reports records 5 and 3 (out of order): the checkpoint is before 3.
    const seen = recorder((records, call) =>
      call === 1
        ? {
            batchItemFailures: [4, 2].map((index) => ({
              itemIdentifier: records[index]?.dynamodb?.SequenceNumber ?? '',
            })),
          }
        : { batchItemFailures: [] },
    );

    const poller = start({
      streamArn,
      handler: seen.handler,
      BatchSize: 10,
      FunctionResponseTypes: ['ReportBatchItemFailures'],
    });
    await idle(poller);

    expect(seen.batches.map(sortKeys)).toEqual([outboxKeys(1, 2, 3, 4, 5, 6), outboxKeys(3, 4, 5, 6)]);
  });

  it('retries the whole batch when a reported itemIdentifier is not in it', async () => {
    const { table, streamArn } = await streamTable();
    await putOutboxItems(table, 3);
    const seen = recorder((_records, call) =>
      call === 1 ? { batchItemFailures: [{ itemIdentifier: 'no-such-sequence-number' }] } : undefined,
    );

    const poller = start({
      streamArn,
      handler: seen.handler,
      FunctionResponseTypes: ['ReportBatchItemFailures'],
    });
    await idle(poller);

    expect(seen.batches.map(sortKeys)).toEqual([outboxKeys(1, 2, 3), outboxKeys(1, 2, 3)]);
  });

  it('ignores batchItemFailures when the mapping does not enable ReportBatchItemFailures', async () => {
    const { table, streamArn } = await streamTable();
    await putOutboxItems(table, 2);
    const seen = recorder((records) => ({
      batchItemFailures: [{ itemIdentifier: records[0]?.dynamodb?.SequenceNumber ?? '' }],
    }));

    const poller = start({ streamArn, handler: seen.handler });
    await idle(poller);

    expect(seen.batches.map(sortKeys)).toEqual([outboxKeys(1, 2)]);
  });

  it('bisects a failing batch down to single records and discards each after MaximumRetryAttempts', async () => {
    const { table, streamArn } = await streamTable();
    await putOutboxItems(table, 4);
    const failures: StreamBatchFailure[] = [];
    const seen = recorder(() => {
      throw new Error('always fails');
    });

    const poller = start({
      streamArn,
      handler: seen.handler,
      BatchSize: 4,
      MaximumRetryAttempts: 2,
      BisectBatchOnFunctionError: true,
      onFailure: async (failure) => {
        failures.push(failure);
      },
    });
    await waitFor(() => failures.length === 4, 20_000, 'four discarded records');
    await idle(poller);

    // 4 fails, halves of 2 fail, quarters of 1 fail their third time and are discarded.
    expect(seen.batches.map((batch) => batch.length)).toEqual([4, 2, 1, 1, 2, 1, 1]);
    const sequences = seen.batches[0]?.map((record) => record.dynamodb?.SequenceNumber) ?? [];
    expect(failures.map((failure) => failure.DDBStreamBatchInfo.startSequenceNumber)).toEqual(sequences);
    expect(failures[0]).toEqual({
      requestContext: {
        requestId: expect.any(String),
        functionArn: expect.stringContaining(':function:'),
        condition: 'RetryAttemptsExhausted',
        approximateInvokeCount: 3,
      },
      responseContext: { statusCode: 200, executedVersion: '$LATEST', functionError: 'Unhandled' },
      version: '1.0',
      timestamp: expect.any(String),
      DDBStreamBatchInfo: {
        shardId: expect.stringMatching(/^shardId-/),
        startSequenceNumber: sequences[0],
        endSequenceNumber: sequences[0],
        approximateArrivalOfFirstRecord: expect.any(String),
        approximateArrivalOfLastRecord: expect.any(String),
        batchSize: 1,
        streamArn,
      },
    });
    expect(poller.stats.discardedRecords).toBe(4);
  });

  it('isolates a poison record by bisecting, delivers the others, and moves on', async () => {
    const { table, streamArn } = await streamTable();
    await putOutboxItems(table, 4);
    const failures: StreamBatchFailure[] = [];
    const seen = recorder((records) => {
      if (sortKeys(records).includes('OUTBOX#003')) throw new Error('poison');
      return undefined;
    });
    const poller = start({
      streamArn,
      handler: seen.handler,
      BatchSize: 4,
      MaximumRetryAttempts: 2,
      BisectBatchOnFunctionError: true,
      onFailure: async (failure) => {
        failures.push(failure);
      },
    });
    await waitFor(() => failures.length === 1, 20_000, 'the poison record to be discarded');

    await putOutbox(table, 5);
    await idle(poller);

    expect(seen.batches.map(sortKeys)).toEqual([
      outboxKeys(1, 2, 3, 4),
      outboxKeys(1, 2),
      outboxKeys(3, 4),
      outboxKeys(3),
      outboxKeys(4),
      outboxKeys(5),
    ]);
    expect(failures).toHaveLength(1);
    expect(failures[0]?.DDBStreamBatchInfo).toMatchObject({ batchSize: 1 });
  });

  it('without bisect, discards the whole batch once MaximumRetryAttempts is exhausted', async () => {
    const { table, streamArn } = await streamTable();
    await putOutboxItems(table, 3);
    const failures: StreamBatchFailure[] = [];
    const seen = recorder(() => {
      throw new Error('always fails');
    });

    start({
      streamArn,
      handler: seen.handler,
      MaximumRetryAttempts: 1,
      onFailure: async (failure) => {
        failures.push(failure);
      },
    });
    await waitFor(() => failures.length === 1, 20_000, 'the batch to be discarded');

    expect(seen.batches.map(sortKeys)).toEqual([outboxKeys(1, 2, 3), outboxKeys(1, 2, 3)]);
    expect(failures[0]?.requestContext).toMatchObject({
      condition: 'RetryAttemptsExhausted',
      approximateInvokeCount: 2,
    });
    expect(failures[0]?.DDBStreamBatchInfo.batchSize).toBe(3);
  });

  it('discards records older than MaximumRecordAgeInSeconds instead of retrying them forever', async () => {
    const { table, streamArn } = await streamTable();
    await putOutboxItems(table, 2);
    const failures: StreamBatchFailure[] = [];
    const seen = recorder(() => {
      throw new Error('always fails');
    });

    start({
      streamArn,
      handler: seen.handler,
      MaximumRetryAttempts: -1,
      MaximumRecordAgeInSeconds: 1,
      onFailure: async (failure) => {
        failures.push(failure);
      },
    });
    await waitFor(() => failures.length > 0, 20_000, 'the records to age out');

    expect(failures[0]?.requestContext.condition).toBe('RecordAgeExceeded');
    expect(failures[0]?.DDBStreamBatchInfo.batchSize).toBe(2);
  });

  it('continues with new writes after being idle', async () => {
    const { table, streamArn } = await streamTable();
    await putOutbox(table, 1);
    await putOutbox(table, 2);
    const seen = recorder();
    const poller = start({ streamArn, handler: seen.handler });
    await idle(poller);
    expect(sortKeys(seen.batches.flat())).toEqual(outboxKeys(1, 2));

    await putOutbox(table, 3);
    await putOutbox(table, 4);
    await idle(poller);

    expect(sortKeys(seen.batches.flat())).toEqual(outboxKeys(1, 2, 3, 4));
  });

  it('with StartingPosition LATEST, delivers only what is written after it starts', async () => {
    const { table, streamArn } = await streamTable();
    await putOutbox(table, 1);
    const seen = recorder();
    const poller = start({ streamArn, handler: seen.handler, StartingPosition: 'LATEST' });
    await idle(poller);

    await putOutbox(table, 2);
    await idle(poller);

    expect(sortKeys(seen.batches.flat())).toEqual(outboxKeys(2));
  });

  it('stops only after the invocation in flight has finished, and invokes nothing after', async () => {
    const { table, streamArn } = await streamTable();
    await putOutbox(table, 1);
    let release: () => void = () => undefined;
    const gate = new Promise<void>((resolve) => {
      release = resolve;
    });
    let finished = false;
    let invocations = 0;
    const poller = start({
      streamArn,
      handler: async () => {
        invocations += 1;
        await gate;
        finished = true;
        return undefined;
      },
    });
    await waitFor(() => invocations === 1, 20_000, 'the first invocation');

    let stopped = false;
    // Detached, as the local runtime keeps it in a list of stop functions.
    const { stop } = poller;
    const stopping = stop().then(() => {
      stopped = true;
    });
    // Let every pending callback run: stop() must still be waiting for the handler.
    for (let turn = 0; turn < 10; turn += 1) await new Promise((resolve) => setImmediate(resolve));
    expect(stopped).toBe(false);
    await putOutbox(table, 2);
    release();
    await withDeadline(stopping, 2_000, 'stop()');

    expect(finished).toBe(true);
    expect(invocations).toBe(1);
    await expect(poller.idle()).rejects.toBeInstanceOf(StreamPollerStoppedError);
  });

  it('refuses settings it would otherwise ignore or cannot honour', async () => {
    const { streamArn } = await streamTable();
    const handler = async () => undefined;
    const base = { dynamoDbStreams: streams, streamArn, handler };

    // A camelCased setting spread in from elsewhere would otherwise be silently ignored.
    expect(() => startStreamPoller({ ...base, ...{ batchSize: 10 } })).toThrow(
      InvalidEventSourceMappingError,
    );
    expect(() => startStreamPoller({ ...base, ParallelizationFactor: 2 })).toThrow(
      InvalidEventSourceMappingError,
    );
    expect(() => startStreamPoller({ ...base, BatchSize: 0 })).toThrow(InvalidEventSourceMappingError);
    expect(() =>
      startStreamPoller({ ...base, FilterCriteria: { Filters: [{ Pattern: '{"a":[{"wildcard":"x*"}]}' }] } }),
    ).toThrow(InvalidEventPatternError);
  });
});
