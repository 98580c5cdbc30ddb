/**
 * `outbox republish`: publishes selected events the way the relay and the
 * sweeper do, with their own building blocks (`readAggregatesPending`,
 * `republishEntries`), so retries, poison parking and delivered marks are
 * identical.
 *
 * Order per aggregate: for every aggregate with a selected event, all of its
 * still-pending events up to the newest selected one are read from the table
 * (consistently) and published in `sequence` order, earlier unselected ones
 * included. An aggregate whose event can be neither published nor parked
 * stops there; its later events stay pending for the sweeper.
 *
 * A failed (poison) event selected by id was fixed by an operator: it is
 * published after the aggregate's earlier pending events and then marked
 * delivered like any other (`markDelivered` only requires the item to exist,
 * so no pending marker needs restoring first; `failedAt` and `failureReason`
 * stay on the item as history). Its later events may have been delivered long
 * ago, so it reaches consumers out of order: a warning says so. If it is
 * still poison, it is parked and marked failed again.
 *
 * Delivered events are skipped: consumers apply each `eventId` once, so a
 * copy would be dropped anyway (replay from the bus's archive instead).
 */
import {
  findPending,
  MARK_RESERVE_MS,
  type PendingEntry,
  type RepublishOptions,
  type RepublishResult,
  readAggregatesPending,
  republishEntries,
  type StoppedAggregate,
  toPendingEntry,
} from '../../lambdas/outbox';
import type { RepublishSelection } from '../args';
import { type CommandContext, printResult } from '../context';
import { EXIT, InterruptedError } from '../errors';
import { formatCount, formatDuration, formatTable } from '../format';
import { findEventsById } from '../lookup';
import { layoutOf, requireName } from '../target';
import { type PendingEventView, pendingEventView } from './pending';

/** Options of `republish`. */
export interface RepublishCommandOptions {
  readonly selection: RepublishSelection;
  readonly dryRun: boolean;
  readonly segments: number;
  readonly deliveredTtlHours: number;
}

/** What became of an event. */
export type Outcome =
  | 'published'
  | 'poisoned'
  | 'unpublished'
  /** Not published; whether parked or left pending is unknown (the run was interrupted). */
  | 'not-published'
  | 'would-publish'
  /** Dry run: the item does not decode; it would be parked as poison. */
  | 'would-park';

/** One event sent or to be sent (the `--json` shape of `events[]`). */
export interface RepublishEventView extends PendingEventView {
  /** Its state before this run. */
  readonly state: 'pending' | 'failed';
  /** True for an event the selection named; false for an earlier pending event sent to keep order. */
  readonly selected: boolean;
  readonly outcome: Outcome;
}

/** A selected event that is not sent. */
export interface SkippedView {
  readonly eventId: string;
  readonly pk: string;
  readonly sk: string;
  readonly reason: string;
}

/** Totals of a run (the `--json` shape of `summary`). */
export interface RepublishSummary {
  published: number;
  poisoned: number;
  unpublished: number;
  markFailures: number;
  retried: number;
}

/** Aggregates read and republished per round: bounds memory on a large backlog. */
const AGGREGATES_PER_ROUND = 50;
/** Aggregates read from the table at once (the sweeper's default). */
const READ_CONCURRENCY = 8;

/** One aggregate to republish: up to which event, and what was selected in it. */
interface AggregateWork {
  readonly pk: string;
  /** Selected pending events, by sort key (value: event id, when known). */
  readonly pendingTargets: Map<string, string | undefined>;
  /** Selected failed events, decoded from their items. */
  readonly failedTargets: Map<string, PendingEntry>;
}

/** The run's state, filled as aggregates are processed. */
interface Run {
  readonly events: RepublishEventView[];
  readonly skipped: SkippedView[];
  readonly stopped: StoppedAggregate[];
  readonly warnings: string[];
  readonly summary: RepublishSummary;
  interrupted: boolean;
}

/** Republishes the selection; exit 0 when all is done, 1 when something was left, 130 on Ctrl-C. */
export async function runRepublish(
  context: CommandContext,
  options: RepublishCommandOptions,
): Promise<number> {
  const tableName = requireName(context.target, 'table', 'republish');
  const publishing = options.dryRun
    ? undefined
    : {
        eventBusName: requireName(context.target, 'bus', 'republish'),
        poisonQueueUrl: requireName(context.target, 'poisonQueueUrl', 'republish'),
      };
  const now = context.now();
  const run: Run = {
    events: [],
    skipped: [],
    stopped: [],
    warnings: [],
    summary: { published: 0, poisoned: 0, unpublished: 0, markFailures: 0, retried: 0 },
    interrupted: false,
  };

  let notFound: readonly string[] = [];
  let works: AggregateWork[];
  if (options.selection.by === 'id') {
    const lookup = await selectById(context, tableName, options.selection.eventIds, options.segments, run);
    works = lookup.works;
    notFound = lookup.notFound;
  } else {
    works = await selectByAge(context, tableName, options.selection.olderThanSeconds, now);
  }

  const republishOptions: RepublishOptions | undefined = publishing && {
    tableName,
    ...publishing,
    eventBridge: context.clients.eventBridge,
    dynamo: context.clients.doc,
    layout: layoutOf(context.target),
    sqs: context.clients.sqs,
    logger: context.logger,
    now: context.now,
    deliveredRetentionHours: options.deliveredTtlHours,
    // On Ctrl-C no new PutEvents call starts, while the marks of what was
    // published still run (they start unless less than MARK_RESERVE_MS is left).
    remainingTimeMs: () => (context.signal.aborted ? MARK_RESERVE_MS : Number.POSITIVE_INFINITY),
  };

  const progress = context.progress(options.dryRun ? 'reading aggregates' : 'republishing');
  try {
    for (let start = 0; start < works.length; start += AGGREGATES_PER_ROUND) {
      if (context.signal.aborted) {
        run.interrupted = true;
        break;
      }
      const round = works.slice(start, start + AGGREGATES_PER_ROUND);
      await processRound(context, tableName, round, republishOptions, run, now);
      progress.update(Math.min(start + round.length, works.length), works.length, 'aggregates');
    }
  } finally {
    progress.finish();
  }
  run.interrupted ||= context.signal.aborted;
  for (const warning of run.warnings) context.warn(`warning: ${warning}`);

  const json = {
    command: 'republish',
    asOf: now.toISOString(),
    table: tableName,
    bus: publishing?.eventBusName ?? context.target.eventBusName ?? null,
    dryRun: options.dryRun,
    selection: options.selection,
    events: run.events,
    summary: run.summary,
    stopped: run.stopped,
    skipped: run.skipped,
    notFound,
    warnings: run.warnings,
    interrupted: run.interrupted,
  };
  printResult(context, json, republishText(options, run, notFound));
  if (run.interrupted) return EXIT.interrupted;
  return run.summary.unpublished > 0 || notFound.length > 0 ? EXIT.incomplete : EXIT.ok;
}

/** Finds the ids and turns them into aggregates to process; delivered and unmarked ones are skipped. */
async function selectById(
  context: CommandContext,
  tableName: string,
  eventIds: readonly string[],
  segments: number,
  run: Run,
): Promise<{ works: AggregateWork[]; notFound: readonly string[] }> {
  const lookup = await findEventsById(context, tableName, eventIds, segments);
  const works = new Map<string, AggregateWork>();
  const workFor = (pk: string) => {
    let work = works.get(pk);
    if (!work) {
      work = { pk, pendingTargets: new Map(), failedTargets: new Map() };
      works.set(pk, work);
    }
    return work;
  };
  for (const event of lookup.found) {
    const { key } = event;
    if (event.state === 'pending') {
      workFor(key.pk).pendingTargets.set(key.sk, event.eventId);
    } else if (event.state === 'failed') {
      const entry = toPendingEntry(event.image, layoutOf(context.target));
      if (entry) workFor(key.pk).failedTargets.set(key.sk, entry);
    } else {
      const reason =
        event.state === 'delivered'
          ? `already delivered at ${event.image.deliveredAt?.S ?? '?'}; consumers would drop a copy (replay from the archive instead)`
          : 'the item carries no pending, delivered or failed marker; inspect it first';
      run.skipped.push({ eventId: event.eventId, ...key, reason });
    }
  }
  return { works: [...works.values()].sort((a, b) => a.pk.localeCompare(b.pk)), notFound: lookup.notFound };
}

/** Reads the pending index for events older than the threshold and groups them by aggregate. */
async function selectByAge(
  context: CommandContext,
  tableName: string,
  olderThanSeconds: number,
  now: Date,
): Promise<AggregateWork[]> {
  const works = new Map<string, AggregateWork>();
  const progress = context.progress('reading the pending index');
  let count = 0;
  try {
    const scan = findPending({
      client: context.clients.dynamoDb,
      tableName,
      layout: layoutOf(context.target),
      olderThan: new Date(now.getTime() - olderThanSeconds * 1000),
      shouldContinue: () => !context.signal.aborted,
    });
    for await (const page of scan) {
      for (const entry of page.entries) {
        let work = works.get(entry.key.pk);
        if (!work) {
          work = { pk: entry.key.pk, pendingTargets: new Map(), failedTargets: new Map() };
          works.set(entry.key.pk, work);
        }
        work.pendingTargets.set(entry.key.sk, entry.eventId);
        count += 1;
      }
      progress.update(count, undefined, `events in ${works.size} aggregates`);
    }
  } finally {
    progress.finish();
  }
  if (context.signal.aborted) throw new InterruptedError();
  return [...works.values()].sort((a, b) => a.pk.localeCompare(b.pk));
}

/** Reads a round of aggregates consistently, then publishes them (or records the plan in a dry run). */
async function processRound(
  context: CommandContext,
  tableName: string,
  round: readonly AggregateWork[],
  options: RepublishOptions | undefined,
  run: Run,
  now: Date,
): Promise<void> {
  const upTo = new Map<string, string>();
  for (const work of round) {
    const bound = [...work.pendingTargets.keys(), ...work.failedTargets.keys()].sort().at(-1);
    if (bound !== undefined) upTo.set(work.pk, bound);
  }
  const reads = await readAggregatesPending({
    client: context.clients.dynamoDb,
    tableName,
    layout: layoutOf(context.target),
    upTo,
    concurrency: READ_CONCURRENCY,
  });
  const pendingOf = new Map<string, PendingEntry[]>();
  for (const read of reads) {
    if ('error' in read) throw read.error;
    pendingOf.set(read.pk, read.entries);
  }
  const planned = round.flatMap((work) => {
    const pending = pendingOf.get(work.pk);
    return pending ? planAggregate(work, pending, run) : [];
  });
  if (planned.length === 0) return;

  if (!options) {
    for (const { entry, state, selected } of planned) {
      run.events.push({
        ...pendingEventView(entry, now),
        state,
        selected,
        outcome: entry.kind === 'event' ? 'would-publish' : 'would-park',
      });
    }
    return;
  }
  const result = await republishEntries(
    planned.map(({ entry }) => entry),
    options,
  );
  run.summary.published += result.published.length;
  run.summary.poisoned += result.poisoned;
  run.summary.unpublished += result.unpublished;
  run.summary.markFailures += result.markFailures;
  run.summary.retried += result.retried;
  run.stopped.push(...result.stopped);
  run.interrupted ||= result.outOfTime;
  for (const { entry, state, selected } of planned) {
    run.events.push({ ...pendingEventView(entry, now), state, selected, outcome: outcomeOf(entry, result) });
  }
}

/**
 * The events of one aggregate to send, in order, given its pending events
 * up to the newest selected one (read consistently): those, and the
 * selected failed ones. A selected event that is no longer pending
 * (delivered in the meantime) is skipped.
 */
function planAggregate(
  work: AggregateWork,
  pending: readonly PendingEntry[],
  run: Run,
): Array<{ entry: PendingEntry; state: 'pending' | 'failed'; selected: boolean }> {
  const stillPending = new Set(pending.map((entry) => entry.key.sk));
  for (const [sk, eventId] of work.pendingTargets) {
    if (!stillPending.has(sk)) {
      run.skipped.push({
        eventId: eventId ?? '?',
        pk: work.pk,
        sk,
        reason: 'no longer pending: delivered or parked since it was listed',
      });
    }
  }
  const selected = new Set([
    ...[...work.pendingTargets.keys()].filter((sk) => stillPending.has(sk)),
    ...work.failedTargets.keys(),
  ]);
  const last = [...selected].sort().at(-1);
  if (last === undefined) return [];
  for (const [sk, entry] of work.failedTargets) {
    const eventId = entry.kind === 'event' ? entry.item.eventId : sk;
    run.warnings.push(
      `${eventId} (${work.pk} ${sk}) was parked as poison; republished now, it reaches consumers after any later events of its aggregate that were already delivered`,
    );
  }
  const events = [
    ...pending.map((entry) => ({ entry, state: 'pending' as const })),
    ...[...work.failedTargets.values()].map((entry) => ({ entry, state: 'failed' as const })),
  ]
    // Sort keys carry the zero-padded sequence: string order is sequence order.
    .filter(({ entry }) => entry.key.sk <= last)
    .sort((a, b) => a.entry.key.sk.localeCompare(b.entry.key.sk));
  return events.map((event) => ({ ...event, selected: selected.has(event.entry.key.sk) }));
}

/** What became of one entry, from the keys published and the aggregates stopped. */
function outcomeOf(entry: PendingEntry, result: RepublishResult): Outcome {
  const { pk, sk } = entry.key;
  if (result.published.some((key) => key.pk === pk && key.sk === sk)) return 'published';
  const stop = result.stopped.find((stopped) => stopped.pk === pk);
  if (stop && sk >= stop.key.sk) return 'unpublished';
  return result.outOfTime ? 'not-published' : 'poisoned';
}

function republishText(options: RepublishCommandOptions, run: Run, notFound: readonly string[]): string {
  const lines: string[] = [];
  const selection =
    options.selection.by === 'id'
      ? `${options.selection.eventIds.length} event id${options.selection.eventIds.length === 1 ? '' : 's'}`
      : `events pending for more than ${formatDuration(options.selection.olderThanSeconds)}`;
  lines.push(options.dryRun ? `Dry run: would republish ${selection}.` : `Republish: ${selection}.`);
  if (run.events.length > 0) {
    lines.push(
      '',
      formatTable<RepublishEventView>(
        [
          { header: 'AGGREGATE', value: (row) => row.pk },
          {
            header: 'SEQ',
            value: (row) => (row.sequence === null ? '?' : String(row.sequence)),
            align: 'right',
          },
          { header: 'EVENT TYPE', value: (row) => row.eventType ?? '?' },
          { header: 'EVENT ID', value: (row) => row.eventId ?? '?' },
          { header: 'STATE', value: (row) => row.state },
          { header: 'WHY', value: (row) => (row.selected ? 'selected' : 'earlier, pending') },
          { header: 'OUTCOME', value: (row) => row.outcome },
        ],
        run.events,
      ),
    );
  } else {
    lines.push('', 'Nothing to send.');
  }
  if (run.stopped.length > 0) {
    lines.push('', 'Stopped aggregates (their later events stay pending for the sweeper):');
    for (const stopped of run.stopped) lines.push(`  ${stopped.pk} at ${stopped.key.sk}: ${stopped.reason}`);
  }
  if (run.skipped.length > 0) {
    lines.push('', 'Skipped:');
    for (const skipped of run.skipped)
      lines.push(`  ${skipped.eventId} (${skipped.pk} ${skipped.sk}): ${skipped.reason}`);
  }
  if (notFound.length > 0) {
    lines.push('', `Not found (no outbox item has this eventId): ${notFound.join(', ')}`);
  }
  if (!options.dryRun) {
    const { summary } = run;
    lines.push(
      '',
      `Summary: ${formatCount(summary.published)} published, ${formatCount(summary.poisoned)} poisoned, ` +
        `${formatCount(summary.unpublished)} unpublished, ${run.stopped.length} stopped aggregate${run.stopped.length === 1 ? '' : 's'}, ` +
        `${formatCount(summary.markFailures)} mark failure${summary.markFailures === 1 ? '' : 's'}` +
        `${summary.markFailures > 0 ? ' (published; the sweeper sends them again)' : ''}.`,
    );
  } else {
    lines.push(
      '',
      `Summary: ${formatCount(run.events.length)} event${run.events.length === 1 ? '' : 's'} would be sent; nothing was changed.`,
    );
  }
  if (run.interrupted) lines.push('Interrupted: events not sent stay pending (or failed) for the next run.');
  return lines.join('\n');
}
