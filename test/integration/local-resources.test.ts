/**
 * The local resources created from templates, against the run's DynamoDB
 * Local and moto server: the real dev stack's table, bus, rules and queues,
 * and hand-made templates for the shapes the stack does not use (a plain
 * Table, FIFO queues with a dead-letter queue, Lambda targets).
 */
// biome-ignore-all lint/suspicious/noTemplateCurlyInString: the strings are CloudFormation Fn::Sub templates, not JavaScript ones.
import {
  DescribeTableCommand,
  DescribeTimeToLiveCommand,
  type DynamoDBClient,
} from '@aws-sdk/client-dynamodb';
import {
  DescribeEventBusCommand,
  DescribeRuleCommand,
  type EventBridgeClient,
  ListTargetsByRuleCommand,
  PutEventsCommand,
} from '@aws-sdk/client-eventbridge';
import {
  GetQueueAttributesCommand,
  GetQueueUrlCommand,
  type Message,
  ReceiveMessageCommand,
  type SQSClient,
} from '@aws-sdk/client-sqs';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { PENDING_INDEX } from '../../lambdas/outbox/keys';
import {
  createMessagingFromTemplate,
  createTablesFromTemplate,
  eventSourceMappings,
  type LocalMessaging,
  localResolveContext,
  resolve,
  TemplateResolutionError,
} from '../../local/resources';
import type { CfnTemplate } from '../../local/synth';
import {
  createTestMessaging,
  createTestTable,
  localDynamoDbClient,
  localEventBridgeClient,
  localSqsClient,
  outboxTableLogicalId,
  stackTemplate,
  type TestMessaging,
  type TestTable,
  uniqueNamespace,
} from '../helpers/local-env';
import { pollUntil } from '../helpers/poll';

let dynamoDb: DynamoDBClient;
let eventBridge: EventBridgeClient;
let sqs: SQSClient;

beforeAll(() => {
  dynamoDb = localDynamoDbClient();
  eventBridge = localEventBridgeClient();
  sqs = localSqsClient();
});

afterAll(() => {
  for (const client of [dynamoDb, eventBridge, sqs]) client?.destroy();
});

/** Receives from `queueUrl` until `count` messages arrived or the deadline passed. */
async function receive(queueUrl: string, count: number, timeoutMs = 15_000): Promise<Message[]> {
  const messages: Message[] = [];
  await pollUntil(
    async () => {
      const output = await sqs.send(
        new ReceiveMessageCommand({ QueueUrl: queueUrl, MaxNumberOfMessages: 10, WaitTimeSeconds: 1 }),
      );
      messages.push(...(output.Messages ?? []));
      return messages.length >= count;
    },
    { timeoutMs, intervalMs: 0, what: `${count} message(s) on ${queueUrl}` },
  );
  return messages;
}

function required<T>(value: T | undefined, what: string): T {
  if (value === undefined) throw new Error(`missing ${what}`);
  return value;
}

describe('the dev stack in the local servers', () => {
  let template: CfnTemplate;
  let table: TestTable;
  let messaging: TestMessaging;

  beforeAll(async () => {
    template = await stackTemplate('dev');
    table = await createTestTable('local-resources');
    messaging = await createTestMessaging('local-resources');
  });

  it('creates the outbox table with pk and sk as its keys', async () => {
    const { Table } = await dynamoDb.send(new DescribeTableCommand({ TableName: table.tableName }));

    expect(Table?.TableStatus).toBe('ACTIVE');
    expect(Table?.KeySchema).toEqual([
      { AttributeName: 'pk', KeyType: 'HASH' },
      { AttributeName: 'sk', KeyType: 'RANGE' },
    ]);
  });

  it('creates the sparse pending index with its own keys, projecting only occurredAt and eventId', async () => {
    const { Table } = await dynamoDb.send(new DescribeTableCommand({ TableName: table.tableName }));

    const pending = Table?.GlobalSecondaryIndexes?.find((index) => index.IndexName === PENDING_INDEX);
    expect(pending?.IndexStatus).toBe('ACTIVE');
    expect(pending?.KeySchema?.map((key) => key.KeyType)).toEqual(['HASH', 'RANGE']);
    expect(pending?.KeySchema?.map((key) => key.AttributeName)).not.toContain('pk');
    expect(pending?.Projection).toEqual({
      ProjectionType: 'INCLUDE',
      NonKeyAttributes: ['occurredAt', 'eventId'],
    });
  });

  it('enables the stream with new images', async () => {
    const { Table } = await dynamoDb.send(new DescribeTableCommand({ TableName: table.tableName }));

    expect(Table?.LatestStreamArn).toMatch(/^arn:aws:dynamodb:/);
    expect(Table?.StreamSpecification).toEqual({ StreamEnabled: true, StreamViewType: 'NEW_IMAGE' });
  });

  it('enables TTL on expiresAt', async () => {
    const output = await dynamoDb.send(new DescribeTimeToLiveCommand({ TableName: table.tableName }));

    expect(output.TimeToLiveDescription).toEqual({ AttributeName: 'expiresAt', TimeToLiveStatus: 'ENABLED' });
  });

  it('names the table after the caller, so test files never share one', async () => {
    const other = await createTestTable('local-resources');

    expect(table.tableName).toMatch(/^local-resources-[0-9a-f]{8}-/);
    expect(other.tableName).not.toBe(table.tableName);
  });

  it('creates the event bus under the namespace', async () => {
    const bus = required(messaging.buses.values().next().value, 'the bus');

    const described = await eventBridge.send(new DescribeEventBusCommand({ Name: bus.name }));

    expect(bus.name.startsWith(messaging.namespace)).toBe(true);
    expect(described.Arn).toBe(bus.arn);
  });

  it('creates every queue of the template', async () => {
    const queueIds = Object.entries(template.Resources)
      .filter(([, resource]) => resource.Type === 'AWS::SQS::Queue')
      .map(([logicalId]) => logicalId);

    expect([...messaging.queues.keys()].sort()).toEqual(queueIds.sort());
    for (const queue of messaging.queues.values()) {
      const { QueueUrl } = await sqs.send(new GetQueueUrlCommand({ QueueName: queue.name }));
      expect(QueueUrl).toBe(queue.url);
    }
  });

  it('creates the tap rule on the bus with the tap queue as its target', async () => {
    const tapQueueId = required(
      (template.Outputs?.TapQueueUrl?.Value as { Ref?: string } | undefined)?.Ref,
      'the TapQueueUrl output',
    );
    const tapQueue = required(messaging.queues.get(tapQueueId), 'the tap queue');
    const rule = required(
      [...messaging.rules.values()].find((candidate) => candidate.queueTargets.includes(tapQueueId)),
      'the tap rule',
    );

    const described = await eventBridge.send(
      new DescribeRuleCommand({ Name: rule.name, EventBusName: rule.eventBusName }),
    );
    const targets = await eventBridge.send(
      new ListTargetsByRuleCommand({ Rule: rule.name, EventBusName: rule.eventBusName }),
    );

    expect(described.State).toBe('ENABLED');
    expect(JSON.parse(described.EventPattern ?? '{}')).toEqual({ account: ['123456789012'] });
    expect(targets.Targets?.map((target) => target.Arn)).toEqual([tapQueue.arn]);
  });

  it('delivers an event put on the bus to the tap queue', async () => {
    const tapQueueId = required(
      (template.Outputs?.TapQueueUrl?.Value as { Ref?: string } | undefined)?.Ref,
      'the TapQueueUrl output',
    );
    const tapQueue = required(messaging.queues.get(tapQueueId), 'the tap queue');
    const bus = required(messaging.buses.values().next().value, 'the bus');
    const detail = { eventId: uniqueNamespace('event'), sequence: 1 };

    const put = await eventBridge.send(
      new PutEventsCommand({
        Entries: [
          {
            EventBusName: bus.name,
            Source: 'com.example.members',
            DetailType: 'MemberRegistered',
            Detail: JSON.stringify(detail),
          },
        ],
      }),
    );
    const [message] = await receive(tapQueue.url, 1);

    expect(put.FailedEntryCount ?? 0).toBe(0);
    const event = JSON.parse(required(message?.Body, 'the message body')) as Record<string, unknown>;
    expect(event).toMatchObject({
      source: 'com.example.members',
      'detail-type': 'MemberRegistered',
      detail,
    });
  });

  it('reads the relay mapping settings from the template', () => {
    const [mapping] = eventSourceMappings(template);

    expect(mapping?.eventSourceLogicalId).toBe(outboxTableLogicalId(template));
    expect(mapping?.functionLogicalId).toBeDefined();
    expect(mapping?.properties).toMatchObject({
      StartingPosition: 'TRIM_HORIZON',
      FunctionResponseTypes: ['ReportBatchItemFailures'],
      BisectBatchOnFunctionError: true,
    });
    expect(mapping?.properties.BatchSize).toBeGreaterThan(0);
    const pattern = JSON.parse(mapping?.properties.FilterCriteria?.Filters[0]?.Pattern ?? '{}') as object;
    expect(pattern).toHaveProperty('dynamodb');
  });
});

describe('hand-made templates', () => {
  const plainTable: CfnTemplate = {
    Resources: {
      Orders: {
        Type: 'AWS::DynamoDB::Table',
        Properties: {
          KeySchema: [{ AttributeName: 'id', KeyType: 'HASH' }],
          AttributeDefinitions: [
            { AttributeName: 'id', AttributeType: 'S' },
            { AttributeName: 'status', AttributeType: 'S' },
          ],
          BillingMode: 'PROVISIONED',
          ProvisionedThroughput: { ReadCapacityUnits: 1, WriteCapacityUnits: 1 },
          GlobalSecondaryIndexes: [
            {
              IndexName: 'byStatus',
              KeySchema: [{ AttributeName: 'status', KeyType: 'HASH' }],
              Projection: { ProjectionType: 'INCLUDE', NonKeyAttributes: ['total'] },
              ProvisionedThroughput: { ReadCapacityUnits: 1, WriteCapacityUnits: 1 },
            },
          ],
          StreamSpecification: { StreamViewType: 'NEW_AND_OLD_IMAGES' },
          TimeToLiveSpecification: { AttributeName: 'ttl', Enabled: true },
          SSESpecification: { SSEEnabled: true, KMSMasterKeyId: { 'Fn::GetAtt': ['Key', 'Arn'] } },
        },
      },
    },
  };

  it('creates a plain Table with its index, stream and TTL, ignoring capacity and encryption', async () => {
    const tables = await createTablesFromTemplate(plainTable, dynamoDb, {
      namespace: uniqueNamespace('plain'),
    });
    const tableName = required(tables.get('Orders'), 'the Orders table');

    const { Table } = await dynamoDb.send(new DescribeTableCommand({ TableName: tableName }));
    const ttl = await dynamoDb.send(new DescribeTimeToLiveCommand({ TableName: tableName }));

    expect(tableName).toMatch(/-Orders$/);
    expect(Table?.GlobalSecondaryIndexes?.[0]?.Projection).toEqual({
      ProjectionType: 'INCLUDE',
      NonKeyAttributes: ['total'],
    });
    expect(Table?.StreamSpecification?.StreamViewType).toBe('NEW_AND_OLD_IMAGES');
    expect(ttl.TimeToLiveDescription?.TimeToLiveStatus).toBe('ENABLED');
  });

  it('reuses a table that exists already', async () => {
    const namespace = uniqueNamespace('again');
    const first = await createTablesFromTemplate(plainTable, dynamoDb, { namespace });

    const second = await createTablesFromTemplate(plainTable, dynamoDb, { namespace });

    expect(second).toEqual(first);
  });

  const fifoAndLambda: CfnTemplate = {
    Resources: {
      DeadLetters: {
        Type: 'AWS::SQS::Queue',
        Properties: { FifoQueue: true, KmsMasterKeyId: 'alias/aws/sqs' },
      },
      Orders: {
        Type: 'AWS::SQS::Queue',
        Properties: {
          QueueName: 'orders.fifo',
          FifoQueue: true,
          ContentBasedDeduplication: true,
          VisibilityTimeout: 45,
          RedrivePolicy: {
            deadLetterTargetArn: { 'Fn::GetAtt': ['DeadLetters', 'Arn'] },
            maxReceiveCount: 3,
          },
        },
      },
      Bus: { Type: 'AWS::Events::EventBus', Properties: { Name: 'orders' } },
      Consumer: { Type: 'AWS::Lambda::Function', Properties: {} },
      OrderRule: {
        Type: 'AWS::Events::Rule',
        Properties: {
          EventBusName: { 'Fn::GetAtt': ['Bus', 'Name'] },
          EventPattern: {
            source: [{ 'Fn::Sub': 'com.example.${AWS::Region}' }],
            'detail-type': ['OrderPlaced'],
          },
          Targets: [
            {
              Id: 'Queue',
              Arn: { 'Fn::GetAtt': ['Orders', 'Arn'] },
              SqsParameters: { MessageGroupId: 'orders' },
            },
            { Id: 'Fn', Arn: { 'Fn::GetAtt': ['Consumer', 'Arn'] } },
            { Id: 'Elsewhere', Arn: 'arn:aws:sns:us-east-1:123456789012:topic' },
          ],
        },
      },
      Archive: { Type: 'AWS::Events::Archive', Properties: { SourceArn: { 'Fn::GetAtt': ['Bus', 'Arn'] } } },
    },
  };

  describe('messaging', () => {
    let created: LocalMessaging;
    let namespace: string;

    beforeAll(async () => {
      namespace = uniqueNamespace('fifo');
      created = await createMessagingFromTemplate(fifoAndLambda, { eventBridge, sqs }, { namespace });
    });

    it('keeps .fifo last in FIFO queue names, generated or given', () => {
      expect(created.queues.get('DeadLetters')?.name).toBe(`${namespace}-DeadLetters.fifo`);
      expect(created.queues.get('Orders')?.name).toBe(`${namespace}-orders.fifo`);
    });

    it('points the redrive policy at the local dead-letter queue', async () => {
      const orders = required(created.queues.get('Orders'), 'the orders queue');
      const deadLetters = required(created.queues.get('DeadLetters'), 'the dead-letter queue');

      const { Attributes } = await sqs.send(
        new GetQueueAttributesCommand({ QueueUrl: orders.url, AttributeNames: ['All'] }),
      );

      expect(JSON.parse(Attributes?.RedrivePolicy ?? '{}')).toEqual({
        deadLetterTargetArn: deadLetters.arn,
        maxReceiveCount: 3,
      });
      expect(Attributes).toMatchObject({ FifoQueue: 'true', VisibilityTimeout: '45' });
    });

    it('routes matching events to the queue target with its message group', async () => {
      const orders = required(created.queues.get('Orders'), 'the orders queue');
      const rule = required(created.rules.get('OrderRule'), 'the rule');

      await eventBridge.send(
        new PutEventsCommand({
          Entries: [
            {
              EventBusName: rule.eventBusName,
              Source: 'com.example.us-east-1',
              DetailType: 'OrderPlaced',
              Detail: JSON.stringify({ orderId: 'o-1' }),
            },
          ],
        }),
      );
      const [message] = await receive(orders.url, 1);

      expect(rule.eventBusName).toBe(`${namespace}-orders`);
      expect(JSON.parse(message?.Body ?? '{}')).toMatchObject({ detail: { orderId: 'o-1' } });
    });

    it('returns Lambda targets for the caller and skips targets with no local counterpart', () => {
      expect(created.lambdaTargets).toEqual([
        expect.objectContaining({
          ruleLogicalId: 'OrderRule',
          targetId: 'Fn',
          functionLogicalId: 'Consumer',
          eventPattern: { source: ['com.example.us-east-1'], 'detail-type': ['OrderPlaced'] },
        }),
      ]);
      expect(created.skippedTargets.map((target) => target.targetId)).toEqual(['Elsewhere']);
    });

    it('is harmless to run twice with the same namespace', async () => {
      const again = await createMessagingFromTemplate(fifoAndLambda, { eventBridge, sqs }, { namespace });

      expect(again.queues).toEqual(created.queues);
      expect(again.buses).toEqual(created.buses);
    });
  });
});

describe('resolve', () => {
  const context = localResolveContext(
    'Outbox-dev',
    new Map([
      ['Queue', { ref: 'https://queue', attributes: { Arn: 'arn:aws:sqs:us-east-1:123456789012:q' } }],
    ]),
  );

  it('resolves pseudo parameters in Fn::Sub and Fn::Join', () => {
    const value = {
      'Fn::Join': [
        ':',
        ['arn', { Ref: 'AWS::Partition' }, { 'Fn::Sub': '${AWS::Region}.${AWS::URLSuffix}' }],
      ],
    };

    expect(resolve(value, context)).toBe('arn:aws:us-east-1.amazonaws.com');
  });

  it('resolves Ref and Fn::GetAtt of created resources, in both Fn::GetAtt forms and inside Fn::Sub', () => {
    expect(resolve({ Ref: 'Queue' }, context)).toBe('https://queue');
    expect(resolve({ 'Fn::GetAtt': 'Queue.Arn' }, context)).toBe('arn:aws:sqs:us-east-1:123456789012:q');
    expect(resolve({ 'Fn::Sub': ['${Queue.Arn}/${Name}', { Name: 'x' }] }, context)).toBe(
      'arn:aws:sqs:us-east-1:123456789012:q/x',
    );
  });

  it('keeps escaped ${!Literal} text and drops AWS::NoValue', () => {
    expect(resolve({ 'Fn::Sub': '${!Literal}' }, context)).toBe('${Literal}');
    expect(resolve({ a: 1, b: { Ref: 'AWS::NoValue' }, c: [{ Ref: 'AWS::NoValue' }, 2] }, context)).toEqual({
      a: 1,
      c: [2],
    });
  });

  it('throws on a reference with no local counterpart', () => {
    expect(() => resolve({ Ref: 'Missing' }, context)).toThrow(TemplateResolutionError);
    expect(() => resolve({ 'Fn::If': ['Prod', 1, 2] }, context)).toThrow(/Fn::If is not supported/);
  });
});

describe('global setup', () => {
  it('provides loopback endpoints and hands the DynamoDB Local one to workers as DYNAMODB_ENDPOINT', () => {
    const dynamoDbEndpoint = inject('dynamoDbEndpoint');

    expect(dynamoDbEndpoint).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
    expect(inject('motoEndpoint')).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
    expect(process.env.DYNAMODB_ENDPOINT).toBe(dynamoDbEndpoint);
  });
});

describe('eventSourceMappings', () => {
  it('follows an alias to its function and leaves unset settings absent', () => {
    const template: CfnTemplate = {
      Resources: {
        Fn: { Type: 'AWS::Lambda::Function', Properties: {} },
        Live: { Type: 'AWS::Lambda::Alias', Properties: { FunctionName: { Ref: 'Fn' }, Name: 'live' } },
        Mapping: {
          Type: 'AWS::Lambda::EventSourceMapping',
          Properties: {
            FunctionName: { Ref: 'Live' },
            EventSourceArn: { 'Fn::GetAtt': ['Table', 'StreamArn'] },
            StartingPosition: 'LATEST',
            FilterCriteria: { Filters: [{ Pattern: { 'Fn::Join': ['', ['{"eventName":["INSERT"]}']] } }] },
          },
        },
      },
    };

    const [mapping] = eventSourceMappings(template);

    expect(mapping).toEqual({
      logicalId: 'Mapping',
      functionLogicalId: 'Fn',
      eventSourceLogicalId: 'Table',
      properties: {
        StartingPosition: 'LATEST',
        FilterCriteria: { Filters: [{ Pattern: '{"eventName":["INSERT"]}' }] },
      },
    });
  });
});
