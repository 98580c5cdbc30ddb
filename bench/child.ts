/**
 * Runs one part of the benchmark in a fresh process, so the environment
 * and the handler modules it loads do not leak into the other parts.
 * Usage (from bench/run.ts): `node --import tsx bench/child.ts <part> <input.json> <output.json>`.
 */

import { spawn } from 'node:child_process';
import { readFile, writeFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';

/** The parts that run in a child process. */
export type ChildPart = 'write-path' | 'end-to-end';

const PROJECT_ROOT = fileURLToPath(new URL('..', import.meta.url));
const SELF = fileURLToPath(import.meta.url);

/** Thrown when a child part fails; carries the tail of what it printed. */
export class ChildPartError extends Error {
  override readonly name = 'ChildPartError';
}

async function runPart(part: string, input: unknown): Promise<unknown> {
  if (part === 'write-path') {
    const { measureWritePath } = await import('./write-path');
    return measureWritePath(input as Parameters<typeof measureWritePath>[0]);
  }
  if (part === 'end-to-end') {
    const { measureEndToEnd } = await import('./end-to-end');
    return measureEndToEnd(input as Parameters<typeof measureEndToEnd>[0]);
  }
  throw new ChildPartError(`unknown part ${part}`);
}

/**
 * Runs `part` in a child Node process (the same Node binary, with tsx) and
 * resolves with its result. The child is killed after `timeoutMs`.
 */
export async function runInChild<T>(
  part: ChildPart,
  input: object,
  files: { readonly input: string; readonly output: string },
  timeoutMs: number,
): Promise<T> {
  await writeFile(files.input, JSON.stringify(input));
  const child = spawn(process.execPath, ['--import', 'tsx', SELF, part, files.input, files.output], {
    cwd: PROJECT_ROOT,
    env: {
      ...process.env,
      AWS_REGION: 'us-east-1',
      AWS_ACCESS_KEY_ID: 'test',
      AWS_SECRET_ACCESS_KEY: 'test',
      POWERTOOLS_LOG_LEVEL: 'SILENT',
      POWERTOOLS_METRICS_DISABLED: 'true',
      POWERTOOLS_TRACE_ENABLED: 'false',
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let tail = '';
  const keep = (chunk: Buffer) => {
    tail = (tail + chunk.toString()).slice(-4000);
  };
  child.stdout.on('data', keep);
  child.stderr.on('data', keep);
  const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
  const code = await new Promise<number | null>((resolve) => {
    child.once('exit', (exitCode) => resolve(exitCode));
    child.once('error', () => resolve(null));
  });
  clearTimeout(timer);
  if (code !== 0) {
    throw new ChildPartError(`${part} failed (exit ${code ?? 'killed'}):\n${tail.trim()}`);
  }
  return JSON.parse(await readFile(files.output, 'utf8')) as T;
}

const [, entry, part, inputFile, outputFile] = process.argv;
if (entry === SELF && part && inputFile && outputFile) {
  const input: unknown = JSON.parse(await readFile(inputFile, 'utf8'));
  const result = await runPart(part, input);
  await writeFile(outputFile, JSON.stringify(result));
  // The SDK's sockets and the runtime's timers may keep the loop alive a while; the result is written.
  process.exit(0);
}
