/**
 * Republishing: outbox items given by a caller (the sweep, the gap guard, an
 * operator) are published per aggregate in `sequence` order and marked, with
 * the relay's own building blocks (entries, chunk plan, publisher, poison
 * queue, marks). An aggregate that cannot go on stops there; the others do.
 * sweeper.ts says why running next to the relay gives duplicates, never losses.
 */
import type { PutEventsRequestEntry } from '@aws-sdk/client-eventbridge';
import { type Chunk, type ChunkUnit, planChunks, runChunks } from './chunking';
import type { OutboxItem } from './envelope';
import type { TableKey } from './keys';
import { DEFAULT_LAYOUT } from './layout';
import { DeliveredMarks, type MarkerOptions, markFailed } from './marker';
import { asInsertRecord, type PendingEntry } from './pending-reads';
import { eventUnit, type PoisonEvent, parkPoison, rejectedPoison } from './poison';
import { type PublishFailure, publishEntries, type RetryPolicy } from './publisher';
import { MARK_RESERVE_MS, type RelayLogger, type RelayOptions, resolvePublishSettings } from './relay';

/** Dependencies and settings of {@link republish}: the relay's, without metrics. */
export type RepublishOptions = Omit<RelayOptions, 'metrics'>;

/** An aggregate whose publishing stopped; its later events were not sent. */
export interface StoppedAggregate {
  /** The aggregate's partition key. */
  readonly pk: string;
  /** The first event of it that was neither published nor parked. */
  readonly key: TableKey;
  /** Why, for the log. */
  readonly reason: string;
}

/** What a {@link republish} call came to. */
export interface RepublishResult {
  /** Keys of the events EventBridge accepted, in publishing order. */
  readonly published: readonly TableKey[];
  /** Events parked on the poison queue and marked failed. */
  readonly poisoned: number;
  /** Entries sent again after a retryable failure. */
  readonly retried: number;
  /** Events left pending: their aggregate stopped, or time ran out. */
  readonly unpublished: number;
  /** Aggregates that stopped at an event that could be neither published nor parked. */
  readonly stopped: readonly StoppedAggregate[];
  /** Published events whose delivered mark did not happen; the next sweep sends them again. */
  readonly markFailures: number;
  /** True when publishing stopped because the invocation ran out of time. */
  readonly outOfTime: boolean;
}

/**
 * Publishes the given outbox items, per aggregate in `sequence` order, and
 * marks the published ones delivered, exactly as the relay would: chunks of
 * at most one event per aggregate, retries of throttled entries, poison
 * (oversize, or refused by EventBridge for good) parked and marked failed.
 *
 * When an aggregate's event can be neither published nor parked, that
 * aggregate stops there (its later events stay pending) and the others go
 * on. Items of the same key given twice are sent once. Never throws for an
 * AWS error. For an operator republishing selected events, and for the sweep.
 */
export function republish(items: readonly OutboxItem[], options: RepublishOptions): Promise<RepublishResult> {
  return republishEntries(
    items.map((item) => ({ kind: 'event', key: { pk: item.pk, sk: item.sk }, item })),
    options,
  );
}

/**
 * {@link republish} for entries as {@link findPending} and
 * {@link readAggregatePending} return them: undecodable ones are parked as
 * poison in their place in the aggregate's order.
 */
export function republishEntries(
  entries: readonly PendingEntry[],
  options: RepublishOptions,
): Promise<RepublishResult> {
  return new Republisher(options).run(entries, new Map());
}

/** One event (or poison) to place in a chunk. */
interface Work extends ChunkUnit {
  readonly key: TableKey;
  readonly item?: OutboxItem;
  /** The entry to publish; absent when the event is poison before any call. */
  readonly entry?: PutEventsRequestEntry;
  /** Present when the event is poison before any call (undecodable, oversize). */
  readonly poison?: PoisonEvent;
}

/** Mutable state of one republish call. */
interface Progress {
  readonly published: TableKey[];
  /** Delivered marks in flight, started chunk by chunk. */
  readonly marks: DeliveredMarks;
  /** Published events whose mark was not started: the invocation was nearly out of time. */
  unmarked: number;
  /** Aggregates stopped so far; shared across the pages of a sweep. */
  readonly stopped: Map<string, StoppedAggregate>;
  /** Aggregates stopped by this call. */
  readonly stoppedNow: StoppedAggregate[];
  poisoned: number;
  retried: number;
  outOfTime: boolean;
}

/** Publishes entries per aggregate in order, with the relay's pieces; configured once per sweep. */
export class Republisher {
  private readonly logger: RelayLogger;
  private readonly now: () => Date;
  private readonly remainingTimeMs: () => number;
  private readonly safetyMarginMs: number;
  private readonly concurrency: number;
  private readonly publishPolicy: RetryPolicy;
  private readonly marker: MarkerOptions;

  constructor(private readonly options: RepublishOptions) {
    ({
      logger: this.logger,
      now: this.now,
      remainingTimeMs: this.remainingTimeMs,
      safetyMarginMs: this.safetyMarginMs,
      concurrency: this.concurrency,
      publishPolicy: this.publishPolicy,
      marker: this.marker,
    } = resolvePublishSettings(options));
  }

  /** Publishes and marks `entries`, skipping aggregates already in `stopped` and adding those that stop. */
  async run(
    entries: readonly PendingEntry[],
    stopped: Map<string, StoppedAggregate>,
  ): Promise<RepublishResult> {
    const works = this.prepare(entries, stopped);
    const progress: Progress = {
      published: [],
      marks: new DeliveredMarks(this.marker),
      unmarked: 0,
      stopped,
      stoppedNow: [],
      poisoned: 0,
      retried: 0,
      outOfTime: false,
    };
    const schedule = await runChunks(planChunks(works), {
      concurrency: this.concurrency,
      run: (chunk) => this.runChunk(chunk, works, progress),
    });
    for (const error of schedule.errors) {
      // A defect, not an AWS failure: its events stay pending for the next run.
      this.logger.error('republish stops: a chunk threw', { error });
    }
    const markFailures = await this.settleMarks(progress);
    return {
      published: progress.published,
      poisoned: progress.poisoned,
      retried: progress.retried,
      unpublished: works.length - progress.published.length - progress.poisoned,
      stopped: progress.stoppedNow,
      markFailures,
      outOfTime: progress.outOfTime,
    };
  }

  /** Orders the entries per aggregate by sequence and turns each into a unit of work. */
  private prepare(entries: readonly PendingEntry[], stopped: ReadonlyMap<string, StoppedAggregate>): Work[] {
    const unique = new Map<string, PendingEntry>();
    for (const entry of entries) {
      if (!stopped.has(entry.key.pk)) unique.set(`${entry.key.pk}\u0000${entry.key.sk}`, entry);
    }
    // Aggregate by aggregate, each in sort-key (= sequence) order: planChunks
    // keeps the input order per aggregate.
    const ordered = [...unique.values()].sort(
      (a, b) => compare(a.key.pk, b.key.pk) || compare(a.key.sk, b.key.sk),
    );
    return ordered.map((entry): Work => {
      const { key } = entry;
      if (entry.kind === 'undecodable') {
        const record = asInsertRecord(key, entry.image, this.options.layout ?? DEFAULT_LAYOUT);
        const poison: PoisonEvent = { reason: 'undecodable', detail: entry.detail, key, record };
        return { aggregate: key.pk, key, entries: 0, bytes: 0, poison };
      }
      const { item } = entry;
      return { aggregate: key.pk, key, item, ...eventUnit(item, key, this.options.eventBusName) };
    });
  }

  /**
   * Publishes a chunk's entries and parks its poison. Resolves true unless
   * time ran out: a failed aggregate is stopped on its own, so chunks holding
   * only other aggregates still run (a chunk holding a later event of a
   * stopped aggregate runs without it).
   */
  private async runChunk(chunk: Chunk, works: readonly Work[], progress: Progress): Promise<boolean> {
    if (this.remainingTimeMs() < this.safetyMarginMs) {
      progress.outOfTime = true;
      this.logger.warn('republish stops: the invocation is out of time', { chunk: chunk.index });
      return false;
    }
    const units = chunk.units
      .map((index) => works[index])
      .filter((work): work is Work => work !== undefined && !progress.stopped.has(work.aggregate));
    const toPublish = units.flatMap((work) =>
      work.entry && work.item ? [{ work, entry: work.entry, item: work.item }] : [],
    );
    const toPark = units.flatMap((work) => (work.poison ? [{ work, poison: work.poison }] : []));

    if (toPublish.length > 0) {
      const result = await publishEntries(
        toPublish.map(({ entry }) => entry),
        { ...this.publishPolicy, client: this.options.eventBridge },
      );
      progress.retried += result.retried;
      const delivered: TableKey[] = [];
      result.outcomes.forEach((outcome, index) => {
        const published = toPublish[index];
        if (!published) return;
        const { work, item } = published;
        if (outcome.status === 'published') {
          progress.published.push(work.key);
          delivered.push(work.key);
        } else if (outcome.status === 'rejected') {
          toPark.push({ work, poison: rejectedPoison(outcome.code, outcome.message, work.key, item) });
        } else {
          this.stop(work, describeFailure(result.failure), progress);
        }
      });
      this.startMarks(delivered, progress);
    }
    await Promise.all(toPark.map(({ work, poison }) => this.park(work, poison, progress)));
    return true;
  }

  /** Parks a poison event and marks it failed; stops its aggregate when it cannot be parked. */
  private async park(work: Work, poison: PoisonEvent, progress: Progress): Promise<void> {
    try {
      await parkPoison(poison, {
        client: this.options.sqs,
        queueUrl: this.options.poisonQueueUrl,
        now: this.now,
      });
    } catch (error) {
      // Skipping it would publish its successors past an event nobody can find: stop here.
      this.stop(work, `the poison event could not be parked: ${errorText(error)}`, progress);
      return;
    }
    progress.poisoned += 1;
    this.logger.warn('poison event parked', { key: work.key, reason: poison.reason, detail: poison.detail });
    const marked = await markFailed(work.key, `${poison.reason}: ${poison.detail}`, this.marker);
    if (marked.status === 'failed') {
      // Still pending, so a later sweep parks it again: a duplicate message, nothing lost.
      this.logger.error('could not mark a parked event failed', { key: work.key, error: marked.error });
    }
  }

  private stop(work: Work, reason: string, progress: Progress): void {
    if (progress.stopped.has(work.aggregate)) return;
    const stopped: StoppedAggregate = { pk: work.aggregate, key: work.key, reason };
    progress.stopped.set(work.aggregate, stopped);
    progress.stoppedNow.push(stopped);
    this.logger.error('an aggregate stops: its later events wait for the next sweep', { ...stopped });
  }

  /** Starts the delivered marks of a chunk's published events, which run while later chunks publish. */
  private startMarks(keys: readonly TableKey[], progress: Progress): void {
    if (keys.length === 0) return;
    if (this.remainingTimeMs() < MARK_RESERVE_MS) {
      progress.unmarked += keys.length;
      this.logger.warn('delivered marks skipped: out of time; the next sweep sends these events again', {
        items: keys.length,
      });
      return;
    }
    progress.marks.start(keys);
  }

  /** Waits for every delivered mark started; returns how many marks did not happen. */
  private async settleMarks(progress: Progress): Promise<number> {
    const result = await progress.marks.settle();
    for (const failure of result.failures) {
      this.logger.error('could not mark an event delivered; the next sweep sends it again', {
        key: failure.key,
        error: failure.error,
      });
    }
    return progress.unmarked + result.failures.length;
  }
}

function compare(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

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
