/**
 * DynamoDB Local's readiness probe against a server as slow as a fresh
 * DynamoDB Local on a loaded machine, whose first answer took 5.8 s.
 */
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { answers, PROBE_REQUEST_TIMEOUT_MS, probeClient } from '../../../local/dynamodb-local';

const FIRST_ANSWER_MS = 5_800;

let server: Server | undefined;

afterEach(async () => {
  server?.closeAllConnections();
  await new Promise<void>((resolve) => (server ? server.close(() => resolve()) : resolve()));
  server = undefined;
});

/** A DynamoDB endpoint that answers ListTables after `delayMs`. */
async function slowDynamoDb(delayMs: number): Promise<string> {
  server = createServer((request, response) => {
    request.resume();
    request.on('end', () => {
      setTimeout(() => {
        response.writeHead(200, { 'content-type': 'application/x-amz-json-1.0' });
        response.end(JSON.stringify({ TableNames: [] }));
      }, delayMs);
    });
  });
  await new Promise<void>((resolve) => server?.listen(0, '127.0.0.1', () => resolve()));
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
}

describe('DynamoDB Local readiness probe', () => {
  it('waits for a first answer as slow as a fresh DynamoDB Local on a loaded machine', async () => {
    expect(PROBE_REQUEST_TIMEOUT_MS).toBeGreaterThan(FIRST_ANSWER_MS);
    const client = probeClient(await slowDynamoDb(FIRST_ANSWER_MS));
    try {
      await expect(answers(client)).resolves.toBe(true);
    } finally {
      client.destroy();
    }
  }, 30_000);

  it('is not ready while nothing listens', async () => {
    const endpoint = await slowDynamoDb(0);
    await new Promise<void>((resolve) => server?.close(() => resolve()));
    server = undefined;
    const client = probeClient(endpoint);
    try {
      await expect(answers(client)).rejects.toThrow();
    } finally {
      client.destroy();
    }
  });
});
