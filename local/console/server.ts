/**
 * The local outbox console: a page on 127.0.0.1 that shows the system live
 * (the event feed as server-sent events, pending and poison counts, poison
 * events with their reasons, the on-failure, poison and dead-letter queue
 * depths) and republishes a selected poison event.
 *
 * Counts, the poison list and republishing run the operator CLI's own
 * commands (`stats`, `poison`, `republish` through cli/main.ts, on clients
 * aimed at the local servers), so the console does exactly what `outbox
 * republish --event-id <id>` does.
 *
 * Everything is served from this folder: no CDN. Event data is untrusted:
 * the page only ever sets `textContent`, and the Content-Security-Policy
 * allows no inline script. The one state-changing endpoint (POST
 * /api/republish) requires the page's own origin, a JSON body and the
 * per-run token embedded in the page; every request must name this server
 * as its Host (no DNS rebinding).
 */
import { randomBytes, timingSafeEqual } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { GetQueueAttributesCommand } from '@aws-sdk/client-sqs';
import { z } from 'zod';
import { EXIT } from '../../cli/errors';
import { main } from '../../cli/main';
import { type Clients, createClients } from '../../cli/target';
import type { EventFeed, FlowEntry } from '../event-feed';

/** Where the outbox is (the local runtime's servers and names). */
export interface ConsoleTarget {
  readonly region: string;
  readonly credentials: { readonly accessKeyId: string; readonly secretAccessKey: string };
  readonly endpoints: { readonly dynamodb: string; readonly events: string; readonly sqs: string };
  readonly tableName: string;
  readonly eventBusName: string;
  readonly poisonQueueUrl: string;
}

/** Options of {@link startConsole}. */
export interface ConsoleOptions {
  /** 0 picks a free port. */
  readonly port: number;
  readonly feed: EventFeed;
  readonly target: ConsoleTarget;
  /** Queues whose depth the page shows. */
  readonly watchedQueues: readonly { readonly label: string; readonly url: string }[];
  /** How often counts and depths are read while a page is open. @default 2,000 ms */
  readonly refreshMs?: number;
}

/** A running console. */
export interface LocalConsole {
  readonly url: string;
  stop(): Promise<void>;
}

/** The status block the page shows (the `status` server-sent event). */
export interface ConsoleStatus {
  readonly asOf: string;
  readonly pending: number | null;
  readonly failed: number | null;
  readonly poison: readonly PoisonView[];
  readonly queues: readonly {
    readonly label: string;
    readonly messages: number | null;
    readonly inFlight: number | null;
  }[];
  readonly error: string | null;
}

/** A poison event as the CLI's `poison --json` lists it. */
interface PoisonView {
  readonly eventId: string | null;
  readonly eventType: string | null;
  readonly aggregateType: string | null;
  readonly aggregateId: string | null;
  readonly sequence: number | null;
  readonly failedAt: string | null;
  readonly failureReason: string | null;
}

/** A republish request body. Event ids are UUIDs; anything that could be one, nothing more. */
const republishBody = z.strictObject({
  eventId: z
    .string({ error: 'eventId must be a string' })
    .regex(
      /^[A-Za-z0-9][A-Za-z0-9._:-]{0,127}$/,
      'eventId must be 1-128 letters, digits, ".", "_", ":" or "-"',
    ),
});

const STATIC_FILES: Readonly<Record<string, { file: string; type: string }>> = {
  '/console.js': { file: 'console.js', type: 'text/javascript; charset=utf-8' },
  '/console.css': { file: 'console.css', type: 'text/css; charset=utf-8' },
};
const MAX_BODY_BYTES = 4096;
const HEARTBEAT_MS = 15_000;
const TOKEN_HEADER = 'x-outbox-console-token';
const SECURITY_HEADERS = {
  'content-security-policy':
    "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; img-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'",
  'x-content-type-options': 'nosniff',
  'referrer-policy': 'no-referrer',
  'cache-control': 'no-store',
};

class HttpProblem extends Error {
  override readonly name = 'HttpProblem';
  constructor(
    readonly status: number,
    message: string,
  ) {
    super(message);
  }
}

/** Starts the console on 127.0.0.1. */
export async function startConsole(options: ConsoleOptions): Promise<LocalConsole> {
  const token = randomBytes(24).toString('base64url');
  const clients = createClients({
    source: 'local runtime',
    endpoints: options.target.endpoints,
    tableName: options.target.tableName,
    eventBusName: options.target.eventBusName,
    poisonQueueUrl: options.target.poisonQueueUrl,
    region: options.target.region,
    credentials: options.target.credentials,
  });
  const cliArgs = [
    '--json',
    '--no-progress',
    '--table',
    options.target.tableName,
    '--bus',
    options.target.eventBusName,
    '--poison-queue-url',
    options.target.poisonQueueUrl,
    '--region',
    options.target.region,
  ];
  const runCli = (argv: readonly string[]) => runCommand([...argv, ...cliArgs], clients);

  const streams = new Set<ServerResponse>();
  let status: ConsoleStatus | undefined;
  let statusText = '';
  let refreshing: Promise<void> | undefined;
  let refreshAgain = false;
  const broadcast = (event: string, data: unknown) => {
    const frame = sseFrame(event, data);
    for (const stream of streams) stream.write(frame);
  };
  const refresh = (): Promise<void> => {
    if (refreshing) {
      refreshAgain = true;
      return refreshing;
    }
    refreshing = (async () => {
      do {
        refreshAgain = false;
        status = await readStatus(runCli, clients, options.watchedQueues);
        const { asOf: _asOf, ...rest } = status;
        const text = JSON.stringify(rest);
        if (text !== statusText) {
          statusText = text;
          broadcast('status', status);
        }
      } while (refreshAgain);
    })().finally(() => {
      refreshing = undefined;
    });
    return refreshing;
  };
  const unsubscribe = options.feed.subscribe((entry: FlowEntry) => {
    broadcast('flow', entry);
    if (streams.size > 0) void refresh();
  });
  const timer = setInterval(() => {
    if (streams.size > 0) void refresh();
  }, options.refreshMs ?? 2_000);
  const heartbeat = setInterval(() => {
    for (const stream of streams) stream.write(': heartbeat\n\n');
  }, HEARTBEAT_MS);

  let republishing: Promise<unknown> = Promise.resolve();
  const server = createServer((request, response) => {
    handle(request, response).catch((error: unknown) => {
      if (error instanceof HttpProblem) return problem(response, error.status, error.message);
      console.error('outbox console: request failed', error);
      return problem(response, 500, 'the console failed; see the terminal');
    });
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port, '127.0.0.1', () => resolve());
  });
  const { port } = server.address() as AddressInfo;
  const url = `http://127.0.0.1:${port}`;
  const allowedHosts = new Set([`127.0.0.1:${port}`, `localhost:${port}`]);

  async function handle(request: IncomingMessage, response: ServerResponse): Promise<void> {
    // A page of another site that resolved its own name to 127.0.0.1 (DNS rebinding) sends its own Host.
    const host = request.headers.host ?? '';
    if (!allowedHosts.has(host)) throw new HttpProblem(421, `this console answers only to ${url}`);
    const path = new URL(request.url ?? '/', url).pathname;
    const method = request.method ?? 'GET';
    if (path === '/api/republish') {
      if (method !== 'POST') {
        response.setHeader('allow', 'POST');
        throw new HttpProblem(405, 'use POST with {"eventId": "..."}');
      }
      const { eventId } = await readRepublishRequest(request, host, token);
      const run = republishing.then(() => republish(eventId));
      republishing = run.catch(() => undefined);
      const result = await run;
      return json(response, result.status, result.body);
    }
    if (method !== 'GET' && method !== 'HEAD') {
      response.setHeader('allow', 'GET');
      throw new HttpProblem(405, `${method} is not allowed on ${path}`);
    }
    if (path === '/' || path === '/index.html') {
      const page = (await readAsset('index.html')).replace('__CONSOLE_TOKEN__', token);
      response.writeHead(200, { ...SECURITY_HEADERS, 'content-type': 'text/html; charset=utf-8' });
      return void response.end(page);
    }
    const asset = STATIC_FILES[path];
    if (asset) {
      response.writeHead(200, { ...SECURITY_HEADERS, 'content-type': asset.type });
      return void response.end(await readAsset(asset.file));
    }
    if (path === '/events') return openStream(response);
    throw new HttpProblem(404, `${path} is not a page of the console`);
  }

  function openStream(response: ServerResponse): void {
    response.writeHead(200, {
      ...SECURITY_HEADERS,
      'content-type': 'text/event-stream; charset=utf-8',
      connection: 'keep-alive',
    });
    response.write(sseFrame('snapshot', { entries: options.feed.recent() }));
    if (status) response.write(sseFrame('status', status));
    streams.add(response);
    response.on('close', () => streams.delete(response));
    void refresh();
  }

  async function republish(eventId: string): Promise<{ status: number; body: unknown }> {
    const run = await runCli(['republish', '--event-id', eventId]);
    const result = parseJson(run.stdout) as RepublishJson | undefined;
    if (!result) {
      const message = run.stderr.trim() || `outbox republish exited with ${run.code}`;
      return problemBody(run.code === EXIT.usage ? 400 : 502, message);
    }
    if (result.notFound?.includes(eventId)) return problemBody(404, `no outbox event has the id ${eventId}`);
    const skipped = result.skipped?.find((each) => each.eventId === eventId);
    if (skipped) return problemBody(409, `event ${eventId} was not republished: ${skipped.reason}`);
    for (const event of result.events ?? []) {
      const fields = {
        eventId: event.eventId ?? `${event.pk} ${event.sk}`,
        ...(event.eventType ? { eventType: event.eventType } : {}),
        ...(event.aggregateType ? { aggregateType: event.aggregateType } : {}),
        ...(event.aggregateId ? { aggregateId: event.aggregateId } : {}),
        ...(event.sequence === null ? {} : { sequence: event.sequence }),
        ...(event.occurredAt ? { occurredAt: event.occurredAt } : {}),
      };
      if (event.outcome === 'published') options.feed.add({ stage: 'published', by: 'republish', ...fields });
      if (event.outcome === 'poisoned') {
        options.feed.add({ stage: 'parked', reason: 'still poison when republished', ...fields });
      }
    }
    await refresh();
    const mine = result.events?.find((event) => event.eventId === eventId);
    return {
      status: 200,
      body: {
        eventId,
        outcome: mine?.outcome ?? 'unknown',
        summary: result.summary,
        warnings: result.warnings ?? [],
      },
    };
  }

  return {
    url,
    stop: async () => {
      unsubscribe();
      clearInterval(timer);
      clearInterval(heartbeat);
      for (const stream of streams) stream.end();
      streams.clear();
      await refreshing?.catch(() => undefined);
      await new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      });
      clients.dynamoDb.destroy();
      clients.eventBridge.destroy();
      clients.sqs.destroy();
    },
  };
}

/** What the page's republish request must be: same origin, the run's token, a small JSON body. */
async function readRepublishRequest(
  request: IncomingMessage,
  host: string,
  token: string,
): Promise<z.infer<typeof republishBody>> {
  const origin = request.headers.origin;
  if (origin !== `http://${host}`) {
    throw new HttpProblem(403, 'republish is accepted only from the console page itself (Origin header)');
  }
  const given = Buffer.from(String(request.headers[TOKEN_HEADER] ?? ''));
  const expected = Buffer.from(token);
  if (given.length !== expected.length || !timingSafeEqual(given, expected)) {
    throw new HttpProblem(403, `republish needs the console's token in ${TOKEN_HEADER}; reload the page`);
  }
  if (!/^application\/json(;|$)/i.test(request.headers['content-type'] ?? '')) {
    throw new HttpProblem(415, 'the body must be application/json');
  }
  const body = await readBody(request);
  let parsed: unknown;
  try {
    parsed = JSON.parse(body);
  } catch {
    throw new HttpProblem(400, 'the body is not valid JSON');
  }
  const result = republishBody.safeParse(parsed);
  if (!result.success) {
    const issues = result.error.issues.map((issue) => `${issue.path.join('.') || 'body'}: ${issue.message}`);
    throw new HttpProblem(400, `invalid republish request: ${issues.join('; ')}`);
  }
  return result.data;
}

function readBody(request: IncomingMessage): Promise<string> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    request.on('data', (chunk: Buffer) => {
      size += chunk.length;
      if (size > MAX_BODY_BYTES) {
        reject(new HttpProblem(413, `the body is larger than ${MAX_BODY_BYTES} bytes`));
        request.resume();
        return;
      }
      chunks.push(chunk);
    });
    request.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')));
    request.on('error', reject);
  });
}

interface RepublishJson {
  readonly events?: readonly {
    readonly pk: string;
    readonly sk: string;
    readonly eventId: string | null;
    readonly eventType: string | null;
    readonly aggregateType: string | null;
    readonly aggregateId: string | null;
    readonly sequence: number | null;
    readonly occurredAt: string | null;
    readonly outcome: string;
  }[];
  readonly summary?: unknown;
  readonly skipped?: readonly { readonly eventId: string; readonly reason: string }[];
  readonly notFound?: readonly string[];
  readonly warnings?: readonly string[];
}

/** Runs one CLI command line in-process, as `npx outbox` would, and captures its output. */
async function runCommand(
  argv: readonly string[],
  clients: Clients,
): Promise<{ code: number; stdout: string; stderr: string }> {
  const stdout: string[] = [];
  const stderr: string[] = [];
  const code = await main(
    argv,
    {
      stdout: { write: (text: string) => void stdout.push(text) },
      stderr: { write: (text: string) => void stderr.push(text) },
      env: {},
    },
    { clients },
  );
  return { code, stdout: stdout.join(''), stderr: stderr.join('') };
}

async function readStatus(
  runCli: (argv: readonly string[]) => Promise<{ code: number; stdout: string; stderr: string }>,
  clients: Clients,
  queues: readonly { label: string; url: string }[],
): Promise<ConsoleStatus> {
  const [stats, poison, depths] = await Promise.all([
    runCli(['stats', '--older-than', '0']),
    runCli(['poison']),
    Promise.all(queues.map((queue) => queueDepth(clients, queue))),
  ]);
  const statsJson = parseJson(stats.stdout) as { pending?: number; failed?: number } | undefined;
  const poisonJson = parseJson(poison.stdout) as { events?: PoisonView[] } | undefined;
  const errors = [stats, poison].filter((run) => run.code !== EXIT.ok).map((run) => run.stderr.trim());
  return {
    asOf: new Date().toISOString(),
    pending: statsJson?.pending ?? null,
    failed: statsJson?.failed ?? null,
    poison: (poisonJson?.events ?? []).map((event) => ({
      eventId: event.eventId,
      eventType: event.eventType,
      aggregateType: event.aggregateType,
      aggregateId: event.aggregateId,
      sequence: event.sequence,
      failedAt: event.failedAt,
      failureReason: event.failureReason,
    })),
    queues: depths,
    error: errors.length > 0 ? errors.join('\n') : null,
  };
}

async function queueDepth(
  clients: Clients,
  queue: { label: string; url: string },
): Promise<{ label: string; messages: number | null; inFlight: number | null }> {
  try {
    const output = await clients.sqs.send(
      new GetQueueAttributesCommand({
        QueueUrl: queue.url,
        AttributeNames: ['ApproximateNumberOfMessages', 'ApproximateNumberOfMessagesNotVisible'],
      }),
    );
    const count = (name: string) => {
      const value = Number(output.Attributes?.[name as keyof typeof output.Attributes]);
      return Number.isFinite(value) ? value : null;
    };
    return {
      label: queue.label,
      messages: count('ApproximateNumberOfMessages'),
      inFlight: count('ApproximateNumberOfMessagesNotVisible'),
    };
  } catch {
    return { label: queue.label, messages: null, inFlight: null };
  }
}

function parseJson(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return undefined;
  }
}

const assetCache = new Map<string, Promise<string>>();
function readAsset(file: string): Promise<string> {
  let cached = assetCache.get(file);
  if (!cached) {
    cached = readFile(new URL(file, import.meta.url), 'utf8');
    assetCache.set(file, cached);
  }
  return cached;
}

function sseFrame(event: string, data: unknown): string {
  // JSON has no raw newlines, so one `data:` line carries it.
  return `event: ${event}\ndata: ${JSON.stringify(data)}\n\n`;
}

function json(response: ServerResponse, status: number, body: unknown): void {
  const type = status >= 400 ? 'application/problem+json' : 'application/json';
  response.writeHead(status, { ...SECURITY_HEADERS, 'content-type': type });
  response.end(JSON.stringify(body));
}

function problemBody(status: number, detail: string): { status: number; body: unknown } {
  return { status, body: { title: TITLES[status] ?? 'Error', status, detail } };
}

function problem(response: ServerResponse, status: number, detail: string): void {
  if (response.headersSent) return void response.end();
  const { body } = problemBody(status, detail);
  json(response, status, body);
}

const TITLES: Readonly<Record<number, string>> = {
  400: 'Bad Request',
  403: 'Forbidden',
  404: 'Not Found',
  405: 'Method Not Allowed',
  409: 'Conflict',
  413: 'Content Too Large',
  415: 'Unsupported Media Type',
  421: 'Misdirected Request',
  500: 'Internal Server Error',
  502: 'Bad Gateway',
};
