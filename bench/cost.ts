/**
 * Capacity units per event, step by step, for today's design and the one
 * before it, side by side, on DynamoDB Local; then dollars per million events
 * for the project, the naive relay and a model of an EventBridge Pipes
 * outbox.
 *
 * Measured with `ReturnConsumedCapacity: INDEXES` where DynamoDB Local
 * reports it (TransactWriteItems, UpdateItem, BatchGetItem, Query, Scan);
 * the delivered mark is a PartiQL `BatchExecuteStatement`, for which it
 * reports nothing, so that step comes from capacity-rules.ts and is checked
 * against the same update sent as a plain UpdateItem.
 */
import {
  BatchGetItemCommand,
  type ConsumedCapacity,
  CreateTableCommand,
  DynamoDBClient,
  QueryCommand,
  ScanCommand,
  UpdateItemCommand,
} from '@aws-sdk/client-dynamodb';
import { TransactWriteCommand } from '@aws-sdk/lib-dynamodb';
import { marshall } from '@aws-sdk/util-dynamodb';
import { ulid } from 'ulid';
import type { OutboxItem } from '../lambdas/outbox/envelope';
import {
  PENDING_INDEX,
  PENDING_PK,
  PENDING_SHARDS,
  PENDING_SK,
  PK,
  pendingPartition,
  SK,
  TTL_ATTRIBUTE,
} from '../lambdas/outbox/keys';
import { itemSize } from '../lambdas/outbox/limits';
import { markDelivered } from '../lambdas/outbox/marker';
import { PENDING_INDEX_ATTRIBUTES } from '../lambdas/outbox/pending-index';
import { OutboxWriter } from '../lambdas/outbox/writer';
import { createDocumentClient } from '../lambdas/sample/shared/clients';
import { LEGACY_PENDING_INDEX } from '../lib/outbox/outbox-table';
import { indexWriteUnits, readUnits, writeUnits } from './capacity-rules';
import { PRICES } from './prices';
import { round } from './stats';

/** Capacity of one step, per event. */
export interface StepCost {
  /** Write units on the table. */
  readonly tableWrite: number;
  /** Write units on the pending index. */
  readonly indexWrite: number;
  /** Read units (table and index). */
  readonly read: number;
  /** `measured`: DynamoDB Local's ConsumedCapacity; `rules`: capacity-rules.ts. */
  readonly source: 'measured' | 'rules';
}

/** One design at one event size. */
export interface DesignCost {
  readonly design: 'before' | 'now';
  /** Size of the outbox item, by DynamoDB's rules. */
  readonly itemBytes: number;
  readonly steps: {
    /** The outbox Put and its index entry in the writer's transaction (the entity write excluded). */
    readonly writer: StepCost;
    /** The delivered mark and the index entry it removes. */
    readonly mark: StepCost;
    /** The gap guard's consistent read of the event before a batch's first, per event (one per 5 events in the bench's shape). */
    readonly gapGuard: StepCost;
  };
  /** Write units per event end to end (writer and mark, table and index). */
  readonly writeUnitsPerEvent: number;
  /** The same update as a plain UpdateItem on DynamoDB Local, to check the rules (new design only). */
  readonly markCheck?: { readonly tableWrite: number; readonly indexWrite: number };
}

/** Reads of one idle sweep (nothing pending), which runs every five minutes whatever the traffic. */
export interface SweepReads {
  readonly design: 'before' | 'now';
  readonly calls: number;
  /** What DynamoDB Local reported (it reports 0 for reads of an empty index). */
  readonly readUnits: number;
  /** By AWS's rules: every Query or Scan of a GSI costs at least half a read unit (eventually consistent). */
  readonly ruleReadUnits: number;
}

/** Dollars per million events for one way of running an outbox. */
export interface DollarRow {
  readonly name: string;
  readonly dynamoDb: number;
  readonly putEvents: number;
  readonly compute: number;
  readonly tracing: number;
  readonly logs: number;
  readonly total: number;
  /** What it gives up against the project. */
  readonly givesUp: string;
}

/** What the cost part measured. */
export interface CostResult {
  readonly designs: readonly DesignCost[];
  readonly sweeps: readonly SweepReads[];
  /** Per million 1 KB events; `quiet` = one event per invocation, `busy` = full batches. */
  readonly dollars: { readonly busy: readonly DollarRow[]; readonly quiet: readonly DollarRow[] };
  /** The relay's tracing cost per event, bounded. */
  readonly tracing: { readonly perEventBoundUsd: number; readonly statement: string };
  readonly assumptions: Record<string, number | string>;
}

/** Gap-guard boundary reads per event: one per aggregate per batch, 200 aggregates in a batch of 1,000. */
const BOUNDARIES_PER_EVENT = 0.2;

type Sink = { command: string; capacity: ConsumedCapacity[] }[];

function instrumented(endpoint: string, sink: Sink): DynamoDBClient {
  const client = new DynamoDBClient({
    endpoint,
    region: 'us-east-1',
    credentials: { accessKeyId: 'bench', secretAccessKey: 'bench' },
  });
  client.middlewareStack.add(
    (next, context) => async (args) => {
      const input = args.input as Record<string, unknown>;
      input.ReturnConsumedCapacity = 'INDEXES';
      const result = await next(args);
      const output = result.output as { ConsumedCapacity?: ConsumedCapacity | ConsumedCapacity[] };
      const capacity = output.ConsumedCapacity;
      sink.push({
        command: context.commandName ?? '?',
        capacity: capacity === undefined ? [] : Array.isArray(capacity) ? capacity : [capacity],
      });
      return result;
    },
    { step: 'initialize', name: 'benchConsumedCapacity' },
  );
  return client;
}

/** Commands that write; the rest read. */
const WRITE_COMMANDS = new Set([
  'TransactWriteItemsCommand',
  'UpdateItemCommand',
  'PutItemCommand',
  'BatchExecuteStatementCommand',
]);

/**
 * Table and index write units, and read units, of the calls recorded since
 * `from`. DynamoDB Local reports `CapacityUnits` (not the read/write split),
 * so the command tells which it is.
 */
function unitsSince(sink: Sink, from: number, indexName: string) {
  let tableWrite = 0;
  let indexWrite = 0;
  let read = 0;
  for (const { command, capacity } of sink.slice(from)) {
    const writes = WRITE_COMMANDS.has(command);
    for (const entry of capacity) {
      const table = entry.Table?.CapacityUnits ?? 0;
      const index = entry.GlobalSecondaryIndexes?.[indexName]?.CapacityUnits ?? 0;
      if (writes) {
        tableWrite += table;
        indexWrite += index;
      } else {
        read += table + index;
      }
    }
  }
  return {
    tableWrite,
    indexWrite,
    read,
    reported: sink.slice(from).some((call) => call.capacity.length > 0),
  };
}

async function createTable(client: DynamoDBClient, name: string, design: 'before' | 'now'): Promise<void> {
  const keys = [
    { AttributeName: PENDING_PK, KeyType: 'HASH' as const },
    { AttributeName: PENDING_SK, KeyType: 'RANGE' as const },
  ];
  await client.send(
    new CreateTableCommand({
      TableName: name,
      BillingMode: 'PAY_PER_REQUEST',
      KeySchema: [
        { AttributeName: PK, KeyType: 'HASH' },
        { AttributeName: SK, KeyType: 'RANGE' },
      ],
      AttributeDefinitions: [PK, SK, PENDING_PK, PENDING_SK].map((AttributeName) => ({
        AttributeName,
        AttributeType: 'S' as const,
      })),
      GlobalSecondaryIndexes: [
        design === 'before'
          ? { IndexName: LEGACY_PENDING_INDEX, KeySchema: keys, Projection: { ProjectionType: 'ALL' } }
          : {
              IndexName: PENDING_INDEX,
              KeySchema: keys,
              Projection: { ProjectionType: 'INCLUDE', NonKeyAttributes: [...PENDING_INDEX_ATTRIBUTES] },
            },
      ],
    }),
  );
}

/** A payload that makes the outbox item about `itemBytes` long. */
function payload(itemBytes: number): { note: string } {
  return { note: 'x'.repeat(Math.max(0, itemBytes - 420)) };
}

/** The delivered mark of the design before this one: one Update in a TransactWriteItems. */
function oldMark(tableName: string, key: { pk: string; sk: string }) {
  return new TransactWriteCommand({
    TransactItems: [
      {
        Update: {
          TableName: tableName,
          Key: key,
          UpdateExpression: 'SET deliveredAt = :deliveredAt, #ttl = :expiresAt REMOVE #pendingPk, #pendingSk',
          ConditionExpression: 'attribute_exists(#pk)',
          ExpressionAttributeNames: {
            '#ttl': TTL_ATTRIBUTE,
            '#pendingPk': PENDING_PK,
            '#pendingSk': PENDING_SK,
            '#pk': PK,
          },
          ExpressionAttributeValues: { ':deliveredAt': new Date().toISOString(), ':expiresAt': 1 },
        },
      },
    ],
  });
}

async function measureDesign(
  endpoint: string,
  design: 'before' | 'now',
  targetBytes: number,
): Promise<DesignCost> {
  const sink: Sink = [];
  const client = instrumented(endpoint, sink);
  const doc = createDocumentClient(client);
  const tableName = `cost-${design}-${targetBytes}-${ulid().slice(-6).toLowerCase()}`;
  const indexName = design === 'before' ? LEGACY_PENDING_INDEX : PENDING_INDEX;
  try {
    await createTable(client, tableName, design);
    const writer = new OutboxWriter({ client: doc, tableName, source: 'bench.cost' });
    const write = async (): Promise<OutboxItem> => {
      const aggregateId = ulid();
      const result = await writer.write({
        writes: [
          {
            Put: {
              Item: { [PK]: `MEMBER#${aggregateId}`, [SK]: 'MEMBER', version: 1 },
              ConditionExpression: 'attribute_not_exists(#pk)',
              ExpressionAttributeNames: { '#pk': PK },
            },
          },
        ],
        events: [
          {
            eventType: 'MemberRegistered',
            aggregateType: 'MEMBER',
            aggregateId,
            sequence: 1,
            data: payload(targetBytes),
          },
        ],
      });
      const item = result.events[0];
      if (!item) throw new Error('the writer returned no event');
      return item;
    };

    // The entity alone, in a transaction: what the writer's step pays besides the outbox item.
    let from = sink.length;
    const entityId = ulid();
    await doc.send(
      new TransactWriteCommand({
        TransactItems: [
          { Put: { TableName: tableName, Item: { [PK]: `MEMBER#${entityId}`, [SK]: 'MEMBER', version: 1 } } },
        ],
      }),
    );
    const entity = unitsSince(sink, from, indexName);

    from = sink.length;
    const item = await write();
    const written = unitsSince(sink, from, indexName);
    const key = { pk: item.pk, sk: item.sk };

    from = sink.length;
    await client.send(
      new BatchGetItemCommand({
        RequestItems: { [tableName]: { Keys: [marshall(key)], ConsistentRead: true } },
      }),
    );
    const guard = unitsSince(sink, from, indexName);

    let mark: StepCost;
    let markCheck: DesignCost['markCheck'];
    if (design === 'before') {
      from = sink.length;
      await doc.send(oldMark(tableName, key));
      const units = unitsSince(sink, from, indexName);
      mark = { tableWrite: units.tableWrite, indexWrite: units.indexWrite, read: 0, source: 'measured' };
    } else {
      from = sink.length;
      const result = await markDelivered([key], {
        client: doc,
        tableName,
        now: () => new Date(),
        retentionHours: 24,
        retry: {
          maxAttempts: 1,
          baseDelayMs: 0,
          maxDelayMs: 0,
          remainingTimeMs: () => Number.POSITIVE_INFINITY,
          safetyMarginMs: 0,
          sleep: async () => undefined,
          random: () => 0,
        },
      });
      if (result.marked !== 1)
        throw new Error(`the delivered mark did not happen: ${JSON.stringify(result)}`);
      const reported = unitsSince(sink, from, indexName);
      const projected = itemSize({
        [PK]: item.pk,
        [SK]: item.sk,
        [PENDING_PK]: item.pendingPk,
        [PENDING_SK]: item.pendingSk,
        occurredAt: item.occurredAt,
        eventId: item.eventId,
      });
      mark = reported.reported
        ? { tableWrite: reported.tableWrite, indexWrite: reported.indexWrite, read: 0, source: 'measured' }
        : {
            tableWrite: writeUnits(itemSize({ ...item })),
            indexWrite: indexWriteUnits(projected),
            read: 0,
            source: 'rules',
          };
      // The same update as a plain UpdateItem on a second event: what DynamoDB Local charges for it.
      const other = await write();
      from = sink.length;
      await client.send(
        new UpdateItemCommand({
          TableName: tableName,
          Key: marshall({ pk: other.pk, sk: other.sk }),
          UpdateExpression: 'SET deliveredAt = :at, #ttl = :ttl REMOVE #pendingPk, #pendingSk',
          ConditionExpression: 'attribute_exists(#pk)',
          ExpressionAttributeNames: {
            '#ttl': TTL_ATTRIBUTE,
            '#pendingPk': PENDING_PK,
            '#pendingSk': PENDING_SK,
            '#pk': PK,
          },
          ExpressionAttributeValues: marshall({ ':at': new Date().toISOString(), ':ttl': 1 }),
        }),
      );
      const check = unitsSince(sink, from, indexName);
      markCheck = { tableWrite: check.tableWrite, indexWrite: check.indexWrite };
    }

    const writerStep: StepCost = {
      tableWrite: written.tableWrite - entity.tableWrite,
      indexWrite: written.indexWrite,
      read: 0,
      source: 'measured',
    };
    const gapGuard: StepCost = {
      tableWrite: 0,
      indexWrite: 0,
      read: round(guard.read * BOUNDARIES_PER_EVENT, 3),
      source: 'measured',
    };
    return {
      design,
      itemBytes: itemSize({ ...item }),
      steps: { writer: writerStep, mark, gapGuard },
      writeUnitsPerEvent: writerStep.tableWrite + writerStep.indexWrite + mark.tableWrite + mark.indexWrite,
      ...(markCheck ? { markCheck } : {}),
    };
  } finally {
    client.destroy();
  }
}

/** One idle sweep's index reads: 16 single-item Queries and a page per shard before; two Scans now. */
async function measureSweep(endpoint: string, design: 'before' | 'now'): Promise<SweepReads> {
  const sink: Sink = [];
  const client = instrumented(endpoint, sink);
  const tableName = `sweep-${design}-${ulid().slice(-6).toLowerCase()}`;
  const indexName = design === 'before' ? LEGACY_PENDING_INDEX : PENDING_INDEX;
  try {
    await createTable(client, tableName, design);
    const from = sink.length;
    if (design === 'before') {
      // findOldestPending (Limit 1) and findPending, one Query each per shard.
      for (let round = 0; round < 2; round += 1) {
        for (let shard = 0; shard < PENDING_SHARDS; shard += 1) {
          await client.send(
            new QueryCommand({
              TableName: tableName,
              IndexName: indexName,
              KeyConditionExpression: '#p = :p',
              ExpressionAttributeNames: { '#p': PENDING_PK },
              ExpressionAttributeValues: { ':p': { S: pendingPartition(shard) } },
              Limit: round === 0 ? 1 : 100,
            }),
          );
        }
      }
    } else {
      for (let round = 0; round < 2; round += 1) {
        await client.send(new ScanCommand({ TableName: tableName, IndexName: indexName, Limit: 100 }));
      }
    }
    const units = unitsSince(sink, from, indexName);
    const calls = sink.length - from;
    return {
      design,
      calls,
      readUnits: round(units.read, 2),
      ruleReadUnits: calls * readUnits(0, 'eventual'),
    };
  } finally {
    client.destroy();
  }
}

/** Assumptions of the dollar model, stated with the figures. */
const MODEL = {
  relayMemoryGb: 1,
  /** Relay wall time per event in a full batch: 1 / 1,800 events per second (the throughput target). */
  busySecondsPerEvent: 1 / 1800,
  /** One event per invocation: the gap guard's read, one PutEvents and the mark, about 60 ms billed. */
  quietSecondsPerInvocation: 0.06,
  busyEventsPerInvocation: 1000,
  quietEventsPerInvocation: 1,
  /** The relay's log line and the metrics document per invocation. */
  logBytesPerInvocation: 1500,
  /** EventBridge Pipes: a batch of at most 10 to an event bus target. */
  pipesBatch: 10,
};

function dollarRows(now: DesignCost, before: DesignCost, regime: 'busy' | 'quiet'): DollarRow[] {
  const perInvocation = regime === 'busy' ? MODEL.busyEventsPerInvocation : MODEL.quietEventsPerInvocation;
  const million = 1e6;
  const invocations = million / perInvocation;
  const computeSeconds =
    regime === 'busy' ? million * MODEL.busySecondsPerEvent : invocations * MODEL.quietSecondsPerInvocation;
  const lambda = (seconds: number, calls: number) =>
    seconds * MODEL.relayMemoryGb * PRICES.lambdaArmGbSecond.usd + calls * PRICES.lambdaRequest.usd;
  // At most one trace per invocation (at low traffic every invocation is traced).
  const tracing = invocations * PRICES.xrayTraceRecorded.usd;
  const logs = ((invocations * MODEL.logBytesPerInvocation) / 1024 ** 3) * PRICES.logsIngestedGb.usd;
  const dynamo = (design: DesignCost, withGuard: boolean) =>
    million *
    ((design.steps.writer.tableWrite +
      design.steps.writer.indexWrite +
      design.steps.mark.tableWrite +
      design.steps.mark.indexWrite) *
      PRICES.dynamoDbWriteUnit.usd +
      (withGuard ? design.steps.gapGuard.read * PRICES.dynamoDbReadUnit.usd : 0));
  const putEvents = million * PRICES.putEventsChunk.usd;
  const row = (
    name: string,
    parts: Omit<DollarRow, 'name' | 'total' | 'givesUp'>,
    givesUp: string,
  ): DollarRow => {
    const rounded = Object.fromEntries(
      Object.entries(parts).map(([key, value]) => [key, round(value, 2)]),
    ) as Omit<DollarRow, 'name' | 'total' | 'givesUp'>;
    const total = round(parts.dynamoDb + parts.putEvents + parts.compute + parts.tracing + parts.logs, 2);
    return { name, ...rounded, total, givesUp };
  };
  // The naive relay: the same writer, one PutEvents and one UpdateItem per event, one after another.
  const naiveMark = now.markCheck ?? {
    tableWrite: now.steps.mark.tableWrite,
    indexWrite: now.steps.mark.indexWrite,
  };
  const naiveDynamo =
    million *
    (now.steps.writer.tableWrite +
      now.steps.writer.indexWrite +
      naiveMark.tableWrite +
      naiveMark.indexWrite) *
    PRICES.dynamoDbWriteUnit.usd;
  const naiveSeconds = regime === 'busy' ? million * 0.06 : invocations * MODEL.quietSecondsPerInvocation;
  // Pipes: no index, no marks; the writer's Put alone (transactional), a Pipes request per batch of 10.
  const pipesWriter = writeUnits(now.itemBytes, true);
  const pipesBatches = million / Math.min(MODEL.pipesBatch, perInvocation);
  return [
    row(
      'project (now)',
      { dynamoDb: dynamo(now, true), putEvents, compute: lambda(computeSeconds, invocations), tracing, logs },
      'nothing it promises; costs the pending index and the marks',
    ),
    row(
      'project (before this change)',
      {
        dynamoDb: dynamo(before, true),
        putEvents,
        compute: lambda(computeSeconds, invocations),
        tracing,
        logs,
      },
      'the same guarantees at a higher DynamoDB bill',
    ),
    row(
      'naive relay',
      { dynamoDb: naiveDynamo, putEvents, compute: lambda(naiveSeconds, invocations), tracing, logs },
      'throughput (one PutEvents round trip per event), partial-failure and poison handling, the gap guard',
    ),
    row(
      'EventBridge Pipes model',
      {
        dynamoDb: million * pipesWriter * PRICES.dynamoDbWriteUnit.usd,
        putEvents: putEvents + pipesBatches * PRICES.pipesRequest.usd,
        compute: 0,
        tracing: 0,
        logs: 0,
      },
      'recovery past the stream’s 24 h retention (no pending index, no sweeper), delivered marks and TTL clean-up, poison parking with the item, per-aggregate order once a batch is discarded',
    ),
  ];
}

/** Measures both designs at 1 KB and 4 KB, the idle sweeps, and models the dollars. */
export async function measureCost(
  endpoint: string,
  sizes: readonly number[] = [1024, 4096],
): Promise<CostResult> {
  const designs: DesignCost[] = [];
  for (const bytes of sizes) {
    for (const design of ['before', 'now'] as const)
      designs.push(await measureDesign(endpoint, design, bytes));
  }
  const sweeps = [await measureSweep(endpoint, 'before'), await measureSweep(endpoint, 'now')];
  const now = designs.find((entry) => entry.design === 'now');
  const before = designs.find((entry) => entry.design === 'before');
  if (!now || !before) throw new Error('no design measured');
  return {
    designs,
    sweeps,
    dollars: { busy: dollarRows(now, before, 'busy'), quiet: dollarRows(now, before, 'quiet') },
    tracing: {
      perEventBoundUsd: PRICES.xrayTraceRecorded.usd,
      statement:
        'Lambda records at most one trace per relay invocation (default sampling: the first request each second, then 5 %), ' +
        'so tracing costs at most $5.00 per million invocations: $5.00 per million events when each invocation carries one event ' +
        '(low traffic), $0.005 per million at full batches of 1,000; the trace header of every event is sent either way',
    },
    assumptions: { ...MODEL, boundaryReadsPerEvent: BOUNDARIES_PER_EVENT },
  };
}
