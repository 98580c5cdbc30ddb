/**
 * The committed contracts in docs/events are what `npm run contracts`
 * produces now: a change of the catalogue or of the stack's rules without
 * regenerating them fails here.
 */
import { existsSync, readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import { GENERATORS } from '../../contracts/generate';

const ROOT = resolve(import.meta.dirname, '../..');

describe('committed contracts', () => {
  it.each(GENERATORS.map((generator) => [generator.name, generator] as const))(
    '%s: every generated file is committed as generated (run npm run contracts)',
    async (_, generator) => {
      const files = await generator.generate(ROOT);
      expect(files.length).toBeGreaterThan(0);
      for (const file of files) {
        const path = resolve(ROOT, file.path);
        expect(existsSync(path), `${file.path} is missing`).toBe(true);
        expect(readFileSync(path, 'utf8'), `${file.path} differs from what the generator writes`).toBe(
          file.content,
        );
      }
    },
  );
});
