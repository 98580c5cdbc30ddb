/**
 * The publishing pipeline the relay and the republishing (sweep, gap guard,
 * operator CLI) share: units of work built from events, a chunk plan that
 * keeps each aggregate's events in sequence (chunking.ts), PutEvents calls
 * with retries (publisher.ts), poison parked (poison.ts) and marks
 * (marker.ts). The one thing that differs between its callers is what a
 * failure stops, the {@link StopPolicy}:
 *
 * - `batch` (the relay): the first unit that can be neither published nor
 *   parked fails its chunk, and no chunk starts after that (chunks in flight
 *   finish). The stream redelivers everything from the first unresolved
 *   record, so going on would only send copies.
 * - `aggregate` (republishing): that unit stops its aggregate only; the
 *   aggregate's later units are left out of every chunk that runs after,
 *   and the other aggregates go on.
 *
 * Under both, running out of time stops every chunk not yet started.
 *
 * Why nothing is lost and nothing is sent out of order, under either policy:
 * - an item is marked delivered only after EventBridge accepted its own entry
 *   in this run, and marked failed only after its poison was parked; anything
 *   else stays pending, where the gap guard and the sweeper find it;
 * - a chunk holds at most one unit per aggregate and starts only after every
 *   earlier chunk holding one of its aggregates has resolved: under `batch`,
 *   resolved means all of that chunk's units were published or parked; under
 *   `aggregate`, a unit that was not has stopped its aggregate before its
 *   chunk resolved, so no later unit of it is sent;
 * - only what a caller read as committed goes in: stream INSERTs and items
 *   read consistently as pending. A cancelled transaction wrote neither.
 */
import type { EventBridgeClient, PutEventsRequestEntry } from '@aws-sdk/client-eventbridge';
import type { SQSClient } from '@aws-sdk/client-sqs';
import type { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { type Chunk, type ChunkUnit, planChunks, runChunks } from './chunking';
import type { OutboxItem } from './envelope';
import type { TableKey } from './keys';
import { DEFAULT_LAYOUT, type OutboxLayout } from './layout';
import { DeliveredMarks, type MarkerOptions, markFailed } from './marker';
import { type OutboxLogger, outboxLogger } from './observability';
import { eventUnit, type PoisonEvent, parkPoison, rejectedPoison } from './poison';
import { type PublishFailure, publishEntries, type RetryPolicy } from './publisher';

/** Dependencies and settings of publishing: the relay's options without its metrics. */
export interface PipelineOptions {
  /** Bus the events go to. */
  readonly eventBusName: string;
  /** Table holding the outbox items (for the marks). */
  readonly tableName: string;
  /** SQS queue poison events are parked on. */
  readonly poisonQueueUrl: string;
  /** Client of the PutEvents calls. */
  readonly eventBridge: EventBridgeClient;
  /** Client of the marks. */
  readonly dynamo: DynamoDBDocumentClient;
  /** Client that parks poison. */
  readonly sqs: SQSClient;
  /** @default the library's own Powertools logger (service `outbox`), see observability.ts */
  readonly logger?: OutboxLogger;
  /** How long delivered items are kept before TTL deletes them. @default 24 */
  readonly deliveredRetentionHours?: number;
  /** Most PutEvents calls in flight at once. @default 8 */
  readonly concurrency?: number;
  /** Time left in the invocation (Lambda `context.getRemainingTimeInMillis`). @default unlimited */
  readonly remainingTimeMs?: () => number;
  /** Time kept in reserve for marks and the response: no chunk starts and no retry waits into it. @default 5000 */
  readonly safetyMarginMs?: number;
  /** Most PutEvents attempts per chunk, the first one included. @default 10 */
  readonly maxAttempts?: number;
  /** Most attempts per mark call or statement. @default 3 */
  readonly markMaxAttempts?: number;
  /** Backoff cap of the first retry, doubled per attempt, before full jitter. @default 10 */
  readonly baseDelayMs?: number;
  /** Largest backoff cap. @default 2000 */
  readonly maxDelayMs?: number;
  /** Clock. @default () => new Date() */
  readonly now?: () => Date;
  /** Attribute and index names of the table (see {@link outboxLayoutFromEnv}). @default DEFAULT_LAYOUT */
  readonly layout?: OutboxLayout;
  /** Waits between retries; tests pass a fake. @default a timer */
  readonly sleep?: (ms: number) => Promise<void>;
  /** Jitter source, uniform in [0, 1). @default Math.random */
  readonly random?: () => number;
}

/** Default settings of publishing, named so the handlers and the docs agree. */
export const RELAY_DEFAULTS = {
  deliveredRetentionHours: 24,
  concurrency: 8,
  safetyMarginMs: 5000,
  // A throttled entry holds every chunk behind it, so the first retries come
  // quickly (10, 20, 40 ms caps); ten attempts keep the retry horizon of a
  // sustained throttle at about 4.5 s of backoff, as 8 attempts from 50 ms did
  // (5 s). With 5 % of entries throttled this takes the relay from about 58 %
  // to about 70 % of its fault-free throughput (npm run bench).
  maxAttempts: 10,
  markMaxAttempts: 3,
  baseDelayMs: 10,
  maxDelayMs: 2000,
} as const;

/** Marks still run this close to the deadline; less than the publish margin, which exists for them. */
export const MARK_RESERVE_MS = 1000;

/** The options with their defaults filled in: what publishing and marking need. */
export interface PublishSettings {
  readonly logger: OutboxLogger;
  readonly now: () => Date;
  readonly remainingTimeMs: () => number;
  readonly safetyMarginMs: number;
  readonly concurrency: number;
  readonly publishPolicy: RetryPolicy;
  readonly marker: MarkerOptions;
}

/** Fills in the defaults of the options; the relay, the republishing and the gap guard's reads share them. */
export function resolvePublishSettings(options: PipelineOptions): PublishSettings {
  const remainingTimeMs = options.remainingTimeMs ?? (() => Number.POSITIVE_INFINITY);
  const safetyMarginMs = options.safetyMarginMs ?? RELAY_DEFAULTS.safetyMarginMs;
  const now = options.now ?? (() => new Date());
  const pacing = {
    baseDelayMs: options.baseDelayMs ?? RELAY_DEFAULTS.baseDelayMs,
    maxDelayMs: options.maxDelayMs ?? RELAY_DEFAULTS.maxDelayMs,
    remainingTimeMs,
    sleep: options.sleep ?? ((ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms))),
    random: options.random ?? Math.random,
  };
  return {
    logger: options.logger ?? outboxLogger(),
    now,
    remainingTimeMs,
    safetyMarginMs,
    concurrency: options.concurrency ?? RELAY_DEFAULTS.concurrency,
    publishPolicy: {
      ...pacing,
      maxAttempts: options.maxAttempts ?? RELAY_DEFAULTS.maxAttempts,
      safetyMarginMs,
    },
    marker: {
      client: options.dynamo,
      tableName: options.tableName,
      now,
      retentionHours: options.deliveredRetentionHours ?? RELAY_DEFAULTS.deliveredRetentionHours,
      layout: options.layout ?? DEFAULT_LAYOUT,
      retry: {
        ...pacing,
        maxAttempts: options.markMaxAttempts ?? RELAY_DEFAULTS.markMaxAttempts,
        safetyMarginMs: Math.min(MARK_RESERVE_MS, safetyMarginMs),
      },
    },
  };
}

/** One event, or one poison, to place in a chunk. */
export interface PipelineUnit extends ChunkUnit {
  /** The outbox item's key; absent only for a record whose key did not decode (it is parked, never marked). */
  readonly key?: TableKey;
  readonly item?: OutboxItem;
  /** The entry to publish; absent when the unit is poison before any call. */
  readonly entry?: PutEventsRequestEntry;
  /** Present when the unit is poison before any call (undecodable, oversize). */
  readonly poison?: PoisonEvent;
}

/** The unit of a decoded event: its PutEvents entry, or its poison when the entry is over the size limit. */
export function eventWork(item: OutboxItem, key: TableKey, eventBusName: string): PipelineUnit {
  return { aggregate: item.pk, key, item, ...eventUnit(item, key, eventBusName) };
}

/** The unit of poison known before any call (an item that did not decode), in `aggregate`'s order. */
export function poisonWork(aggregate: string, poison: PoisonEvent): PipelineUnit {
  return { aggregate, ...(poison.key ? { key: poison.key } : {}), entries: 0, bytes: 0, poison };
}

/** An aggregate whose publishing stopped; its later events were not sent. */
export interface StoppedAggregate {
  /** The aggregate's partition key. */
  readonly pk: string;
  /** The first event of it that was neither published nor parked. */
  readonly key: TableKey;
  /** Why, for the log. */
  readonly reason: string;
}

/** What a unit that can be neither published nor parked stops; see the file's header. */
export type StopPolicy =
  /** The relay: no chunk starts after the first failure. */
  | { readonly scope: 'batch' }
  /**
   * Republishing: the unit's aggregate stops, the others go on. Aggregates
   * already in `stopped` are left out; those that stop are added (a sweep
   * shares one map across its pages).
   */
  | { readonly scope: 'aggregate'; readonly stopped: Map<string, StoppedAggregate> };

/** What became of a unit. */
export type UnitStatus = 'pending' | 'published' | 'poisoned';

/** What one run of the pipeline came to. */
export interface PipelineRun {
  /** Per unit, in the order given. */
  readonly status: readonly UnitStatus[];
  /** Keys of the events EventBridge accepted, in publishing order (a unit given twice counts twice). */
  readonly published: readonly TableKey[];
  /** Units parked on the poison queue. */
  readonly poisoned: number;
  /** Entries sent again after a retryable failure. */
  readonly retried: number;
  /** Units that could be neither published nor parked. */
  readonly publishFailures: number;
  /** Aggregates that stopped in this run (under `aggregate`; under `batch`, the aggregates of those units). */
  readonly stopped: readonly StoppedAggregate[];
  /** Published events whose delivered mark did not happen or was not started (out of time). */
  readonly deliveredMarkFailures: number;
  /** Parked events whose failed mark did not happen; still pending, so they are parked again later. */
  readonly failedMarkFailures: number;
  /** True when a chunk did not start because the invocation was out of time. */
  readonly outOfTime: boolean;
  /** Largest time from `occurredAt` to acceptance by EventBridge; undefined when nothing was published. */
  readonly maxLagMs: number | undefined;
}

/** Who is publishing, for the log lines: `relay` or `republish`. */
export type PipelineName = 'relay' | 'republish';

/** Mutable state of one run. */
class RunState {
  readonly status: UnitStatus[];
  readonly published: TableKey[] = [];
  readonly stoppedNow: StoppedAggregate[] = [];
  /** Failed marks in flight; each counts its own failure. */
  readonly failedMarks: Promise<void>[] = [];
  poisoned = 0;
  retried = 0;
  publishFailures = 0;
  unmarked = 0;
  failedMarkFailures = 0;
  outOfTime = false;
  maxLagMs = Number.NEGATIVE_INFINITY;

  constructor(
    units: readonly PipelineUnit[],
    readonly policy: StopPolicy,
    /** Stopped aggregates: the policy's map under `aggregate`, this run's own under `batch`. */
    readonly stopped: Map<string, StoppedAggregate>,
    /** Delivered marks in flight, started chunk by chunk. */
    readonly marks: DeliveredMarks,
  ) {
    this.status = units.map(() => 'pending');
  }
}

/**
 * The pipeline, configured once: `run` publishes units per aggregate in the
 * order given, parks their poison and marks them, stopping as the policy says.
 */
export class Pipeline {
  private readonly settings: PublishSettings;

  constructor(
    private readonly options: PipelineOptions,
    private readonly name: PipelineName,
  ) {
    this.settings = resolvePublishSettings(options);
  }

  /**
   * Plans and runs `units` (each aggregate's units in sequence order), then
   * waits for every mark started. Never throws for an AWS error.
   */
  async run(units: readonly PipelineUnit[], policy: StopPolicy): Promise<PipelineRun> {
    const state = new RunState(
      units,
      policy,
      policy.scope === 'aggregate' ? policy.stopped : new Map(),
      new DeliveredMarks(this.settings.marker),
    );
    const schedule = await runChunks(planChunks(units), {
      concurrency: this.settings.concurrency,
      run: (chunk) => this.runChunk(chunk, units, state),
    });
    for (const error of schedule.errors) {
      // A defect, not an AWS failure: its units stay pending for the checkpoint or the next run.
      this.settings.logger.error(`${this.name} stops: a chunk threw`, { error });
    }
    const deliveredMarkFailures = await this.settleMarks(state);
    return {
      status: state.status,
      published: state.published,
      poisoned: state.poisoned,
      retried: state.retried,
      publishFailures: state.publishFailures,
      stopped: state.stoppedNow,
      deliveredMarkFailures,
      failedMarkFailures: state.failedMarkFailures,
      outOfTime: state.outOfTime,
      maxLagMs: state.published.length > 0 ? Math.max(0, state.maxLagMs) : undefined,
    };
  }

  /**
   * Publishes a chunk's entries and parks its poison. Resolves false when
   * the run must start no more chunks: out of time, or (under `batch`) a unit
   * was neither published nor parked. Units of stopped aggregates are left
   * out: under `aggregate` a later chunk runs without them.
   */
  private async runChunk(chunk: Chunk, units: readonly PipelineUnit[], state: RunState): Promise<boolean> {
    const { logger, remainingTimeMs, safetyMarginMs, now } = this.settings;
    if (remainingTimeMs() < safetyMarginMs) {
      state.outOfTime = true;
      logger.warn(`${this.name} stops: the invocation is out of time`, { chunk: chunk.index });
      return false;
    }
    const members = chunk.units.filter((index) => {
      const unit = units[index];
      return unit !== undefined && !state.stopped.has(unit.aggregate);
    });
    const toPublish = members.flatMap((index) => {
      const unit = units[index] as PipelineUnit;
      return unit.entry && unit.item && unit.key
        ? [{ index, entry: unit.entry, item: unit.item, key: unit.key }]
        : [];
    });
    const toPark = members.flatMap((index) => {
      const poison = (units[index] as PipelineUnit).poison;
      return poison ? [{ index, poison }] : [];
    });
    let complete = true;

    if (toPublish.length > 0) {
      const result = await publishEntries(
        toPublish.map(({ entry }) => entry),
        { ...this.settings.publishPolicy, client: this.options.eventBridge },
      );
      state.retried += result.retried;
      const publishedAt = now().getTime();
      const delivered: TableKey[] = [];
      const unpublished: number[] = [];
      result.outcomes.forEach((outcome, position) => {
        const sent = toPublish[position];
        if (!sent) return;
        if (outcome.status === 'published') {
          state.status[sent.index] = 'published';
          state.published.push(sent.key);
          delivered.push(sent.key);
          state.maxLagMs = Math.max(state.maxLagMs, publishedAt - Date.parse(sent.item.occurredAt));
        } else if (outcome.status === 'rejected') {
          toPark.push({
            index: sent.index,
            poison: rejectedPoison(outcome.code, outcome.message, sent.key, sent.item),
          });
        } else {
          unpublished.push(sent.index);
        }
      });
      this.startMarks(delivered, state);
      if (unpublished.length > 0) {
        complete = false;
        this.fail(
          unpublished,
          units,
          state,
          'a chunk could not be published',
          describeFailure(result.failure),
          {
            chunk: chunk.index,
            unpublished: unpublished.length,
            ...failureFields(result.failure),
          },
        );
      }
    }

    const parked = await Promise.all(
      toPark.map(({ index, poison }) => this.park(index, poison, units, state)),
    );
    // Under `aggregate` a failed unit has stopped its aggregate already; the chunk's successors may run.
    return state.policy.scope === 'aggregate' || (complete && parked.every(Boolean));
  }

  /** Parks a poison unit and starts its failed mark; false when it could not be parked. */
  private async park(
    index: number,
    poison: PoisonEvent,
    units: readonly PipelineUnit[],
    state: RunState,
  ): Promise<boolean> {
    const { logger, marker, now } = this.settings;
    const key = units[index]?.key;
    try {
      await parkPoison(poison, { client: this.options.sqs, queueUrl: this.options.poisonQueueUrl, now });
    } catch (error) {
      // Dropping it would lose the event, and skipping it would send its
      // successors past an event nobody can find: it stays pending, and stops.
      const reason = `the poison event could not be parked: ${errorText(error)}`;
      this.fail([index], units, state, 'a poison event could not be parked', reason, {
        key,
        reason: poison.reason,
        error,
      });
      return false;
    }
    state.status[index] = 'poisoned';
    state.poisoned += 1;
    logger.warn('poison event parked', { key, reason: poison.reason, detail: poison.detail });
    if (key) {
      // Not awaited: the chunk's successors need the event parked, not marked.
      state.failedMarks.push(
        markFailed(key, `${poison.reason}: ${poison.detail}`, marker).then((marked) => {
          if (marked.status !== 'failed') return;
          // Still pending, so it is parked again later: a duplicate message, nothing lost.
          state.failedMarkFailures += 1;
          logger.error('could not mark a parked event failed', { key, error: marked.error });
        }),
      );
    }
    return true;
  }

  /**
   * Records units that could be neither published nor parked: their
   * aggregates stop. Logged once for the batch under `batch`, once per
   * aggregate under `aggregate`.
   */
  private fail(
    indices: readonly number[],
    units: readonly PipelineUnit[],
    state: RunState,
    what: string,
    reason: string,
    fields: Record<string, unknown>,
  ): void {
    state.publishFailures += indices.length;
    const { logger } = this.settings;
    if (state.policy.scope === 'batch') logger.error(`${this.name} stops: ${what}`, fields);
    for (const index of indices) {
      const unit = units[index];
      // A unit without a key (a record whose key did not decode) is the only one of its aggregate.
      if (!unit?.key || state.stopped.has(unit.aggregate)) continue;
      const stopped: StoppedAggregate = { pk: unit.aggregate, key: unit.key, reason };
      state.stopped.set(unit.aggregate, stopped);
      state.stoppedNow.push(stopped);
      if (state.policy.scope === 'aggregate') {
        logger.error('an aggregate stops: its later events wait for the next sweep', { ...stopped });
      }
    }
  }

  /**
   * Starts the delivered marks of a chunk's published events; they run while
   * later chunks publish. Skipped when the invocation is nearly out of time:
   * the events stay pending and the gap guard or the sweeper covers them.
   */
  private startMarks(keys: readonly TableKey[], state: RunState): void {
    if (keys.length === 0) return;
    if (this.settings.remainingTimeMs() < MARK_RESERVE_MS) {
      state.unmarked += keys.length;
      this.settings.logger.warn(
        'delivered marks skipped: out of time; the sweeper sends these events again',
        {
          items: keys.length,
        },
      );
      return;
    }
    state.marks.start(keys);
  }

  /** Waits for every mark started; returns how many delivered marks did not happen. */
  private async settleMarks(state: RunState): Promise<number> {
    const [result] = await Promise.all([state.marks.settle(), Promise.all(state.failedMarks)]);
    for (const failure of result.failures) {
      this.settings.logger.error('could not mark an event delivered; the sweeper sends it again', {
        key: failure.key,
        error: failure.error,
      });
    }
    return state.unmarked + result.failures.length;
  }
}

/** Structured fields of a publish failure, for the log. */
function failureFields(failure: PublishFailure | undefined): Record<string, unknown> {
  if (!failure) return {};
  switch (failure.reason) {
    case 'call-rejected':
      return { failure: failure.reason, error: failure.error };
    case 'retries-exhausted':
      return { failure: failure.reason, error: failure.error, code: failure.code };
    case 'entry-refused':
      return { failure: failure.reason, code: failure.code, message: failure.message };
  }
}

/** A publish failure in words, for a {@link StoppedAggregate}. */
function describeFailure(failure: PublishFailure | undefined): string {
  if (!failure) return 'not published';
  switch (failure.reason) {
    case 'call-rejected':
      return `PutEvents was rejected: ${errorText(failure.error)}`;
    case 'retries-exhausted':
      return `retries exhausted${failure.code ? ` (${failure.code})` : ''}${failure.error ? `: ${errorText(failure.error)}` : ''}`;
    case 'entry-refused':
      return `EventBridge refused the entry: ${failure.code}${failure.message ? ` ${failure.message}` : ''}`;
  }
}

function errorText(error: unknown): string {
  return error instanceof Error ? `${error.name}: ${error.message}` : String(error);
}
