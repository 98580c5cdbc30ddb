import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { type Chunk, type ChunkUnit, planChunks, runChunks } from '../../lambdas/outbox/chunking';
import { MAX_PUT_EVENTS_BYTES, MAX_PUT_EVENTS_ENTRIES } from '../../lambdas/outbox/limits';

function event(aggregate: string, bytes = 100): ChunkUnit {
  return { aggregate, entries: 1, bytes };
}

/** Aggregates of each chunk's units, for compact assertions. */
function layout(units: readonly ChunkUnit[], chunks: readonly Chunk[]): string[][] {
  return chunks.map((chunk) => chunk.units.map((index) => units[index]?.aggregate ?? '?'));
}

const unitsArbitrary = fc.array(
  fc.record({
    aggregate: fc.constantFrom('A', 'B', 'C', 'D', 'E', 'F', 'G', 'H', 'I', 'J', 'K', 'L'),
    entries: fc.constantFrom<0 | 1>(0, 1, 1, 1),
    bytes: fc.integer({ min: 0, max: 400 * 1024 }),
  }),
  { maxLength: 80 },
);

describe('planChunks', () => {
  it('puts distinct aggregates together up to 10 entries a chunk', () => {
    const units = Array.from({ length: 23 }, (_, index) => event(`A${index}`));

    const chunks = planChunks(units);

    expect(chunks.map((chunk) => chunk.entries)).toEqual([10, 10, 3]);
    expect(chunks.every((chunk) => chunk.dependsOn.length === 0)).toBe(true);
  });

  it('places an aggregate’s next unit in a later chunk that depends on the earlier one', () => {
    const units = [event('A'), event('A'), event('B'), event('A'), event('B')];

    const chunks = planChunks(units);

    expect(layout(units, chunks)).toEqual([['A', 'B'], ['A', 'B'], ['A']]);
    expect(chunks.map((chunk) => chunk.dependsOn)).toEqual([[], [0], [1]]);
  });

  it('fills the earliest chunk with room after the aggregate’s previous chunk', () => {
    const units = [
      ...Array.from({ length: 10 }, (_, index) => event(`X${index}`)),
      event('A'),
      event('A'),
      event('B'),
    ];

    const chunks = planChunks(units);

    expect(layout(units, chunks)).toEqual([
      ['X0', 'X1', 'X2', 'X3', 'X4', 'X5', 'X6', 'X7', 'X8', 'X9'],
      ['A', 'B'],
      ['A'],
    ]);
  });

  it('starts a new chunk when the next entry would exceed the byte limit', () => {
    const third = Math.floor(MAX_PUT_EVENTS_BYTES / 3) + 1;
    const units = [event('A', third), event('B', third), event('C', third)];

    const chunks = planChunks(units);

    expect(layout(units, chunks)).toEqual([['A', 'B'], ['C']]);
  });

  it('lets units without an entry share a full chunk', () => {
    const units = [
      ...Array.from({ length: 10 }, (_, index) => event(`X${index}`)),
      { aggregate: 'P', entries: 0, bytes: 0 } as const,
    ];

    const chunks = planChunks(units);

    expect(chunks).toHaveLength(1);
    expect(chunks[0]?.entries).toBe(10);
  });

  it('refuses a unit larger than a whole chunk', () => {
    expect(() => planChunks([event('A', MAX_PUT_EVENTS_BYTES + 1)])).toThrow(RangeError);
  });

  it('keeps every chunk within the PutEvents limits', () => {
    fc.assert(
      fc.property(unitsArbitrary, (units) => {
        for (const chunk of planChunks(units)) {
          expect(chunk.entries).toBeLessThanOrEqual(MAX_PUT_EVENTS_ENTRIES);
          expect(chunk.bytes).toBeLessThanOrEqual(MAX_PUT_EVENTS_BYTES);
          const entries = chunk.units.reduce((sum, index) => sum + (units[index]?.entries ?? 0), 0);
          expect(entries).toBe(chunk.entries);
        }
      }),
    );
  });

  it('places every unit exactly once and holds at most one unit per aggregate in a chunk', () => {
    fc.assert(
      fc.property(unitsArbitrary, (units) => {
        const chunks = planChunks(units);
        const placed = chunks.flatMap((chunk) => chunk.units).sort((a, b) => a - b);
        expect(placed).toEqual(units.map((_, index) => index));
        for (const aggregates of layout(units, chunks))
          expect(new Set(aggregates).size).toBe(aggregates.length);
      }),
    );
  });

  it('chains only as many chunks as the deepest aggregate has units', () => {
    fc.assert(
      fc.property(unitsArbitrary, (units) => {
        const chunks = planChunks(units);
        const depth: number[] = [];
        for (const chunk of chunks) {
          depth[chunk.index] = 1 + Math.max(0, ...chunk.dependsOn.map((index) => depth[index] ?? 0));
        }
        const counts = new Map<string, number>();
        for (const unit of units) counts.set(unit.aggregate, (counts.get(unit.aggregate) ?? 0) + 1);

        expect(Math.max(0, ...depth)).toBe(Math.max(0, ...counts.values()));
      }),
    );
  });

  it('packs interleaved aggregates level by level: 1,000 units of 200 aggregates chain 5 calls, not 66', () => {
    const units = Array.from({ length: 1000 }, (_, index) => event(`A${(index * 7) % 200}`));

    const chunks = planChunks(units);

    expect(chunks).toHaveLength(100);
    const depth: number[] = [];
    for (const chunk of chunks)
      depth[chunk.index] = 1 + Math.max(0, ...chunk.dependsOn.map((i) => depth[i] ?? 0));
    expect(Math.max(...depth)).toBe(5);
  });

  it('orders each aggregate’s units along a dependency chain in input order', () => {
    fc.assert(
      fc.property(unitsArbitrary, (units) => {
        const chunks = planChunks(units);
        const chunkOf = new Map<number, Chunk>();
        for (const chunk of chunks) for (const index of chunk.units) chunkOf.set(index, chunk);
        const previous = new Map<string, number>();
        units.forEach((unit, index) => {
          const chunk = chunkOf.get(index);
          const before = previous.get(unit.aggregate);
          if (chunk && before !== undefined) {
            const earlier = chunkOf.get(before);
            expect(earlier && earlier.index < chunk.index).toBe(true);
            expect(chunk.dependsOn).toContain(earlier?.index);
          }
          previous.set(unit.aggregate, index);
        });
      }),
    );
  });
});

describe('runChunks', () => {
  /** A plan of `count` chunks where chunk i depends on the listed ones. */
  function plan(dependencies: readonly (readonly number[])[]): Chunk[] {
    return dependencies.map((dependsOn, index) => ({
      index,
      units: [index],
      dependsOn,
      entries: 1,
      bytes: 1,
    }));
  }

  /** Resolvers of the runs in flight, by chunk index. */
  function controlledRun() {
    const pending = new Map<number, (ok: boolean) => void>();
    const started: number[] = [];
    const run = (chunk: Chunk) =>
      new Promise<boolean>((resolve) => {
        started.push(chunk.index);
        pending.set(chunk.index, resolve);
      });
    const finish = async (index: number, ok = true) => {
      pending.get(index)?.(ok);
      pending.delete(index);
      await new Promise((resolve) => setImmediate(resolve));
    };
    return { run, started, pending, finish };
  }

  it('runs independent chunks concurrently up to the limit', async () => {
    const control = controlledRun();

    const done = runChunks(plan([[], [], [], []]), { concurrency: 2, run: control.run });
    await new Promise((resolve) => setImmediate(resolve));

    expect(control.started).toEqual([0, 1]);
    await control.finish(0);
    expect(control.started).toEqual([0, 1, 2]);
    await control.finish(1);
    await control.finish(2);
    await control.finish(3);
    expect([...(await done).succeeded].sort()).toEqual([0, 1, 2, 3]);
  });

  it('starts a chunk only after every chunk it depends on has succeeded', async () => {
    const control = controlledRun();

    const done = runChunks(plan([[], [], [0, 1]]), { concurrency: 4, run: control.run });
    await new Promise((resolve) => setImmediate(resolve));
    await control.finish(0);

    expect(control.started).toEqual([0, 1]);
    await control.finish(1);
    expect(control.started).toEqual([0, 1, 2]);
    await control.finish(2);
    expect((await done).succeeded.size).toBe(3);
  });

  it('starts nothing new after a failure but lets chunks in flight finish', async () => {
    const control = controlledRun();

    const done = runChunks(plan([[], [], [], []]), { concurrency: 2, run: control.run });
    await new Promise((resolve) => setImmediate(resolve));
    await control.finish(0, false);
    await control.finish(1, true);
    const result = await done;

    expect(control.started).toEqual([0, 1]);
    expect([...result.failed]).toEqual([0]);
    expect([...result.succeeded]).toEqual([1]);
  });

  it('counts a run that throws as a failed chunk', async () => {
    const result = await runChunks(plan([[], [0]]), {
      concurrency: 1,
      run: async () => {
        throw new Error('boom');
      },
    });

    expect([...result.failed]).toEqual([0]);
    expect(result.errors).toHaveLength(1);
  });

  it('resolves at once for an empty plan', async () => {
    const result = await runChunks([], { concurrency: 4, run: async () => true });

    expect(result.succeeded.size).toBe(0);
  });
});
