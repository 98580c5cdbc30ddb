/**
 * The relay core under a latency model: throughput per shard (one batch at a
 * time, as the event source mapping invokes a shard), AWS calls per event,
 * and CPU per event with round trips of zero.
 */
import type { DynamoDBRecord } from 'aws-lambda';
import { type Chunk, planChunks } from '../lambdas/outbox/chunking';
import { decodeRecord } from '../lambdas/outbox/decode';
import { toPutEventsEntry } from '../lambdas/outbox/entry';
import { type GuardedRelayOptions, relayInOrder } from '../lambdas/outbox/gap-guard';
import { putEventsEntrySize } from '../lambdas/outbox/limits';
import type { RelayLogger, RelayMetrics, RelayResult } from '../lambdas/outbox/relay';
import {
  type Boundary,
  type LatencyClients,
  type LatencyModel,
  latencyClients,
  type OrderCheck,
} from './latency-clients';
import { naiveRelay } from './naive-relay';
import { median, round } from './stats';
import { batchesOf, outboxStream, type StreamShape } from './stream';

const BUS = 'outbox-bench-bus';
const TABLE = 'outbox-bench';
const POISON_QUEUE = 'https://sqs.us-east-1.amazonaws.com/123456789012/outbox-bench-poison';

const silentLogger: RelayLogger = {
  debug: () => undefined,
  info: () => undefined,
  warn: () => undefined,
  error: () => undefined,
};
/** Drops every metric. Powertools' `addMetric` returns the instance for chaining, which the relay never uses. */
const noMetrics = { addMetric: () => undefined } as unknown as RelayMetrics;

/** Thrown when a run did not publish what it was given; a benchmark of a broken relay means nothing. */
export class BenchmarkRunError extends Error {
  override readonly name = 'BenchmarkRunError';
}

/** One measured configuration. */
export interface ThroughputResult {
  readonly relay: 'relay' | 'naive';
  readonly batchSize: number;
  /** Chunks in flight at once (1 for the naive relay). */
  readonly concurrency: number;
  readonly events: number;
  readonly batches: number;
  readonly wallMs: number;
  readonly eventsPerSecond: number;
  /** AWS calls by operation. */
  readonly calls: Record<string, number>;
  readonly callsPerEvent: number;
  /** Entries per PutEvents call, on average. */
  readonly entriesPerPutEvents: number;
  readonly order: OrderCheck;
}

/** The relay as its handler runs it: the gap guard's read, then the relay core. */
function relayFor(
  clients: LatencyClients,
  concurrency: number,
): { relay(batch: readonly DynamoDBRecord[]): Promise<RelayResult> } {
  const options: GuardedRelayOptions = {
    eventBusName: BUS,
    tableName: TABLE,
    poisonQueueUrl: POISON_QUEUE,
    eventBridge: clients.eventBridge,
    dynamo: clients.dynamo,
    dynamoDb: clients.dynamoDb,
    sqs: clients.sqs,
    logger: silentLogger,
    metrics: noMetrics,
    concurrency,
  };
  return { relay: (batch) => relayInOrder(batch, options) };
}

function assertComplete(result: RelayResult, batch: readonly DynamoDBRecord[]): void {
  if (result.published !== batch.length || result.batchItemFailures.length > 0 || result.markFailures > 0) {
    throw new BenchmarkRunError(
      `the relay published ${result.published} of ${batch.length} records ` +
        `(poisoned ${result.poisoned}, mark failures ${result.markFailures}, ` +
        `resume at ${result.batchItemFailures[0]?.itemIdentifier ?? 'none'})`,
    );
  }
}

function resultOf(
  relay: 'relay' | 'naive',
  batchSize: number,
  concurrency: number,
  batches: number,
  wallMs: number,
  clients: LatencyClients,
): ThroughputResult {
  const calls = clients.recorder.callCounts();
  const events = clients.recorder.entryCount();
  return {
    relay,
    batchSize,
    concurrency,
    events,
    batches,
    wallMs: round(wallMs, 1),
    eventsPerSecond: round((events / wallMs) * 1000, 1),
    calls,
    callsPerEvent: round(clients.recorder.totalCalls() / events, 4),
    entriesPerPutEvents: round(events / (calls.PutEvents ?? 1), 2),
    order: clients.recorder.checkOrder(),
  };
}

/** Relays a stream batch by batch, as one shard is relayed, and measures the wall time. */
export async function measureRelay(
  records: readonly DynamoDBRecord[],
  batchSize: number,
  concurrency: number,
  model: LatencyModel,
  /** Share of PutEvents entries throttled (seeded), retried by the relay. @default 0 */
  throttleRate = 0,
): Promise<ThroughputResult> {
  const clients = latencyClients(model, { boundary: 'http', throttleRate, seed: 5 });
  try {
    const relay = relayFor(clients, concurrency);
    const batches = batchesOf(records, batchSize);
    const started = performance.now();
    for (const batch of batches) assertComplete(await relay.relay(batch), batch);
    const wallMs = performance.now() - started;
    return resultOf('relay', batchSize, concurrency, batches.length, wallMs, clients);
  } finally {
    clients.destroy();
  }
}

/** The naive relay over the same records: one PutEvents and one UpdateItem per event, in sequence. */
export async function measureNaive(
  records: readonly DynamoDBRecord[],
  batchSize: number,
  model: LatencyModel,
): Promise<ThroughputResult> {
  const clients = latencyClients(model, { boundary: 'http' });
  try {
    const options = {
      eventBusName: BUS,
      tableName: TABLE,
      eventBridge: clients.eventBridge,
      dynamo: clients.dynamo,
    };
    const batches = batchesOf(records, batchSize);
    const started = performance.now();
    for (const batch of batches) {
      const { published } = await naiveRelay(batch, options);
      if (published !== batch.length) {
        throw new BenchmarkRunError(`the naive relay published ${published} of ${batch.length} records`);
      }
    }
    const wallMs = performance.now() - started;
    return resultOf('naive', batchSize, 1, batches.length, wallMs, clients);
  } finally {
    clients.destroy();
  }
}

/** Runs the relay over a small stream with no latency, so the first measurement does not pay for JIT and lazy SDK set-up. */
export async function warmUp(): Promise<void> {
  const records = outboxStream({ aggregates: 50, eventsPerAggregate: 4, seed: 7 });
  for (const boundary of ['http', 'send'] as const) {
    const clients = latencyClients({ putEventsMs: 0, dynamoDbMs: 0, sqsMs: 0 }, { boundary });
    try {
      const relay = relayFor(clients, 4);
      for (const batch of batchesOf(records, 100)) assertComplete(await relay.relay(batch), batch);
      await naiveRelay(records.slice(0, 20), {
        eventBusName: BUS,
        tableName: TABLE,
        eventBridge: clients.eventBridge,
        dynamo: clients.dynamo,
      });
    } finally {
      clients.destroy();
    }
  }
}

/** Settings of the CPU measurement. */
export interface CpuOptions {
  readonly shape: StreamShape;
  readonly batchSize: number;
  readonly concurrency: number;
  readonly boundary: Boundary;
  /** Measured passes over the whole stream; the median is reported. */
  readonly repeats: number;
}

/** CPU per event of one boundary. */
export interface CpuResult {
  readonly boundary: Boundary;
  readonly records: number;
  readonly batchSize: number;
  readonly concurrency: number;
  readonly repeats: number;
  /** Median over the passes of (user + system CPU) / events. */
  readonly microsPerEvent: number;
  readonly userMicrosPerEvent: number;
  readonly systemMicrosPerEvent: number;
  /** Every pass, for the spread. */
  readonly passes: readonly number[];
  readonly wallMicrosPerEvent: number;
}

/**
 * CPU the relay spends per event when every round trip takes zero time:
 * `process.cpuUsage()` around the relay calls only (records are built
 * beforehand), the median of `repeats` passes after one unmeasured pass.
 */
export async function measureRelayCpu(options: CpuOptions): Promise<CpuResult> {
  const records = outboxStream(options.shape);
  const batches = batchesOf(records, options.batchSize);
  const clients = latencyClients(
    { putEventsMs: 0, dynamoDbMs: 0, sqsMs: 0 },
    { boundary: options.boundary, recordEntries: false },
  );
  try {
    const relay = relayFor(clients, options.concurrency);
    const pass = async () => {
      for (const batch of batches) assertComplete(await relay.relay(batch), batch);
    };
    await pass();
    const passes: { total: number; user: number; system: number; wall: number }[] = [];
    for (let repeat = 0; repeat < options.repeats; repeat += 1) {
      const wallStart = performance.now();
      const cpuStart = process.cpuUsage();
      await pass();
      const cpu = process.cpuUsage(cpuStart);
      const wall = (performance.now() - wallStart) * 1000;
      passes.push({ total: cpu.user + cpu.system, user: cpu.user, system: cpu.system, wall });
    }
    const perEvent = (value: number) => value / records.length;
    const middle = median(passes.map((pass) => pass.total));
    const chosen = passes.find((pass) => pass.total === middle) ?? passes[0];
    return {
      boundary: options.boundary,
      records: records.length,
      batchSize: options.batchSize,
      concurrency: options.concurrency,
      repeats: options.repeats,
      microsPerEvent: round(perEvent(middle), 2),
      userMicrosPerEvent: round(perEvent(chosen?.user ?? 0), 2),
      systemMicrosPerEvent: round(perEvent(chosen?.system ?? 0), 2),
      passes: passes.map((pass) => round(perEvent(pass.total), 2)),
      wallMicrosPerEvent: round(perEvent(chosen?.wall ?? 0), 2),
    };
  } finally {
    clients.destroy();
  }
}

/**
 * What the relay's chunk plan allows, computed from `planChunks` itself with
 * every PutEvents taking exactly the modelled round trip and no CPU time.
 */
export interface PlanAnalysis {
  readonly batchSize: number;
  readonly concurrency: number;
  readonly chunks: number;
  /** Longest chain of dependent chunks in a batch (worst batch): PutEvents calls that must run one after another. */
  readonly criticalPath: number;
  /** Most events of one aggregate in a batch (worst batch): the fewest sequential calls any order-keeping plan needs. */
  readonly orderDepth: number;
  /** Events/s of the relay's own schedule (`runChunks` policy, this concurrency) with zero overhead. */
  readonly scheduleBoundEventsPerSecond: number;
}

/** Replays `runChunks`: lower indices first, a chunk starts once its dependencies succeeded, at most `concurrency` at once. */
export function simulateSchedule(chunks: readonly Chunk[], concurrency: number, durationMs: number): number {
  const waiting = new Set(chunks.map((chunk) => chunk.index));
  const done = new Set<number>();
  const running: { index: number; end: number }[] = [];
  let time = 0;
  const pump = () => {
    for (const chunk of chunks) {
      if (running.length >= concurrency) break;
      if (!waiting.has(chunk.index) || !chunk.dependsOn.every((index) => done.has(index))) continue;
      waiting.delete(chunk.index);
      running.push({ index: chunk.index, end: time + durationMs });
    }
  };
  pump();
  while (running.length > 0) {
    running.sort((a, b) => a.end - b.end);
    const next = running.shift();
    if (!next) break;
    time = next.end;
    done.add(next.index);
    pump();
  }
  return time;
}

function criticalPathOf(chunks: readonly Chunk[]): number {
  const depth: number[] = [];
  for (const chunk of chunks) {
    depth[chunk.index] = 1 + Math.max(0, ...chunk.dependsOn.map((index) => depth[index] ?? 0));
  }
  return Math.max(0, ...depth.map((value) => value ?? 0));
}

/** Analyses the relay's chunk plan for a stream cut into batches. */
export function analysePlan(
  records: readonly DynamoDBRecord[],
  batchSize: number,
  concurrency: number,
  model: LatencyModel,
): PlanAnalysis {
  let chunkCount = 0;
  let criticalPath = 0;
  let orderDepth = 0;
  let scheduleMs = 0;
  for (const batch of batchesOf(records, batchSize)) {
    const units = batch.flatMap((record) => {
      const decoded = decodeRecord(record);
      if (decoded.kind !== 'event') return [];
      const bytes = putEventsEntrySize(toPutEventsEntry(decoded.item, BUS));
      return [{ aggregate: decoded.item.pk, entries: 1 as const, bytes }];
    });
    const chunks = planChunks(units);
    chunkCount += chunks.length;
    criticalPath = Math.max(criticalPath, criticalPathOf(chunks));
    const perAggregate = new Map<string, number>();
    for (const unit of units) perAggregate.set(unit.aggregate, (perAggregate.get(unit.aggregate) ?? 0) + 1);
    orderDepth = Math.max(orderDepth, ...perAggregate.values());
    // The gap guard's read comes first; the delivered marks run while later
    // chunks publish, so only the last chunk's mark adds to the batch.
    const guardAndLastMarkMs = 2 * model.dynamoDbMs;
    scheduleMs += simulateSchedule(chunks, concurrency, model.putEventsMs) + guardAndLastMarkMs;
  }
  return {
    batchSize,
    concurrency,
    chunks: chunkCount,
    criticalPath,
    orderDepth,
    scheduleBoundEventsPerSecond: round((records.length / scheduleMs) * 1000, 1),
  };
}
