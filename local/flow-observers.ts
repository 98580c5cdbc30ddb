/**
 * Watches events move through the local runtime and records each step in
 * the {@link EventFeed}: wrappers around the functions the pollers invoke,
 * so the relay and the consumers run unchanged.
 *
 * - Relay: before the invocation, every outbox INSERT of the batch not seen
 *   before is `committed`. After it, the batch's items are read back
 *   (consistently) and their state is what the relay did: `deliveredAt` set
 *   or changed is `published` (a change is a second publication, a
 *   duplicate), `failedAt` without delivery is `parked`, neither is still
 *   `pending` (the stream delivers it again).
 * - Consumers: each message of a batch is `delivered` when the batch (or its
 *   part) succeeded, `retried` when it failed, `dead-lettered` when it failed
 *   on the queue's last allowed receive (SQS moves it to the DLQ next).
 */
import { type AttributeValue, BatchGetItemCommand, type DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { unmarshall } from '@aws-sdk/util-dynamodb';
import type {
  Context,
  DynamoDBBatchResponse,
  DynamoDBStreamEvent,
  SQSBatchResponse,
  SQSEvent,
} from 'aws-lambda';
import { decodeRecord, type OutboxStreamRecord } from '../lambdas/outbox/decode';
import { PK, SK, type TableKey } from '../lambdas/outbox/keys';
import type { EventFeed, NewFlowEntry } from './event-feed';

/** The event identity and description fields of a flow entry. */
type EventFields = Pick<
  NewFlowEntry,
  'eventId' | 'eventType' | 'aggregateType' | 'aggregateId' | 'sequence' | 'occurredAt' | 'correlationId'
>;

/** BatchGetItem reads at most 100 keys per call (DynamoDB API reference, BatchGetItem). */
const BATCH_GET_LIMIT = 100;

function text(value: unknown): string | undefined {
  return typeof value === 'string' && value !== '' ? value : undefined;
}

function integer(value: unknown): number | undefined {
  const number = typeof value === 'number' ? value : typeof value === 'string' ? Number(value) : Number.NaN;
  return Number.isSafeInteger(number) ? number : undefined;
}

/** The describing fields of an item or envelope, whatever of them it has. */
function eventFields(source: Record<string, unknown>, fallbackId: string): EventFields {
  const fields: Record<string, unknown> = {
    eventId: text(source.eventId) ?? fallbackId,
    eventType: text(source.eventType),
    aggregateType: text(source.aggregateType),
    aggregateId: text(source.aggregateId),
    sequence: integer(source.sequence),
    occurredAt: text(source.occurredAt),
    correlationId: text(source.correlationId),
  };
  return Object.fromEntries(Object.entries(fields).filter(([, value]) => value !== undefined)) as EventFields;
}

function latencySince(occurredAt: string | undefined, at: string | number): number | undefined {
  const start = occurredAt ? Date.parse(occurredAt) : Number.NaN;
  const end = typeof at === 'number' ? at : Date.parse(at);
  return Number.isFinite(start) && Number.isFinite(end) ? Math.max(0, end - start) : undefined;
}

/** Longest data JSON kept on a committed entry. */
const MAX_DATA_CHARS = 500;

function dataField(data: unknown): { data?: string } {
  if (data === undefined) return {};
  let json: string;
  try {
    json = JSON.stringify(data, (_key, value: unknown) =>
      typeof value === 'bigint' ? value.toString() : value,
    );
  } catch {
    return {};
  }
  return { data: json.length > MAX_DATA_CHARS ? `${json.slice(0, MAX_DATA_CHARS - 1)}…` : json };
}

function validTime(iso: string | undefined): { at?: string } {
  const time = iso ? Date.parse(iso) : Number.NaN;
  return Number.isFinite(time) ? { at: new Date(time).toISOString() } : {};
}

function keyId(key: TableKey): string {
  return `${key.pk} ${key.sk}`;
}

/** Options of {@link observeRelay}. */
export interface RelayObserverOptions {
  readonly feed: EventFeed;
  /** A client for the table (DynamoDB Local). */
  readonly dynamoDb: DynamoDBClient;
  readonly tableName: string;
}

type StreamInvoke = (
  event: DynamoDBStreamEvent,
  context: Context,
) => Promise<DynamoDBBatchResponse | undefined>;

/** Wraps the relay's invocation so that its batches' steps reach the feed. */
export function observeRelay(invoke: StreamInvoke, options: RelayObserverOptions): StreamInvoke {
  /** What was last recorded per event (a state key), so every change is recorded once. */
  const lastState = new Map<string, string>();
  return async (event, context) => {
    const batch = new Map<string, { key: TableKey; fields: EventFields }>();
    for (const record of event.Records) {
      const decoded = decodeRecord(record as OutboxStreamRecord);
      if (decoded.kind === 'skip') continue;
      let key: TableKey | undefined;
      let source: Record<string, unknown> = {};
      if (decoded.kind === 'event') {
        key = { pk: decoded.item.pk, sk: decoded.item.sk };
        source = decoded.item as unknown as Record<string, unknown>;
      } else {
        key = decoded.key;
        try {
          source = unmarshall((record.dynamodb?.NewImage ?? {}) as Record<string, AttributeValue>);
        } catch {
          source = {};
        }
      }
      if (!key) continue;
      const fields = eventFields(source, keyId(key));
      batch.set(keyId(key), { key, fields });
      if (!lastState.has(fields.eventId)) {
        lastState.set(fields.eventId, 'committed');
        // Its time is the commit's (occurredAt), not when the stream showed it.
        options.feed.add({
          stage: 'committed',
          ...fields,
          ...dataField(source.data),
          ...validTime(fields.occurredAt),
        });
      }
    }
    try {
      return await invoke(event, context);
    } finally {
      if (batch.size > 0) await recordOutcomes([...batch.values()], options, lastState);
    }
  };
}

async function recordOutcomes(
  batch: readonly { key: TableKey; fields: EventFields }[],
  options: RelayObserverOptions,
  lastState: Map<string, string>,
): Promise<void> {
  const items = new Map<string, Record<string, unknown>>();
  try {
    for (let start = 0; start < batch.length; start += BATCH_GET_LIMIT) {
      let keys: Record<string, AttributeValue>[] = batch
        .slice(start, start + BATCH_GET_LIMIT)
        .map(({ key }) => ({ [PK]: { S: key.pk }, [SK]: { S: key.sk } }));
      while (keys.length > 0) {
        const response = await options.dynamoDb.send(
          new BatchGetItemCommand({
            RequestItems: { [options.tableName]: { Keys: keys, ConsistentRead: true } },
          }),
        );
        for (const image of response.Responses?.[options.tableName] ?? []) {
          const item = unmarshall(image);
          items.set(`${item[PK]} ${item[SK]}`, item);
        }
        keys = (response.UnprocessedKeys?.[options.tableName]?.Keys ?? []) as Record<
          string,
          AttributeValue
        >[];
      }
    }
  } catch {
    // An observer's read: the relay's work is done either way, and the next batch reads again.
    return;
  }
  for (const { key, fields } of batch) {
    const item = items.get(keyId(key));
    if (!item) continue;
    const deliveredAt = text(item.deliveredAt);
    const failedAt = text(item.failedAt);
    const state = deliveredAt ? `delivered ${deliveredAt}` : failedAt ? `failed ${failedAt}` : 'pending';
    if (lastState.get(fields.eventId) === state) continue;
    lastState.set(fields.eventId, state);
    if (deliveredAt) {
      const latencyMs = latencySince(fields.occurredAt, deliveredAt);
      options.feed.add({
        stage: 'published',
        ...fields,
        by: 'relay',
        // The delivered-mark's time: a consumer may have had the event before this read-back.
        ...validTime(deliveredAt),
        ...(latencyMs === undefined ? {} : { latencyMs }),
      });
    } else if (failedAt) {
      options.feed.add({
        stage: 'parked',
        ...fields,
        reason: text(item.failureReason) ?? 'no reason recorded',
      });
    } else {
      options.feed.add({ stage: 'pending', ...fields });
    }
  }
}

/** Options of {@link observeConsumer}. */
export interface ConsumerObserverOptions {
  readonly feed: EventFeed;
  /** The consumer's name, shown with each step. */
  readonly consumer: string;
  /** The queue's RedrivePolicy maxReceiveCount; without one a message is never dead-lettered. */
  readonly maxReceiveCount?: number;
}

type SqsInvoke = (event: SQSEvent, context: Context) => Promise<SQSBatchResponse | undefined>;

function envelopeOf(body: string): Record<string, unknown> {
  try {
    const parsed: unknown = JSON.parse(body);
    const detail = (parsed as { detail?: unknown } | null)?.detail;
    return typeof detail === 'object' && detail !== null ? (detail as Record<string, unknown>) : {};
  } catch {
    return {};
  }
}

/** Wraps a consumer's invocation so that each message's outcome reaches the feed. */
export function observeConsumer(invoke: SqsInvoke, options: ConsumerObserverOptions): SqsInvoke {
  return async (event, context) => {
    let response: SQSBatchResponse | undefined;
    let thrown: unknown;
    try {
      response = await invoke(event, context);
    } catch (error) {
      thrown = error;
    }
    const failed = new Set((response?.batchItemFailures ?? []).map((failure) => failure.itemIdentifier));
    const now = Date.now();
    for (const record of event.Records) {
      const fields = eventFields(envelopeOf(record.body), `message ${record.messageId}`);
      const attempt = integer(record.attributes.ApproximateReceiveCount) ?? 1;
      const common = { ...fields, consumer: options.consumer, attempt };
      const limit = options.maxReceiveCount === undefined ? {} : { maxAttempts: options.maxReceiveCount };
      if (thrown !== undefined || failed.has(record.messageId)) {
        const last = options.maxReceiveCount !== undefined && attempt >= options.maxReceiveCount;
        const reason =
          thrown === undefined
            ? 'reported as a batch item failure (see its log)'
            : thrown instanceof Error
              ? thrown.message
              : String(thrown);
        options.feed.add({ stage: last ? 'dead-lettered' : 'retried', ...common, ...limit, reason });
      } else {
        const latencyMs = latencySince(fields.occurredAt, now);
        options.feed.add({
          stage: 'delivered',
          ...common,
          ...limit,
          ...(latencyMs === undefined ? {} : { latencyMs }),
        });
      }
    }
    if (thrown !== undefined) throw thrown;
    return response;
  };
}
