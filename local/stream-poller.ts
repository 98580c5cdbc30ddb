/**
 * The local stand-in for Lambda's DynamoDB Streams poller (the event source
 * mapping): reads a stream from DynamoDB Local and invokes a handler with the
 * mapping's semantics, so the real relay handler runs locally as it does on
 * AWS.
 *
 * What it does, as Lambda does it:
 * - Discovers shards with DescribeStream and keeps discovering; reads a child
 *   shard only after its parent was read to the end. Different shards are
 *   read concurrently; within a shard invocations are strictly sequential
 *   (ParallelizationFactor 1).
 * - Filters records with `FilterCriteria` before batching; a filtered-out
 *   record is dropped and the shard moves past it.
 * - Batches up to `BatchSize` records in shard order (and under the 6 MB
 *   invocation payload), waiting up to `MaximumBatchingWindowInSeconds`.
 * - Shapes each record as Lambda delivers it (`eventSourceARN`, epoch-second
 *   `ApproximateCreationDateTime`, binary values in base64).
 * - Outcome: a throw is a whole-batch failure. With `ReportBatchItemFailures`,
 *   `batchItemFailures` moves the checkpoint to just before the lowest
 *   reported sequence number and retries from there; an empty or missing list
 *   is success; an empty or unknown `itemIdentifier` is a whole-batch failure.
 *
 * Retries (Lambda documents the knobs, not every interaction; this is what is
 * implemented):
 * - Every record carries the number of failed invocations it was part of.
 *   A failed batch is retried after a backoff (`retryBaseDelayMs` doubling up
 *   to `retryMaxDelayMs`); the records retried are the whole batch on an
 *   error, or the records from the lowest reported failure on a partial
 *   failure (exactly those records, as Lambda does when bisecting; Lambda
 *   without bisect may add newer records to the retry, which changes nothing
 *   for a handler).
 * - With `BisectBatchOnFunctionError`, a whole-batch failure splits the batch
 *   in two halves that are retried one after the other; both halves inherit
 *   the failure count (bisecting does not reset it).
 * - When records have failed `MaximumRetryAttempts + 1` times (-1: never),
 *   or are older than `MaximumRecordAgeInSeconds` when they are about to be
 *   (re)delivered, they are discarded: `onFailure` gets Lambda's on-failure
 *   record (shard, sequence range, batch size, condition) and the shard moves
 *   on. Lambda discards them too; the sweeper recovers their items.
 *
 * Local differences: checkpoints live in memory (a new poller starts at its
 * `StartingPosition` again); the function timeout is passed to the context
 * but not enforced (a late invocation is logged, never run concurrently with
 * the next one); DynamoDB Local's TTL deletes carry the event name
 * `UNKNOWN_TO_SDK_VERSION` and no `userIdentity`, and are passed on as they
 * are. DynamoDB Local rounds `ApproximateCreationDateTime` down (to the
 * minute), so a record can look up to a minute older than it is.
 */

import { randomUUID } from 'node:crypto';
import {
  DescribeStreamCommand,
  type DynamoDBStreamsClient,
  ExpiredIteratorException,
  GetRecordsCommand,
  GetShardIteratorCommand,
  ResourceNotFoundException,
  type Shard,
  type AttributeValue as StreamAttributeValue,
  type _Record as StreamsRecord,
  TrimmedDataAccessException,
} from '@aws-sdk/client-dynamodb-streams';
import type {
  AttributeValue,
  Context,
  DynamoDBBatchResponse,
  DynamoDBRecord,
  DynamoDBStreamEvent,
  StreamRecord,
} from 'aws-lambda';
import { compileFilterCriteria, type EventMatcher, type FilterCriteria } from './event-filter';
import { localContext } from './lambda-context';

/** The function the poller invokes, typed as a DynamoDB stream Lambda handler. */
export type StreamHandler = (
  event: DynamoDBStreamEvent,
  context: Context,
  // biome-ignore lint/suspicious/noConfusingVoidType: an async handler that returns nothing is Promise<void>, as in aws-lambda's DynamoDBStreamHandler.
) => Promise<DynamoDBBatchResponse | undefined | void>;

/**
 * The settings of an AWS::Lambda::EventSourceMapping (CloudFormation
 * `Properties`) that the poller honours. Others that a synthesized mapping
 * carries are accepted and ignored where they do not change delivery
 * (`EventSourceArn`, `FunctionName`, `DestinationConfig`: pass `streamArn`,
 * `handler` and `onFailure` instead).
 */
export interface EventSourceMappingProperties {
  /** Most records per invocation (Lambda: 1 to 10,000). @default 100 */
  readonly BatchSize?: number;
  /** How long to gather records before invoking (0 to 300). @default 0 */
  readonly MaximumBatchingWindowInSeconds?: number;
  /** Records that match no filter are dropped before batching. @default no filtering */
  readonly FilterCriteria?: FilterCriteria;
  /** Retries of a failed record before it is discarded; -1 means until it is too old. @default -1 */
  readonly MaximumRetryAttempts?: number;
  /** Split a batch in two on a whole-batch failure and retry the halves. @default false */
  readonly BisectBatchOnFunctionError?: boolean;
  /** `['ReportBatchItemFailures']` lets the handler report the first failed record. @default [] */
  readonly FunctionResponseTypes?: readonly string[];
  /** Records older than this are discarded instead of (re)delivered; -1 means never. @default -1 */
  readonly MaximumRecordAgeInSeconds?: number;
  /** Where a shard is first read. Shards that appear later are read from their start. @default 'TRIM_HORIZON' */
  readonly StartingPosition?: 'TRIM_HORIZON' | 'LATEST';
  /** Only 1 is supported (order per shard, as the design requires). @default 1 */
  readonly ParallelizationFactor?: number;
  /** Tumbling windows are not supported; only absent or 0. */
  readonly TumblingWindowInSeconds?: number;
  /** A disabled mapping reads nothing. @default true */
  readonly Enabled?: boolean;
  /** Ignored: the poller reads `streamArn`. */
  readonly EventSourceArn?: unknown;
  /** Ignored: the poller invokes `handler`. */
  readonly FunctionName?: unknown;
  /** Ignored: discarded batches go to `onFailure`. */
  readonly DestinationConfig?: unknown;
}

/** What Lambda sends to an on-failure destination for a discarded stream batch (metadata, never records). */
export interface StreamBatchFailure {
  readonly requestContext: {
    readonly requestId: string;
    readonly functionArn: string;
    readonly condition: 'RetryAttemptsExhausted' | 'RecordAgeExceeded';
    /** Invocations that included these records. */
    readonly approximateInvokeCount: number;
  };
  /** Present when the function was invoked with these records. */
  readonly responseContext?: {
    readonly statusCode: number;
    readonly executedVersion: string;
    /** `Unhandled` when the last invocation threw or answered invalidly. */
    readonly functionError?: string;
  };
  readonly version: '1.0';
  /** ISO time of the discard. */
  readonly timestamp: string;
  readonly DDBStreamBatchInfo: {
    readonly shardId: string;
    readonly startSequenceNumber: string;
    readonly endSequenceNumber: string;
    readonly approximateArrivalOfFirstRecord?: string;
    readonly approximateArrivalOfLastRecord?: string;
    readonly batchSize: number;
    readonly streamArn: string;
  };
}

/** Options of {@link startStreamPoller}: the mapping's settings plus what Lambda would provide. */
export interface StreamPollerOptions extends EventSourceMappingProperties {
  /** A client aimed at DynamoDB Local. */
  readonly dynamoDbStreams: DynamoDBStreamsClient;
  /** The table's `LatestStreamArn`. */
  readonly streamArn: string;
  /** The function under test. */
  readonly handler: StreamHandler;
  /** Pause between polls of a shard that had nothing new; Lambda polls 4 times a second. @default 250 */
  readonly pollIntervalMs?: number;
  /** Pause between DescribeStream calls that look for new shards. @default 1_000 */
  readonly discoveryIntervalMs?: number;
  /** The function's timeout, reported by `context.getRemainingTimeInMillis()`. @default 60_000 */
  readonly functionTimeoutMs?: number;
  /** Name in the context and in the on-failure record. @default 'local-stream-handler' */
  readonly functionName?: string;
  /** The function's ARN in the context. @default built from the stream ARN's region and account */
  readonly functionArn?: string;
  /** The function's memory in the context. @default '128' */
  readonly memoryLimitInMB?: string;
  /** First retry delay after a failed invocation; doubles each retry. @default 100 */
  readonly retryBaseDelayMs?: number;
  /** Longest retry delay. @default 2_000 */
  readonly retryMaxDelayMs?: number;
  /** Receives the metadata of every discarded batch, like an on-failure destination. Retried until it succeeds. */
  readonly onFailure?: (failure: StreamBatchFailure) => Promise<void>;
  /** Progress and error lines; silent when absent. */
  readonly logger?: (line: string) => void;
}

/** Counters of a running poller. */
export interface StreamPollerStats {
  /** Handler invocations, retries included. */
  readonly invocations: number;
  /** Records delivered, redeliveries included. */
  readonly records: number;
  /** Records the filter criteria dropped. */
  readonly filteredOut: number;
  /** Invocations that threw, answered invalidly or reported item failures. */
  readonly failedInvocations: number;
  /** Records discarded after exhausted retries or for their age. */
  readonly discardedRecords: number;
  /** Shards seen so far. */
  readonly shards: number;
}

/** A running poller. */
export interface StreamPoller {
  /** Ends polling, waits for an invocation in flight, and releases every timer. Idempotent. */
  stop(): Promise<void>;
  /**
   * Resolves once everything written to the stream before the call was
   * delivered or discarded: every shard polled empty since the call, nothing
   * buffered, no invocation in flight. Rejects when the poller stops first.
   */
  idle(): Promise<void>;
  /** A snapshot of the counters. */
  readonly stats: StreamPollerStats;
}

/** The mapping's settings are invalid or use something the poller does not support. */
export class InvalidEventSourceMappingError extends Error {
  override readonly name = 'InvalidEventSourceMappingError';
}

/** `idle()` was waiting when the poller stopped. */
export class StreamPollerStoppedError extends Error {
  override readonly name = 'StreamPollerStoppedError';
  constructor() {
    super('the stream poller stopped');
  }
}

/** GetRecords returns at most 1,000 records (DynamoDB Streams API reference). */
const GET_RECORDS_LIMIT = 1_000;
/** Lambda's synchronous invocation payload quota: 6 MB. */
const MAX_PAYLOAD_BYTES = 6 * 1024 * 1024;
/** `{"Records":[]}` */
const EVENT_OVERHEAD_BYTES = 14;
const REPORT_BATCH_ITEM_FAILURES = 'ReportBatchItemFailures';

interface BufferedRecord {
  readonly record: DynamoDBRecord;
  readonly sequenceNumber: string;
  /** Bytes of the record's JSON, for the payload limit. */
  readonly size: number;
  /** ApproximateCreationDateTime in ms, when the stream gave one. */
  readonly createdAtMs: number | undefined;
}

/** Records waiting for (re)delivery, with the number of failed invocations they were part of. */
interface PendingBatch {
  readonly records: readonly BufferedRecord[];
  readonly failures: number;
}

type Outcome =
  | { readonly kind: 'success' }
  | { readonly kind: 'error' }
  | { readonly kind: 'partial'; readonly index: number };

interface ShardState {
  readonly id: string;
  readonly parentId: string | undefined;
  status: 'waiting' | 'reading' | 'done';
  startAt: 'TRIM_HORIZON' | 'LATEST';
  /** Epoch at the start of the latest poll that found nothing new with nothing buffered. */
  drainedEpoch: number;
  /** Records buffered or an invocation in flight. */
  busy: boolean;
}

interface IdleWaiter {
  readonly epoch: number;
  readonly resolve: () => void;
  readonly reject: (error: Error) => void;
}

function errorText(error: unknown): string {
  return error instanceof Error ? `${error.name}: ${error.message}` : String(error);
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function base64(bytes: Uint8Array): string {
  return Buffer.from(bytes).toString('base64');
}

/** The SDK's parsed attribute value back in the wire JSON that Lambda delivers (binary as base64). */
function toLambdaAttribute(value: StreamAttributeValue): AttributeValue {
  if (value.S !== undefined) return { S: value.S };
  if (value.N !== undefined) return { N: value.N };
  if (value.B !== undefined) return { B: base64(value.B) };
  if (value.SS !== undefined) return { SS: value.SS };
  if (value.NS !== undefined) return { NS: value.NS };
  if (value.BS !== undefined) return { BS: value.BS.map(base64) };
  if (value.M !== undefined) return { M: toLambdaImage(value.M) };
  if (value.L !== undefined) return { L: value.L.map(toLambdaAttribute) };
  if (value.NULL !== undefined) return { NULL: value.NULL };
  if (value.BOOL !== undefined) return { BOOL: value.BOOL };
  // The SDK turns an empty map (`{"M":{}}`) into a value with no member set.
  if (value.$unknown === undefined) return { M: {} };
  // A type newer than the SDK: hand it on as the service sent it.
  const [type, raw] = value.$unknown;
  return { [type]: raw } as unknown as AttributeValue;
}

function toLambdaImage(image: Record<string, StreamAttributeValue>): Record<string, AttributeValue> {
  return Object.fromEntries(Object.entries(image).map(([name, value]) => [name, toLambdaAttribute(value)]));
}

/** A Streams API record shaped as Lambda delivers it in a DynamoDBStreamEvent. */
function toLambdaRecord(record: StreamsRecord, streamArn: string): DynamoDBRecord {
  const source = record.dynamodb ?? {};
  const dynamodb: StreamRecord = {
    ...(source.ApproximateCreationDateTime
      ? { ApproximateCreationDateTime: source.ApproximateCreationDateTime.getTime() / 1000 }
      : {}),
    ...(source.Keys ? { Keys: toLambdaImage(source.Keys) } : {}),
    ...(source.NewImage ? { NewImage: toLambdaImage(source.NewImage) } : {}),
    ...(source.OldImage ? { OldImage: toLambdaImage(source.OldImage) } : {}),
    ...(source.SequenceNumber !== undefined ? { SequenceNumber: source.SequenceNumber } : {}),
    ...(source.SizeBytes !== undefined ? { SizeBytes: source.SizeBytes } : {}),
    ...(source.StreamViewType !== undefined ? { StreamViewType: source.StreamViewType } : {}),
  };
  return {
    ...(record.eventID !== undefined ? { eventID: record.eventID } : {}),
    // DynamoDB Local names TTL deletes `UNKNOWN_TO_SDK_VERSION`; it is passed on unchanged.
    ...(record.eventName !== undefined ? { eventName: record.eventName as DynamoDBRecord['eventName'] } : {}),
    eventVersion: record.eventVersion ?? '1.1',
    eventSource: record.eventSource ?? 'aws:dynamodb',
    ...(record.awsRegion !== undefined ? { awsRegion: record.awsRegion } : {}),
    dynamodb,
    eventSourceARN: streamArn,
    // The Streams API spells Identity in PascalCase; Lambda's event uses camelCase.
    ...(record.userIdentity
      ? { userIdentity: { type: record.userIdentity.Type, principalId: record.userIdentity.PrincipalId } }
      : {}),
  };
}

function requireInteger(
  value: number | undefined,
  fallback: number,
  name: string,
  min: number,
  max: number,
): number {
  const result = value ?? fallback;
  if (!Number.isInteger(result) || result < min || result > max) {
    throw new InvalidEventSourceMappingError(
      `${name} must be an integer from ${min} to ${max}, got ${value}`,
    );
  }
  return result;
}

/** ARN parts (`arn:aws:dynamodb:<region>:<account>:...`) for the context's function ARN. */
function arnRegionAndAccount(arn: string): { region: string; account: string } {
  const [, , , region, account] = arn.split(':');
  return { region: region || 'us-east-1', account: account || '000000000000' };
}

/** Every option {@link startStreamPoller} reads or knowingly ignores. */
const KNOWN_OPTIONS: ReadonlySet<string> = new Set<keyof StreamPollerOptions>([
  'BatchSize',
  'MaximumBatchingWindowInSeconds',
  'FilterCriteria',
  'MaximumRetryAttempts',
  'BisectBatchOnFunctionError',
  'FunctionResponseTypes',
  'MaximumRecordAgeInSeconds',
  'StartingPosition',
  'ParallelizationFactor',
  'TumblingWindowInSeconds',
  'Enabled',
  'EventSourceArn',
  'FunctionName',
  'DestinationConfig',
  'dynamoDbStreams',
  'streamArn',
  'handler',
  'pollIntervalMs',
  'discoveryIntervalMs',
  'functionTimeoutMs',
  'functionName',
  'functionArn',
  'memoryLimitInMB',
  'retryBaseDelayMs',
  'retryMaxDelayMs',
  'onFailure',
  'logger',
]);

/**
 * Options usually arrive by spreading a mapping's properties, and TypeScript
 * does not check excess keys in a spread: a misspelt or camelCased setting
 * (`batchSize`, `filterPatterns`) would be silently ignored and the handler
 * would see unfiltered, unbatched records. Refuse them instead.
 */
function rejectUnknownOptions(options: StreamPollerOptions): void {
  const unknown = Object.keys(options).filter((key) => !KNOWN_OPTIONS.has(key));
  if (unknown.length > 0) {
    throw new InvalidEventSourceMappingError(
      `unknown stream poller options ${unknown.join(', ')}: mapping settings use their CloudFormation names (BatchSize, FilterCriteria, ...)`,
    );
  }
}

class Poller implements StreamPoller {
  private readonly streams: DynamoDBStreamsClient;
  private readonly streamArn: string;
  private readonly handler: StreamHandler;
  private readonly filter: EventMatcher;
  private readonly batchSize: number;
  private readonly batchWindowMs: number;
  private readonly maxRetries: number;
  private readonly maxRecordAgeMs: number;
  private readonly bisect: boolean;
  private readonly reportItemFailures: boolean;
  private readonly startingPosition: 'TRIM_HORIZON' | 'LATEST';
  private readonly pollIntervalMs: number;
  private readonly discoveryIntervalMs: number;
  private readonly functionTimeoutMs: number;
  private readonly functionName: string;
  private readonly functionArn: string;
  private readonly memoryLimitInMB: string;
  private readonly retryBaseDelayMs: number;
  private readonly retryMaxDelayMs: number;
  private readonly onFailure: ((failure: StreamBatchFailure) => Promise<void>) | undefined;
  private readonly log: (line: string) => void;

  private readonly counters = {
    invocations: 0,
    records: 0,
    filteredOut: 0,
    failedInvocations: 0,
    discardedRecords: 0,
  };
  private readonly shards = new Map<string, ShardState>();
  private readonly workers = new Set<Promise<void>>();
  private readonly abort = new AbortController();
  /** Wake-ups of the sleeps that only wait for the next poll (not retry backoffs). */
  private readonly wakers = new Set<() => void>();
  private idleWaiters: IdleWaiter[] = [];
  /** Bumped by every idle() call; polls and discoveries remember the epoch they started in. */
  private epoch = 0;
  private discoveredEpoch = -1;
  private initialDiscovery = true;
  private stopped = false;
  private stopping: Promise<void> | undefined;
  private fatal: Error | undefined;
  private discovery: Promise<void> = Promise.resolve();

  constructor(options: StreamPollerOptions) {
    rejectUnknownOptions(options);
    this.streams = options.dynamoDbStreams;
    this.streamArn = options.streamArn;
    this.handler = options.handler;
    // Compiled up front: an invalid pattern fails here, as CreateEventSourceMapping rejects it.
    this.filter = compileFilterCriteria(options.FilterCriteria);
    this.batchSize = requireInteger(options.BatchSize, 100, 'BatchSize', 1, 10_000);
    this.batchWindowMs =
      requireInteger(options.MaximumBatchingWindowInSeconds, 0, 'MaximumBatchingWindowInSeconds', 0, 300) *
      1000;
    this.maxRetries = requireInteger(options.MaximumRetryAttempts, -1, 'MaximumRetryAttempts', -1, 10_000);
    // Lambda's minimum is 60 s; smaller values are accepted so that tests need not wait a minute.
    const maxAge = requireInteger(
      options.MaximumRecordAgeInSeconds,
      -1,
      'MaximumRecordAgeInSeconds',
      -1,
      604_800,
    );
    this.maxRecordAgeMs = maxAge < 0 ? Number.POSITIVE_INFINITY : maxAge * 1000;
    this.bisect = options.BisectBatchOnFunctionError ?? false;
    const responseTypes = options.FunctionResponseTypes ?? [];
    for (const type of responseTypes) {
      if (type !== REPORT_BATCH_ITEM_FAILURES) {
        throw new InvalidEventSourceMappingError(
          `FunctionResponseTypes ${JSON.stringify(type)} is not supported`,
        );
      }
    }
    this.reportItemFailures = responseTypes.includes(REPORT_BATCH_ITEM_FAILURES);
    const position = options.StartingPosition ?? 'TRIM_HORIZON';
    if (position !== 'TRIM_HORIZON' && position !== 'LATEST') {
      throw new InvalidEventSourceMappingError(
        `StartingPosition ${JSON.stringify(position)} is not supported for DynamoDB`,
      );
    }
    this.startingPosition = position;
    if ((options.ParallelizationFactor ?? 1) !== 1) {
      throw new InvalidEventSourceMappingError('only ParallelizationFactor 1 is supported');
    }
    if ((options.TumblingWindowInSeconds ?? 0) !== 0) {
      throw new InvalidEventSourceMappingError('TumblingWindowInSeconds is not supported');
    }
    this.pollIntervalMs = options.pollIntervalMs ?? 250;
    this.discoveryIntervalMs = options.discoveryIntervalMs ?? 1_000;
    this.functionTimeoutMs = options.functionTimeoutMs ?? 60_000;
    this.functionName = options.functionName ?? 'local-stream-handler';
    const { region, account } = arnRegionAndAccount(options.streamArn);
    this.functionArn =
      options.functionArn ?? `arn:aws:lambda:${region}:${account}:function:${this.functionName}`;
    this.memoryLimitInMB = options.memoryLimitInMB ?? '128';
    this.retryBaseDelayMs = options.retryBaseDelayMs ?? 100;
    this.retryMaxDelayMs = options.retryMaxDelayMs ?? 2_000;
    this.onFailure = options.onFailure;
    this.log = options.logger ?? (() => undefined);
    if (options.Enabled === false) {
      this.log('the mapping is disabled; nothing is read');
      this.discoveredEpoch = Number.POSITIVE_INFINITY;
      return;
    }
    this.discovery = this.discoverLoop().catch((error: unknown) =>
      this.failFatally('discovering shards', error),
    );
  }

  get stats(): StreamPollerStats {
    return { ...this.counters, shards: this.shards.size };
  }

  idle(): Promise<void> {
    if (this.fatal) return Promise.reject(this.fatal);
    if (this.stopped) return Promise.reject(new StreamPollerStoppedError());
    this.epoch += 1;
    const epoch = this.epoch;
    const idle = new Promise<void>((resolve, reject) => this.idleWaiters.push({ epoch, resolve, reject }));
    // Poll now rather than at the next tick, so that idle() answers promptly.
    this.wake();
    this.checkIdle();
    return idle;
  }

  stop(): Promise<void> {
    this.stopping ??= (async () => {
      this.stopped = true;
      this.abort.abort();
      this.rejectIdleWaiters(new StreamPollerStoppedError());
      await Promise.allSettled([this.discovery, ...this.workers]);
    })();
    return this.stopping;
  }

  // --- shards ---------------------------------------------------------------

  private async discoverLoop(): Promise<void> {
    let errors = 0;
    let lastError = '';
    while (!this.stopped) {
      const epoch = this.epoch;
      try {
        this.addShards(await this.describeShards());
        this.discoveredEpoch = epoch;
        errors = 0;
        lastError = '';
        this.startEligibleShards();
        this.checkIdle();
      } catch (error) {
        if (this.stopped) return;
        errors += 1;
        // A deleted table keeps failing the same way; say so once, not four times a second.
        if (errorText(error) !== lastError) this.log(`DescribeStream failed: ${errorText(error)}`);
        lastError = errorText(error);
      }
      // An idle() call during DescribeStream wants a discovery that started after it: go again now.
      if (errors === 0 && this.epoch !== epoch) continue;
      await this.sleep(errors > 0 ? this.backoffMs(errors) : this.discoveryIntervalMs, true);
    }
  }

  private async describeShards(): Promise<Shard[]> {
    const shards: Shard[] = [];
    let start: string | undefined;
    do {
      const output = await this.streams.send(
        new DescribeStreamCommand({
          StreamArn: this.streamArn,
          ...(start ? { ExclusiveStartShardId: start } : {}),
        }),
        { abortSignal: this.abort.signal },
      );
      shards.push(...(output.StreamDescription?.Shards ?? []));
      start = output.StreamDescription?.LastEvaluatedShardId;
    } while (start);
    return shards;
  }

  private addShards(shards: readonly Shard[]): void {
    const initial = this.initialDiscovery;
    this.initialDiscovery = false;
    for (const shard of shards) {
      if (!shard.ShardId || this.shards.has(shard.ShardId)) continue;
      const closed = shard.SequenceNumberRange?.EndingSequenceNumber !== undefined;
      // LATEST applies to the shards open when the mapping starts; closed ones hold
      // nothing new, and shards that appear later are new, so they are read whole.
      const latest = initial && this.startingPosition === 'LATEST';
      this.shards.set(shard.ShardId, {
        id: shard.ShardId,
        parentId: shard.ParentShardId,
        status: latest && closed ? 'done' : 'waiting',
        startAt: latest ? 'LATEST' : 'TRIM_HORIZON',
        drainedEpoch: -1,
        busy: false,
      });
      this.log(
        `shard ${shard.ShardId} found${shard.ParentShardId ? ` (parent ${shard.ParentShardId})` : ''}`,
      );
    }
  }

  /** Starts every waiting shard whose parent is read to the end or no longer listed (trimmed). */
  private startEligibleShards(): void {
    if (this.stopped) return;
    for (const shard of this.shards.values()) {
      if (shard.status !== 'waiting') continue;
      const parent = shard.parentId === undefined ? undefined : this.shards.get(shard.parentId);
      if (parent && parent.status !== 'done') continue;
      shard.status = 'reading';
      const worker: Promise<void> = this.readShard(shard)
        .catch((error: unknown) => this.failFatally(`reading shard ${shard.id}`, error))
        .finally(() => this.workers.delete(worker));
      this.workers.add(worker);
    }
  }

  private async shardIterator(shard: ShardState, after: string | undefined): Promise<string | undefined> {
    const output = await this.streams.send(
      new GetShardIteratorCommand({
        StreamArn: this.streamArn,
        ShardId: shard.id,
        ...(after === undefined
          ? { ShardIteratorType: shard.startAt }
          : { ShardIteratorType: 'AFTER_SEQUENCE_NUMBER', SequenceNumber: after }),
      }),
      { abortSignal: this.abort.signal },
    );
    return output.ShardIterator;
  }

  /** Reads one shard to its end (or until stop), delivering batches in shard order. */
  private async readShard(shard: ShardState): Promise<void> {
    const buffer: BufferedRecord[] = [];
    let bufferedSince = 0;
    let iterator: string | undefined;
    /** The last record read from the stream: where a fresh iterator resumes. */
    let lastRead: string | undefined;
    let ended = false;
    let gone = false;
    let errors = 0;
    while (!this.stopped) {
      let polledEmpty = false;
      let pollEpoch = -1;
      if (!ended && buffer.length < this.batchSize) {
        try {
          iterator ??= await this.shardIterator(shard, lastRead);
          if (iterator === undefined) {
            ended = true;
          } else {
            pollEpoch = this.epoch;
            const output = await this.streams.send(
              new GetRecordsCommand({ ShardIterator: iterator, Limit: GET_RECORDS_LIMIT }),
              { abortSignal: this.abort.signal },
            );
            errors = 0;
            // No next iterator: the shard is closed and this was its last page.
            iterator = output.NextShardIterator;
            ended = iterator === undefined;
            const records = output.Records ?? [];
            polledEmpty = records.length === 0;
            for (const raw of records) {
              const buffered = this.buffered(raw);
              lastRead = buffered.sequenceNumber;
              if (!this.filter(buffered.record)) {
                this.counters.filteredOut += 1;
                continue;
              }
              if (buffer.length === 0) bufferedSince = Date.now();
              buffer.push(buffered);
            }
          }
        } catch (error) {
          if (this.stopped) return;
          if (error instanceof ExpiredIteratorException) {
            iterator = undefined;
            continue;
          }
          if (error instanceof TrimmedDataAccessException) {
            this.log(
              `shard ${shard.id}: records were trimmed before they were read; resuming at the trim horizon`,
            );
            iterator = undefined;
            lastRead = undefined;
            shard.startAt = 'TRIM_HORIZON';
            continue;
          }
          if (error instanceof ResourceNotFoundException) {
            this.log(`shard ${shard.id}: the stream or shard no longer exists; stopped reading it`);
            buffer.length = 0;
            gone = true;
            break;
          }
          errors += 1;
          this.log(`shard ${shard.id}: reading failed (${errors} in a row): ${errorText(error)}`);
          await this.sleep(this.backoffMs(errors), false);
          continue;
        }
      }

      if (buffer.length > 0) {
        shard.busy = true;
        const windowLeft = this.batchWindowMs - (Date.now() - bufferedSince);
        if (!ended && windowLeft > 0 && buffer.length < this.batchSize && !this.payloadFull(buffer)) {
          await this.sleep(Math.min(windowLeft, this.pollIntervalMs), false);
          continue;
        }
        await this.deliver(shard, this.takeBatch(buffer));
        continue;
      }
      shard.busy = false;
      if (ended) break;
      if (polledEmpty) {
        shard.drainedEpoch = pollEpoch;
        this.checkIdle();
        // An idle() call during the poll wants a poll that started after it: go again now.
        if (this.epoch === pollEpoch) await this.sleep(this.pollIntervalMs, true);
      }
      // Otherwise every record read was filtered out: read on at once.
    }
    if (this.stopped) return;
    shard.busy = false;
    shard.status = 'done';
    if (!gone) this.log(`shard ${shard.id}: read to the end`);
    // Its children may start now; look for them without waiting for the next discovery.
    this.startEligibleShards();
    this.wake();
    this.checkIdle();
  }

  private buffered(raw: StreamsRecord): BufferedRecord {
    const sequenceNumber = raw.dynamodb?.SequenceNumber;
    if (sequenceNumber === undefined)
      throw new Error(`a stream record has no sequence number: ${raw.eventID}`);
    const record = toLambdaRecord(raw, this.streamArn);
    return {
      record,
      sequenceNumber,
      size: Buffer.byteLength(JSON.stringify(record)),
      createdAtMs: raw.dynamodb?.ApproximateCreationDateTime?.getTime(),
    };
  }

  private payloadFull(buffer: readonly BufferedRecord[]): boolean {
    let size = EVENT_OVERHEAD_BYTES;
    for (const record of buffer) {
      size += record.size + 1;
      if (size > MAX_PAYLOAD_BYTES) return true;
    }
    return false;
  }

  /** Removes and returns the next batch: up to BatchSize records and under the payload limit. */
  private takeBatch(buffer: BufferedRecord[]): BufferedRecord[] {
    let size = EVENT_OVERHEAD_BYTES;
    let count = 0;
    for (const record of buffer) {
      if (count >= this.batchSize) break;
      const added = record.size + (count > 0 ? 1 : 0);
      if (count > 0 && size + added > MAX_PAYLOAD_BYTES) break;
      size += added;
      count += 1;
    }
    return buffer.splice(0, count);
  }

  // --- invocation -----------------------------------------------------------

  /** Delivers a batch until it succeeds or its records are discarded (or the poller stops). */
  private async deliver(shard: ShardState, batch: readonly BufferedRecord[]): Promise<void> {
    // The front is what is delivered next; bisecting puts two halves there.
    const queue: PendingBatch[] = [{ records: batch, failures: 0 }];
    while (!this.stopped) {
      const current = queue[0];
      if (current === undefined) return;
      const expired = this.lastExpiredIndex(current.records);
      if (expired >= 0) {
        // Records are in shard order, so everything up to the last too-old one goes, as one range.
        await this.discard(
          shard,
          current.records.slice(0, expired + 1),
          'RecordAgeExceeded',
          current.failures,
          false,
        );
        const rest = current.records.slice(expired + 1);
        if (rest.length > 0) queue[0] = { records: rest, failures: current.failures };
        else queue.shift();
        continue;
      }
      const outcome = await this.invoke(shard, current.records, current.failures);
      if (outcome.kind === 'success') {
        queue.shift();
        continue;
      }
      // The checkpoint stays just before `failed`: everything before it is done.
      const failed = outcome.kind === 'partial' ? current.records.slice(outcome.index) : current.records;
      const failures = current.failures + 1;
      if (this.maxRetries >= 0 && failures > this.maxRetries) {
        await this.discard(shard, failed, 'RetryAttemptsExhausted', failures, outcome.kind === 'error');
        queue.shift();
        continue;
      }
      if (outcome.kind === 'error' && this.bisect && failed.length > 1) {
        const middle = Math.ceil(failed.length / 2);
        queue.splice(
          0,
          1,
          { records: failed.slice(0, middle), failures },
          { records: failed.slice(middle), failures },
        );
      } else {
        queue[0] = { records: failed, failures };
      }
      await this.sleep(this.backoffMs(failures), false);
    }
  }

  private lastExpiredIndex(records: readonly BufferedRecord[]): number {
    if (!Number.isFinite(this.maxRecordAgeMs)) return -1;
    const now = Date.now();
    return records.findLastIndex(
      (record) => record.createdAtMs !== undefined && now - record.createdAtMs > this.maxRecordAgeMs,
    );
  }

  private async invoke(
    shard: ShardState,
    records: readonly BufferedRecord[],
    failures: number,
  ): Promise<Outcome> {
    // A fresh copy each time, as Lambda serializes the event: a handler that
    // mutates its event cannot change what a retry delivers.
    const event = JSON.parse(
      JSON.stringify({ Records: records.map((each) => each.record) }),
    ) as DynamoDBStreamEvent;
    const range = `${records[0]?.sequenceNumber}..${records.at(-1)?.sequenceNumber}`;
    this.counters.invocations += 1;
    this.counters.records += records.length;
    const started = Date.now();
    let response: unknown;
    try {
      response = await this.handler(event, this.context());
    } catch (error) {
      this.counters.failedInvocations += 1;
      this.log(
        `shard ${shard.id}: the function failed on ${records.length} records ${range} (failure ${failures + 1}): ${errorText(error)}`,
      );
      return { kind: 'error' };
    } finally {
      const elapsed = Date.now() - started;
      if (elapsed > this.functionTimeoutMs) {
        this.log(
          `shard ${shard.id}: the invocation took ${elapsed} ms, over the ${this.functionTimeoutMs} ms timeout Lambda would enforce`,
        );
      }
    }
    const outcome = this.interpret(response, records);
    if (outcome.kind !== 'success') {
      this.counters.failedInvocations += 1;
      const detail =
        outcome.kind === 'partial'
          ? `reported a failure at ${records[outcome.index]?.sequenceNumber}`
          : 'answered invalidly';
      this.log(
        `shard ${shard.id}: the function ${detail} in ${records.length} records ${range} (failure ${failures + 1})`,
      );
    }
    return outcome;
  }

  /** Lambda's reading of a stream handler's response (partial batch response rules). */
  private interpret(response: unknown, records: readonly BufferedRecord[]): Outcome {
    // Without ReportBatchItemFailures, Lambda ignores the response entirely.
    if (!this.reportItemFailures || !isObject(response)) return { kind: 'success' };
    const failures = response.batchItemFailures;
    if (failures === undefined || failures === null) return { kind: 'success' };
    if (!Array.isArray(failures)) return { kind: 'error' };
    let lowest = Number.POSITIVE_INFINITY;
    for (const failure of failures) {
      const id = isObject(failure) ? failure.itemIdentifier : undefined;
      // Empty, missing or unknown identifiers make the whole response invalid: a whole-batch failure.
      if (typeof id !== 'string' || id === '') return { kind: 'error' };
      const index = records.findIndex((record) => record.sequenceNumber === id);
      if (index < 0) return { kind: 'error' };
      lowest = Math.min(lowest, index);
    }
    return Number.isFinite(lowest) ? { kind: 'partial', index: lowest } : { kind: 'success' };
  }

  private context(): Context {
    return localContext(this.functionName, this.functionTimeoutMs, {
      functionArn: this.functionArn,
      memoryLimitInMB: this.memoryLimitInMB,
    });
  }

  /** Drops records past the checkpoint and reports them like an on-failure destination. */
  private async discard(
    shard: ShardState,
    records: readonly BufferedRecord[],
    condition: StreamBatchFailure['requestContext']['condition'],
    invokeCount: number,
    unhandled: boolean,
  ): Promise<void> {
    const first = records[0];
    const last = records.at(-1);
    if (first === undefined || last === undefined) return;
    this.counters.discardedRecords += records.length;
    this.log(
      `shard ${shard.id}: discarded ${records.length} records ${first.sequenceNumber}..${last.sequenceNumber} (${condition})`,
    );
    if (!this.onFailure) return;
    const arrival = (record: BufferedRecord) =>
      record.createdAtMs === undefined ? {} : { at: new Date(record.createdAtMs).toISOString() };
    const firstArrival = arrival(first).at;
    const lastArrival = arrival(last).at;
    const failure: StreamBatchFailure = {
      requestContext: {
        requestId: randomUUID(),
        functionArn: this.functionArn,
        condition,
        approximateInvokeCount: invokeCount,
      },
      ...(invokeCount > 0
        ? {
            responseContext: {
              statusCode: 200,
              executedVersion: '$LATEST',
              ...(unhandled ? { functionError: 'Unhandled' } : {}),
            },
          }
        : {}),
      version: '1.0',
      timestamp: new Date().toISOString(),
      DDBStreamBatchInfo: {
        shardId: shard.id,
        startSequenceNumber: first.sequenceNumber,
        endSequenceNumber: last.sequenceNumber,
        ...(firstArrival ? { approximateArrivalOfFirstRecord: firstArrival } : {}),
        ...(lastArrival ? { approximateArrivalOfLastRecord: lastArrival } : {}),
        batchSize: records.length,
        streamArn: this.streamArn,
      },
    };
    // The failure record is the only trace of discarded records: keep trying rather than drop it.
    for (let attempt = 1; !this.stopped; attempt += 1) {
      try {
        await this.onFailure(failure);
        return;
      } catch (error) {
        this.log(`shard ${shard.id}: onFailure failed (attempt ${attempt}): ${errorText(error)}`);
        await this.sleep(this.backoffMs(attempt), false);
      }
    }
  }

  // --- timing and idleness --------------------------------------------------

  private backoffMs(attempt: number): number {
    return Math.min(this.retryMaxDelayMs, this.retryBaseDelayMs * 2 ** Math.min(attempt - 1, 30));
  }

  /**
   * Waits `ms`, or less when the poller stops; a `wakeable` sleep (a pause
   * between polls) also ends when idle() wants a fresh poll. Timers are always
   * cleared, so nothing keeps the process alive after stop().
   */
  private sleep(ms: number, wakeable: boolean): Promise<void> {
    if (this.stopped) return Promise.resolve();
    return new Promise((resolve) => {
      const done = () => {
        clearTimeout(timer);
        this.abort.signal.removeEventListener('abort', done);
        this.wakers.delete(done);
        resolve();
      };
      const timer = setTimeout(done, ms);
      this.abort.signal.addEventListener('abort', done, { once: true });
      if (wakeable) this.wakers.add(done);
    });
  }

  private wake(): void {
    for (const wake of [...this.wakers]) wake();
  }

  private isIdleSince(epoch: number): boolean {
    if (this.discoveredEpoch < epoch) return false;
    for (const shard of this.shards.values()) {
      if (shard.status === 'done') continue;
      if (shard.status === 'waiting') {
        // Waiting on a parent that is itself being read: the parent decides.
        const parent = shard.parentId === undefined ? undefined : this.shards.get(shard.parentId);
        if (parent === undefined || parent.status === 'done') return false;
        continue;
      }
      if (shard.busy || shard.drainedEpoch < epoch) return false;
    }
    return true;
  }

  private checkIdle(): void {
    if (this.idleWaiters.length === 0) return;
    const waiting: IdleWaiter[] = [];
    for (const waiter of this.idleWaiters) {
      if (this.isIdleSince(waiter.epoch)) waiter.resolve();
      else waiting.push(waiter);
    }
    this.idleWaiters = waiting;
  }

  private rejectIdleWaiters(error: Error): void {
    const waiters = this.idleWaiters;
    this.idleWaiters = [];
    for (const waiter of waiters) waiter.reject(error);
  }

  /** A bug in the poller itself (never a handler error): stop pretending to be idle. */
  private failFatally(what: string, error: unknown): void {
    this.fatal = new Error(`stream poller: ${what} failed: ${errorText(error)}`, {
      cause: error,
    });
    this.log(this.fatal.message);
    this.rejectIdleWaiters(this.fatal);
  }
}

/**
 * Starts polling `streamArn` and invoking `handler` with the event source
 * mapping's semantics (see the module comment for the exact retry rules).
 * Returns at once; polling runs in the background until `stop()`.
 *
 * @throws InvalidEventSourceMappingError when a setting is invalid or unsupported.
 * @throws InvalidEventPatternError when a filter pattern is invalid or uses an unsupported operator.
 */
export function startStreamPoller(options: StreamPollerOptions): StreamPoller {
  const poller = new Poller(options);
  // Bound, so that `stops.push(poller.stop)` and similar detached calls work.
  return {
    stop: () => poller.stop(),
    idle: () => poller.idle(),
    get stats() {
      return poller.stats;
    },
  };
}
