/**
 * The consumer helper and the two sample consumers against DynamoDB Local
 * (idempotency records, order guard, read models) and moto (SES, SQS with a
 * redrive policy, driven by the local SQS poller).
 */
import { randomBytes } from 'node:crypto';
import { Logger } from '@aws-lambda-powertools/logger';
import type { Metrics } from '@aws-lambda-powertools/metrics';
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
import * as fc from 'fast-check';
import { afterAll, afterEach, beforeAll, describe, expect, it, type MockInstance, vi } from 'vitest';
import { CONSUMER_METRICS, type ConsumerHandler, createConsumer } from '../../lambdas/consumer/consumer';
import type { EventEnvelope } from '../../lambdas/outbox/envelope';
import { applyMemberActivity, readMemberActivity } from '../../lambdas/sample/domain/member-activity';
import {
  applyNotification,
  FAREWELL_SUBJECT,
  readContact,
  WELCOME_SUBJECT,
} from '../../lambdas/sample/domain/notifications';
import { QuietMetrics } from '../../lambdas/sample/shared/powertools';
import { readSentMail } from '../../local/consumers';
import { type SqsPoller, startSqsPoller } from '../../local/sqs-poller';
import { deliverInAnyOrder, expireIdempotencyRecords, roll, seededRandom } from '../helpers/chaos';
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
import { contactView, foldContact, foldMemberActivity } from '../helpers/read-models';

const FROM = 'no-reply@consumer-test.example.com';
let logger: Logger;
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
  // The handlers' metrics: an invocation that records nothing publishes nothing, without Powertools' warning.
  metrics = new QuietMetrics({ namespace: 'ConsumerTest', serviceName: 'consumer-test' });
  logger = new Logger({ logLevel: 'SILENT' });
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
const updated = (memberId: string, sequence: number, changes: { email?: string; name?: string }) =>
  envelope({
    eventType: 'MemberProfileUpdated',
    aggregateType: 'MEMBER',
    aggregateId: memberId,
    sequence,
    data: { memberId, changes },
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
  });

  it('shows a member active whose profile update arrived before the registration', async () => {
    const memberId = newId();

    await memberActivity(sqsEvent(updated(memberId, 2, { name: 'Ada L.' })), lambdaContext());
    await memberActivity(sqsEvent(registered(memberId, 'ada@example.com', 1)), lambdaContext());

    expect(await readMemberActivity({ client: db, tableName: table.tableName }, memberId)).toEqual({
      memberId,
      status: 'active',
      openOrders: 0,
    });
  });

  it('keeps the newest address when the events arrive 3, 1, 2, and sends the farewell mail there', async () => {
    const memberId = newId();
    const tag = randomBytes(4).toString('hex');
    const [oldAddress, newAddress] = [`old-${tag}@example.com`, `new-${tag}@example.com`];
    const deps = { client: db, tableName: table.tableName };

    await notifications(sqsEvent(updated(memberId, 3, { name: 'Ada L.' })), lambdaContext());
    await notifications(sqsEvent(registered(memberId, oldAddress, 1)), lambdaContext());
    await notifications(sqsEvent(updated(memberId, 2, { email: newAddress })), lambdaContext());
    const before = await readContact(deps, memberId);
    await notifications(sqsEvent(withdrawn(memberId, 4)), lambdaContext());

    expect(before).toMatchObject({ email: newAddress, name: 'Ada L.' });
    const farewells = (await readSentMail(localEndpoints().moto)).filter(
      (mail) => mail.subject === FAREWELL_SUBJECT && mail.to.some((to) => to.includes(tag)),
    );
    expect(farewells.map((mail) => mail.to)).toEqual([[newAddress]]);
  });

  it('sends no second welcome mail when the registration comes again after the idempotency record expired', async () => {
    const memberId = newId();
    const email = `replay-${randomBytes(4).toString('hex')}@example.com`;
    const event = registered(memberId, email);

    await notifications(sqsEvent(event), lambdaContext());
    await expireIdempotencyRecords(table.client, table.tableName, 'notifications');
    const replay = await notifications(sqsEvent(event), lambdaContext());

    expect(replay.batchItemFailures).toEqual([]);
    const mails = (await readSentMail(localEndpoints().moto)).filter((mail) => mail.to.includes(email));
    expect(mails.map((mail) => mail.subject)).toEqual([WELCOME_SUBJECT]);
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

  it('leaves a tombstone for a MemberWithdrawn that arrives before the registration: no welcome mail, no address', async () => {
    const memberId = newId();
    const email = `early-bye-${randomBytes(4).toString('hex')}@example.com`;

    const response = await notifications(sqsEvent(withdrawn(memberId, 2)), lambdaContext());
    await notifications(sqsEvent(registered(memberId, email)), lambdaContext());

    expect(response.batchItemFailures).toEqual([]);
    const contact = await readContact({ client: db, tableName: table.tableName }, memberId);
    expect(contact).toMatchObject({ withdrawnAt: expect.any(String) });
    expect(JSON.stringify(contact)).not.toContain(email);
    expect((await readSentMail(localEndpoints().moto)).filter((mail) => mail.to.includes(email))).toEqual([]);
  });

  it('defers a MemberWithdrawn while an earlier event of the member is missing', async () => {
    const memberId = newId();
    const email = `wait-${randomBytes(4).toString('hex')}@example.com`;
    await notifications(sqsEvent(registered(memberId, email)), lambdaContext());

    const response = await notifications(sqsEvent(withdrawn(memberId, 3)), lambdaContext());

    expect(response.batchItemFailures).toHaveLength(1);
    expect(await readContact({ client: db, tableName: table.tableName }, memberId)).toMatchObject({ email });
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

/** A member's whole life as the service writes it: registration, updates, orders, maybe the withdrawal. */
function memberHistory(plan: {
  readonly updates: readonly { readonly email: boolean; readonly name: boolean }[];
  readonly orders: readonly boolean[];
  readonly withdraws: boolean;
}) {
  const memberId = newId();
  const tag = randomBytes(4).toString('hex');
  const address = (step: number) => `converge-${tag}-${step}@example.com`;
  const member: EventEnvelope[] = [
    envelope({
      eventType: 'MemberRegistered',
      aggregateType: 'MEMBER',
      aggregateId: memberId,
      sequence: 1,
      data: { memberId, email: address(0), name: 'Name 0' },
    }),
  ];
  plan.updates.forEach((update, index) => {
    const step = index + 1;
    const changes = {
      ...(update.email ? { email: address(step) } : {}),
      ...(update.name ? { name: `Name ${step}` } : {}),
    };
    member.push(
      envelope({
        eventType: 'MemberProfileUpdated',
        aggregateType: 'MEMBER',
        aggregateId: memberId,
        sequence: step + 1,
        data: { memberId, changes },
      }),
    );
  });
  const orders: EventEnvelope[] = [];
  const open: string[] = [];
  const orderEvent = (eventType: string, orderId: string, sequence: number) =>
    envelope({
      eventType,
      aggregateType: 'ORDER',
      aggregateId: orderId,
      sequence,
      data: { orderId, memberId },
    });
  for (const cancelled of plan.orders) {
    const orderId = newId();
    orders.push(orderEvent('OrderPlaced', orderId, 1));
    if (cancelled) orders.push(orderEvent('OrderCancelled', orderId, 2));
    else open.push(orderId);
  }
  if (plan.withdraws) {
    for (const orderId of open) orders.push(orderEvent('OrderCancelled', orderId, 2));
    member.push(
      envelope({
        eventType: 'MemberWithdrawn',
        aggregateType: 'MEMBER',
        aggregateId: memberId,
        sequence: member.length + 1,
        data: { memberId, cancelledOrderIds: open },
      }),
    );
  }
  return { memberId, member, orders, addresses: member.map((_, step) => address(step)) };
}

describe('read models under any delivery order', () => {
  it('end as the events in sequence order give them, for any order, duplicates and redeliveries after the idempotency records expired', async () => {
    const deps = { client: db, tableName: table.tableName };
    const expectedMail: { addresses: string[]; withdrawn: boolean; farewellTo?: string }[] = [];
    // Some deliveries fail after their effect, so the redelivery runs the logic again.
    const attempts = new Map<string, number>();
    const failingAfter = async <T>(seed: number, eventId: string, apply: () => Promise<T>): Promise<T> => {
      const result = await apply();
      const attempt = (attempts.get(eventId) ?? 0) + 1;
      attempts.set(eventId, attempt);
      if (roll(seed, 'fail-after', eventId, attempt) < 0.1)
        throw new Error('injected: failed after the effect');
      return result;
    };

    await fc.assert(
      fc.asyncProperty(
        fc.record({
          updates: fc.array(
            fc
              .record({ email: fc.boolean(), name: fc.boolean() })
              .filter((update) => update.email || update.name),
            { maxLength: 3 },
          ),
          orders: fc.array(fc.boolean(), { maxLength: 2 }),
          withdraws: fc.boolean(),
        }),
        fc.integer({ min: 1, max: 2 ** 31 - 1 }),
        async (plan, seed) => {
          const history = memberHistory(plan);
          const random = seededRandom(seed);
          const events = [...history.member, ...history.orders];
          const handlers = [
            createConsumer({
              name: 'member-activity',
              tableName: table.tableName,
              dynamoDb: table.client,
              logger,
              metrics,
              apply: (event) => failingAfter(seed, event.eventId, () => applyMemberActivity(deps, event)),
            }),
            createConsumer({
              name: 'notifications',
              tableName: table.tableName,
              dynamoDb: table.client,
              logger,
              metrics,
              apply: (event, _delivered, delivery) =>
                failingAfter(seed, event.eventId, () =>
                  applyNotification(
                    { ...deps, ses, fromAddress: FROM, now: () => new Date() },
                    event,
                    delivery,
                  ),
                ),
            }),
          ];
          // Every event once, a share twice, all shuffled; then a share again after the records expired.
          const bodies = events.flatMap((event) =>
            Array.from({ length: random() < 0.3 ? 2 : 1 }, () => eventBridgeBody(event)),
          );
          const late = events.filter(() => random() < 0.5).map((event) => eventBridgeBody(event));
          for (const handler of handlers) {
            const first = await deliverInAnyOrder(handler, bodies, { random, maxReceives: 20 });
            expect(first.deadLettered).toEqual([]);
          }
          await expireIdempotencyRecords(table.client, table.tableName, 'member-activity');
          await expireIdempotencyRecords(table.client, table.tableName, 'notifications');
          for (const handler of handlers) {
            const second = await deliverInAnyOrder(handler, late, { random, maxReceives: 20 });
            expect(second.deadLettered).toEqual([]);
          }

          const contact = foldContact(history.member);
          expect(contactView(await readContact(deps, history.memberId))).toEqual(contact.view);
          expect(await readMemberActivity(deps, history.memberId)).toEqual(
            foldMemberActivity(history.memberId, history.member, history.orders),
          );
          expectedMail.push({
            addresses: history.addresses,
            withdrawn: plan.withdraws,
            ...(contact.farewellTo === undefined ? {} : { farewellTo: contact.farewellTo }),
          });
        },
      ),
      { numRuns: 25 },
    );

    // Mails once per member, not once per idempotency window; the farewell to the newest address.
    const mails = await readSentMail(localEndpoints().moto);
    const wrong: string[] = [];
    for (const member of expectedMail) {
      const own = mails.filter((mail) => mail.to.some((to) => member.addresses.includes(to)));
      const welcomes = own.filter((mail) => mail.subject === WELCOME_SUBJECT);
      const farewells = own.filter((mail) => mail.subject === FAREWELL_SUBJECT);
      if (welcomes.length > 1 || (!member.withdrawn && welcomes.length !== 1))
        wrong.push(`${member.addresses[0]}: ${welcomes.length} welcome mails`);
      if (farewells.length > 1 || (!member.withdrawn && farewells.length > 0))
        wrong.push(`${member.addresses[0]}: ${farewells.length} farewell mails`);
      if (farewells.some((mail) => !mail.to.includes(member.farewellTo ?? '')))
        wrong.push(
          `${member.addresses[0]}: farewell to ${farewells[0]?.to.join()} instead of ${member.farewellTo}`,
        );
    }
    expect(wrong).toEqual([]);
  }, 240_000);
});
