/**
 * A parallel Scan of the table's outbox items, with a progress bar. Scans
 * read the whole table (every item costs read capacity, filtered or not), so
 * only the commands that must see every item use it, with a small
 * projection.
 */
import {
  type AttributeValue,
  DescribeTableCommand,
  type DynamoDBClient,
  ScanCommand,
} from '@aws-sdk/client-dynamodb';
import { DEFAULT_LAYOUT, OUTBOX_PREFIX, type OutboxLayout } from '../lambdas/outbox';
import { InterruptedError } from './errors';
import type { Progress } from './progress';

/** A low-level item as a page returns it. */
export type Image = Record<string, AttributeValue>;

/** What to scan and how. */
export interface ScanOptions {
  readonly client: DynamoDBClient;
  readonly tableName: string;
  /** Attribute names of the table. @default DEFAULT_LAYOUT */
  readonly layout?: OutboxLayout;
  /** Parallel segments (Scan's `TotalSegments`). */
  readonly segments: number;
  /**
   * Extra filter, ANDed with "is an outbox item"; its names and values go in
   * `names` and `values` (`#sk` and `:outboxPrefix` are taken).
   */
  readonly filter?: string;
  /** ProjectionExpression; names through `names`. @default whole items */
  readonly projection?: string;
  readonly names?: Readonly<Record<string, string>>;
  readonly values?: Readonly<Record<string, AttributeValue>>;
  /** Called with each page's matching items, in no particular order across segments. */
  readonly onItems: (items: readonly Image[]) => void;
  /** Asked before each page; true ends the scan early (everything wanted was found). */
  readonly done?: () => boolean;
  readonly progress: Progress;
  readonly signal?: AbortSignal;
}

/** What a scan read. */
export interface ScanSummary {
  /** Items read (before the filter): the work done. */
  readonly scanned: number;
  /** Items that matched. */
  readonly matched: number;
  /** False when `done` ended it early. */
  readonly complete: boolean;
}

/**
 * Scans the outbox items in `segments` parallel segments. The progress bar
 * counts items read against the table's approximate item count
 * (DescribeTable; refreshed by DynamoDB about every six hours, so an
 * estimate); without that permission it just counts. Throws the SDK's
 * error, or {@link InterruptedError} on Ctrl-C.
 */
export async function scanOutbox(options: ScanOptions): Promise<ScanSummary> {
  const estimate = await approximateItemCount(options.client, options.tableName);
  let scanned = 0;
  let matched = 0;
  let stoppedEarly = false;
  const report = () => options.progress.update(scanned, estimate, `items read, ${matched} matched`);
  report();

  const segment = async (index: number): Promise<void> => {
    let cursor: Image | undefined;
    do {
      if (options.signal?.aborted) throw new InterruptedError();
      if (options.done?.()) {
        stoppedEarly = true;
        return;
      }
      const output = await options.client.send(
        new ScanCommand({
          TableName: options.tableName,
          Segment: index,
          TotalSegments: options.segments,
          FilterExpression: `begins_with(#sk, :outboxPrefix)${options.filter ? ` AND (${options.filter})` : ''}`,
          ExpressionAttributeNames: { '#sk': (options.layout ?? DEFAULT_LAYOUT).sortKey, ...options.names },
          ExpressionAttributeValues: { ':outboxPrefix': { S: OUTBOX_PREFIX }, ...options.values },
          ...(options.projection ? { ProjectionExpression: options.projection } : {}),
          ...(cursor ? { ExclusiveStartKey: cursor } : {}),
        }),
      );
      const items = output.Items ?? [];
      scanned += output.ScannedCount ?? items.length;
      matched += items.length;
      if (items.length > 0) options.onItems(items);
      report();
      cursor = output.LastEvaluatedKey;
    } while (cursor);
  };

  try {
    await Promise.all(Array.from({ length: options.segments }, (_, index) => segment(index)));
  } finally {
    options.progress.finish();
  }
  return { scanned, matched, complete: !stoppedEarly };
}

/** The table's approximate item count, or undefined when it cannot be read (an estimate is optional). */
async function approximateItemCount(client: DynamoDBClient, tableName: string): Promise<number | undefined> {
  try {
    const described = await client.send(new DescribeTableCommand({ TableName: tableName }));
    const count = described.Table?.ItemCount;
    return count && count > 0 ? count : undefined;
  } catch {
    // Only the bar's total is lost; the Scan itself reports any real problem.
    return undefined;
  }
}
