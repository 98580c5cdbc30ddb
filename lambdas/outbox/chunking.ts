/**
 * Splits a batch into PutEvents-sized chunks and runs them in an order that
 * keeps each aggregate's events in sequence.
 *
 * EventBridge gives no order among the entries of one call, and a failed
 * entry followed by a succeeded entry of the same aggregate in one call would
 * publish out of order. So a chunk holds at most one unit per aggregate, and
 * a chunk runs only after every earlier chunk sharing an aggregate with it
 * has fully succeeded.
 */
import { MAX_PUT_EVENTS_BYTES, MAX_PUT_EVENTS_ENTRIES } from './limits';

/** One record to place in a chunk. */
export interface ChunkUnit {
  /** The ordering key: units with the same aggregate run one after another, in input order. */
  readonly aggregate: string;
  /** Entries it adds to the PutEvents call: 1 for an event, 0 for a unit that is only parked. */
  readonly entries: 0 | 1;
  /** Request bytes it adds (`putEventsEntrySize`); 0 when it adds no entry. */
  readonly bytes: number;
}

/** Limits of one chunk; EventBridge's PutEvents limits by default. */
export interface ChunkLimits {
  readonly maxEntries: number;
  readonly maxBytes: number;
}

/** A planned chunk. */
export interface Chunk {
  /** Position in the plan; dependencies always point to lower indices. */
  readonly index: number;
  /** Positions of its units in the input, in input order. */
  readonly units: readonly number[];
  /**
   * Chunks holding the previous unit of one of this chunk's aggregates. Those
   * chunks depend on theirs in turn, so this chunk transitively waits for every
   * earlier chunk that shares an aggregate with it.
   */
  readonly dependsOn: readonly number[];
  /** Entries in the chunk (at most `maxEntries`). */
  readonly entries: number;
  /** Request bytes of the chunk (at most `maxBytes`). */
  readonly bytes: number;
}

const PUT_EVENTS_LIMITS: ChunkLimits = { maxEntries: MAX_PUT_EVENTS_ENTRIES, maxBytes: MAX_PUT_EVENTS_BYTES };

interface ChunkDraft {
  readonly units: number[];
  readonly aggregates: Set<string>;
  readonly dependsOn: Set<number>;
  entries: number;
  bytes: number;
}

/**
 * Plans chunks greedily: each unit goes into the earliest chunk after the one
 * holding its aggregate's previous unit that still has room. Units must fit
 * the limits alone; the caller treats a bigger one as poison.
 *
 * @throws RangeError when a unit alone exceeds `maxBytes`
 */
export function planChunks(units: readonly ChunkUnit[], limits: ChunkLimits = PUT_EVENTS_LIMITS): Chunk[] {
  const drafts: ChunkDraft[] = [];
  const lastChunkOf = new Map<string, number>();
  units.forEach((unit, position) => {
    if (unit.bytes > limits.maxBytes) {
      throw new RangeError(
        `unit ${position} has ${unit.bytes} bytes, more than a chunk holds (${limits.maxBytes})`,
      );
    }
    const previous = lastChunkOf.get(unit.aggregate);
    let index = previous === undefined ? 0 : previous + 1;
    for (; index < drafts.length; index += 1) {
      const draft = drafts[index];
      // Every chunk holding this aggregate is at or before `previous`, so any
      // later chunk is free of it; only room decides.
      if (draft && fits(draft, unit, limits)) break;
    }
    let draft = drafts[index];
    if (!draft) {
      draft = { units: [], aggregates: new Set(), dependsOn: new Set(), entries: 0, bytes: 0 };
      drafts.push(draft);
      index = drafts.length - 1;
    }
    draft.units.push(position);
    draft.aggregates.add(unit.aggregate);
    draft.entries += unit.entries;
    draft.bytes += unit.bytes;
    if (previous !== undefined) draft.dependsOn.add(previous);
    lastChunkOf.set(unit.aggregate, index);
  });
  return drafts.map((draft, index) => ({
    index,
    units: [...draft.units].sort((a, b) => a - b),
    dependsOn: [...draft.dependsOn].sort((a, b) => a - b),
    entries: draft.entries,
    bytes: draft.bytes,
  }));
}

function fits(draft: ChunkDraft, unit: ChunkUnit, limits: ChunkLimits): boolean {
  return draft.entries + unit.entries <= limits.maxEntries && draft.bytes + unit.bytes <= limits.maxBytes;
}

/** Outcome of running a plan. */
export interface ScheduleResult {
  /** Indices of the chunks that ran and succeeded. */
  readonly succeeded: ReadonlySet<number>;
  /** Indices of the chunks that ran and failed (or threw). */
  readonly failed: ReadonlySet<number>;
  /** Errors thrown by `run`; a thrown error counts as a failed chunk. */
  readonly errors: readonly unknown[];
}

/** How to run a plan. */
export interface ScheduleOptions {
  /** Most chunks in flight at once. */
  readonly concurrency: number;
  /** Runs one chunk; resolves true when every unit of it is done, false on an unrecoverable failure. */
  readonly run: (chunk: Chunk) => Promise<boolean>;
}

/**
 * Runs chunks with bounded concurrency. A chunk starts only when every chunk
 * it depends on has succeeded, so two chunks sharing an aggregate are never in
 * flight together. After the first failure no new chunk starts (fail fast);
 * chunks already in flight finish. Lower indices start first.
 */
export function runChunks(chunks: readonly Chunk[], options: ScheduleOptions): Promise<ScheduleResult> {
  const concurrency = Math.max(1, Math.floor(options.concurrency));
  const waiting = new Set(chunks.map((chunk) => chunk.index));
  const succeeded = new Set<number>();
  const failed = new Set<number>();
  const errors: unknown[] = [];
  let running = 0;

  return new Promise((resolve) => {
    const settle = (chunk: Chunk, ok: boolean): void => {
      running -= 1;
      (ok ? succeeded : failed).add(chunk.index);
      pump();
    };
    const pump = (): void => {
      if (failed.size === 0) {
        for (const chunk of chunks) {
          if (running >= concurrency) break;
          if (!waiting.has(chunk.index) || !chunk.dependsOn.every((index) => succeeded.has(index))) continue;
          waiting.delete(chunk.index);
          running += 1;
          // Deferred, so a synchronous throw in `run` is a failed chunk too.
          Promise.resolve(chunk)
            .then(options.run)
            .then(
              (ok) => settle(chunk, ok),
              (error: unknown) => {
                errors.push(error);
                settle(chunk, false);
              },
            );
        }
      }
      if (running === 0) resolve({ succeeded, failed, errors });
    };
    pump();
  });
}
