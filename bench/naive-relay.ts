/**
 * The baseline the relay is compared with: what a first attempt usually
 * looks like. One PutEvents call per record, sent one after another, and one
 * UpdateItem per delivered mark. It keeps the order trivially (nothing is in
 * flight together) and pays two round trips per event.
 */
import { type EventBridgeClient, PutEventsCommand } from '@aws-sdk/client-eventbridge';
import { type DynamoDBDocumentClient, UpdateCommand } from '@aws-sdk/lib-dynamodb';
import { decodeRecord, type OutboxStreamRecord } from '../lambdas/outbox/decode';
import { toPutEventsEntry } from '../lambdas/outbox/entry';
import { PENDING_PK, PENDING_SK, PK, SK, TTL_ATTRIBUTE } from '../lambdas/outbox/keys';

/** Dependencies of the naive relay. */
export interface NaiveRelayOptions {
  readonly eventBusName: string;
  readonly tableName: string;
  readonly eventBridge: EventBridgeClient;
  readonly dynamo: DynamoDBDocumentClient;
  /** @default () => new Date() */
  readonly now?: () => Date;
  /** @default 24 */
  readonly deliveredRetentionHours?: number;
}

/** Thrown when the baseline could not publish an event; the benchmark's fakes never cause it. */
export class NaiveRelayError extends Error {
  override readonly name = 'NaiveRelayError';
}

/** Relays records one at a time: PutEvents with one entry, then UpdateItem to mark it delivered. */
export async function naiveRelay(
  records: readonly OutboxStreamRecord[],
  options: NaiveRelayOptions,
): Promise<{ published: number }> {
  const now = options.now ?? (() => new Date());
  const retentionSeconds = (options.deliveredRetentionHours ?? 24) * 3600;
  let published = 0;
  for (const record of records) {
    const decoded = decodeRecord(record);
    if (decoded.kind !== 'event') continue;
    const { item } = decoded;
    const output = await options.eventBridge.send(
      new PutEventsCommand({ Entries: [toPutEventsEntry(item, options.eventBusName)] }),
    );
    if ((output.FailedEntryCount ?? 0) > 0) {
      throw new NaiveRelayError(`PutEvents refused ${item.pk} ${item.sk}: ${output.Entries?.[0]?.ErrorCode}`);
    }
    published += 1;
    const at = now();
    await options.dynamo.send(
      new UpdateCommand({
        TableName: options.tableName,
        Key: { [PK]: item.pk, [SK]: item.sk },
        UpdateExpression: 'SET deliveredAt = :deliveredAt, #ttl = :expiresAt REMOVE #pendingPk, #pendingSk',
        ConditionExpression: 'attribute_exists(#pk)',
        ExpressionAttributeNames: {
          '#ttl': TTL_ATTRIBUTE,
          '#pendingPk': PENDING_PK,
          '#pendingSk': PENDING_SK,
          '#pk': PK,
        },
        ExpressionAttributeValues: {
          ':deliveredAt': at.toISOString(),
          ':expiresAt': Math.ceil(at.getTime() / 1000 + retentionSeconds),
        },
      }),
    );
  }
  return { published };
}
