/**
 * The order guard: EventBridge and SQS promise no order, so an
 * order-sensitive consumer applies an event only if its `sequence` is newer
 * than the last one it applied for that aggregate. The check and the change
 * are one conditional write, so two deliveries racing each other cannot both
 * win, and a duplicate or an older event changes nothing.
 */
import { ConditionalCheckFailedException, TransactionCanceledException } from '@aws-sdk/client-dynamodb';
import {
  type DynamoDBDocumentClient,
  GetCommand,
  PutCommand,
  TransactWriteCommand,
  type TransactWriteCommandInput,
  UpdateCommand,
} from '@aws-sdk/lib-dynamodb';
import { PK } from '../outbox';
import { GuardContentionError } from './errors';

/** What the guard did with an event. */
export type GuardOutcome =
  /** Applied; `gap` is how many sequence numbers were skipped (0 when contiguous). */
  | { readonly applied: true; readonly gap: number }
  /** Not applied: the item already reflects this sequence (`current`) or a newer one. */
  | { readonly applied: false; readonly current: number };

/** The attribute holding the last applied sequence of a guarded item. */
export const SEQUENCE_ATTRIBUTE = 'lastSequence';

/** A guarded item of one aggregate in a read model. */
export interface GuardedItem {
  readonly client: DynamoDBDocumentClient;
  readonly tableName: string;
  readonly key: { readonly pk: string; readonly sk: string };
  /** The event's sequence. */
  readonly sequence: number;
}

/** A guarded update of one read-model item. */
export interface GuardedUpdate extends GuardedItem {
  /**
   * The attribute holding the sequence this update is guarded by, when the
   * item keeps one per field rather than one for the whole item.
   * @default SEQUENCE_ATTRIBUTE
   */
  readonly sequenceAttribute?: string;
  /** SET clauses of the change (without the sequence bookkeeping), e.g. `#status = :status`. */
  readonly set: readonly string[];
  /** REMOVE clauses of the change, e.g. `#email`. */
  readonly remove?: readonly string[];
  readonly names?: Record<string, string>;
  readonly values?: Record<string, unknown>;
}

function gapAfter(previous: unknown, sequence: number): number {
  const last = typeof previous === 'number' ? previous : 0;
  return Math.max(0, sequence - last - 1);
}

/**
 * Applies `set` and `remove` and records `sequence`, only if the item has no
 * sequence yet or an older one. Creates the item when it does not exist.
 */
export async function applyIfNewer(update: GuardedUpdate): Promise<GuardOutcome> {
  const attribute = update.sequenceAttribute ?? SEQUENCE_ATTRIBUTE;
  const sets = [...update.set, '#lastSequence = :sequence'];
  const remove = update.remove && update.remove.length > 0 ? ` REMOVE ${update.remove.join(', ')}` : '';
  try {
    const output = await update.client.send(
      new UpdateCommand({
        TableName: update.tableName,
        Key: update.key,
        UpdateExpression: `SET ${sets.join(', ')}${remove}`,
        ConditionExpression: 'attribute_not_exists(#lastSequence) OR #lastSequence < :sequence',
        ExpressionAttributeNames: { ...update.names, '#lastSequence': attribute },
        ExpressionAttributeValues: { ...update.values, ':sequence': update.sequence },
        ReturnValues: 'UPDATED_OLD',
        ReturnValuesOnConditionCheckFailure: 'ALL_OLD',
      }),
    );
    return { applied: true, gap: gapAfter(output.Attributes?.[attribute], update.sequence) };
  } catch (error) {
    if (error instanceof ConditionalCheckFailedException) {
      // The document client does not unmarshall the item of a failed condition.
      const current = error.Item?.[attribute]?.N;
      return { applied: false, current: current === undefined ? update.sequence : Number(current) };
    }
    throw error;
  }
}

/** One write of a transaction, as the document client takes it. */
export type TransactItem = NonNullable<TransactWriteCommandInput['TransactItems']>[number];

/** What a guarded transition writes when it applies. */
export interface Transition {
  /** The item's new attributes (key and sequence are added); the item is replaced. */
  readonly attributes: Record<string, unknown>;
  /** Further writes committed atomically with it, e.g. a counter `ADD` on another item. */
  readonly also?: readonly TransactItem[];
}

/** A guarded transition: the new state depends on the current one. */
export interface GuardedTransition extends GuardedItem {
  /** Decides the transition from the item as it is now (`undefined`: no item yet). */
  readonly decide: (current: Record<string, unknown> | undefined) => Transition;
  /** Reads and tries again at most this often when the item changes in between. @default 5 */
  readonly maxAttempts?: number;
}

/**
 * Applies a transition that depends on the item's current state, only if the
 * event is newer than the item: reads the item, decides, then writes the new
 * item and `also` in one transaction conditioned on the exact state read
 * (its sequence, or its absence). When another delivery changed the item in
 * between, it reads and decides again; a stale event changes nothing.
 *
 * @throws GuardContentionError when the item changed under it `maxAttempts` times
 */
export async function transitionIfNewer(transition: GuardedTransition): Promise<GuardOutcome> {
  const maxAttempts = transition.maxAttempts ?? 5;
  for (let attempt = 1; attempt <= maxAttempts; attempt++) {
    const read = await transition.client.send(
      new GetCommand({ TableName: transition.tableName, Key: transition.key, ConsistentRead: true }),
    );
    const current = read.Item;
    const previous = current?.[SEQUENCE_ATTRIBUTE];
    if (typeof previous === 'number' && previous >= transition.sequence) {
      return { applied: false, current: previous };
    }
    const decided = transition.decide(current);
    const put: TransactItem = {
      Put: {
        TableName: transition.tableName,
        Item: { ...decided.attributes, ...transition.key, [SEQUENCE_ATTRIBUTE]: transition.sequence },
        ...(typeof previous === 'number'
          ? {
              ConditionExpression: '#lastSequence = :previous',
              ExpressionAttributeNames: { '#lastSequence': SEQUENCE_ATTRIBUTE },
              ExpressionAttributeValues: { ':previous': previous },
            }
          : {
              ConditionExpression: 'attribute_not_exists(#lastSequence)',
              ExpressionAttributeNames: { '#lastSequence': SEQUENCE_ATTRIBUTE },
            }),
      },
    };
    try {
      await transition.client.send(
        new TransactWriteCommand({ TransactItems: [put, ...(decided.also ?? [])] }),
      );
      return { applied: true, gap: gapAfter(previous, transition.sequence) };
    } catch (error) {
      // The first action is the guarded item: its condition failing means it
      // changed since the read; a conflict means another transaction holds it now.
      const reasons = error instanceof TransactionCanceledException ? (error.CancellationReasons ?? []) : [];
      const changed =
        reasons[0]?.Code === 'ConditionalCheckFailed' ||
        reasons.some((reason) => reason.Code === 'TransactionConflict');
      if (!changed) throw error;
    }
  }
  throw new GuardContentionError(transition.key, maxAttempts);
}

/** The attribute counting the writes of an item that {@link changeByRevision} keeps. */
export const REVISION_ATTRIBUTE = 'revision';

/** What {@link changeByRevision} decided and wrote. */
export interface RevisionChange<T> {
  /** The item as it is after the change (or as it was, when nothing changed). */
  readonly item: Record<string, unknown> | undefined;
  /** What `decide` returned alongside the item. */
  readonly decision: T;
}

/** A read-decide-write change of one item that holds more than one sequence (one per field). */
export interface RevisionedChange<T> {
  readonly client: DynamoDBDocumentClient;
  readonly tableName: string;
  readonly key: { readonly pk: string; readonly sk: string };
  /**
   * Decides the item's next attributes from its current ones (`undefined`:
   * no item yet); `next: undefined` writes nothing. Pure: it may run again
   * when the item changed in between.
   */
  readonly decide: (current: Record<string, unknown> | undefined) => {
    readonly next: Record<string, unknown> | undefined;
    readonly decision: T;
  };
  /** Reads and tries again at most this often when the item changes in between. @default 5 */
  readonly maxAttempts?: number;
}

/**
 * Applies a change decided from the item's whole current state: reads it
 * (consistently), decides, and replaces it in one write conditioned on the
 * revision read (or the item's absence), so two deliveries racing for one
 * item cannot both win; the loser reads and decides again. For read models
 * whose fields carry their own sequences, where "newer than the item" is not
 * one number.
 *
 * @throws GuardContentionError when the item changed under it `maxAttempts` times
 */
export async function changeByRevision<T>(change: RevisionedChange<T>): Promise<RevisionChange<T>> {
  const maxAttempts = change.maxAttempts ?? 5;
  for (let attempt = 1; attempt <= maxAttempts; attempt++) {
    const read = await change.client.send(
      new GetCommand({ TableName: change.tableName, Key: change.key, ConsistentRead: true }),
    );
    const current = read.Item;
    const { next, decision } = change.decide(current);
    if (next === undefined) return { item: current, decision };
    const revision = current?.[REVISION_ATTRIBUTE];
    const item = {
      ...next,
      ...change.key,
      [REVISION_ATTRIBUTE]: (typeof revision === 'number' ? revision : 0) + 1,
    };
    try {
      await change.client.send(
        new PutCommand({
          TableName: change.tableName,
          Item: item,
          ...(current === undefined
            ? { ConditionExpression: 'attribute_not_exists(#pk)', ExpressionAttributeNames: { '#pk': PK } }
            : typeof revision === 'number'
              ? {
                  ConditionExpression: '#revision = :revision',
                  ExpressionAttributeNames: { '#revision': REVISION_ATTRIBUTE },
                  ExpressionAttributeValues: { ':revision': revision },
                }
              : {
                  // An item written before revisions were kept.
                  ConditionExpression: 'attribute_exists(#pk) AND attribute_not_exists(#revision)',
                  ExpressionAttributeNames: { '#pk': PK, '#revision': REVISION_ATTRIBUTE },
                }),
        }),
      );
      return { item, decision };
    } catch (error) {
      if (!(error instanceof ConditionalCheckFailedException)) throw error;
      // Changed since the read: read and decide again.
    }
  }
  throw new GuardContentionError(change.key, maxAttempts);
}

/**
 * Sets `set` on an item only while `condition` holds, and counts it as a
 * revision, so a {@link changeByRevision} that read the item before cannot
 * overwrite it. Returns false when the condition did not hold.
 */
export async function updateRevisioned(update: {
  readonly client: DynamoDBDocumentClient;
  readonly tableName: string;
  readonly key: { readonly pk: string; readonly sk: string };
  readonly set: readonly string[];
  readonly remove?: readonly string[];
  readonly condition: string;
  readonly names: Record<string, string>;
  readonly values: Record<string, unknown>;
}): Promise<boolean> {
  const remove = update.remove && update.remove.length > 0 ? ` REMOVE ${update.remove.join(', ')}` : '';
  try {
    await update.client.send(
      new UpdateCommand({
        TableName: update.tableName,
        Key: update.key,
        UpdateExpression: `SET ${update.set.join(', ')}${remove} ADD #revision :one`,
        ConditionExpression: update.condition,
        ExpressionAttributeNames: { ...update.names, '#revision': REVISION_ATTRIBUTE },
        ExpressionAttributeValues: { ...update.values, ':one': 1 },
      }),
    );
    return true;
  } catch (error) {
    if (error instanceof ConditionalCheckFailedException) return false;
    throw error;
  }
}
