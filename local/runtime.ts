/**
 * The whole system on one machine: DynamoDB Local, moto server, the
 * resources the synthesized stack defines, the API, the stream poller
 * driving the real relay handler, and (optionally) the tap queue copied to a
 * file. `npm start` and the local end-to-end target both run this.
 */
import { DescribeTableCommand, DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { DynamoDBStreamsClient } from '@aws-sdk/client-dynamodb-streams';
import { EventBridgeClient } from '@aws-sdk/client-eventbridge';
import { SESv2Client } from '@aws-sdk/client-sesv2';
import { SQSClient } from '@aws-sdk/client-sqs';
import type { Context, DynamoDBBatchResponse, DynamoDBStreamEvent } from 'aws-lambda';
import { type LocalConsumers, startConsumers } from './consumers';
import { startDynamoDbLocal } from './dynamodb-local';
import { startLocalApi } from './http-server';
import { localContext } from './lambda-context';
import { startMoto } from './moto';
import { createMessagingFromTemplate, createTablesFromTemplate, eventSourceMappings } from './resources';
import { startStreamPoller } from './stream-poller';
import { type CfnTemplate, synthTemplate } from './synth';
import { startTapForwarder } from './tap-forwarder';
import { writeLocalTarget } from './target-file';

/** Options of the local runtime. */
export interface LocalRuntimeOptions {
  /** Port of the API; 0 picks a free one. @default 3000 */
  readonly port?: number;
  /** Use a running DynamoDB Local instead of starting one. */
  readonly dynamoDbEndpoint?: string;
  /** Use a running moto server instead of starting one. */
  readonly motoEndpoint?: string;
  /** Prefix of every resource name, so several runtimes can share the servers. @default 'Outbox-dev' */
  readonly namespace?: string;
  /** How long delivered items live before TTL deletes them. @default the stack's setting */
  readonly deliveredTtlSeconds?: number;
  /** File that receives every tap-queue event, one JSON object per line; null to leave the queue alone. */
  readonly eventsFile?: string | null;
  /** Progress lines; silent when absent. */
  readonly log?: (line: string) => void;
  /**
   * File that describes the running runtime (endpoints, region, names) for
   * the operator CLI's `--local`; written once everything has started,
   * removed on stop. `npm start` passes `.local/outbox.json`. @default none
   */
  readonly targetFile?: string | null;
  /** The synthesized stack to run (the benchmark passes one with another batching window). @default the dev stack */
  readonly template?: CfnTemplate;
}

/** A running local runtime. */
export interface LocalRuntime {
  readonly apiUrl: string;
  readonly dynamoDbEndpoint: string;
  readonly motoEndpoint: string;
  readonly tableName: string;
  readonly eventBusName: string;
  readonly poisonQueueUrl: string;
  readonly tapQueueUrl?: string;
  /** Stream records the relay was invoked with so far. */
  relayStats(): { invocations: number; records: number };
  /** The queue consumers (notifications, member-activity): their queues, counters and idleness. */
  readonly consumers: LocalConsumers;
  /** Resolves when the stream is drained and no relay invocation is in flight. */
  idle(): Promise<void>;
  stop(): Promise<void>;
}

const LOCAL_CREDENTIALS = { accessKeyId: 'test', secretAccessKey: 'test' };
const REGION = 'us-east-1';

type OutputValue = { Ref?: string } | string | undefined;

/** The logical id an output refers to (`{ Ref: id }`), so names can be looked up in what was created. */
function outputRef(template: CfnTemplate, name: string): string | undefined {
  const outputs = (template.Outputs ?? {}) as Record<string, { Value?: OutputValue }>;
  for (const [key, output] of Object.entries(outputs)) {
    if (key !== name && !key.startsWith(name)) continue;
    const value = output.Value;
    if (value && typeof value === 'object' && typeof value.Ref === 'string') return value.Ref;
  }
  return undefined;
}

/** Starts everything; on a failure part-way, stops what already started. */
export async function startLocalRuntime(options: LocalRuntimeOptions = {}): Promise<LocalRuntime> {
  const log = options.log ?? (() => undefined);
  const stops: Array<() => Promise<void>> = [];
  const stopAll = async () => {
    for (const stop of stops.reverse()) await stop().catch(() => undefined);
  };
  try {
    log('synthesizing the dev stack');
    const template = options.template ?? (await synthTemplate('dev'));

    let dynamoDbEndpoint = options.dynamoDbEndpoint;
    if (!dynamoDbEndpoint) {
      log('starting DynamoDB Local');
      const dynamo = await startDynamoDbLocal({ inMemory: true });
      stops.push(dynamo.stop);
      dynamoDbEndpoint = dynamo.endpoint;
    }
    let motoEndpoint = options.motoEndpoint;
    if (!motoEndpoint) {
      log('starting moto server');
      const moto = await startMoto();
      stops.push(moto.stop);
      motoEndpoint = moto.endpoint;
    }

    const config = { region: REGION, credentials: LOCAL_CREDENTIALS };
    const dynamoDb = new DynamoDBClient({ ...config, endpoint: dynamoDbEndpoint });
    const namespace = options.namespace ?? 'Outbox-dev';
    log('creating the table, bus, rules and queues from the template');
    const tables = await createTablesFromTemplate(template, dynamoDb, { namespace });
    const messaging = await createMessagingFromTemplate(
      template,
      {
        eventBridge: new EventBridgeClient({ ...config, endpoint: motoEndpoint }),
        sqs: new SQSClient({ ...config, endpoint: motoEndpoint }),
      },
      { namespace },
    );

    const tableId = outputRef(template, 'TableName');
    const busId = outputRef(template, 'EventBusName');
    const poisonId = outputRef(template, 'PoisonQueueUrl');
    const tapId = outputRef(template, 'TapQueueUrl');
    const tableName = tableId ? tables.get(tableId) : undefined;
    const busName = busId ? messaging.buses.get(busId)?.name : undefined;
    const poisonQueueUrl = poisonId ? messaging.queues.get(poisonId)?.url : undefined;
    const tapQueueUrl = tapId ? messaging.queues.get(tapId)?.url : undefined;
    if (!tableName || !busName || !poisonQueueUrl) {
      throw new Error('the synthesized stack lacks the TableName, EventBusName or PoisonQueueUrl output');
    }

    // The handlers read their environment at import, as at a cold start.
    Object.assign(process.env, {
      AWS_REGION: REGION,
      AWS_ACCESS_KEY_ID: LOCAL_CREDENTIALS.accessKeyId,
      AWS_SECRET_ACCESS_KEY: LOCAL_CREDENTIALS.secretAccessKey,
      TABLE_NAME: tableName,
      EVENT_BUS_NAME: busName,
      POISON_QUEUE_URL: poisonQueueUrl,
      EVENT_SOURCE: 'com.example.members',
      DYNAMODB_ENDPOINT: dynamoDbEndpoint,
      AWS_ENDPOINT_URL: motoEndpoint,
      POWERTOOLS_TRACE_ENABLED: 'false',
      POWERTOOLS_METRICS_DISABLED: process.env.POWERTOOLS_METRICS_DISABLED ?? 'true',
      ...(options.deliveredTtlSeconds !== undefined
        ? { DELIVERED_TTL_HOURS: String(options.deliveredTtlSeconds / 3600) }
        : {}),
    });

    const api = await startLocalApi({ port: options.port ?? 3000 });
    stops.push(api.stop);
    log(`API listening on ${api.url}`);

    const relayModule = (await import('../lambdas/handlers/relay')) as {
      handler: (event: DynamoDBStreamEvent, context: Context) => Promise<DynamoDBBatchResponse>;
    };
    // The relay's mapping is the one on the table's stream; the others are queue consumers'.
    const mapping = eventSourceMappings(template).find((each) => each.eventSourceLogicalId === tableId);
    if (!mapping) throw new Error('the synthesized stack has no event source mapping for the relay');
    const described = await dynamoDb.send(new DescribeTableCommand({ TableName: tableName }));
    const streamArn = described.Table?.LatestStreamArn;
    if (!streamArn) throw new Error(`table ${tableName} has no stream`);
    const stats = { invocations: 0, records: 0 };
    const poller = startStreamPoller({
      ...mapping.properties,
      dynamoDbStreams: new DynamoDBStreamsClient({ ...config, endpoint: dynamoDbEndpoint }),
      streamArn,
      handler: async (event: DynamoDBStreamEvent, context: Context) => {
        stats.invocations += 1;
        stats.records += event.Records.length;
        return relayModule.handler(event, context);
      },
      functionTimeoutMs: 60_000,
      logger: (line: string) => log(`stream poller: ${line}`),
    });
    stops.push(poller.stop);
    log('relay attached to the table stream');

    const consumers = await startConsumers({
      template,
      messaging,
      sqs: new SQSClient({ ...config, endpoint: motoEndpoint }),
      ses: new SESv2Client({ ...config, endpoint: motoEndpoint }),
      log,
    });
    stops.push(consumers.stop);

    if (options.eventsFile && tapQueueUrl) {
      const tap = startTapForwarder({
        sqs: new SQSClient({ ...config, endpoint: motoEndpoint }),
        queueUrl: tapQueueUrl,
        file: options.eventsFile,
      });
      stops.push(tap.stop);
      log(`events on the bus are appended to ${options.eventsFile}`);
    }

    if (options.targetFile) {
      const removeTargetFile = await writeLocalTarget(options.targetFile, {
        version: 1,
        pid: process.pid,
        startedAt: new Date().toISOString(),
        region: REGION,
        endpoints: { dynamodb: dynamoDbEndpoint, events: motoEndpoint, sqs: motoEndpoint },
        tableName,
        eventBusName: busName,
        poisonQueueUrl,
        apiUrl: api.url,
      });
      // Pushed last, so it is removed first: the CLI never finds a file for a runtime half stopped.
      stops.push(removeTargetFile);
      log(`described for the operator CLI in ${options.targetFile}`);
    }

    return {
      apiUrl: api.url,
      dynamoDbEndpoint,
      motoEndpoint,
      tableName,
      eventBusName: busName,
      poisonQueueUrl,
      ...(tapQueueUrl ? { tapQueueUrl } : {}),
      relayStats: () => ({ ...stats }),
      consumers,
      idle: () => poller.idle(),
      stop: stopAll,
    };
  } catch (error) {
    await stopAll();
    throw error;
  }
}

export { localContext };
