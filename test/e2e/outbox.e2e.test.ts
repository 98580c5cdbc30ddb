/**
 * The whole flow through a target: requests through the API, events through
 * the table, stream, relay and bus, out of the tap queue. Every request
 * carries this run's correlation id prefix, so the suite sees only its own
 * events even on a shared deployed stack.
 */
import { randomUUID } from 'node:crypto';
import { DeleteMessageBatchCommand, ReceiveMessageCommand } from '@aws-sdk/client-sqs';
import { QueryCommand } from '@aws-sdk/lib-dynamodb';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SAMPLE_EVENTS, type SampleEventType } from '../../lambdas/sample/domain/events';
import { pollUntil } from '../helpers/poll';
import { type E2eTarget, openTarget, type Reply } from './targets';

/** An event as the tap queue receives it: the EventBridge envelope around our Detail. */
interface Delivered {
  readonly id: string;
  readonly source: string;
  readonly 'detail-type': string;
  readonly detail: {
    readonly eventId: string;
    readonly eventType: string;
    readonly aggregateType: string;
    readonly aggregateId: string;
    readonly sequence: number;
    readonly occurredAt: string;
    readonly correlationId: string;
    readonly data: Record<string, unknown>;
  };
}

interface Expected {
  readonly eventType: string;
  readonly aggregateType: string;
  readonly aggregateId: string;
  readonly sequence: number;
}

const run = randomUUID().slice(0, 8);
let target: E2eTarget;
const expected: Expected[] = [];
const delivered: Delivered[] = [];
let requestCount = 0;

function correlationId(): string {
  requestCount += 1;
  return `e2e-${run}-${requestCount}`;
}

async function accepted(
  method: string,
  path: string,
  body: unknown,
  events: (reply: Reply) => Expected[],
  headers: Record<string, string> = {},
): Promise<Reply> {
  const reply = await target.request(method, path, body, { 'x-correlation-id': correlationId(), ...headers });
  expect(reply.status, `${method} ${path}: ${JSON.stringify(reply.body)}`).toBeLessThan(300);
  expected.push(...events(reply));
  return reply;
}

async function rejected(
  method: string,
  path: string,
  body: unknown,
  status: number,
  headers: Record<string, string> = {},
) {
  const reply = await target.request(method, path, body, { 'x-correlation-id': correlationId(), ...headers });
  expect(reply.status, `${method} ${path}`).toBe(status);
  expect(reply.headers.get('content-type')).toBe('application/problem+json');
}

/** Moves this run's events from the tap queue into `delivered`. */
async function receiveTap(): Promise<number> {
  const output = await target.sqs.send(
    new ReceiveMessageCommand({ QueueUrl: target.tapQueueUrl, MaxNumberOfMessages: 10, WaitTimeSeconds: 1 }),
  );
  const messages = output.Messages ?? [];
  for (const message of messages) {
    const event = JSON.parse(message.Body ?? '{}') as Delivered;
    if (event.detail?.correlationId?.startsWith(`e2e-${run}-`)) delivered.push(event);
  }
  if (messages.length > 0) {
    await target.sqs.send(
      new DeleteMessageBatchCommand({
        QueueUrl: target.tapQueueUrl,
        Entries: messages.map((message, index) => ({
          Id: String(index),
          ReceiptHandle: message.ReceiptHandle ?? '',
        })),
      }),
    );
  }
  return messages.length;
}

const key = (event: { aggregateId: string; sequence: number }) => `${event.aggregateId}#${event.sequence}`;

beforeAll(async () => {
  target = await openTarget();

  // Accepted requests, each with the events it must cause.
  const ada = await accepted('POST', '/members', { email: 'ada@example.com', name: 'Ada' }, (reply) => [
    {
      eventType: 'MemberRegistered',
      aggregateType: 'MEMBER',
      aggregateId: String(reply.body.id),
      sequence: 1,
    },
  ]);
  const adaId = String(ada.body.id);
  const bob = await accepted('POST', '/members', { email: 'bob@example.com', name: 'Bob' }, (reply) => [
    {
      eventType: 'MemberRegistered',
      aggregateType: 'MEMBER',
      aggregateId: String(reply.body.id),
      sequence: 1,
    },
  ]);
  const bobId = String(bob.body.id);
  for (const version of [1, 2]) {
    await accepted(
      'PATCH',
      `/members/${adaId}`,
      { name: `Ada v${version + 1}` },
      () => [
        {
          eventType: 'MemberProfileUpdated',
          aggregateType: 'MEMBER',
          aggregateId: adaId,
          sequence: version + 1,
        },
      ],
      { 'if-match': String(version) },
    );
  }
  const orders: string[] = [];
  for (let index = 0; index < 3; index++) {
    const order = await accepted(
      'POST',
      '/orders',
      { memberId: adaId, items: [{ sku: `SKU-${index}`, quantity: 1, unitPrice: 9.99 }] },
      (reply) => [
        { eventType: 'OrderPlaced', aggregateType: 'ORDER', aggregateId: String(reply.body.id), sequence: 1 },
      ],
    );
    orders.push(String(order.body.id));
  }
  const [first = '', ...open] = orders;
  await accepted('POST', `/orders/${first}/cancel`, undefined, () => [
    { eventType: 'OrderCancelled', aggregateType: 'ORDER', aggregateId: first, sequence: 2 },
  ]);
  await accepted('DELETE', `/members/${adaId}`, undefined, () => [
    ...open.map((orderId) => ({
      eventType: 'OrderCancelled',
      aggregateType: 'ORDER',
      aggregateId: orderId,
      sequence: 2,
    })),
    { eventType: 'MemberWithdrawn', aggregateType: 'MEMBER', aggregateId: adaId, sequence: 4 },
  ]);
  await accepted(
    'POST',
    '/members',
    { email: 'bob@example.com', name: 'Bob again' },
    (reply) => [
      {
        eventType: 'MemberRegistered',
        aggregateType: 'MEMBER',
        aggregateId: String(reply.body.id),
        sequence: 1,
      },
    ],
    { 'idempotency-key': `e2e-${run}-bob2` },
  );
  // A repeat of an idempotent request answers again but causes nothing.
  await accepted('POST', '/members', { email: 'bob@example.com', name: 'Bob again' }, () => [], {
    'idempotency-key': `e2e-${run}-bob2`,
  });

  // Rejected requests: none may cause an event.
  await rejected('POST', '/members', '{"email":', 400);
  await rejected('POST', '/members', { email: 'x@example.com', name: 'X', admin: true }, 400);
  await rejected('PATCH', `/members/${bobId}`, { name: 'Stale' }, 412, { 'if-match': '7' });
  await rejected('PATCH', `/members/${bobId}`, { name: 'Blind' }, 428);
  await rejected(
    'POST',
    '/orders',
    { memberId: adaId, items: [{ sku: 'A', quantity: 1, unitPrice: 1 }] },
    409,
  );
  await rejected('POST', `/orders/${first}/cancel`, undefined, 409);
  await rejected('DELETE', `/members/${adaId}`, undefined, 409);
  await rejected('GET', '/members/MEMBER%23X', undefined, 400);
  await rejected('PUT', `/members/${bobId}`, { name: 'Put' }, 405);
  await rejected('POST', '/members', { email: 'y@example.com', name: 'Y' }, 422, {
    'idempotency-key': `e2e-${run}-bob2`,
  });

  // Collect until every expected event has arrived.
  const wanted = new Set(expected.map(key));
  await pollUntil(
    async () => {
      await receiveTap();
      return [...wanted].every((id) => delivered.some((event) => key(event.detail) === id));
    },
    { timeoutMs: 60_000, intervalMs: 0, what: 'every expected event on the tap queue' },
  );
  // Then drain until the queue stays empty, so a stray event would be seen.
  let quiet = 0;
  await pollUntil(
    async () => {
      quiet = (await receiveTap()) === 0 ? quiet + 1 : 0;
      return quiet >= 3;
    },
    { timeoutMs: 30_000, intervalMs: 0, what: 'the tap queue to stay empty' },
  );
});

afterAll(async () => {
  await target?.stop();
});

describe(`outbox end to end (${process.env.E2E_TARGET ?? 'local'})`, () => {
  it("delivers each accepted request's events with their type, aggregate and sequence", () => {
    const got = new Set(
      delivered.map(
        (event) => `${event.detail.eventType}:${event.detail.aggregateType}:${key(event.detail)}`,
      ),
    );

    expect(got).toEqual(
      new Set(expected.map((event) => `${event.eventType}:${event.aggregateType}:${key(event)}`)),
    );
  });

  it('delivers nothing for rejected requests', () => {
    const wanted = new Set(expected.map(key));

    expect(delivered.filter((event) => !wanted.has(key(event.detail)))).toEqual([]);
  });

  it('gives every event a unique eventId and the full envelope', () => {
    const firstDeliveries = new Map(delivered.map((event) => [key(event.detail), event]));

    expect(new Set([...firstDeliveries.values()].map((event) => event.detail.eventId)).size).toBe(
      firstDeliveries.size,
    );
    for (const event of firstDeliveries.values()) {
      expect(event['detail-type']).toBe(event.detail.eventType);
      expect(event.source).toBe('com.example.members');
      expect(event.detail).toEqual({
        eventId: expect.any(String),
        eventType: expect.any(String),
        aggregateType: expect.any(String),
        aggregateId: expect.any(String),
        sequence: expect.any(Number),
        occurredAt: expect.stringMatching(/^\d{4}-\d\d-\d\dT/),
        correlationId: expect.stringMatching(new RegExp(`^e2e-${run}-`)),
        // The API's writer checks each event against the sample's catalogue and records the version.
        dataVersion: SAMPLE_EVENTS.events[event.detail.eventType as SampleEventType].version,
        data: expect.any(Object),
      });
    }
  });

  it('keeps per-aggregate order', () => {
    const byAggregate = new Map<string, number[]>();
    for (const event of delivered) {
      const sequences = byAggregate.get(event.detail.aggregateId) ?? [];
      if (!sequences.includes(event.detail.sequence)) sequences.push(event.detail.sequence);
      byAggregate.set(event.detail.aggregateId, sequences);
    }

    for (const sequences of byAggregate.values()) {
      const ascending = [...sequences].sort((a, b) => a - b);
      // Contiguous from 1 on every target; in arrival order where the tap keeps it.
      expect(ascending).toEqual(ascending.map((_, index) => index + 1));
      if (target.orderedTap) expect(sequences).toEqual(ascending);
    }
  });

  it('marks every delivered item with deliveredAt and expiresAt and takes it out of the pending index', async () => {
    await pollUntil(async () => (await Promise.all(expected.map(isMarked))).every(Boolean), {
      timeoutMs: 30_000,
      intervalMs: 250,
      what: 'every delivered outbox item to be marked',
    });

    for (const event of expected) {
      const item = await outboxItem(event);
      expect(item).toMatchObject({ deliveredAt: expect.any(String), expiresAt: expect.any(Number) });
      expect(item).not.toHaveProperty('pendingPk');
      expect(Number(item?.expiresAt)).toBeGreaterThan(Date.parse(String(item?.deliveredAt)) / 1000);
    }
  });

  it('invokes the relay once per committed event: marks and TTL deletes never reach it', async () => {
    if (!target.relayRecordCount || !target.settle) return expect(target.name).not.toBe('local');
    await target.settle();

    // Every outbox INSERT of this run reached the relay exactly once; the
    // MODIFY of each delivered mark and the entity writes were filtered out.
    expect(target.relayRecordCount()).toBe(expected.length);
  });
});

async function isMarked(event: Expected): Promise<boolean> {
  const item = await outboxItem(event);
  return item !== undefined && typeof item.expiresAt === 'number' && item.pendingPk === undefined;
}

async function outboxItem(event: Expected): Promise<Record<string, unknown> | undefined> {
  const output = await target.db.send(
    new QueryCommand({
      TableName: target.tableName,
      KeyConditionExpression: 'pk = :pk AND sk = :sk',
      ExpressionAttributeValues: {
        ':pk': `${event.aggregateType}#${event.aggregateId}`,
        ':sk': `OUTBOX#${String(event.sequence).padStart(12, '0')}`,
      },
      ConsistentRead: true,
    }),
  );
  return output.Items?.[0];
}
