import { App, Names, Stack } from 'aws-cdk-lib';
import { Construct } from 'constructs';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { logicalIdFor } from '../../lib/logical-ids';

/** A construct at `ids` below a fresh stack `S`, and CDK's own unique id of it. */
function cdkUniqueId(ids: readonly string[]): string {
  let scope: Construct = new Stack(new App(), 'S');
  for (const id of ids) scope = new Construct(scope, id);
  return Names.uniqueId(scope);
}

const component = fc.oneof(
  fc.constantFrom('Default', 'Resource', 'Table', 'OutboxTable', 'Function', 'Function-cancel-order', 'a:b'),
  // Upper-case first: ids like `toString` collide with members CDK keeps by name.
  fc.stringMatching(/^[A-Z][A-Za-z0-9:-]{0,79}$/),
);

describe('logicalIdFor', () => {
  it('gives the id CDK gives a construct at the same path', () => {
    fc.assert(
      fc.property(fc.array(component, { minLength: 1, maxLength: 6 }), (ids) => {
        // Sibling ids must be unique and a path must keep one component besides Default.
        fc.pre(ids.some((id) => id !== 'Default'));
        expect(logicalIdFor(['S', ...ids])).toBe(cdkUniqueId(ids));
      }),
      { numRuns: 200 },
    );
  });

  it('keeps a long path within 255 characters, as CDK does', () => {
    const ids = Array.from({ length: 5 }, (_, index) => `${'Segment'.repeat(10)}${index}`);

    expect(logicalIdFor(['S', ...ids])).toBe(cdkUniqueId(ids));
    expect(logicalIdFor(['S', ...ids]).length).toBeLessThanOrEqual(255);
  });

  it('refuses a path of nothing but Default', () => {
    expect(() => logicalIdFor(['Default'])).toThrow(/at least one path component/);
  });
});
