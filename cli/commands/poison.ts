/**
 * `outbox poison`: events parked as poison, with their reason. The table is
 * the record: a parked item keeps `failedAt` and `failureReason` and has no
 * pending keys (marker.ts `markFailed`), while the poison queue's messages
 * may have been deleted already. One that was republished since (it has
 * `deliveredAt`) is no longer listed.
 */
import { unmarshall } from '@aws-sdk/util-dynamodb';
import { DEFAULT_LAYOUT, type OutboxLayout } from '../../lambdas/outbox';
import { type CommandContext, printResult } from '../context';
import { EXIT } from '../errors';
import { formatCount, formatTable } from '../format';
import { poisonQueueDepth, type QueueDepthView } from '../queue';
import { type Image, scanOutbox } from '../scan';
import { layoutOf, requireName } from '../target';

/** One poison event as printed (the `--json` shape of `events[]`). */
export interface PoisonEventView {
  readonly pk: string;
  readonly sk: string;
  readonly eventId: string | null;
  readonly eventType: string | null;
  readonly aggregateType: string | null;
  readonly aggregateId: string | null;
  readonly sequence: number | null;
  readonly occurredAt: string | null;
  readonly failedAt: string | null;
  readonly failureReason: string | null;
}

/** Options of `poison`. */
export interface PoisonOptions {
  readonly limit?: number;
  readonly segments: number;
}

/** Filter of failed, undelivered, not pending outbox items (names and values below). */
export const POISON_FILTER =
  'attribute_exists(#failedAt) AND attribute_not_exists(#deliveredAt) AND attribute_not_exists(#pendingPk)';
const POISON_NAMES = { '#failedAt': 'failedAt', '#deliveredAt': 'deliveredAt' };
const ATTRIBUTES = [
  'eventId',
  'eventType',
  'aggregateType',
  'aggregateId',
  'sequence',
  'occurredAt',
  'failedAt',
  'failureReason',
] as const;

/** A scanned poison item as printed; attributes of the wrong type come out as null. */
export function poisonEventView(image: Image, layout: OutboxLayout = DEFAULT_LAYOUT): PoisonEventView {
  // Numbers are wrapped, so a malformed sequence cannot throw.
  const item = unmarshall(image, { wrapNumbers: true }) as Record<string, unknown>;
  const text = (name: string) => (typeof item[name] === 'string' ? (item[name] as string) : null);
  const sequence = Number((item.sequence as { value?: string } | undefined)?.value);
  return {
    pk: text(layout.partitionKey) ?? '',
    sk: text(layout.sortKey) ?? '',
    eventId: text('eventId'),
    eventType: text('eventType'),
    aggregateType: text('aggregateType'),
    aggregateId: text('aggregateId'),
    sequence: Number.isSafeInteger(sequence) ? sequence : null,
    occurredAt: text('occurredAt'),
    failedAt: text('failedAt'),
    failureReason: text('failureReason'),
  };
}

/** Lists poison events (oldest failure first) and the queue's depth; exit code 0. */
export async function runPoison(context: CommandContext, options: PoisonOptions): Promise<number> {
  const tableName = requireName(context.target, 'table', 'poison');
  const layout = layoutOf(context.target);
  const events: PoisonEventView[] = [];
  const projectionNames = Object.fromEntries(ATTRIBUTES.map((name) => [`#${name}`, name]));
  await scanOutbox({
    client: context.clients.dynamoDb,
    tableName,
    layout,
    segments: options.segments,
    filter: POISON_FILTER,
    projection: ['#pk', '#sk', ...ATTRIBUTES.map((name) => `#${name}`)].join(', '),
    names: {
      ...POISON_NAMES,
      ...projectionNames,
      '#pk': layout.partitionKey,
      '#pendingPk': layout.pendingPartitionKey,
    },
    onItems: (items) => {
      for (const image of items) events.push(poisonEventView(image, layout));
    },
    progress: context.progress(`scanning ${tableName} for poison`),
    signal: context.signal,
  });
  const queue = await poisonQueueDepth(context);
  events.sort((a, b) => (a.failedAt ?? '').localeCompare(b.failedAt ?? '') || a.pk.localeCompare(b.pk));
  const shown = options.limit === undefined ? events : events.slice(0, options.limit);
  const json = {
    command: 'poison',
    asOf: context.now().toISOString(),
    table: tableName,
    count: events.length,
    poisonQueue: queue,
    events: shown,
  };
  printResult(context, json, poisonText(events.length, shown, queue));
  return EXIT.ok;
}

/** The queue depth line, shared with `stats`. */
export function queueDepthText(queue: QueueDepthView | null): string {
  if (!queue) return 'unknown (no poison queue URL: pass --poison-queue-url, --stack or --local)';
  if (queue.approximateMessages === null) return `unknown (${queue.error ?? 'not readable'})`;
  const inFlight = queue.approximateInFlight ? `, ${formatCount(queue.approximateInFlight)} in flight` : '';
  return `~${formatCount(queue.approximateMessages)} message${queue.approximateMessages === 1 ? '' : 's'}${inFlight}`;
}

function poisonText(count: number, shown: readonly PoisonEventView[], queue: QueueDepthView | null): string {
  const depth = `Poison queue: ${queueDepthText(queue)}`;
  if (count === 0) return `No poison events in the table.\n${depth}`;
  const table = formatTable<PoisonEventView>(
    [
      { header: 'FAILED AT', value: (row) => row.failedAt ?? '?' },
      { header: 'AGGREGATE', value: (row) => row.pk },
      { header: 'SEQ', value: (row) => (row.sequence === null ? '?' : String(row.sequence)), align: 'right' },
      { header: 'EVENT TYPE', value: (row) => row.eventType ?? '?' },
      { header: 'EVENT ID', value: (row) => row.eventId ?? '?' },
      { header: 'REASON', value: (row) => row.failureReason ?? '?', maxWidth: 80 },
    ],
    shown,
  );
  const more = shown.length < count ? `\n(${count - shown.length} more not shown; raise --limit)` : '';
  return `${count} poison event${count === 1 ? '' : 's'} (republish a fixed one with 'outbox republish --event-id <id>'):\n\n${table}${more}\n\n${depth}`;
}
