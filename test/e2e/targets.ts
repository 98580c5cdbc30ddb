/**
 * Where the end-to-end suite runs. One suite body, three targets:
 * - `local` (default): the local runtime in this process, on the servers the
 *   global setup started;
 * - `localstack`: the stack deployed with cdklocal (`npm run test:localstack`),
 *   through LocalStack's APIs; the API through a stand-in that invokes its
 *   functions, as LocalStack has no API Gateway v2 (./localstack-target.ts);
 * - `aws`: a deployed stack, found through its CloudFormation outputs.
 * Choose with E2E_TARGET; E2E_STACK names the stack (default `Outbox-dev`).
 */

import { Sha256 } from '@aws-crypto/sha256-js';
import { CloudFormationClient, DescribeStacksCommand } from '@aws-sdk/client-cloudformation';
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { SQSClient } from '@aws-sdk/client-sqs';
import { fromNodeProviderChain } from '@aws-sdk/credential-providers';
import type { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { HttpRequest } from '@smithy/protocol-http';
import { SignatureV4 } from '@smithy/signature-v4';
import { inject } from 'vitest';
import { createDocumentClient } from '../../lambdas/sample/shared/clients';
import type { SentMail } from '../../local/consumers';

export type TargetName = 'local' | 'localstack' | 'aws';

/** A reply of the API. */
export interface Reply {
  readonly status: number;
  readonly headers: Headers;
  readonly body: Record<string, unknown>;
}

/** What the suite needs of a target. */
export interface E2eTarget {
  readonly name: TargetName;
  readonly apiUrl: string;
  readonly tableName: string;
  readonly db: DynamoDBDocumentClient;
  readonly sqs: SQSClient;
  readonly tapQueueUrl: string;
  /** The tap queue hands events over in the order they were put (moto does; SQS standard queues do not). */
  readonly orderedTap: boolean;
  /** Stream records the relay was invoked with, where the target can tell (local only). */
  readonly relayRecordCount?: () => number;
  /** Resolves when the stream is drained and the relay idle, where the target can tell (local only). */
  readonly settle?: () => Promise<void>;
  /** Every mail the consumers sent so far, where the target can read mail back (local only: moto's SES). */
  readonly sentMail?: () => Promise<readonly SentMail[]>;
  /** Resolves when every consumer queue is drained and no consumer runs, where the target can tell (local only). */
  readonly consumersIdle?: () => Promise<void>;
  /** Sends a request to the API, signed with SigV4 where the API requires it. */
  request(method: string, path: string, body?: unknown, headers?: Record<string, string>): Promise<Reply>;
  stop(): Promise<void>;
}

/** The target E2E_TARGET names; anything else is an error, never a silent default. */
export function targetName(): TargetName {
  const name = process.env.E2E_TARGET ?? 'local';
  if (name === 'local' || name === 'localstack' || name === 'aws') return name;
  throw new Error(`E2E_TARGET must be local, localstack or aws, got ${JSON.stringify(name)}`);
}

/** Opens the target the environment names. */
export async function openTarget(): Promise<E2eTarget> {
  const name = targetName();
  if (name === 'local') return openLocal();
  if (name === 'localstack') return (await import('./localstack-target')).openLocalStack();
  return openDeployed();
}

async function send(
  url: string,
  method: string,
  body: unknown,
  headers: Record<string, string>,
  sign?: (request: HttpRequest) => Promise<HttpRequest>,
): Promise<Reply> {
  const target = new URL(url);
  const payload = body === undefined ? undefined : typeof body === 'string' ? body : JSON.stringify(body);
  let request = new HttpRequest({
    method,
    protocol: target.protocol,
    hostname: target.hostname,
    ...(target.port ? { port: Number(target.port) } : {}),
    path: target.pathname,
    headers: {
      host: target.host,
      ...(payload === undefined ? {} : { 'content-type': 'application/json' }),
      ...headers,
    },
    ...(payload === undefined ? {} : { body: payload }),
  });
  if (sign) request = await sign(request);
  const response = await fetch(url, {
    method,
    headers: request.headers,
    ...(payload === undefined ? {} : { body: payload }),
  });
  const text = await response.text();
  let parsed: Record<string, unknown> = {};
  if (text) {
    try {
      parsed = JSON.parse(text) as Record<string, unknown>;
    } catch {
      parsed = { raw: text };
    }
  }
  return { status: response.status, headers: response.headers, body: parsed };
}

async function openLocal(): Promise<E2eTarget> {
  const { startLocalRuntime } = await import('../../local/runtime');
  const runtime = await startLocalRuntime({
    dynamoDbEndpoint: inject('dynamoDbEndpoint'),
    motoEndpoint: inject('motoEndpoint'),
    namespace: `e2e${Date.now().toString(36)}`,
    eventsFile: null,
    // A free port: 3000 is `npm start`'s, which may be running beside the tests.
    port: 0,
  });
  const credentials = { accessKeyId: 'test', secretAccessKey: 'test' };
  const tapQueueUrl = runtime.tapQueueUrl;
  if (!tapQueueUrl) throw new Error('the local runtime has no tap queue; is the dev stage synthesized?');
  return {
    name: 'local',
    apiUrl: runtime.apiUrl,
    tableName: runtime.tableName,
    db: createDocumentClient(
      new DynamoDBClient({ endpoint: runtime.dynamoDbEndpoint, region: 'us-east-1', credentials }),
    ),
    sqs: new SQSClient({ endpoint: runtime.motoEndpoint, region: 'us-east-1', credentials }),
    tapQueueUrl,
    orderedTap: true,
    relayRecordCount: () => runtime.relayStats().records,
    settle: () => runtime.idle(),
    sentMail: async () => (await import('../../local/consumers')).readSentMail(runtime.motoEndpoint),
    consumersIdle: () => runtime.consumers.idle(),
    request: (method, path, body, headers = {}) => send(`${runtime.apiUrl}${path}`, method, body, headers),
    stop: () => runtime.stop(),
  };
}

async function openDeployed(): Promise<E2eTarget> {
  const stackName = process.env.E2E_STACK ?? 'Outbox-dev';
  const region = process.env.AWS_REGION ?? 'us-east-1';
  const config = { region };
  const stacks = await new CloudFormationClient(config).send(
    new DescribeStacksCommand({ StackName: stackName }),
  );
  const outputs = new Map(
    (stacks.Stacks?.[0]?.Outputs ?? []).map((output) => [output.OutputKey, output.OutputValue]),
  );
  const output = (key: string): string => {
    const value = outputs.get(key);
    if (!value) throw new Error(`stack ${stackName} has no output ${key}; deploy the dev stage`);
    return value;
  };
  const apiUrl = output('ApiUrl').replace(/\/$/, '');
  const credentials = fromNodeProviderChain();
  const signer = new SignatureV4({ service: 'execute-api', region, credentials, sha256: Sha256 });
  return {
    name: 'aws',
    apiUrl,
    tableName: output('TableName'),
    db: createDocumentClient(new DynamoDBClient(config)),
    sqs: new SQSClient(config),
    tapQueueUrl: output('TapQueueUrl'),
    orderedTap: false,
    request: (method, path, body, headers = {}) =>
      send(
        `${apiUrl}${path}`,
        method,
        body,
        headers,
        async (request) => (await signer.sign(request)) as HttpRequest,
      ),
    stop: async () => undefined,
  };
}
