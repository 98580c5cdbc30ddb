/**
 * Service limits the library enforces before it calls AWS. Each is one named
 * constant, with its source.
 */

/** TransactWriteItems: at most 100 actions per call (DynamoDB developer guide, transaction limits). */
export const MAX_TRANSACTION_ACTIONS = 100;
/** TransactWriteItems: at most 4 MB of items per call. */
export const MAX_TRANSACTION_BYTES = 4 * 1024 * 1024;
/** DynamoDB: at most 400 KB per item, attribute names included. */
export const MAX_ITEM_BYTES = 400 * 1024;
/** EventBridge PutEvents: at most 10 entries per call. */
export const MAX_PUT_EVENTS_ENTRIES = 10;
/**
 * EventBridge PutEvents: at most 1 MB per request and per entry (raised from
 * 256 KB; AWS Compute Blog, 2026-01-29). Sized by AWS's rule in `putEventsEntrySize`.
 */
export const MAX_PUT_EVENTS_BYTES = 1024 * 1024;
/** EventBridge counts `Time` as 14 bytes when it is present. */
const TIME_BYTES = 14;

/** UTF-8 byte length of a string. */
export function utf8Bytes(value: string): number {
  return Buffer.byteLength(value, 'utf8');
}

/** Size of a PutEvents entry by AWS's rule: Time, Source, DetailType, Detail and Resources. */
export function putEventsEntrySize(entry: {
  readonly Source?: string;
  readonly DetailType?: string;
  readonly Detail?: string;
  readonly Time?: Date;
  readonly Resources?: readonly string[];
}): number {
  let size = entry.Time ? TIME_BYTES : 0;
  if (entry.Source) size += utf8Bytes(entry.Source);
  if (entry.DetailType) size += utf8Bytes(entry.DetailType);
  if (entry.Detail) size += utf8Bytes(entry.Detail);
  for (const resource of entry.Resources ?? []) size += utf8Bytes(resource);
  return size;
}

/**
 * Size of an item by DynamoDB's rules (names plus values; numbers by their
 * significant digits; maps and lists with their 3-byte overhead plus 1 byte
 * per element). Errs on the large side, never the small one.
 */
export function itemSize(item: Record<string, unknown>): number {
  let size = 0;
  for (const [name, value] of Object.entries(item)) {
    if (value === undefined) continue;
    size += utf8Bytes(name) + valueSize(value);
  }
  return size;
}

function valueSize(value: unknown): number {
  if (value === null || typeof value === 'boolean') return 1;
  if (typeof value === 'string') return utf8Bytes(value);
  if (typeof value === 'number' || typeof value === 'bigint') return numberSize(String(value));
  if (value instanceof Uint8Array) return value.byteLength;
  if (value instanceof Set) {
    let size = 0;
    for (const member of value) size += valueSize(member);
    return size;
  }
  if (Array.isArray(value)) {
    let size = 3;
    for (const element of value) size += 1 + valueSize(element ?? null);
    return size;
  }
  if (typeof value === 'object') {
    let size = 3;
    for (const [name, element] of Object.entries(value as Record<string, unknown>)) {
      if (element === undefined) continue;
      size += 1 + utf8Bytes(name) + valueSize(element);
    }
    return size;
  }
  return utf8Bytes(String(value));
}

function numberSize(text: string): number {
  const digits = text.replace(/[^0-9]/g, '').replace(/^0+/, '').length;
  return Math.ceil(digits / 2) + 1;
}

/**
 * DynamoDB numbers: magnitude from 1E-130 to 9.99...E+125, at most 38
 * significant digits (DynamoDB developer guide, "Supported data types and
 * naming rules", Number). A smaller non-zero magnitude fails the write with
 * "Number underflow" (checked on DynamoDB Local 3.3).
 */
export const MIN_NUMBER_MAGNITUDE = 1e-130;
/** Most significant digits of a DynamoDB number (same source). */
export const MAX_NUMBER_DIGITS = 38;

/** A number in a request that cannot be stored, and where it is. */
export interface UnstorableNumber {
  /** Path inside the item or the expression values, e.g. `items[0].unitPrice` or `:price`. */
  readonly path: string;
  readonly value: number | bigint;
  /** Why it cannot be stored. */
  readonly reason: string;
}

/**
 * The first number in `values` that DynamoDB, or the document client on the
 * way to it, cannot store: NaN and infinities and magnitudes beyond 2^53 - 1
 * (the document client refuses them rather than lose precision), non-zero
 * magnitudes below {@link MIN_NUMBER_MAGNITUDE}, and big integers with more
 * than {@link MAX_NUMBER_DIGITS} digits. Undefined when every number fits.
 */
export function findUnstorableNumber(values: Record<string, unknown>): UnstorableNumber | undefined {
  for (const [name, value] of Object.entries(values)) {
    const found = unstorableIn(value, name);
    if (found) return found;
  }
  return undefined;
}

function unstorableIn(value: unknown, path: string): UnstorableNumber | undefined {
  if (typeof value === 'number') {
    const reason = numberProblem(value);
    return reason ? { path, value, reason } : undefined;
  }
  if (typeof value === 'bigint') {
    const digits = (value < 0n ? -value : value).toString().replace(/0+$/, '').length;
    return digits > MAX_NUMBER_DIGITS
      ? { path, value, reason: `it has more than ${MAX_NUMBER_DIGITS} significant digits` }
      : undefined;
  }
  if (value instanceof Set || Array.isArray(value)) {
    let index = 0;
    for (const element of value) {
      const found = unstorableIn(element, `${path}[${index}]`);
      if (found) return found;
      index += 1;
    }
    return undefined;
  }
  if (value !== null && typeof value === 'object' && !(value instanceof Uint8Array)) {
    for (const [name, element] of Object.entries(value as Record<string, unknown>)) {
      const found = unstorableIn(element, `${path}.${name}`);
      if (found) return found;
    }
  }
  return undefined;
}

function numberProblem(value: number): string | undefined {
  if (!Number.isFinite(value)) return 'it is not a finite number';
  const magnitude = Math.abs(value);
  if (magnitude > Number.MAX_SAFE_INTEGER) return 'its magnitude exceeds 2^53 - 1';
  if (magnitude !== 0 && magnitude < MIN_NUMBER_MAGNITUDE) {
    return `its magnitude is below DynamoDB's smallest, ${MIN_NUMBER_MAGNITUDE}`;
  }
  return undefined;
}
