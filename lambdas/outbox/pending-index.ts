/**
 * Reads of the sparse pending index: which outbox events are still
 * undelivered, and how old the oldest one is.
 *
 * The index projects only the keys, `occurredAt` and `eventId`
 * ({@link PENDING_INDEX_ATTRIBUTES}): what its readers need to pick
 * candidates. Everything else is read from the table, consistently, before
 * anything is published. A lean projection keeps each index write at one
 * write unit whatever the event's size (a GSI write is billed for the
 * projected item's size; DynamoDB Developer Guide, "Provisioned throughput
 * considerations for global secondary indexes").
 *
 * Readers scan the index instead of querying each shard of its partition
 * key: the index holds only pending items, so a scan reads in proportion to
 * what is pending, whatever the shard count the writers use (lib/outbox-table.ts
 * sizes it from the peak event rate). An empty index costs one call.
 */
import { type AttributeValue, type DynamoDBClient, ScanCommand } from '@aws-sdk/client-dynamodb';
import { pendingSkBefore, type TableKey } from './keys';
import { DEFAULT_LAYOUT, type OutboxLayout } from './layout';

/** Non-key attributes the pending index projects; the table construct and the readers share this list. */
export const PENDING_INDEX_ATTRIBUTES = ['occurredAt', 'eventId'] as const;

/** Index items per Scan page by default. */
const DEFAULT_PAGE_SIZE = 100;

/** Where the pending index lives. */
export interface PendingIndexOptions {
  /** Low-level client: items are decoded with the relay's rules, one by one. */
  readonly client: DynamoDBClient;
  readonly tableName: string;
  /** Attribute and index names of the table. @default DEFAULT_LAYOUT */
  readonly layout?: OutboxLayout;
}

/** An undelivered event as the index names it: a candidate, to be read from the table before acting. */
export interface PendingCandidate {
  readonly key: TableKey;
  /** `occurredAt` as stored; absent when the item has none (it is poison). */
  readonly occurredAt?: string;
  /** `eventId` as stored; absent when the item has none (it is poison). */
  readonly eventId?: string;
}

/** What {@link findPending} looks for. */
export interface FindPendingOptions extends PendingIndexOptions {
  /** Only events that occurred before this instant (by the index's sort key, which starts with `occurredAt`). */
  readonly olderThan: Date;
  /** Index items read per Scan page (before the age filter). @default 100 */
  readonly pageSize?: number;
  /** Asked before each page is read; false ends the iteration (a page or time budget). @default always */
  readonly shouldContinue?: () => boolean;
}

/** One Scan page of the pending index, with the candidates old enough. */
export interface PendingPage {
  /** Candidates of this page; pages with none are not yielded. */
  readonly entries: readonly PendingCandidate[];
}

/**
 * Yields the events pending since before `olderThan`, a page at a time. The
 * index is eventually consistent and a scan has no time order: treat what it
 * yields as candidates, and read the table before acting on them (as
 * `sweep` does). Throws the SDK's error when a Scan fails (after the SDK's
 * own retries).
 */
export async function* findPending(
  options: FindPendingOptions,
): AsyncGenerator<PendingPage, void, undefined> {
  const shouldContinue = options.shouldContinue ?? (() => true);
  const layout = options.layout ?? DEFAULT_LAYOUT;
  let cursor: Record<string, AttributeValue> | undefined;
  do {
    if (!shouldContinue()) return;
    const output = await options.client.send(
      new ScanCommand({
        TableName: options.tableName,
        IndexName: layout.pendingIndex,
        FilterExpression: '#pendingSk < :before',
        ExpressionAttributeNames: { '#pendingSk': layout.pendingSortKey },
        ExpressionAttributeValues: { ':before': { S: pendingSkBefore(options.olderThan.toISOString()) } },
        Limit: options.pageSize ?? DEFAULT_PAGE_SIZE,
        ...(cursor ? { ExclusiveStartKey: cursor } : {}),
      }),
    );
    cursor = output.LastEvaluatedKey;
    const entries = (output.Items ?? []).flatMap((image) => candidateOf(image, layout) ?? []);
    if (entries.length > 0) yield { entries };
  } while (cursor);
}

/** The oldest pending event, as seen when it was asked for. */
export interface OldestPending {
  /** Seconds since the oldest pending event occurred; 0 when nothing is pending. */
  readonly ageSeconds: number;
  /** Its key, when something is pending. */
  readonly key?: TableKey;
  /** Its `occurredAt`, when something is pending. */
  readonly occurredAt?: string;
}

/**
 * The oldest pending event: one scan of the index, which reads in proportion
 * to the pending events (one call when none is). Throws the SDK's error when
 * a Scan fails.
 */
export async function findOldestPending(
  options: PendingIndexOptions & { readonly now: Date },
): Promise<OldestPending> {
  const layout = options.layout ?? DEFAULT_LAYOUT;
  let oldest: OldestPending = { ageSeconds: 0 };
  let cursor: Record<string, AttributeValue> | undefined;
  do {
    const output = await options.client.send(
      new ScanCommand({
        TableName: options.tableName,
        IndexName: layout.pendingIndex,
        ProjectionExpression: '#pk, #sk, #occurredAt',
        ExpressionAttributeNames: {
          '#pk': layout.partitionKey,
          '#sk': layout.sortKey,
          '#occurredAt': 'occurredAt',
        },
        ...(cursor ? { ExclusiveStartKey: cursor } : {}),
      }),
    );
    cursor = output.LastEvaluatedKey;
    for (const image of output.Items ?? []) {
      const candidate = candidateOf(image, layout);
      if (candidate?.occurredAt === undefined) continue;
      const occurred = Date.parse(candidate.occurredAt);
      // An unparseable occurredAt is poison; the sweep parks it.
      if (Number.isNaN(occurred)) continue;
      const ageSeconds = Math.max(0, (options.now.getTime() - occurred) / 1000);
      if (oldest.key === undefined || ageSeconds > oldest.ageSeconds) {
        oldest = { ageSeconds, key: candidate.key, occurredAt: candidate.occurredAt };
      }
    }
  } while (cursor);
  return oldest;
}

function candidateOf(
  image: Record<string, AttributeValue>,
  layout: OutboxLayout,
): PendingCandidate | undefined {
  const pk = image[layout.partitionKey]?.S;
  const sk = image[layout.sortKey]?.S;
  if (pk === undefined || sk === undefined) return undefined;
  const occurredAt = image.occurredAt?.S;
  const eventId = image.eventId?.S;
  return {
    key: { pk, sk },
    ...(occurredAt === undefined ? {} : { occurredAt }),
    ...(eventId === undefined ? {} : { eventId }),
  };
}
