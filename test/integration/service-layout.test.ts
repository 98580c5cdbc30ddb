/**
 * The library on a table with a service's own layout, as another team would
 * adopt it: keys `PK`/`SK`, entity `USER#<id>`/`PROFILE`, its own pending
 * index and TTL names. The writer commits a user with its events; the relay
 * core runs as the relay function does (`relayInOrder` with the layout read
 * from the construct's `OUTBOX_*` variables), fed by the table's real stream
 * on DynamoDB Local through the local event source mapping, with a filter on
 * the configured sort key; the events reach moto's bus in order and are
 * marked delivered under the configured names.
 */
import {
  CreateTableCommand,
  DeleteTableCommand,
  DescribeTableCommand,
  UpdateTimeToLiveCommand,
} from '@aws-sdk/client-dynamodb';
import { DynamoDBStreamsClient } from '@aws-sdk/client-dynamodb-streams';
import { GetCommand, QueryCommand, ScanCommand } from '@aws-sdk/lib-dynamodb';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  OUTBOX_PREFIX,
  OutboxWriter,
  outboxLayoutFromEnv,
  PENDING_INDEX_ATTRIBUTES,
  relayInOrder,
  SILENT_METRICS,
} from '../../lambdas/outbox';
import { type StreamPoller, startStreamPoller } from '../../local/stream-poller';
import {
  createStackWorld,
  LOCAL_CREDENTIALS,
  localEndpoints,
  type StackWorld,
  uniqueNamespace,
} from '../helpers/local-env';
import { pollUntil } from '../helpers/poll';
import { receiveEnvelopes, tapQueueIsEmpty } from '../helpers/tap-queue';

/** What the construct sets on the relay and on a writer function of this service. */
const SERVICE_ENV = {
  OUTBOX_PARTITION_KEY: 'PK',
  OUTBOX_SORT_KEY: 'SK',
  OUTBOX_PENDING_INDEX: 'OutboxPending',
  OUTBOX_PENDING_PARTITION_KEY: 'GSI9PK',
  OUTBOX_PENDING_SORT_KEY: 'GSI9SK',
  OUTBOX_TTL_ATTRIBUTE: 'ttl',
  OUTBOX_PENDING_SHARDS: '4',
};
const layout = outboxLayoutFromEnv(SERVICE_ENV);
const SOURCE = 'com.example.users';
const USER_ID = '9c1f4e2a-users-7';
const USER_PK = `USER#${USER_ID}`;

let world: StackWorld;
let tableName: string;
let poller: StreamPoller;

beforeAll(async () => {
  world = await createStackWorld('service-layout');
  tableName = `${uniqueNamespace('service-layout')}-users`;
  // The service's own single-table design: nothing in it is named as the sample's table.
  await world.dynamoDb.send(
    new CreateTableCommand({
      TableName: tableName,
      BillingMode: 'PAY_PER_REQUEST',
      AttributeDefinitions: ['PK', 'SK', 'GSI9PK', 'GSI9SK'].map((AttributeName) => ({
        AttributeName,
        AttributeType: 'S',
      })),
      KeySchema: [
        { AttributeName: 'PK', KeyType: 'HASH' },
        { AttributeName: 'SK', KeyType: 'RANGE' },
      ],
      GlobalSecondaryIndexes: [
        {
          IndexName: 'OutboxPending',
          KeySchema: [
            { AttributeName: 'GSI9PK', KeyType: 'HASH' },
            { AttributeName: 'GSI9SK', KeyType: 'RANGE' },
          ],
          Projection: { ProjectionType: 'INCLUDE', NonKeyAttributes: [...PENDING_INDEX_ATTRIBUTES] },
        },
      ],
      StreamSpecification: { StreamEnabled: true, StreamViewType: 'NEW_AND_OLD_IMAGES' },
    }),
  );
  await world.dynamoDb.send(
    new UpdateTimeToLiveCommand({
      TableName: tableName,
      TimeToLiveSpecification: { AttributeName: 'ttl', Enabled: true },
    }),
  );
  const described = await world.dynamoDb.send(new DescribeTableCommand({ TableName: tableName }));
  poller = startStreamPoller({
    BatchSize: 100,
    FunctionResponseTypes: ['ReportBatchItemFailures'],
    // The relay's filter, on the configured sort key: only outbox INSERTs reach it.
    FilterCriteria: {
      Filters: [
        {
          Pattern: JSON.stringify({
            eventName: ['INSERT'],
            dynamodb: { Keys: { SK: { S: [{ prefix: OUTBOX_PREFIX }] } } },
          }),
        },
      ],
    },
    dynamoDbStreams: new DynamoDBStreamsClient({
      endpoint: localEndpoints().dynamoDb,
      region: 'us-east-1',
      credentials: LOCAL_CREDENTIALS,
    }),
    streamArn: described.Table?.LatestStreamArn ?? '',
    pollIntervalMs: 50,
    handler: async (event, context) => {
      const result = await relayInOrder(event.Records, {
        tableName,
        eventBusName: world.busName,
        poisonQueueUrl: world.poisonQueueUrl,
        eventBridge: world.eventBridge,
        dynamo: world.doc,
        dynamoDb: world.dynamoDb,
        sqs: world.sqs,
        metrics: SILENT_METRICS,
        layout,
        remainingTimeMs: () => context.getRemainingTimeInMillis(),
      });
      return { batchItemFailures: result.batchItemFailures };
    },
  });
});

afterAll(async () => {
  await poller?.stop();
  if (tableName) await world?.dynamoDb.send(new DeleteTableCommand({ TableName: tableName }));
  world?.destroy();
});

describe('the outbox on a table with the service layout', () => {
  it('relays a user and its events to the bus in order and marks them delivered under the configured names', async () => {
    const writer = new OutboxWriter({ client: world.doc, tableName, source: SOURCE, layout });
    const event = (sequence: number, eventType: string) => ({
      eventType,
      aggregateType: 'USER',
      aggregateId: USER_ID,
      aggregateKey: USER_PK,
      sequence,
      data: { step: sequence },
    });

    await writer.write({
      writes: [
        {
          label: 'profile',
          Put: {
            Item: { PK: USER_PK, SK: 'PROFILE', name: 'Ada', version: 2 },
            ConditionExpression: 'attribute_not_exists(PK)',
          },
        },
      ],
      events: [event(1, 'UserRegistered'), event(2, 'UserEmailVerified')],
    });
    await writer.write({
      writes: [
        {
          label: 'profile',
          Update: {
            Key: { PK: USER_PK, SK: 'PROFILE' },
            UpdateExpression: 'SET #name = :name, version = :next',
            ConditionExpression: 'version = :version',
            ExpressionAttributeNames: { '#name': 'name' },
            ExpressionAttributeValues: { ':name': 'Ada L.', ':next': 3, ':version': 2 },
          },
        },
      ],
      events: [event(3, 'UserRenamed')],
    });

    const envelopes = await receiveEnvelopes(world, 3);
    expect(
      envelopes.map((envelope) => [envelope.eventType, envelope.sequence, envelope.aggregateId]),
    ).toEqual([
      ['UserRegistered', 1, USER_ID],
      ['UserEmailVerified', 2, USER_ID],
      ['UserRenamed', 3, USER_ID],
    ]);

    // Delivered: pending keys under the configured names removed, TTL set on the configured attribute.
    let items: Record<string, unknown>[] = [];
    await pollUntil(
      async () => {
        const output = await world.doc.send(
          new QueryCommand({
            TableName: tableName,
            KeyConditionExpression: 'PK = :pk AND begins_with(SK, :prefix)',
            ExpressionAttributeValues: { ':pk': USER_PK, ':prefix': OUTBOX_PREFIX },
            ConsistentRead: true,
          }),
        );
        items = output.Items ?? [];
        return items.length === 3 && items.every((item) => item.deliveredAt !== undefined);
      },
      { timeoutMs: 20_000, what: 'three outbox items marked delivered' },
    );
    for (const item of items) {
      expect(item).toMatchObject({ PK: USER_PK, SK: expect.stringMatching(/^OUTBOX#\d{12}$/) });
      expect(item.ttl).toEqual(expect.any(Number));
      expect(item).not.toHaveProperty('GSI9PK');
      expect(item).not.toHaveProperty('GSI9SK');
      for (const name of ['pk', 'sk', 'pendingPk', 'pendingSk', 'expiresAt'])
        expect(item).not.toHaveProperty(name);
    }
    const index = await world.doc.send(new ScanCommand({ TableName: tableName, IndexName: 'OutboxPending' }));
    expect(index.Items ?? []).toEqual([]);
    const profile = await world.doc.send(
      new GetCommand({ TableName: tableName, Key: { PK: USER_PK, SK: 'PROFILE' }, ConsistentRead: true }),
    );
    expect(profile.Item).toEqual({ PK: USER_PK, SK: 'PROFILE', name: 'Ada L.', version: 3 });
    expect(await tapQueueIsEmpty(world)).toBe(true);
  });
});
