import { EventBridgeClient, PutEventsCommand } from '@aws-sdk/client-eventbridge';
import { SendMessageCommand, SQSClient } from '@aws-sdk/client-sqs';
import { BatchExecuteStatementCommand, DynamoDBDocumentClient, UpdateCommand } from '@aws-sdk/lib-dynamodb';
import type { Context, DynamoDBBatchResponse, DynamoDBStreamEvent } from 'aws-lambda';
import { mockClient } from 'aws-sdk-client-mock';
import { allCustomMatcher } from 'aws-sdk-client-mock-vitest';
import type {} from 'aws-sdk-client-mock-vitest/extend';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it, vi } from 'vitest';
import { metrics } from '../../../lambdas/outbox/functions/powertools';
import { lambdaContext } from '../../helpers/api-events';
import { acceptAll, acceptStatements, serviceError } from '../../helpers/relay-harness';
import { insertRecord, outboxItem, sequenceNumberOf, streamEvent } from '../../helpers/stream-records';

expect.extend(allCustomMatcher);

const eventBridge = mockClient(EventBridgeClient);
const ddb = mockClient(DynamoDBDocumentClient);
const sqs = mockClient(SQSClient);

const BUS = 'relay-handler-bus';
let handler: (event: DynamoDBStreamEvent, context: Context) => Promise<DynamoDBBatchResponse>;

describe('relay handler', () => {
  beforeAll(async () => {
    // The handler reads its environment at import, as at a cold start.
    vi.stubEnv('EVENT_BUS_NAME', BUS);
    vi.stubEnv('POISON_QUEUE_URL', 'https://sqs.us-east-1.amazonaws.com/123456789012/poison');
    ({ handler } = await import('../../../lambdas/outbox/functions/relay'));
  });

  afterAll(() => {
    vi.unstubAllEnvs();
  });

  beforeEach(() => {
    eventBridge.on(PutEventsCommand).callsFake(acceptAll);
    ddb.on(BatchExecuteStatementCommand).callsFake(acceptStatements);
    ddb.on(UpdateCommand).resolves({});
    sqs.on(SendMessageCommand).resolves({ MessageId: 'm' });
  });

  afterEach(() => {
    eventBridge.reset();
    ddb.reset();
    sqs.reset();
    vi.restoreAllMocks();
  });

  it('publishes the batch to the configured bus and reports no failures', async () => {
    const records = [1, 2].map((id) => insertRecord(outboxItem({ aggregateId: id })));

    const response = await handler(streamEvent(records), lambdaContext());

    expect(response).toEqual({ batchItemFailures: [] });
    expect(eventBridge).toHaveReceivedCommandWith(PutEventsCommand, {
      Entries: [
        expect.objectContaining({ EventBusName: BUS }),
        expect.objectContaining({ EventBusName: BUS }),
      ],
    });
    expect(ddb).toHaveReceivedCommandWith(BatchExecuteStatementCommand, {
      Statements: [
        expect.objectContaining({ Statement: expect.stringContaining('UPDATE "outbox-unit"') }),
        expect.objectContaining({ Statement: expect.stringContaining('UPDATE "outbox-unit"') }),
      ],
    });
  });

  it('returns the first unpublished record’s sequence number when publishing fails', async () => {
    eventBridge.on(PutEventsCommand).rejects(serviceError('ValidationException'));
    const records = [
      insertRecord(outboxItem({ aggregateId: 1 })),
      insertRecord(outboxItem({ aggregateId: 2 })),
    ];

    const response = await handler(streamEvent(records), lambdaContext());

    expect(response).toEqual({
      batchItemFailures: [{ itemIdentifier: sequenceNumberOf(records[0]) }],
    });
  });

  it('flushes the metrics after every invocation', async () => {
    const publish = vi.spyOn(metrics, 'publishStoredMetrics');

    await handler(streamEvent([insertRecord(outboxItem())]), lambdaContext());

    expect(publish).toHaveBeenCalledTimes(1);
  });
});
