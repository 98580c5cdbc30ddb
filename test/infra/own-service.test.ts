import { App, Stack } from 'aws-cdk-lib';
import { Match, Template } from 'aws-cdk-lib/assertions';
import * as dynamodb from 'aws-cdk-lib/aws-dynamodb';
import type { IConstruct } from 'constructs';
import { describe, expect, it } from 'vitest';
import { UsersServiceStack } from '../../examples/own-service/stack';
import { OutboxConfigurationError } from '../../lib/outbox/outbox-layout';
import { TransactionalOutbox, type TransactionalOutboxProps } from '../../lib/outbox/transactional-outbox';
import { arnOf, logicalIdOf, type Statement, statementsOfRole, statementsWithAction } from '../helpers/synth';

/** The users service of examples/own-service: its own table (`PK`/`SK`), the outbox added to it. */
function usersService(): { stack: UsersServiceStack; template: Template } {
  const app = new App({ context: { 'aws:cdk:bundling-stacks': [] } });
  const stack = new UsersServiceStack(app, 'Users');
  return { stack, template: Template.fromStack(stack) };
}

/** A stack with a table made by `tableProps` and an outbox on it. */
function outboxOn(
  tableProps: Partial<dynamodb.TablePropsV2>,
  outboxProps: Omit<TransactionalOutboxProps, 'table'> = {},
): { stack: Stack; outbox: TransactionalOutbox } {
  const stack = new Stack(new App({ context: { 'aws:cdk:bundling-stacks': [] } }), 'Service');
  const table = new dynamodb.TableV2(stack, 'Table', {
    partitionKey: { name: 'PK', type: dynamodb.AttributeType.STRING },
    sortKey: { name: 'SK', type: dynamodb.AttributeType.STRING },
    dynamoStream: dynamodb.StreamViewType.NEW_IMAGE,
    ...tableProps,
  });
  return { stack, outbox: new TransactionalOutbox(stack, 'Outbox', { table, ...outboxProps }) };
}

const synthesized = usersService();

function dynamoStatements(fn: { readonly role?: IConstruct | undefined }): Statement[] {
  if (!fn.role) throw new Error('the function has no role');
  return statementsWithAction(statementsOfRole(synthesized.template, logicalIdOf(fn.role)), 'dynamodb:');
}

describe('TransactionalOutbox on a service table with its own keys', () => {
  it('filters the stream on the table sort key and the pending partition key', () => {
    synthesized.template.hasResourceProperties('AWS::Lambda::EventSourceMapping', {
      EventSourceArn: { 'Fn::GetAtt': [logicalIdOf(synthesized.stack.table), 'StreamArn'] },
      FilterCriteria: {
        Filters: [
          {
            Pattern: JSON.stringify({
              dynamodb: {
                Keys: { SK: { S: [{ prefix: 'OUTBOX#' }] } },
                NewImage: { pendingPk: { S: [{ exists: true }] } },
              },
            }),
          },
        ],
      },
    });
  });

  it('keeps the table keys and stream, and adds the lean pending index and the TTL', () => {
    synthesized.template.resourceCountIs('AWS::DynamoDB::GlobalTable', 1);
    synthesized.template.hasResourceProperties('AWS::DynamoDB::GlobalTable', {
      KeySchema: [
        { AttributeName: 'PK', KeyType: 'HASH' },
        { AttributeName: 'SK', KeyType: 'RANGE' },
      ],
      StreamSpecification: { StreamViewType: 'NEW_AND_OLD_IMAGES' },
      TimeToLiveSpecification: { AttributeName: 'expiresAt', Enabled: true },
      GlobalSecondaryIndexes: [
        {
          IndexName: 'pendingEvents',
          KeySchema: [
            { AttributeName: 'pendingPk', KeyType: 'HASH' },
            { AttributeName: 'pendingSk', KeyType: 'RANGE' },
          ],
          Projection: { ProjectionType: 'INCLUDE', NonKeyAttributes: ['occurredAt', 'eventId'] },
        },
      ],
    });
  });

  it('grants the relay, the sweeper and the writer exactly the table actions they use', () => {
    const { outbox, table, writeUser } = synthesized.stack;
    const tableArn = arnOf(table);
    const indexArn = { 'Fn::Join': ['', [tableArn, '/index/pendingEvents']] };
    const streamArn = { 'Fn::GetAtt': [logicalIdOf(table), 'StreamArn'] };

    expect(dynamoStatements(outbox.relay.function)).toEqual([
      {
        Effect: 'Allow',
        Action: ['dynamodb:PartiQLUpdate', 'dynamodb:UpdateItem', 'dynamodb:BatchGetItem', 'dynamodb:Query'],
        Resource: [tableArn],
      },
      // The stream reads of the event source mapping, on the stream only.
      { Effect: 'Allow', Action: ['dynamodb:ListStreams'], Resource: [streamArn] },
      {
        Effect: 'Allow',
        Action: ['dynamodb:DescribeStream', 'dynamodb:GetRecords', 'dynamodb:GetShardIterator'],
        Resource: [streamArn],
      },
    ]);
    expect(dynamoStatements(outbox.sweeper.function)).toEqual([
      {
        Effect: 'Allow',
        Action: ['dynamodb:PartiQLUpdate', 'dynamodb:UpdateItem', 'dynamodb:Query'],
        Resource: [tableArn],
      },
      { Effect: 'Allow', Action: ['dynamodb:Scan'], Resource: [indexArn] },
    ]);
    expect(dynamoStatements(writeUser)).toEqual([
      { Effect: 'Allow', Action: ['dynamodb:PutItem'], Resource: [tableArn] },
    ]);
  });

  it('tells the relay, the sweeper and the writer the layout', () => {
    const { outbox, writeUser } = synthesized.stack;
    const resources = synthesized.template.toJSON().Resources;
    const layout = {
      OUTBOX_PARTITION_KEY: 'PK',
      OUTBOX_SORT_KEY: 'SK',
      OUTBOX_PENDING_INDEX: 'pendingEvents',
      OUTBOX_PENDING_PARTITION_KEY: 'pendingPk',
      OUTBOX_PENDING_SORT_KEY: 'pendingSk',
      OUTBOX_TTL_ATTRIBUTE: 'expiresAt',
      OUTBOX_PENDING_SHARDS: '16',
    };

    for (const fn of [outbox.relay.function, outbox.sweeper.function, writeUser]) {
      expect(resources[logicalIdOf(fn)].Properties.Environment.Variables).toMatchObject({
        ...layout,
        TABLE_NAME: { Ref: logicalIdOf(synthesized.stack.table) },
      });
    }
  });

  it('has the alarms of the relay, the sweeper, the table, the writer and the consumer queue, and no API alarms', () => {
    const names = Object.values(synthesized.template.findResources('AWS::CloudWatch::Alarm')).map(
      (alarm) => alarm.Properties.AlarmName,
    );

    expect(names.sort()).toEqual(
      [
        'relay-errors',
        'relay-iterator-age',
        'on-failure-queue-depth',
        'poison-queue-depth',
        'publish-failures',
        'oldest-pending-age',
        'sweeper-silent',
        'table-system-errors',
        'table-throttles',
        'throttles-relay',
        'throttles-sweeper',
        'throttles-writeuser',
        'throttles-welcome-user',
        'dlq-welcome-user',
        'dlq-welcome-user-rule',
      ]
        .map((name) => `Users-${name}`)
        .sort(),
    );
  });

  it("deploys the service's own consumer handler with OutboxConsumer: rule, queue with DLQ, function", () => {
    const { welcomeUser, outbox, table } = synthesized.stack;
    const resources = synthesized.template.toJSON().Resources;
    const fn = resources[logicalIdOf(welcomeUser.function)];

    // The function runs the service's file, bundled like the outbox's own functions.
    expect(fn.Properties.Description).toBe('examples/own-service/welcome-user.ts');
    expect(fn.Metadata).toMatchObject({
      'Outbox::Handler': 'welcome-user',
      'Outbox::HandlerFile': 'examples/own-service/welcome-user.ts',
    });
    expect(fn.Properties.Environment.Variables).toMatchObject({
      ...outbox.environment,
      TABLE_NAME: { Ref: logicalIdOf(table) },
      POWERTOOLS_SERVICE_NAME: 'welcome-user',
    });
    synthesized.template.hasResourceProperties('AWS::Events::Rule', {
      EventBusName: { Ref: logicalIdOf(outbox.eventBus) },
      EventPattern: { source: ['com.example.users'], 'detail-type': ['UserRegistered'] },
      Targets: [Match.objectLike({ Arn: arnOf(welcomeUser.queue) })],
    });
    synthesized.template.hasResourceProperties('AWS::SQS::Queue', {
      RedrivePolicy: { deadLetterTargetArn: arnOf(welcomeUser.deadLetterQueue), maxReceiveCount: 5 },
    });
    synthesized.template.hasResourceProperties('AWS::Lambda::EventSourceMapping', {
      EventSourceArn: arnOf(welcomeUser.queue),
      FunctionName: { Ref: logicalIdOf(welcomeUser.function) },
      FunctionResponseTypes: ['ReportBatchItemFailures'],
    });
    // Its idempotency records only: claim, complete, read, release.
    expect(dynamoStatements(welcomeUser.function)).toEqual([
      {
        Effect: 'Allow',
        Action: ['dynamodb:GetItem', 'dynamodb:PutItem', 'dynamodb:UpdateItem', 'dynamodb:DeleteItem'],
        Resource: [arnOf(table)],
      },
    ]);
  });

  it('counts the pending index throttles with the table throttles', () => {
    synthesized.template.hasResourceProperties('AWS::CloudWatch::Alarm', {
      AlarmName: 'Users-table-throttles',
      Metrics: Match.arrayWith([
        Match.objectLike({
          MetricStat: Match.objectLike({
            Metric: Match.objectLike({
              Dimensions: Match.arrayWith([{ Name: 'GlobalSecondaryIndexName', Value: 'pendingEvents' }]),
            }),
          }),
        }),
      ]),
    });
  });
});

describe('TransactionalOutbox settings', () => {
  it('uses the configured pending index and TTL names in the index, the filter and the grants', () => {
    const { stack, outbox } = outboxOn(
      {},
      {
        pendingIndexName: 'GSI-pending',
        pendingPartitionKey: 'GSI1PK',
        pendingSortKey: 'GSI1SK',
        ttlAttribute: 'ttl',
      },
    );
    const template = Template.fromStack(stack);

    template.hasResourceProperties('AWS::DynamoDB::GlobalTable', {
      TimeToLiveSpecification: { AttributeName: 'ttl', Enabled: true },
      GlobalSecondaryIndexes: [
        Match.objectLike({
          IndexName: 'GSI-pending',
          KeySchema: [
            { AttributeName: 'GSI1PK', KeyType: 'HASH' },
            { AttributeName: 'GSI1SK', KeyType: 'RANGE' },
          ],
        }),
      ],
    });
    template.hasResourceProperties('AWS::Lambda::EventSourceMapping', {
      FilterCriteria: { Filters: [{ Pattern: Match.stringLikeRegexp('"NewImage":\\{"GSI1PK"') }] },
    });
    template.hasResourceProperties('AWS::IAM::Policy', {
      PolicyDocument: {
        Statement: Match.arrayWith([
          Match.objectLike({
            Action: 'dynamodb:Scan',
            Resource: { 'Fn::Join': ['', [arnOf(outbox.table), '/index/GSI-pending']] },
          }),
        ]),
      },
    });
  });

  it('sizes the shard count from the peak event rate and tells the functions', () => {
    const { stack, outbox } = outboxOn({}, { peakEventsPerSecond: 20_000 });
    const resources = Template.fromStack(stack).toJSON().Resources;

    expect(outbox.pendingShards).toBe(60);
    expect(resources[logicalIdOf(outbox.relay.function)].Properties.Environment.Variables).toMatchObject({
      OUTBOX_PENDING_SHARDS: '60',
    });
  });

  it('accepts a table whose TTL is already on the outbox attribute', () => {
    const { stack } = outboxOn({ timeToLiveAttribute: 'expiresAt' });

    Template.fromStack(stack).hasResourceProperties('AWS::DynamoDB::GlobalTable', {
      TimeToLiveSpecification: { AttributeName: 'expiresAt', Enabled: true },
    });
  });

  it('adds itself to a Table (not TableV2) and reads its keys from the schema', () => {
    const stack = new Stack(new App({ context: { 'aws:cdk:bundling-stacks': [] } }), 'Legacy');
    const table = new dynamodb.Table(stack, 'Table', {
      partitionKey: { name: 'id', type: dynamodb.AttributeType.STRING },
      sortKey: { name: 'kind', type: dynamodb.AttributeType.STRING },
      billingMode: dynamodb.BillingMode.PAY_PER_REQUEST,
      stream: dynamodb.StreamViewType.NEW_IMAGE,
    });

    const outbox = new TransactionalOutbox(stack, 'Outbox', { table });
    const template = Template.fromStack(stack);

    expect(outbox.attributeNames).toMatchObject({ partitionKey: 'id', sortKey: 'kind' });
    template.hasResourceProperties('AWS::DynamoDB::Table', {
      TimeToLiveSpecification: { AttributeName: 'expiresAt', Enabled: true },
      GlobalSecondaryIndexes: [Match.objectLike({ IndexName: 'pendingEvents' })],
    });
    template.hasResourceProperties('AWS::Lambda::EventSourceMapping', {
      FilterCriteria: { Filters: [{ Pattern: Match.stringLikeRegexp('"Keys":\\{"kind"') }] },
    });
  });
});

describe('TransactionalOutbox refuses at synth time', () => {
  it('a table without a stream', () => {
    expect(() => outboxOn({ dynamoStream: undefined })).toThrow(OutboxConfigurationError);
    expect(() => outboxOn({ dynamoStream: undefined })).toThrow(/has no stream: .*NEW_IMAGE/);
  });

  it('a KEYS_ONLY stream, which has no new image to publish', () => {
    expect(() => outboxOn({ dynamoStream: dynamodb.StreamViewType.KEYS_ONLY })).toThrow(
      /KEYS_ONLY stream: .*needs NEW_IMAGE or NEW_AND_OLD_IMAGES/,
    );
  });

  it('an OLD_IMAGE stream', () => {
    expect(() => outboxOn({ dynamoStream: dynamodb.StreamViewType.OLD_IMAGE })).toThrow(/OLD_IMAGE stream/);
  });

  it('a TTL on another attribute', () => {
    expect(() => outboxOn({ timeToLiveAttribute: 'ttl' })).toThrow(
      /TTL on "ttl"; the outbox expires delivered items with "expiresAt": set ttlAttribute/,
    );
  });

  it('a table without a sort key', () => {
    expect(() => outboxOn({ sortKey: undefined })).toThrow(/has no sort key/);
  });

  it('a key that is not a string', () => {
    expect(() => outboxOn({ sortKey: { name: 'SK', type: dynamodb.AttributeType.NUMBER } })).toThrow(
      /the sortKey SK must be a string attribute, got N/,
    );
  });

  it('key names that contradict the table', () => {
    expect(() => outboxOn({}, { partitionKey: 'pk' })).toThrow(/partitionKey is "pk" but .* has "PK"/);
  });

  it('one attribute for two purposes', () => {
    expect(() => outboxOn({}, { ttlAttribute: 'SK' })).toThrow(
      /sortKey and .*ttlAttribute|ttlAttribute and sortKey/,
    );
  });

  it('settings of a created table given with an existing one', () => {
    expect(() => outboxOn({}, { deletionProtection: true })).toThrow(
      /deletionProtection apply to a table the outbox creates; set them on Service\/Table instead/,
    );
  });
});
