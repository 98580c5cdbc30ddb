/**
 * Real SDK clients whose calls never leave the process: each call waits for
 * the configured round trip and then succeeds. Every call is counted by
 * operation, and the fake EventBridge records which entries it received
 * when, so the benchmark can check the per-aggregate order afterwards.
 *
 * Two boundaries:
 * - `http`: a request handler in place of the HTTP client. The SDK still
 *   builds, serializes and signs each request and parses the response, as in
 *   Lambda; only the network is replaced.
 * - `send`: a middleware that answers before the SDK serializes anything, so
 *   what is measured is the relay's own work (and the command objects).
 */
import { createHash } from 'node:crypto';
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { EventBridgeClient, type PutEventsRequestEntry } from '@aws-sdk/client-eventbridge';
import { SQSClient } from '@aws-sdk/client-sqs';
import type { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { type HttpRequest, HttpResponse } from '@smithy/protocol-http';
import type { EventEnvelope } from '../lambdas/outbox/envelope';
import { createDocumentClient } from '../lambdas/sample/shared/clients';
import { seededRandom } from './stream';

/** Round trip per call, by service, in milliseconds. */
export interface LatencyModel {
  readonly putEventsMs: number;
  readonly dynamoDbMs: number;
  readonly sqsMs: number;
}

/** Where the fake answers: in place of the HTTP client, or before the SDK serializes. */
export type Boundary = 'http' | 'send';

/** One entry as the fake EventBridge received it. */
export interface ReceivedEntry {
  readonly aggregate: string;
  readonly sequence: number;
  /** Logical time the call carrying it arrived. */
  readonly receivedAt: number;
  /** Logical time that call was answered. */
  answeredAt: number;
}

/** What the per-aggregate order check found. */
export interface OrderCheck {
  /** True when every aggregate's events arrived in sequence order, each after the previous one was acknowledged. */
  readonly kept: boolean;
  readonly aggregates: number;
  readonly entries: number;
  /** Up to five violations, for the report. */
  readonly violations: readonly string[];
}

/** Counts calls by operation and records what the fake EventBridge received. */
export class CallRecorder {
  private readonly counts = new Map<string, number>();
  private readonly entries: ReceivedEntry[] = [];
  /** A logical clock: timer resolution cannot blur which of two calls came first. */
  private tick = 0;

  /** Counts a call; returns its arrival time on the logical clock. */
  arrive(operation: string): number {
    this.counts.set(operation, (this.counts.get(operation) ?? 0) + 1);
    this.tick += 1;
    return this.tick;
  }

  /** Records the entries of a PutEvents call that arrived at `receivedAt`; returns a callback for its answer. */
  receiveEntries(entries: readonly PutEventsRequestEntry[], receivedAt: number): () => void {
    const received = entries.map((entry): ReceivedEntry => {
      const envelope = JSON.parse(entry.Detail ?? '{}') as Partial<EventEnvelope>;
      return {
        aggregate: `${envelope.aggregateType ?? '?'}#${envelope.aggregateId ?? '?'}`,
        sequence: envelope.sequence ?? 0,
        receivedAt,
        answeredAt: Number.POSITIVE_INFINITY,
      };
    });
    this.entries.push(...received);
    return () => {
      this.tick += 1;
      for (const entry of received) entry.answeredAt = this.tick;
    };
  }

  /** Calls so far by operation, e.g. `{ PutEvents: 12, TransactWriteItems: 1 }`. */
  callCounts(): Record<string, number> {
    return Object.fromEntries([...this.counts.entries()].sort(([a], [b]) => a.localeCompare(b)));
  }

  /** All calls so far. */
  totalCalls(): number {
    return [...this.counts.values()].reduce((sum, count) => sum + count, 0);
  }

  /** Entries EventBridge received so far. */
  entryCount(): number {
    return this.entries.length;
  }

  /**
   * Checks the order per aggregate: sequences arrive as 1, 2, 3... with no
   * gap or repeat, and each one arrives only after the call carrying the
   * previous one was answered (so the two were never in flight together).
   */
  checkOrder(): OrderCheck {
    const last = new Map<string, ReceivedEntry>();
    const violations: string[] = [];
    for (const entry of this.entries) {
      const previous = last.get(entry.aggregate);
      const expected = (previous?.sequence ?? 0) + 1;
      if (entry.sequence !== expected) {
        violations.push(`${entry.aggregate}: got sequence ${entry.sequence}, expected ${expected}`);
      } else if (previous && entry.receivedAt < previous.answeredAt) {
        violations.push(
          `${entry.aggregate}: sequence ${entry.sequence} was sent before sequence ${previous.sequence} was acknowledged`,
        );
      }
      last.set(entry.aggregate, entry);
    }
    return {
      kept: violations.length === 0,
      aggregates: last.size,
      entries: this.entries.length,
      violations: violations.slice(0, 5),
    };
  }
}

/** The three clients the relay takes, wired to one recorder. */
export interface LatencyClients {
  readonly eventBridge: EventBridgeClient;
  readonly dynamo: DynamoDBDocumentClient;
  /** The low-level client under `dynamo`, for the gap guard's reads. */
  readonly dynamoDb: DynamoDBClient;
  readonly sqs: SQSClient;
  readonly recorder: CallRecorder;
  /** Releases the clients. */
  destroy(): void;
}

/** The SDK's idea of which service a client calls. */
type Service = 'eventbridge' | 'dynamodb' | 'sqs';

function wait(ms: number): Promise<void> {
  // No timer at all for a zero latency: the CPU benchmark should not measure timers.
  return ms > 0 ? new Promise((resolve) => setTimeout(resolve, ms)) : Promise.resolve();
}

function latencyOf(service: Service, model: LatencyModel): number {
  if (service === 'eventbridge') return model.putEventsMs;
  if (service === 'dynamodb') return model.dynamoDbMs;
  return model.sqsMs;
}

/** What the fakes share. */
interface FakeContext {
  readonly service: Service;
  readonly model: LatencyModel;
  readonly recorder: CallRecorder;
  readonly recordEntries: boolean;
  readonly eventIds: () => string;
  /** PutEvents entries answered with `ThrottlingException`, chosen with a seeded random source. */
  readonly throttle?: { readonly rate: number; readonly random: () => number };
}

/**
 * The successful answer of an operation, as the SDK's output object (`send`
 * boundary) or JSON body (`http`). `input` is read lazily: parsing a request
 * the answer does not depend on would be CPU charged to the relay.
 */
function answer(
  operation: string,
  entryCount: number,
  input: () => Record<string, unknown>,
  fake: FakeContext,
  throttled: readonly boolean[] = [],
): object {
  if (operation === 'PutEvents') {
    return {
      FailedEntryCount: throttled.filter(Boolean).length,
      Entries: Array.from({ length: entryCount }, (_, index) =>
        throttled[index]
          ? { ErrorCode: 'ThrottlingException', ErrorMessage: 'Rate exceeded (injected)' }
          : { EventId: fake.eventIds() },
      ),
    };
  }
  if (operation === 'BatchExecuteStatement') {
    // The delivered marks: every statement succeeds.
    const statements = input().Statements;
    return { Responses: (Array.isArray(statements) ? statements : []).map(() => ({})) };
  }
  if (operation === 'SendMessage') {
    const body = input().MessageBody;
    const text = typeof body === 'string' ? body : '';
    return { MessageId: fake.eventIds(), MD5OfMessageBody: createHash('md5').update(text).digest('hex') };
  }
  // TransactWriteItems, UpdateItem, PutItem: an empty success; BatchGetItem: nothing found.
  return {};
}

/**
 * Counts the call, picks the PutEvents entries to throttle, records the
 * others when asked, waits the round trip; returns which entries were
 * throttled (a throttled entry never reached the bus, so it is not recorded).
 */
async function roundTrip(
  operation: string,
  entries: () => readonly PutEventsRequestEntry[],
  entryCount: number,
  fake: FakeContext,
): Promise<boolean[]> {
  const receivedAt = fake.recorder.arrive(operation);
  const throttle = fake.throttle;
  const throttled =
    operation === 'PutEvents' && throttle
      ? Array.from({ length: entryCount }, () => throttle.random() < throttle.rate)
      : [];
  const answered =
    operation === 'PutEvents' && fake.recordEntries
      ? fake.recorder.receiveEntries(
          entries().filter((_, index) => !throttled[index]),
          receivedAt,
        )
      : undefined;
  await wait(latencyOf(fake.service, fake.model));
  answered?.();
  return throttled;
}

function headerOf(request: HttpRequest, name: string): string | undefined {
  for (const [key, value] of Object.entries(request.headers)) {
    if (key.toLowerCase() === name) return value;
  }
  return undefined;
}

function bodyText(body: unknown): string {
  if (typeof body === 'string') return body;
  // A view on the same bytes: `Buffer.from(body)` would call the SDK body's string-adapter methods.
  if (body instanceof Uint8Array)
    return Buffer.from(body.buffer, body.byteOffset, body.byteLength).toString('utf8');
  return '';
}

/**
 * A request handler in place of the HTTP client: it reads the operation from
 * `X-Amz-Target` (all three services speak AWS JSON), waits, and answers 200.
 */
function fakeHttpHandler(fake: FakeContext): Record<string, unknown> {
  const contentType =
    fake.service === 'eventbridge' ? 'application/x-amz-json-1.1' : 'application/x-amz-json-1.0';
  return {
    handle: async (request: HttpRequest): Promise<{ response: HttpResponse }> => {
      const operation = headerOf(request, 'x-amz-target')?.split('.').pop() ?? 'Unknown';
      const text = bodyText(request.body);
      let parsed: Record<string, unknown> | undefined;
      const input = () => {
        parsed ??= JSON.parse(text || '{}') as Record<string, unknown>;
        return parsed;
      };
      const entries = () => (input().Entries ?? []) as PutEventsRequestEntry[];
      // Every entry the relay builds names its bus; counting that is far cheaper than parsing.
      const entryCount = operation === 'PutEvents' ? text.split('"EventBusName"').length - 1 : 0;
      const throttled = await roundTrip(operation, entries, entryCount, fake);
      const body = Buffer.from(JSON.stringify(answer(operation, entryCount, input, fake, throttled)), 'utf8');
      return {
        response: new HttpResponse({
          statusCode: 200,
          headers: { 'content-type': contentType, 'content-length': String(body.length) },
          body,
        }),
      };
    },
    updateHttpClientConfig: () => undefined,
    httpHandlerConfigs: () => ({}),
    destroy: () => undefined,
  };
}

/** The part of a client's middleware stack this module uses. */
interface StackLike {
  add(
    middleware: (
      next: unknown,
      context: { commandName?: string },
    ) => (args: { input: object }) => Promise<{ output: object; response: unknown }>,
    options: { step: 'initialize'; priority: 'high'; name: string },
  ): void;
}

/** A middleware that answers before anything is serialized (the `send` boundary). */
function installSendFake(stack: StackLike, fake: FakeContext): void {
  stack.add(
    (_next, context) => async (args) => {
      const operation = (context.commandName ?? 'Unknown').replace(/Command$/, '');
      const input = args.input as Record<string, unknown>;
      const entries = (input.Entries ?? []) as PutEventsRequestEntry[];
      const throttled = await roundTrip(operation, () => entries, entries.length, fake);
      const output = answer(operation, entries.length, () => input, fake, throttled);
      return { output: { $metadata: { httpStatusCode: 200 }, ...output }, response: {} };
    },
    { step: 'initialize', priority: 'high', name: 'benchLatencyFake' },
  );
}

/** How to build the clients. */
export interface LatencyClientOptions {
  readonly boundary: Boundary;
  /**
   * Record each PutEvents entry for the order check. Off for the CPU
   * benchmark: decoding every `Detail` is the fake's work, not the relay's.
   * @default true
   */
  readonly recordEntries?: boolean;
  /** Throttle this share of PutEvents entries (0 to 1), chosen with `seed`. @default none */
  readonly throttleRate?: number;
  /** Seed of the throttling choice. @default 1 */
  readonly seed?: number;
}

/** Builds the relay's clients with the latency model at the chosen boundary. */
export function latencyClients(model: LatencyModel, options: LatencyClientOptions): LatencyClients {
  const recorder = new CallRecorder();
  let next = 0;
  const eventIds = () => {
    next += 1;
    return `bench-${next}`;
  };
  const random = seededRandom(options.seed ?? 1);
  const throttleRate = options.throttleRate ?? 0;
  const fake = (service: Service): FakeContext => ({
    service,
    model,
    recorder,
    recordEntries: options.recordEntries ?? true,
    eventIds,
    ...(throttleRate > 0 ? { throttle: { rate: throttleRate, random } } : {}),
  });
  const base = {
    region: 'us-east-1',
    credentials: { accessKeyId: 'bench', secretAccessKey: 'bench' },
    // The relay does its own retries; nothing here fails anyway.
    maxAttempts: 1,
  };
  const http = options.boundary === 'http';
  const eventBridge = new EventBridgeClient({
    ...base,
    ...(http ? { requestHandler: fakeHttpHandler(fake('eventbridge')) } : {}),
  });
  const dynamoDb = new DynamoDBClient({
    ...base,
    ...(http ? { requestHandler: fakeHttpHandler(fake('dynamodb')) } : {}),
  });
  const sqs = new SQSClient({ ...base, ...(http ? { requestHandler: fakeHttpHandler(fake('sqs')) } : {}) });
  if (!http) {
    installSendFake(eventBridge.middlewareStack as unknown as StackLike, fake('eventbridge'));
    installSendFake(dynamoDb.middlewareStack as unknown as StackLike, fake('dynamodb'));
    installSendFake(sqs.middlewareStack as unknown as StackLike, fake('sqs'));
  }
  // Configured as the relay handler's document client is.
  const dynamo = createDocumentClient(dynamoDb);
  return {
    eventBridge,
    dynamo,
    dynamoDb,
    sqs,
    recorder,
    destroy: () => {
      eventBridge.destroy();
      dynamoDb.destroy();
      sqs.destroy();
    },
  };
}
