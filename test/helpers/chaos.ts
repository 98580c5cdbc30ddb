/**
 * Fault injection for the chaos test, at the SDK client boundary: the calls
 * still go to DynamoDB Local and moto, but some of them are throttled, fail
 * whole, lose their response after the service acted, fail part of their
 * entries, or die with the invocation part-way through a PutEvents call.
 *
 * Every decision is a pure function of the seed, what the call carries (the
 * event ids) and how many times that was tried before, not of the call's
 * timing, so a seed replays the same faults for the same events. A ledger
 * records every entry EventBridge (moto) accepted, in acceptance order.
 */
import { AsyncLocalStorage } from 'node:async_hooks';
import {
  type AttributeValue,
  DeleteItemCommand,
  type DynamoDBClient,
  ScanCommand,
} from '@aws-sdk/client-dynamodb';
import type {
  EventBridgeClient,
  PutEventsCommandInput,
  PutEventsCommandOutput,
  PutEventsRequestEntry,
  PutEventsResultEntry,
} from '@aws-sdk/client-eventbridge';
import type { SQSClient } from '@aws-sdk/client-sqs';
import type { Context, SQSBatchResponse, SQSEvent } from 'aws-lambda';
import { seededRandom } from '../../bench/stream';
import type { EventEnvelope } from '../../lambdas/outbox/envelope';
import { consumerIdempotencyPrefix, PK, SK } from '../../lambdas/outbox/keys';
import { lambdaContext, sqsRecord } from './consumer-events';

export { seededRandom };

/** FNV-1a over the parts: a 32-bit hash, the same on every run. */
function hash(parts: readonly (string | number)[]): number {
  let value = 0x811c9dc5;
  for (const char of parts.join('\u0000')) {
    value ^= char.charCodeAt(0);
    value = Math.imul(value, 0x01000193) >>> 0;
  }
  return value;
}

/** A number in [0, 1) determined by the seed and the parts alone. */
export function roll(seed: number, ...parts: (string | number)[]): number {
  return seededRandom(hash([seed, ...parts]))();
}

const CROCKFORD = '0123456789ABCDEFGHJKMNPQRSTVWXYZ';

/** A well-formed ULID from the generator (first character at most 7, as a ULID's must be). */
export function seededUlid(random: () => number): string {
  let id = CROCKFORD[Math.floor(random() * 8)] ?? '0';
  for (let index = 1; index < 26; index += 1) id += CROCKFORD[Math.floor(random() * 32)] ?? '0';
  return id;
}

/** Chances of each fault, per call or per entry attempt. */
export interface FaultRates {
  /** A PutEvents call refused whole with ThrottlingException, before anything is sent. */
  readonly throttledCall: number;
  /** A PutEvents call failing whole with a 500, before anything is sent. */
  readonly failedCall: number;
  /** A PutEvents call that reached EventBridge but whose response was lost (a timeout): a retry duplicates it. */
  readonly lostResponse: number;
  /** A relay invocation dying during a PutEvents call, after part of the call's entries were published. */
  readonly crash: number;
  /** One entry of a call failing with ThrottlingException or InternalFailure while the others succeed. */
  readonly failedEntry: number;
  /** A delivered-mark transaction throttled (the marker retries it, then leaves it to the sweeper). */
  readonly failedMark: number;
}

/** How often each fault was injected, and what the relay and the sweeper got through. */
export interface FaultCounts {
  putEventsCalls: number;
  throttledCalls: number;
  failedCalls: number;
  lostResponses: number;
  crashes: number;
  failedEntries: number;
  rejectedPoison: number;
  failedMarks: number;
}

/** One entry that EventBridge accepted. */
export interface Publication {
  readonly eventId: string;
  readonly aggregateId: string;
  readonly sequence: number;
  /** Who sent it. */
  readonly by: 'relay' | 'sweeper';
}

/** A relay invocation; once crashed, every later call it makes fails as a dead process's would. */
interface Invocation {
  crashed: boolean;
  /** PutEvents calls it made. */
  calls: number;
}

/**
 * Faults injected once each whatever the rolls say, so that a run always
 * exercises every kind: the 3rd, 4th and 5th PutEvents calls are throttled,
 * fail, and lose their response; the first relay invocation that reaches a
 * second call after those dies during it; the first delivered-mark
 * transaction fails every attempt, so its events wait for the sweeper.
 */
const FORCED = { throttledCall: 3, failedCall: 4, lostResponse: 5 } as const;

/** The process running the invocation died; nothing after it reaches AWS. */
export class ChaosCrashError extends Error {
  override readonly name = 'ChaosCrashError';
  constructor() {
    super('injected crash: the relay invocation died');
  }
}

/** An error shaped like an SDK service error. */
function serviceError(name: string, httpStatusCode: number, message: string): Error {
  return Object.assign(new Error(message), { name, $metadata: { httpStatusCode } });
}

function envelopeOf(entry: PutEventsRequestEntry): EventEnvelope {
  return JSON.parse(entry.Detail ?? '{}') as EventEnvelope;
}

type InitializeOutput = { output: unknown; response: unknown };

/** Injects faults into the clients it is attached to and records what was published. */
export class FaultInjector {
  /** Accepted entries, in the order their calls returned. */
  readonly ledger: Publication[] = [];
  readonly counts: FaultCounts = {
    putEventsCalls: 0,
    throttledCalls: 0,
    failedCalls: 0,
    lostResponses: 0,
    crashes: 0,
    failedEntries: 0,
    rejectedPoison: 0,
    failedMarks: 0,
  };
  private readonly invocations = new AsyncLocalStorage<Invocation>();
  private readonly attempts = new Map<string, number>();
  /** The mark transaction that fails every attempt (its first item's key). */
  private doomedMark: string | undefined;

  constructor(
    private readonly seed: number,
    private readonly rates: FaultRates,
    /** Events EventBridge refuses for good (poison), by their envelope. */
    private readonly isPoison: (envelope: EventEnvelope) => boolean,
  ) {}

  /**
   * Runs one relay invocation. When it crashed, throws after `run` returns,
   * as Lambda reports a function error for a process that died.
   */
  async invoke<T>(run: () => Promise<T>): Promise<T> {
    const invocation: Invocation = { crashed: false, calls: 0 };
    const result = await this.invocations.run(invocation, run);
    if (invocation.crashed) throw new ChaosCrashError();
    return result;
  }

  /** Faults on PutEvents; `by` says whose client it is, for the ledger. Crashes only inside `invoke`. */
  attachEventBridge(client: EventBridgeClient, by: Publication['by']): void {
    client.middlewareStack.add(
      (next, context) => async (args) => {
        this.assertAlive();
        if (context.commandName !== 'PutEventsCommand') return next(args);
        const input = args.input as PutEventsCommandInput;
        const forward = async (entries: PutEventsRequestEntry[]) =>
          (await next({ ...args, input: { ...input, Entries: entries } })) as InitializeOutput;
        return (await this.putEvents(input.Entries ?? [], forward, by)) as Awaited<ReturnType<typeof next>>;
      },
      { step: 'initialize', name: 'chaosPutEvents' },
    );
  }

  /** Faults on the delivered-mark calls, and the crash gate. */
  attachDynamoDb(client: DynamoDBClient): void {
    client.middlewareStack.add(
      (next, context) => async (args) => {
        this.assertAlive();
        if (context.commandName === 'BatchExecuteStatementCommand') {
          // A delivered-mark call: its first statement's last two parameters are the item's key.
          const input = args.input as { Statements?: { Parameters?: unknown[] }[] };
          const first = JSON.stringify(input.Statements?.[0]?.Parameters?.slice(-2) ?? []);
          const attempt = this.nextAttempt(`mark:${first}`);
          this.doomedMark ??= first;
          if (first === this.doomedMark || roll(this.seed, 'mark', first, attempt) < this.rates.failedMark) {
            this.counts.failedMarks += 1;
            throw serviceError('ProvisionedThroughputExceededException', 400, 'injected: marks throttled');
          }
        }
        return next(args);
      },
      { step: 'initialize', name: 'chaosDynamoDb' },
    );
  }

  /** Only the crash gate: a dead invocation parks nothing. */
  attachSqs(client: SQSClient): void {
    client.middlewareStack.add(
      (next) => async (args) => {
        this.assertAlive();
        return next(args);
      },
      { step: 'initialize', name: 'chaosSqs' },
    );
  }

  private assertAlive(): void {
    if (this.invocations.getStore()?.crashed) throw new ChaosCrashError();
  }

  private nextAttempt(key: string): number {
    const attempt = (this.attempts.get(key) ?? 0) + 1;
    this.attempts.set(key, attempt);
    return attempt;
  }

  private async putEvents(
    entries: PutEventsRequestEntry[],
    forward: (entries: PutEventsRequestEntry[]) => Promise<InitializeOutput>,
    by: Publication['by'],
  ): Promise<InitializeOutput> {
    this.counts.putEventsCalls += 1;
    const call = this.counts.putEventsCalls;
    const invocation = this.invocations.getStore();
    if (invocation) invocation.calls += 1;
    const envelopes = entries.map(envelopeOf);
    const callKey = envelopes.map((envelope) => envelope.eventId).join(',');
    const attempt = this.nextAttempt(`call:${callKey}`);
    const chance = roll(this.seed, 'call', callKey, attempt);
    const rates = this.rates;
    // One roll, cut into consecutive ranges: at most one whole-call fault per call.
    const throttledBelow = rates.throttledCall;
    const failedBelow = throttledBelow + rates.failedCall;
    const crashBelow = failedBelow + rates.crash;
    const lostBelow = crashBelow + rates.lostResponse;

    if (chance < throttledBelow || call === FORCED.throttledCall) {
      this.counts.throttledCalls += 1;
      throw serviceError('ThrottlingException', 400, 'injected: PutEvents throttled');
    }
    if (chance < failedBelow || call === FORCED.failedCall) {
      this.counts.failedCalls += 1;
      throw serviceError('InternalException', 500, 'injected: PutEvents failed');
    }
    const forceCrash =
      this.counts.crashes === 0 && call > FORCED.lostResponse && (invocation?.calls ?? 0) >= 2;
    if (invocation && call !== FORCED.lostResponse && (chance < crashBelow || forceCrash)) {
      // Part of the call reaches EventBridge, then the process dies.
      const sent = Math.floor(roll(this.seed, 'crash-at', callKey, attempt) * entries.length);
      const accepted = entries.slice(0, sent).filter((_, index) => {
        const envelope = envelopes[index];
        return envelope !== undefined && !this.isPoison(envelope);
      });
      if (accepted.length > 0) this.record(await forward(accepted), accepted, by);
      invocation.crashed = true;
      this.counts.crashes += 1;
      throw new ChaosCrashError();
    }

    // Entry by entry: poison is refused for good, a few others fail this time.
    const codes = envelopes.map((envelope) => {
      if (this.poison(envelope)) return 'MalformedDetail';
      const entryAttempt = this.nextAttempt(`entry:${envelope.eventId}`);
      const entryChance = roll(this.seed, 'entry', envelope.eventId, entryAttempt);
      if (entryChance < rates.failedEntry) {
        this.counts.failedEntries += 1;
        return entryChance < rates.failedEntry / 2 ? 'ThrottlingException' : 'InternalFailure';
      }
      return undefined;
    });
    const toSend = entries.filter((_, index) => codes[index] === undefined);
    const sent = toSend.length > 0 ? await forward(toSend) : undefined;
    const accepted = sent ? this.record(sent, toSend, by) : [];

    if ((chance >= crashBelow && chance < lostBelow) || call === FORCED.lostResponse) {
      this.counts.lostResponses += 1;
      throw serviceError('TimeoutError', 0, 'injected: the PutEvents response was lost');
    }

    const results: PutEventsResultEntry[] = [];
    let next = 0;
    for (const code of codes) {
      if (code) results.push({ ErrorCode: code, ErrorMessage: `injected: entry failed with ${code}` });
      else results.push(accepted[next++] ?? { ErrorCode: 'InternalFailure', ErrorMessage: 'no result' });
    }
    const output: PutEventsCommandOutput = {
      $metadata: { httpStatusCode: 200 },
      Entries: results,
      FailedEntryCount: results.filter((result) => result.ErrorCode).length,
    };
    return { output, response: sent?.response };
  }

  private poison(envelope: EventEnvelope | undefined): boolean {
    if (!envelope || !this.isPoison(envelope)) return false;
    this.counts.rejectedPoison += 1;
    return true;
  }

  /** Notes the accepted entries of a forwarded call; returns its result entries. */
  private record(
    sent: InitializeOutput,
    entries: readonly PutEventsRequestEntry[],
    by: Publication['by'],
  ): PutEventsResultEntry[] {
    const results = (sent.output as PutEventsCommandOutput).Entries ?? [];
    results.forEach((result, index) => {
      const entry = entries[index];
      if (result.ErrorCode || !entry) return;
      const envelope = envelopeOf(entry);
      this.ledger.push({
        eventId: envelope.eventId,
        aggregateId: envelope.aggregateId,
        sequence: envelope.sequence,
        by,
      });
    });
    return results;
  }
}

/** One message on its way to a consumer, and how often it was handed out. */
interface InFlight {
  readonly body: string;
  readonly messageId: string;
  receives: number;
}

/** What {@link deliverInAnyOrder} did. */
export interface DeliveryStats {
  /** Messages handed to the consumer, redeliveries included. */
  deliveries: number;
  /** Deliveries the consumer reported failed; they came back later, as after a visibility timeout. */
  failed: number;
  /** Messages that failed `maxReceives` times (a DLQ would hold them). */
  deadLettered: string[];
}

/** How {@link deliverInAnyOrder} hands messages to a consumer. */
export interface DeliveryOptions {
  /** Decides the order: every message gets a roll, lowest first. */
  readonly random: () => number;
  /** Messages per invocation. @default 10 */
  readonly batchSize?: number;
  /** Invocations at once, so deliveries of one aggregate race each other. @default 2 */
  readonly concurrency?: number;
  /** Receives of a message before it counts as dead-lettered. @default 5 */
  readonly maxReceives?: number;
}

/**
 * Hands message bodies to a consumer's handler as SQS with Lambda would, but
 * in a shuffled order: batches of `batchSize`, `concurrency` invocations at a
 * time; a message the consumer reports failed comes back after everything
 * already waiting (a visibility timeout), with its receive count raised.
 * Duplicates are the caller's: pass a body twice.
 */
export async function deliverInAnyOrder(
  handler: (event: SQSEvent, context: Context) => Promise<SQSBatchResponse>,
  bodies: readonly string[],
  options: DeliveryOptions,
): Promise<DeliveryStats> {
  const batchSize = options.batchSize ?? 10;
  const maxReceives = options.maxReceives ?? 5;
  const stats: DeliveryStats = { deliveries: 0, failed: 0, deadLettered: [] };
  const rolled = bodies.map((body, index) => ({ body, roll: options.random(), index }));
  rolled.sort((a, b) => a.roll - b.roll || a.index - b.index);
  const waiting: InFlight[] = rolled.map(({ body }, index) => ({
    body,
    messageId: `message-${index}`,
    receives: 0,
  }));
  const worker = async () => {
    for (let batch = waiting.splice(0, batchSize); batch.length > 0; batch = waiting.splice(0, batchSize)) {
      for (const message of batch) message.receives += 1;
      stats.deliveries += batch.length;
      const event: SQSEvent = {
        Records: batch.map((message) => {
          const record = sqsRecord(message.body, message.messageId);
          return {
            ...record,
            attributes: { ...record.attributes, ApproximateReceiveCount: String(message.receives) },
          };
        }),
      };
      const response = await handler(event, lambdaContext());
      const failed = new Set(response.batchItemFailures.map((failure) => failure.itemIdentifier));
      for (const message of batch) {
        if (!failed.has(message.messageId)) continue;
        stats.failed += 1;
        if (message.receives >= maxReceives) stats.deadLettered.push(message.body);
        else waiting.push(message);
      }
    }
  };
  // A worker whose queue ran dry while another still holds messages that may fail: run until all are done.
  while (waiting.length > 0) {
    await Promise.all(Array.from({ length: options.concurrency ?? 2 }, worker));
  }
  return stats;
}

/**
 * Deletes every idempotency record of a consumer, as TTL does once they
 * expire: what follows is a redelivery after the records' lifetime (an
 * archive replay, a DLQ redrive days later).
 */
export async function expireIdempotencyRecords(
  client: DynamoDBClient,
  tableName: string,
  consumerName: string,
): Promise<number> {
  const prefix = consumerIdempotencyPrefix(consumerName);
  let deleted = 0;
  let start: Record<string, AttributeValue> | undefined;
  do {
    const page = await client.send(
      new ScanCommand({
        TableName: tableName,
        FilterExpression: 'begins_with(#pk, :prefix)',
        ExpressionAttributeNames: { '#pk': PK, '#sk': SK },
        ExpressionAttributeValues: { ':prefix': { S: prefix } },
        ProjectionExpression: '#pk, #sk',
        ...(start ? { ExclusiveStartKey: start } : {}),
      }),
    );
    for (const item of page.Items ?? []) {
      await client.send(
        new DeleteItemCommand({
          TableName: tableName,
          Key: { [PK]: item[PK] as AttributeValue, [SK]: item[SK] as AttributeValue },
        }),
      );
      deleted += 1;
    }
    start = page.LastEvaluatedKey;
  } while (start);
  return deleted;
}
