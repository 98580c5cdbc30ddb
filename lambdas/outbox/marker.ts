/**
 * Marks outbox items after the relay has dealt with them: delivered (with a
 * TTL, out of the pending index) or failed (parked as poison, out of the
 * pending index, no TTL).
 *
 * Every mark is an independent conditional update: one item that is gone,
 * throttled or conflicting affects only its own mark, never a batch's. A mark
 * never recreates an item TTL or an operator has deleted. A mark that fails
 * is reported, not thrown: the item stays in the pending index, where the gap
 * guard and the sweeper find it.
 *
 * Delivered marks go as PartiQL `BatchExecuteStatement` calls of up to 25
 * `UPDATE ... WHERE pk=? AND sk=?` statements. Each statement succeeds or
 * fails on its own, a PartiQL UPDATE of a missing item fails with
 * `ConditionalCheckFailed` and never upserts (checked on DynamoDB Local,
 * DESIGN.md section 9), and each is billed as the UpdateItem it stands for:
 * half the write units of the same update inside `TransactWriteItems`, which
 * doubles every write, and one call per 25 marks instead of one per mark.
 */
import { ConditionalCheckFailedException } from '@aws-sdk/client-dynamodb';
import {
  BatchExecuteStatementCommand,
  type BatchExecuteStatementBatchStatementRequest as BatchStatementRequest,
  type DynamoDBDocumentClient,
  UpdateCommand,
  type UpdateCommandInput,
} from '@aws-sdk/lib-dynamodb';
import { OutboxError } from './errors';
import type { TableKey } from './keys';
import { DEFAULT_LAYOUT, type OutboxLayout } from './layout';
import { isRetryableError, type RetryPolicy, waitForRetry } from './publisher';

/** Statements per `BatchExecuteStatement` call (DynamoDB API reference, BatchExecuteStatement). */
export const MAX_BATCH_STATEMENTS = 25;

/**
 * Statement error codes that say the statement may succeed when sent again
 * (DynamoDB API reference, BatchStatementError).
 */
const RETRYABLE_STATEMENT_CODES: ReadonlySet<string> = new Set([
  'TransactionConflict',
  'ThrottlingError',
  'ProvisionedThroughputExceeded',
  'RequestLimitExceeded',
  'InternalServerError',
]);
/** Longest failure reason stored on an item. */
const MAX_REASON_CHARS = 1000;

/** Dependencies and settings of the marks. */
export interface MarkerOptions {
  readonly client: DynamoDBDocumentClient;
  readonly tableName: string;
  /** Clock for `deliveredAt`, `failedAt` and the TTL. */
  readonly now: () => Date;
  /** How long a delivered item is kept before TTL deletes it. */
  readonly retentionHours: number;
  /** Retries of conflicts, throttling and failed calls. */
  readonly retry: RetryPolicy;
  /** Attribute names of the table. @default DEFAULT_LAYOUT */
  readonly layout?: OutboxLayout;
}

/** A mark that did not happen, with the last error. */
export interface MarkFailure {
  readonly key: TableKey;
  readonly error: unknown;
}

/** Outcome of marking items delivered. */
export interface MarkResult {
  /** Items now marked delivered. */
  readonly marked: number;
  /** Items that no longer exist (deleted in the meantime); nothing to mark. */
  readonly gone: number;
  /** Items left unmarked; still pending, so the gap guard and the sweeper will see them. */
  readonly failures: readonly MarkFailure[];
}

/** The error of a {@link MarkFailure} whose statement failed with an error code (`BatchStatementError`). */
export class MarkStatementError extends OutboxError {
  override name = 'MarkStatementError';
  constructor(
    /** The statement's error code (`BatchStatementError.Code`). */
    readonly code: string,
    message?: string,
  ) {
    super(`delivered mark failed: ${code}${message ? ` ${message}` : ''}`);
  }
}

/**
 * Marks items delivered: `deliveredAt`, `expiresAt` (the TTL), pending keys
 * removed, each item on its own. The calls of up to 25 statements run
 * concurrently; a statement that is throttled or conflicts is sent again
 * with backoff, alone with the others that are. Never throws for an AWS
 * error.
 */
export async function markDelivered(keys: readonly TableKey[], options: MarkerOptions): Promise<MarkResult> {
  const unique = dedupe(keys);
  const now = options.now();
  const values = {
    deliveredAt: now.toISOString(),
    expiresAt: Math.ceil(now.getTime() / 1000 + options.retentionHours * 3600),
  };
  const calls: Promise<MarkResult>[] = [];
  for (let start = 0; start < unique.length; start += MAX_BATCH_STATEMENTS) {
    calls.push(markBatch(unique.slice(start, start + MAX_BATCH_STATEMENTS), values, options));
  }
  const results = await Promise.all(calls);
  return {
    marked: results.reduce((sum, result) => sum + result.marked, 0),
    gone: results.reduce((sum, result) => sum + result.gone, 0),
    failures: results.flatMap((result) => result.failures),
  };
}

async function markBatch(
  keys: readonly TableKey[],
  values: { readonly deliveredAt: string; readonly expiresAt: number },
  options: MarkerOptions,
): Promise<MarkResult> {
  let remaining = [...keys];
  let marked = 0;
  let gone = 0;
  const failures: MarkFailure[] = [];
  for (let attempt = 1; ; attempt += 1) {
    let again: TableKey[] = [];
    let lastError: unknown;
    try {
      const output = await options.client.send(
        new BatchExecuteStatementCommand({
          Statements: remaining.map((key) =>
            deliveredStatement(key, values, options.tableName, options.layout ?? DEFAULT_LAYOUT),
          ),
        }),
      );
      const responses = output.Responses ?? [];
      remaining.forEach((key, index) => {
        // Responses come one per statement, in request order (DynamoDB API reference).
        const response = responses[index];
        const error = response?.Error;
        if (responses.length !== remaining.length) {
          lastError = new Error(
            `BatchExecuteStatement returned ${responses.length} responses for ${remaining.length} statements`,
          );
          again.push(key);
        } else if (!error) {
          marked += 1;
        } else if (error.Code === 'ConditionalCheckFailed') {
          gone += 1;
        } else if (error.Code !== undefined && RETRYABLE_STATEMENT_CODES.has(error.Code)) {
          lastError = new MarkStatementError(error.Code, error.Message);
          again.push(key);
        } else {
          failures.push({ key, error: new MarkStatementError(error.Code ?? 'unknown', error.Message) });
        }
      });
    } catch (error) {
      if (!isRetryableError(error)) {
        return { marked, gone, failures: [...failures, ...remaining.map((key) => ({ key, error }))] };
      }
      lastError = error;
      again = remaining;
    }
    remaining = again;
    if (remaining.length === 0) return { marked, gone, failures };
    if (!(await waitForRetry(attempt, options.retry))) {
      return {
        marked,
        gone,
        failures: [...failures, ...remaining.map((key) => ({ key, error: lastError }))],
      };
    }
  }
}

/**
 * One delivered mark as a PartiQL statement. PartiQL takes one SET or REMOVE
 * clause per path; its UPDATE only ever changes an existing item, which is
 * the never-resurrect rule without a condition expression.
 */
function deliveredStatement(
  key: TableKey,
  values: { readonly deliveredAt: string; readonly expiresAt: number },
  tableName: string,
  layout: OutboxLayout,
): BatchStatementRequest {
  // Every name is a quoted identifier; the layout admits no `"` in a name (layout.ts).
  return {
    Statement:
      `UPDATE "${tableName}" SET "deliveredAt" = ? SET "${layout.ttlAttribute}" = ? ` +
      `REMOVE "${layout.pendingPartitionKey}" REMOVE "${layout.pendingSortKey}" ` +
      `WHERE "${layout.partitionKey}" = ? AND "${layout.sortKey}" = ?`,
    Parameters: [values.deliveredAt, values.expiresAt, key.pk, key.sk],
  };
}

/** Mark calls a {@link DeliveredMarks} keeps in flight at once. */
export const MARK_CALLS_IN_FLIGHT = 2;

/**
 * Delivered marks started as chunks are published and settled once, before
 * the caller answers: the marks of one chunk run while later chunks publish.
 * A chunk's marks go out at once unless {@link MARK_CALLS_IN_FLIGHT} calls
 * are already in flight; then they join the next call (up to 25 statements),
 * which starts as soon as one returns. Under load that packs several chunks'
 * marks into one call instead of one call per chunk.
 */
export class DeliveredMarks {
  private readonly queued: TableKey[] = [];
  private readonly running = new Set<Promise<void>>();
  private readonly results: MarkResult[] = [];
  /** Keys already started: a batch holding one record twice publishes it twice but marks it once. */
  private readonly started = new Set<string>();

  constructor(
    private readonly options: MarkerOptions,
    private readonly callsInFlight: number = MARK_CALLS_IN_FLIGHT,
  ) {}

  /** Starts marking `keys` delivered, except those already started; never rejects. */
  start(keys: readonly TableKey[]): void {
    for (const key of keys) {
      const id = `${key.pk}\u0000${key.sk}`;
      if (this.started.has(id)) continue;
      this.started.add(id);
      this.queued.push(key);
    }
    this.pump();
  }

  /** Waits for every mark started so far; their results added up. */
  async settle(): Promise<MarkResult> {
    while (this.running.size > 0) await Promise.all([...this.running]);
    const results = this.results.splice(0);
    return {
      marked: results.reduce((sum, result) => sum + result.marked, 0),
      gone: results.reduce((sum, result) => sum + result.gone, 0),
      failures: results.flatMap((result) => result.failures),
    };
  }

  private pump(): void {
    while (this.running.size < Math.max(1, this.callsInFlight) && this.queued.length > 0) {
      const keys = this.queued.splice(0, MAX_BATCH_STATEMENTS);
      const call: Promise<void> = markDelivered(keys, this.options)
        .catch((error: unknown) => ({
          // A defect, not an AWS error (markDelivered never throws for those): the items stay pending.
          marked: 0,
          gone: 0,
          failures: keys.map((key) => ({ key, error })),
        }))
        .then((result) => {
          this.results.push(result);
          this.running.delete(call);
          this.pump();
        });
      this.running.add(call);
    }
  }
}

/** Outcome of marking one item failed. */
export type MarkFailedResult =
  | { readonly status: 'marked' }
  | { readonly status: 'gone' }
  | { readonly status: 'failed'; readonly error: unknown };

/**
 * Marks a poison item failed: `failedAt`, `failureReason`, pending keys
 * removed, no TTL (the operator CLI lists it). Never throws for an AWS error.
 */
export async function markFailed(
  key: TableKey,
  reason: string,
  options: MarkerOptions,
): Promise<MarkFailedResult> {
  const layout = options.layout ?? DEFAULT_LAYOUT;
  const input: UpdateCommandInput = {
    TableName: options.tableName,
    Key: { [layout.partitionKey]: key.pk, [layout.sortKey]: key.sk },
    UpdateExpression: 'SET failedAt = :failedAt, failureReason = :reason REMOVE #pendingPk, #pendingSk',
    ConditionExpression: 'attribute_exists(#pk)',
    ExpressionAttributeNames: {
      '#pendingPk': layout.pendingPartitionKey,
      '#pendingSk': layout.pendingSortKey,
      '#pk': layout.partitionKey,
    },
    ExpressionAttributeValues: {
      ':failedAt': options.now().toISOString(),
      ':reason': reason.length > MAX_REASON_CHARS ? `${reason.slice(0, MAX_REASON_CHARS)}...` : reason,
    },
  };
  for (let attempt = 1; ; attempt += 1) {
    try {
      await options.client.send(new UpdateCommand(input));
      return { status: 'marked' };
    } catch (error) {
      if (error instanceof ConditionalCheckFailedException) return { status: 'gone' };
      if (!isRetryableError(error) || !(await waitForRetry(attempt, options.retry))) {
        return { status: 'failed', error };
      }
    }
  }
}

/** One mark per item: a repeated key would only update the item twice. */
function dedupe(keys: readonly TableKey[]): TableKey[] {
  const seen = new Map<string, TableKey>();
  for (const key of keys) seen.set(`${key.pk}\u0000${key.sk}`, key);
  return [...seen.values()];
}
