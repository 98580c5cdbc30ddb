/**
 * A fault proxy in front of LocalStack's EventBridge, for the localstack
 * target only (scripts/test-localstack.sh starts it and points the deployed
 * functions' EVENTBRIDGE_ENDPOINT at it through the runtime executor).
 *
 * It forwards every request unchanged, except PutEvents calls whose body
 * contains a string a test armed: those are refused with the answer
 * EventBridge gives when IAM denies `events:PutEvents` (HTTP 400,
 * `AccessDeniedException`), so a test can make one batch's PutEvents fail
 * without touching the relay, its configuration or the stack. LocalStack
 * itself cannot be made to fail PutEvents: it accepts events for a deleted
 * bus and enforces no IAM in the community edition.
 *
 * Control API (JSON): `POST /__faults/put-events {"match": "...", "times": n}`
 * arms a refusal; `GET /__faults/put-events` lists the refusals made so far.
 *
 * Run: `tsx test/e2e/localstack-fault-proxy.ts --target <url> --port-file <file>`.
 */
import { writeFileSync } from 'node:fs';
import { createServer, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';

const CONTROL_PATH = '/__faults/put-events';

/** One armed refusal. */
interface FaultRule {
  readonly match: string;
  remaining: number;
}

/** A PutEvents call the proxy refused. */
export interface Refusal {
  readonly match: string;
  readonly at: string;
  /** The refused request's entries' `Detail` strings. */
  readonly details: readonly string[];
}

/** A running fault proxy. */
export interface FaultProxy {
  readonly url: string;
  stop(): Promise<void>;
}

function readBody(request: IncomingMessage): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    request.on('data', (chunk: Buffer) => chunks.push(chunk));
    request.on('end', () => resolve(Buffer.concat(chunks)));
    request.on('error', reject);
  });
}

function detailsOf(body: string): string[] {
  try {
    const parsed = JSON.parse(body) as { Entries?: { Detail?: unknown }[] };
    return (parsed.Entries ?? []).map((entry) => String(entry.Detail ?? ''));
  } catch {
    return [];
  }
}

/** Starts the proxy on 127.0.0.1 (a free port unless given), forwarding to `target`. */
export async function startFaultProxy(target: string, port = 0): Promise<FaultProxy> {
  const upstream = new URL(target);
  const rules: FaultRule[] = [];
  const refusals: Refusal[] = [];

  const server: Server = createServer(async (request, response) => {
    try {
      const body = await readBody(request);
      if (request.url === CONTROL_PATH) {
        if (request.method === 'POST') {
          const rule = JSON.parse(body.toString('utf8')) as { match?: unknown; times?: unknown };
          if (typeof rule.match !== 'string' || rule.match === '' || typeof rule.times !== 'number') {
            response.writeHead(400, { 'content-type': 'application/json' });
            response.end(
              JSON.stringify({ message: 'expected {"match": "<non-empty string>", "times": <number>}' }),
            );
            return;
          }
          rules.push({ match: rule.match, remaining: rule.times });
          response.writeHead(204).end();
          return;
        }
        response.writeHead(200, { 'content-type': 'application/json' });
        response.end(JSON.stringify({ refusals }));
        return;
      }
      const text = body.toString('utf8');
      const rule =
        request.headers['x-amz-target'] === 'AWSEvents.PutEvents'
          ? rules.find((candidate) => candidate.remaining > 0 && text.includes(candidate.match))
          : undefined;
      if (rule) {
        rule.remaining -= 1;
        refusals.push({ match: rule.match, at: new Date().toISOString(), details: detailsOf(text) });
        response.writeHead(400, { 'content-type': 'application/x-amz-json-1.1' });
        response.end(
          JSON.stringify({
            __type: 'AccessDeniedException',
            message: 'not authorized to perform: events:PutEvents (refused by the localstack fault proxy)',
          }),
        );
        return;
      }
      const headers = new Headers();
      for (const [name, value] of Object.entries(request.headers)) {
        if (value === undefined || name === 'host' || name === 'connection' || name === 'content-length')
          continue;
        headers.set(name, Array.isArray(value) ? value.join(',') : value);
      }
      const forwarded = await fetch(new URL(request.url ?? '/', upstream), {
        method: request.method ?? 'GET',
        headers,
        ...(body.length > 0 ? { body } : {}),
      });
      const answer = Buffer.from(await forwarded.arrayBuffer());
      const answerHeaders: Record<string, string> = {};
      forwarded.headers.forEach((value, name) => {
        if (name !== 'content-encoding' && name !== 'transfer-encoding' && name !== 'content-length') {
          answerHeaders[name] = value;
        }
      });
      response.writeHead(forwarded.status, { ...answerHeaders, 'content-length': String(answer.length) });
      response.end(answer);
    } catch (error) {
      response.writeHead(502, { 'content-type': 'application/json' });
      response.end(JSON.stringify({ message: `fault proxy: ${String(error)}` }));
    }
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, '127.0.0.1', () => resolve());
  });
  const { port: bound } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${bound}`,
    stop: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

/** Arms the proxy at `proxyUrl` to refuse the next `times` PutEvents calls whose body contains `match`. */
export async function refusePutEvents(proxyUrl: string, match: string, times = 1): Promise<void> {
  const response = await fetch(`${proxyUrl}${CONTROL_PATH}`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ match, times }),
  });
  if (!response.ok)
    throw new Error(`the fault proxy refused the rule: ${response.status} ${await response.text()}`);
}

/** The PutEvents calls the proxy at `proxyUrl` refused so far. */
export async function refusals(proxyUrl: string): Promise<Refusal[]> {
  const response = await fetch(`${proxyUrl}${CONTROL_PATH}`);
  if (!response.ok) throw new Error(`the fault proxy answered ${response.status}`);
  return ((await response.json()) as { refusals: Refusal[] }).refusals;
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: { target: { type: 'string' }, 'port-file': { type: 'string' }, port: { type: 'string' } },
  });
  if (!values.target || !values['port-file']) {
    console.error('usage: localstack-fault-proxy.ts --target <url> --port-file <file> [--port <n>]');
    process.exit(2);
  }
  const proxy = await startFaultProxy(values.target, Number(values.port ?? 0));
  writeFileSync(values['port-file'], new URL(proxy.url).port);
  console.log(`fault proxy on ${proxy.url} -> ${values.target}`);
  const stop = () => void proxy.stop().then(() => process.exit(0));
  process.on('SIGTERM', stop);
  process.on('SIGINT', stop);
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) await main();
