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
  readonly dependsOn: Set<number>;
  entries: number;
  bytes: number;
}

/**
 * Plans chunks by level: a unit's level is the number of earlier units of its
 * aggregate in the input, and a chunk holds units of one level only. The
 * longest chain of dependent chunks is then the deepest aggregate's unit
 * count, the fewest sequential calls any order-keeping plan can make; filling
 * chunks greedily across levels instead chains calls that order does not
 * require (66 sequential calls where 10 suffice, for a batch of 1,000 over
 * 200 aggregates).
 *
 * Within a level, units are taken in the order their previous units' chunks
 * were planned, so each chunk waits on a few neighbouring chunks of the level
 * before it and the scheduler can start it while the rest of that level is
 * still in flight. Each unit goes into the first chunk of its level with
 * room. Units must fit the limits alone; the caller treats a bigger one as
 * poison.
 *
 * @throws RangeError when a unit alone exceeds `maxBytes`
 */
export function planChunks(units: readonly ChunkUnit[], limits: ChunkLimits = PUT_EVENTS_LIMITS): Chunk[] {
  // levels[k]: positions of the units that are the (k+1)-th of their aggregate.
  const levels: number[][] = [];
  const previousOf: (number | undefined)[] = [];
  const lastPositionOf = new Map<string, number>();
  const levelOf = new Map<string, number>();
  units.forEach((unit, position) => {
    if (unit.bytes > limits.maxBytes) {
      throw new RangeError(
        `unit ${position} has ${unit.bytes} bytes, more than a chunk holds (${limits.maxBytes})`,
      );
    }
    const level = levelOf.get(unit.aggregate) ?? 0;
    levelOf.set(unit.aggregate, level + 1);
    previousOf[position] = lastPositionOf.get(unit.aggregate);
    lastPositionOf.set(unit.aggregate, position);
    let members = levels[level];
    if (!members) {
      members = [];
      levels[level] = members;
    }
    members.push(position);
  });

  const drafts: ChunkDraft[] = [];
  const chunkOf: number[] = [];
  for (const members of levels) {
    const firstOfLevel = drafts.length;
    // Chunks before `open` hold all the entries they can; skipping them keeps
    // a 10,000-record batch linear. A unit without an entry fits anywhere.
    let open = firstOfLevel;
    // Stable: ties keep input order. Level 0 has no previous units.
    const ordered = [...members].sort(
      (a, b) => (chunkAt(chunkOf, previousOf[a]) ?? 0) - (chunkAt(chunkOf, previousOf[b]) ?? 0),
    );
    for (const position of ordered) {
      const unit = units[position] as ChunkUnit;
      while ((drafts[open]?.entries ?? 0) >= limits.maxEntries) open += 1;
      let index = unit.entries === 0 ? firstOfLevel : open;
      while (index < drafts.length && !fits(drafts[index] as ChunkDraft, unit, limits)) index += 1;
      let draft = drafts[index];
      if (!draft) {
        draft = { units: [], dependsOn: new Set(), entries: 0, bytes: 0 };
        drafts.push(draft);
      }
      draft.units.push(position);
      draft.entries += unit.entries;
      draft.bytes += unit.bytes;
      const previousChunk = chunkAt(chunkOf, previousOf[position]);
      if (previousChunk !== undefined) draft.dependsOn.add(previousChunk);
      chunkOf[position] = index;
    }
  }
  return drafts.map((draft, index) => ({
    index,
    units: [...draft.units].sort((a, b) => a - b),
    dependsOn: [...draft.dependsOn].sort((a, b) => a - b),
    entries: draft.entries,
    bytes: draft.bytes,
  }));
}

function chunkAt(chunkOf: readonly number[], position: number | undefined): number | undefined {
  return position === undefined ? undefined : chunkOf[position];
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
