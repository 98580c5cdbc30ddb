/**
 * Decodes DynamoDB stream records into outbox items. Only outbox INSERTs
 * concern the relay; everything else is skipped. An outbox INSERT that does
 * not decode into a valid item is poison, reported as a value and never
 * thrown, so one bad record cannot block its shard.
 */
import type { AttributeValue } from '@aws-sdk/client-dynamodb';
import { unmarshall } from '@aws-sdk/util-dynamodb';
import { z } from 'zod';
import type { OutboxItem } from './envelope';
import { isOutboxSk, type TableKey } from './keys';
import { DEFAULT_LAYOUT, fromStoredItem, type OutboxLayout } from './layout';

/**
 * The parts of a DynamoDB stream record the relay reads. Structural, so the
 * Lambda event's `DynamoDBRecord` and the Streams API's `Record` both fit.
 */
export interface OutboxStreamRecord {
  readonly eventID?: string;
  /** `INSERT`, `MODIFY`, `REMOVE`, or a name the SDK does not know (DynamoDB Local's TTL deletes). */
  readonly eventName?: string;
  readonly dynamodb?: {
    readonly Keys?: Readonly<Record<string, unknown>>;
    readonly NewImage?: Readonly<Record<string, unknown>>;
    readonly SequenceNumber?: string;
  };
}

/** What a stream record turned out to be. */
export type DecodedRecord =
  /** Not an outbox INSERT: nothing to publish. */
  | { readonly kind: 'skip'; readonly reason: string }
  /** A valid outbox item to publish. */
  | { readonly kind: 'event'; readonly item: OutboxItem }
  /**
   * An outbox INSERT that is not a valid outbox item. `key` is present when
   * the record's keys could be read, so the item can still be marked failed.
   */
  | { readonly kind: 'undecodable'; readonly detail: string; readonly key?: TableKey };

const isoTimestamp = z.string().refine((value) => !Number.isNaN(Date.parse(value)), 'not a timestamp');
const nonEmpty = z.string().min(1);

/**
 * Everything the relay needs to build the PutEvents entry. Loose, so the
 * pending keys and any attribute added later pass through untouched.
 */
const outboxItemSchema = z.looseObject({
  pk: nonEmpty,
  sk: nonEmpty.refine(isOutboxSk, 'not an outbox sort key'),
  eventId: nonEmpty,
  eventType: nonEmpty,
  source: nonEmpty,
  aggregateType: nonEmpty,
  aggregateId: nonEmpty,
  sequence: z.number().int().positive(),
  // `Time` is built from it; an invalid date would fail the whole PutEvents call.
  occurredAt: isoTimestamp,
  correlationId: nonEmpty,
  traceHeader: z.string().optional(),
  // Absent on events written without a catalogue (and before versions were recorded).
  dataVersion: z.string().optional(),
  // Numbers beyond 2^53 unmarshall to BigInt, which JSON.stringify refuses;
  // such an item could never become a `Detail`.
  data: z.record(z.string(), z.unknown()).refine(isJsonSerializable, 'not serializable as JSON'),
});

function isJsonSerializable(value: unknown): boolean {
  try {
    JSON.stringify(value);
    return true;
  } catch {
    return false;
  }
}

/** Decodes one stream record of a table with this layout. Never throws. */
export function decodeRecord(
  record: OutboxStreamRecord,
  layout: OutboxLayout = DEFAULT_LAYOUT,
): DecodedRecord {
  const sk = outboxSortKey(record, layout);
  if (sk === undefined) return { kind: 'skip', reason: 'not an outbox item' };
  if (record.eventName !== 'INSERT')
    return { kind: 'skip', reason: `${record.eventName ?? 'unnamed'} event` };

  const key = readKey(record, layout);
  const undecodable = (detail: string): DecodedRecord =>
    key ? { kind: 'undecodable', detail, key } : { kind: 'undecodable', detail };

  const image = record.dynamodb?.NewImage;
  if (!image) return undecodable('the record has no NewImage');
  let native: Record<string, unknown>;
  try {
    native = fromStoredItem(unmarshall(image as Record<string, AttributeValue>), layout);
  } catch (error) {
    return undecodable(
      `NewImage does not unmarshall: ${error instanceof Error ? error.message : String(error)}`,
    );
  }
  const parsed = outboxItemSchema.safeParse(native);
  if (!parsed.success) {
    const issues = parsed.error.issues.map(
      (issue) => `${issue.path.join('.') || '(item)'}: ${issue.message}`,
    );
    return undecodable(`invalid outbox item: ${issues.join('; ')}`);
  }
  return { kind: 'event', item: parsed.data as OutboxItem };
}

/** The record's sort key when it is an outbox item's (from `Keys`, else `NewImage`). */
function outboxSortKey(record: OutboxStreamRecord, layout: OutboxLayout): string | undefined {
  const sk =
    stringAttribute(record.dynamodb?.Keys?.[layout.sortKey]) ??
    stringAttribute(record.dynamodb?.NewImage?.[layout.sortKey]);
  return isOutboxSk(sk) ? sk : undefined;
}

/** The item's primary key, read without unmarshalling the rest of the record. */
function readKey(record: OutboxStreamRecord, layout: OutboxLayout): TableKey | undefined {
  const keys = record.dynamodb?.Keys ?? record.dynamodb?.NewImage;
  const pk = stringAttribute(keys?.[layout.partitionKey]);
  const sk = stringAttribute(keys?.[layout.sortKey]);
  return pk !== undefined && sk !== undefined ? { pk, sk } : undefined;
}

/** The value of a string attribute (`{ S: ... }`), or undefined for any other shape. */
function stringAttribute(value: unknown): string | undefined {
  if (typeof value !== 'object' || value === null || !('S' in value)) return undefined;
  const text = (value as { S: unknown }).S;
  return typeof text === 'string' ? text : undefined;
}
