/**
 * The API against DynamoDB Local: real transactions, real conditions, real
 * cancellation reasons. The table is the stack's own, created from the
 * synthesized template.
 */
import { readFileSync } from 'node:fs';
import { DynamoDBClient, TransactionCanceledException } from '@aws-sdk/client-dynamodb';
import { PutCommand, QueryCommand, ScanCommand } from '@aws-sdk/lib-dynamodb';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ConditionFailedError, entityKey, OutboxWriter } from '../../lambdas/outbox';
import { MAX_OPEN_ORDERS } from '../../lambdas/sample/domain/orders';
import {
  memberResponseSchema,
  orderResponseSchema,
  problemSchema,
} from '../../lambdas/sample/domain/responses';
import { createDocumentClient } from '../../lambdas/sample/shared/clients';
import { type LocalApi, startLocalApi } from '../../local/http-server';
import { createTestTable } from '../helpers/local-env';

let api: LocalApi;
let tableName: string;
let db: ReturnType<typeof createDocumentClient>;

beforeAll(async () => {
  const table = await createTestTable('api');
  tableName = table.tableName;
  db = createDocumentClient(new DynamoDBClient({ endpoint: table.endpoint }));
  process.env.TABLE_NAME = tableName;
  process.env.DYNAMODB_ENDPOINT = table.endpoint;
  api = await startLocalApi();
});

afterAll(async () => {
  await api?.stop();
});

interface Reply {
  status: number;
  headers: Headers;
  body: Record<string, unknown>;
}

async function call(
  method: string,
  path: string,
  body?: unknown,
  headers: Record<string, string> = {},
): Promise<Reply> {
  const response = await fetch(`${api.url}${path}`, {
    method,
    headers: { ...(body === undefined ? {} : { 'content-type': 'application/json' }), ...headers },
    ...(body === undefined ? {} : { body: typeof body === 'string' ? body : JSON.stringify(body) }),
  });
  const text = await response.text();
  return {
    status: response.status,
    headers: response.headers,
    body: text ? (JSON.parse(text) as Record<string, unknown>) : {},
  };
}

async function itemsOf(pk: string): Promise<Record<string, unknown>[]> {
  const output = await db.send(
    new QueryCommand({
      TableName: tableName,
      KeyConditionExpression: 'pk = :pk',
      ExpressionAttributeValues: { ':pk': pk },
      ConsistentRead: true,
    }),
  );
  return output.Items ?? [];
}

async function outboxOf(pk: string): Promise<Record<string, unknown>[]> {
  return (await itemsOf(pk)).filter((item) => String(item.sk).startsWith('OUTBOX#'));
}

/** Every item of the table, all pages (the limit tests store items near 400 KB; one page holds 1 MB). */
async function allItems(): Promise<Record<string, unknown>[]> {
  const items: Record<string, unknown>[] = [];
  let startKey: Record<string, unknown> | undefined;
  do {
    const page = await db.send(
      new ScanCommand({ TableName: tableName, ConsistentRead: true, ExclusiveStartKey: startKey }),
    );
    items.push(...(page.Items ?? []));
    startKey = page.LastEvaluatedKey;
  } while (startKey);
  return items;
}

/** Puts the member item back as it was, so the table's later scans stay small. */
async function restore(member: Record<string, unknown> | undefined): Promise<void> {
  if (member) await db.send(new PutCommand({ TableName: tableName, Item: member }));
}

async function register(name = 'Ada Lovelace'): Promise<{ id: string; version: number }> {
  const reply = await call('POST', '/members', {
    email: `${name.replace(/\W/g, '').toLowerCase()}@example.com`,
    name,
  });
  expect(reply.status).toBe(201);
  return { id: String(reply.body.id), version: Number(reply.body.version) };
}

async function placeOrder(memberId: string): Promise<Reply> {
  return call('POST', '/orders', { memberId, items: [{ sku: 'BOOK-1', quantity: 2, unitPrice: 12.5 }] });
}

describe('write path', () => {
  it('stores the member and its MemberRegistered event under one partition key', async () => {
    const { id } = await register();

    const items = await itemsOf(`MEMBER#${id}`);

    expect(items.map((item) => item.sk).sort()).toEqual(['MEMBER', 'OUTBOX#000000000001']);
    const [event] = await outboxOf(`MEMBER#${id}`);
    expect(event).toMatchObject({ eventType: 'MemberRegistered', aggregateId: id, sequence: 1 });
    expect(event?.pendingPk).toMatch(/^PENDING#\d+$/);
  });

  it('leaves neither entity nor event behind when a transaction is cancelled', async () => {
    const { id } = await register('Withdrawn Member');
    expect((await call('DELETE', `/members/${id}`)).status).toBe(200);
    const before = await allItems();

    const reply = await placeOrder(id);

    expect(reply.status).toBe(409);
    const after = await allItems();
    expect(after.length).toBe(before.length);
    expect(
      after.filter(
        (item) =>
          item.eventType === 'OrderPlaced' &&
          item.data &&
          (item.data as { memberId?: string }).memberId === id,
      ),
    ).toEqual([]);
  });

  it('rolls back entity writes when one condition of the writer transaction fails', async () => {
    const { id } = await register('Condition Check');
    const writer = new OutboxWriter({ client: db, tableName, source: 'test' });
    const orphanId = '01ARZ3NDEKTSV4RRFFQ69G5FAV';

    const attempt = writer.write({
      writes: [
        { label: 'orphan', Put: { Item: { ...entityKey('ORDER', orphanId), status: 'open' } } },
        {
          label: 'member-is-v9',
          ConditionCheck: {
            Key: entityKey('MEMBER', id),
            ConditionExpression: 'version = :v',
            ExpressionAttributeValues: { ':v': 9 },
          },
        },
      ],
      events: [
        { eventType: 'OrderPlaced', aggregateType: 'ORDER', aggregateId: orphanId, sequence: 1, data: {} },
      ],
    });

    await expect(attempt).rejects.toBeInstanceOf(ConditionFailedError);
    await expect(attempt).rejects.toMatchObject({
      failures: [{ label: 'member-is-v9', code: 'ConditionalCheckFailed' }],
    });
    await expect(attempt).rejects.toSatisfy(
      (error: ConditionFailedError) => error.cause instanceof TransactionCanceledException,
    );
    expect(await itemsOf(`ORDER#${orphanId}`)).toEqual([]);
  });
});

describe('optimistic locking', () => {
  it('lets exactly one of concurrent PATCHes with the same If-Match win, with exactly one event', async () => {
    const { id, version } = await register('Racing Member');

    const replies = await Promise.all(
      Array.from({ length: 8 }, (_, index) =>
        call('PATCH', `/members/${id}`, { name: `Name ${index}` }, { 'if-match': `"${version}"` }),
      ),
    );

    const statuses = replies.map((reply) => reply.status).sort();
    expect(statuses.filter((status) => status === 200)).toHaveLength(1);
    expect(
      statuses.filter((status) => status !== 200).every((status) => status === 412 || status === 409),
    ).toBe(true);
    const updates = (await outboxOf(`MEMBER#${id}`)).filter(
      (item) => item.eventType === 'MemberProfileUpdated',
    );
    expect(updates).toHaveLength(1);
    expect(updates[0]?.sequence).toBe(version + 1);
  });

  it('answers 412 for a stale version and 428 without If-Match', async () => {
    const { id } = await register('Stale Reader');
    expect((await call('PATCH', `/members/${id}`, { name: 'New' }, { 'if-match': '1' })).status).toBe(200);

    const stale = await call('PATCH', `/members/${id}`, { name: 'Newer' }, { 'if-match': '1' });
    const missing = await call('PATCH', `/members/${id}`, { name: 'Newer' });

    expect(stale.status).toBe(412);
    expect(stale.headers.get('etag')).toBe('"2"');
    expect(missing.status).toBe(428);
    expect((await outboxOf(`MEMBER#${id}`)).length).toBe(2);
  });
});

describe('idempotency keys', () => {
  it('answers a repeated request with the first result and writes nothing new', async () => {
    const body = { email: 'repeat@example.com', name: 'Repeat' };
    const headers = { 'idempotency-key': 'create-repeat-1' };

    const first = await call('POST', '/members', body, headers);
    const second = await call('POST', '/members', body, headers);

    expect(first.status).toBe(201);
    expect(second.status).toBe(201);
    expect(second.body).toEqual(first.body);
    expect(second.headers.get('idempotent-replayed')).toBe('true');
    const members = (await allItems()).filter(
      (item) => item.sk === 'MEMBER' && item.email === 'repeat@example.com',
    );
    expect(members).toHaveLength(1);
  });

  it('commits once when the same request races itself', async () => {
    const body = { email: 'race@example.com', name: 'Race' };
    const headers = { 'idempotency-key': 'create-race-1' };

    const replies = await Promise.all(
      Array.from({ length: 5 }, () => call('POST', '/members', body, headers)),
    );

    const created = replies.filter((reply) => reply.status === 201);
    expect(created.length).toBeGreaterThanOrEqual(1);
    expect(new Set(created.map((reply) => reply.body.id)).size).toBe(1);
    expect(replies.every((reply) => reply.status === 201 || reply.status === 409)).toBe(true);
    const members = (await allItems()).filter(
      (item) => item.sk === 'MEMBER' && item.email === 'race@example.com',
    );
    expect(members).toHaveLength(1);
  });

  it('refuses the same key with a different body with 422 and writes nothing', async () => {
    const headers = { 'idempotency-key': 'create-mismatch-1' };
    expect((await call('POST', '/members', { email: 'one@example.com', name: 'One' }, headers)).status).toBe(
      201,
    );
    const before = await allItems();

    const reply = await call('POST', '/members', { email: 'two@example.com', name: 'Two' }, headers);

    expect(reply.status).toBe(422);
    expect(reply.headers.get('content-type')).toBe('application/problem+json');
    expect((await allItems()).length).toBe(before.length);
  });
});

describe('withdrawal', () => {
  it('erases personal data and cancels every open order in one transaction', async () => {
    const { id } = await register('Leaving Member');
    const orders = await Promise.all([placeOrder(id), placeOrder(id), placeOrder(id)]);
    const orderIds = orders.map((reply) => String(reply.body.id));
    expect((await call('POST', `/orders/${orderIds[0]}/cancel`)).status).toBe(200);

    const reply = await call('DELETE', `/members/${id}`);

    expect(reply.status).toBe(200);
    expect(reply.body).toMatchObject({ status: 'withdrawn', openOrders: 0 });
    const [member] = (await itemsOf(`MEMBER#${id}`)).filter((item) => item.sk === 'MEMBER');
    expect(member).not.toHaveProperty('email');
    expect(member).not.toHaveProperty('name');
    const withdrawn = (await outboxOf(`MEMBER#${id}`)).find((item) => item.eventType === 'MemberWithdrawn');
    expect(withdrawn?.sequence).toBe(2);
    for (const orderId of orderIds.slice(1)) {
      const events = await outboxOf(`ORDER#${orderId}`);
      expect(events.map((item) => [item.eventType, item.sequence])).toEqual([
        ['OrderPlaced', 1],
        ['OrderCancelled', 2],
      ]);
      expect(events[1]?.data).toMatchObject({ reason: 'member-withdrawn' });
    }
    const firstOrderEvents = await outboxOf(`ORDER#${orderIds[0]}`);
    expect(firstOrderEvents.map((item) => item.eventType)).toEqual(['OrderPlaced', 'OrderCancelled']);
  });

  it('answers 409 with an explanation when more orders are open than fit in one transaction', async () => {
    const { id } = await register('Busy Buyer');
    for (let index = 0; index < 50; index++) expect((await placeOrder(id)).status).toBe(201);
    const before = await allItems();

    const reply = await call('DELETE', `/members/${id}`);

    expect(reply.status).toBe(409);
    expect(String(reply.body.detail)).toMatch(/50 open orders/);
    expect(await allItems()).toEqual(before);
  });
});

describe('key injection', () => {
  it.each([
    ['GET', '/members/MEMBER%23X'],
    ['GET', '/members/01arz3ndektsv4rrffq69g5fav'],
    ['GET', '/members/..%2F..%2FORDER%2301ARZ3NDEKTSV4RRFFQ69G5FAV'],
    ['PATCH', '/members/IDEMPOTENCY%23abc'],
    ['DELETE', '/members/01ARZ3NDEKTSV4RRFFQ69G5FA%23'],
    ['POST', '/orders/ORDER%23X/cancel'],
  ])('answers 400 for %s %s and writes nothing', async (method, path) => {
    const before = await allItems();

    const reply = await call(method, path, method === 'PATCH' ? { name: 'x' } : undefined, {
      'if-match': '1',
    });

    expect(reply.status).toBe(400);
    expect(reply.headers.get('content-type')).toBe('application/problem+json');
    expect(await allItems()).toEqual(before);
  });

  it('refuses a memberId that is not an id in an order body', async () => {
    const before = await allItems();

    const reply = await call('POST', '/orders', {
      memberId: 'MEMBER#01ARZ3NDEKTSV4RRFFQ69G5FAV',
      items: [{ sku: 'A', quantity: 1, unitPrice: 1 }],
    });

    expect(reply.status).toBe(400);
    expect(reply.body.errors).toEqual([expect.objectContaining({ field: 'memberId' })]);
    expect(await allItems()).toEqual(before);
  });
});

describe('limits', () => {
  /**
   * Stores `member` with as many open order ids as DynamoDB accepts in one
   * item (found by bisection, so the test does not depend on an estimate of
   * DynamoDB's size rules): one more id would make the item outgrow 400 KB.
   */
  async function storeFullestMember(member: Record<string, unknown>): Promise<number> {
    const idOf = (n: number) => `01JNQ8Z6Y2X3W4V5T6S${String(n).padStart(7, '0')}`;
    let low = 1;
    let high = 16_000;
    while (low < high) {
      const count = Math.ceil((low + high) / 2);
      const ids = new Set(Array.from({ length: count }, (_, n) => idOf(n)));
      try {
        await db.send(new PutCommand({ TableName: tableName, Item: { ...member, openOrderIds: ids } }));
        low = count;
      } catch {
        high = count - 1;
      }
    }
    const ids = new Set(Array.from({ length: low }, (_, n) => idOf(n)));
    await db.send(new PutCommand({ TableName: tableName, Item: { ...member, openOrderIds: ids } }));
    return low;
  }

  it('refuses an order that would grow the member item past 400 KB with a 409 that says why, and writes nothing', async () => {
    const { id } = await register('Many Orders');
    const [member] = (await itemsOf(`MEMBER#${id}`)).filter((item) => item.sk === 'MEMBER');
    const open = await storeFullestMember(member ?? {});
    const before = await allItems();

    const reply = await placeOrder(id);

    expect(reply.status).toBe(409);
    expect(reply.headers.get('content-type')).toBe('application/problem+json');
    expect(String(reply.body.detail)).toContain(`${open} open orders`);
    expect(String(reply.body.detail)).toContain('400 KB');
    expect(await allItems()).toEqual(before);
    await restore(member);
  }, 60_000);

  it('accepts the last order below the open-order limit and refuses the next, on DynamoDB itself', async () => {
    const { id } = await register('Limit Edge');
    const [member] = (await itemsOf(`MEMBER#${id}`)).filter((item) => item.sk === 'MEMBER');
    const ids = Array.from(
      { length: MAX_OPEN_ORDERS - 1 },
      (_, n) => `01JNQ8Z6Y2X3W4V5T6S${String(n).padStart(7, '0')}`,
    );
    await db.send(new PutCommand({ TableName: tableName, Item: { ...member, openOrderIds: new Set(ids) } }));

    const last = await placeOrder(id);
    const before = await allItems();
    const refused = await placeOrder(id);

    expect(last.status).toBe(201);
    expect(refused.status).toBe(409);
    expect(String(refused.body.detail)).toContain(`${MAX_OPEN_ORDERS} open orders`);
    expect(await allItems()).toEqual(before);
    await restore(member);
  }, 60_000);

  it('answers 422, not 500, when DynamoDB itself refuses a write that would outgrow 400 KB, and writes nothing', async () => {
    // An item filled to DynamoDB's limit by an attribute the service does not
    // bound (as a migration or another writer might leave it): the order's
    // ADD to openOrderIds is refused by DynamoDB (ValidationError), not by a
    // condition, so only the writer's WriteLimitError explains it.
    const { id } = await register('Padded Member');
    const [member] = (await itemsOf(`MEMBER#${id}`)).filter((item) => item.sk === 'MEMBER');
    let low = 1;
    let high = 410_000;
    while (low < high) {
      const length = Math.ceil((low + high) / 2);
      try {
        await db.send(
          new PutCommand({ TableName: tableName, Item: { ...member, padding: 'x'.repeat(length) } }),
        );
        low = length;
      } catch {
        high = length - 1;
      }
    }
    await db.send(new PutCommand({ TableName: tableName, Item: { ...member, padding: 'x'.repeat(low) } }));
    const before = await allItems();

    const reply = await placeOrder(id);

    expect(reply.status).toBe(422);
    expect(reply.headers.get('content-type')).toBe('application/problem+json');
    expect(String(reply.body.detail)).toContain('400 KB');
    expect(await allItems()).toEqual(before);
    await restore(member);
  }, 60_000);

  it.each([
    ['1e-200', 'items.0.unitPrice'],
    ['12.340000001', 'items.0.unitPrice'],
    ['1e-9', 'items.0.unitPrice'],
    ['12.3400000000000000001', 'items.0.unitPrice'],
    ['1e200', 'items.0.unitPrice'],
  ])('answers 400 naming the field for a unit price of %s, and writes nothing', async (literal, field) => {
    const { id } = await register('Number Tester');
    const before = await allItems();

    const reply = await call(
      'POST',
      '/orders',
      `{"memberId":"${id}","items":[{"sku":"BOOK-1","quantity":1,"unitPrice":${literal}}]}`,
    );

    expect(reply.status).toBe(400);
    expect(reply.body.errors).toEqual([{ field, message: expect.any(String) }]);
    expect(await allItems()).toEqual(before);
  });

  it('stores an order whose prices have two decimals exactly as sent', async () => {
    const { id } = await register('Exact Prices');

    const reply = await call(
      'POST',
      '/orders',
      `{"memberId":"${id}","items":[{"sku":"A","quantity":3,"unitPrice":0.10},{"sku":"B","quantity":1,"unitPrice":999999.99}]}`,
    );

    expect(reply.status).toBe(201);
    const [order] = (await itemsOf(`ORDER#${String(reply.body.id)}`)).filter((item) => item.sk === 'ORDER');
    expect(order).toMatchObject({
      items: [
        { sku: 'A', quantity: 3, unitPrice: 0.1 },
        { sku: 'B', quantity: 1, unitPrice: 999999.99 },
      ],
      total: 1000000.29,
    });
  });
});

describe('routing', () => {
  it.each([
    ['GET', '//'],
    ['GET', '//members'],
    ['POST', '//members'],
    ['GET', '//orders/x/cancel'],
    ['POST', '//example.com/members'],
  ])(
    'answers %s %s with a 404 problem, not a 500: a path that starts with // is a path, not a host',
    async (method, path) => {
      const before = await allItems();

      const reply = await call(
        method,
        path,
        method === 'GET' ? undefined : { name: 'Ada', email: 'ada@example.com' },
      );

      expect(reply.status).toBe(404);
      expect(reply.headers.get('content-type')).toBe('application/problem+json');
      expect(reply.body.status).toBe(404);
      expect(await allItems()).toEqual(before);
    },
  );

  it.each([
    ['GET', '/members/{member}/'],
    ['PATCH', '/members/{member}/'],
    ['DELETE', '/members/{member}/'],
    ['POST', '/members/'],
    ['POST', '/orders/'],
    ['POST', '/orders/{order}/cancel/'],
  ])(
    'answers %s %s with 404, as API Gateway HTTP API does for a trailing slash',
    async (method, template) => {
      const { id } = await register('Slash Tester');
      const order = await placeOrder(id);
      const path = template.replace('{member}', id).replace('{order}', String(order.body.id));
      const before = await allItems();

      const reply = await call(method, path, method === 'GET' || method === 'DELETE' ? undefined : {}, {
        'if-match': '1',
      });

      expect(reply.status).toBe(404);
      expect(reply.headers.get('allow')).toBeNull();
      expect(reply.headers.get('content-type')).toBe('application/problem+json');
      expect(await allItems()).toEqual(before);
    },
  );
});

/** The documented fields of a resource: the backticked names in its row of the README's response-fields table. */
function documentedFields(resource: string): Set<string> {
  const readme = readFileSync(new URL('../../README.md', import.meta.url), 'utf8');
  const row = readme.split('\n').find((line) => line.startsWith(`| ${resource} |`));
  expect(row, `README has a response-fields row for ${resource}`).toBeDefined();
  return new Set([...String(row).matchAll(/`([A-Za-z]+)`/g)].map((match) => String(match[1])));
}

/** Every field name in a JSON value, nested ones included. */
function fieldNames(value: unknown): string[] {
  if (Array.isArray(value)) return value.flatMap(fieldNames);
  if (value === null || typeof value !== 'object') return [];
  return Object.entries(value).flatMap(([key, child]) => [key, ...fieldNames(child)]);
}

describe('responses', () => {
  it('carry only the fields the README documents, on every route', async () => {
    const member = documentedFields('member');
    const order = documentedFields('order');
    const error = documentedFields('error');
    const created = await call('POST', '/members', { email: 'fields@example.com', name: 'Fields' });
    const id = String(created.body.id);
    const placed = await placeOrder(id);
    const orderId = String(placed.body.id);
    await placeOrder(id);

    const replies: [string, Set<string>, Reply][] = [
      ['POST /members', member, created],
      ['GET /members/{id}', member, await call('GET', `/members/${id}`)],
      [
        'PATCH /members/{id}',
        member,
        await call('PATCH', `/members/${id}`, { name: 'F' }, { 'if-match': '1' }),
      ],
      ['POST /orders', order, placed],
      ['POST /orders/{id}/cancel', order, await call('POST', `/orders/${orderId}/cancel`)],
      ['DELETE /members/{id}', member, await call('DELETE', `/members/${id}`)],
      ['GET /members/{id} (withdrawn)', member, await call('GET', `/members/${id}`)],
      ['an error', error, await call('POST', '/orders', { memberId: id, items: [] })],
    ];

    for (const [route, documented, reply] of replies) {
      expect(reply.status, route).toBeLessThan(500);
      const undocumented = fieldNames(reply.body).filter((field) => !documented.has(field));
      expect(undocumented, `undocumented fields in the answer to ${route}`).toEqual([]);
      // The schema the OpenAPI document publishes for the answer (contracts/openapi.ts).
      const schema =
        documented === error
          ? problemSchema
          : documented === order
            ? orderResponseSchema
            : memberResponseSchema;
      expect(schema.safeParse(reply.body).error, `the answer to ${route} against its schema`).toBeUndefined();
    }
  });
});

describe('erasure', () => {
  it('leaves no name or email in any stored answer after a withdrawal, and replays without them', async () => {
    const email = 'erase.me@example.com';
    const name = 'Erasable Person';
    const created = await call('POST', '/members', { email, name }, { 'idempotency-key': 'erase-create-1' });
    const id = String(created.body.id);
    const updated = await call(
      'PATCH',
      `/members/${id}`,
      { name: 'Erasable Renamed' },
      { 'if-match': '1', 'idempotency-key': 'erase-patch-1' },
    );
    expect(updated.status).toBe(200);
    // Before the withdrawal, a replay is the first answer, personal fields included.
    const replayed = await call('POST', '/members', { email, name }, { 'idempotency-key': 'erase-create-1' });
    expect(replayed.body).toEqual(created.body);

    expect(
      (await call('DELETE', `/members/${id}`, undefined, { 'idempotency-key': 'erase-delete-1' })).status,
    ).toBe(200);

    const stored = (await allItems()).filter((item) => !String(item.sk).startsWith('OUTBOX#'));
    const text = JSON.stringify(stored, (_key, value: unknown) =>
      value instanceof Set ? [...value] : value,
    );
    expect(text).not.toContain(email);
    expect(text).not.toContain(name);
    expect(text).not.toContain('Erasable Renamed');
    const replayAfter = await call(
      'POST',
      '/members',
      { email, name },
      { 'idempotency-key': 'erase-create-1' },
    );
    expect(replayAfter.status).toBe(201);
    expect(replayAfter.headers.get('idempotent-replayed')).toBe('true');
    const { email: _email, name: _name, ...withoutPersonal } = created.body;
    expect(replayAfter.body).toEqual(withoutPersonal);
    // Still one member: the replay wrote nothing.
    expect((await allItems()).filter((item) => item.sk === 'MEMBER' && item.id === id)).toHaveLength(1);
  });

  it('replays a profile update with the profile it answered, even after a later update', async () => {
    const { id } = await register('First Name');
    const first = await call(
      'PATCH',
      `/members/${id}`,
      { name: 'Second Name' },
      { 'if-match': '1', 'idempotency-key': 'replay-patch-1' },
    );
    expect((await call('PATCH', `/members/${id}`, { name: 'Third Name' }, { 'if-match': '2' })).status).toBe(
      200,
    );

    const replay = await call(
      'PATCH',
      `/members/${id}`,
      { name: 'Second Name' },
      { 'if-match': '1', 'idempotency-key': 'replay-patch-1' },
    );

    expect(replay.status).toBe(200);
    expect(replay.body).toEqual(first.body);
    expect(replay.body.name).toBe('Second Name');
  });
});
