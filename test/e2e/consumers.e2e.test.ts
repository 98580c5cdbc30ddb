/**
 * The consumers end to end: requests through the API, events through the
 * relay, the bus, each consumer's rule and queue, into the consumers. A
 * member registers, places two orders and withdraws: exactly one welcome and
 * one farewell mail go out, and the member-activity read model shows the
 * member withdrawn with no open order.
 */
import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type MemberActivity, readMemberActivity } from '../../lambdas/sample/domain/member-activity';
import { FAREWELL_SUBJECT, readContact, WELCOME_SUBJECT } from '../../lambdas/sample/domain/notifications';
import { pollUntil } from '../helpers/poll';
import { type E2eTarget, openTarget } from './targets';

const run = randomUUID().slice(0, 8);
const email = `consumers-${run}@example.com`;
let target: E2eTarget;
let memberId = '';

async function request(method: string, path: string, body?: unknown): Promise<Record<string, unknown>> {
  const reply = await target.request(method, path, body, { 'x-correlation-id': `e2e-consumers-${run}` });
  expect(reply.status, `${method} ${path}: ${JSON.stringify(reply.body)}`).toBeLessThan(300);
  return reply.body;
}

function activity(): Promise<MemberActivity | undefined> {
  return readMemberActivity({ client: target.db, tableName: target.tableName }, memberId);
}

beforeAll(async () => {
  target = await openTarget();
  const member = await request('POST', '/members', { email, name: 'Grace' });
  memberId = String(member.id);
  for (const sku of ['SKU-A', 'SKU-B']) {
    await request('POST', '/orders', { memberId, items: [{ sku, quantity: 1, unitPrice: 5 }] });
  }
  // Both orders are counted before the withdrawal cancels them.
  await pollUntil(async () => (await activity())?.openOrders === 2, {
    timeoutMs: 60_000,
    intervalMs: 250,
    what: 'the read model to count two open orders',
  });
  await request('DELETE', `/members/${memberId}`);
  await pollUntil(
    async () => {
      const current = await activity();
      return current?.status === 'withdrawn' && current.openOrders === 0;
    },
    { timeoutMs: 60_000, intervalMs: 250, what: 'the read model to show the member withdrawn' },
  );
  await pollUntil(
    async () =>
      (await readContact({ client: target.db, tableName: target.tableName }, memberId))?.withdrawnAt !==
      undefined,
    { timeoutMs: 60_000, intervalMs: 250, what: 'the notifications consumer to process the withdrawal' },
  );
  // Everything published is consumed, so a stray second mail would be seen.
  await target.settle?.();
  await target.consumersIdle?.();
});

afterAll(async () => {
  await target?.stop();
});

describe(`consumers end to end (${process.env.E2E_TARGET ?? 'local'})`, () => {
  it('shows the member withdrawn with no open order in the member-activity read model', async () => {
    expect(await activity()).toEqual({ memberId, status: 'withdrawn', openOrders: 0 });
  });

  it('erases the address from the notifications read model after the farewell mail', async () => {
    const contact = await readContact({ client: target.db, tableName: target.tableName }, memberId);

    expect(contact).toMatchObject({ withdrawnAt: expect.any(String) });
    expect(contact).not.toHaveProperty('email');
    expect(contact).not.toHaveProperty('name');
  });

  it('sends exactly one welcome mail and one farewell mail', async () => {
    if (!target.sentMail) return expect(target.name).not.toBe('local');

    const mails = (await target.sentMail()).filter((mail) => mail.to.includes(email));

    expect(mails.map((mail) => mail.subject).sort()).toEqual([FAREWELL_SUBJECT, WELCOME_SUBJECT].sort());
  });
});
