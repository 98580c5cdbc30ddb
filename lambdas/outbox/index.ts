/**
 * The transactional outbox library: its one entry point.
 *
 * - Write: {@link OutboxWriter} commits entity writes and their events in one
 *   DynamoDB transaction, on a table of any {@link OutboxLayout}.
 * - Relay: {@link relayInOrder} is the stream handler's core (per-aggregate
 *   order, poison parking, delivered marks); {@link sweep} republishes what
 *   stayed pending; {@link republish} and the pending-index readers serve
 *   operators' tools.
 * - Contracts: {@link defineCatalogue} declares the service's event types,
 *   each with a zod schema and a version; the writer checks events against
 *   it and consumers type and validate `data` from it.
 * - Settings: {@link outboxLayoutFromEnv} turns the `OUTBOX_*` variables the
 *   `TransactionalOutbox` construct sets into the layout every part takes.
 *
 * Everything else in this folder is internal and may change without notice;
 * import from here, not from a file.
 */

export {
  type AnyEventCatalogue,
  type CatalogueEnvelope,
  checkEventData,
  defineCatalogue,
  type EventCatalogue,
  type EventDataIssue,
  type EventDataOf,
  type EventDataRefusal,
  type EventDefinition,
  type EventDefinitions,
  EventSchemaError,
  type EventVersion,
  InvalidCatalogueError,
  type ParsedVersion,
  parseEventData,
  parseEventVersion,
} from './catalogue';
export {
  type DecodedRecord,
  decodeRecord,
  type OutboxStreamRecord,
} from './decode';
export {
  type EventData,
  type EventEnvelope,
  type NewEvent,
  normalizeOccurredAt,
  type OutboxItem,
  toEnvelope,
} from './envelope';
export {
  ConditionFailedError,
  IdempotencyKeyMismatchError,
  InvalidWriteError,
  type LimitKind,
  OutboxError,
  OutboxLimitError,
  TransactionConflictError,
  TransactionInProgressError,
  TransactionThrottledError,
  UNSTORABLE_NUMBER,
  type WriteFailure,
  WriteLimitError,
} from './errors';
export { type GuardedRelayOptions, type GuardedRelayResult, relayInOrder } from './gap-guard';
export {
  aggregatePk,
  assertId,
  consumerIdempotencyKey,
  consumerIdempotencyPrefix,
  entityKey,
  InvalidKeyPartError,
  idempotencyKey,
  isId,
  MAX_SEQUENCE,
  OUTBOX_PREFIX,
  PENDING_INDEX,
  PENDING_PK,
  PENDING_SHARDS,
  PENDING_SK,
  PK,
  readModelKey,
  SK,
  serviceAggregatePk,
  type TableKey,
  TTL_ATTRIBUTE,
} from './keys';
export {
  DEFAULT_LAYOUT,
  InvalidLayoutError,
  OUTBOX_LAYOUT_ENV,
  type OutboxLayout,
  outboxLayout,
  outboxLayoutFromEnv,
} from './layout';
export {
  MAX_ITEM_BYTES,
  MAX_PUT_EVENTS_BYTES,
  MAX_PUT_EVENTS_ENTRIES,
  MAX_TRANSACTION_ACTIONS,
  MAX_TRANSACTION_BYTES,
} from './limits';
export {
  OUTBOX_SERVICE_NAME,
  type OutboxLogger,
  type OutboxMetrics,
  outboxLogger,
  SILENT_METRICS,
} from './observability';
export {
  type FindPendingOptions,
  findOldestPending,
  findPending,
  type OldestPending,
  PENDING_INDEX_ATTRIBUTES,
  type PendingCandidate,
  type PendingIndexOptions,
  type PendingPage,
} from './pending-index';
export {
  type AggregateRead,
  type PendingEntry,
  type ReadAggregateOptions,
  type ReadAggregatesOptions,
  readAggregatePending,
  readAggregatesPending,
  readPendingItems,
  toPendingEntry,
} from './pending-reads';
export { MARK_RESERVE_MS, RELAY_DEFAULTS } from './pipeline';
export {
  type BatchItemFailure,
  RELAY_METRICS,
  type RelayLogger,
  type RelayMetrics,
  type RelayOptions,
  type RelayResult,
} from './relay';
export {
  type RepublishOptions,
  type RepublishResult,
  republish,
  republishEntries,
  type StoppedAggregate,
} from './republish';
export {
  SWEEPER_DEFAULTS,
  SWEEPER_METRICS,
  SWEEPER_THRESHOLD_ENV,
  type SweepOptions,
  type SweepResult,
  sweep,
} from './sweeper';
export {
  type EntityWrite,
  IN_PROGRESS_RETRY_DEFAULTS,
  type InProgressRetry,
  type OutboxWrite,
  type OutboxWriteResult,
  OutboxWriter,
  type OutboxWriterOptions,
} from './writer';
