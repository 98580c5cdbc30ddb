/**
 * The event contracts generator: a catalogue as one JSON Schema file per
 * event type and version (docs/events/schemas/<type>/v<major>.<minor>.json)
 * and an AsyncAPI 3.0 document (docs/events/asyncapi.json) whose channels
 * are the bus and its rules, read from the synthesized stack, and whose
 * messages are the EventBridge events with each type's envelope and data.
 *
 * Files of earlier versions stay where they are: they are what the
 * breaking-change guard (./compatibility.ts) compares the catalogue with,
 * and the generator refuses to write while it finds a breaking change.
 */
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { App, Stack } from 'aws-cdk-lib';
import { Template } from 'aws-cdk-lib/assertions';
import type * as events from 'aws-cdk-lib/aws-events';
import { z } from 'zod';
import type { AnyEventCatalogue, EventDefinition } from '../lambdas/outbox';
import { SAMPLE_EVENTS } from '../lambdas/sample/domain/events';
import { OutboxConsumer } from '../lib/outbox/outbox-consumer';
import { OutboxStack } from '../lib/outbox-stack';
import { EVENT_SOURCE } from '../lib/sample/sample-api';
import { compareCatalogues, type JsonSchema, type SchemaVersion, type Violation } from './compatibility';

/** A file a generator writes, relative to the repository's root. */
export interface GeneratedFile {
  readonly path: string;
  readonly content: string;
}

/** One generator of `npm run contracts` (contracts/generate.ts). */
export interface ContractGenerator {
  readonly name: string;
  /** The files as they must be now; throws when they must not be written (a breaking change). */
  generate(root: string): Promise<readonly GeneratedFile[]>;
}

/** Where the event contracts live, relative to the repository's root. */
export const EVENTS_DIR = 'docs/events';
/** The JSON Schema files, one folder per event type. */
export const SCHEMAS_DIR = `${EVENTS_DIR}/schemas`;
/** The AsyncAPI document. */
export const ASYNCAPI_FILE = `${EVENTS_DIR}/asyncapi.json`;

const DRAFT_07 = 'http://json-schema.org/draft-07/schema#';
const SCHEMA_FILE = /^v(0|[1-9][0-9]*)\.(0|[1-9][0-9]*)\.json$/;

/**
 * The JSON Schema (draft-07) of an event type's data, as a consumer reads
 * it: zod's input shape, so objects stay open to fields a newer minor adds.
 */
export function dataSchemaOf(definition: EventDefinition): JsonSchema {
  const { $schema: _draft, ...schema } = z.toJSONSchema(definition.schema, {
    target: 'draft-7',
    io: 'input',
  }) as Record<string, unknown>;
  return schema;
}

/** Each event type's current version and data schema. */
export function currentSchemas(catalogue: AnyEventCatalogue): Record<string, SchemaVersion> {
  return Object.fromEntries(
    catalogue.eventTypes.map((eventType) => {
      const definition = catalogue.events[eventType] as EventDefinition;
      return [eventType, { version: definition.version, schema: dataSchemaOf(definition) }];
    }),
  );
}

/** The path of an event type's schema file of one version. */
export function schemaFilePath(eventType: string, version: string): string {
  return `${SCHEMAS_DIR}/${eventType}/v${version}.json`;
}

/** The JSON Schema file of one event type's current version. */
export function schemaFile(eventType: string, definition: EventDefinition): GeneratedFile {
  const { description, ...schema } = dataSchemaOf(definition);
  const document = {
    $schema: DRAFT_07,
    title: `${eventType} data, version ${definition.version}`,
    ...(definition.description || description ? { description: definition.description ?? description } : {}),
    ...schema,
  };
  return { path: schemaFilePath(eventType, definition.version), content: json(document) };
}

/** Every version of every event type published under `root`'s docs/events/schemas. */
export function readPublishedSchemas(root: string): Record<string, SchemaVersion[]> {
  const dir = join(root, SCHEMAS_DIR);
  if (!existsSync(dir)) return {};
  const published: Record<string, SchemaVersion[]> = {};
  for (const eventType of readdirSync(dir).sort()) {
    const versions: SchemaVersion[] = [];
    for (const file of readdirSync(join(dir, eventType)).sort()) {
      const match = SCHEMA_FILE.exec(file);
      if (!match) continue;
      const {
        $schema: _draft,
        title: _title,
        ...schema
      } = JSON.parse(readFileSync(join(dir, eventType, file), 'utf8')) as Record<string, unknown>;
      versions.push({ version: `${match[1]}.${match[2]}`, schema });
    }
    published[eventType] = versions;
  }
  return published;
}

/** An EventBridge rule on the bus, as a channel of the AsyncAPI document. */
export interface RuleChannel {
  /** Channel id: the consumer's name, else the rule's logical id. */
  readonly id: string;
  readonly description: string;
  /** The rule's event pattern, as deployed. */
  readonly eventPattern: Record<string, unknown>;
  /** The rule's logical id in the stack. */
  readonly logicalId: string;
  /** The consumer the rule delivers to, when it is an `OutboxConsumer`'s. */
  readonly consumer?: string;
  /** The rule's targets' retry policy and dead-letter queue, as deployed. */
  readonly targets: readonly Record<string, unknown>[];
}

/** What the AsyncAPI document describes. */
export interface AsyncApiOptions {
  readonly catalogue: AnyEventCatalogue;
  /** EventBridge `Source` of the events. */
  readonly source: string;
  readonly busName: string;
  readonly rules: readonly RuleChannel[];
  readonly title: string;
  readonly version: string;
  readonly description: string;
}

/** The event types a rule's pattern lets through (by `source` and `detail-type`; other fields are not judged). */
export function matchingTypes(
  catalogue: AnyEventCatalogue,
  source: string,
  pattern: Record<string, unknown>,
) {
  const sources = pattern.source;
  if (Array.isArray(sources) && !sources.includes(source)) return [];
  const detailTypes = pattern['detail-type'];
  return catalogue.eventTypes.filter(
    (eventType) => !Array.isArray(detailTypes) || detailTypes.includes(eventType),
  );
}

const ref = (path: string) => ({ $ref: path });

/** The AsyncAPI 3.0 document of a catalogue on a bus and its rules. */
export function asyncApiDocument(options: AsyncApiOptions): Record<string, unknown> {
  const { catalogue, source } = options;
  const messages: Record<string, unknown> = {};
  const schemas: Record<string, unknown> = {};
  for (const eventType of catalogue.eventTypes) {
    const definition = catalogue.events[eventType] as EventDefinition;
    const data = schemaFile(eventType, definition);
    const { $schema: _draft, ...dataSchema } = JSON.parse(data.content) as Record<string, unknown>;
    schemas[`${eventType}.data`] = dataSchema;
    schemas[`${eventType}.detail`] = detailSchema(eventType, definition.version);
    schemas[`${eventType}.event`] = eventBridgeSchema(eventType, source);
    messages[eventType] = {
      name: eventType,
      title: eventType,
      summary: definition.description ?? eventType,
      contentType: 'application/json',
      correlationId: {
        description: 'The request that caused the event.',
        location: '$message.payload#/detail/correlationId',
      },
      payload: ref(`#/components/schemas/${eventType}.event`),
      'x-data-version': definition.version,
      'x-data-schema': data.path.slice(EVENTS_DIR.length + 1),
    };
  }
  const channelMessages = (types: readonly string[]) =>
    Object.fromEntries(types.map((eventType) => [eventType, ref(`#/components/messages/${eventType}`)]));
  const channels: Record<string, unknown> = {
    bus: {
      address: options.busName,
      title: 'The outbox bus',
      description:
        'The EventBridge bus the relay publishes every committed outbox event to, in order per aggregate, at least once.',
      messages: channelMessages(catalogue.eventTypes),
    },
  };
  const operations: Record<string, unknown> = {
    publish: {
      action: 'send',
      channel: ref('#/channels/bus'),
      title: 'Publish committed events',
      summary: `The relay sends each outbox event with Source ${source} and DetailType its event type.`,
      messages: catalogue.eventTypes.map((eventType) => ref(`#/channels/bus/messages/${eventType}`)),
    },
  };
  for (const rule of options.rules) {
    const types = matchingTypes(catalogue, source, rule.eventPattern);
    channels[rule.id] = {
      address: null,
      title: rule.consumer ? `Rule of consumer ${rule.consumer}` : `Rule ${rule.logicalId}`,
      description: `${rule.description}. EventBridge rule on ${options.busName} with the pattern in x-eventbridge-rule.`,
      messages: channelMessages(types),
      'x-eventbridge-rule': {
        logicalId: rule.logicalId,
        eventBusName: options.busName,
        eventPattern: rule.eventPattern,
        targets: rule.targets,
      },
    };
    operations[`receive-${rule.id}`] = {
      action: 'receive',
      channel: ref(`#/channels/${rule.id}`),
      title: rule.consumer ? `Consumer ${rule.consumer}` : `Targets of ${rule.logicalId}`,
      messages: types.map((eventType) => ref(`#/channels/${rule.id}/messages/${eventType}`)),
    };
  }
  return {
    asyncapi: '3.0.0',
    info: { title: options.title, version: options.version, description: options.description },
    defaultContentType: 'application/json',
    channels,
    operations,
    components: { messages, schemas },
  };
}

/** The outbox envelope (`detail`) of one event type. */
function detailSchema(eventType: string, version: string): JsonSchema {
  return {
    type: 'object',
    description: 'The outbox envelope, as the relay sends it as Detail.',
    required: [
      'eventId',
      'eventType',
      'aggregateType',
      'aggregateId',
      'sequence',
      'occurredAt',
      'correlationId',
      'data',
    ],
    properties: {
      eventId: {
        type: 'string',
        minLength: 1,
        description: 'Unique per event; consumers deduplicate by it.',
      },
      eventType: { type: 'string', const: eventType },
      aggregateType: { type: 'string', minLength: 1 },
      aggregateId: { type: 'string', minLength: 1 },
      sequence: {
        type: 'integer',
        minimum: 1,
        description: "The aggregate's version after the event; orders the aggregate's events.",
      },
      occurredAt: { type: 'string', format: 'date-time', description: 'ISO 8601 UTC with milliseconds.' },
      correlationId: { type: 'string', minLength: 1 },
      dataVersion: {
        type: 'string',
        pattern: '^(0|[1-9][0-9]*)\\.(0|[1-9][0-9]*)$',
        description: `The version of data's schema (${version} now). A consumer takes any minor of its major; events written before versions were recorded have none.`,
      },
      data: ref(`#/components/schemas/${eventType}.data`),
    },
  };
}

/** The EventBridge event of one event type, as a rule delivers it. */
function eventBridgeSchema(eventType: string, source: string): JsonSchema {
  return {
    type: 'object',
    description: 'The EventBridge event; detail is the outbox envelope.',
    required: ['version', 'id', 'detail-type', 'source', 'account', 'time', 'region', 'resources', 'detail'],
    properties: {
      version: { type: 'string', const: '0' },
      id: { type: 'string' },
      'detail-type': { type: 'string', const: eventType },
      source: { type: 'string', const: source },
      account: { type: 'string' },
      time: { type: 'string', format: 'date-time', description: "The event's occurredAt, to the second." },
      region: { type: 'string' },
      resources: { type: 'array', items: { type: 'string' } },
      detail: ref(`#/components/schemas/${eventType}.detail`),
    },
  };
}

/** The rules with an event pattern on the stack's outbox bus, with the consumer each delivers to. */
export function rulesOf(stack: Stack, bus: events.IEventBus): RuleChannel[] {
  const template = Template.fromStack(stack).toJSON() as {
    Resources: Record<string, { Type: string; Properties?: Record<string, unknown> }>;
  };
  const busId = stack.getLogicalId(bus.node.defaultChild as events.CfnEventBus);
  const consumers = new Map<string, string>();
  for (const construct of stack.node.findAll()) {
    if (construct instanceof OutboxConsumer) {
      consumers.set(
        stack.getLogicalId(construct.rule.node.defaultChild as events.CfnRule),
        construct.consumerName,
      );
    }
  }
  const rules: RuleChannel[] = [];
  for (const [logicalId, resource] of Object.entries(template.Resources).sort(([a], [b]) =>
    a.localeCompare(b),
  )) {
    const properties = resource.Properties ?? {};
    if (resource.Type !== 'AWS::Events::Rule' || !properties.EventPattern) continue;
    if (JSON.stringify(properties.EventBusName) !== JSON.stringify({ Ref: busId })) continue;
    const consumer = consumers.get(logicalId);
    rules.push({
      id: consumer ?? logicalId,
      description: String(properties.Description ?? logicalId),
      eventPattern: properties.EventPattern as Record<string, unknown>,
      logicalId,
      ...(consumer ? { consumer } : {}),
      targets: ((properties.Targets ?? []) as Record<string, unknown>[]).map((target) => ({
        ...(target.RetryPolicy ? { retryPolicy: target.RetryPolicy } : {}),
        deadLetterQueue: target.DeadLetterConfig !== undefined,
      })),
    });
  }
  return rules;
}

/** The stage whose stack the sample's contract describes: the production one (dev adds the tap). */
const CONTRACT_STAGE = 'prod';

/** The breaking changes the generator refused to publish. */
export class BreakingChangeError extends Error {
  override name = 'BreakingChangeError';
  constructor(readonly violations: readonly Violation[]) {
    super(
      `the event catalogue breaks its published contract (${EVENTS_DIR}/README.md lists the rules):\n${violations
        .map(describeViolation)
        .join('\n')}`,
    );
  }
}

/** One line per violation, for people. */
export function describeViolation(violation: Violation): string {
  const where = violation.path ? ` ${violation.path}` : '';
  const against = violation.against ? ` (against ${violation.against})` : '';
  return `- ${violation.eventType}${where}: ${violation.rule}${against}: ${violation.detail}`;
}

/** The sample service's event contracts: its catalogue on the stack's bus and rules. */
export const eventContracts: ContractGenerator = {
  name: 'events',
  async generate(root) {
    const catalogue = SAMPLE_EVENTS;
    const violations = compareCatalogues(readPublishedSchemas(root), currentSchemas(catalogue));
    if (violations.length > 0) throw new BreakingChangeError(violations);
    const app = new App({ context: { 'aws:cdk:bundling-stacks': [] } });
    const stack = new OutboxStack(app, `Outbox-${CONTRACT_STAGE}`, { stage: CONTRACT_STAGE });
    const bus = stack.outbox.eventBus;
    const busName = Stack.of(stack).resolve(bus.eventBusName) as unknown;
    const template = Template.fromStack(stack).toJSON() as {
      Resources: Record<string, { Properties?: { Name?: unknown } }>;
    };
    const busResource = template.Resources[stack.getLogicalId(bus.node.defaultChild as events.CfnEventBus)];
    const name = typeof busName === 'string' ? busName : String(busResource?.Properties?.Name ?? 'outbox');
    const packageVersion = (
      JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')) as { version: string }
    ).version;
    const document = asyncApiDocument({
      catalogue,
      source: EVENT_SOURCE,
      busName: name,
      rules: rulesOf(stack, bus),
      title: 'Members and orders: events',
      version: packageVersion,
      description:
        `The events of the sample service (Source ${EVENT_SOURCE}), published through the transactional outbox ` +
        `to its EventBridge bus (${name} in the ${CONTRACT_STAGE} stage; outbox-<stage> in each stage), and the ` +
        'rules that deliver them. Generated by npm run contracts from lambdas/sample/domain/events.ts and the synthesized ' +
        'stack; do not edit.',
    });
    return [
      ...catalogue.eventTypes.map((eventType) =>
        schemaFile(eventType, catalogue.events[eventType] as EventDefinition),
      ),
      { path: ASYNCAPI_FILE, content: json(document) },
    ];
  },
};

function json(value: unknown): string {
  return `${JSON.stringify(value, null, 2)}\n`;
}
