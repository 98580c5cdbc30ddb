import {
  BatchGetItemCommand,
  type BatchGetItemCommandInput,
  DynamoDBClient,
  QueryCommand,
} from '@aws-sdk/client-dynamodb';
import { EventBridgeClient, PutEventsCommand } from '@aws-sdk/client-eventbridge';
import { SQSClient } from '@aws-sdk/client-sqs';
import { BatchExecuteStatementCommand, DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { marshall } from '@aws-sdk/util-dynamodb';
import { mockClient } from 'aws-sdk-client-mock';
import { allCustomMatcher } from 'aws-sdk-client-mock-vitest';
import type {} from 'aws-sdk-client-mock-vitest/extend';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { OutboxItem } from '../../lambdas/outbox/envelope';
import { type GuardedRelayOptions, relayInOrder } from '../../lambdas/outbox/gap-guard';
import {
  acceptAll,
  acceptStatements,
  labelOf,
  type RelayFakes,
  relayFakes,
  respond,
  serviceError,
  TEST_TABLE,
} from '../helpers/relay-harness';
import { insertRecord, outboxItem, sequenceNumberOf } from '../helpers/stream-records';

expect.extend(allCustomMatcher);

const eventBridge = mockClient(EventBridgeClient);
const ddb = mockClient(DynamoDBDocumentClient);
const sqs = mockClient(SQSClient);
const reads = new DynamoDBClient({});
const readsMock = mockClient(reads);

/** Labels (`aggregate#sequence`) of every entry sent, in call order. */
function sentLabels(): string[] {
  return eventBridge
    .commandCalls(PutEventsCommand)
    .flatMap((call) => (call.args[0].input.Entries ?? []).map(labelOf));
}

/** `aggregate#sequence` of the keys a BatchGetItem call asked for. */
function askedFor(input: BatchGetItemCommandInput | undefined): string[] {
  return (input?.RequestItems?.[TEST_TABLE]?.Keys ?? []).map(
    (key) => `${key.pk?.S?.split('#')[1]?.replace(/^0+/, '')}#${Number(key.sk?.S?.split('#')[1])}`,
  );
}

/** Answers BatchGetItem with these items (only their key and pending marker matter). */
function previousItems(...items: OutboxItem[]) {
  readsMock
    .on(BatchGetItemCommand)
    .resolves({ Responses: { [TEST_TABLE]: items.map((item) => marshall(item)) } });
}

/** A delivered item: no pending marker. */
function delivered(item: OutboxItem): OutboxItem {
  const { pendingPk: _pk, pendingSk: _sk, ...rest } = item;
  return { ...rest, deliveredAt: '2026-03-01T12:00:01.000Z' };
}

describe('relayInOrder', () => {
  let fakes: RelayFakes;
  let options: GuardedRelayOptions;

  beforeEach(() => {
    fakes = relayFakes();
    options = { ...fakes.options(), dynamoDb: reads };
    eventBridge.on(PutEventsCommand).callsFake(acceptAll);
    ddb.on(BatchExecuteStatementCommand).callsFake(acceptStatements);
    readsMock.on(BatchGetItemCommand).resolves({ Responses: { [TEST_TABLE]: [] } });
  });

  afterEach(() => {
    eventBridge.reset();
    ddb.reset();
    sqs.reset();
    readsMock.reset();
  });

  it('reads the event before each aggregate’s first in the batch, consistently, and relays as usual when none is pending', async () => {
    const records = [
      insertRecord(outboxItem({ aggregateId: 1, sequence: 3 })),
      insertRecord(outboxItem({ aggregateId: 1, sequence: 4 })),
      insertRecord(outboxItem({ aggregateId: 2, sequence: 1 })),
      insertRecord(outboxItem({ aggregateId: 3, sequence: 7 })),
    ];
    previousItems(
      delivered(outboxItem({ aggregateId: 1, sequence: 2 })),
      delivered(outboxItem({ aggregateId: 3, sequence: 6 })),
    );

    const result = await relayInOrder(records, options);

    const [call] = readsMock.commandCalls(BatchGetItemCommand);
    expect(askedFor(call?.args[0].input)).toEqual(['1#2', '3#6']);
    expect(call?.args[0].input.RequestItems?.[TEST_TABLE]?.ConsistentRead).toBe(true);
    expect(readsMock).not.toHaveReceivedCommand(QueryCommand);
    expect(sentLabels().sort()).toEqual(['1#3', '1#4', '2#1', '3#7']);
    expect(result).toMatchObject({ published: 4, healed: 0, batchItemFailures: [] });
  });

  it('makes no read when every aggregate starts the batch with its first event', async () => {
    const records = [insertRecord(outboxItem({ aggregateId: 1, sequence: 1 }))];

    await relayInOrder(records, options);

    expect(readsMock).not.toHaveReceivedCommand(BatchGetItemCommand);
    expect(sentLabels()).toEqual(['1#1']);
  });

  it('publishes an aggregate’s pending events up to its first in the batch before the batch', async () => {
    const records = [
      insertRecord(outboxItem({ aggregateId: 1, sequence: 3 })),
      insertRecord(outboxItem({ aggregateId: 2, sequence: 1 })),
      insertRecord(outboxItem({ aggregateId: 1, sequence: 4 })),
    ];
    previousItems(outboxItem({ aggregateId: 1, sequence: 2 }));
    readsMock.on(QueryCommand).resolves({
      Items: [outboxItem({ aggregateId: 1, sequence: 1 }), outboxItem({ aggregateId: 1, sequence: 2 })].map(
        (item) => marshall(item),
      ),
    });

    const result = await relayInOrder(records, options);

    const sent = sentLabels();
    expect(sent.filter((label) => label.startsWith('1#'))).toEqual(['1#1', '1#2', '1#3', '1#4']);
    expect(sent).toContain('2#1');
    const query = readsMock.commandCalls(QueryCommand)[0]?.args[0].input;
    expect(query?.ConsistentRead).toBe(true);
    expect(query?.ExpressionAttributeValues?.[':last']).toEqual({
      S: outboxItem({ aggregateId: 1, sequence: 2 }).sk,
    });
    expect(result).toMatchObject({ published: 3, healed: 2, batchItemFailures: [] });
    expect(fakes.metrics.addMetric).toHaveBeenCalledWith('EventsHealed', 'Count', 2);
  });

  it('resumes at the aggregate’s first record when an event before it cannot be published', async () => {
    const records = [
      insertRecord(outboxItem({ aggregateId: 2, sequence: 1 })),
      insertRecord(outboxItem({ aggregateId: 1, sequence: 3 })),
      insertRecord(outboxItem({ aggregateId: 3, sequence: 1 })),
    ];
    previousItems(outboxItem({ aggregateId: 1, sequence: 2 }));
    readsMock.on(QueryCommand).resolves({ Items: [marshall(outboxItem({ aggregateId: 1, sequence: 2 }))] });
    eventBridge
      .on(PutEventsCommand)
      .callsFake((input) =>
        respond(input, (entry) => (labelOf(entry) === '1#2' ? 'AccessDeniedException' : undefined)),
      );

    const result = await relayInOrder(records, options);

    expect(sentLabels()).toEqual(['1#2', '2#1']);
    expect(result.batchItemFailures).toEqual([{ itemIdentifier: sequenceNumberOf(records[1]) }]);
    expect(result.healed).toBe(0);
  });

  it('publishes nothing and retries the whole batch when the read fails', async () => {
    const records = [
      insertRecord(outboxItem({ aggregateId: 1, sequence: 1 })),
      insertRecord(outboxItem({ aggregateId: 2, sequence: 5 })),
    ];
    readsMock.on(BatchGetItemCommand).rejects(serviceError('InternalServerError', 500));

    const result = await relayInOrder(records, options);

    expect(eventBridge).not.toHaveReceivedCommand(PutEventsCommand);
    expect(result.batchItemFailures).toEqual([{ itemIdentifier: sequenceNumberOf(records[0]) }]);
  });

  it('asks again for the keys DynamoDB left unprocessed', async () => {
    const records = [insertRecord(outboxItem({ aggregateId: 1, sequence: 3 }))];
    const previous = outboxItem({ aggregateId: 1, sequence: 2 });
    readsMock
      .on(BatchGetItemCommand)
      .resolvesOnce({
        Responses: { [TEST_TABLE]: [] },
        UnprocessedKeys: { [TEST_TABLE]: { Keys: [marshall({ pk: previous.pk, sk: previous.sk })] } },
      })
      .resolves({ Responses: { [TEST_TABLE]: [marshall(previous)] } });
    readsMock.on(QueryCommand).resolves({ Items: [marshall(previous)] });

    const result = await relayInOrder(records, options);

    expect(readsMock).toHaveReceivedCommandTimes(BatchGetItemCommand, 2);
    expect(sentLabels()).toEqual(['1#2', '1#3']);
    expect(result.healed).toBe(1);
  });

  describe('when the item sequence - 1 does not exist', () => {
    /** The guard's Query for an aggregate's newest outbox item before the batch. */
    const predecessorQuery = { Limit: 1, ScanIndexForward: false } as const;

    it('finds a pending event before a hole and publishes it before the batch: event 5 never overtakes pending event 3', async () => {
      // Version 4 was a write without an event: there is no item 4.
      const pending3 = outboxItem({ aggregateId: 1, sequence: 3 });
      const records = [insertRecord(outboxItem({ aggregateId: 1, sequence: 5 }))];
      readsMock.on(QueryCommand, predecessorQuery).resolves({ Items: [marshall(pending3)] });
      readsMock.on(QueryCommand, { FilterExpression: 'attribute_exists(#pendingPk)' }).resolves({
        Items: [marshall(pending3)],
      });

      const result = await relayInOrder(records, options);

      expect(askedFor(readsMock.commandCalls(BatchGetItemCommand)[0]?.args[0].input)).toEqual(['1#4']);
      const query = readsMock
        .commandCalls(QueryCommand)
        .map((call) => call.args[0].input)
        .find((input) => input.Limit === 1);
      expect(query).toMatchObject({
        KeyConditionExpression: '#pk = :pk AND #sk BETWEEN :prefix AND :last',
        ScanIndexForward: false,
        ConsistentRead: true,
        ExpressionAttributeValues: {
          ':pk': { S: pending3.pk },
          ':prefix': { S: 'OUTBOX#' },
          ':last': { S: outboxItem({ aggregateId: 1, sequence: 4 }).sk },
        },
      });
      expect(sentLabels()).toEqual(['1#3', '1#5']);
      expect(result).toMatchObject({ published: 1, healed: 1, batchItemFailures: [] });
    });

    it('holds the batch at the aggregate when the event before the hole cannot be published', async () => {
      const pending3 = outboxItem({ aggregateId: 1, sequence: 3 });
      const records = [
        insertRecord(outboxItem({ aggregateId: 2, sequence: 1 })),
        insertRecord(outboxItem({ aggregateId: 1, sequence: 5 })),
      ];
      readsMock.on(QueryCommand, predecessorQuery).resolves({ Items: [marshall(pending3)] });
      readsMock.on(QueryCommand, { FilterExpression: 'attribute_exists(#pendingPk)' }).resolves({
        Items: [marshall(pending3)],
      });
      eventBridge
        .on(PutEventsCommand)
        .callsFake((input) =>
          respond(input, (entry) => (labelOf(entry) === '1#3' ? 'InvalidAccountIdException' : undefined)),
        );

      const result = await relayInOrder(records, options);

      expect(sentLabels()).toEqual(['1#3', '2#1']);
      expect(result.batchItemFailures).toEqual([{ itemIdentifier: sequenceNumberOf(records[1]) }]);
    });

    it('relays as usual when the newest item before the hole is delivered', async () => {
      const records = [insertRecord(outboxItem({ aggregateId: 1, sequence: 5 }))];
      readsMock
        .on(QueryCommand, predecessorQuery)
        .resolves({ Items: [marshall(delivered(outboxItem({ aggregateId: 1, sequence: 3 })))] });

      const result = await relayInOrder(records, options);

      expect(readsMock).toHaveReceivedCommandTimes(QueryCommand, 1);
      expect(sentLabels()).toEqual(['1#5']);
      expect(result).toMatchObject({ published: 1, healed: 0 });
    });

    it('relays as usual when nothing precedes the batch any more (TTL deleted every earlier item)', async () => {
      const records = [insertRecord(outboxItem({ aggregateId: 1, sequence: 9 }))];
      readsMock.on(QueryCommand, predecessorQuery).resolves({ Items: [] });

      const result = await relayInOrder(records, options);

      expect(sentLabels()).toEqual(['1#9']);
      expect(result).toMatchObject({ published: 1, healed: 0, batchItemFailures: [] });
    });

    it('makes no Query for an aggregate whose item sequence - 1 exists', async () => {
      const records = [insertRecord(outboxItem({ aggregateId: 1, sequence: 5 }))];
      previousItems(delivered(outboxItem({ aggregateId: 1, sequence: 4 })));

      await relayInOrder(records, options);

      expect(readsMock).not.toHaveReceivedCommand(QueryCommand);
    });

    it('publishes nothing and retries the whole batch when the Query fails', async () => {
      const records = [insertRecord(outboxItem({ aggregateId: 1, sequence: 5 }))];
      readsMock.on(QueryCommand, predecessorQuery).rejects(serviceError('InternalServerError', 500));

      const result = await relayInOrder(records, options);

      expect(eventBridge).not.toHaveReceivedCommand(PutEventsCommand);
      expect(result.batchItemFailures).toEqual([{ itemIdentifier: sequenceNumberOf(records[0]) }]);
    });
  });
});
