/**
 * The write path on DynamoDB Local: POST /members through the real
 * create-member handler (validation, one TransactWriteItems holding the
 * member and its outbox event) against a plain PutItem of the same member,
 * on the same client, interleaved so both see the same machine. And the
 * writer alone, the same member and `MemberRegistered` event, with and
 * without the sample's event catalogue (the schema check before the
 * transaction), alternating which goes first each round.
 *
 * Runs in its own process (bench/child.ts): handlers read their environment
 * at import, so the table must exist before the handler module loads.
 */
import { randomBytes } from 'node:crypto';
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { PutCommand } from '@aws-sdk/lib-dynamodb';
import type { APIGatewayProxyEventV2, APIGatewayProxyStructuredResultV2, Context } from 'aws-lambda';
import { entityKey } from '../lambdas/outbox/keys';
import { createTablesFromTemplate, referencedLogicalId } from '../local/resources';
import type { CfnTemplate } from '../local/synth';
import { apiEvent, lambdaContext } from '../test/helpers/api-events';
import { type Summary, summarize } from './stats';

/** Input of the write-path measurement. */
export interface WritePathInput {
  readonly dynamoDbEndpoint: string;
  /** The synthesized dev stack; its table is created under a fresh namespace. */
  readonly template: CfnTemplate;
  /** Measured requests per variant. */
  readonly requests: number;
  /** Unmeasured requests per variant first. */
  readonly warmUp: number;
}

/** Latency per variant, in milliseconds. */
export interface WritePathResult {
  readonly requests: number;
  readonly tableName: string;
  /** POST /members through the handler: member + MemberRegistered in one transaction. */
  readonly handler: Summary;
  /** The same with an Idempotency-Key: a consistent read first, and the stored response in the transaction. */
  readonly handlerWithIdempotencyKey: Summary;
  /** PutItem of the same member item, nothing else. */
  readonly putItem: Summary;
  /** OutboxWriter.write of the member and its event, with the sample's catalogue (the schema check). */
  readonly writerWithCatalogue: Summary;
  /** The same write by a writer without a catalogue. */
  readonly writerWithoutCatalogue: Summary;
  /** What the catalogue adds to the writer's p50, in % of the p50 without it. */
  readonly catalogueOverheadPercent: number;
  /** CPU time of the schema check of one MemberRegistered event (median of many), in microseconds. */
  readonly schemaCheckMicros: number;
}

type Handler = (
  event: APIGatewayProxyEventV2,
  context: Context,
) => Promise<APIGatewayProxyStructuredResultV2>;

/** Thrown when a request of the benchmark failed; its latency would be meaningless. */
export class WritePathError extends Error {
  override readonly name = 'WritePathError';
}

async function createTable(template: CfnTemplate, endpoint: string): Promise<string> {
  const client = new DynamoDBClient({
    endpoint,
    region: 'us-east-1',
    credentials: { accessKeyId: 'test', secretAccessKey: 'test' },
  });
  try {
    const tables = await createTablesFromTemplate(template, client, {
      namespace: `bench-write-${randomBytes(3).toString('hex')}`,
    });
    const logicalId = referencedLogicalId(template.Outputs?.TableName?.Value);
    const tableName = logicalId === undefined ? undefined : tables.get(logicalId);
    if (!tableName)
      throw new WritePathError('the synthesized stack has no TableName output naming its table');
    return tableName;
  } finally {
    client.destroy();
  }
}

async function timed(action: () => Promise<void>): Promise<number> {
  const started = performance.now();
  await action();
  return performance.now() - started;
}

/** Measures the variants `requests` times each, round-robin, after `warmUp` rounds. */
export async function measureWritePath(input: WritePathInput): Promise<WritePathResult> {
  const tableName = await createTable(input.template, input.dynamoDbEndpoint);
  process.env.TABLE_NAME = tableName;
  process.env.DYNAMODB_ENDPOINT = input.dynamoDbEndpoint;
  const { handler } = (await import('../lambdas/sample/handlers/create-member')) as { handler: Handler };
  const { docClient } = await import('../lambdas/sample/shared/clients');
  const { newId } = await import('../lambdas/sample/domain/ids');
  const { SAMPLE_EVENTS } = await import('../lambdas/sample/domain/events');
  const { OutboxWriter, checkEventData } = await import('../lambdas/outbox');
  const client = docClient();
  const context = lambdaContext();
  const writers = {
    with: new OutboxWriter({ client, tableName, source: 'bench.write', catalogue: SAMPLE_EVENTS }),
    without: new OutboxWriter({ client, tableName, source: 'bench.write' }),
  };
  const memberItem = (id: string, round: number) => {
    const now = new Date().toISOString();
    return {
      ...entityKey('MEMBER', id),
      id,
      status: 'active',
      version: 1,
      email: `bench-${round}@example.com`,
      name: `Bench Member ${round}`,
      createdAt: now,
      updatedAt: now,
      ordersRevision: 0,
      entityType: 'MEMBER',
    };
  };
  const writeMember = async (writer: InstanceType<typeof OutboxWriter>, round: number) => {
    const id = newId();
    await writer.write({
      writes: [{ Put: { Item: memberItem(id, round), ConditionExpression: 'attribute_not_exists(pk)' } }],
      events: [
        {
          eventType: 'MemberRegistered',
          aggregateType: 'MEMBER',
          aggregateId: id,
          sequence: 1,
          data: { memberId: id, email: `bench-${round}@example.com`, name: `Bench Member ${round}` },
        },
      ],
    });
  };

  const register = async (round: number, idempotencyKey?: string) => {
    const event = apiEvent('POST', '/members', {
      body: { email: `bench-${round}@example.com`, name: `Bench Member ${round}` },
      ...(idempotencyKey ? { headers: { 'idempotency-key': idempotencyKey } } : {}),
      requestId: `bench-${round}`,
    });
    const response = await handler(event, context);
    if (response.statusCode !== 201) {
      throw new WritePathError(`POST /members answered ${response.statusCode}: ${response.body}`);
    }
  };
  const putMember = async (round: number) => {
    await client.send(
      new PutCommand({
        TableName: tableName,
        Item: memberItem(newId(), round),
        // The handler's member Put carries the same condition.
        ConditionExpression: 'attribute_not_exists(pk)',
      }),
    );
  };

  const samples = {
    handler: [] as number[],
    idempotent: [] as number[],
    put: [] as number[],
    withCatalogue: [] as number[],
    withoutCatalogue: [] as number[],
  };
  const keyPrefix = randomBytes(4).toString('hex');
  for (let round = 0; round < input.warmUp + input.requests; round += 1) {
    const handlerMs = await timed(() => register(round));
    const idempotentMs = await timed(() => register(round, `bench-${keyPrefix}-${round}`));
    const putMs = await timed(() => putMember(round));
    // Alternate which writer goes first, so neither always follows the same call.
    let withMs: number;
    let withoutMs: number;
    if (round % 2 === 0) {
      withMs = await timed(() => writeMember(writers.with, round));
      withoutMs = await timed(() => writeMember(writers.without, round));
    } else {
      withoutMs = await timed(() => writeMember(writers.without, round));
      withMs = await timed(() => writeMember(writers.with, round));
    }
    if (round < input.warmUp) continue;
    samples.handler.push(handlerMs);
    samples.idempotent.push(idempotentMs);
    samples.put.push(putMs);
    samples.withCatalogue.push(withMs);
    samples.withoutCatalogue.push(withoutMs);
  }
  const writerWithCatalogue = summarize(samples.withCatalogue);
  const writerWithoutCatalogue = summarize(samples.withoutCatalogue);
  return {
    requests: input.requests,
    tableName,
    handler: summarize(samples.handler),
    handlerWithIdempotencyKey: summarize(samples.idempotent),
    putItem: summarize(samples.put),
    writerWithCatalogue,
    writerWithoutCatalogue,
    catalogueOverheadPercent:
      ((writerWithCatalogue.p50 - writerWithoutCatalogue.p50) / writerWithoutCatalogue.p50) * 100,
    schemaCheckMicros: schemaCheckMicros((data) => checkEventData(SAMPLE_EVENTS, 'MemberRegistered', data)),
  };
}

/** Median CPU time of one check, in microseconds: 20 runs of 1,000 checks each. */
function schemaCheckMicros(check: (data: Record<string, unknown>) => unknown): number {
  const data = { memberId: '01KA0000000000000000000000', email: 'bench@example.com', name: 'Bench Member' };
  const runs: number[] = [];
  for (let run = 0; run < 20; run += 1) {
    const started = performance.now();
    for (let index = 0; index < 1000; index += 1) check(data);
    runs.push(((performance.now() - started) / 1000) * 1000);
  }
  return summarize(runs).p50;
}
