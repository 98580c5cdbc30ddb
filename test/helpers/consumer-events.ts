/** Factories of what consumers receive: outbox envelopes inside EventBridge events inside SQS records. */
import { randomUUID } from 'node:crypto';
import type { Context, SQSEvent, SQSRecord } from 'aws-lambda';
import { ulid } from 'ulid';
import type { EventEnvelope } from '../../lambdas/outbox/envelope';

/** A fresh aggregate id (a ULID, as the service makes them). */
export const newId = (): string => ulid();

/** An outbox envelope; `eventId` is fresh unless given. */
export function envelope(
  fields: Pick<EventEnvelope, 'eventType' | 'aggregateType' | 'aggregateId' | 'sequence'> &
    Partial<EventEnvelope>,
): EventEnvelope {
  return {
    eventId: randomUUID(),
    occurredAt: new Date().toISOString(),
    correlationId: 'test',
    data: {},
    ...fields,
  };
}

/** The EventBridge event a rule delivers to SQS, as the message body. */
export function eventBridgeBody(detail: EventEnvelope): string {
  return JSON.stringify({
    version: '0',
    id: randomUUID(),
    'detail-type': detail.eventType,
    source: 'com.example.members',
    account: '123456789012',
    time: detail.occurredAt,
    region: 'us-east-1',
    resources: [],
    detail,
  });
}

/** An SQS record as Lambda's event source hands it over. */
export function sqsRecord(body: string, messageId: string = randomUUID()): SQSRecord {
  return {
    messageId,
    receiptHandle: `receipt-${messageId}`,
    body,
    attributes: {
      ApproximateReceiveCount: '1',
      SentTimestamp: String(Date.now()),
      SenderId: 'events',
      ApproximateFirstReceiveTimestamp: String(Date.now()),
    },
    messageAttributes: {},
    md5OfBody: '',
    eventSource: 'aws:sqs',
    eventSourceARN: 'arn:aws:sqs:us-east-1:123456789012:consumer',
    awsRegion: 'us-east-1',
  };
}

/** An SQS event of the given envelopes (or raw bodies). */
export function sqsEvent(...items: ReadonlyArray<EventEnvelope | string>): SQSEvent {
  return {
    Records: items.map((item) => sqsRecord(typeof item === 'string' ? item : eventBridgeBody(item))),
  };
}

/** A Lambda context with plenty of time left. */
export function lambdaContext(): Context {
  return {
    callbackWaitsForEmptyEventLoop: true,
    functionName: 'consumer-test',
    functionVersion: '$LATEST',
    invokedFunctionArn: 'arn:aws:lambda:us-east-1:123456789012:function:consumer-test',
    memoryLimitInMB: '512',
    awsRequestId: randomUUID(),
    logGroupName: '/aws/lambda/consumer-test',
    logStreamName: 'test',
    getRemainingTimeInMillis: () => 30_000,
    done: () => undefined,
    fail: () => undefined,
    succeed: () => undefined,
  };
}
