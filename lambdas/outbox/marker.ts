/**
 * Marks outbox items after the relay has dealt with them: delivered (with a
 * TTL, out of the pending index) or failed (parked as poison, out of the
 * pending index, no TTL).
 *
 * Every mark is conditional on the item still existing, so a late mark never
 * recreates an item TTL has already deleted. A mark that fails is reported,
 * not thrown: the item stays in the pending index and the sweeper finds it.
 */
import { ConditionalCheckFailedException, TransactionCanceledException } from '@aws-sdk/client-dynamodb';
import {
  type DynamoDBDocumentClient,
  TransactWriteCommand,
  type TransactWriteCommandInput,
  UpdateCommand,
  type UpdateCommandInput,
} from '@aws-sdk/lib-dynamodb';
import { PENDING_PK, PENDING_SK, PK, SK, type TableKey, TTL_ATTRIBUTE } from './keys';
import { MAX_TRANSACTION_ACTIONS } from './limits';
import { isRetryableError, type RetryPolicy, waitForRetry } from './publisher';

type TransactItem = NonNullable<TransactWriteCommandInput['TransactItems']>[number];

/** Cancellation reasons that say the action may succeed when sent again (DynamoDB API reference). */
const RETRYABLE_CANCELLATION_CODES: ReadonlySet<string> = new Set([
  'None',
  'TransactionConflict',
  'ThrottlingError',
  'ProvisionedThroughputExceeded',
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
  /** Retries of conflicts, throttling and cancelled transactions. */
  readonly retry: RetryPolicy;
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
  /** Items left unmarked; still pending, so the sweeper will see them. */
  readonly failures: readonly MarkFailure[];
}

/**
 * Marks items delivered: `deliveredAt`, `expiresAt` (the TTL), pending keys
 * removed. Sent as transactions of up to 100 updates, one per item. Never
 * throws for an AWS error.
 */
export async function markDelivered(keys: readonly TableKey[], options: MarkerOptions): Promise<MarkResult> {
  const unique = dedupe(keys);
  const now = options.now();
  const expiresAt = Math.ceil(now.getTime() / 1000 + options.retentionHours * 3600);
  let marked = 0;
  let gone = 0;
  const failures: MarkFailure[] = [];
  for (let start = 0; start < unique.length; start += MAX_TRANSACTION_ACTIONS) {
    const batch = unique.slice(start, start + MAX_TRANSACTION_ACTIONS);
    const result = await markBatch(batch, now.toISOString(), expiresAt, options);
    marked += result.marked;
    gone += result.gone;
    failures.push(...result.failures);
  }
  return { marked, gone, failures };
}

async function markBatch(
  keys: readonly TableKey[],
  deliveredAt: string,
  expiresAt: number,
  options: MarkerOptions,
): Promise<MarkResult> {
  let remaining = [...keys];
  let gone = 0;
  const failures: MarkFailure[] = [];
  for (let attempt = 1; ; attempt += 1) {
    let error: unknown;
    try {
      await options.client.send(
        new TransactWriteCommand({
          TransactItems: remaining.map((key) =>
            deliveredUpdate(key, deliveredAt, expiresAt, options.tableName),
          ),
        }),
      );
      return { marked: remaining.length, gone, failures };
    } catch (caught) {
      error = caught;
    }
    const reasons = error instanceof TransactionCanceledException ? error.CancellationReasons : undefined;
    if (reasons && reasons.length === remaining.length) {
      // Reasons come in request order (DynamoDB API reference). A condition
      // failure means the item is gone; other hard failures are that item's
      // alone; the rest were only cancelled along with them and go again.
      const again: TableKey[] = [];
      remaining.forEach((key, index) => {
        const code = reasons[index]?.Code ?? 'None';
        if (code === 'ConditionalCheckFailed') gone += 1;
        else if (RETRYABLE_CANCELLATION_CODES.has(code)) again.push(key);
        else failures.push({ key, error: new Error(`cancellation reason ${code}`, { cause: error }) });
      });
      remaining = again;
      if (remaining.length === 0) return { marked: 0, gone, failures };
    } else if (!(error instanceof TransactionCanceledException) && !isRetryableError(error)) {
      return { marked: 0, gone, failures: [...failures, ...remaining.map((key) => ({ key, error }))] };
    }
    if (!(await waitForRetry(attempt, options.retry))) {
      return { marked: 0, gone, failures: [...failures, ...remaining.map((key) => ({ key, error }))] };
    }
  }
}

function deliveredUpdate(
  key: TableKey,
  deliveredAt: string,
  expiresAt: number,
  tableName: string,
): TransactItem {
  return {
    Update: {
      TableName: tableName,
      Key: { [PK]: key.pk, [SK]: key.sk },
      UpdateExpression: 'SET deliveredAt = :deliveredAt, #ttl = :expiresAt REMOVE #pendingPk, #pendingSk',
      // Never recreate an item that TTL or an operator has deleted.
      ConditionExpression: 'attribute_exists(#pk)',
      ExpressionAttributeNames: {
        '#ttl': TTL_ATTRIBUTE,
        '#pendingPk': PENDING_PK,
        '#pendingSk': PENDING_SK,
        '#pk': PK,
      },
      ExpressionAttributeValues: { ':deliveredAt': deliveredAt, ':expiresAt': expiresAt },
    },
  };
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
  const input: UpdateCommandInput = {
    TableName: options.tableName,
    Key: { [PK]: key.pk, [SK]: key.sk },
    UpdateExpression: 'SET failedAt = :failedAt, failureReason = :reason REMOVE #pendingPk, #pendingSk',
    ConditionExpression: 'attribute_exists(#pk)',
    ExpressionAttributeNames: { '#pendingPk': PENDING_PK, '#pendingSk': PENDING_SK, '#pk': PK },
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

/** DynamoDB refuses two actions on one item in a transaction. */
function dedupe(keys: readonly TableKey[]): TableKey[] {
  const seen = new Map<string, TableKey>();
  for (const key of keys) seen.set(`${key.pk}\u0000${key.sk}`, key);
  return [...seen.values()];
}
