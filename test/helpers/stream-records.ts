/**
 * Factories for outbox items and the DynamoDB stream records the relay
 * receives, marshalled the way Lambda delivers them.
 */
import { marshall } from '@aws-sdk/util-dynamodb';
import type { AttributeValue, DynamoDBRecord, DynamoDBStreamEvent } from 'aws-lambda';
import type { OutboxItem } from '../../lambdas/outbox/envelope';
import { entityKey, outboxKey, pendingKeys } from '../../lambdas/outbox/keys';

/** Source every factory item carries. */
export const TEST_SOURCE = 'com.example.test';
/** Default `occurredAt` of factory items. */
export const TEST_OCCURRED_AT = '2026-03-01T12:00:00.000Z';

type StreamImage = Record<string, AttributeValue>;

/** A valid id (26 Crockford base-32 characters) made from a number, so tests read clearly. */
export function testId(n: number): string {
  return String(n).padStart(26, '0');
}

/** What varies between factory items. */
export interface OutboxItemOptions {
  readonly aggregateType?: string;
  /** The aggregate's id, or a number turned into one with `testId`. */
  readonly aggregateId?: string | number;
  readonly sequence?: number;
  readonly eventType?: string;
  readonly eventId?: string;
  readonly occurredAt?: string;
  readonly data?: Record<string, unknown>;
  readonly traceHeader?: string;
}

/** A pending outbox item as the writer stores it. */
export function outboxItem(options: OutboxItemOptions = {}): OutboxItem {
  const aggregateType = options.aggregateType ?? 'MEMBER';
  const aggregateId =
    typeof options.aggregateId === 'number'
      ? testId(options.aggregateId)
      : (options.aggregateId ?? testId(1));
  const sequence = options.sequence ?? 1;
  const occurredAt = options.occurredAt ?? TEST_OCCURRED_AT;
  const eventId = options.eventId ?? `evt-${aggregateType}-${aggregateId}-${sequence}`;
  return {
    ...outboxKey(aggregateType, aggregateId, sequence),
    eventId,
    eventType: options.eventType ?? 'MemberUpdated',
    source: TEST_SOURCE,
    aggregateType,
    aggregateId,
    sequence,
    occurredAt,
    correlationId: eventId,
    data: options.data ?? { aggregateId, sequence },
    ...(options.traceHeader ? { traceHeader: options.traceHeader } : {}),
    ...pendingKeys(aggregateType, aggregateId, sequence, occurredAt),
  };
}

/** Hands out increasing stream sequence numbers, like a shard does. */
export class SequenceNumbers {
  private next = 100;

  /** The next sequence number (a decimal string, as in stream records). */
  take(): string {
    this.next += 1;
    return `4900000000000000000000${String(this.next).padStart(10, '0')}`;
  }
}

const defaultSequenceNumbers = new SequenceNumbers();

/** Options shared by the record factories. */
export interface RecordOptions {
  /** The record's `SequenceNumber`; the next one from a process-wide counter when absent. */
  readonly sequenceNumber?: string;
}

function image(item: Record<string, unknown>): StreamImage {
  return marshall(item, { removeUndefinedValues: true }) as StreamImage;
}

function baseRecord(
  eventName: 'INSERT' | 'MODIFY' | 'REMOVE',
  keys: StreamImage,
  images: { NewImage?: StreamImage; OldImage?: StreamImage },
  options: RecordOptions,
): DynamoDBRecord {
  const sequenceNumber = options.sequenceNumber ?? defaultSequenceNumbers.take();
  return {
    eventID: `event-${sequenceNumber}`,
    eventName,
    eventVersion: '1.1',
    eventSource: 'aws:dynamodb',
    awsRegion: 'us-east-1',
    eventSourceARN:
      'arn:aws:dynamodb:us-east-1:123456789012:table/outbox-unit/stream/2026-03-01T00:00:00.000',
    dynamodb: {
      ApproximateCreationDateTime: Date.parse(TEST_OCCURRED_AT) / 1000,
      Keys: keys,
      ...images,
      SequenceNumber: sequenceNumber,
      SizeBytes: 512,
      StreamViewType: 'NEW_IMAGE',
    },
  };
}

/** The stream record of an outbox item's INSERT (what the relay publishes). */
export function insertRecord(
  item: OutboxItem | Record<string, unknown>,
  options: RecordOptions = {},
): DynamoDBRecord {
  const { pk, sk } = item as { pk: unknown; sk: unknown };
  return baseRecord(
    'INSERT',
    image({ pk, sk }),
    { NewImage: image(item as Record<string, unknown>) },
    options,
  );
}

/** The stream record of a MODIFY of an outbox item (e.g. the relay's own delivered mark). */
export function modifyRecord(item: OutboxItem, options: RecordOptions = {}): DynamoDBRecord {
  const { pendingPk: _pendingPk, pendingSk: _pendingSk, ...delivered } = item;
  return baseRecord(
    'MODIFY',
    image({ pk: item.pk, sk: item.sk }),
    { NewImage: image({ ...delivered, deliveredAt: TEST_OCCURRED_AT }) },
    options,
  );
}

/** The stream record of a TTL delete of an outbox item (no NewImage). */
export function removeRecord(item: OutboxItem, options: RecordOptions = {}): DynamoDBRecord {
  return baseRecord('REMOVE', image({ pk: item.pk, sk: item.sk }), {}, options);
}

/** The stream record of an entity INSERT (not an outbox item). */
export function entityInsertRecord(
  aggregateId: string | number = 1,
  options: RecordOptions = {},
): DynamoDBRecord {
  const id = typeof aggregateId === 'number' ? testId(aggregateId) : aggregateId;
  const key = entityKey('MEMBER', id);
  return baseRecord('INSERT', image({ ...key }), { NewImage: image({ ...key, id, version: 1 }) }, options);
}

/**
 * An outbox INSERT that does not decode: the item lacks the attributes named
 * in `drop` (by default `eventId` and `occurredAt`). Its keys stay intact.
 */
export function undecodableRecord(
  item: OutboxItem,
  options: RecordOptions & { readonly drop?: readonly string[] } = {},
): DynamoDBRecord {
  const broken: Record<string, unknown> = { ...item };
  for (const name of options.drop ?? ['eventId', 'occurredAt']) delete broken[name];
  return insertRecord(broken, options);
}

/** The event the event source mapping hands the relay. */
export function streamEvent(records: readonly DynamoDBRecord[]): DynamoDBStreamEvent {
  return { Records: [...records] };
}

/** The `SequenceNumber` of a record (always set by the factories); throws for a missing record. */
export function sequenceNumberOf(record: DynamoDBRecord | undefined): string {
  const sequenceNumber = record?.dynamodb?.SequenceNumber;
  if (sequenceNumber === undefined) throw new Error('no record, or a record without SequenceNumber');
  return sequenceNumber;
}

/** The outbox key (pk, sk) of an aggregate's event; a shortcut for assertions. */
export function keyOf(item: Pick<OutboxItem, 'pk' | 'sk'>): { pk: string; sk: string } {
  return { pk: item.pk, sk: item.sk };
}
