import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CloudFormationClient, DescribeStacksCommand } from '@aws-sdk/client-cloudformation';
import {
  DescribeTableCommand,
  DynamoDBClient,
  DynamoDBServiceException,
  QueryCommand,
  ScanCommand,
  type ScanCommandInput,
} from '@aws-sdk/client-dynamodb';
import {
  EventBridgeClient,
  EventBridgeServiceException,
  PutEventsCommand,
} from '@aws-sdk/client-eventbridge';
import {
  DeleteMessageCommand,
  GetQueueAttributesCommand,
  ReceiveMessageCommand,
  SQSClient,
  SQSServiceException,
} from '@aws-sdk/client-sqs';
import { BatchExecuteStatementCommand, DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { marshall } from '@aws-sdk/util-dynamodb';
import { mockClient } from 'aws-sdk-client-mock';
import { allCustomMatcher } from 'aws-sdk-client-mock-vitest';
import type {} from 'aws-sdk-client-mock-vitest/extend';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { type CliDeps, main } from '../../../cli/main';
import type { OutboxItem } from '../../../lambdas/outbox/envelope';
import { PENDING_INDEX } from '../../../lambdas/outbox/keys';
import { writeLocalTarget } from '../../../local/target-file';
import { acceptStatements } from '../../helpers/relay-harness';
import { outboxItem } from '../../helpers/stream-records';

expect.extend(allCustomMatcher);

const dynamoDb = mockClient(DynamoDBClient);
const doc = mockClient(DynamoDBDocumentClient);
const eventBridge = mockClient(EventBridgeClient);
const sqs = mockClient(SQSClient);
const cloudFormation = mockClient(CloudFormationClient);

const NOW = new Date('2026-03-01T13:00:00.000Z');
const QUEUE_URL = 'https://sqs.us-east-1.amazonaws.com/123456789012/Outbox-poison';
const TARGET = [
  '--table',
  'Outbox',
  '--bus',
  'outbox-bus',
  '--poison-queue-url',
  QUEUE_URL,
  '--region',
  'us-east-1',
];

afterEach(() => {
  dynamoDb.reset();
  doc.reset();
  eventBridge.reset();
  sqs.reset();
  cloudFormation.reset();
});

interface CliRun {
  readonly code: number;
  readonly stdout: string;
  readonly stderr: string;
}

async function cli(
  args: readonly string[],
  options: { env?: Record<string, string>; tty?: boolean; deps?: CliDeps } = {},
): Promise<CliRun> {
  let stdout = '';
  let stderr = '';
  const code = await main(
    args,
    {
      stdout: { write: (text: string) => (stdout += text) },
      stderr: { isTTY: options.tty ?? false, write: (text: string) => (stderr += text) },
      env: options.env ?? {},
    },
    { now: () => NOW, ...options.deps },
  );
  return { code, stdout, stderr };
}

function ago(seconds: number): string {
  return new Date(NOW.getTime() - seconds * 1000).toISOString();
}

function image(item: OutboxItem) {
  return marshall(item, { removeUndefinedValues: true });
}

function denied(action: string, resource: string): DynamoDBServiceException {
  return new DynamoDBServiceException({
    name: 'AccessDeniedException',
    $fault: 'client',
    $metadata: { httpStatusCode: 400 },
    message: `User: arn:aws:sts::123456789012:assumed-role/ops/me is not authorized to perform: ${action} on resource: ${resource} because no identity-based policy allows the ${action} action`,
  });
}

describe('outbox with a service table layout (OUTBOX_* variables)', () => {
  const LAYOUT_ENV = {
    OUTBOX_PARTITION_KEY: 'PK',
    OUTBOX_SORT_KEY: 'SK',
    OUTBOX_PENDING_INDEX: 'OutboxPending',
    OUTBOX_PENDING_PARTITION_KEY: 'GSI9PK',
    OUTBOX_PENDING_SORT_KEY: 'GSI9SK',
    OUTBOX_TTL_ATTRIBUTE: 'ttl',
  };

  it('counts by the configured names and reads the configured pending index', async () => {
    dynamoDb.on(DescribeTableCommand).resolves({ Table: { ItemCount: 2 } });
    dynamoDb.on(ScanCommand).callsFake((input: ScanCommandInput) =>
      input.IndexName === 'OutboxPending'
        ? { Items: [] }
        : {
            Items: [
              {
                PK: { S: 'USER#1' },
                SK: { S: 'OUTBOX#000000000001' },
                GSI9PK: { S: 'PENDING#0' },
                occurredAt: { S: ago(600) },
              },
              { PK: { S: 'USER#1' }, SK: { S: 'OUTBOX#000000000002' }, deliveredAt: { S: ago(5) } },
            ],
            ScannedCount: 2,
          },
    );
    sqs.on(GetQueueAttributesCommand).resolves({ Attributes: {} });

    const run = await cli(['stats', ...TARGET, '--segments', '1', '--json'], { env: LAYOUT_ENV });

    expect(run.code).toBe(0);
    expect(JSON.parse(run.stdout)).toMatchObject({
      total: 2,
      pending: 1,
      pendingOverThreshold: 1,
      delivered: 1,
    });
    expect(dynamoDb).toHaveReceivedCommandWith(ScanCommand, { IndexName: 'OutboxPending' });
    expect(dynamoDb).toHaveReceivedCommandWith(ScanCommand, {
      TableName: 'Outbox',
      FilterExpression: 'begins_with(#sk, :outboxPrefix)',
      ExpressionAttributeNames: expect.objectContaining({ '#sk': 'SK', '#pendingPk': 'GSI9PK' }),
    });
  });

  it('refuses a malformed layout variable before any call, naming it', async () => {
    const run = await cli(['stats', ...TARGET], { env: { OUTBOX_PENDING_SHARDS: 'lots' } });

    expect(run.code).not.toBe(0);
    expect(run.stderr).toContain('OUTBOX_PENDING_SHARDS');
    expect(dynamoDb.calls()).toHaveLength(0);
  });
});

describe('outbox stats', () => {
  beforeEach(() => {
    dynamoDb.on(DescribeTableCommand).resolves({ Table: { ItemCount: 4 } });
    // Two pages of the table's scan; the pending index (its own Scan) is empty.
    const tablePages = [
      {
        Items: [
          { sk: { S: 'OUTBOX#000000000001' }, pendingPk: { S: 'PENDING#1' }, occurredAt: { S: ago(600) } },
          { sk: { S: 'OUTBOX#000000000002' }, pendingPk: { S: 'PENDING#1' }, occurredAt: { S: ago(10) } },
        ],
        ScannedCount: 3,
        LastEvaluatedKey: { pk: { S: 'x' }, sk: { S: 'y' } },
      },
      {
        Items: [
          { sk: { S: 'OUTBOX#000000000001' }, deliveredAt: { S: ago(5) } },
          { sk: { S: 'OUTBOX#000000000003' }, failedAt: { S: ago(5) } },
        ],
        ScannedCount: 2,
      },
    ];
    dynamoDb
      .on(ScanCommand)
      .callsFake((input: ScanCommandInput) =>
        input.IndexName === PENDING_INDEX ? { Items: [] } : (tablePages.shift() ?? { Items: [] }),
      );
    sqs.on(GetQueueAttributesCommand).resolves({
      Attributes: { ApproximateNumberOfMessages: '1', ApproximateNumberOfMessagesNotVisible: '0' },
    });
  });

  it('counts by state in JSON on stdout while the forced progress bar goes to stderr only', async () => {
    const run = await cli(['stats', ...TARGET, '--segments', '1', '--json', '--progress']);

    expect(run.code).toBe(0);
    expect(JSON.parse(run.stdout)).toEqual({
      command: 'stats',
      asOf: NOW.toISOString(),
      table: 'Outbox',
      thresholdSeconds: 300,
      total: 4,
      pending: 2,
      pendingOverThreshold: 1,
      delivered: 1,
      failed: 1,
      other: 0,
      scannedItems: 5,
      oldestPending: null,
      poisonQueue: { url: QUEUE_URL, approximateMessages: 1, approximateInFlight: 0, error: null },
    });
    expect(run.stderr).toContain('scanning Outbox');
    expect(run.stdout).not.toContain('\r');
    expect(dynamoDb).toHaveReceivedCommandWith(ScanCommand, {
      TableName: 'Outbox',
      Segment: 0,
      TotalSegments: 1,
      FilterExpression: 'begins_with(#sk, :outboxPrefix)',
      ExpressionAttributeValues: { ':outboxPrefix': { S: 'OUTBOX#' } },
    });
  });

  it('draws no progress bar when stderr is not a terminal', async () => {
    const run = await cli(['stats', ...TARGET, '--segments', '1']);

    expect(run.code).toBe(0);
    expect(run.stderr).toBe('');
    expect(run.stdout).toMatch(/pending\s+2\n\s+older than 5m 00s\s+1\n/);
  });

  it('explains a denied index Scan with the action, the resource and the permissions stats needs', async () => {
    const resource = `arn:aws:dynamodb:us-east-1:123456789012:table/Outbox/index/${PENDING_INDEX}`;
    dynamoDb.on(ScanCommand, { IndexName: PENDING_INDEX }).rejects(denied('dynamodb:Scan', resource));

    const run = await cli(['stats', ...TARGET]);

    expect(run.code).toBe(3);
    expect(run.stdout).toBe('');
    expect(run.stderr).toContain(`error: access denied: dynamodb:Scan on ${resource}`);
    expect(run.stderr).toContain('caller: arn:aws:sts::123456789012:assumed-role/ops/me');
    expect(run.stderr).toContain("'outbox stats' needs these IAM permissions:");
    expect(run.stderr).toContain('dynamodb:Scan on table Outbox');
    expect(run.stderr).not.toMatch(/\n\s+at /);
  });

  it('explains rejected credentials with exit code 3', async () => {
    dynamoDb.on(ScanCommand, { IndexName: PENDING_INDEX }).rejects(
      new DynamoDBServiceException({
        name: 'UnrecognizedClientException',
        $fault: 'client',
        $metadata: {},
        message: 'The security token included in the request is invalid.',
      }),
    );

    const run = await cli(['stats', ...TARGET]);

    expect(run.code).toBe(3);
    expect(run.stderr).toMatch(/^error: AWS rejected the credentials/);
  });
});

describe('outbox poison', () => {
  it('lists failed items and still succeeds when the queue depth is denied, with a warning', async () => {
    dynamoDb.on(DescribeTableCommand).resolves({ Table: {} });
    dynamoDb.on(ScanCommand).resolves({
      Items: [
        marshall({
          pk: 'MEMBER#1',
          sk: 'OUTBOX#000000000001',
          eventId: 'e-1',
          eventType: 'MemberRenamed',
          sequence: 1,
          failedAt: ago(60),
          failureReason: 'oversize: the entry has 2000000 bytes',
        }),
      ],
      ScannedCount: 7,
    });
    sqs.on(GetQueueAttributesCommand).rejects(
      new SQSServiceException({
        name: 'AccessDenied',
        $fault: 'client',
        $metadata: {},
        message: 'Access to the resource is denied.',
      }),
    );

    const run = await cli(['poison', ...TARGET, '--segments', '1', '--json']);
    const json = JSON.parse(run.stdout) as Record<string, unknown>;

    expect(run.code).toBe(0);
    expect(json).toMatchObject({
      count: 1,
      events: [{ eventId: 'e-1', sequence: 1, failureReason: 'oversize: the entry has 2000000 bytes' }],
      poisonQueue: {
        url: QUEUE_URL,
        approximateMessages: null,
        error: expect.stringMatching(/access denied/),
      },
    });
    expect(run.stderr).toMatch(/warning: poison queue depth unknown: .*needs sqs:GetQueueAttributes/);
    expect(dynamoDb).toHaveReceivedCommandWith(ScanCommand, {
      FilterExpression: expect.stringContaining('attribute_exists(#failedAt)'),
    });
    // Listing never takes messages off the queue.
    expect(sqs).not.toHaveReceivedCommand(ReceiveMessageCommand);
    expect(sqs).not.toHaveReceivedCommand(DeleteMessageCommand);
  });
});

describe('outbox republish', () => {
  const first = outboxItem({ aggregateId: 1, sequence: 1, occurredAt: ago(900) });
  const second = outboxItem({ aggregateId: 1, sequence: 2, occurredAt: ago(800) });

  beforeEach(() => {
    // The pending index names the aggregate's second event; the table read finds both.
    // The index projects only the keys, occurredAt and eventId.
    dynamoDb.on(ScanCommand, { IndexName: PENDING_INDEX }).resolves({
      Items: [
        {
          pk: { S: second.pk },
          sk: { S: second.sk },
          pendingPk: { S: second.pendingPk ?? '' },
          pendingSk: { S: second.pendingSk ?? '' },
          occurredAt: { S: second.occurredAt },
          eventId: { S: second.eventId },
        },
      ],
    });
    dynamoDb.on(QueryCommand, { ConsistentRead: true }).resolves({ Items: [image(first), image(second)] });
  });

  it('stops the aggregate when PutEvents is denied, says why, and exits 1 without marking anything', async () => {
    eventBridge.on(PutEventsCommand).rejects(
      new EventBridgeServiceException({
        name: 'AccessDeniedException',
        $fault: 'client',
        $metadata: {},
        message:
          'User: arn:aws:iam::123456789012:user/ops is not authorized to perform: events:PutEvents on resource: arn:aws:events:us-east-1:123456789012:event-bus/outbox-bus',
      }),
    );

    const run = await cli(['republish', '--older-than', '10m', ...TARGET, '--json']);
    const json = JSON.parse(run.stdout) as {
      summary: Record<string, number>;
      stopped: Array<{ pk: string; reason: string }>;
      events: Array<{ sequence: number; selected: boolean; outcome: string }>;
    };

    expect(run.code).toBe(1);
    expect(json.summary).toMatchObject({ published: 0, unpublished: 2 });
    expect(json.stopped).toEqual([
      expect.objectContaining({ pk: first.pk, reason: expect.stringContaining('AccessDeniedException') }),
    ]);
    expect(json.events.map((event) => [event.sequence, event.selected, event.outcome])).toEqual([
      [1, false, 'unpublished'],
      [2, true, 'unpublished'],
    ]);
    expect(run.stderr).toMatch(/error: an aggregate stops/);
    expect(doc).not.toHaveReceivedCommand(BatchExecuteStatementCommand);
    expect(eventBridge).toHaveReceivedCommandTimes(PutEventsCommand, 1);
  });

  it('publishes in sequence order and marks both delivered', async () => {
    eventBridge.on(PutEventsCommand).callsFake((input: { Entries: unknown[] }) => ({
      FailedEntryCount: 0,
      Entries: input.Entries.map((_, index) => ({ EventId: `id-${index}` })),
    }));
    doc.on(BatchExecuteStatementCommand).callsFake(acceptStatements);

    const run = await cli(['republish', '--older-than', '10m', ...TARGET]);

    expect(run.code).toBe(0);
    expect(run.stdout).toContain(
      'Summary: 2 published, 0 poisoned, 0 unpublished, 0 stopped aggregates, 0 mark failures.',
    );
    const calls = eventBridge.commandCalls(PutEventsCommand);
    const sent = calls
      .flatMap((call) => call.args[0].input.Entries ?? [])
      .map((entry) => JSON.parse(entry.Detail ?? '{}').sequence);
    expect(sent).toEqual([1, 2]);
    // One mark per chunk, each started as soon as its chunk was published.
    const marked = doc
      .commandCalls(BatchExecuteStatementCommand)
      .flatMap((call) => call.args[0].input.Statements ?? [])
      .map((statement) => statement.Parameters?.slice(2));
    expect(marked).toEqual([
      [first.pk, first.sk],
      [second.pk, second.sk],
    ]);
  });

  it('on Ctrl-C starts no further PutEvents call, still marks what was published, and exits 130', async () => {
    const controller = new AbortController();
    eventBridge.on(PutEventsCommand).callsFake((input: { Entries: unknown[] }) => {
      controller.abort();
      return { FailedEntryCount: 0, Entries: input.Entries.map((_, index) => ({ EventId: `id-${index}` })) };
    });
    doc.on(BatchExecuteStatementCommand).callsFake(acceptStatements);

    const run = await cli(['republish', '--older-than', '10m', ...TARGET, '--json'], {
      deps: { signal: controller.signal },
    });
    const json = JSON.parse(run.stdout) as { summary: Record<string, number>; interrupted: boolean };

    expect(run.code).toBe(130);
    expect(json).toMatchObject({ interrupted: true, summary: { published: 1, unpublished: 1 } });
    expect(eventBridge).toHaveReceivedCommandTimes(PutEventsCommand, 1);
    expect(doc).toHaveReceivedCommandWith(BatchExecuteStatementCommand, {
      Statements: [
        expect.objectContaining({ Parameters: [expect.any(String), expect.any(Number), first.pk, first.sk] }),
      ],
    });
  });

  it('needs a bus name unless it is a dry run', async () => {
    const run = await cli(['republish', '--older-than', '10m', '--table', 'Outbox', '--region', 'us-east-1']);

    expect(run.code).toBe(2);
    expect(run.stderr).toContain('no event bus name: pass --bus, --stack <name> or --local');
    expect(dynamoDb).not.toHaveReceivedAnyCommand();
  });
});

describe('target resolution', () => {
  it('reads the names from the stack outputs, a flag winning over an output', async () => {
    cloudFormation.on(DescribeStacksCommand, { StackName: 'Outbox-dev' }).resolves({
      Stacks: [
        {
          StackName: 'Outbox-dev',
          CreationTime: NOW,
          StackStatus: 'CREATE_COMPLETE',
          Outputs: [
            { OutputKey: 'TableName', OutputValue: 'Outbox-dev-Table' },
            { OutputKey: 'EventBusName', OutputValue: 'outbox-dev' },
            { OutputKey: 'PoisonQueueUrl', OutputValue: QUEUE_URL },
          ],
        },
      ],
    });
    dynamoDb.on(ScanCommand, { IndexName: PENDING_INDEX }).resolves({ Items: [] });

    const fromStack = await cli(['pending', '--stack', 'Outbox-dev', '--region', 'us-east-1', '--json']);
    const overridden = await cli([
      'pending',
      '--stack',
      'Outbox-dev',
      '--table',
      'Other',
      '--region',
      'us-east-1',
      '--json',
    ]);

    expect(fromStack.code).toBe(0);
    expect(JSON.parse(fromStack.stdout)).toMatchObject({ table: 'Outbox-dev-Table', count: 0 });
    expect(JSON.parse(overridden.stdout)).toMatchObject({ table: 'Other' });
  });

  it('reports a missing stack with exit code 3', async () => {
    cloudFormation
      .on(DescribeStacksCommand)
      .rejects(Object.assign(new Error('Stack with id Nope does not exist'), { name: 'ValidationError' }));

    const run = await cli(['stats', '--stack', 'Nope', '--region', 'us-east-1']);

    expect(run.code).toBe(3);
    expect(run.stderr).toContain('error: not found: Stack with id Nope does not exist');
  });

  it('takes the table from OUTBOX_TABLE when no flag or source names it', async () => {
    dynamoDb.on(ScanCommand, { IndexName: PENDING_INDEX }).resolves({ Items: [] });

    const run = await cli(['pending', '--region', 'us-east-1', '--json'], {
      env: { OUTBOX_TABLE: 'FromEnv' },
    });

    expect(JSON.parse(run.stdout)).toMatchObject({ table: 'FromEnv' });
  });

  describe('--local', () => {
    let directory: string;
    let file: string;

    beforeEach(async () => {
      directory = await mkdtemp(join(tmpdir(), 'outbox-cli-unit-'));
      file = join(directory, 'outbox.json');
      await writeLocalTarget(file, {
        version: 1,
        pid: 4242,
        startedAt: NOW.toISOString(),
        region: 'us-east-1',
        endpoints: {
          dynamodb: 'http://127.0.0.1:8000',
          events: 'http://127.0.0.1:5000',
          sqs: 'http://127.0.0.1:5000',
        },
        tableName: 'Local-Table',
        eventBusName: 'local-bus',
        poisonQueueUrl: 'http://127.0.0.1:5000/123456789012/poison',
      });
    });

    afterEach(async () => {
      await rm(directory, { recursive: true, force: true });
    });

    it('reads names from the file of a running runtime; --table still wins', async () => {
      dynamoDb.on(ScanCommand, { IndexName: PENDING_INDEX }).resolves({ Items: [] });

      const run = await cli(['pending', '--local-file', file, '--json'], {
        deps: { isProcessAlive: () => true },
      });
      const overridden = await cli(['pending', '--local-file', file, '--table', 'Mine', '--json'], {
        deps: { isProcessAlive: () => true },
      });

      expect(JSON.parse(run.stdout)).toMatchObject({ table: 'Local-Table' });
      expect(JSON.parse(overridden.stdout)).toMatchObject({ table: 'Mine' });
    });

    it('refuses a stale file whose runtime is gone, with exit code 3', async () => {
      const run = await cli(['pending', '--local-file', file], { deps: { isProcessAlive: () => false } });

      expect(run.code).toBe(3);
      expect(run.stderr).toContain('is stale: the local runtime that wrote it (pid 4242) is gone');
      expect(dynamoDb).not.toHaveReceivedAnyCommand();
    });
  });
});
