/**
 * `outbox pending`: events still pending after a while, oldest first, with
 * their age. Reads the sparse pending index with the sweeper's own
 * `findPending`, so it lists exactly what the sweeper would consider, then
 * the candidates themselves from the table (the index projects only keys,
 * `occurredAt` and `eventId`).
 */
import { findPending, type PendingEntry, readPendingItems } from '../../lambdas/outbox';
import { type CommandContext, printResult } from '../context';
import { EXIT, InterruptedError } from '../errors';
import { formatDuration, formatTable } from '../format';
import { layoutOf, requireName } from '../target';

/** One pending event as printed (the `--json` shape of `events[]`). */
export interface PendingEventView {
  readonly pk: string;
  readonly sk: string;
  readonly eventId: string | null;
  readonly eventType: string | null;
  readonly aggregateType: string | null;
  readonly aggregateId: string | null;
  readonly sequence: number | null;
  readonly occurredAt: string | null;
  readonly ageSeconds: number | null;
  /** Why the item is not a valid outbox event (it will be parked as poison); null for a valid one. */
  readonly problem: string | null;
}

/** Options of `pending`. */
export interface PendingOptions {
  readonly olderThanSeconds: number;
  readonly limit?: number;
}

/** An entry of the pending index as printed; undecodable entries keep what can be read of them. */
export function pendingEventView(entry: PendingEntry, now: Date): PendingEventView {
  if (entry.kind === 'event') {
    const { item } = entry;
    return {
      pk: entry.key.pk,
      sk: entry.key.sk,
      eventId: item.eventId,
      eventType: item.eventType,
      aggregateType: item.aggregateType,
      aggregateId: item.aggregateId,
      sequence: item.sequence,
      occurredAt: item.occurredAt,
      ageSeconds: ageSeconds(item.occurredAt, now),
      problem: null,
    };
  }
  const text = (name: string) => entry.image[name]?.S ?? null;
  const sequence = Number(entry.image.sequence?.N);
  const occurredAt = text('occurredAt');
  return {
    pk: entry.key.pk,
    sk: entry.key.sk,
    eventId: text('eventId'),
    eventType: text('eventType'),
    aggregateType: text('aggregateType'),
    aggregateId: text('aggregateId'),
    sequence: Number.isSafeInteger(sequence) ? sequence : null,
    occurredAt,
    ageSeconds: occurredAt === null ? null : ageSeconds(occurredAt, now),
    problem: entry.detail,
  };
}

/** Whole seconds since `occurredAt`; null when it is not a timestamp. */
export function ageSeconds(occurredAt: string, now: Date): number | null {
  const at = Date.parse(occurredAt);
  return Number.isNaN(at) ? null : Math.max(0, Math.floor((now.getTime() - at) / 1000));
}

/** Lists pending events older than the threshold; exit code 0. */
export async function runPending(context: CommandContext, options: PendingOptions): Promise<number> {
  const tableName = requireName(context.target, 'table', 'pending');
  const layout = layoutOf(context.target);
  const now = context.now();
  const olderThan = new Date(now.getTime() - options.olderThanSeconds * 1000);
  const progress = context.progress('reading the pending index');
  const events: PendingEventView[] = [];
  let pages = 0;
  try {
    const scan = findPending({
      client: context.clients.dynamoDb,
      tableName,
      layout,
      olderThan,
      shouldContinue: () => !context.signal.aborted,
    });
    for await (const page of scan) {
      pages += 1;
      // The index names candidates only; what is shown is read from the table.
      const entries = await readPendingItems(
        page.entries.map((candidate) => candidate.key),
        { client: context.clients.dynamoDb, tableName, layout },
      );
      for (const entry of entries) events.push(pendingEventView(entry, now));
      progress.update(events.length, undefined, `events (${pages} pages)`);
    }
  } finally {
    progress.finish();
  }
  if (context.signal.aborted) throw new InterruptedError();

  // A scan has no time order; the listing is oldest first.
  events.sort((a, b) => (a.occurredAt ?? '').localeCompare(b.occurredAt ?? '') || a.pk.localeCompare(b.pk));
  const shown = options.limit === undefined ? events : events.slice(0, options.limit);
  const json = {
    command: 'pending',
    asOf: now.toISOString(),
    table: tableName,
    olderThanSeconds: options.olderThanSeconds,
    count: events.length,
    events: shown,
  };
  printResult(context, json, pendingText(events.length, shown, options.olderThanSeconds));
  return EXIT.ok;
}

function pendingText(count: number, shown: readonly PendingEventView[], olderThanSeconds: number): string {
  const scope =
    olderThanSeconds === 0 ? 'pending' : `pending for more than ${formatDuration(olderThanSeconds)}`;
  if (count === 0) return `No events ${scope}.`;
  const table = formatTable<PendingEventView>(
    [
      {
        header: 'AGE',
        value: (row) => (row.ageSeconds === null ? '?' : formatDuration(row.ageSeconds)),
        align: 'right',
      },
      { header: 'OCCURRED AT', value: (row) => row.occurredAt ?? '?' },
      { header: 'AGGREGATE', value: (row) => row.pk },
      { header: 'SEQ', value: (row) => (row.sequence === null ? '?' : String(row.sequence)), align: 'right' },
      { header: 'EVENT TYPE', value: (row) => row.eventType ?? '?' },
      { header: 'EVENT ID', value: (row) => row.eventId ?? '?' },
      // Only undecodable items have a problem; the column is left out when none has one.
      ...(shown.some((row) => row.problem !== null)
        ? [{ header: 'PROBLEM', value: (row: PendingEventView) => row.problem ?? '', maxWidth: 60 }]
        : []),
    ],
    shown,
  );
  const more = shown.length < count ? `\n(${count - shown.length} more not shown; raise --limit)` : '';
  return `${count} event${count === 1 ? '' : 's'} ${scope}:\n\n${table}${more}`;
}
