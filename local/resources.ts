/**
 * Local resources from the synthesized template: the DynamoDB tables in
 * DynamoDB Local, the buses, rules and queues in moto. What the stack defines
 * (keys, indexes, stream, TTL, patterns, targets, redrive) is what runs
 * locally; nothing here is a hand-kept copy of the stack.
 */
import { createHash } from 'node:crypto';
import { setTimeout as delay } from 'node:timers/promises';
import {
  type AttributeDefinition,
  CreateTableCommand,
  type CreateTableCommandInput,
  DescribeTableCommand,
  DescribeTimeToLiveCommand,
  type DynamoDBClient,
  type GlobalSecondaryIndex,
  type KeySchemaElement,
  type LocalSecondaryIndex,
  type Projection,
  ResourceInUseException,
  UpdateTimeToLiveCommand,
} from '@aws-sdk/client-dynamodb';
import {
  CreateEventBusCommand,
  DescribeEventBusCommand,
  type EventBridgeClient,
  PutRuleCommand,
  PutTargetsCommand,
  ResourceAlreadyExistsException,
  type Target,
} from '@aws-sdk/client-eventbridge';
import {
  CreateQueueCommand,
  GetQueueAttributesCommand,
  SetQueueAttributesCommand,
  type SQSClient,
} from '@aws-sdk/client-sqs';
import type { CfnResource, CfnTemplate } from './synth';

/** Region of every local resource. */
export const LOCAL_REGION = 'us-east-1';
/** moto's default account; ARNs built here must match the ones moto builds. */
export const LOCAL_ACCOUNT_ID = '123456789012';
/** Prefix of generated names when the caller gives none: the dev stack's name. */
export const DEFAULT_NAMESPACE = 'Outbox-dev';

const TABLE_TYPES = ['AWS::DynamoDB::Table', 'AWS::DynamoDB::GlobalTable'] as const;
const LAMBDA_TYPES = new Set(['AWS::Lambda::Function', 'AWS::Lambda::Alias', 'AWS::Lambda::Version']);
/** How long a created table may take to become ACTIVE (DynamoDB Local: immediately). */
const TABLE_ACTIVE_TIMEOUT_MS = 30_000;

/** A resource of the template with its logical id. */
export interface FoundResource {
  readonly logicalId: string;
  readonly resource: CfnResource;
}

/** The template's resources of the given type(s), in template order. */
export function findResources(template: CfnTemplate, ...types: readonly string[]): FoundResource[] {
  const wanted = new Set(types);
  return Object.entries(template.Resources)
    .filter(([, resource]) => wanted.has(resource.Type))
    .map(([logicalId, resource]) => ({ logicalId, resource }));
}

/** Options shared by the create functions. */
export interface NamingOptions {
  /**
   * Prefix of every created name, so several runtimes (test files, e2e runs)
   * can share one DynamoDB Local and one moto without colliding.
   * @default 'Outbox-dev'
   */
  readonly namespace?: string;
}

interface NameRule {
  /** The service's maximum length. */
  readonly max: number;
  /** Characters the service accepts; anything else becomes `-`. */
  readonly invalid: RegExp;
}

const TABLE_NAME_RULE: NameRule = { max: 255, invalid: /[^A-Za-z0-9_.-]/g };
const QUEUE_NAME_RULE: NameRule = { max: 80, invalid: /[^A-Za-z0-9_-]/g };
const BUS_NAME_RULE: NameRule = { max: 256, invalid: /[^A-Za-z0-9/_.-]/g };
const RULE_NAME_RULE: NameRule = { max: 64, invalid: /[^A-Za-z0-9_.-]/g };
const FUNCTION_NAME_RULE: NameRule = { max: 64, invalid: /[^A-Za-z0-9_-]/g };

/**
 * A deterministic, readable local name: `<namespace>-<explicit name or
 * logical id>`. An explicit name that already starts with the namespace
 * (ignoring case) is kept as it is. Names over the service's limit are cut
 * and end in a short hash of the full name, so they stay unique; `suffix`
 * (`.fifo`) stays last.
 */
function localName(
  namespace: string,
  logicalId: string,
  explicitName: string | undefined,
  rule: NameRule,
  suffix = '',
): string {
  let base = explicitName ?? logicalId;
  if (suffix && base.endsWith(suffix)) base = base.slice(0, -suffix.length);
  // Case-insensitive, so the dev stack's `outbox-dev` bus keeps its name under the default `Outbox-dev`.
  const prefixed =
    explicitName !== undefined && base.toLowerCase().startsWith(namespace.toLowerCase()) && base.length >= 3;
  let name = prefixed ? base : `${namespace}-${base}`;
  name = name.replace(rule.invalid, '-');
  const room = rule.max - suffix.length;
  if (name.length > room) {
    const hash = createHash('sha256').update(name).digest('hex').slice(0, 8);
    name = `${name.slice(0, room - hash.length - 1)}-${hash}`;
  }
  return `${name}${suffix}`;
}

/** What `Ref` and `Fn::GetAtt` of one resource resolve to locally. */
export interface ResolvedResource {
  readonly ref: string;
  readonly attributes: Readonly<Record<string, string>>;
}

/** Pseudo parameters and the resources created so far. */
export interface ResolveContext {
  readonly region: string;
  readonly accountId: string;
  readonly partition: string;
  readonly urlSuffix: string;
  readonly stackName: string;
  readonly resources: ReadonlyMap<string, ResolvedResource>;
}

/** A value of the template cannot be resolved locally (unknown reference, unsupported function). */
export class TemplateResolutionError extends Error {
  override readonly name = 'TemplateResolutionError';
}

/** The context for local resources: us-east-1, moto's account 123456789012, partition `aws`. */
export function localResolveContext(
  namespace: string = DEFAULT_NAMESPACE,
  resources: ReadonlyMap<string, ResolvedResource> = new Map(),
): ResolveContext {
  return {
    region: LOCAL_REGION,
    accountId: LOCAL_ACCOUNT_ID,
    partition: 'aws',
    urlSuffix: 'amazonaws.com',
    stackName: namespace,
    resources,
  };
}

/** `Ref: AWS::NoValue` removes the property; this marks it until the enclosing object or array drops it. */
const NO_VALUE = Symbol('AWS::NoValue');

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function pseudoParameter(name: string, context: ResolveContext): string | typeof NO_VALUE | undefined {
  switch (name) {
    case 'AWS::Region':
      return context.region;
    case 'AWS::AccountId':
      return context.accountId;
    case 'AWS::Partition':
      return context.partition;
    case 'AWS::URLSuffix':
      return context.urlSuffix;
    case 'AWS::StackName':
      return context.stackName;
    case 'AWS::StackId':
      return `arn:${context.partition}:cloudformation:${context.region}:${context.accountId}:stack/${context.stackName}/local`;
    case 'AWS::NoValue':
      return NO_VALUE;
    default:
      return undefined;
  }
}

function resolveRef(name: string, context: ResolveContext): string | typeof NO_VALUE {
  const pseudo = pseudoParameter(name, context);
  if (pseudo !== undefined) return pseudo;
  const resource = context.resources.get(name);
  if (!resource) throw new TemplateResolutionError(`Ref to ${name}, which has no local counterpart`);
  return resource.ref;
}

function resolveGetAtt(logicalId: string, attribute: string, context: ResolveContext): string {
  const value = context.resources.get(logicalId)?.attributes[attribute];
  if (value === undefined) {
    throw new TemplateResolutionError(`Fn::GetAtt ${logicalId}.${attribute} has no local value`);
  }
  return value;
}

function asText(value: unknown, where: string): string {
  if (typeof value === 'string') return value;
  if (typeof value === 'number' || typeof value === 'boolean') return String(value);
  throw new TemplateResolutionError(`${where} needs a string, got ${JSON.stringify(value)}`);
}

function resolveSub(text: string, variables: Record<string, unknown>, context: ResolveContext): string {
  return text.replace(/\$\{([^}]*)\}/g, (_, expression: string) => {
    // `${!Literal}` is CloudFormation's escape for a literal `${Literal}`.
    if (expression.startsWith('!')) return `\${${expression.slice(1)}}`;
    const name = expression.trim();
    if (name in variables) return asText(variables[name], `Fn::Sub variable ${name}`);
    const dot = name.indexOf('.');
    if (dot > 0 && !name.startsWith('AWS::')) {
      return resolveGetAtt(name.slice(0, dot), name.slice(dot + 1), context);
    }
    return asText(resolveRef(name, context), `Fn::Sub \${${name}}`);
  });
}

function resolveIntrinsic(name: string, argument: unknown, context: ResolveContext): unknown {
  switch (name) {
    case 'Ref':
      return resolveRef(asText(argument, 'Ref'), context);
    case 'Fn::GetAtt': {
      const [logicalId, ...attribute] = Array.isArray(argument)
        ? argument.map((part) => asText(resolveValue(part, context), 'Fn::GetAtt'))
        : asText(argument, 'Fn::GetAtt').split('.');
      if (logicalId === undefined || attribute.length === 0) {
        throw new TemplateResolutionError(`malformed Fn::GetAtt ${JSON.stringify(argument)}`);
      }
      return resolveGetAtt(logicalId, attribute.join('.'), context);
    }
    case 'Fn::Join': {
      const [delimiter, list] = Array.isArray(argument) ? argument : [];
      const parts = resolveValue(list, context);
      if (typeof delimiter !== 'string' || !Array.isArray(parts)) {
        throw new TemplateResolutionError(`malformed Fn::Join ${JSON.stringify(argument)}`);
      }
      return parts.map((part) => asText(part, 'Fn::Join')).join(delimiter);
    }
    case 'Fn::Sub': {
      if (typeof argument === 'string') return resolveSub(argument, {}, context);
      const [text, variables] = Array.isArray(argument) ? argument : [];
      const resolvedVariables = resolveValue(variables ?? {}, context);
      if (typeof text !== 'string' || !isRecord(resolvedVariables)) {
        throw new TemplateResolutionError(`malformed Fn::Sub ${JSON.stringify(argument)}`);
      }
      return resolveSub(text, resolvedVariables, context);
    }
    case 'Fn::Select': {
      const [index, list] = Array.isArray(argument)
        ? argument.map((part) => resolveValue(part, context))
        : [];
      const position = Number(index);
      if (!Array.isArray(list) || !Number.isInteger(position) || position < 0 || position >= list.length) {
        throw new TemplateResolutionError(`malformed Fn::Select ${JSON.stringify(argument)}`);
      }
      return list[position];
    }
    case 'Fn::Split': {
      const [delimiter, text] = Array.isArray(argument)
        ? argument.map((part) => resolveValue(part, context))
        : [];
      if (typeof delimiter !== 'string' || typeof text !== 'string') {
        throw new TemplateResolutionError(`malformed Fn::Split ${JSON.stringify(argument)}`);
      }
      return text.split(delimiter);
    }
    default:
      throw new TemplateResolutionError(`${name} is not supported by the local runtime`);
  }
}

function resolveValue(value: unknown, context: ResolveContext): unknown {
  if (Array.isArray(value)) {
    return value.map((item) => resolveValue(item, context)).filter((item) => item !== NO_VALUE);
  }
  if (!isRecord(value)) return value;
  const keys = Object.keys(value);
  const [only] = keys;
  if (keys.length === 1 && only !== undefined && (only === 'Ref' || only.startsWith('Fn::'))) {
    return resolveIntrinsic(only, value[only], context);
  }
  const resolved: Record<string, unknown> = {};
  for (const key of keys) {
    const item = resolveValue(value[key], context);
    if (item !== NO_VALUE) resolved[key] = item;
  }
  return resolved;
}

/**
 * Resolves the intrinsic functions in a template value: `Ref`, `Fn::GetAtt`,
 * `Fn::Join`, `Fn::Sub`, `Fn::Select`, `Fn::Split`, and the pseudo
 * parameters (`AWS::Region`, `AWS::AccountId`, `AWS::Partition`,
 * `AWS::URLSuffix`, `AWS::StackName`, `AWS::NoValue`). Anything else
 * (conditions, imports) throws a {@link TemplateResolutionError}.
 */
export function resolve(value: unknown, context: ResolveContext): unknown {
  const resolved = resolveValue(value, context);
  return resolved === NO_VALUE ? undefined : resolved;
}

function resolveString(value: unknown, context: ResolveContext, where: string): string | undefined {
  const resolved = resolve(value, context);
  return resolved === undefined ? undefined : asText(resolved, where);
}

/** The logical id a value points at through `Ref` or `Fn::GetAtt`, if it does. */
export function referencedLogicalId(value: unknown): string | undefined {
  if (!isRecord(value)) return undefined;
  const ref = value.Ref;
  if (typeof ref === 'string' && !ref.startsWith('AWS::')) return ref;
  const getAtt = value['Fn::GetAtt'];
  if (Array.isArray(getAtt) && typeof getAtt[0] === 'string') return getAtt[0];
  if (typeof getAtt === 'string') return getAtt.split('.')[0];
  return undefined;
}

function arn(service: string, resource: string): string {
  return `arn:aws:${service}:${LOCAL_REGION}:${LOCAL_ACCOUNT_ID}:${resource}`;
}

function tableResourceName(namespace: string, logicalId: string, resource: CfnResource): string {
  const explicit = resolveString(resource.Properties?.TableName, localResolveContext(namespace), 'TableName');
  return localName(namespace, logicalId, explicit, TABLE_NAME_RULE);
}

/**
 * Placeholders for tables and functions (their names are deterministic), so a
 * pattern, input or target that refers to them resolves. Functions are never
 * created locally: a `Fn::GetAtt [Fn, Arn]` gives a made-up ARN.
 */
function placeholders(template: CfnTemplate, namespace: string): Map<string, ResolvedResource> {
  const resources = new Map<string, ResolvedResource>();
  for (const { logicalId, resource } of findResources(template, ...TABLE_TYPES)) {
    const name = tableResourceName(namespace, logicalId, resource);
    resources.set(logicalId, { ref: name, attributes: { Arn: arn('dynamodb', `table/${name}`) } });
  }
  for (const { logicalId } of findResources(template, ...LAMBDA_TYPES)) {
    const name = localName(namespace, logicalId, undefined, FUNCTION_NAME_RULE);
    const functionArn = arn('lambda', `function:${name}`);
    resources.set(logicalId, { ref: functionArn, attributes: { Arn: functionArn } });
  }
  return resources;
}

function pickKeySchema(value: unknown, where: string): KeySchemaElement[] {
  if (!Array.isArray(value) || value.length === 0)
    throw new TemplateResolutionError(`${where} has no KeySchema`);
  return value.map((element) => {
    if (!isRecord(element)) throw new TemplateResolutionError(`${where} has a malformed KeySchema`);
    return {
      AttributeName: asText(element.AttributeName, `${where} KeySchema`),
      KeyType: asText(element.KeyType, `${where} KeySchema`) as KeySchemaElement['KeyType'],
    };
  });
}

function pickProjection(value: unknown): Projection {
  if (!isRecord(value)) return { ProjectionType: 'ALL' };
  const nonKey = Array.isArray(value.NonKeyAttributes) ? value.NonKeyAttributes.map(String) : undefined;
  return {
    ProjectionType: (typeof value.ProjectionType === 'string'
      ? value.ProjectionType
      : 'ALL') as Projection['ProjectionType'],
    ...(nonKey && nonKey.length > 0 ? { NonKeyAttributes: nonKey } : {}),
  };
}

/**
 * Index name, keys and projection of a secondary index. Table and
 * GlobalTable (TableV2) agree on these; capacity settings (which differ
 * between the two, and which DynamoDB Local ignores) are dropped.
 */
function pickIndexes(value: unknown, where: string): GlobalSecondaryIndex[] | undefined {
  if (!Array.isArray(value) || value.length === 0) return undefined;
  return value.map((index) => {
    if (!isRecord(index)) throw new TemplateResolutionError(`${where} has a malformed index`);
    const indexName = asText(index.IndexName, `${where} IndexName`);
    return {
      IndexName: indexName,
      KeySchema: pickKeySchema(index.KeySchema, `${where} index ${indexName}`),
      Projection: pickProjection(index.Projection),
    };
  });
}

/** The table properties the local table is made from. */
const TABLE_PROPERTIES = [
  'KeySchema',
  'AttributeDefinitions',
  'GlobalSecondaryIndexes',
  'LocalSecondaryIndexes',
  'StreamSpecification',
] as const;

/** The CreateTable input a Table or GlobalTable resource describes, always on-demand. */
export function createTableInput(
  tableName: string,
  resource: CfnResource,
  context: ResolveContext,
): CreateTableCommandInput {
  // Only the fields used here are resolved: the rest (KMS keys, tags, replicas) may refer to
  // resources that have no local counterpart.
  const raw = resource.Properties ?? {};
  const properties = resolve(
    Object.fromEntries(TABLE_PROPERTIES.filter((name) => name in raw).map((name) => [name, raw[name]])),
    context,
  );
  if (!isRecord(properties)) throw new TemplateResolutionError(`table ${tableName} has malformed Properties`);
  const where = `table ${tableName}`;
  const attributes = properties.AttributeDefinitions;
  if (!Array.isArray(attributes)) throw new TemplateResolutionError(`${where} has no AttributeDefinitions`);
  const stream = isRecord(properties.StreamSpecification) ? properties.StreamSpecification : undefined;
  const globalIndexes = pickIndexes(properties.GlobalSecondaryIndexes, where);
  const localIndexes: LocalSecondaryIndex[] | undefined = pickIndexes(
    properties.LocalSecondaryIndexes,
    where,
  );
  return {
    TableName: tableName,
    KeySchema: pickKeySchema(properties.KeySchema, where),
    AttributeDefinitions: attributes.map(
      (definition): AttributeDefinition => ({
        AttributeName: asText(
          isRecord(definition) ? definition.AttributeName : undefined,
          `${where} attribute`,
        ),
        AttributeType: asText(
          isRecord(definition) ? definition.AttributeType : undefined,
          `${where} attribute`,
        ) as AttributeDefinition['AttributeType'],
      }),
    ),
    // Capacity means nothing to DynamoDB Local; on-demand needs no throughput numbers.
    BillingMode: 'PAY_PER_REQUEST',
    ...(globalIndexes ? { GlobalSecondaryIndexes: globalIndexes } : {}),
    ...(localIndexes ? { LocalSecondaryIndexes: localIndexes } : {}),
    ...(stream && typeof stream.StreamViewType === 'string'
      ? {
          StreamSpecification: {
            StreamEnabled: true,
            StreamViewType: stream.StreamViewType as NonNullable<
              CreateTableCommandInput['StreamSpecification']
            >['StreamViewType'],
          },
        }
      : {}),
  };
}

/** The TTL attribute a table resource enables, if any (Table and GlobalTable both keep it in Properties). */
function timeToLiveAttribute(resource: CfnResource, context: ResolveContext): string | undefined {
  const spec = resolve(resource.Properties?.TimeToLiveSpecification, context);
  if (!isRecord(spec) || (spec.Enabled !== true && spec.Enabled !== 'true')) return undefined;
  return typeof spec.AttributeName === 'string' ? spec.AttributeName : undefined;
}

async function waitForActiveTable(client: DynamoDBClient, tableName: string): Promise<void> {
  const deadline = Date.now() + TABLE_ACTIVE_TIMEOUT_MS;
  for (;;) {
    const { Table } = await client.send(new DescribeTableCommand({ TableName: tableName }));
    const indexesActive = (Table?.GlobalSecondaryIndexes ?? []).every(
      (index) => index.IndexStatus === 'ACTIVE',
    );
    if (Table?.TableStatus === 'ACTIVE' && indexesActive) return;
    if (Date.now() > deadline) {
      throw new Error(
        `table ${tableName} is not ACTIVE after ${TABLE_ACTIVE_TIMEOUT_MS} ms (${Table?.TableStatus})`,
      );
    }
    await delay(100);
  }
}

async function enableTimeToLive(
  client: DynamoDBClient,
  tableName: string,
  attributeName: string,
): Promise<void> {
  const current = await client.send(new DescribeTimeToLiveCommand({ TableName: tableName }));
  const description = current.TimeToLiveDescription;
  // Enabling TTL twice is a ValidationException; a table reused from an earlier run already has it.
  if (description?.AttributeName === attributeName && description.TimeToLiveStatus === 'ENABLED') return;
  await client.send(
    new UpdateTimeToLiveCommand({
      TableName: tableName,
      TimeToLiveSpecification: { AttributeName: attributeName, Enabled: true },
    }),
  );
}

/**
 * Creates every `AWS::DynamoDB::Table` and `AWS::DynamoDB::GlobalTable` of
 * the template: keys, attribute definitions, secondary indexes with their
 * projections, stream, then TTL; waits until each is ACTIVE. A table that
 * already exists (same name, e.g. a second run on the same server) is
 * reused. Names: `<namespace>-<logical id>` unless the template names the
 * table (see {@link localName}).
 *
 * @returns table name by logical id
 */
export async function createTablesFromTemplate(
  template: CfnTemplate,
  client: DynamoDBClient,
  options: NamingOptions = {},
): Promise<Map<string, string>> {
  const namespace = options.namespace ?? DEFAULT_NAMESPACE;
  const context = localResolveContext(namespace, placeholders(template, namespace));
  const tables = new Map<string, string>();
  for (const { logicalId, resource } of findResources(template, ...TABLE_TYPES)) {
    const tableName = tableResourceName(namespace, logicalId, resource);
    try {
      await client.send(new CreateTableCommand(createTableInput(tableName, resource, context)));
    } catch (error) {
      if (!(error instanceof ResourceInUseException)) throw error;
    }
    await waitForActiveTable(client, tableName);
    const ttlAttribute = timeToLiveAttribute(resource, context);
    if (ttlAttribute) await enableTimeToLive(client, tableName, ttlAttribute);
    tables.set(logicalId, tableName);
  }
  return tables;
}

/** A queue created in moto. */
export interface LocalQueue {
  readonly name: string;
  readonly url: string;
  readonly arn: string;
}

/** An event bus created in moto. */
export interface LocalBus {
  readonly name: string;
  readonly arn: string;
}

/** A rule created in moto. */
export interface LocalRule {
  readonly name: string;
  readonly arn: string;
  readonly eventBusName: string;
  /** Logical ids of the queues it targets. */
  readonly queueTargets: string[];
}

/**
 * A rule target moto cannot invoke (a Lambda function). The caller can run
 * the function itself for events that match the rule.
 */
export interface LambdaRuleTarget {
  readonly ruleLogicalId: string;
  readonly ruleName: string;
  readonly eventBusName: string;
  /** The rule's pattern, when it has one (a scheduled rule has none). */
  readonly eventPattern?: Record<string, unknown>;
  readonly scheduleExpression?: string;
  readonly targetId: string;
  /** The AWS::Lambda::Function (or Alias/Version) the target names. */
  readonly functionLogicalId: string;
  readonly input?: string;
  readonly inputPath?: string;
}

/** A target that is neither a queue of the template nor a Lambda function; not created. */
export interface SkippedRuleTarget {
  readonly ruleLogicalId: string;
  readonly targetId: string;
  readonly reason: string;
}

/** What {@link createMessagingFromTemplate} created, by logical id. */
export interface LocalMessaging {
  readonly queues: Map<string, LocalQueue>;
  readonly buses: Map<string, LocalBus>;
  readonly rules: Map<string, LocalRule>;
  readonly lambdaTargets: LambdaRuleTarget[];
  readonly skippedTargets: SkippedRuleTarget[];
}

/** The clients {@link createMessagingFromTemplate} needs, both aimed at moto. */
export interface MessagingClients {
  readonly eventBridge: EventBridgeClient;
  readonly sqs: SQSClient;
}

/** CloudFormation queue properties that are plain SQS attributes (SSE and KMS are ignored locally). */
const QUEUE_ATTRIBUTES = [
  'DelaySeconds',
  'MaximumMessageSize',
  'MessageRetentionPeriod',
  'ReceiveMessageWaitTimeSeconds',
  'VisibilityTimeout',
  'ContentBasedDeduplication',
  'DeduplicationScope',
  'FifoThroughputLimit',
] as const;

function queueAttributes(properties: Record<string, unknown>, fifo: boolean): Record<string, string> {
  const attributes: Record<string, string> = {};
  if (fifo) attributes.FifoQueue = 'true';
  for (const name of QUEUE_ATTRIBUTES) {
    const value = properties[name];
    if (value !== undefined) attributes[name] = asText(value, `queue attribute ${name}`);
  }
  return attributes;
}

/** Serialises a JSON-valued queue attribute (RedrivePolicy, RedriveAllowPolicy) that CloudFormation takes as an object. */
function jsonAttribute(value: unknown): string {
  return typeof value === 'string' ? value : JSON.stringify(value);
}

async function createQueue(
  clients: MessagingClients,
  name: string,
  attributes: Record<string, string>,
): Promise<LocalQueue> {
  const created = await clients.sqs.send(new CreateQueueCommand({ QueueName: name, Attributes: attributes }));
  const url = created.QueueUrl;
  if (!url) throw new Error(`CreateQueue ${name} returned no QueueUrl`);
  const described = await clients.sqs.send(
    new GetQueueAttributesCommand({ QueueUrl: url, AttributeNames: ['QueueArn'] }),
  );
  const queueArn = described.Attributes?.QueueArn ?? arn('sqs', name);
  return { name, url, arn: queueArn };
}

async function createBus(clients: MessagingClients, name: string): Promise<LocalBus> {
  try {
    const created = await clients.eventBridge.send(new CreateEventBusCommand({ Name: name }));
    return { name, arn: created.EventBusArn ?? arn('events', `event-bus/${name}`) };
  } catch (error) {
    if (!(error instanceof ResourceAlreadyExistsException)) throw error;
    const existing = await clients.eventBridge.send(new DescribeEventBusCommand({ Name: name }));
    return { name, arn: existing.Arn ?? arn('events', `event-bus/${name}`) };
  }
}

/** Target fields that mean the same in CloudFormation and in PutTargets. */
function sqsTarget(
  target: Record<string, unknown>,
  id: string,
  queueArn: string,
  context: ResolveContext,
): Target {
  const resolved = resolve(
    {
      Input: target.Input,
      InputPath: target.InputPath,
      InputTransformer: target.InputTransformer,
      SqsParameters: target.SqsParameters,
      DeadLetterConfig: target.DeadLetterConfig,
      RetryPolicy: target.RetryPolicy,
    },
    context,
  );
  const fields = isRecord(resolved) ? resolved : {};
  const defined = Object.fromEntries(Object.entries(fields).filter(([, value]) => value !== undefined));
  return { ...(defined as Partial<Target>), Id: id, Arn: queueArn };
}

function parsePattern(value: unknown): Record<string, unknown> | undefined {
  if (value === undefined) return undefined;
  const parsed: unknown = typeof value === 'string' ? JSON.parse(value) : value;
  if (!isRecord(parsed))
    throw new TemplateResolutionError(`an EventPattern must be an object, got ${JSON.stringify(value)}`);
  return parsed;
}

/**
 * Creates the template's messaging resources in moto:
 * - `AWS::SQS::Queue`: name from QueueName or `<namespace>-<logical id>`
 *   (`.fifo` kept last for FIFO queues), FifoQueue and the plain attributes;
 *   RedrivePolicy and RedriveAllowPolicy are set once every queue exists,
 *   with their `Fn::GetAtt [Queue, Arn]` resolved to the local queue's ARN.
 *   KMS and SSE settings are ignored.
 * - `AWS::Events::EventBus`: its Name, namespaced.
 * - `AWS::Events::Rule`: on the bus its EventBusName resolves to (`default`
 *   when absent), pattern or schedule, state; queue targets become SQS
 *   targets with the local queue's ARN; Lambda targets are returned in
 *   `lambdaTargets` for the caller to run; other targets in `skippedTargets`.
 * - `AWS::Events::Archive`, queue policies and everything else: skipped.
 * Creating twice with the same namespace is harmless.
 */
export async function createMessagingFromTemplate(
  template: CfnTemplate,
  clients: MessagingClients,
  options: NamingOptions = {},
): Promise<LocalMessaging> {
  const namespace = options.namespace ?? DEFAULT_NAMESPACE;
  const resources = placeholders(template, namespace);
  const context = localResolveContext(namespace, resources);
  const messaging: LocalMessaging = {
    queues: new Map(),
    buses: new Map(),
    rules: new Map(),
    lambdaTargets: [],
    skippedTargets: [],
  };

  // Queues first, without redrive: a dead-letter queue may come after the queue that names it.
  const queueResources = findResources(template, 'AWS::SQS::Queue');
  for (const { logicalId, resource } of queueResources) {
    const properties = resource.Properties ?? {};
    const fifo =
      resolve(properties.FifoQueue, context) === true || resolve(properties.FifoQueue, context) === 'true';
    const explicit = resolveString(properties.QueueName, context, `queue ${logicalId} QueueName`);
    const name = localName(namespace, logicalId, explicit, QUEUE_NAME_RULE, fifo ? '.fifo' : '');
    const resolved = resolve(
      Object.fromEntries(QUEUE_ATTRIBUTES.map((attribute) => [attribute, properties[attribute]])),
      context,
    );
    const queue = await createQueue(clients, name, queueAttributes(isRecord(resolved) ? resolved : {}, fifo));
    messaging.queues.set(logicalId, queue);
    resources.set(logicalId, {
      ref: queue.url,
      attributes: { Arn: queue.arn, QueueName: queue.name, QueueUrl: queue.url },
    });
  }
  for (const { logicalId, resource } of queueResources) {
    const queue = messaging.queues.get(logicalId);
    const redrive: Record<string, string> = {};
    for (const attribute of ['RedrivePolicy', 'RedriveAllowPolicy'] as const) {
      const value = resolve(resource.Properties?.[attribute], context);
      if (value !== undefined) redrive[attribute] = jsonAttribute(value);
    }
    if (queue && Object.keys(redrive).length > 0) {
      await clients.sqs.send(new SetQueueAttributesCommand({ QueueUrl: queue.url, Attributes: redrive }));
    }
  }

  for (const { logicalId, resource } of findResources(template, 'AWS::Events::EventBus')) {
    const explicit = resolveString(resource.Properties?.Name, context, `event bus ${logicalId} Name`);
    const bus = await createBus(clients, localName(namespace, logicalId, explicit, BUS_NAME_RULE));
    messaging.buses.set(logicalId, bus);
    resources.set(logicalId, { ref: bus.name, attributes: { Arn: bus.arn, Name: bus.name } });
  }

  for (const { logicalId, resource } of findResources(template, 'AWS::Events::Rule')) {
    await createRule(template, clients, context, resources, messaging, logicalId, resource, namespace);
  }
  return messaging;
}

async function createRule(
  template: CfnTemplate,
  clients: MessagingClients,
  context: ResolveContext,
  resources: Map<string, ResolvedResource>,
  messaging: LocalMessaging,
  logicalId: string,
  resource: CfnResource,
  namespace: string,
): Promise<void> {
  const properties = resource.Properties ?? {};
  const explicit = resolveString(properties.Name, context, `rule ${logicalId} Name`);
  const ruleName = localName(namespace, logicalId, explicit, RULE_NAME_RULE);
  const eventBusName =
    resolveString(properties.EventBusName, context, `rule ${logicalId} EventBusName`) ?? 'default';
  const eventPattern = parsePattern(resolve(properties.EventPattern, context));
  const scheduleExpression = resolveString(
    properties.ScheduleExpression,
    context,
    `rule ${logicalId} schedule`,
  );
  const state = resolveString(properties.State, context, `rule ${logicalId} State`) ?? 'ENABLED';
  const put = await clients.eventBridge.send(
    new PutRuleCommand({
      Name: ruleName,
      EventBusName: eventBusName,
      State: state as 'ENABLED' | 'DISABLED',
      ...(eventPattern ? { EventPattern: JSON.stringify(eventPattern) } : {}),
      ...(scheduleExpression ? { ScheduleExpression: scheduleExpression } : {}),
    }),
  );
  const ruleArn = put.RuleArn ?? arn('events', `rule/${eventBusName}/${ruleName}`);
  resources.set(logicalId, { ref: ruleName, attributes: { Arn: ruleArn } });

  const queueTargets: string[] = [];
  const targets: Target[] = [];
  const rawTargets = Array.isArray(properties.Targets) ? properties.Targets : [];
  for (const [index, raw] of rawTargets.entries()) {
    if (!isRecord(raw)) continue;
    const targetId = resolveString(raw.Id, context, `rule ${logicalId} target Id`) ?? `Target${index}`;
    const targetLogicalId = referencedLogicalId(raw.Arn);
    const targetType = targetLogicalId ? template.Resources[targetLogicalId]?.Type : undefined;
    const queue = targetLogicalId ? messaging.queues.get(targetLogicalId) : undefined;
    if (queue && targetLogicalId) {
      targets.push(sqsTarget(raw, targetId, queue.arn, context));
      queueTargets.push(targetLogicalId);
    } else if (targetLogicalId && targetType && LAMBDA_TYPES.has(targetType)) {
      const input = resolveString(raw.Input, context, `rule ${logicalId} target Input`);
      const inputPath = resolveString(raw.InputPath, context, `rule ${logicalId} target InputPath`);
      messaging.lambdaTargets.push({
        ruleLogicalId: logicalId,
        ruleName,
        eventBusName,
        ...(eventPattern ? { eventPattern } : {}),
        ...(scheduleExpression ? { scheduleExpression } : {}),
        targetId,
        functionLogicalId: targetLogicalId,
        ...(input !== undefined ? { input } : {}),
        ...(inputPath !== undefined ? { inputPath } : {}),
      });
    } else {
      messaging.skippedTargets.push({
        ruleLogicalId: logicalId,
        targetId,
        reason: `target ${targetLogicalId ?? JSON.stringify(raw.Arn)} (${targetType ?? 'not in the template'}) has no local counterpart`,
      });
    }
  }
  if (targets.length > 0) {
    const result = await clients.eventBridge.send(
      new PutTargetsCommand({ Rule: ruleName, EventBusName: eventBusName, Targets: targets }),
    );
    if ((result.FailedEntryCount ?? 0) > 0) {
      throw new Error(`PutTargets on rule ${ruleName} failed: ${JSON.stringify(result.FailedEntries)}`);
    }
  }
  messaging.rules.set(logicalId, { name: ruleName, arn: ruleArn, eventBusName, queueTargets });
}

/**
 * The settings of an `AWS::Lambda::EventSourceMapping` that change delivery,
 * under their CloudFormation names (the stream poller's options take the
 * same names, so they spread into it). A setting the template leaves to the
 * service default is absent. The stream, function and on-failure
 * destination are given as logical ids in {@link EventSourceMappingInfo}.
 */
export interface EventSourceMappingSettings {
  readonly BatchSize?: number;
  readonly MaximumBatchingWindowInSeconds?: number;
  /** Patterns stay JSON strings, as CloudFormation and the Lambda API carry them. */
  readonly FilterCriteria?: { readonly Filters: { readonly Pattern: string }[] };
  readonly MaximumRetryAttempts?: number;
  readonly BisectBatchOnFunctionError?: boolean;
  /** E.g. `['ReportBatchItemFailures']`. */
  readonly FunctionResponseTypes?: string[];
  readonly MaximumRecordAgeInSeconds?: number;
  /** `AT_TIMESTAMP` exists only for Kinesis; a DynamoDB stream starts at one of these. */
  readonly StartingPosition?: 'TRIM_HORIZON' | 'LATEST';
  readonly ParallelizationFactor?: number;
  readonly TumblingWindowInSeconds?: number;
  readonly Enabled?: boolean;
}

/** One event source mapping of the template. */
export interface EventSourceMappingInfo {
  readonly logicalId: string;
  /** The function it invokes (through an alias or version, the function behind it). */
  readonly functionLogicalId?: string;
  /** The resource of its EventSourceArn (the table, for a DynamoDB stream). */
  readonly eventSourceLogicalId?: string;
  /** The resource of DestinationConfig.OnFailure.Destination (a queue or topic). */
  readonly onFailureLogicalId?: string;
  readonly properties: EventSourceMappingSettings;
}

function numberProperty(value: unknown, where: string): number | undefined {
  if (value === undefined) return undefined;
  const number = Number(value);
  if (!Number.isFinite(number))
    throw new TemplateResolutionError(`${where} must be a number, got ${JSON.stringify(value)}`);
  return number;
}

function booleanProperty(value: unknown): boolean | undefined {
  if (value === undefined) return undefined;
  return value === true || value === 'true';
}

function startingPosition(value: unknown, where: string): 'TRIM_HORIZON' | 'LATEST' | undefined {
  if (value === undefined || value === 'TRIM_HORIZON' || value === 'LATEST') return value;
  throw new TemplateResolutionError(
    `${where} StartingPosition ${JSON.stringify(value)} is not supported locally`,
  );
}

function filterCriteria(
  value: unknown,
  context: ResolveContext,
  where: string,
): EventSourceMappingSettings['FilterCriteria'] {
  if (!isRecord(value) || !Array.isArray(value.Filters) || value.Filters.length === 0) return undefined;
  const filters = value.Filters.map((filter) => {
    const pattern = resolve(isRecord(filter) ? filter.Pattern : undefined, context);
    if (typeof pattern === 'string') return { Pattern: pattern };
    // CloudFormation takes a string; an object here is still a pattern, so it is serialised rather than lost.
    if (isRecord(pattern)) return { Pattern: JSON.stringify(pattern) };
    throw new TemplateResolutionError(`${where} has a filter without a Pattern`);
  });
  return { Filters: filters };
}

/** A copy without the keys whose value is undefined, so a spread never overrides a default with undefined. */
function withoutUndefined<T extends object>(value: T): T {
  return Object.fromEntries(Object.entries(value).filter(([, item]) => item !== undefined)) as T;
}

/** Follows an alias or version to the function it points at. */
function functionBehind(template: CfnTemplate, logicalId: string | undefined): string | undefined {
  const resource = logicalId ? template.Resources[logicalId] : undefined;
  if (!resource || resource.Type === 'AWS::Lambda::Function') return logicalId;
  return referencedLogicalId(resource.Properties?.FunctionName) ?? logicalId;
}

/**
 * The template's `AWS::Lambda::EventSourceMapping` resources with the
 * settings the local stream poller applies (batch size and window, filter
 * criteria, retries, record age, bisect, response types, starting position,
 * parallelization, tumbling window, enabled), and the logical ids of the
 * function, the stream's table and the on-failure destination.
 */
export function eventSourceMappings(template: CfnTemplate): EventSourceMappingInfo[] {
  const context = localResolveContext();
  return findResources(template, 'AWS::Lambda::EventSourceMapping').map(({ logicalId, resource }) => {
    const p = resource.Properties ?? {};
    const where = `event source mapping ${logicalId}`;
    const settings: EventSourceMappingSettings = withoutUndefined({
      BatchSize: numberProperty(p.BatchSize, `${where} BatchSize`),
      MaximumBatchingWindowInSeconds: numberProperty(
        p.MaximumBatchingWindowInSeconds,
        `${where} batching window`,
      ),
      FilterCriteria: filterCriteria(p.FilterCriteria, context, where),
      MaximumRetryAttempts: numberProperty(p.MaximumRetryAttempts, `${where} MaximumRetryAttempts`),
      BisectBatchOnFunctionError: booleanProperty(p.BisectBatchOnFunctionError),
      FunctionResponseTypes: Array.isArray(p.FunctionResponseTypes)
        ? p.FunctionResponseTypes.map(String)
        : undefined,
      MaximumRecordAgeInSeconds: numberProperty(
        p.MaximumRecordAgeInSeconds,
        `${where} MaximumRecordAgeInSeconds`,
      ),
      StartingPosition: startingPosition(p.StartingPosition, where),
      ParallelizationFactor: numberProperty(p.ParallelizationFactor, `${where} ParallelizationFactor`),
      TumblingWindowInSeconds: numberProperty(p.TumblingWindowInSeconds, `${where} TumblingWindowInSeconds`),
      Enabled: booleanProperty(p.Enabled),
    });
    const functionLogicalId = functionBehind(template, referencedLogicalId(p.FunctionName));
    const eventSourceLogicalId = referencedLogicalId(p.EventSourceArn);
    const onFailureLogicalId =
      isRecord(p.DestinationConfig) && isRecord(p.DestinationConfig.OnFailure)
        ? referencedLogicalId(p.DestinationConfig.OnFailure.Destination)
        : undefined;
    return {
      logicalId,
      ...(functionLogicalId ? { functionLogicalId } : {}),
      ...(eventSourceLogicalId ? { eventSourceLogicalId } : {}),
      ...(onFailureLogicalId ? { onFailureLogicalId } : {}),
      properties: settings,
    };
  });
}

/** Metadata key naming a function's short handler name (`ServiceFunction` sets it on every function). */
export const HANDLER_METADATA = 'Outbox::Handler';
/** Metadata key naming a function's entry file relative to the repository root (`ServiceFunction` sets it). */
export const HANDLER_FILE_METADATA = 'Outbox::HandlerFile';
const HANDLER_NAME_PATTERN = /^[a-z][a-z0-9-]*$/;
/** A relative path of `.ts` file inside the repository: no `..`, no absolute path, nothing but plain names. */
const HANDLER_FILE_PATTERN = /^(?:[a-z][a-z0-9-]*\/)+[a-z][a-z0-9-]*\.ts$/;

/** A Lambda function of the template, as the local runtime runs it. */
export interface LocalFunctionDefinition {
  readonly logicalId: string;
  /** The function's local name (`<namespace>-<logical id>`, as a Ref to it resolves). */
  readonly functionName: string;
  readonly functionArn: string;
  /** The handler's short name (kebab case): its log file and consumer name. */
  readonly handlerName: string;
  /** Its entry file relative to the repository root, e.g. `lambdas/outbox/functions/relay.ts`. */
  readonly handlerFile: string;
  /** Its `Environment.Variables`, every reference resolved to the local resource. */
  readonly environment: Readonly<Record<string, string>>;
  readonly timeoutSeconds: number;
  readonly memorySize: number;
}

/** The resources created locally, by logical id, that function variables may refer to. */
export interface CreatedResources {
  readonly tables: ReadonlyMap<string, string>;
  readonly messaging: LocalMessaging;
}

/**
 * The template's functions that name their handler and its file (metadata
 * {@link HANDLER_METADATA} and {@link HANDLER_FILE_METADATA}), with their environment resolved against what was
 * created locally: a `Ref` to the table is its local name, to a queue its
 * URL, to a bus its name. Each function then gets the environment its stack
 * definition gives it, as in Lambda.
 */
export function localFunctions(
  template: CfnTemplate,
  created: CreatedResources,
  options: NamingOptions = {},
): LocalFunctionDefinition[] {
  const namespace = options.namespace ?? DEFAULT_NAMESPACE;
  const resources = placeholders(template, namespace);
  for (const [logicalId, name] of created.tables) {
    resources.set(logicalId, { ref: name, attributes: { Arn: arn('dynamodb', `table/${name}`) } });
  }
  for (const [logicalId, queue] of created.messaging.queues) {
    resources.set(logicalId, {
      ref: queue.url,
      attributes: { Arn: queue.arn, QueueUrl: queue.url, QueueName: queue.name },
    });
  }
  for (const [logicalId, bus] of created.messaging.buses) {
    resources.set(logicalId, { ref: bus.name, attributes: { Arn: bus.arn, Name: bus.name } });
  }
  const context = localResolveContext(namespace, resources);
  return findResources(template, 'AWS::Lambda::Function').flatMap(({ logicalId, resource }) => {
    const handlerName = resource.Metadata?.[HANDLER_METADATA];
    const handlerFile = resource.Metadata?.[HANDLER_FILE_METADATA];
    if (typeof handlerName !== 'string' || !HANDLER_NAME_PATTERN.test(handlerName)) return [];
    if (typeof handlerFile !== 'string' || !HANDLER_FILE_PATTERN.test(handlerFile)) return [];
    const properties = resource.Properties ?? {};
    const variables = resolve(
      isRecord(properties.Environment) ? properties.Environment.Variables : {},
      context,
    );
    const environment: Record<string, string> = {};
    for (const [name, value] of Object.entries(isRecord(variables) ? variables : {})) {
      environment[name] = asText(value, `${logicalId} variable ${name}`);
    }
    const functionName = localName(namespace, logicalId, undefined, FUNCTION_NAME_RULE);
    return [
      {
        logicalId,
        functionName,
        functionArn: arn('lambda', `function:${functionName}`),
        handlerName,
        handlerFile,
        environment,
        timeoutSeconds: numberProperty(properties.Timeout, `${logicalId} Timeout`) ?? 3,
        memorySize: numberProperty(properties.MemorySize, `${logicalId} MemorySize`) ?? 128,
      },
    ];
  });
}

/** Logical ids of the queues that are dead-letter queues: a queue's RedrivePolicy or a rule target's DeadLetterConfig. */
export function deadLetterQueueIds(template: CfnTemplate): string[] {
  const ids = new Set<string>();
  for (const { resource } of findResources(template, 'AWS::SQS::Queue')) {
    const redrive = resource.Properties?.RedrivePolicy;
    const id = isRecord(redrive) ? referencedLogicalId(redrive.deadLetterTargetArn) : undefined;
    if (id) ids.add(id);
  }
  for (const { resource } of findResources(template, 'AWS::Events::Rule')) {
    const targets = resource.Properties?.Targets;
    for (const target of Array.isArray(targets) ? targets : []) {
      const config = isRecord(target) ? target.DeadLetterConfig : undefined;
      const id = isRecord(config) ? referencedLogicalId(config.Arn) : undefined;
      if (id) ids.add(id);
    }
  }
  return [...ids];
}
