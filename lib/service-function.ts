/**
 * The project's one Lambda wrapper: every function is a `ServiceFunction`, so
 * runtime, architecture, logging, tracing and bundling are decided here once.
 * Resources reach a function only through its `use...` methods, which set the
 * environment variable and the matching IAM grant together.
 */
import { basename, extname, isAbsolute, relative, sep } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Duration, RemovalPolicy } from 'aws-cdk-lib';
import type * as dynamodb from 'aws-cdk-lib/aws-dynamodb';
import type * as events from 'aws-cdk-lib/aws-events';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as lambda from 'aws-cdk-lib/aws-lambda';
import { NodejsFunction, OutputFormat } from 'aws-cdk-lib/aws-lambda-nodejs';
import * as logs from 'aws-cdk-lib/aws-logs';
import type * as sqs from 'aws-cdk-lib/aws-sqs';
import type { Construct } from 'constructs';
import { ENV } from '../lambdas/outbox/functions/env';

/** The repository root: the bundler's project root and where the lockfile lives. */
const PROJECT_ROOT = fileURLToPath(new URL('..', import.meta.url));
/** Handler names are kebab case: service names, labels and local log file names. */
const HANDLER_NAME_PATTERN = /^[a-z][a-z0-9-]*$/;

/** Metadata key naming a function's short handler name, for the local runtime that runs it. */
export const HANDLER_METADATA_KEY = 'Outbox::Handler';
/** Metadata key naming a function's entry file, relative to the repository root, for the local runtime. */
export const HANDLER_FILE_METADATA_KEY = 'Outbox::HandlerFile';

/** Namespace of the functions' CloudWatch metrics (Powertools Metrics). */
export const METRICS_NAMESPACE = 'Outbox';

/**
 * Lambda runtime of every function. `nodejs20.x` can no longer be created and
 * `nodejs22.x` is deprecated on 2027-04-30 (DESIGN.md section 8).
 */
export const SERVICE_RUNTIME = lambda.Runtime.NODEJS_24_X;

/** Name of an environment variable the functions read (see `ENV` in lambdas/outbox/functions/env.ts). */
export type EnvName = (typeof ENV)[keyof typeof ENV];

/** A DynamoDB item action a function may be granted on a table. */
export type TableAction =
  | 'GetItem'
  | 'BatchGetItem'
  | 'PutItem'
  | 'UpdateItem'
  | 'DeleteItem'
  | 'BatchWriteItem'
  | 'ConditionCheckItem'
  | 'Query'
  | 'Scan'
  /** PartiQL UPDATE statements (the relay's delivered marks, `BatchExecuteStatement`). */
  | 'PartiQLUpdate';

/** A DynamoDB action that applies to a secondary index. */
export type IndexAction = 'Query' | 'Scan';

/** Access to one secondary index of a table. */
export interface IndexAccess {
  /** The index name, e.g. `PENDING_INDEX`. */
  readonly indexName: string;
  /** The actions allowed on the index. */
  readonly actions: readonly IndexAction[];
}

/** Variables naming a resource: only the `use...` methods set them, each with its grant. */
const RESOURCE_VARIABLES: ReadonlySet<string> = new Set<EnvName>([
  ENV.TABLE_NAME,
  ENV.EVENT_BUS_NAME,
  ENV.POISON_QUEUE_URL,
]);

/** Item actions that write, hence need the table key's encrypt rights when it is customer managed. */
const WRITE_ACTIONS: ReadonlySet<TableAction> = new Set([
  'PutItem',
  'UpdateItem',
  'DeleteItem',
  'BatchWriteItem',
  'PartiQLUpdate',
]);

/** Properties of a {@link ServiceFunction}. */
export interface ServiceFunctionProps {
  /**
   * Path of the entry point file (as `NodejsFunction`'s `entry`), e.g.
   * `fileURLToPath(new URL('./handler.ts', import.meta.url))`; the file
   * exports `handler`.
   */
  readonly entry: string;
  /**
   * Kebab-case short name of the handler: the default service name, the
   * function's label in alarms and dashboards, its name in the local runtime.
   * @default the entry's file name without extension
   */
  readonly handlerName?: string;
  /**
   * Description shown in the console.
   * @default the entry's path relative to the repository root
   */
  readonly description?: string;
  /**
   * Powertools service name (`POWERTOOLS_SERVICE_NAME`): the `service` key of
   * every log line and the `service` metric dimension.
   * @default the handler name
   */
  readonly serviceName?: string;
  /**
   * Memory in MB; CPU scales with it.
   * @default 512
   */
  readonly memorySize?: number;
  /**
   * Function timeout.
   * @default Duration.seconds(10)
   */
  readonly timeout?: Duration;
  /**
   * Plain configuration variables. Variables naming a resource are set by the
   * `use...` methods instead, together with their grant.
   * @default - only the Powertools and Node variables
   */
  readonly environment?: Readonly<Record<string, string>>;
  /**
   * Retention of the function's log group.
   * @default logs.RetentionDays.ONE_MONTH
   */
  readonly logRetention?: logs.RetentionDays;
  /**
   * What happens to the function's log group when it leaves the stack.
   * @default RemovalPolicy.RETAIN
   */
  readonly removalPolicy?: RemovalPolicy;
}

/**
 * A Node.js 24 arm64 Lambda function bundled locally by esbuild as ESM, with
 * its own log group, X-Ray tracing, source maps and Powertools settings.
 */
export class ServiceFunction extends NodejsFunction {
  /** The short name of the handler this function runs (see {@link ServiceFunctionProps.handlerName}). */
  readonly handlerName: string;
  /** The log group the function writes to (explicit, so retention and removal are ours). */
  readonly functionLogGroup: logs.LogGroup;
  /** Environment variables already set by a `use...` method; each may be set once. */
  private readonly resourceVariables = new Set<string>();

  constructor(scope: Construct, id: string, props: ServiceFunctionProps) {
    const handlerName = props.handlerName ?? basename(props.entry, extname(props.entry));
    if (!HANDLER_NAME_PATTERN.test(handlerName)) {
      throw new Error(`handlerName must be kebab case, got ${handlerName}`);
    }
    const projectFile = projectRelative(props.entry);
    const resourceVariable = Object.keys(props.environment ?? {}).find((name) =>
      RESOURCE_VARIABLES.has(name),
    );
    if (resourceVariable) {
      throw new Error(
        `${resourceVariable} is set by a use... method together with its grant, not by environment`,
      );
    }
    // A sibling of the function rather than a child: the log group must exist before `super` runs.
    const logGroup = new logs.LogGroup(scope, `${id}LogGroup`, {
      retention: props.logRetention ?? logs.RetentionDays.ONE_MONTH,
      removalPolicy: props.removalPolicy ?? RemovalPolicy.RETAIN,
    });
    super(scope, id, {
      entry: props.entry,
      handler: 'handler',
      description: props.description ?? projectFile ?? basename(props.entry),
      runtime: SERVICE_RUNTIME,
      architecture: lambda.Architecture.ARM_64,
      memorySize: props.memorySize ?? 512,
      timeout: props.timeout ?? Duration.seconds(10),
      tracing: lambda.Tracing.ACTIVE,
      logGroup,
      // An entry of this repository bundles with its lockfile; another (a service's own
      // handler) with NodejsFunction's defaults, the lockfile found from the working directory.
      ...(projectFile === undefined
        ? {}
        : { projectRoot: PROJECT_ROOT, depsLockFilePath: `${PROJECT_ROOT}package-lock.json` }),
      environment: {
        ...props.environment,
        POWERTOOLS_SERVICE_NAME: props.serviceName ?? handlerName,
        POWERTOOLS_METRICS_NAMESPACE: METRICS_NAMESPACE,
        NODE_OPTIONS: '--enable-source-maps',
      },
      bundling: {
        format: OutputFormat.ESM,
        mainFields: ['module', 'main'],
        // ESM output has no `require`; CommonJS dependencies bundled into it still call it.
        banner: "import { createRequire } from 'module';const require = createRequire(import.meta.url);",
        minify: true,
        sourceMap: true,
        sourcesContent: false,
        target: 'node24',
        // Bundle the AWS SDK too: the function runs the versions the lockfile pins
        // and the tests ran, not whatever the runtime ships that month.
        externalModules: [],
        forceDockerBundling: false,
      },
    });
    this.handlerName = handlerName;
    this.functionLogGroup = logGroup;
    // The local runtime runs each function of the template from its entry file, found by these
    // (HANDLER_METADATA in local/resources.ts); an entry outside the repository is not run locally.
    const cfnFunction = this.node.defaultChild as lambda.CfnFunction;
    cfnFunction.addMetadata(HANDLER_METADATA_KEY, handlerName);
    if (projectFile !== undefined) cfnFunction.addMetadata(HANDLER_FILE_METADATA_KEY, projectFile);
  }

  /**
   * Gives the function a table: sets `TABLE_NAME` and allows exactly `actions`
   * on the table, and `index.actions` on that one index, nothing else.
   * `TransactWriteItems` needs no action of its own: it is authorized per
   * contained Put, Update, Delete and ConditionCheck.
   */
  useTable(table: dynamodb.ITable, actions: readonly TableAction[], index?: IndexAccess): void {
    if (actions.length === 0 && (index === undefined || index.actions.length === 0)) {
      throw new Error(`${this.node.path}: useTable needs at least one action`);
    }
    this.setResourceVariable(ENV.TABLE_NAME, table.tableName);
    if (actions.length > 0) {
      this.addToRolePolicy(
        new iam.PolicyStatement({ actions: dynamoActions(actions), resources: [table.tableArn] }),
      );
    }
    if (index && index.actions.length > 0) {
      this.addToRolePolicy(
        new iam.PolicyStatement({
          actions: dynamoActions(index.actions),
          resources: [`${table.tableArn}/index/${index.indexName}`],
        }),
      );
    }
    // Only a customer-managed key needs grants; AWS-owned and AWS-managed keys do not.
    if (table.encryptionKey) {
      if (actions.some((action) => WRITE_ACTIONS.has(action))) table.encryptionKey.grantEncryptDecrypt(this);
      else table.encryptionKey.grantDecrypt(this);
    }
  }

  /** Gives the function an event bus: sets `EVENT_BUS_NAME` and allows `events:PutEvents` on that bus. */
  useEventBus(bus: events.IEventBus): void {
    this.setResourceVariable(ENV.EVENT_BUS_NAME, bus.eventBusName);
    bus.grantPutEventsTo(this);
  }

  /**
   * Gives the function a queue to send to: sets `envName` to its URL and
   * allows `sqs:SendMessage` (which also covers `SendMessageBatch`) on it.
   */
  useQueue(queue: sqs.IQueue, envName: EnvName): void {
    this.setResourceVariable(envName, queue.queueUrl);
    queue.grant(this, 'sqs:SendMessage');
    queue.encryptionMasterKey?.grant(this, 'kms:GenerateDataKey*', 'kms:Decrypt');
  }

  /**
   * Adds a plain configuration variable. Variables naming a resource
   * (`TABLE_NAME`, `EVENT_BUS_NAME`, `POISON_QUEUE_URL`) are refused: the
   * `use...` methods set them together with their grant.
   */
  override addEnvironment(key: string, value: string, options?: lambda.EnvironmentOptions): this {
    if (RESOURCE_VARIABLES.has(key)) {
      throw new Error(`${this.node.path}: ${key} is set by a use... method together with its grant`);
    }
    return super.addEnvironment(key, value, options);
  }

  private setResourceVariable(name: EnvName, value: string): void {
    if (this.resourceVariables.has(name)) {
      throw new Error(`${this.node.path}: ${name} is already set by another use... call`);
    }
    this.resourceVariables.add(name);
    super.addEnvironment(name, value);
  }
}

/** The entry's path relative to the repository root with `/` separators, or undefined when outside it. */
function projectRelative(entry: string): string | undefined {
  const path = relative(PROJECT_ROOT, entry);
  if (path === '' || path.startsWith('..') || isAbsolute(path)) return undefined;
  return path.split(sep).join('/');
}

function dynamoActions(actions: readonly string[]): string[] {
  return [...new Set(actions)].map((action) => `dynamodb:${action}`);
}
