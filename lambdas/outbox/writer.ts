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
import { toPutEventsEntry } from './entry';
import type { NewEvent, OutboxItem } from './envelope';
import {
  ConditionFailedError,
  IdempotencyKeyMismatchError,
  InvalidWriteError,
  OutboxError,
  OutboxLimitError,
  TransactionConflictError,
  TransactionInProgressError,
  TransactionThrottledError,
  type WriteFailure,
} from './errors';
import { outboxKey, pendingKeys } from './keys';
import {
  itemSize,
  MAX_ITEM_BYTES,
  MAX_PUT_EVENTS_BYTES,
  MAX_TRANSACTION_ACTIONS,
  MAX_TRANSACTION_BYTES,
  putEventsEntrySize,
} from './limits';

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
   * Makes a retried call idempotent for 10 minutes (`ClientRequestToken`):
   * the same key with the same request commits once; with another request it
   * fails with `IdempotencyKeyMismatchError`.
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
  /** Shards of the pending index, sized from the table's peak event rate (lib/outbox-table.ts). @default PENDING_SHARDS */
  readonly pendingShards?: number;
}

const EVENT_TYPE_PATTERN = /^[A-Za-z][A-Za-z0-9.]{0,127}$/;

/** Commits entity writes and outbox events atomically. */
export class OutboxWriter {
  private readonly now: () => Date;
  private readonly newEventId: () => string;

  constructor(private readonly options: OutboxWriterOptions) {
    this.now = options.now ?? (() => new Date());
    this.newEventId = options.newEventId ?? randomUUID;
  }

  /**
   * Builds and checks the transaction without sending it. Throws
   * `OutboxLimitError` or `InvalidWriteError` for a request DynamoDB or
   * EventBridge would refuse.
   */
  prepare(request: OutboxWrite): { input: TransactWriteCommandInput; events: OutboxItem[] } {
    const actions = request.writes.length + request.events.length;
    if (actions > MAX_TRANSACTION_ACTIONS) {
      throw new OutboxLimitError('actions', actions, MAX_TRANSACTION_ACTIONS, 'transaction');
    }
    const events = request.events.map((event) => this.toOutboxItem(event));
    const items: TransactItem[] = [
      ...request.writes.map((write) => withTable(write, this.options.tableName)),
      ...events.map((item) => ({
        Put: {
          TableName: this.options.tableName,
          Item: item as unknown as Record<string, unknown>,
          // An outbox item is written once: a second writer of the same
          // sequence fails here instead of overwriting the first one's event.
          ConditionExpression: 'attribute_not_exists(pk)',
        },
      })),
    ];
    assertDistinctItems(items);
    assertSizes(items);
    const input: TransactWriteCommandInput = { TransactItems: items };
    if (request.idempotencyKey !== undefined) {
      input.ClientRequestToken = clientRequestToken(request.idempotencyKey);
    }
    return { input, events };
  }

  /**
   * Commits the writes and events in one transaction.
   *
   * @throws ConditionFailedError when a condition failed (it names which write)
   * @throws TransactionConflictError when a concurrent transaction interfered (retryable)
   * @throws OutboxLimitError, InvalidWriteError before anything is sent
   */
  async write(request: OutboxWrite): Promise<OutboxWriteResult> {
    const { input, events } = this.prepare(request);
    try {
      await this.options.client.send(new TransactWriteCommand(input));
    } catch (error) {
      throw translateError(error, request);
    }
    return { events };
  }

  private toOutboxItem(event: NewEvent): OutboxItem {
    if (!EVENT_TYPE_PATTERN.test(event.eventType)) {
      throw new InvalidWriteError(`eventType ${JSON.stringify(event.eventType)} is not a valid event type`);
    }
    const key = outboxKey(event.aggregateType, event.aggregateId, event.sequence);
    const eventId = event.eventId ?? this.newEventId();
    const occurredAt = event.occurredAt ?? this.now().toISOString();
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
      data: event.data,
      ...(event.traceHeader ? { traceHeader: event.traceHeader } : {}),
      ...pendingKeys(
        event.aggregateType,
        event.aggregateId,
        event.sequence,
        occurredAt,
        this.options.pendingShards,
      ),
    };
    const entrySize = putEventsEntrySize(toPutEventsEntry(item, this.options.eventBusName ?? 'default'));
    if (entrySize > MAX_PUT_EVENTS_BYTES) {
      throw new OutboxLimitError('eventBytes', entrySize, MAX_PUT_EVENTS_BYTES, `event ${event.eventType}`);
    }
    return item;
  }
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
function assertDistinctItems(items: readonly TransactItem[]): void {
  const seen = new Set<string>();
  for (const item of items) {
    const key = keyOf(item);
    const id = `${String(key?.pk)}\u0000${String(key?.sk)}`;
    if (seen.has(id)) {
      throw new InvalidWriteError(`two writes in one transaction target the same item (${String(key?.sk)})`);
    }
    seen.add(id);
  }
}

function assertSizes(items: readonly TransactItem[]): void {
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
      throw new OutboxLimitError('itemBytes', size, MAX_ITEM_BYTES, String(keyOf(item)?.sk ?? 'item'));
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

/** Translates SDK errors into the library's typed errors, keeping the SDK error as `cause`. */
function translateError(error: unknown, request: OutboxWrite): unknown {
  if (error instanceof TransactionCanceledException) {
    const failures: WriteFailure[] = [];
    (error.CancellationReasons ?? []).forEach((reason, index) => {
      if (!reason.Code || reason.Code === 'None') return;
      failures.push({
        index,
        ...labelOf(index, request),
        code: reason.Code,
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
    return new TransactionInProgressError('a transaction with this idempotency key is in progress', {
      cause: error,
    });
  }
  return error;
}
