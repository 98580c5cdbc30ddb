/**
 * The product stands alone and the sample is only its user:
 * - the library lambdas/outbox imports only its own files and the packages it
 *   declares below; lambdas/consumer only its own files, the outbox's entry
 *   point, and its packages;
 * - the outbox's own functions (lambdas/outbox/functions: relay, sweeper)
 *   import only their folder, the library's entry point and their packages;
 * - nothing of the product (those folders, lib/outbox, lib/service-function.ts)
 *   imports the sample (lambdas/sample, lib/sample);
 * - the sample reaches the libraries only through their entry points.
 * A new `../shared` import (or a sample domain's) fails here.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { dirname, isAbsolute, join, relative, resolve } from 'node:path';
import ts from 'typescript';
import { describe, expect, it } from 'vitest';

const ROOT = resolve(import.meta.dirname, '../../..');
const OUTBOX = join(ROOT, 'lambdas/outbox');
const FUNCTIONS = join(OUTBOX, 'functions');
const CONSUMER = join(ROOT, 'lambdas/consumer');
const SAMPLE = join(ROOT, 'lambdas/sample');
const SAMPLE_CDK = join(ROOT, 'lib/sample');
/** The entry points of the two libraries, as a resolved import names them (folder or index). */
const ENTRY_POINTS = [OUTBOX, join(OUTBOX, 'index'), CONSUMER, join(CONSUMER, 'index')];

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
/** Packages the outbox's own functions use besides the library's. */
const FUNCTION_PACKAGES = [
  ...OUTBOX_PACKAGES,
  '@aws-lambda-powertools/tracer',
  // Types only (@types/aws-lambda): the Lambda event shapes.
  'aws-lambda',
];
/** Packages the consumer library uses besides the outbox's. */
const CONSUMER_PACKAGES = [
  ...OUTBOX_PACKAGES,
  '@aws-lambda-powertools/batch',
  '@aws-lambda-powertools/idempotency',
  // Types only (@types/aws-lambda): the Lambda event shapes.
  'aws-lambda',
];

function sources(folder: string, except: readonly string[] = []): string[] {
  return readdirSync(folder, { recursive: true, encoding: 'utf8' })
    .filter((name) => name.endsWith('.ts'))
    .map((name) => join(folder, name))
    .filter((file) => !except.some((excluded) => isInside(excluded, file)));
}

/** The product's files: runtime library, its functions, consumer library, CDK constructs. */
function productFiles(): string[] {
  return [
    ...sources(OUTBOX),
    ...sources(CONSUMER),
    ...sources(join(ROOT, 'lib/outbox')),
    join(ROOT, 'lib/service-function.ts'),
  ];
}

function isInside(folder: string, target: string): boolean {
  const path = relative(folder, target);
  return !path.startsWith('..') && !isAbsolute(path);
}

/** Each relative import of `files` that resolves into one of `folders` (but not to `allowed`), as `file: specifier`. */
function importsInto(
  files: readonly string[],
  folders: readonly string[],
  allowed: readonly string[] = [],
): string[] {
  const found: string[] = [];
  for (const file of files) {
    for (const specifier of specifiers(file)) {
      if (!specifier.startsWith('.')) continue;
      const target = resolve(dirname(file), specifier);
      if (allowed.includes(target)) continue;
      if (folders.some((folder) => isInside(folder, target))) {
        found.push(`${relative(ROOT, file)}: ${specifier}`);
      }
    }
  }
  return found;
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
  except: readonly string[] = [],
): string[] {
  const stray: string[] = [];
  for (const file of sources(folder, except)) {
    for (const specifier of specifiers(file)) {
      if (specifier.startsWith('node:')) continue;
      if (specifier.startsWith('.')) {
        const target = resolve(dirname(file), specifier);
        const inside = isInside(folder, target) && !except.some((excluded) => isInside(excluded, target));
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
  it('keeps lambdas/outbox within itself and its declared packages (its functions aside)', () => {
    expect(sources(OUTBOX, [FUNCTIONS]).length).toBeGreaterThan(10);
    expect(strayImports(OUTBOX, OUTBOX_PACKAGES, [], [FUNCTIONS])).toEqual([]);
  });

  it('keeps the outbox functions within their folder, the library entry point and their packages', () => {
    expect(sources(FUNCTIONS).map((file) => relative(FUNCTIONS, file))).toEqual(
      expect.arrayContaining(['relay.ts', 'sweeper.ts']),
    );
    expect(strayImports(FUNCTIONS, FUNCTION_PACKAGES, [OUTBOX, join(OUTBOX, 'index')])).toEqual([]);
  });

  it('keeps lambdas/consumer within itself, the outbox entry point and its declared packages', () => {
    expect(strayImports(CONSUMER, CONSUMER_PACKAGES, [OUTBOX, join(OUTBOX, 'index')])).toEqual([]);
  });

  it('finds an import that reaches outside (the check can fail)', () => {
    // The sample's handlers import lambdas/sample/shared: the same check reports them.
    expect(strayImports(join(SAMPLE, 'handlers'), OUTBOX_PACKAGES)).toContainEqual(
      expect.stringContaining('../shared/'),
    );
    // The functions import a package the library does not declare (the tracer).
    expect(strayImports(OUTBOX, OUTBOX_PACKAGES)).toContainEqual(
      expect.stringContaining('@aws-lambda-powertools/tracer'),
    );
  });

  it('keeps every product file free of imports of the sample', () => {
    const files = productFiles();
    expect(files.length).toBeGreaterThan(40);
    expect(importsInto(files, [SAMPLE, SAMPLE_CDK])).toEqual([]);
  });

  it('finds an import of the sample (the check can fail)', () => {
    // The sample's CDK side builds the sample's handlers: the same check reports it.
    expect(importsInto(sources(SAMPLE_CDK), [SAMPLE])).toContainEqual(
      expect.stringContaining('lambdas/sample/'),
    );
  });

  it('lets the sample reach the libraries only through their entry points', () => {
    const files = sources(SAMPLE);
    expect(files.length).toBeGreaterThan(20);
    expect(importsInto(files, [OUTBOX, CONSUMER], ENTRY_POINTS)).toEqual([]);
    // The check can fail: the library's CDK side imports files of it by path.
    expect(importsInto(sources(join(ROOT, 'lib/outbox')), [OUTBOX], ENTRY_POINTS)).not.toEqual([]);
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
