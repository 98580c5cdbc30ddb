/**
 * The writer against DynamoDB Local, with the stack's own table (keys,
 * pending index, stream and TTL from the synthesized template): what it
 * stores is what the sweeper can find.
 */
import {
  type DynamoDBDocumentClient,
  GetCommand,
  PutCommand,
  QueryCommand,
  ScanCommand,
} from '@aws-sdk/lib-dynamodb';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { EventSchemaError } from '../../lambdas/outbox/catalogue';
import { WriteLimitError } from '../../lambdas/outbox/errors';
import { aggregatePk, entityKey, OUTBOX_PREFIX } from '../../lambdas/outbox/keys';
import { findPending, type PendingCandidate } from '../../lambdas/outbox/pending-index';
import { OutboxWriter } from '../../lambdas/outbox/writer';
import { SAMPLE_EVENTS } from '../../lambdas/sample/domain/events';
import { createDocumentClient } from '../../lambdas/sample/shared/clients';
import { createTestTable, type TestTable } from '../helpers/local-env';
import { pollUntil } from '../helpers/poll';
import { testId } from '../helpers/stream-records';

const SOURCE = 'com.example.writer-test';

let table: TestTable;
let writer: OutboxWriter;
let doc: DynamoDBDocumentClient;

beforeAll(async () => {
  table = await createTestTable('writer');
  doc = createDocumentClient(table.client);
  writer = new OutboxWriter({ client: doc, tableName: table.tableName, source: SOURCE });
});

afterAll(() => {
  table?.client.destroy();
});

/** Every candidate the sweeper's scan of the pending index yields for events older than `olderThan`. */
async function pendingBefore(olderThan: Date): Promise<PendingCandidate[]> {
  const found: PendingCandidate[] = [];
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
    let found: PendingCandidate[] = [];
    await pollUntil(
      async () => {
        found = (await pendingBefore(new Date())).filter(
          (entry) => entry.key.pk === aggregatePk('MEMBER', aggregateId),
        );
        return found.length > 0;
      },
      { timeoutMs: 10_000, what: 'the pending index to list the event' },
    );
    expect(found.map((entry) => entry.eventId)).toEqual([stored?.eventId]);
    expect(found[0]?.occurredAt).toBe(occurred.toISOString());
  });

  it('refuses an update that would grow the entity past 400 KB with WriteLimitError, and stores nothing', async () => {
    const aggregateId = testId(702);
    const key = entityKey('MEMBER', aggregateId);
    await doc.send(
      new PutCommand({
        TableName: table.tableName,
        Item: { ...key, version: 1, notes: 'x'.repeat(300_000) },
      }),
    );

    const error = await writer
      .write({
        writes: [
          {
            label: 'member',
            Update: {
              Key: key,
              UpdateExpression: 'SET more = :more, version = :next',
              ConditionExpression: 'version = :expected',
              ExpressionAttributeValues: { ':more': 'y'.repeat(150_000), ':next': 2, ':expected': 1 },
            },
          },
        ],
        events: [
          { eventType: 'MemberProfileUpdated', aggregateType: 'MEMBER', aggregateId, sequence: 2, data: {} },
        ],
      })
      .then(
        () => undefined,
        (rejected: unknown) => rejected,
      );

    expect(error).toBeInstanceOf(WriteLimitError);
    expect((error as WriteLimitError).failures).toEqual([
      expect.objectContaining({ label: 'member', kind: 'entity', code: 'ValidationError' }),
    ]);
    const entity = await doc.send(
      new GetCommand({ TableName: table.tableName, Key: key, ConsistentRead: true }),
    );
    expect(entity.Item?.version).toBe(1);
    const outbox = await doc.send(
      new QueryCommand({
        TableName: table.tableName,
        KeyConditionExpression: 'pk = :pk AND begins_with(sk, :prefix)',
        ExpressionAttributeValues: { ':pk': aggregatePk('MEMBER', aggregateId), ':prefix': OUTBOX_PREFIX },
        ConsistentRead: true,
      }),
    );
    expect(outbox.Items).toEqual([]);
  });

  it('refuses a number DynamoDB would underflow with WriteLimitError naming where it is', async () => {
    const aggregateId = testId(703);

    const error = await writer
      .write({
        writes: [
          {
            label: 'order',
            Put: { Item: { ...entityKey('ORDER', aggregateId), items: [{ sku: 'A', unitPrice: 1e-200 }] } },
          },
        ],
        events: [{ eventType: 'OrderPlaced', aggregateType: 'ORDER', aggregateId, sequence: 1, data: {} }],
      })
      .then(
        () => undefined,
        (rejected: unknown) => rejected,
      );

    expect(error).toBeInstanceOf(WriteLimitError);
    expect((error as WriteLimitError).message).toContain('order (items[0].unitPrice = 1e-200');
    const entity = await doc.send(
      new GetCommand({
        TableName: table.tableName,
        Key: entityKey('ORDER', aggregateId),
        ConsistentRead: true,
      }),
    );
    expect(entity.Item).toBeUndefined();
  });

  describe('with a catalogue', () => {
    const memberId = testId(710);
    const member = { label: 'member', Put: { Item: { ...entityKey('MEMBER', memberId), status: 'active' } } };
    const registered = (data: Record<string, unknown>, eventType = 'MemberRegistered') => ({
      eventType,
      aggregateType: 'MEMBER',
      aggregateId: memberId,
      sequence: 1,
      data,
    });

    /** Every item of the table, in a stable order (the table holds only this file's items). */
    async function tableItems(): Promise<Record<string, unknown>[]> {
      const items: Record<string, unknown>[] = [];
      let start: Record<string, unknown> | undefined;
      do {
        const page = await doc.send(
          new ScanCommand({ TableName: table.tableName, ConsistentRead: true, ExclusiveStartKey: start }),
        );
        items.push(...(page.Items ?? []));
        start = page.LastEvaluatedKey;
      } while (start);
      return items.sort((a, b) => `${a.pk}|${a.sk}`.localeCompare(`${b.pk}|${b.sk}`));
    }

    it.each([
      ['an event type not in the catalogue', registered({ memberId }, 'MemberRenamed'), []],
      [
        'data that does not match',
        registered({ memberId, email: 'not-an-email', name: 7 }),
        ['email', 'name'],
      ],
      [
        'a field the schema does not declare',
        registered({ memberId, email: 'a@example.com', name: 'Ada', age: 36 }),
        ['age'],
      ],
    ])(
      'refuses %s with EventSchemaError before the transaction, and the table is unchanged',
      async (_, event, fields) => {
        const catalogued = new OutboxWriter({
          client: doc,
          tableName: table.tableName,
          source: SOURCE,
          catalogue: SAMPLE_EVENTS,
        });
        const before = await tableItems();

        const error = await catalogued.write({ writes: [member], events: [event] }).then(
          () => undefined,
          (rejected: unknown) => rejected,
        );

        expect(error).toBeInstanceOf(EventSchemaError);
        expect((error as EventSchemaError).eventType).toBe(event.eventType);
        expect((error as EventSchemaError).fields).toEqual(fields);
        expect(await tableItems()).toEqual(before);
      },
    );

    it('stores a matching event with the schema version as dataVersion', async () => {
      const catalogued = new OutboxWriter({
        client: doc,
        tableName: table.tableName,
        source: SOURCE,
        catalogue: SAMPLE_EVENTS,
      });

      await catalogued.write({
        writes: [member],
        events: [registered({ memberId, email: 'ada@example.com', name: 'Ada' })],
      });

      const stored = await doc.send(
        new QueryCommand({
          TableName: table.tableName,
          KeyConditionExpression: 'pk = :pk AND begins_with(sk, :outbox)',
          ExpressionAttributeValues: { ':pk': aggregatePk('MEMBER', memberId), ':outbox': OUTBOX_PREFIX },
          ConsistentRead: true,
        }),
      );
      expect(stored.Items?.map((item) => [item.eventType, item.dataVersion])).toEqual([
        ['MemberRegistered', SAMPLE_EVENTS.events.MemberRegistered.version],
      ]);
    });
  });
});
