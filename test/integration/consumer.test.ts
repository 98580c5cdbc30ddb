/**
 * The consumer helper and the two sample consumers against DynamoDB Local
 * (idempotency records, order guard, read models) and moto (SES, SQS with a
 * redrive policy, driven by the local SQS poller).
 */
import { randomBytes } from 'node:crypto';
import { Logger } from '@aws-lambda-powertools/logger';
import { Metrics } from '@aws-lambda-powertools/metrics';
import { CreateEmailIdentityCommand, SESv2Client } from '@aws-sdk/client-sesv2';
import {
  CreateQueueCommand,
  DeleteQueueCommand,
  GetQueueAttributesCommand,
  ReceiveMessageCommand,
  SendMessageBatchCommand,
  type SQSClient,
} from '@aws-sdk/client-sqs';
import type { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { afterAll, afterEach, beforeAll, describe, expect, it, type MockInstance, vi } from 'vitest';
import { CONSUMER_METRICS, type ConsumerHandler, createConsumer } from '../../lambdas/consumer/consumer';
import { applyMemberActivity, readMemberActivity } from '../../lambdas/domain/member-activity';
import { applyNotification, readContact, WELCOME_SUBJECT } from '../../lambdas/domain/notifications';
import { readSentMail } from '../../local/consumers';
import { type SqsPoller, startSqsPoller } from '../../local/sqs-poller';
import { envelope, eventBridgeBody, lambdaContext, newId, sqsEvent } from '../helpers/consumer-events';
import {
  createTestTable,
  LOCAL_CREDENTIALS,
  localDocumentClient,
  localEndpoints,
  localSqsClient,
  type TestTable,
} from '../helpers/local-env';
import { pollUntil } from '../helpers/poll';

const FROM = 'no-reply@consumer-test.example.com';
let table: TestTable;
let db: DynamoDBDocumentClient;
let sqs: SQSClient;
let ses: SESv2Client;
let metrics: Metrics;
let addMetric: MockInstance<Metrics['addMetric']>;
let memberActivity: ConsumerHandler;
let notifications: ConsumerHandler;
const pollers: SqsPoller[] = [];
const queues: string[] = [];

beforeAll(async () => {
  table = await createTestTable('consumer');
  db = localDocumentClient();
  sqs = localSqsClient();
  ses = new SESv2Client({
    region: 'us-east-1',
    credentials: LOCAL_CREDENTIALS,
    endpoint: localEndpoints().moto,
  });
  await ses.send(new CreateEmailIdentityCommand({ EmailIdentity: FROM }));
  metrics = new Metrics({ namespace: 'ConsumerTest', serviceName: 'consumer-test' });
  const logger = new Logger({ logLevel: 'SILENT' });
  const deps = { client: db, tableName: table.tableName };
  memberActivity = createConsumer({
    name: 'member-activity',
    tableName: table.tableName,
    dynamoDb: table.client,
    logger,
    metrics,
    apply: (event) => applyMemberActivity(deps, event),
  });
  notifications = createConsumer({
    name: 'notifications',
    tableName: table.tableName,
    dynamoDb: table.client,
    logger,
    metrics,
    apply: (event) => applyNotification({ ...deps, ses, fromAddress: FROM, now: () => new Date() }, event),
  });
});

afterEach(async () => {
  addMetric?.mockRestore();
  await Promise.all(pollers.splice(0).map((poller) => poller.stop()));
  await Promise.all(queues.splice(0).map((url) => sqs.send(new DeleteQueueCommand({ QueueUrl: url }))));
});

afterAll(() => {
  ses?.destroy();
  sqs?.destroy();
});

function spyMetrics(): void {
  addMetric = vi.spyOn(metrics, 'addMetric');
}

function metricCount(name: string): number {
  return addMetric.mock.calls
    .filter(([metric]) => metric === name)
    .reduce((sum, [, , value]) => sum + Number(value), 0);
}

const registered = (memberId: string, email: string, sequence = 1) =>
  envelope({
    eventType: 'MemberRegistered',
    aggregateType: 'MEMBER',
    aggregateId: memberId,
    sequence,
    data: { memberId, email, name: 'Ada' },
  });
const withdrawn = (memberId: string, sequence: number) =>
  envelope({
    eventType: 'MemberWithdrawn',
    aggregateType: 'MEMBER',
    aggregateId: memberId,
    sequence,
    data: { memberId, cancelledOrderIds: [] },
  });
const orderEvent = (eventType: 'OrderPlaced' | 'OrderCancelled', orderId: string, memberId: string) =>
  envelope({
    eventType,
    aggregateType: 'ORDER',
    aggregateId: orderId,
    sequence: eventType === 'OrderPlaced' ? 1 : 2,
    data: { orderId, memberId },
  });

describe('consumer idempotency', () => {
  it('applies a message delivered twice once and counts the duplicate', async () => {
    spyMetrics();
    const memberId = newId();
    const placed = orderEvent('OrderPlaced', newId(), memberId);

    const first = await memberActivity(sqsEvent(placed), lambdaContext());
    const second = await memberActivity(sqsEvent(placed), lambdaContext());

    expect(first.batchItemFailures).toEqual([]);
    expect(second.batchItemFailures).toEqual([]);
    expect(await readMemberActivity({ client: db, tableName: table.tableName }, memberId)).toEqual({
      memberId,
      openOrders: 1,
    });
    expect(metricCount(CONSUMER_METRICS.duplicateEvents)).toBe(1);
  });

  it('sends one welcome mail for a MemberRegistered delivered twice', async () => {
    const memberId = newId();
    const email = `ada-${randomBytes(4).toString('hex')}@example.com`;
    const event = registered(memberId, email);

    await notifications(sqsEvent(event), lambdaContext());
    await notifications(sqsEvent(event), lambdaContext());

    const mails = (await readSentMail(localEndpoints().moto)).filter((mail) => mail.to.includes(email));
    expect(mails).toHaveLength(1);
    expect(mails[0]).toMatchObject({ source: FROM, subject: WELCOME_SUBJECT });
  });
});

describe('order guard', () => {
  it('ignores an older member event that arrives after a newer one and counts it as stale', async () => {
    spyMetrics();
    const memberId = newId();

    await memberActivity(sqsEvent(withdrawn(memberId, 3)), lambdaContext());
    await memberActivity(sqsEvent(registered(memberId, 'late@example.com', 1)), lambdaContext());

    expect(await readMemberActivity({ client: db, tableName: table.tableName }, memberId)).toMatchObject({
      status: 'withdrawn',
    });
    expect(metricCount(CONSUMER_METRICS.staleEvents)).toBe(1);
    expect(metricCount(CONSUMER_METRICS.sequenceGaps)).toBe(2);
  });

  it('never counts an order whose cancellation overtook its placement', async () => {
    const memberId = newId();
    const orderId = newId();

    await memberActivity(sqsEvent(orderEvent('OrderCancelled', orderId, memberId)), lambdaContext());
    await memberActivity(sqsEvent(orderEvent('OrderPlaced', orderId, memberId)), lambdaContext());

    const activity = await readMemberActivity({ client: db, tableName: table.tableName }, memberId);
    expect(activity?.openOrders ?? 0).toBe(0);
  });

  it('counts concurrent deliveries of one order event once', async () => {
    const memberId = newId();
    const placed = orderEvent('OrderPlaced', newId(), memberId);
    // Different event ids, so idempotency does not hide the race: only the guard can.
    const copies = Array.from({ length: 5 }, () => ({ ...placed, eventId: newId() }));

    await Promise.all(copies.map((copy) => memberActivity(sqsEvent(copy), lambdaContext())));

    expect(await readMemberActivity({ client: db, tableName: table.tableName }, memberId)).toMatchObject({
      openOrders: 1,
    });
  });

  it('erases the address after the farewell mail and keeps a late registration from restoring it', async () => {
    const memberId = newId();
    const email = `bye-${randomBytes(4).toString('hex')}@example.com`;

    await notifications(sqsEvent(registered(memberId, email)), lambdaContext());
    await notifications(sqsEvent(withdrawn(memberId, 2)), lambdaContext());
    await notifications(sqsEvent(registered(memberId, email)), lambdaContext());

    const contact = await readContact({ client: db, tableName: table.tableName }, memberId);
    expect(contact).toMatchObject({ lastSequence: 2, withdrawnAt: expect.any(String) });
    expect(contact).not.toHaveProperty('email');
    const mails = (await readSentMail(localEndpoints().moto)).filter((mail) => mail.to.includes(email));
    expect(mails.map((mail) => mail.subject)).toEqual([WELCOME_SUBJECT, 'Goodbye']);
  });

  it('defers a MemberWithdrawn that arrives before any address', async () => {
    const memberId = newId();

    const response = await notifications(sqsEvent(withdrawn(memberId, 2)), lambdaContext());

    expect(response.batchItemFailures).toHaveLength(1);
    expect(await readContact({ client: db, tableName: table.tableName }, memberId)).toBeUndefined();
  });
});

describe('consumer on its queue', () => {
  async function createQueue(name: string, attributes: Record<string, string>): Promise<string> {
    const output = await sqs.send(new CreateQueueCommand({ QueueName: name, Attributes: attributes }));
    if (!output.QueueUrl) throw new Error('CreateQueue returned no URL');
    queues.push(output.QueueUrl);
    return output.QueueUrl;
  }

  async function queueArn(url: string): Promise<string> {
    const output = await sqs.send(
      new GetQueueAttributesCommand({ QueueUrl: url, AttributeNames: ['QueueArn'] }),
    );
    const arn = output.Attributes?.QueueArn;
    if (!arn) throw new Error(`queue ${url} has no ARN`);
    return arn;
  }

  it('moves a message that always fails to the DLQ after maxReceiveCount while the rest of its batch succeeds', async () => {
    const name = `consumer-${randomBytes(4).toString('hex')}`;
    const dlqUrl = await createQueue(`${name}-dlq`, {});
    const queueUrl = await createQueue(name, {
      VisibilityTimeout: '1',
      RedrivePolicy: JSON.stringify({ deadLetterTargetArn: await queueArn(dlqUrl), maxReceiveCount: 2 }),
    });
    const memberId = newId();
    const bodies = [
      eventBridgeBody(orderEvent('OrderPlaced', newId(), memberId)),
      '{"not":"an outbox event"}',
      eventBridgeBody(orderEvent('OrderPlaced', newId(), memberId)),
    ];
    let invocations = 0;
    pollers.push(
      startSqsPoller({
        sqs,
        queueUrl,
        queueArn: await queueArn(queueUrl),
        FunctionResponseTypes: ['ReportBatchItemFailures'],
        handler: (event, context) => {
          invocations += 1;
          return memberActivity(event, context);
        },
      }),
    );

    await sqs.send(
      new SendMessageBatchCommand({
        QueueUrl: queueUrl,
        Entries: bodies.map((body, index) => ({ Id: String(index), MessageBody: body })),
      }),
    );

    const deadLettered: string[] = [];
    await pollUntil(
      async () => {
        const output = await sqs.send(
          new ReceiveMessageCommand({ QueueUrl: dlqUrl, MaxNumberOfMessages: 10, WaitTimeSeconds: 1 }),
        );
        deadLettered.push(...(output.Messages ?? []).map((message) => message.Body ?? ''));
        return deadLettered.length > 0;
      },
      { timeoutMs: 30_000, intervalMs: 0, what: 'the failing message in the DLQ' },
    );
    expect(deadLettered).toEqual(['{"not":"an outbox event"}']);
    expect(await readMemberActivity({ client: db, tableName: table.tableName }, memberId)).toMatchObject({
      openOrders: 2,
    });
    // Received twice (maxReceiveCount), then moved on the third receive without an invocation.
    expect(invocations).toBeGreaterThanOrEqual(2);
  });
});
