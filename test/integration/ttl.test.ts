/**
 * TTL clean-up on the real table: DynamoDB Local deletes an expired outbox
 * item, its stream record reaches the poller, and the relay's filter criteria
 * (from the synthesized template) keep it away from the relay, as they keep
 * delivered-marks away.
 *
 * DynamoDB Local 3.3 skips TTL deletion of items that are absent from a
 * sparse global secondary index, which a delivered outbox item is (its
 * pending keys are removed). AWS deletes them; DynamoDB Local does not. So the
 * item expired here is one still in the pending index, and the mark is checked
 * on a second item.
 *
 * It runs on a DynamoDB Local of its own: TTL there is one background pass
 * over every table, and with the whole suite's tables in one instance the
 * pass does not reach this table within the test's time.
 */
import { DescribeTableCommand, DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { DynamoDBStreamsClient } from '@aws-sdk/client-dynamodb-streams';
import { GetCommand, PutCommand, UpdateCommand } from '@aws-sdk/lib-dynamodb';
import type { DynamoDBRecord } from 'aws-lambda';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { outboxKey, pendingKeys } from '../../lambdas/outbox/keys';
import { createDocumentClient } from '../../lambdas/sample/shared/clients';
import { type LocalServer, startDynamoDbLocal } from '../../local/dynamodb-local';
import { createTablesFromTemplate, eventSourceMappings } from '../../local/resources';
import { type StreamPoller, startStreamPoller } from '../../local/stream-poller';
import { LOCAL_CREDENTIALS, outboxTableLogicalId, stackTemplate } from '../helpers/local-env';
import { pollUntil } from '../helpers/poll';

const AGGREGATE = '01ARZ3NDEKTSV4RRFFQ69G5FAV';
let server: LocalServer;
let table: { tableName: string; endpoint: string; client: DynamoDBClient };
let poller: StreamPoller;
const received: DynamoDBRecord[] = [];

function outboxItem(sequence: number, extra: Record<string, unknown>): Record<string, unknown> {
  const occurredAt = new Date().toISOString();
  return {
    ...outboxKey('MEMBER', AGGREGATE, sequence),
    eventId: `event-${sequence}`,
    eventType: 'MemberProfileUpdated',
    source: 'test',
    aggregateType: 'MEMBER',
    aggregateId: AGGREGATE,
    sequence,
    occurredAt,
    correlationId: 'ttl-test',
    data: {},
    ...pendingKeys('MEMBER', AGGREGATE, sequence, occurredAt),
    ...extra,
  };
}

beforeAll(async () => {
  server = await startDynamoDbLocal({ inMemory: true });
  const client = new DynamoDBClient({
    endpoint: server.endpoint,
    region: 'us-east-1',
    credentials: LOCAL_CREDENTIALS,
  });
  const template = await stackTemplate('dev');
  const tableId = outboxTableLogicalId(template);
  const tables = await createTablesFromTemplate(template, client, { namespace: 'ttl' });
  table = { tableName: tables.get(tableId) ?? '', endpoint: server.endpoint, client };
  const mapping = eventSourceMappings(template).find((each) => each.eventSourceLogicalId === tableId);
  if (!mapping) throw new Error('the dev stack has no event source mapping');
  const described = await table.client.send(new DescribeTableCommand({ TableName: table.tableName }));
  poller = startStreamPoller({
    ...mapping.properties,
    dynamoDbStreams: new DynamoDBStreamsClient({
      endpoint: table.endpoint,
      region: 'us-east-1',
      credentials: LOCAL_CREDENTIALS,
    }),
    streamArn: described.Table?.LatestStreamArn ?? '',
    handler: async (event) => {
      received.push(...event.Records);
      return { batchItemFailures: [] };
    },
  });
});

afterAll(async () => {
  await poller?.stop();
  await server?.stop();
});

describe('TTL clean-up', () => {
  it('deletes an expired outbox item without its deletion or a delivered-mark reaching the relay', async () => {
    const db = createDocumentClient(table.client);
    const expired = outboxItem(1, { expiresAt: Math.floor(Date.now() / 1000) - 1 });
    const delivered = outboxItem(2, {});
    await db.send(new PutCommand({ TableName: table.tableName, Item: expired }));
    await db.send(new PutCommand({ TableName: table.tableName, Item: delivered }));
    // The relay's delivered-mark: a MODIFY whose new image has no pending keys.
    await db.send(
      new UpdateCommand({
        TableName: table.tableName,
        Key: outboxKey('MEMBER', AGGREGATE, 2),
        UpdateExpression: 'SET deliveredAt = :now, expiresAt = :ttl REMOVE pendingPk, pendingSk',
        ExpressionAttributeValues: {
          ':now': new Date().toISOString(),
          ':ttl': Math.floor(Date.now() / 1000) + 3600,
        },
      }),
    );

    await pollUntil(
      async () => {
        const output = await db.send(
          new GetCommand({ TableName: table.tableName, Key: outboxKey('MEMBER', AGGREGATE, 1) }),
        );
        return output.Item === undefined;
      },
      { timeoutMs: 60_000, intervalMs: 500, what: 'TTL to delete the expired outbox item' },
    );
    await pollUntil(() => poller.stats.filteredOut + poller.stats.records >= 4, {
      timeoutMs: 30_000,
      intervalMs: 200,
      what: 'the poller to see all four stream records',
    });
    await poller.idle();
    // Both INSERTs reached the relay; the MODIFY (mark) and the REMOVE (TTL) were filtered out.
    expect(received.map((record) => [record.eventName, record.dynamodb?.Keys?.sk?.S])).toEqual([
      ['INSERT', 'OUTBOX#000000000001'],
      ['INSERT', 'OUTBOX#000000000002'],
    ]);
    expect(poller.stats.filteredOut, JSON.stringify(poller.stats)).toBeGreaterThanOrEqual(2);
  });
});
