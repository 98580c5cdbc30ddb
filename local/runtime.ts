/**
 * The whole system on one machine: DynamoDB Local, moto server, the
 * resources the synthesized stack defines, the API, the stream poller
 * driving the real relay handler, the queue consumers, (optionally) the tap
 * queue copied to a file and the outbox console. Every function of the stack
 * runs in its own local Lambda environment (function-host.ts) with the
 * environment the stack gives it. `npm start` and the local end-to-end
 * target both run this.
 */
import { DescribeTableCommand, DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { DynamoDBStreamsClient } from '@aws-sdk/client-dynamodb-streams';
import { EventBridgeClient } from '@aws-sdk/client-eventbridge';
import { SESv2Client } from '@aws-sdk/client-sesv2';
import { SQSClient } from '@aws-sdk/client-sqs';
import type { APIGatewayProxyStructuredResultV2, Context, DynamoDBBatchResponse } from 'aws-lambda';
import { type LocalConsole, startConsole } from './console/server';
import { type LocalConsumers, startConsumers } from './consumers';
import { startDynamoDbLocal } from './dynamodb-local';
import { EventFeed } from './event-feed';
import { observeRelay } from './flow-observers';
import { LocalFunction } from './function-host';
import { type ApiHandler, startLocalApi } from './http-server';
import { localContext } from './lambda-context';
import { startMoto } from './moto';
import {
  createMessagingFromTemplate,
  createTablesFromTemplate,
  deadLetterQueueIds,
  eventSourceMappings,
  type LocalFunctionDefinition,
  localFunctions,
} from './resources';
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
   * Every line a function writes (its JSON logs), with the function it came
   * from; dropped when absent.
   */
  readonly functionLog?: (fn: LocalFunctionDefinition, line: string) => void;
  /**
   * Log level of every function (`POWERTOOLS_LOG_LEVEL`), e.g. `DEBUG`.
   * @default the functions' own (Powertools: INFO)
   */
  readonly functionLogLevel?: string;
  /**
   * File that describes the running runtime (endpoints, region, names) for
   * the operator CLI's `--local`; written once everything has started,
   * removed on stop. `npm start` passes `.local/outbox.json`. @default none
   */
  readonly targetFile?: string | null;
  /** Serve the outbox console on 127.0.0.1 at this port (0: a free one). @default no console */
  readonly console?: { readonly port: number } | null;
  /** The synthesized stack to run (the benchmark passes one with another batching window). @default the dev stack */
  readonly template?: CfnTemplate;
}

/** A queue whose depth tells something is wrong. */
export interface WatchedQueue {
  /** What it is, e.g. `on-failure`, `poison`, `dlq notifications`. */
  readonly label: string;
  readonly url: string;
}

/** A running local runtime. */
export interface LocalRuntime {
  readonly apiUrl: string;
  /** The outbox console's address, when it runs. */
  readonly consoleUrl?: string;
  readonly dynamoDbEndpoint: string;
  readonly motoEndpoint: string;
  readonly tableName: string;
  readonly eventBusName: string;
  readonly poisonQueueUrl: string;
  readonly tapQueueUrl?: string;
  /** The on-failure queue, the poison queue and every dead-letter queue of the template. */
  readonly watchedQueues: readonly WatchedQueue[];
  /** Every step of every event the runtime saw. */
  readonly feed: EventFeed;
  /** The template's functions, each in its own environment. */
  readonly functions: readonly LocalFunctionDefinition[];
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

    const definitions = localFunctions(template, { tables, messaging }, { namespace });
    const functions = new Map<string, LocalFunction>();
    for (const definition of definitions) {
      const fn = new LocalFunction({
        definition,
        environment: functionEnvironment(definition, {
          dynamoDbEndpoint,
          motoEndpoint,
          ...(options.functionLogLevel ? { logLevel: options.functionLogLevel } : {}),
          ...(options.deliveredTtlSeconds !== undefined
            ? { deliveredTtlHours: options.deliveredTtlSeconds / 3600 }
            : {}),
        }),
        onLine: (line) => options.functionLog?.(definition, line),
      });
      functions.set(definition.logicalId, fn);
      stops.push(() => fn.stop());
    }
    const byHandler = new Map([...functions.values()].map((fn) => [fn.definition.handlerName, fn]));
    const invokeWithContext = (fn: LocalFunction, event: unknown) =>
      fn.invoke(event, functionContext(fn.definition));

    const api = await startLocalApi({
      port: options.port ?? 3000,
      handlerFor: (route): ApiHandler => {
        const fn = byHandler.get(route.handler);
        if (!fn) throw new Error(`the synthesized stack has no function for ${route.handler}`);
        return async (event) => (await invokeWithContext(fn, event)) as APIGatewayProxyStructuredResultV2;
      },
    });
    stops.push(api.stop);
    log(`API listening on ${api.url}`);

    // The relay's mapping is the one on the table's stream; the others are queue consumers'.
    const mapping = eventSourceMappings(template).find((each) => each.eventSourceLogicalId === tableId);
    if (!mapping) throw new Error('the synthesized stack has no event source mapping for the relay');
    const relay = mapping.functionLogicalId ? functions.get(mapping.functionLogicalId) : undefined;
    if (!relay) throw new Error('the relay function of the stream mapping names no handler file');
    const described = await dynamoDb.send(new DescribeTableCommand({ TableName: tableName }));
    const streamArn = described.Table?.LatestStreamArn;
    if (!streamArn) throw new Error(`table ${tableName} has no stream`);
    const feed = new EventFeed();
    const stats = { invocations: 0, records: 0 };
    const observedRelay = observeRelay(
      (event, context: Context) => relay.invoke(event, context) as Promise<DynamoDBBatchResponse>,
      { feed, dynamoDb, tableName },
    );
    const poller = startStreamPoller({
      ...mapping.properties,
      dynamoDbStreams: new DynamoDBStreamsClient({ ...config, endpoint: dynamoDbEndpoint }),
      streamArn,
      handler: async (event, context) => {
        stats.invocations += 1;
        stats.records += event.Records.length;
        return observedRelay(event, context);
      },
      functionName: relay.definition.functionName,
      functionArn: relay.definition.functionArn,
      memoryLimitInMB: String(relay.definition.memorySize),
      functionTimeoutMs: relay.definition.timeoutSeconds * 1000,
      logger: (line: string) => log(`stream poller: ${line}`),
    });
    stops.push(poller.stop);
    log('relay attached to the table stream');

    const consumers = await startConsumers({
      template,
      messaging,
      functions,
      feed,
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

    const watchedQueues: WatchedQueue[] = [];
    const onFailure = mapping.onFailureLogicalId
      ? messaging.queues.get(mapping.onFailureLogicalId)
      : undefined;
    if (onFailure) watchedQueues.push({ label: 'on-failure', url: onFailure.url });
    watchedQueues.push({ label: 'poison queue', url: poisonQueueUrl });
    for (const id of deadLetterQueueIds(template)) {
      const queue = messaging.queues.get(id);
      if (queue)
        watchedQueues.push({
          label: `dead-letter ${queue.name.replace(`${namespace}-`, '')}`,
          url: queue.url,
        });
    }

    let localConsole: LocalConsole | undefined;
    if (options.console) {
      localConsole = await startConsole({
        port: options.console.port,
        feed,
        target: {
          region: REGION,
          credentials: LOCAL_CREDENTIALS,
          endpoints: { dynamodb: dynamoDbEndpoint, events: motoEndpoint, sqs: motoEndpoint },
          tableName,
          eventBusName: busName,
          poisonQueueUrl,
        },
        watchedQueues,
      });
      stops.push(localConsole.stop);
      log(`outbox console on ${localConsole.url}`);
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
      ...(localConsole ? { consoleUrl: localConsole.url } : {}),
      dynamoDbEndpoint,
      motoEndpoint,
      tableName,
      eventBusName: busName,
      poisonQueueUrl,
      ...(tapQueueUrl ? { tapQueueUrl } : {}),
      watchedQueues,
      feed,
      functions: definitions,
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

/** What the local runtime adds to a function's own variables. */
interface LocalSettings {
  readonly dynamoDbEndpoint: string;
  readonly motoEndpoint: string;
  readonly logLevel?: string;
  readonly deliveredTtlHours?: number;
}

/**
 * A function's whole environment: the variables its stack definition gives
 * it, what Lambda sets itself (region, credentials, function name, memory,
 * log group), and the local endpoints. Nothing else of this process leaks in.
 */
export function functionEnvironment(
  definition: LocalFunctionDefinition,
  settings: LocalSettings,
): Record<string, string> {
  return {
    ...definition.environment,
    // Lambda's reserved variables (Lambda developer guide, "Defined runtime environment variables").
    AWS_REGION: REGION,
    AWS_DEFAULT_REGION: REGION,
    AWS_ACCESS_KEY_ID: LOCAL_CREDENTIALS.accessKeyId,
    AWS_SECRET_ACCESS_KEY: LOCAL_CREDENTIALS.secretAccessKey,
    AWS_LAMBDA_FUNCTION_NAME: definition.functionName,
    AWS_LAMBDA_FUNCTION_VERSION: '$LATEST',
    AWS_LAMBDA_FUNCTION_MEMORY_SIZE: String(definition.memorySize),
    AWS_LAMBDA_LOG_GROUP_NAME: `/aws/lambda/${definition.functionName}`,
    AWS_LAMBDA_LOG_STREAM_NAME: 'local',
    // Powertools reports cold starts only for on-demand environments.
    AWS_LAMBDA_INITIALIZATION_TYPE: 'on-demand',
    TZ: 'UTC',
    ...(process.env.PATH ? { PATH: process.env.PATH } : {}),
    // Local only: DynamoDB Local, and moto for EventBridge, SQS and SES; no X-Ray daemon runs here.
    DYNAMODB_ENDPOINT: settings.dynamoDbEndpoint,
    AWS_ENDPOINT_URL: settings.motoEndpoint,
    POWERTOOLS_TRACE_ENABLED: 'false',
    ...(settings.logLevel ? { POWERTOOLS_LOG_LEVEL: settings.logLevel } : {}),
    ...(settings.deliveredTtlHours !== undefined && 'DELIVERED_TTL_HOURS' in definition.environment
      ? { DELIVERED_TTL_HOURS: String(settings.deliveredTtlHours) }
      : {}),
  };
}

/** A fresh invocation context for a function: its name, ARN, memory, and a deadline at its timeout. */
function functionContext(definition: LocalFunctionDefinition): Context {
  return localContext(definition.functionName, definition.timeoutSeconds * 1000, {
    functionArn: definition.functionArn,
    memoryLimitInMB: String(definition.memorySize),
  });
}

export { localContext };
