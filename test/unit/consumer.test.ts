import { Logger } from '@aws-lambda-powertools/logger';
import type { Metrics } from '@aws-lambda-powertools/metrics';
import {
  ConditionalCheckFailedException,
  DeleteItemCommand,
  DynamoDBClient,
  PutItemCommand,
  UpdateItemCommand,
} from '@aws-sdk/client-dynamodb';
import { mockClient } from 'aws-sdk-client-mock';
import { allCustomMatcher } from 'aws-sdk-client-mock-vitest';
import type {} from 'aws-sdk-client-mock-vitest/extend';
import { afterEach, beforeEach, describe, expect, it, type MockInstance, vi } from 'vitest';
import {
  type ApplyEvent,
  CONSUMER_METRICS,
  type ConsumerHandler,
  createConsumer,
} from '../../lambdas/consumer/consumer';
import { parseDelivered } from '../../lambdas/consumer/envelope';
import { InvalidEnvelopeError, RetryLaterError } from '../../lambdas/consumer/errors';
import { outboxLayout } from '../../lambdas/outbox';
import { QuietMetrics } from '../../lambdas/sample/shared/powertools';
import { envelope, eventBridgeBody, lambdaContext, newId, sqsEvent } from '../helpers/consumer-events';

expect.extend(allCustomMatcher);

const dynamo = mockClient(DynamoDBClient);
// The handlers' metrics: an invocation that records nothing publishes nothing, without Powertools' warning.
const metrics = new QuietMetrics({ namespace: 'Test', serviceName: 'consumer-unit' });
const logger = new Logger({ logLevel: 'SILENT' });

function consumer(apply: ApplyEvent): ConsumerHandler {
  return createConsumer({
    name: 'unit-consumer',
    tableName: 'outbox-unit',
    dynamoDb: new DynamoDBClient({ region: 'us-east-1' }),
    apply,
    logger,
    metrics,
  });
}

const registered = () =>
  envelope({ eventType: 'MemberRegistered', aggregateType: 'MEMBER', aggregateId: newId(), sequence: 1 });

function metricCount(spy: MockInstance<Metrics['addMetric']>, name: string): number {
  return spy.mock.calls.filter(([metric]) => metric === name).reduce((sum, call) => sum + Number(call[2]), 0);
}

describe('consumer', () => {
  beforeEach(() => {
    dynamo.on(PutItemCommand).resolves({});
    dynamo.on(UpdateItemCommand).resolves({});
    dynamo.on(DeleteItemCommand).resolves({});
  });

  afterEach(() => {
    dynamo.reset();
    vi.restoreAllMocks();
  });

  it('applies each event and reports no failure', async () => {
    const apply = vi.fn<ApplyEvent>().mockResolvedValue(undefined);
    const first = registered();
    const second = registered();

    const response = await consumer(apply)(sqsEvent(first, second), lambdaContext());

    expect(response.batchItemFailures).toEqual([]);
    expect(apply.mock.calls.map(([event]) => event.eventId).sort()).toEqual(
      [first.eventId, second.eventId].sort(),
    );
  });

  it('applies a batch one record at a time, in the order the queue delivered it', async () => {
    const member = newId();
    const first = envelope({
      eventType: 'MemberRegistered',
      aggregateType: 'MEMBER',
      aggregateId: member,
      sequence: 1,
    });
    const second = envelope({
      eventType: 'MemberWithdrawn',
      aggregateType: 'MEMBER',
      aggregateId: member,
      sequence: 2,
    });
    const steps: string[] = [];
    const apply = vi.fn<ApplyEvent>(async (event) => {
      steps.push(`start ${event.sequence}`);
      // The first record takes longer: run side by side, the second would finish first.
      await new Promise((resolve) => setTimeout(resolve, event.sequence === 1 ? 30 : 0));
      steps.push(`end ${event.sequence}`);
      return undefined;
    });

    await consumer(apply)(sqsEvent(first, second), lambdaContext());

    expect(steps).toEqual(['start 1', 'end 1', 'start 2', 'end 2']);
  });

  it('keeps its idempotency records under its own prefix with a TTL', async () => {
    const before = Math.floor(Date.now() / 1000);

    await consumer(vi.fn<ApplyEvent>().mockResolvedValue(undefined))(sqsEvent(registered()), lambdaContext());

    const put = dynamo.commandCalls(PutItemCommand)[0]?.args[0].input;
    expect(put?.Item?.pk?.S).toMatch(/^IDEMPOTENCY#CONSUMER#unit-consumer#[0-9a-f]{32}$/);
    expect(put?.Item?.sk).toEqual({ S: 'IDEMPOTENCY' });
    expect(Number(put?.Item?.expiresAt?.N)).toBeGreaterThan(before + 6 * 24 * 3600);
  });

  it('keeps its idempotency records under the layout key and TTL names, with no logger or metrics given', async () => {
    const handler = createConsumer({
      name: 'unit-consumer',
      tableName: 'users',
      dynamoDb: new DynamoDBClient({ region: 'us-east-1' }),
      apply: vi.fn<ApplyEvent>().mockResolvedValue(undefined),
      layout: outboxLayout({ partitionKey: 'PK', sortKey: 'SK', ttlAttribute: 'ttl' }),
    });

    const response = await handler(sqsEvent(registered()), lambdaContext());

    expect(response.batchItemFailures).toEqual([]);
    const put = dynamo.commandCalls(PutItemCommand)[0]?.args[0].input;
    expect(put?.Item?.PK?.S).toMatch(/^IDEMPOTENCY#CONSUMER#unit-consumer#[0-9a-f]{32}$/);
    expect(put?.Item?.SK).toEqual({ S: 'IDEMPOTENCY' });
    expect(put?.Item?.ttl?.N).toMatch(/^\d+$/);
    expect(put?.Item).not.toHaveProperty('pk');
    expect(put?.Item).not.toHaveProperty('expiresAt');
  });

  it('spreads its idempotency records over a partition per event, and completes each in its own', async () => {
    const events = Array.from({ length: 20 }, registered);

    await consumer(vi.fn<ApplyEvent>().mockResolvedValue(undefined))(sqsEvent(...events), lambdaContext());

    const claimed = dynamo.commandCalls(PutItemCommand).map((call) => call.args[0].input.Item?.pk?.S);
    const completed = dynamo.commandCalls(UpdateItemCommand).map((call) => call.args[0].input.Key?.pk?.S);
    expect(new Set(claimed).size).toBe(events.length);
    expect(new Set(completed)).toEqual(new Set(claimed));
  });

  it('passes how often SQS handed the message out to the logic', async () => {
    const apply = vi.fn<ApplyEvent>().mockResolvedValue(undefined);
    const event = sqsEvent(registered());
    const record = event.Records[0];
    if (record) record.attributes.ApproximateReceiveCount = '3';

    await consumer(apply)(event, lambdaContext());

    expect(apply.mock.calls[0]?.[2]).toEqual({ receiveCount: 3 });
  });

  it('reports only the message that failed', async () => {
    const good = registered();
    const event = sqsEvent(good, '{"detail":{}}');

    const response = await consumer(vi.fn<ApplyEvent>().mockResolvedValue(undefined))(event, lambdaContext());

    expect(response.batchItemFailures).toEqual([{ itemIdentifier: event.Records[1]?.messageId }]);
  });

  it('reports every message when all fail, instead of throwing', async () => {
    const event = sqsEvent('not json', '{}');

    const response = await consumer(vi.fn<ApplyEvent>())(event, lambdaContext());

    expect(response.batchItemFailures).toHaveLength(2);
  });

  it('releases the idempotency record when the logic fails, so the redelivery applies it', async () => {
    const apply = vi.fn<ApplyEvent>().mockRejectedValue(new RetryLaterError('not yet', 'e'));
    const addMetric = vi.spyOn(metrics, 'addMetric');

    const response = await consumer(apply)(sqsEvent(registered()), lambdaContext());

    expect(response.batchItemFailures).toHaveLength(1);
    expect(dynamo).toHaveReceivedCommandTimes(DeleteItemCommand, 1);
    expect(metricCount(addMetric, CONSUMER_METRICS.deferredEvents)).toBe(1);
  });

  it('answers a duplicate from the stored record without applying it, and counts it', async () => {
    const event = registered();
    dynamo.on(PutItemCommand).rejects(
      new ConditionalCheckFailedException({
        message: 'exists',
        $metadata: {},
        Item: {
          pk: { S: 'IDEMPOTENCY#CONSUMER#unit-consumer#0123456789abcdef0123456789abcdef' },
          sk: { S: 'IDEMPOTENCY' },
          status: { S: 'COMPLETED' },
          data: { S: JSON.stringify({ guard: null }) },
          expiresAt: { N: String(Math.floor(Date.now() / 1000) + 3600) },
        },
      }),
    );
    const apply = vi.fn<ApplyEvent>();
    const addMetric = vi.spyOn(metrics, 'addMetric');

    const response = await consumer(apply)(sqsEvent(event), lambdaContext());

    expect(response.batchItemFailures).toEqual([]);
    expect(apply).not.toHaveBeenCalled();
    expect(metricCount(addMetric, CONSUMER_METRICS.duplicateEvents)).toBe(1);
  });

  it('counts stale events and sequence gaps from the order guard', async () => {
    const outcomes = [
      { guard: { applied: false, current: 4 } as const },
      { guard: { applied: true, gap: 2 } as const },
    ];
    const apply = vi.fn<ApplyEvent>().mockImplementation(async () => outcomes.shift());
    const addMetric = vi.spyOn(metrics, 'addMetric');
    const handler = consumer(apply);

    await handler(sqsEvent(registered()), lambdaContext());
    await handler(sqsEvent(registered()), lambdaContext());

    expect(metricCount(addMetric, CONSUMER_METRICS.staleEvents)).toBe(1);
    expect(metricCount(addMetric, CONSUMER_METRICS.sequenceGaps)).toBe(2);
  });
});

describe('consumer envelope', () => {
  it('reads the outbox envelope out of an EventBridge event', () => {
    const detail = registered();

    expect(parseDelivered(eventBridgeBody(detail))).toMatchObject({
      detailType: 'MemberRegistered',
      source: 'com.example.members',
      detail,
    });
  });

  it.each([
    ['not JSON', 'nope'],
    ['without detail', '{"id":"1","source":"s","detail-type":"t"}'],
    ['with a non-integer sequence', eventBridgeBody({ ...registered(), sequence: 1.5 })],
  ])('rejects a body %s', (_, body) => {
    expect(() => parseDelivered(body)).toThrow(InvalidEnvelopeError);
  });
});
