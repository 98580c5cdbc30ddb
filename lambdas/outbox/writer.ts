/**
 * The writer: one call commits entity writes and their events in a single
 * `TransactWriteItems`, each event as its own outbox item. Either all of it
 * is stored or none of it is, so no event exists for a write that did not
 * happen.
 */
import { createHash, randomUUID } from 'node:crypto';
import {
  IdempotentParameterMismatchException,
  TransactionCanceledException,
  TransactionInProgressException,
} from '@aws-sdk/client-dynamodb';
import {
  type DynamoDBDocumentClient,
  TransactWriteCommand,
  type TransactWriteCommandInput,
} from '@aws-sdk/lib-dynamodb';
import { unmarshall } from '@aws-sdk/util-dynamodb';
import { type AnyEventCatalogue, checkEventData } from './catalogue';
import { toPutEventsEntry } from './entry';
import { type NewEvent, normalizeOccurredAt, type OutboxItem } from './envelope';
import {
  ConditionFailedError,
  IdempotencyKeyMismatchError,
  InvalidWriteError,
  OutboxError,
  OutboxLimitError,
  TransactionConflictError,
  TransactionInProgressError,
  TransactionThrottledError,
  UNSTORABLE_NUMBER,
  type WriteFailure,
  WriteLimitError,
} from './errors';
import { eventPartition, outboxKeyIn, PENDING_SHARDS, pendingKeys } from './keys';
import { DEFAULT_LAYOUT, type OutboxLayout, toStoredItem } from './layout';
import {
  findUnstorableNumber,
  itemSize,
  MAX_ITEM_BYTES,
  MAX_PUT_EVENTS_BYTES,
  MAX_TRANSACTION_ACTIONS,
  MAX_TRANSACTION_BYTES,
  putEventsEntrySize,
} from './limits';
import { type RetryPolicy, waitForRetry } from './publisher';

type TransactItem = NonNullable<TransactWriteCommandInput['TransactItems']>[number];
type WithoutTable<T> = Omit<NonNullable<T>, 'TableName'>;

/** An entity write in the transaction; the table name is the writer's. */
export type EntityWrite = { readonly label?: string } & (
  | { readonly Put: WithoutTable<TransactItem['Put']> }
  | { readonly Update: WithoutTable<TransactItem['Update']> }
  | { readonly Delete: WithoutTable<TransactItem['Delete']> }
  | { readonly ConditionCheck: WithoutTable<TransactItem['ConditionCheck']> }
);

/** What one `write` call commits. */
export interface OutboxWrite {
  /** Entity writes (Put, Update, Delete, ConditionCheck), in order. */
  readonly writes: readonly EntityWrite[];
  /** Events, each stored as its own outbox item after the entity writes. */
  readonly events: readonly NewEvent[];
  /**
   * Makes a retried call idempotent for 10 minutes (its digest is the
   * `ClientRequestToken`): the same key with the same request commits once;
   * with another request it fails with `IdempotencyKeyMismatchError`.
   * Without it, each `write` call gets a fresh random token, so the writer's
   * own retries of that call are idempotent too.
   */
  readonly idempotencyKey?: string;
}

/** What a committed `write` returns. */
export interface OutboxWriteResult {
  /** The outbox items as stored. */
  readonly events: readonly OutboxItem[];
}

/** Settings of a writer. */
export interface OutboxWriterOptions {
  /** The table holding entities and outbox items. */
  readonly tableName: string;
  /** EventBridge `Source` of the events, e.g. `com.example.members`. */
  readonly source: string;
  /** Bus the relay sends to; only used to size events exactly as the relay will send them. */
  readonly eventBusName?: string;
  /** Document client; tests pass a mock or a client aimed at DynamoDB Local. */
  readonly client: DynamoDBDocumentClient;
  /** Clock; tests pass a fixed one. */
  readonly now?: () => Date;
  /** Event id factory. */
  readonly newEventId?: () => string;
  /** How long a write waits for a transaction DynamoDB reports as still in progress. */
  readonly inProgressRetry?: Partial<InProgressRetry>;
  /**
   * Shards of the pending index, sized from the table's peak event rate
   * (lib/outbox-table.ts). @default the layout's `pendingShards` (16)
   */
  readonly pendingShards?: number;
  /** Attribute and index names of the table (see {@link outboxLayoutFromEnv}). @default DEFAULT_LAYOUT */
  readonly layout?: OutboxLayout;
  /**
   * The service's event catalogue (see `defineCatalogue`). With one, the
   * writer refuses, before anything is sent, an event whose type is not in
   * it or whose data does not match the type's schema (`EventSchemaError`,
   * naming the type and each offending field), and stores the schema's
   * version as the event's `dataVersion`. @default none: any event type, any data
   */
  readonly catalogue?: AnyEventCatalogue;
}

/**
 * Pacing of the retries of a transaction DynamoDB answers with
 * `TransactionInProgressException`: the identical request (same
 * `ClientRequestToken`) is sent again with backoff until DynamoDB gives its
 * outcome or the bound is reached.
 */
export interface InProgressRetry {
  /** Most attempts, the first one included. @default 8 */
  readonly maxAttempts: number;
  /** Backoff cap before jitter of the first retry; doubles per attempt. @default 50 */
  readonly baseDelayMs: number;
  /** Upper bound of the backoff cap. @default 1000 */
  readonly maxDelayMs: number;
  /** Longest total wait from the first attempt. @default 3000 */
  readonly maxWaitMs: number;
  /** Waits; tests pass a fake. */
  readonly sleep: (ms: number) => Promise<void>;
  /** Uniform in [0, 1); tests pass a fixed one. */
  readonly random: () => number;
  /** Monotonic milliseconds; tests pass a fake. */
  readonly clock: () => number;
}

/** Defaults of {@link InProgressRetry}: a transaction normally resolves within a second; an API request should not wait much longer. */
export const IN_PROGRESS_RETRY_DEFAULTS: InProgressRetry = {
  maxAttempts: 8,
  baseDelayMs: 50,
  maxDelayMs: 1000,
  maxWaitMs: 3000,
  sleep: (ms) => new Promise((resolve) => setTimeout(resolve, ms)),
  random: Math.random,
  clock: () => performance.now(),
};

const EVENT_TYPE_PATTERN = /^[A-Za-z][A-Za-z0-9.]{0,127}$/;

/**
 * Commits entity writes and outbox events atomically.
 *
 * **Sequences.** An event's `sequence` is its aggregate's version after the
 * event, and orders the aggregate's events on the bus. Across writes,
 * sequences must increase but need not be contiguous: an entity write that
 * bumps the version without an event leaves a hole, and an outbox item that
 * TTL deleted leaves one too. The relay's gap guard (`relayInOrder`) finds an
 * aggregate's last event before a batch by reading back from the batch's
 * first sequence, not by assuming `sequence - 1` exists, so a hole never lets
 * a later event overtake a pending earlier one. Within one write, the events
 * of one aggregate must be consecutive and ascending (`n`, `n + 1`, ...):
 * one transaction is one step of the aggregate per event, and the writer
 * refuses anything else with `InvalidWriteError`.
 *
 * **Answers.** `write` answers only once DynamoDB has decided: a transaction
 * reported as still in progress is sent again, identically, until it
 * commits or fails (see {@link InProgressRetry}).
 */
export class OutboxWriter {
  private readonly now: () => Date;
  private readonly newEventId: () => string;
  private readonly inProgress: InProgressRetry;
  private readonly layout: OutboxLayout;
  private readonly pendingShards: number;

  constructor(private readonly options: OutboxWriterOptions) {
    this.layout = options.layout ?? DEFAULT_LAYOUT;
    this.pendingShards = options.pendingShards ?? this.layout.pendingShards ?? PENDING_SHARDS;
    this.now = options.now ?? (() => new Date());
    this.newEventId = options.newEventId ?? randomUUID;
    this.inProgress = { ...IN_PROGRESS_RETRY_DEFAULTS, ...options.inProgressRetry };
  }

  /**
   * Builds and checks the transaction without sending it. Throws
   * `OutboxLimitError`, `WriteLimitError` or `InvalidWriteError` for a
   * request DynamoDB or EventBridge would refuse, and `EventSchemaError`
   * (an `InvalidWriteError`) for an event the catalogue does not describe. The input always carries a
   * `ClientRequestToken`: the idempotency key's digest, else a fresh random one.
   */
  prepare(request: OutboxWrite): { input: TransactWriteCommandInput; events: OutboxItem[] } {
    const actions = request.writes.length + request.events.length;
    if (actions > MAX_TRANSACTION_ACTIONS) {
      throw new OutboxLimitError('actions', actions, MAX_TRANSACTION_ACTIONS, 'transaction');
    }
    assertConsecutiveSequences(request.events);
    const events = request.events.map((event) => this.toOutboxItem(event));
    const items: TransactItem[] = [
      ...request.writes.map((write) => withTable(write, this.options.tableName)),
      ...events.map((item) => ({
        Put: {
          TableName: this.options.tableName,
          Item: toStoredItem(item, this.layout),
          // An outbox item is written once: a second writer of the same
          // sequence fails here instead of overwriting the first one's event.
          ConditionExpression: 'attribute_not_exists(#pk)',
          ExpressionAttributeNames: { '#pk': this.layout.partitionKey },
        },
      })),
    ];
    assertDistinctItems(items, this.layout);
    assertSizes(items, this.layout);
    assertStorableNumbers(items, request);
    const input: TransactWriteCommandInput = {
      TransactItems: items,
      // Always our own token, never the SDK's silent one: the retries below
      // must send the very token DynamoDB saw, to learn that attempt's outcome.
      ClientRequestToken:
        request.idempotencyKey === undefined ? randomUUID() : clientRequestToken(request.idempotencyKey),
    };
    return { input, events };
  }

  /**
   * Commits the writes and events in one transaction.
   *
   * When DynamoDB answers `TransactionInProgressException` (an earlier
   * attempt with the same token, e.g. the SDK's own retry after a timeout, is
   * still running), the identical request is sent again with backoff until
   * DynamoDB tells the outcome: success means that transaction committed.
   *
   * @throws ConditionFailedError when a condition failed (it names which write)
   * @throws TransactionConflictError when a concurrent transaction interfered (retryable)
   * @throws WriteLimitError when DynamoDB refused a value or an item's size (the request's fault)
   * @throws TransactionInProgressError when the outcome is still unknown after the bound
   *   (retryable: the same idempotency key then learns the outcome)
   * @throws OutboxLimitError, InvalidWriteError (EventSchemaError among them) before anything is sent
   */
  async write(request: OutboxWrite): Promise<OutboxWriteResult> {
    const { input, events } = this.prepare(request);
    const started = this.inProgress.clock();
    const policy: RetryPolicy = {
      ...this.inProgress,
      remainingTimeMs: () => this.inProgress.maxWaitMs - (this.inProgress.clock() - started),
      safetyMarginMs: 0,
    };
    for (let attempt = 1; ; attempt += 1) {
      try {
        // A new command per attempt with the identical input (token included):
        // an SDK command instance is not meant to be sent twice.
        await this.options.client.send(new TransactWriteCommand(input));
        return { events };
      } catch (error) {
        if (error instanceof TransactionInProgressException && (await waitForRetry(attempt, policy)))
          continue;
        throw translateError(error, request, attempt);
      }
    }
  }

  private toOutboxItem(event: NewEvent): OutboxItem {
    if (!EVENT_TYPE_PATTERN.test(event.eventType)) {
      throw new InvalidWriteError(`eventType ${JSON.stringify(event.eventType)} is not a valid event type`);
    }
    const partition = eventPartition(event);
    const key = outboxKeyIn(partition, event.sequence);
    const dataVersion = this.options.catalogue
      ? checkEventData(this.options.catalogue, event.eventType, event.data)
      : undefined;
    const eventId = event.eventId ?? this.newEventId();
    const occurredAt =
      event.occurredAt === undefined ? this.now().toISOString() : normalizeOccurredAt(event.occurredAt);
    if (occurredAt === undefined) {
      throw new InvalidWriteError(
        `occurredAt ${JSON.stringify(event.occurredAt)} of event ${event.eventType} is not an ISO 8601 timestamp with a zone (e.g. 2026-03-01T12:00:00.000Z)`,
      );
    }
    const item: OutboxItem = {
      ...key,
      eventId,
      eventType: event.eventType,
      source: this.options.source,
      aggregateType: event.aggregateType,
      aggregateId: event.aggregateId,
      sequence: event.sequence,
      occurredAt,
      correlationId: event.correlationId ?? eventId,
      ...(dataVersion === undefined ? {} : { dataVersion }),
      data: event.data,
      ...(event.traceHeader ? { traceHeader: event.traceHeader } : {}),
      ...pendingKeys(
        event.aggregateType,
        event.aggregateId,
        event.sequence,
        occurredAt,
        this.pendingShards,
        partition,
      ),
    };
    const entrySize = putEventsEntrySize(toPutEventsEntry(item, this.options.eventBusName ?? 'default'));
    if (entrySize > MAX_PUT_EVENTS_BYTES) {
      throw new OutboxLimitError('eventBytes', entrySize, MAX_PUT_EVENTS_BYTES, `event ${event.eventType}`);
    }
    return item;
  }
}

/** Events of one aggregate in one write: `n`, `n + 1`, ... in request order (see {@link OutboxWriter}). */
function assertConsecutiveSequences(events: readonly NewEvent[]): void {
  const last = new Map<string, number>();
  for (const event of events) {
    const aggregate = eventPartition(event);
    const previous = last.get(aggregate);
    if (previous !== undefined && event.sequence !== previous + 1) {
      throw new InvalidWriteError(
        `events of ${aggregate} in one write must have consecutive ascending sequences: ${event.sequence} follows ${previous}`,
      );
    }
    last.set(aggregate, event.sequence);
  }
}

/**
 * A number DynamoDB (or the document client) cannot store fails the whole
 * transaction with an untyped error; name the write and the value instead.
 */
function assertStorableNumbers(items: readonly TransactItem[], request: OutboxWrite): void {
  items.forEach((item, index) => {
    const values = item.Put?.Item ?? {
      ...(item.Update?.Key ?? {}),
      ...(item.Update?.ExpressionAttributeValues ?? {}),
      ...(item.Delete?.Key ?? {}),
      ...(item.Delete?.ExpressionAttributeValues ?? {}),
      ...(item.ConditionCheck?.Key ?? {}),
      ...(item.ConditionCheck?.ExpressionAttributeValues ?? {}),
    };
    const found = findUnstorableNumber(values as Record<string, unknown>);
    if (found) {
      throw new WriteLimitError([
        {
          index,
          ...labelOf(index, request),
          code: UNSTORABLE_NUMBER,
          message: `${found.path} = ${String(found.value)} cannot be stored: ${found.reason}`,
        },
      ]);
    }
  });
}

function withTable(write: EntityWrite, tableName: string): TransactItem {
  if ('Put' in write) return { Put: { ...write.Put, TableName: tableName } };
  if ('Update' in write) return { Update: { ...write.Update, TableName: tableName } };
  if ('Delete' in write) return { Delete: { ...write.Delete, TableName: tableName } };
  return { ConditionCheck: { ...write.ConditionCheck, TableName: tableName } };
}

function keyOf(item: TransactItem): Record<string, unknown> | undefined {
  return item.Put?.Item ?? item.Update?.Key ?? item.Delete?.Key ?? item.ConditionCheck?.Key;
}

/** DynamoDB refuses two actions on one item in a transaction; say which before sending. */
function assertDistinctItems(items: readonly TransactItem[], layout: OutboxLayout): void {
  const seen = new Set<string>();
  for (const item of items) {
    const key = keyOf(item);
    const pk = key?.[layout.partitionKey];
    const sk = key?.[layout.sortKey];
    const id = `${String(pk)}\u0000${String(sk)}`;
    if (seen.has(id)) {
      throw new InvalidWriteError(`two writes in one transaction target the same item (${String(sk)})`);
    }
    seen.add(id);
  }
}

function assertSizes(items: readonly TransactItem[], layout: OutboxLayout): void {
  let total = 0;
  for (const item of items) {
    const size = itemSize(
      (item.Put?.Item ?? {
        ...(keyOf(item) ?? {}),
        ...(item.Update?.ExpressionAttributeValues ?? {}),
        ...(item.Delete?.ExpressionAttributeValues ?? {}),
        ...(item.ConditionCheck?.ExpressionAttributeValues ?? {}),
      }) as Record<string, unknown>,
    );
    if (size > MAX_ITEM_BYTES) {
      throw new OutboxLimitError(
        'itemBytes',
        size,
        MAX_ITEM_BYTES,
        String(keyOf(item)?.[layout.sortKey] ?? 'item'),
      );
    }
    total += size;
  }
  if (total > MAX_TRANSACTION_BYTES) {
    throw new OutboxLimitError('transactionBytes', total, MAX_TRANSACTION_BYTES, 'transaction');
  }
}

/** `ClientRequestToken` allows 36 characters; a digest keeps any key within that and free of odd characters. */
function clientRequestToken(idempotencyKey: string): string {
  return createHash('sha256').update(idempotencyKey).digest('base64url').slice(0, 36);
}

function labelOf(index: number, request: OutboxWrite): Pick<WriteFailure, 'label' | 'kind'> {
  if (index < request.writes.length) {
    return { label: request.writes[index]?.label ?? `write:${index}`, kind: 'entity' };
  }
  const event = request.events[index - request.writes.length];
  return { label: `event:${event?.eventType ?? index}`, kind: 'event' };
}

/** Top-level `ValidationException` messages about a limit of the data, not a malformed request (DynamoDB Local 3.3 wording). */
const LIMIT_VALIDATION_MESSAGE =
  /number (underflow|overflow)|magnitude|significant digits|item size|maximum allowed size/i;

/** Translates SDK errors into the library's typed errors, keeping the SDK error as `cause`. */
function translateError(error: unknown, request: OutboxWrite, attempts: number): unknown {
  if (error instanceof TransactionCanceledException) {
    const failures: WriteFailure[] = [];
    (error.CancellationReasons ?? []).forEach((reason, index) => {
      if (!reason.Code || reason.Code === 'None') return;
      failures.push({
        index,
        ...labelOf(index, request),
        code: reason.Code,
        ...(reason.Message ? { message: reason.Message } : {}),
        ...(reason.Item ? { item: unmarshall(reason.Item) } : {}),
      });
    });
    const codes = new Set(failures.map((failure) => failure.code));
    if (codes.has('ConditionalCheckFailed')) {
      return new ConditionFailedError(
        failures.filter((failure) => failure.code === 'ConditionalCheckFailed'),
        { cause: error },
      );
    }
    if (codes.has('ValidationError')) {
      return new WriteLimitError(
        failures.filter((failure) => failure.code === 'ValidationError'),
        { cause: error },
      );
    }
    if (codes.has('TransactionConflict')) {
      return new TransactionConflictError('a concurrent transaction touched the same items', {
        cause: error,
      });
    }
    if (codes.has('ThrottlingError') || codes.has('ProvisionedThroughputExceeded')) {
      return new TransactionThrottledError('the transaction was throttled', { cause: error });
    }
    return new OutboxError(`transaction cancelled: ${[...codes].join(', ') || 'no reason given'}`, {
      cause: error,
    });
  }
  if (error instanceof IdempotentParameterMismatchException) {
    return new IdempotencyKeyMismatchError('the idempotency key was used for a different request', {
      cause: error,
    });
  }
  if (error instanceof TransactionInProgressException) {
    return new TransactionInProgressError(
      `DynamoDB still reported the transaction in progress after ${attempts} attempts; its outcome is unknown, and the same request with the same idempotency key learns it`,
      { cause: error },
    );
  }
  if (error instanceof Error && error.name === 'ValidationException') {
    if (LIMIT_VALIDATION_MESSAGE.test(error.message)) return new WriteLimitError([], { cause: error });
    return new InvalidWriteError(`DynamoDB refused the transaction as malformed: ${error.message}`, {
      cause: error,
    });
  }
  return error;
}
