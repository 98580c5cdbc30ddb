/**
 * Parks poison events on an SQS queue: events that can never be published
 * (undecodable, too big, or refused by EventBridge). The message carries the
 * full item, or the raw record image when it did not decode, and the reason,
 * so an operator can inspect, fix and republish it.
 */
import type { PutEventsRequestEntry } from '@aws-sdk/client-eventbridge';
import { SendMessageCommand, type SQSClient } from '@aws-sdk/client-sqs';
import type { OutboxStreamRecord } from './decode';
import { toPutEventsEntry } from './entry';
import type { OutboxItem } from './envelope';
import type { TableKey } from './keys';
import { MAX_PUT_EVENTS_BYTES, putEventsEntrySize, utf8Bytes } from './limits';

/**
 * SQS: at most 1 MiB per message, body and attributes together (raised from
 * 256 KiB; AWS What's New, 2025-08-04).
 */
export const MAX_SQS_MESSAGE_BYTES = 1024 * 1024;
/** Room left for the message attributes and the envelope of a shortened body. */
const ATTRIBUTE_RESERVE_BYTES = 4 * 1024;
/** Longest `detail` text kept; a validation report can be long. */
const MAX_DETAIL_CHARS = 2000;

/** Why an event is poison. */
export type PoisonReason = 'undecodable' | 'oversize' | 'rejected';

/** A poison event to park. */
export interface PoisonEvent {
  readonly reason: PoisonReason;
  /** What exactly is wrong, for a human. */
  readonly detail: string;
  /** EventBridge's entry `ErrorCode` when it refused the event. */
  readonly code?: string;
  /** The outbox item's key, when known. */
  readonly key?: TableKey;
  /** The decoded item (oversize and rejected events). */
  readonly item?: OutboxItem;
  /** The raw stream record (undecodable events). */
  readonly record?: OutboxStreamRecord;
}

/** Where and how to park. */
export interface PoisonQueueOptions {
  readonly client: SQSClient;
  readonly queueUrl: string;
  /** Clock for `parkedAt`. */
  readonly now: () => Date;
}

/**
 * Sends a poison event to the queue. Throws the SQS error when it cannot be
 * parked: the caller must then keep the event as unpublished, never drop it.
 */
export async function parkPoison(event: PoisonEvent, options: PoisonQueueOptions): Promise<void> {
  await options.client.send(
    new SendMessageCommand({
      QueueUrl: options.queueUrl,
      MessageBody: poisonMessageBody(event, options.now()),
      MessageAttributes: {
        reason: { DataType: 'String', StringValue: event.reason },
        ...(event.code ? { code: { DataType: 'String', StringValue: event.code } } : {}),
      },
    }),
  );
}

/**
 * The message body: JSON `{ reason, detail, code?, key?, item? | record?,
 * parkedAt }`. When the full item would break the SQS size limit, the body
 * keeps everything but the payload and says `truncated: true`; the item itself
 * stays in the table, marked failed, so nothing is lost.
 */
export function poisonMessageBody(event: PoisonEvent, parkedAt: Date): string {
  const detail =
    event.detail.length > MAX_DETAIL_CHARS ? `${event.detail.slice(0, MAX_DETAIL_CHARS)}...` : event.detail;
  const base = {
    reason: event.reason,
    detail,
    ...(event.code ? { code: event.code } : {}),
    ...(event.key ? { key: event.key } : {}),
    parkedAt: parkedAt.toISOString(),
  };
  const full = sqsSafeJson({ ...base, ...payloadOf(event) });
  if (utf8Bytes(full) <= MAX_SQS_MESSAGE_BYTES - ATTRIBUTE_RESERVE_BYTES) return full;
  return sqsSafeJson({ ...base, ...payloadOf(event, { withoutData: true }), truncated: true });
}

function payloadOf(event: PoisonEvent, options: { withoutData?: boolean } = {}): Record<string, unknown> {
  if (event.item) {
    if (!options.withoutData) return { item: event.item };
    const { data: _data, ...rest } = event.item;
    return { item: rest };
  }
  if (event.record) {
    const { eventID, eventName, dynamodb } = event.record;
    return {
      record: {
        eventID,
        eventName,
        SequenceNumber: dynamodb?.SequenceNumber,
        Keys: dynamodb?.Keys,
        ...(options.withoutData ? {} : { NewImage: dynamodb?.NewImage }),
      },
    };
  }
  return {};
}

/**
 * JSON that SQS accepts. JSON.stringify already escapes control characters
 * and lone surrogates; SQS also refuses U+FFFE and U+FFFF, which can only
 * occur inside JSON strings, where an escape means the same.
 */
function sqsSafeJson(value: unknown): string {
  return JSON.stringify(value).replace(/[\uFFFE\uFFFF]/g, (char) => `\\u${char.charCodeAt(0).toString(16)}`);
}

/** A unit of work for a valid event: its entry and request size, or, when it can never be sent, its poison. */
export type EventUnit =
  | { readonly entry: PutEventsRequestEntry; readonly entries: 1; readonly bytes: number }
  | { readonly poison: PoisonEvent; readonly entries: 0; readonly bytes: 0 };

/**
 * Builds the PutEvents entry of an item on the bus; an entry over the
 * PutEvents size limit is oversize poison instead. The relay and the sweeper
 * both plan their chunks from these.
 */
export function eventUnit(item: OutboxItem, key: TableKey, eventBusName: string): EventUnit {
  const entry = toPutEventsEntry(item, eventBusName);
  const bytes = putEventsEntrySize(entry);
  if (bytes > MAX_PUT_EVENTS_BYTES) {
    const detail = `the entry has ${bytes} bytes; PutEvents accepts at most ${MAX_PUT_EVENTS_BYTES}`;
    return { poison: { reason: 'oversize', detail, key, item }, entries: 0, bytes: 0 };
  }
  return { entry, entries: 1, bytes };
}

/** The poison of an event EventBridge refused for good, with its entry's error code and message. */
export function rejectedPoison(
  code: string,
  message: string | undefined,
  key: TableKey,
  item: OutboxItem,
): PoisonEvent {
  return { reason: 'rejected', code, detail: message ? `${code}: ${message}` : code, key, item };
}
