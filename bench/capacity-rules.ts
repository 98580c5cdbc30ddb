/**
 * DynamoDB's capacity rules, for what DynamoDB Local does not report
 * (`BatchExecuteStatement` returns no `ConsumedCapacity` there) and to check
 * what it does report. One place, each rule with its source.
 */

/** Bytes per write unit: "A standard write request unit can write an item up to 1 KB" (aws.amazon.com/dynamodb/pricing/on-demand). */
export const WRITE_UNIT_BYTES = 1024;
/** Bytes per read unit: "A strongly consistent read request of up to 4 KB requires one read request unit" (same page). */
export const READ_UNIT_BYTES = 4096;
/**
 * Transactional writes take two write units per 1 KB (same page: "Transactional
 * write requests require 2 write request units to perform one write for
 * items up to 1 KB"); DynamoDB Local charges a transaction's index writes
 * twice as well (DESIGN.md section 9).
 */
export const TRANSACTION_FACTOR = 2;
/** An eventually consistent read costs half a strongly consistent one (same page). */
export const EVENTUALLY_CONSISTENT_FACTOR = 0.5;

/**
 * Write units of writing an item of `bytes`: rounded up to whole kilobytes,
 * never less than one. An update is billed on the larger of the item before
 * and after it (DynamoDB Developer Guide, "Read/write capacity mode": "For
 * UpdateItem, the size of the larger of the item before or after the update").
 */
export function writeUnits(bytes: number, transactional = false): number {
  return Math.max(1, Math.ceil(bytes / WRITE_UNIT_BYTES)) * (transactional ? TRANSACTION_FACTOR : 1);
}

/** Read units of reading `bytes` (a page or an item), strongly consistent unless said otherwise. */
export function readUnits(bytes: number, consistency: 'strong' | 'eventual' = 'strong'): number {
  const units = Math.max(1, Math.ceil(bytes / READ_UNIT_BYTES));
  return consistency === 'eventual' ? units * EVENTUALLY_CONSISTENT_FACTOR : units;
}

/**
 * Write units a table write spends on a global secondary index: putting an
 * entry in, or deleting one, is one index write of the projected entry's
 * size (DynamoDB Developer Guide, "Global secondary indexes", "Provisioned
 * throughput considerations": "one write is required to delete the old item
 * projection from the index"; the write is sized by the index entry).
 */
export function indexWriteUnits(projectedBytes: number, transactional = false): number {
  return writeUnits(projectedBytes, transactional);
}
