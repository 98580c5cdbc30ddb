/**
 * Where the commands work: the table, bus and poison queue, the endpoints,
 * region and credentials, and the SDK clients aimed there.
 *
 * Precedence, per setting (documented in the help and the README):
 * 1. its own flag (`--table`, `--bus`, `--poison-queue-url`; for endpoints
 *    `--dynamodb-endpoint` / `--events-endpoint` / `--sqs-endpoint`, then
 *    `--endpoint`; `--region`; `--profile`);
 * 2. the source chosen on the command line: `--local` (the local runtime's
 *    file: names, endpoints, region, local credentials) or `--stack` (the
 *    stack's outputs: names only); never both;
 * 3. the environment: OUTBOX_TABLE, OUTBOX_EVENT_BUS, OUTBOX_POISON_QUEUE_URL
 *    for names; for everything else the AWS SDK's own chain (AWS_REGION,
 *    AWS_PROFILE, AWS_ENDPOINT_URL*, SSO, instance roles).
 *
 * The table's layout (key, pending-index and TTL names) comes only from the
 * environment, from the same OUTBOX_* variables the relay reads
 * (`outboxLayoutFromEnv`); unset, it is this repository's own layout.
 */
import { CloudFormationClient, DescribeStacksCommand, type Output } from '@aws-sdk/client-cloudformation';
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { EventBridgeClient } from '@aws-sdk/client-eventbridge';
import { SQSClient } from '@aws-sdk/client-sqs';
import type { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import {
  DEFAULT_LAYOUT,
  InvalidLayoutError,
  type OutboxLayout,
  outboxLayoutFromEnv,
} from '../lambdas/outbox';
import { createDocumentClient } from '../lambdas/outbox/functions/clients';
import {
  LOCAL_TARGET_CREDENTIALS,
  LOCAL_TARGET_FILE,
  LocalTargetFileError,
  readLocalTarget,
} from '../local/target-file';
import type { GlobalOptions } from './args';
import { annotateOperations, TargetError, UsageError } from './errors';

/** Environment variables that name the resources when no flag or source does. */
export const TARGET_ENV = {
  table: 'OUTBOX_TABLE',
  bus: 'OUTBOX_EVENT_BUS',
  poisonQueueUrl: 'OUTBOX_POISON_QUEUE_URL',
  /** Overrides the default path of `--local`'s file. */
  localFile: 'OUTBOX_LOCAL_FILE',
} as const;

/** Stack outputs the CLI reads (lib/outbox-stack.ts defines them). */
export const STACK_OUTPUTS = {
  table: 'TableName',
  bus: 'EventBusName',
  poisonQueueUrl: 'PoisonQueueUrl',
} as const;

/** Everything resolved about where to work. */
export interface Target {
  readonly tableName?: string;
  readonly eventBusName?: string;
  readonly poisonQueueUrl?: string;
  readonly region?: string;
  readonly profile?: string;
  readonly endpoints: { readonly dynamodb?: string; readonly events?: string; readonly sqs?: string };
  /** Static credentials (the local runtime's); the SDK chain when absent. */
  readonly credentials?: { readonly accessKeyId: string; readonly secretAccessKey: string };
  /** Where the names came from, for messages: `--local (.local/outbox.json)`, `stack Outbox-dev`, `flags`. */
  readonly source: string;
  /** Attribute and index names of the table. @default DEFAULT_LAYOUT */
  readonly layout?: OutboxLayout;
}

/** The target's table layout. */
export function layoutOf(target: Pick<Target, 'layout'>): OutboxLayout {
  return target.layout ?? DEFAULT_LAYOUT;
}

/** The SDK clients the commands use. */
export interface Clients {
  /** Low-level client: reads decode items with the relay's rules. */
  readonly dynamoDb: DynamoDBClient;
  /** Document client for the marks, configured as the Lambdas' is. */
  readonly doc: DynamoDBDocumentClient;
  readonly eventBridge: EventBridgeClient;
  readonly sqs: SQSClient;
}

/** What target resolution may be given instead of reaching out (tests). */
export interface TargetDeps {
  readonly env: Readonly<Record<string, string | undefined>>;
  /** @default a CloudFormation client configured like the others */
  readonly cloudFormation?: CloudFormationClient;
  /** Whether the process that wrote the local file still runs. @default process.kill(pid, 0) */
  readonly isProcessAlive?: (pid: number) => boolean;
}

function processAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    // EPERM: it exists, but belongs to someone else.
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** Resolves the target of a command line. Throws TargetError, or the SDK's error from DescribeStacks. */
export async function resolveTarget(options: GlobalOptions, deps: TargetDeps): Promise<Target> {
  const env = (name: string) => {
    const value = deps.env[name]?.trim();
    return value ? value : undefined;
  };
  let fromSource: Partial<Target> = {};
  let source = 'flags';

  if (options.local) {
    const file = options.localFile ?? env(TARGET_ENV.localFile) ?? LOCAL_TARGET_FILE;
    let local: Awaited<ReturnType<typeof readLocalTarget>>;
    try {
      local = await readLocalTarget(file);
    } catch (error) {
      if (error instanceof LocalTargetFileError) throw new TargetError(error.message, { cause: error });
      throw error;
    }
    if (!(deps.isProcessAlive ?? processAlive)(local.pid)) {
      throw new TargetError(
        `${file} is stale: the local runtime that wrote it (pid ${local.pid}) is gone; start it again with \`npm start\``,
      );
    }
    source = `--local (${file})`;
    fromSource = {
      tableName: local.tableName,
      eventBusName: local.eventBusName,
      poisonQueueUrl: local.poisonQueueUrl,
      region: local.region,
      endpoints: local.endpoints,
      credentials: LOCAL_TARGET_CREDENTIALS,
    };
  } else if (options.stack) {
    const outputs = await stackOutputs(options, deps);
    source = `stack ${options.stack}`;
    const output = (key: string) =>
      outputs.find((each) => each.OutputKey === key)?.OutputValue ??
      outputs.find((each) => each.OutputKey?.startsWith(key))?.OutputValue;
    const tableName = output(STACK_OUTPUTS.table);
    if (!tableName && !options.table) {
      throw new TargetError(`stack ${options.stack} has no ${STACK_OUTPUTS.table} output; pass --table`);
    }
    fromSource = {
      ...optionalName('tableName', tableName),
      ...optionalName('eventBusName', output(STACK_OUTPUTS.bus)),
      ...optionalName('poisonQueueUrl', output(STACK_OUTPUTS.poisonQueueUrl)),
    };
  }

  const pick = (flag: string | undefined, fromFile: string | undefined, envName: string) =>
    flag ?? fromFile ?? env(envName);
  const endpoint = (specific: string | undefined, fromFile: string | undefined) =>
    specific ?? options.endpoint ?? fromFile;
  const tableName = pick(options.table, fromSource.tableName, TARGET_ENV.table);
  const eventBusName = pick(options.bus, fromSource.eventBusName, TARGET_ENV.bus);
  const poisonQueueUrl = pick(options.poisonQueueUrl, fromSource.poisonQueueUrl, TARGET_ENV.poisonQueueUrl);
  const dynamodb = endpoint(options.dynamodbEndpoint, fromSource.endpoints?.dynamodb);
  const events = endpoint(options.eventsEndpoint, fromSource.endpoints?.events);
  const sqs = endpoint(options.sqsEndpoint, fromSource.endpoints?.sqs);
  const region = options.region ?? fromSource.region;
  let layout: OutboxLayout;
  try {
    layout = outboxLayoutFromEnv(deps.env);
  } catch (error) {
    if (error instanceof InvalidLayoutError) throw new TargetError(error.message);
    throw error;
  }
  return {
    source,
    layout,
    endpoints: {
      ...optionalName('dynamodb', dynamodb),
      ...optionalName('events', events),
      ...optionalName('sqs', sqs),
    },
    ...optionalName('tableName', tableName),
    ...optionalName('eventBusName', eventBusName),
    ...optionalName('poisonQueueUrl', poisonQueueUrl),
    ...optionalName('region', region),
    ...optionalName('profile', options.profile),
    // An explicit profile means the operator wants those credentials, even locally.
    ...(fromSource.credentials && !options.profile ? { credentials: fromSource.credentials } : {}),
  };
}

function optionalName<K extends string>(key: K, value: string | undefined): { [P in K]?: string } {
  return (value === undefined ? {} : { [key]: value }) as { [P in K]?: string };
}

async function stackOutputs(options: GlobalOptions, deps: TargetDeps): Promise<Output[]> {
  const client =
    deps.cloudFormation ??
    annotateOperations(
      new CloudFormationClient({
        ...(options.region ? { region: options.region } : {}),
        ...(options.profile ? { profile: options.profile } : {}),
        ...(options.endpoint ? { endpoint: options.endpoint } : {}),
      }),
      'cloudformation',
      options.endpoint,
    );
  try {
    const described = await client.send(new DescribeStacksCommand({ StackName: options.stack }));
    const stack = described.Stacks?.[0];
    if (!stack) throw new TargetError(`stack ${options.stack} not found`);
    return stack.Outputs ?? [];
  } finally {
    if (!deps.cloudFormation) client.destroy();
  }
}

/** The names a command needs; a missing one is a usage error naming the ways to give it. */
export function requireName(
  target: Target,
  name: 'table' | 'bus' | 'poisonQueueUrl',
  command: string,
): string {
  const value =
    name === 'table' ? target.tableName : name === 'bus' ? target.eventBusName : target.poisonQueueUrl;
  if (value) return value;
  const flag = name === 'table' ? '--table' : name === 'bus' ? '--bus' : '--poison-queue-url';
  throw new UsageError(
    `no ${name === 'table' ? 'table name' : name === 'bus' ? 'event bus name' : 'poison queue URL'}: pass ${flag}, --stack <name> or --local (or set ${TARGET_ENV[name]})`,
    command,
  );
}

/** Clients aimed at the target, each annotating its errors with the failed operation. */
export function createClients(target: Target): Clients {
  const base = {
    ...(target.region ? { region: target.region } : {}),
    ...(target.profile ? { profile: target.profile } : {}),
    ...(target.credentials ? { credentials: { ...target.credentials } } : {}),
  };
  const dynamoDb = annotateOperations(
    new DynamoDBClient({
      ...base,
      ...(target.endpoints.dynamodb ? { endpoint: target.endpoints.dynamodb } : {}),
    }),
    'dynamodb',
    target.endpoints.dynamodb,
  );
  return {
    dynamoDb,
    doc: createDocumentClient(dynamoDb),
    // The publisher retries entries itself, as in the relay: one SDK attempt per call.
    eventBridge: annotateOperations(
      new EventBridgeClient({
        ...base,
        maxAttempts: 1,
        ...(target.endpoints.events ? { endpoint: target.endpoints.events } : {}),
      }),
      'events',
      target.endpoints.events,
    ),
    sqs: annotateOperations(
      new SQSClient({ ...base, ...(target.endpoints.sqs ? { endpoint: target.endpoints.sqs } : {}) }),
      'sqs',
      target.endpoints.sqs,
    ),
  };
}
