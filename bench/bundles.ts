/**
 * Each Lambda entry point bundled the way `ServiceFunction` bundles it
 * (lib/service-function.ts: ESM, minified, node24, everything bundled, the
 * createRequire banner, source maps), its size, and how long Node 24 takes
 * to import it: the module part of a cold start.
 */
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdir, readdir, readFile, stat, writeFile } from 'node:fs/promises';
import { basename, join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { gzipSync } from 'node:zlib';
import { build } from 'esbuild';
import { median, round } from './stats';

const PROJECT_ROOT = fileURLToPath(new URL('..', import.meta.url));
/** Folders of Lambda entry points: the outbox's own functions and the sample's handlers. */
const HANDLER_DIRS = [
  join(PROJECT_ROOT, 'lambdas', 'outbox', 'functions'),
  join(PROJECT_ROOT, 'lambdas', 'sample', 'handlers'),
];
/** Node 24 from the project (the Lambda runtime's major version); the running Node otherwise. */
export const NODE_24 = existsSync(join(PROJECT_ROOT, 'node_modules', '.bin', 'node'))
  ? join(PROJECT_ROOT, 'node_modules', '.bin', 'node')
  : process.execPath;

/** The banner `ServiceFunction` adds: bundled CommonJS dependencies still call `require`. */
const BANNER = "import { createRequire } from 'module';const require = createRequire(import.meta.url);";

/**
 * What the functions find in their environment in AWS, with dummy values:
 * handlers read it at import, as at a cold start. `--enable-source-maps` is
 * what `ServiceFunction` sets, and it makes Node read the map at import.
 */
const LAMBDA_ENV: Record<string, string> = {
  TABLE_NAME: 'outbox-bench',
  EVENT_BUS_NAME: 'outbox-bench-bus',
  POISON_QUEUE_URL: 'https://sqs.us-east-1.amazonaws.com/123456789012/outbox-bench-poison',
  EVENT_SOURCE: 'com.example.members',
  AWS_REGION: 'us-east-1',
  AWS_ACCESS_KEY_ID: 'bench',
  AWS_SECRET_ACCESS_KEY: 'bench',
  POWERTOOLS_SERVICE_NAME: 'bench',
  POWERTOOLS_METRICS_NAMESPACE: 'Outbox',
  POWERTOOLS_LOG_LEVEL: 'SILENT',
  NODE_OPTIONS: '--enable-source-maps',
};

/** Size and import time of one bundled handler. */
export interface BundleResult {
  readonly handler: string;
  /** Bytes of the minified bundle (index.mjs), without its source map. */
  readonly bytes: number;
  /** Bytes of the bundle gzipped: close to what the deployment zip adds. */
  readonly gzipBytes: number;
  readonly sourceMapBytes: number;
  /** Median milliseconds of `await import(bundle)` in a fresh Node process; absent when the import failed. */
  readonly importMs?: number;
  /** Why the import failed, when it did. */
  readonly importError?: string;
  readonly importRuns: readonly number[];
  /** The packages that weigh most in the bundle, by bytes of output (esbuild's metafile). */
  readonly topPackages: readonly { readonly name: string; readonly bytes: number }[];
}

/** `@scope/name` or `name` of a bundled input path; the project's own files are `(project)`. */
function packageOf(input: string): string {
  const match = /node_modules\/((?:@[^/]+\/)?[^/]+)/.exec(input.replace(/.*node_modules\//, 'node_modules/'));
  return match?.[1] ?? '(project)';
}

/**
 * Paths of the files that are Lambda entry points (they export `handler`), by name;
 * api-routes.ts is a table and env.ts a set-up, not entries.
 */
export async function handlerEntries(): Promise<Map<string, string>> {
  const entries = new Map<string, string>();
  for (const dir of HANDLER_DIRS) {
    const files = (await readdir(dir)).filter((file) => file.endsWith('.ts')).sort();
    for (const file of files) {
      const source = await readFile(join(dir, file), 'utf8');
      if (/export\s+(const|async\s+function|function)\s+handler\b/.test(source)) {
        entries.set(basename(file, '.ts'), join(dir, file));
      }
    }
  }
  return new Map([...entries].sort(([a], [b]) => a.localeCompare(b)));
}

const IMPORT_SCRIPT = [
  'const started = performance.now();',
  'await import(process.argv[2]);',
  'const ms = performance.now() - started;',
  'process.stdout.write(JSON.stringify({ ms }));',
].join('\n');

/** A value that passes the handlers' cold-start checks for a variable of this name. */
function dummyValue(name: string): string {
  if (name.endsWith('_URL'))
    return `https://sqs.us-east-1.amazonaws.com/123456789012/bench-${name.toLowerCase()}`;
  if (name.endsWith('_ADDRESS') || name.endsWith('_EMAIL')) return 'bench@example.com';
  if (name.endsWith('_ARN')) return `arn:aws:sqs:us-east-1:123456789012:bench-${name.toLowerCase()}`;
  if (/_(HOURS|SECONDS|MS|SIZE|COUNT|LIMIT)$/.test(name)) return '1';
  return `bench-${name.toLowerCase()}`;
}

/** The variable a handler's cold start asked for (`requireEnv` of lambdas/outbox/functions/env.ts or lambdas/sample/shared/env.ts), if that is why it failed. */
function missingVariable(stderr: string): string | undefined {
  return /environment variable ([A-Z][A-Z0-9_]*) (?:is required|must be)/.exec(stderr)?.[1];
}

/** Most variables added for one handler before giving up. */
const MAX_ADDED_VARIABLES = 10;

/**
 * Imports the bundle in a fresh Node 24 process and returns the milliseconds
 * the import took. A handler that needs a variable the dummy environment
 * lacks gets one more, named after what its cold start asked for, so a new
 * handler does not need a change here.
 */
function importOnce(script: string, bundle: string, env: Record<string, string>): number {
  for (let added = 0; ; added += 1) {
    const result = spawnSync(NODE_24, [script, pathToFileURL(bundle).href], {
      env: { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '', ...LAMBDA_ENV, ...env },
      encoding: 'utf8',
      timeout: 60_000,
    });
    if (result.status === 0) return (JSON.parse(result.stdout) as { ms: number }).ms;
    const missing = missingVariable(result.stderr);
    if (!missing || missing in env || added >= MAX_ADDED_VARIABLES) {
      throw new Error(`importing ${bundle} failed (exit ${result.status}): ${result.stderr.slice(-2000)}`);
    }
    env[missing] = dummyValue(missing);
  }
}

/** Bytes each package contributes to one output, largest first (esbuild's metafile). */
function topPackagesOf(inputs: Record<string, { bytesInOutput: number }>): { name: string; bytes: number }[] {
  const byPackage = new Map<string, number>();
  for (const [input, { bytesInOutput }] of Object.entries(inputs)) {
    byPackage.set(packageOf(input), (byPackage.get(packageOf(input)) ?? 0) + bytesInOutput);
  }
  return [...byPackage.entries()]
    .sort(([, a], [, b]) => b - a)
    .slice(0, 5)
    .map(([name, bytes]) => ({ name, bytes }));
}

/**
 * Bundles every handler into `workDir/<handler>/index.mjs` and measures
 * each; `runs` imports per bundle. One esbuild call builds every entry
 * (without code splitting, so each output is what its function deploys):
 * the shared dependencies are parsed once.
 */
export async function measureBundles(workDir: string, runs: number): Promise<BundleResult[]> {
  await mkdir(workDir, { recursive: true });
  const script = join(workDir, 'import-time.mjs');
  await writeFile(script, IMPORT_SCRIPT);
  const entries = await handlerEntries();
  const handlers = [...entries.keys()];
  const { metafile } = await build({
    entryPoints: Object.fromEntries(entries),
    outdir: workDir,
    entryNames: '[name]/index',
    outExtension: { '.js': '.mjs' },
    bundle: true,
    platform: 'node',
    format: 'esm',
    target: 'node24',
    mainFields: ['module', 'main'],
    banner: { js: BANNER },
    minify: true,
    sourcemap: true,
    sourcesContent: false,
    metafile: true,
    logLevel: 'silent',
  });
  const results: BundleResult[] = [];
  for (const handler of handlers) {
    const outfile = join(workDir, handler, 'index.mjs');
    const output = Object.entries(metafile.outputs).find(([path]) =>
      path.endsWith(`/${handler}/index.mjs`),
    )?.[1];
    const code = await readFile(outfile);
    const map = await stat(`${outfile}.map`);
    // Filled by the first import with whatever else the handler's cold start needs.
    const env: Record<string, string> = {};
    let importRuns: number[] = [];
    let importError: string | undefined;
    try {
      importRuns = Array.from({ length: runs }, () => round(importOnce(script, outfile, env), 1));
    } catch (error) {
      importError = error instanceof Error ? error.message : String(error);
    }
    results.push({
      handler,
      bytes: code.length,
      gzipBytes: gzipSync(code, { level: 9 }).length,
      sourceMapBytes: map.size,
      ...(importError === undefined ? { importMs: median(importRuns) } : { importError }),
      importRuns,
      topPackages: output ? topPackagesOf(output.inputs) : [],
    });
  }
  return results;
}
