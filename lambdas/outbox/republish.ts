/**
 * Republishing: outbox items given by a caller (the sweep, the gap guard, an
 * operator) are published per aggregate in `sequence` order and marked,
 * through the relay's own pipeline (pipeline.ts) under the `aggregate` stop
 * policy: an aggregate that cannot go on stops there; the others do.
 * sweeper.ts says why running next to the relay gives duplicates, never losses.
 */
import type { OutboxItem } from './envelope';
import type { TableKey } from './keys';
import { DEFAULT_LAYOUT } from './layout';
import { asInsertRecord, type PendingEntry } from './pending-reads';
import {
  eventWork,
  Pipeline,
  type PipelineOptions,
  type PipelineUnit,
  poisonWork,
  type StoppedAggregate,
} from './pipeline';

export type { StoppedAggregate } from './pipeline';

/** Dependencies and settings of {@link republish}: the relay's, without metrics. */
export type RepublishOptions = PipelineOptions;

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

/** Publishes entries per aggregate in order, through the relay's pipeline; configured once per sweep. */
export class Republisher {
  private readonly pipeline: Pipeline;

  constructor(private readonly options: RepublishOptions) {
    this.pipeline = new Pipeline(options, 'republish');
  }

  /** Publishes and marks `entries`, skipping aggregates already in `stopped` and adding those that stop. */
  async run(
    entries: readonly PendingEntry[],
    stopped: Map<string, StoppedAggregate>,
  ): Promise<RepublishResult> {
    const units = this.prepare(entries, stopped);
    const run = await this.pipeline.run(units, { scope: 'aggregate', stopped });
    return {
      published: run.published,
      poisoned: run.poisoned,
      retried: run.retried,
      unpublished: units.length - run.published.length - run.poisoned,
      stopped: run.stopped,
      // A failed mark that did not happen is parked again by a later sweep, not sent again.
      markFailures: run.deliveredMarkFailures,
      outOfTime: run.outOfTime,
    };
  }

  /** Orders the entries per aggregate by sequence and turns each into a unit of the pipeline. */
  private prepare(
    entries: readonly PendingEntry[],
    stopped: ReadonlyMap<string, StoppedAggregate>,
  ): PipelineUnit[] {
    const unique = new Map<string, PendingEntry>();
    for (const entry of entries) {
      if (!stopped.has(entry.key.pk)) unique.set(`${entry.key.pk}\u0000${entry.key.sk}`, entry);
    }
    // Aggregate by aggregate, each in sort-key (= sequence) order: planChunks
    // keeps the input order per aggregate.
    const ordered = [...unique.values()].sort(
      (a, b) => compare(a.key.pk, b.key.pk) || compare(a.key.sk, b.key.sk),
    );
    return ordered.map((entry) => {
      const { key } = entry;
      if (entry.kind === 'event') return eventWork(entry.item, key, this.options.eventBusName);
      const record = asInsertRecord(key, entry.image, this.options.layout ?? DEFAULT_LAYOUT);
      return poisonWork(key.pk, { reason: 'undecodable', detail: entry.detail, key, record });
    });
  }
}

function compare(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}
