/**
 * `outbox stats`: outbox items by state, from a full Scan with a small
 * projection, plus the oldest pending age (the sweeper's
 * `findOldestPending`) and the poison queue's depth.
 */
import { DEFAULT_LAYOUT, findOldestPending, type OutboxLayout } from '../../lambdas/outbox';
import { type CommandContext, printResult } from '../context';
import { EXIT } from '../errors';
import { formatDuration, formatPairs } from '../format';
import { poisonQueueDepth, type QueueDepthView } from '../queue';
import { type Image, scanOutbox } from '../scan';
import { layoutOf, requireName } from '../target';
import { queueDepthText } from './poison';

/** Options of `stats`. */
export interface StatsOptions {
  readonly olderThanSeconds: number;
  readonly segments: number;
}

/** Counts by state (the `--json` shape of `stats`, without the envelope). */
export interface StateCounts {
  /** Every outbox item. */
  total: number;
  /** Not yet delivered: in the pending index. */
  pending: number;
  /** Pending, and occurred longer ago than the threshold. */
  pendingOverThreshold: number;
  /** Delivered (deliveredAt), waiting for TTL to delete them. */
  delivered: number;
  /** Parked as poison (failedAt) and not delivered since. */
  failed: number;
  /** Outbox items in none of these states (edited by hand?). */
  other: number;
}

/** Which state an item is in; pending wins (it will be published), then delivered, then failed. */
export function countItem(
  counts: StateCounts,
  image: Image,
  stuckBefore: number,
  layout: OutboxLayout = DEFAULT_LAYOUT,
): void {
  counts.total += 1;
  if (image[layout.pendingPartitionKey] !== undefined) {
    counts.pending += 1;
    const occurred = Date.parse(image.occurredAt?.S ?? '');
    if (!Number.isNaN(occurred) && occurred < stuckBefore) counts.pendingOverThreshold += 1;
  } else if (image.deliveredAt !== undefined) {
    counts.delivered += 1;
  } else if (image.failedAt !== undefined) {
    counts.failed += 1;
  } else {
    counts.other += 1;
  }
}

/** Counts outbox items by state; exit code 0. */
export async function runStats(context: CommandContext, options: StatsOptions): Promise<number> {
  const tableName = requireName(context.target, 'table', 'stats');
  const layout = layoutOf(context.target);
  const now = context.now();
  const stuckBefore = now.getTime() - options.olderThanSeconds * 1000;
  const counts: StateCounts = {
    total: 0,
    pending: 0,
    pendingOverThreshold: 0,
    delivered: 0,
    failed: 0,
    other: 0,
  };
  const oldest = await findOldestPending({ client: context.clients.dynamoDb, tableName, layout, now });
  const scan = await scanOutbox({
    client: context.clients.dynamoDb,
    tableName,
    layout,
    segments: options.segments,
    projection: '#sk, #pendingPk, #occurredAt, #deliveredAt, #failedAt',
    names: {
      '#pendingPk': layout.pendingPartitionKey,
      '#occurredAt': 'occurredAt',
      '#deliveredAt': 'deliveredAt',
      '#failedAt': 'failedAt',
    },
    onItems: (items) => {
      for (const image of items) countItem(counts, image, stuckBefore, layout);
    },
    progress: context.progress(`scanning ${tableName}`),
    signal: context.signal,
  });
  const queue = await poisonQueueDepth(context);
  const json = {
    command: 'stats',
    asOf: now.toISOString(),
    table: tableName,
    thresholdSeconds: options.olderThanSeconds,
    ...counts,
    scannedItems: scan.scanned,
    oldestPending: oldest.key
      ? {
          ageSeconds: Math.floor(oldest.ageSeconds),
          occurredAt: oldest.occurredAt ?? null,
          pk: oldest.key.pk,
          sk: oldest.key.sk,
        }
      : null,
    poisonQueue: queue,
  };
  printResult(
    context,
    json,
    statsText(tableName, counts, options.olderThanSeconds, json.oldestPending, queue),
  );
  return EXIT.ok;
}

function statsText(
  tableName: string,
  counts: StateCounts,
  thresholdSeconds: number,
  oldest: { ageSeconds: number; pk: string; sk: string } | null,
  queue: QueueDepthView | null,
): string {
  const pairs: Array<[string, string | number]> = [
    ['outbox items', counts.total],
    ['pending', counts.pending],
    [`  older than ${formatDuration(thresholdSeconds)}`, counts.pendingOverThreshold],
    ['delivered (awaiting TTL)', counts.delivered],
    ['failed (poison)', counts.failed],
  ];
  if (counts.other > 0) pairs.push(['other (no state marker)', counts.other]);
  pairs.push([
    'oldest pending',
    oldest ? `${formatDuration(oldest.ageSeconds)} (${oldest.pk} ${oldest.sk})` : 'none',
  ]);
  pairs.push(['poison queue', queueDepthText(queue)]);
  return `Outbox ${tableName}:\n\n${formatPairs(pairs)}`;
}
