import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';

const README = readFileSync(new URL('../../README.md', import.meta.url), 'utf8');
const EXAMPLES = ['stack.ts', 'write-user.ts', 'welcome-user.ts'].map((file) =>
  readFileSync(new URL(`../../examples/own-service/${file}`, import.meta.url), 'utf8'),
);

/** The `ts` code blocks of the README section `heading`. */
function codeBlocksOf(heading: string): string[] {
  const start = README.indexOf(`\n## ${heading}\n`);
  if (start < 0) throw new Error(`README has no section ${heading}`);
  const end = README.indexOf('\n## ', start + 1);
  const section = README.slice(start, end < 0 ? undefined : end);
  return [...section.matchAll(/```ts\n([\s\S]*?)\n```/g)].map((match) => match[1] ?? '');
}

/** Code with each line's indentation removed, so a block quoted from a method body matches. */
function unindented(code: string): string {
  return code
    .split('\n')
    .map((line) => line.trim())
    .join('\n');
}

describe('README "Use it in your own service"', () => {
  it('quotes only code that is in examples/own-service, which the type-check compiles', () => {
    const blocks = codeBlocksOf('Use it in your own service');
    const sources = EXAMPLES.map(unindented);

    expect(blocks.length).toBeGreaterThanOrEqual(4);
    for (const block of blocks) {
      expect(
        sources.some((source) => source.includes(unindented(block))),
        block,
      ).toBe(true);
    }
  });
});
