/**
 * Helpers for tests that run against the servers of the global setup
 * (./global-setup.ts): clients aimed at them, and the stack's own resources
 * created from the synthesized template under a namespace unique to the
 * caller, so test files never share a table, queue or bus.
 */
import { randomBytes } from 'node:crypto';
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { EventBridgeClient } from '@aws-sdk/client-eventbridge';
import { SQSClient } from '@aws-sdk/client-sqs';
import type { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { inject } from 'vitest';
import { createDocumentClient } from '../../lambdas/sample/shared/clients';
import type { Stage } from '../../lib/stage';
import {
  createMessagingFromTemplate,
  createTablesFromTemplate,
  findResources,
  LOCAL_REGION,
  type LocalMessaging,
  referencedLogicalId,
} from '../../local/resources';
import { type CfnTemplate, synthTemplate } from '../../local/synth';

/** Credentials the local servers accept (any would do; DynamoDB Local runs with -sharedDb). */
export const LOCAL_CREDENTIALS = { accessKeyId: 'test', secretAccessKey: 'test' } as const;

/** Endpoints of the run's DynamoDB Local and moto server. */
export interface LocalEndpoints {
  readonly dynamoDb: string;
  readonly moto: string;
}

/** The endpoints the global setup provided; throws when the test's project has no such setup. */
export function localEndpoints(): LocalEndpoints {
  const dynamoDb = inject('dynamoDbEndpoint');
  const moto = inject('motoEndpoint');
  if (!dynamoDb || !moto) {
    throw new Error(
      'no local endpoints: run this test in the integration or e2e project (test/helpers/global-setup.ts)',
    );
  }
  return { dynamoDb, moto };
}

const clientConfig = { region: LOCAL_REGION, credentials: LOCAL_CREDENTIALS };

/** A DynamoDB client aimed at the run's DynamoDB Local. */
export function localDynamoDbClient(): DynamoDBClient {
  return new DynamoDBClient({ ...clientConfig, endpoint: localEndpoints().dynamoDb });
}

/** A document client aimed at the run's DynamoDB Local, configured as the Lambdas' is. */
export function localDocumentClient(): DynamoDBDocumentClient {
  return createDocumentClient(localDynamoDbClient());
}

/** An EventBridge client aimed at the run's moto server. */
export function localEventBridgeClient(): EventBridgeClient {
  return new EventBridgeClient({ ...clientConfig, endpoint: localEndpoints().moto });
}

/** An SQS client aimed at the run's moto server. */
export function localSqsClient(): SQSClient {
  return new SQSClient({ ...clientConfig, endpoint: localEndpoints().moto });
}

/**
 * A namespace for resource names unique to this call: `<label>-<random>`.
 * The label says which test file made a resource when one is inspected.
 */
export function uniqueNamespace(label: string): string {
  const clean = label.replace(/[^A-Za-z0-9-]/g, '-').slice(0, 24) || 'test';
  return `${clean}-${randomBytes(4).toString('hex')}`;
}

const templates = new Map<Stage, Promise<CfnTemplate>>();

/** The stack's synthesized template, once per stage and test file (a synth takes seconds). */
export function stackTemplate(stage: Stage = 'dev'): Promise<CfnTemplate> {
  let template = templates.get(stage);
  if (!template) {
    template = synthTemplate(stage);
    // A failed synth is not cached, so the next caller sees the real error again.
    template.catch(() => templates.delete(stage));
    templates.set(stage, template);
  }
  return template;
}

/** The logical id of the stack's outbox table: the one its `TableName` output names, else its only table. */
export function outboxTableLogicalId(template: CfnTemplate): string {
  const fromOutput = referencedLogicalId(template.Outputs?.TableName?.Value);
  if (fromOutput) return fromOutput;
  const tables = findResources(template, 'AWS::DynamoDB::Table', 'AWS::DynamoDB::GlobalTable');
  const [only] = tables;
  if (!only || tables.length > 1) {
    throw new Error(`expected one table in the template, found ${tables.length}; add a TableName output`);
  }
  return only.logicalId;
}

/** A table created for one test file. */
export interface TestTable {
  readonly tableName: string;
  /** DynamoDB Local's endpoint. */
  readonly endpoint: string;
  /** The namespace its name starts with. */
  readonly namespace: string;
  /** A client aimed at DynamoDB Local. */
  readonly client: DynamoDBClient;
}

/**
 * Creates the stack's outbox table (keys, pending index, stream, TTL: all
 * from the synthesized template) in DynamoDB Local under a unique name.
 *
 * @param label names the caller in the table's name, e.g. the test file's subject
 */
export async function createTestTable(label: string, stage: Stage = 'dev'): Promise<TestTable> {
  const template = await stackTemplate(stage);
  const namespace = uniqueNamespace(label);
  const client = localDynamoDbClient();
  const tables = await createTablesFromTemplate(template, client, { namespace });
  const tableName = tables.get(outboxTableLogicalId(template));
  if (!tableName) throw new Error('the outbox table was not created');
  return { tableName, endpoint: localEndpoints().dynamoDb, namespace, client };
}

/** The stack's buses, rules and queues created for one test file. */
export interface TestMessaging extends LocalMessaging {
  /** moto's endpoint. */
  readonly endpoint: string;
  readonly namespace: string;
  readonly eventBridge: EventBridgeClient;
  readonly sqs: SQSClient;
}

/** Creates the stack's buses, rules and queues in moto under a unique namespace. */
export async function createTestMessaging(label: string, stage: Stage = 'dev'): Promise<TestMessaging> {
  const template = await stackTemplate(stage);
  const namespace = uniqueNamespace(label);
  const eventBridge = localEventBridgeClient();
  const sqs = localSqsClient();
  const messaging = await createMessagingFromTemplate(template, { eventBridge, sqs }, { namespace });
  return { ...messaging, endpoint: localEndpoints().moto, namespace, eventBridge, sqs };
}

/**
 * The stack's table, bus, tap queue and poison queue, created for one test
 * under unique names, with clients aimed at them. No relay runs: events stay
 * pending until the test publishes them.
 */
export interface StackWorld {
  readonly tableName: string;
  readonly dynamoDb: DynamoDBClient;
  readonly doc: DynamoDBDocumentClient;
  readonly eventBridge: EventBridgeClient;
  readonly sqs: SQSClient;
  readonly busName: string;
  readonly tapQueueUrl: string;
  readonly poisonQueueUrl: string;
  /** Releases the clients. */
  destroy(): void;
}

/** Creates a {@link StackWorld}; `label` names the caller in the resources' names. */
export async function createStackWorld(label: string): Promise<StackWorld> {
  const template = await stackTemplate('dev');
  const table = await createTestTable(label);
  const messaging = await createTestMessaging(label);
  const queueUrl = (output: string): string => {
    const queue = messaging.queues.get(referencedLogicalId(template.Outputs?.[output]?.Value) ?? '');
    if (!queue) throw new Error(`the stack has no queue behind its ${output} output`);
    return queue.url;
  };
  const bus = messaging.buses.values().next().value;
  if (!bus) throw new Error('the stack has no event bus');
  return {
    tableName: table.tableName,
    dynamoDb: table.client,
    doc: createDocumentClient(table.client),
    eventBridge: messaging.eventBridge,
    sqs: messaging.sqs,
    busName: bus.name,
    tapQueueUrl: queueUrl('TapQueueUrl'),
    poisonQueueUrl: queueUrl('PoisonQueueUrl'),
    destroy: () => {
      for (const client of [table.client, messaging.eventBridge, messaging.sqs]) client.destroy();
    },
  };
}
