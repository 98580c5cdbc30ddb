/**
 * Global setup of the `integration` and `e2e` projects: DynamoDB Local (in
 * memory) and moto server on free loopback ports, started once per run and
 * stopped after the last test file.
 *
 * Tests read the endpoints with `inject('dynamoDbEndpoint')` and
 * `inject('motoEndpoint')` (or the helpers in ./local-env). Workers also get
 * DYNAMODB_ENDPOINT, EVENTBRIDGE_ENDPOINT and SQS_ENDPOINT, the overrides
 * lambdas/sample/shared/clients.ts reads. AWS_ENDPOINT_URL is deliberately not set:
 * the SDK itself honours it, so it would silently turn every client,
 * including a deployed target's, towards moto.
 */
import type { TestProject } from 'vitest/node';
import { type LocalServer, startDynamoDbLocal } from '../../local/dynamodb-local';
import { startMoto } from '../../local/moto';

declare module 'vitest' {
  export interface ProvidedContext {
    /** `http://127.0.0.1:<port>` of the run's DynamoDB Local (shared database, in memory). */
    dynamoDbEndpoint: string;
    /** `http://127.0.0.1:<port>` of the run's moto server (account 123456789012). */
    motoEndpoint: string;
  }
}

interface SharedServers {
  readonly started: Promise<{ dynamoDb: LocalServer; moto: LocalServer }>;
  users: number;
}

/**
 * Vitest runs a project's global setup once per project, and both projects
 * use this file in one process: the servers are kept on `globalThis` with a
 * count of users, so a full run starts one pair, not one a project.
 */
const SHARED_KEY = Symbol.for('dynamodb-outbox.local-servers');
type GlobalWithServers = typeof globalThis & { [SHARED_KEY]?: SharedServers };

async function startServers(): Promise<{ dynamoDb: LocalServer; moto: LocalServer }> {
  const [dynamoDb, moto] = await Promise.allSettled([startDynamoDbLocal({ inMemory: true }), startMoto()]);
  if (dynamoDb.status === 'fulfilled' && moto.status === 'fulfilled') {
    return { dynamoDb: dynamoDb.value, moto: moto.value };
  }
  // One failed: stop the other, then report the failure(s).
  await Promise.all(
    [dynamoDb, moto].map((result) => (result.status === 'fulfilled' ? result.value.stop() : undefined)),
  );
  const reasons = [dynamoDb, moto].flatMap((result) => (result.status === 'rejected' ? [result.reason] : []));
  throw reasons.length === 1
    ? reasons[0]
    : new AggregateError(reasons, 'DynamoDB Local and moto server failed to start');
}

/** Starts (or joins) the run's servers and provides their endpoints; the returned teardown stops them last. */
export default async function setup(project: TestProject): Promise<() => Promise<void>> {
  // A deployed e2e target (localstack, aws) needs no local servers, and may run where Java and moto are absent.
  if (project.name === 'e2e' && (process.env.E2E_TARGET ?? 'local') !== 'local') return async () => undefined;

  const global = globalThis as GlobalWithServers;
  let shared = global[SHARED_KEY];
  if (!shared) {
    shared = { started: startServers(), users: 0 };
    global[SHARED_KEY] = shared;
  }
  shared.users += 1;
  const current = shared;
  let servers: { dynamoDb: LocalServer; moto: LocalServer };
  try {
    servers = await current.started;
  } catch (error) {
    delete global[SHARED_KEY];
    throw error;
  }

  project.provide('dynamoDbEndpoint', servers.dynamoDb.endpoint);
  project.provide('motoEndpoint', servers.moto.endpoint);
  // Workers are forked after global setup and inherit this environment.
  process.env.DYNAMODB_ENDPOINT = servers.dynamoDb.endpoint;
  process.env.EVENTBRIDGE_ENDPOINT = servers.moto.endpoint;
  process.env.SQS_ENDPOINT = servers.moto.endpoint;

  return async () => {
    current.users -= 1;
    if (current.users > 0) return;
    delete global[SHARED_KEY];
    await Promise.all([servers.dynamoDb.stop(), servers.moto.stop()]);
  };
}
