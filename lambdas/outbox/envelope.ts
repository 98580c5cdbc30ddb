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
  /** The aggregate's id: a ULID, unless `aggregateKey` is given (then any id of up to 256 characters). */
  readonly aggregateId: string;
  /**
   * The aggregate's partition key value as the service builds it for its
   * entity (its own single-table design, e.g. `USER#<id>`); the outbox items
   * are stored in that partition, with sort keys `OUTBOX#<sequence>`. The
   * service builds it from validated parts; the writer refuses a value that
   * starts with one of the library's own prefixes (`OUTBOX#`, `PENDING#`,
   * `IDEMPOTENCY#`, `VIEW#`). @default `<aggregateType>#<aggregateId>`
   */
  readonly aggregateKey?: string;
  /**
   * The aggregate's version after this event; orders the aggregate's events.
   * It must grow with every write of the aggregate but may skip numbers (a
   * version bump without an event): the gap guard does not assume
   * `sequence - 1` exists. Within one write, one aggregate's events must be
   * consecutive and ascending (see `OutboxWriter`).
   */
  readonly sequence: number;
  /** Event payload. */
  readonly data: EventData;
  /** Id of the event; generated when absent. */
  readonly eventId?: string;
  /**
   * When the change happened; now when absent. An ISO 8601 date and time
   * with `Z` or an offset (`2026-03-01T12:00:00Z`, `2026-03-01T13:00:00.5+01:00`)
   * or an HTTP date as `Date#toUTCString()` writes it; the writer stores it
   * as ISO 8601 UTC with milliseconds (see {@link normalizeOccurredAt}) and
   * refuses anything else.
   */
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
  /**
   * The version (`major.minor`) of the catalogue schema the writer checked
   * `data` against (see `defineCatalogue`); absent when the writer had no
   * catalogue, and on every event written before versions were recorded.
   */
  readonly dataVersion?: string;
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
    ...(item.dataVersion === undefined ? {} : { dataVersion: item.dataVersion }),
    data: item.data,
  };
}

/** ISO 8601 date and time with seconds optional and a zone required (RFC 3339's profile, `T` or a space). */
const ISO_TIMESTAMP =
  /^(\d{4})-(\d{2})-(\d{2})[Tt ](\d{2}):(\d{2})(?::(\d{2})(?:[.,](\d+))?)?(?:([Zz])|([+-])(\d{2}):?(\d{2}))$/;
/** The IMF-fixdate of RFC 9110 (HTTP dates), which `Date#toUTCString()` writes. */
const HTTP_DATE =
  /^(?:Mon|Tue|Wed|Thu|Fri|Sat|Sun), (\d{2}) (Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec) (\d{4}) (\d{2}):(\d{2}):(\d{2}) GMT$/;
const MONTHS = ['Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec'];
/** What `Date#toISOString()` writes for the years 0000 to 9999: fixed width, so text order is time order. */
const STORED_TIMESTAMP = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$/;

/**
 * `occurredAt` as the outbox stores it: ISO 8601 in UTC with milliseconds
 * (`2026-03-01T12:00:00.000Z`), or undefined when `value` is not an
 * unambiguous timestamp. The pending index sorts by this text and the
 * sweeper and `republish --older-than` compare it with `toISOString()`
 * bounds, so every stored value must have exactly this form: an HTTP date
 * (`Sun, 01 Mar 2026 ...`) would sort after every ISO key and never be found.
 *
 * Accepted: ISO 8601 / RFC 3339 with `Z` or an offset (converted to UTC;
 * digits beyond milliseconds are cut), and HTTP dates. Refused: a time
 * without a zone (local time of which machine?), a date alone, impossible
 * dates (`2026-02-30`), and instants outside the years 0000 to 9999.
 */
export function normalizeOccurredAt(value: unknown): string | undefined {
  if (typeof value !== 'string') return undefined;
  const fields = isoFields(value) ?? httpDateFields(value);
  if (!fields) return undefined;
  const { year, month, day, hour, minute, second, millisecond, offsetMinutes } = fields;
  if (month < 1 || month > 12 || hour > 23 || minute > 59 || second > 59 || offsetMinutes === undefined) {
    return undefined;
  }
  // setUTCFullYear, unlike Date.UTC, keeps the years 0-99 as they are.
  const local = new Date(0);
  local.setUTCFullYear(year, month - 1, day);
  local.setUTCHours(hour, minute, second, millisecond);
  // A day past the month's end rolls over (30 February into March); such a date is refused.
  if (local.getUTCDate() !== day || local.getUTCMonth() !== month - 1) return undefined;
  const instant = new Date(local.getTime() - offsetMinutes * 60_000);
  if (Number.isNaN(instant.getTime())) return undefined;
  const iso = instant.toISOString();
  return STORED_TIMESTAMP.test(iso) ? iso : undefined;
}

interface TimestampFields {
  readonly year: number;
  readonly month: number;
  readonly day: number;
  readonly hour: number;
  readonly minute: number;
  readonly second: number;
  readonly millisecond: number;
  /** Minutes east of UTC; undefined when the offset is out of range. */
  readonly offsetMinutes: number | undefined;
}

function isoFields(value: string): TimestampFields | undefined {
  const match = ISO_TIMESTAMP.exec(value);
  if (!match) return undefined;
  const [, year, month, day, hour, minute, second, fraction, zulu, sign, offsetHour, offsetMinute] = match;
  let offsetMinutes: number | undefined = 0;
  if (!zulu) {
    const hours = Number(offsetHour);
    const minutes = Number(offsetMinute);
    offsetMinutes = hours > 23 || minutes > 59 ? undefined : (sign === '-' ? -1 : 1) * (hours * 60 + minutes);
  }
  return {
    year: Number(year),
    month: Number(month),
    day: Number(day),
    hour: Number(hour),
    minute: Number(minute),
    second: Number(second ?? 0),
    millisecond: Number((fraction ?? '').padEnd(3, '0').slice(0, 3)),
    offsetMinutes,
  };
}

function httpDateFields(value: string): TimestampFields | undefined {
  const match = HTTP_DATE.exec(value);
  if (!match) return undefined;
  const [, day, month, year, hour, minute, second] = match;
  return {
    year: Number(year),
    month: MONTHS.indexOf(month ?? '') + 1,
    day: Number(day),
    hour: Number(hour),
    minute: Number(minute),
    second: Number(second),
    millisecond: 0,
    offsetMinutes: 0,
  };
}
