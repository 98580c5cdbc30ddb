/**
 * The libraries stand alone: lambdas/outbox imports only its own files and
 * the packages it declares below; lambdas/consumer only its own files, the
 * outbox's entry point, and its packages. A new `../shared` import (or a
 * sample domain's) fails here.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import ts from 'typescript';
import { describe, expect, it } from 'vitest';

const ROOT = resolve(import.meta.dirname, '../../..');
const OUTBOX = join(ROOT, 'lambdas/outbox');
const CONSUMER = join(ROOT, 'lambdas/consumer');

/** Packages the outbox library uses (all runtime dependencies in package.json). */
const OUTBOX_PACKAGES = [
  '@aws-lambda-powertools/logger',
  '@aws-lambda-powertools/metrics',
  '@aws-sdk/client-dynamodb',
  '@aws-sdk/client-eventbridge',
  '@aws-sdk/client-sqs',
  '@aws-sdk/lib-dynamodb',
  '@aws-sdk/util-dynamodb',
  'zod',
];
/** Packages the consumer library uses besides the outbox's. */
const CONSUMER_PACKAGES = [
  ...OUTBOX_PACKAGES,
  '@aws-lambda-powertools/batch',
  '@aws-lambda-powertools/idempotency',
  // Types only (@types/aws-lambda): the Lambda event shapes.
  'aws-lambda',
];

function sources(folder: string): string[] {
  return readdirSync(folder, { recursive: true, encoding: 'utf8' })
    .filter((name) => name.endsWith('.ts'))
    .map((name) => join(folder, name));
}

/** Every module specifier of a file: imports, re-exports, dynamic imports. */
function specifiers(file: string): string[] {
  return ts.preProcessFile(readFileSync(file, 'utf8'), true, true).importedFiles.map((ref) => ref.fileName);
}

/** The package a bare specifier names (`@scope/name/sub` is `@scope/name`). */
function packageOf(specifier: string): string {
  const parts = specifier.split('/');
  return specifier.startsWith('@') ? parts.slice(0, 2).join('/') : (parts[0] ?? specifier);
}

/** What a library reaches outside itself: `file: specifier` for each import not allowed. */
function strayImports(
  folder: string,
  packages: readonly string[],
  entryPoints: readonly string[] = [],
): string[] {
  const stray: string[] = [];
  for (const file of sources(folder)) {
    for (const specifier of specifiers(file)) {
      if (specifier.startsWith('node:')) continue;
      if (specifier.startsWith('.')) {
        const target = resolve(dirname(file), specifier);
        const inside = !relative(folder, target).startsWith('..');
        if (inside || entryPoints.includes(target)) continue;
      } else if (packages.includes(packageOf(specifier))) {
        continue;
      }
      stray.push(`${relative(ROOT, file)}: ${specifier}`);
    }
  }
  return stray;
}

describe('library import graph', () => {
  it('keeps lambdas/outbox within itself and its declared packages', () => {
    expect(sources(OUTBOX).length).toBeGreaterThan(10);
    expect(strayImports(OUTBOX, OUTBOX_PACKAGES)).toEqual([]);
  });

  it('keeps lambdas/consumer within itself, the outbox entry point and its declared packages', () => {
    expect(strayImports(CONSUMER, CONSUMER_PACKAGES, [OUTBOX, join(OUTBOX, 'index')])).toEqual([]);
  });

  it('finds an import that reaches outside (the check can fail)', () => {
    // The sample's handlers import lambdas/shared: the same check reports them.
    expect(strayImports(join(ROOT, 'lambdas/handlers'), OUTBOX_PACKAGES)).toContainEqual(
      expect.stringContaining('../shared/'),
    );
  });

  it('declares every allowed package in package.json', () => {
    const manifest = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as {
      dependencies: Record<string, string>;
      devDependencies: Record<string, string>;
    };
    for (const name of CONSUMER_PACKAGES) {
      const declared = name in manifest.dependencies || `@types/${name}` in manifest.devDependencies;
      expect(declared, name).toBe(true);
    }
  });
});
