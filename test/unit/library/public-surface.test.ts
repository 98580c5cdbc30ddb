/**
 * The outbox library's public surface: one entry point (lambdas/outbox/index.ts),
 * every name it exports documented with TSDoc at its declaration, and the
 * internals (chunk planning, the publisher, marks, poison parking, stored-item
 * mapping) not among them.
 */
import { join, resolve } from 'node:path';
import ts from 'typescript';
import { beforeAll, describe, expect, it } from 'vitest';
import * as outbox from '../../../lambdas/outbox';

const ENTRY = resolve(import.meta.dirname, '../../../lambdas/outbox/index.ts');

/**
 * Compiling the entry point (about 1,000 files with the SDK declarations it imports) takes
 * seconds of CPU, well over the 5 s test timeout on a loaded machine (18-31 s
 * measured at load 14 on 2 cores): it is done once, before the tests, under
 * its own deadline.
 */
const COMPILE_TIMEOUT_MS = 120_000;

let compiled: Map<string, boolean> | undefined;

beforeAll(() => {
  compiled = compileExports();
}, COMPILE_TIMEOUT_MS);

/** Exported names of the entry point with whether their declaration carries TSDoc (compiled in `beforeAll`). */
function documentedExports(): Map<string, boolean> {
  if (!compiled) throw new Error('the entry point was not compiled');
  return compiled;
}

function compileExports(): Map<string, boolean> {
  const program = ts.createProgram([ENTRY], { strict: true, noEmit: true, skipLibCheck: true });
  const checker = program.getTypeChecker();
  const source = program.getSourceFile(ENTRY);
  const module = source && checker.getSymbolAtLocation(source);
  if (!module) throw new Error('the entry point did not compile');
  const result = new Map<string, boolean>();
  for (const exported of checker.getExportsOfModule(module)) {
    const target = exported.flags & ts.SymbolFlags.Alias ? checker.getAliasedSymbol(exported) : exported;
    const declarations = target.getDeclarations() ?? [];
    const documented = declarations.some((declaration) => {
      // A `const` is documented on its statement, two levels up.
      const holder = ts.isVariableDeclaration(declaration) ? declaration.parent.parent : declaration;
      return ts.getJSDocCommentsAndTags(holder).length > 0;
    });
    result.set(exported.getName(), documented);
  }
  return result;
}

describe('outbox entry point', () => {
  it('documents every name it exports', () => {
    const exports = documentedExports();
    expect(exports.size).toBeGreaterThan(50);
    expect([...exports].filter(([, documented]) => !documented).map(([name]) => name)).toEqual([]);
  });

  it('exports the writer, the relay core, the sweep and the layout settings', () => {
    expect(Object.keys(outbox)).toEqual(
      expect.arrayContaining(['OutboxWriter', 'relayInOrder', 'sweep', 'republish', 'outboxLayoutFromEnv']),
    );
  });

  it.each([
    'planChunks',
    'runChunks',
    'publishEntries',
    'markDelivered',
    'markFailed',
    'DeliveredMarks',
    'parkPoison',
    'toPutEventsEntry',
    'relayRecords',
    'Relay',
    'resolvePublishSettings',
    'toStoredItem',
    'fromStoredItem',
    'pendingKeys',
    'outboxKeyIn',
    'mapWithConcurrency',
  ])('keeps the internal %s out of it', (name) => {
    expect(Object.keys(outbox)).not.toContain(name);
    expect(documentedExports().has(name)).toBe(false);
  });

  it('is the folder index', () => {
    expect(ENTRY).toBe(join(resolve(import.meta.dirname, '../../../lambdas/outbox'), 'index.ts'));
  });
});
