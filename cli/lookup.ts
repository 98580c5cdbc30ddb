/**
 * Finds outbox items by `eventId`, which is an attribute, not a key: first in
 * the pending index (only undelivered items, usually what an operator is after),
 * then, for ids not found there, with a Scan of the table. Each item found is
 * then read again with a consistent GetItem, so its state is current.
 */
import { type AttributeValue, GetItemCommand, ScanCommand } from '@aws-sdk/client-dynamodb';
import { DEFAULT_LAYOUT, type OutboxLayout, type TableKey } from '../lambdas/outbox';
import type { CommandContext } from './context';
import { InterruptedError } from './errors';
import { type Image, scanOutbox } from './scan';
import { layoutOf } from './target';

/** The state of an outbox item, by its markers. */
export type ItemState = 'pending' | 'delivered' | 'failed' | 'unmarked';

/** An outbox item found by its event id, as stored now. */
export interface FoundEvent {
  readonly eventId: string;
  readonly key: TableKey;
  readonly image: Image;
  readonly state: ItemState;
}

/** What a lookup found. */
export interface LookupResult {
  readonly found: readonly FoundEvent[];
  /** Ids of no outbox item (or of one deleted in the meantime). */
  readonly notFound: readonly string[];
}

/** DynamoDB allows at most 100 values in an IN list. */
const IN_LIMIT = 100;
/** Scans of the index (one per 100 ids) at once. */
const SCAN_CONCURRENCY = 4;

/** The state of a stored item: pending wins (it will be published), then delivered, then failed. */
export function itemState(image: Image, layout: OutboxLayout = DEFAULT_LAYOUT): ItemState {
  if (image[layout.pendingPartitionKey] !== undefined) return 'pending';
  if (image.deliveredAt !== undefined) return 'delivered';
  if (image.failedAt !== undefined) return 'failed';
  return 'unmarked';
}

function chunks<T>(values: readonly T[], size: number): T[][] {
  const result: T[][] = [];
  for (let start = 0; start < values.length; start += size) result.push(values.slice(start, start + size));
  return result;
}

/** `#eventId IN (:e0, :e1, ...)` with its values. */
function inFilter(ids: readonly string[]): { filter: string; values: Record<string, AttributeValue> } {
  const values = Object.fromEntries(ids.map((id, index) => [`:e${index}`, { S: id }]));
  return { filter: `#eventId IN (${Object.keys(values).join(', ')})`, values };
}

/** Finds the items of the given event ids. Throws the SDK's error, or InterruptedError. */
export async function findEventsById(
  context: CommandContext,
  tableName: string,
  eventIds: readonly string[],
  segments: number,
): Promise<LookupResult> {
  const layout = layoutOf(context.target);
  const keys = new Map<string, Map<string, TableKey>>();
  const remember = (image: Image) => {
    const eventId = image.eventId?.S;
    const pk = image[layout.partitionKey]?.S;
    const sk = image[layout.sortKey]?.S;
    if (eventId === undefined || pk === undefined || sk === undefined) return;
    const known = keys.get(eventId) ?? new Map<string, TableKey>();
    known.set(`${pk}\u0000${sk}`, { pk, sk });
    keys.set(eventId, known);
  };

  await searchPendingIndex(context, tableName, eventIds, remember);
  const missing = eventIds.filter((id) => !keys.has(id));
  for (const batch of chunks(missing, IN_LIMIT)) {
    const { filter, values } = inFilter(batch);
    await scanOutbox({
      client: context.clients.dynamoDb,
      tableName,
      layout,
      segments,
      filter,
      values,
      projection: '#pk, #sk, #eventId',
      names: { '#pk': layout.partitionKey, '#eventId': 'eventId' },
      onItems: (items) => items.forEach(remember),
      // An event id names one item; stop as soon as each is found.
      done: () => batch.every((id) => keys.has(id)),
      progress: context.progress(
        `scanning ${tableName} for ${batch.length} event id${batch.length === 1 ? '' : 's'}`,
      ),
      signal: context.signal,
    });
  }

  const found: FoundEvent[] = [];
  for (const eventId of eventIds) {
    for (const key of keys.get(eventId)?.values() ?? []) {
      if (context.signal.aborted) throw new InterruptedError();
      const output = await context.clients.dynamoDb.send(
        new GetItemCommand({
          TableName: tableName,
          Key: { [layout.partitionKey]: { S: key.pk }, [layout.sortKey]: { S: key.sk } },
          ConsistentRead: true,
        }),
      );
      // Gone since it was listed (TTL), or changed hands: only the current item counts.
      if (output.Item && output.Item.eventId?.S === eventId) {
        found.push({ eventId, key, image: output.Item, state: itemState(output.Item, layout) });
      }
    }
  }
  const foundIds = new Set(found.map((event) => event.eventId));
  return { found, notFound: eventIds.filter((id) => !foundIds.has(id)) };
}

/**
 * Scans the pending index for the ids (a filter: the index is keyed by time).
 * The index holds only pending items, so this reads in proportion to them.
 */
async function searchPendingIndex(
  context: CommandContext,
  tableName: string,
  eventIds: readonly string[],
  remember: (image: Image) => void,
): Promise<void> {
  const layout = layoutOf(context.target);
  const progress = context.progress('searching the pending index');
  let batchesDone = 0;
  const work = chunks(eventIds, IN_LIMIT);
  const scanFor = async (batch: string[]) => {
    const { filter, values } = inFilter(batch);
    let cursor: Image | undefined;
    do {
      if (context.signal.aborted) throw new InterruptedError();
      const output = await context.clients.dynamoDb.send(
        new ScanCommand({
          TableName: tableName,
          IndexName: layout.pendingIndex,
          FilterExpression: filter,
          ProjectionExpression: '#pk, #sk, #eventId',
          ExpressionAttributeNames: {
            '#eventId': 'eventId',
            '#pk': layout.partitionKey,
            '#sk': layout.sortKey,
          },
          ExpressionAttributeValues: values,
          ...(cursor ? { ExclusiveStartKey: cursor } : {}),
        }),
      );
      (output.Items ?? []).forEach(remember);
      cursor = output.LastEvaluatedKey;
    } while (cursor);
    batchesDone += 1;
    progress.update(batchesDone, work.length, 'id batches');
  };
  try {
    let next = 0;
    const worker = async () => {
      while (next < work.length) {
        const item = work[next];
        next += 1;
        if (item) await scanFor(item);
      }
    };
    await Promise.all(Array.from({ length: SCAN_CONCURRENCY }, worker));
  } finally {
    progress.finish();
  }
}
