import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import {
  BatchExecuteStatementCommand,
  DynamoDBDocumentClient,
  TransactWriteCommand,
  UpdateCommand,
} from '@aws-sdk/lib-dynamodb';
import { marshall } from '@aws-sdk/util-dynamodb';
import { mockClient } from 'aws-sdk-client-mock';
import { allCustomMatcher } from 'aws-sdk-client-mock-vitest';
import type {} from 'aws-sdk-client-mock-vitest/extend';
import { afterEach, describe, expect, it } from 'vitest';
import {
  DEFAULT_LAYOUT,
  decodeRecord,
  InvalidKeyPartError,
  InvalidLayoutError,
  OUTBOX_LAYOUT_ENV,
  OutboxWriter,
  outboxLayout,
  outboxLayoutFromEnv,
} from '../../lambdas/outbox';
import { pendingPartition } from '../../lambdas/outbox/keys';
import { markDelivered, markFailed } from '../../lambdas/outbox/marker';
import { acceptStatements, TEST_NOW, TEST_TABLE } from '../helpers/relay-harness';

expect.extend(allCustomMatcher);

const ddb = mockClient(DynamoDBDocumentClient);
const client = DynamoDBDocumentClient.from(new DynamoDBClient({}));

/** A service's own single-table design: upper-case keys, its own index and TTL names. */
const SERVICE_LAYOUT = outboxLayout({
  partitionKey: 'PK',
  sortKey: 'SK',
  pendingIndex: 'GSI-pending',
  pendingPartitionKey: 'GSI1PK',
  pendingSortKey: 'GSI1SK',
  ttlAttribute: 'ttl',
  pendingShards: 4,
});
const USER_ID = 'u-42';
const USER_PK = `USER#${USER_ID}`;

const retry = {
  maxAttempts: 1,
  baseDelayMs: 1,
  maxDelayMs: 1,
  remainingTimeMs: () => 60_000,
  safetyMarginMs: 0,
  sleep: async () => undefined,
  random: () => 0,
};

function userEvent(sequence: number) {
  return {
    eventType: 'UserRegistered',
    aggregateType: 'USER',
    aggregateId: USER_ID,
    aggregateKey: USER_PK,
    sequence,
    data: { name: 'Ada' },
  };
}

afterEach(() => ddb.reset());

describe('outboxLayoutFromEnv', () => {
  it('gives the default layout for an environment without OUTBOX_ variables', () => {
    expect(outboxLayoutFromEnv({})).toEqual(DEFAULT_LAYOUT);
    expect(DEFAULT_LAYOUT).toEqual({
      partitionKey: 'pk',
      sortKey: 'sk',
      pendingIndex: 'pendingEvents',
      pendingPartitionKey: 'pendingPk',
      pendingSortKey: 'pendingSk',
      ttlAttribute: 'expiresAt',
      pendingShards: 16,
    });
  });

  it('reads every setting from its variable of the construct contract', () => {
    const layout = outboxLayoutFromEnv({
      OUTBOX_PARTITION_KEY: 'PK',
      OUTBOX_SORT_KEY: 'SK',
      OUTBOX_PENDING_INDEX: 'GSI-pending',
      OUTBOX_PENDING_PARTITION_KEY: 'GSI1PK',
      OUTBOX_PENDING_SORT_KEY: 'GSI1SK',
      OUTBOX_TTL_ATTRIBUTE: 'ttl',
      OUTBOX_PENDING_SHARDS: '4',
    });
    expect(layout).toEqual(SERVICE_LAYOUT);
    expect(Object.values(OUTBOX_LAYOUT_ENV).sort()).toEqual([
      'OUTBOX_PARTITION_KEY',
      'OUTBOX_PENDING_INDEX',
      'OUTBOX_PENDING_PARTITION_KEY',
      'OUTBOX_PENDING_SHARDS',
      'OUTBOX_PENDING_SORT_KEY',
      'OUTBOX_SORT_KEY',
      'OUTBOX_TTL_ATTRIBUTE',
    ]);
  });

  it.each([
    [{ OUTBOX_PENDING_SHARDS: 'many' }, /OUTBOX_PENDING_SHARDS must be a whole number/],
    [{ OUTBOX_PENDING_SHARDS: '0' }, /OUTBOX_PENDING_SHARDS: pendingShards must be a whole number from 1/],
    [{ OUTBOX_PARTITION_KEY: 'p"k' }, /OUTBOX_PARTITION_KEY: partitionKey "p\\"k" is not an attribute name/],
    [{ OUTBOX_SORT_KEY: 'pk' }, /OUTBOX_SORT_KEY: sortKey and partitionKey are both "pk"/],
    [{ OUTBOX_TTL_ATTRIBUTE: 'eventId' }, /OUTBOX_TTL_ATTRIBUTE: .*is an attribute of every outbox item/],
    [{ OUTBOX_PENDING_INDEX: 'ix' }, /OUTBOX_PENDING_INDEX: pendingIndex "ix" is not an index name/],
  ])('refuses %j with a message naming the variable', (env, message) => {
    expect(() => outboxLayoutFromEnv(env)).toThrow(InvalidLayoutError);
    expect(() => outboxLayoutFromEnv(env)).toThrow(message);
  });
});

describe('writer with a service layout', () => {
  it('stores the outbox items in the service-built partition under the layout names', async () => {
    ddb.on(TransactWriteCommand).resolves({});
    const writer = new OutboxWriter({
      client,
      tableName: TEST_TABLE,
      source: 'com.example.users',
      layout: SERVICE_LAYOUT,
      now: () => TEST_NOW,
    });

    const { events } = await writer.write({
      writes: [{ Put: { Item: { PK: USER_PK, SK: 'PROFILE', name: 'Ada' } } }],
      events: [userEvent(1), userEvent(2)],
    });

    const items = ddb.commandCalls(TransactWriteCommand)[0]?.args[0].input.TransactItems ?? [];
    const put = items[1]?.Put;
    expect(put?.ConditionExpression).toBe('attribute_not_exists(#pk)');
    expect(put?.ExpressionAttributeNames).toEqual({ '#pk': 'PK' });
    expect(put?.Item).toMatchObject({
      PK: USER_PK,
      SK: 'OUTBOX#000000000001',
      GSI1PK: expect.stringMatching(/^PENDING#[0-3]$/),
      GSI1SK: `${TEST_NOW.toISOString()}#${USER_PK}#000000000001`,
      aggregateId: USER_ID,
    });
    expect(put?.Item).not.toHaveProperty('pk');
    expect(put?.Item).not.toHaveProperty('pendingPk');
    expect(events.map((event) => [event.pk, event.sk])).toEqual([
      [USER_PK, 'OUTBOX#000000000001'],
      [USER_PK, 'OUTBOX#000000000002'],
    ]);
  });

  it('refuses two writes to one item by the layout key names', async () => {
    const writer = new OutboxWriter({
      client,
      tableName: TEST_TABLE,
      source: 'com.example.users',
      layout: SERVICE_LAYOUT,
    });
    const write = {
      writes: [{ Put: { Item: { PK: USER_PK, SK: 'OUTBOX#000000000001' } } }],
      events: [userEvent(1)],
    };
    await expect(writer.write(write)).rejects.toThrow(/same item/);
    expect(ddb.commandCalls(TransactWriteCommand)).toHaveLength(0);
  });

  it.each(['OUTBOX#1', 'PENDING#3', 'IDEMPOTENCY#x', 'VIEW#members', '', 'USER#\u0000'])(
    'refuses the service key %j, which collides with the library keys or is malformed',
    async (aggregateKey) => {
      const writer = new OutboxWriter({
        client,
        tableName: TEST_TABLE,
        source: 'com.example.users',
        layout: SERVICE_LAYOUT,
      });
      await expect(writer.write({ writes: [], events: [{ ...userEvent(1), aggregateKey }] })).rejects.toThrow(
        InvalidKeyPartError,
      );
      expect(ddb.commandCalls(TransactWriteCommand)).toHaveLength(0);
    },
  );
});

describe('decode with a service layout', () => {
  it('reads the keys under the layout names and gives the item the library field names', () => {
    const image = marshall({
      PK: USER_PK,
      SK: 'OUTBOX#000000000001',
      GSI1PK: pendingPartition(0),
      GSI1SK: `${TEST_NOW.toISOString()}#${USER_PK}#000000000001`,
      eventId: 'evt-1',
      eventType: 'UserRegistered',
      source: 'com.example.users',
      aggregateType: 'USER',
      aggregateId: USER_ID,
      sequence: 1,
      occurredAt: TEST_NOW.toISOString(),
      correlationId: 'evt-1',
      data: { name: 'Ada' },
    });
    const record = {
      eventName: 'INSERT',
      dynamodb: { Keys: { PK: image.PK, SK: image.SK }, NewImage: image },
    };

    const decoded = decodeRecord(record, SERVICE_LAYOUT);

    expect(decoded.kind).toBe('event');
    expect(decoded.kind === 'event' && decoded.item).toMatchObject({
      pk: USER_PK,
      sk: 'OUTBOX#000000000001',
      pendingPk: 'PENDING#0',
    });
    // With the default layout the same record has no outbox sort key: nothing to relay.
    expect(decodeRecord(record).kind).toBe('skip');
  });
});

describe('marks with a service layout', () => {
  it('names the layout attributes, quoted, in the delivered statement', async () => {
    ddb.on(BatchExecuteStatementCommand).callsFake(acceptStatements);
    await markDelivered([{ pk: USER_PK, sk: 'OUTBOX#000000000001' }], {
      client,
      tableName: TEST_TABLE,
      now: () => TEST_NOW,
      retentionHours: 24,
      retry,
      layout: SERVICE_LAYOUT,
    });
    const [statement] = ddb.commandCalls(BatchExecuteStatementCommand)[0]?.args[0].input.Statements ?? [];
    expect(statement?.Statement).toBe(
      `UPDATE "${TEST_TABLE}" SET "deliveredAt" = ? SET "ttl" = ? REMOVE "GSI1PK" REMOVE "GSI1SK" WHERE "PK" = ? AND "SK" = ?`,
    );
    expect(statement?.Parameters?.slice(2)).toEqual([USER_PK, 'OUTBOX#000000000001']);
  });

  it('marks a poison item failed by the layout key and pending names', async () => {
    ddb.on(UpdateCommand).resolves({});
    await markFailed({ pk: USER_PK, sk: 'OUTBOX#000000000001' }, 'bad', {
      client,
      tableName: TEST_TABLE,
      now: () => TEST_NOW,
      retentionHours: 24,
      retry,
      layout: SERVICE_LAYOUT,
    });
    expect(ddb).toHaveReceivedCommandWith(UpdateCommand, {
      Key: { PK: USER_PK, SK: 'OUTBOX#000000000001' },
      ExpressionAttributeNames: { '#pk': 'PK', '#pendingPk': 'GSI1PK', '#pendingSk': 'GSI1SK' },
    });
  });
});
