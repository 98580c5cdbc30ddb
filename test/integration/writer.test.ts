/**
 * The writer against DynamoDB Local, with the stack's own table (keys,
 * pending index, stream and TTL from the synthesized template): what it
 * stores is what the sweeper can find.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { PendingEntry } from '../../lambdas/outbox/sweeper';
import { findPending } from '../../lambdas/outbox/sweeper';
import { OutboxWriter } from '../../lambdas/outbox/writer';
import { createDocumentClient } from '../../lambdas/shared/clients';
import { createTestTable, type TestTable } from '../helpers/local-env';
import { pollUntil } from '../helpers/poll';
import { testId } from '../helpers/stream-records';

const SOURCE = 'com.example.writer-test';

let table: TestTable;
let writer: OutboxWriter;

beforeAll(async () => {
  table = await createTestTable('writer');
  writer = new OutboxWriter({
    client: createDocumentClient(table.client),
    tableName: table.tableName,
    source: SOURCE,
  });
});

afterAll(() => {
  table?.client.destroy();
});

/** Every entry the sweeper's scan of the pending index yields for events older than `olderThan`. */
async function pendingBefore(olderThan: Date): Promise<PendingEntry[]> {
  const found: PendingEntry[] = [];
  for await (const page of findPending({ client: table.client, tableName: table.tableName, olderThan })) {
    found.push(...page.entries);
  }
  return found;
}

describe('writer on DynamoDB Local', () => {
  it('stores an occurredAt given as an HTTP date so that the sweeper finds the event', async () => {
    const aggregateId = testId(701);
    // A minute ago, as Date#toUTCString() writes it ("Sun, 01 Mar 2026 12:00:00 GMT").
    const occurred = new Date(Math.floor(Date.now() / 1000) * 1000 - 60_000);

    const [stored] = (
      await writer.write({
        writes: [],
        events: [
          {
            eventType: 'MemberRegistered',
            aggregateType: 'MEMBER',
            aggregateId,
            sequence: 1,
            occurredAt: occurred.toUTCString(),
            data: { aggregateId },
          },
        ],
      })
    ).events;

    expect(stored?.occurredAt).toBe(occurred.toISOString());
    let found: PendingEntry[] = [];
    await pollUntil(
      async () => {
        found = (await pendingBefore(new Date())).filter(
          (entry) => entry.kind === 'event' && entry.item.aggregateId === aggregateId,
        );
        return found.length > 0;
      },
      { timeoutMs: 10_000, what: 'the pending index to list the event' },
    );
    expect(found.map((entry) => entry.kind === 'event' && entry.item.eventId)).toEqual([stored?.eventId]);
  });
});
