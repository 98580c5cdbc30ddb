/**
 * The runtime executor's invocation journal (localstack/executor, set by
 * OUTBOX_EXECUTOR_JOURNAL): one JSON line per invocation LocalStack made, with
 * the event it sent and the result the function returned. It is how the
 * localstack target sees what LocalStack's own pollers did: which records a
 * relay invocation got, and what it reported back.
 */
import { existsSync, readFileSync } from 'node:fs';
import { PK, SK } from '../../lambdas/outbox/keys';

/** One invocation, as the executor wrote it. */
export interface JournalEntry {
  readonly function: string;
  readonly requestId: string;
  /** Epoch seconds. */
  readonly startedAt: number;
  readonly endedAt: number;
  readonly event: unknown;
  readonly isError: boolean;
  readonly result: unknown;
}

/** A DynamoDB stream record as the relay receives it (the parts read here). */
export interface JournalStreamRecord {
  readonly eventName?: string;
  readonly dynamodb?: {
    readonly SequenceNumber?: string;
    readonly Keys?: Record<string, { readonly S?: string }>;
  };
}

/** Every invocation journaled so far, oldest first; none when the file does not exist yet. */
export function readJournal(path: string): JournalEntry[] {
  if (!existsSync(path)) return [];
  return readFileSync(path, 'utf8')
    .split('\n')
    .filter((line) => line.trim() !== '')
    .map((line) => JSON.parse(line) as JournalEntry)
    .sort((a, b) => a.startedAt - b.startedAt);
}

/** The stream records of a relay invocation. */
export function streamRecords(entry: JournalEntry): JournalStreamRecord[] {
  const records = (entry.event as { Records?: unknown } | null)?.Records;
  return Array.isArray(records) ? (records as JournalStreamRecord[]) : [];
}

/** The item identifiers a relay invocation reported as failed. */
export function batchItemFailures(entry: JournalEntry): string[] {
  const failures = (entry.result as { batchItemFailures?: unknown } | null)?.batchItemFailures;
  if (!Array.isArray(failures)) return [];
  return failures.map((failure) => String((failure as { itemIdentifier?: unknown }).itemIdentifier));
}

/** `pk|sk` of a stream record. */
export function recordKey(record: JournalStreamRecord): string {
  return `${record.dynamodb?.Keys?.[PK]?.S ?? ''}|${record.dynamodb?.Keys?.[SK]?.S ?? ''}`;
}
