/**
 * The event envelope: what a service hands to the writer, what the outbox
 * item stores, and what the relay sends as EventBridge `Detail`.
 */

/** Arbitrary JSON-compatible event payload. */
export type EventData = Record<string, unknown>;

/** An event as the service describes it, before it is written. */
export interface NewEvent {
  /** Event type, sent as EventBridge `DetailType`, e.g. `MemberRegistered`. */
  readonly eventType: string;
  /** Aggregate type, upper case, e.g. `MEMBER`; part of the outbox item's partition key. */
  readonly aggregateType: string;
  /** The aggregate's id (a ULID). */
  readonly aggregateId: string;
  /** The aggregate's version after this event; orders the aggregate's events. */
  readonly sequence: number;
  /** Event payload. */
  readonly data: EventData;
  /** Id of the event; generated when absent. */
  readonly eventId?: string;
  /** When the change happened (ISO 8601); now when absent. */
  readonly occurredAt?: string;
  /** Id tying this event to the request that caused it; the event id when absent. */
  readonly correlationId?: string;
  /** X-Ray trace header of the writing request, forwarded as `TraceHeader`. */
  readonly traceHeader?: string;
}

/** The envelope sent as EventBridge `Detail` (and what consumers receive). */
export interface EventEnvelope {
  readonly eventId: string;
  readonly eventType: string;
  readonly aggregateType: string;
  readonly aggregateId: string;
  readonly sequence: number;
  readonly occurredAt: string;
  readonly correlationId: string;
  readonly data: EventData;
}

/** An outbox item as stored in the table (DocumentClient shape). */
export interface OutboxItem extends EventEnvelope {
  readonly pk: string;
  readonly sk: string;
  /** EventBridge `Source` of the event. */
  readonly source: string;
  readonly traceHeader?: string;
  /** Pending-index keys; present only while the event is undelivered. */
  readonly pendingPk?: string;
  readonly pendingSk?: string;
  /** Set when the relay or the sweeper has published the event. */
  readonly deliveredAt?: string;
  /** TTL (epoch seconds); set only on delivered items. */
  readonly expiresAt?: number;
  /** Set when the event was parked as poison, with the reason. */
  readonly failedAt?: string;
  readonly failureReason?: string;
}

/** Builds the envelope (the EventBridge `Detail`) of an outbox item. */
export function toEnvelope(item: OutboxItem): EventEnvelope {
  return {
    eventId: item.eventId,
    eventType: item.eventType,
    aggregateType: item.aggregateType,
    aggregateId: item.aggregateId,
    sequence: item.sequence,
    occurredAt: item.occurredAt,
    correlationId: item.correlationId,
    data: item.data,
  };
}
