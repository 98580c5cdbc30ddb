/**
 * Child processes for the local servers: spawn, wait until ready by polling
 * with a deadline, stop cleanly. A server child never outlives its parent.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { once } from 'node:events';
import { setTimeout as delay } from 'node:timers/promises';

/** How to start a server process and tell when it serves. */
export interface ManagedProcessOptions {
  /** Name in messages, e.g. `DynamoDB Local`. */
  readonly name: string;
  /** Executable; looked up on PATH when not a path. */
  readonly command: string;
  readonly args: readonly string[];
  /** @default the current directory */
  readonly cwd?: string;
  /** @default the parent's environment */
  readonly env?: NodeJS.ProcessEnv;
  /** Resolves true once the server answers; a rejection counts as not yet. */
  readonly isReady: () => Promise<boolean>;
  /** Give up waiting for readiness after this long. @default 60_000 */
  readonly readyTimeoutMs?: number;
  /** Pause between readiness checks. @default 100 */
  readonly pollIntervalMs?: number;
  /** Time between SIGTERM and SIGKILL when stopping. @default 5_000 */
  readonly stopTimeoutMs?: number;
}

/** A running server process. */
export interface ManagedProcess {
  readonly pid: number;
  /** Stops the process (SIGTERM, then SIGKILL after the deadline) and resolves once it exited. Idempotent. */
  stop(): Promise<void>;
}

/** A server process failed to start or did not become ready in time; `output` is the tail of what it printed. */
export class ProcessStartError extends Error {
  override readonly name = 'ProcessStartError';
  /** Whether the process exited by itself before it was ready (a port race, a bad argument). */
  readonly exitedEarly: boolean;
  readonly output: string;

  constructor(message: string, details: { exitedEarly: boolean; output: string; cause?: unknown }) {
    super(details.output ? `${message}\n--- last output ---\n${details.output}` : message, {
      cause: details.cause,
    });
    this.exitedEarly = details.exitedEarly;
    this.output = details.output;
  }
}

/** The last few kilobytes of a child's stdout and stderr, for error messages. */
class OutputTail {
  private text = '';
  constructor(private readonly limit = 8_192) {}
  append(chunk: Buffer | string): void {
    this.text = (this.text + chunk.toString()).slice(-this.limit);
  }
  toString(): string {
    return this.text.trim();
  }
}

function hasExited(child: ChildProcess): boolean {
  return child.exitCode !== null || child.signalCode !== null;
}

/**
 * Waits for the child to exit, at most `timeoutMs`; true when it did. Never
 * rejects: the `exit` event is the only thing awaited.
 */
async function waitForExit(child: ChildProcess, exited: Promise<void>, timeoutMs: number): Promise<boolean> {
  if (hasExited(child)) return true;
  const controller = new AbortController();
  const timedOut = delay(timeoutMs, false, { signal: controller.signal }).catch(() => false);
  const result = await Promise.race([exited.then(() => true), timedOut]);
  controller.abort();
  return result;
}

/**
 * Starts a server process and resolves once `isReady` says it serves.
 *
 * Its stdin is a pipe that stays open for the parent's lifetime: a child that
 * watches for end-of-file (the DynamoDB Local and moto launchers do) exits
 * even when the parent is killed with SIGKILL. A `process.on('exit')` hook
 * covers ordinary exits of the parent, including `process.exit()`.
 */
export async function startManagedProcess(options: ManagedProcessOptions): Promise<ManagedProcess> {
  const readyTimeoutMs = options.readyTimeoutMs ?? 60_000;
  const stopTimeoutMs = options.stopTimeoutMs ?? 5_000;
  const pollIntervalMs = options.pollIntervalMs ?? 100;
  const tail = new OutputTail();

  const child = spawn(options.command, [...options.args], {
    cwd: options.cwd,
    env: options.env ?? process.env,
    stdio: ['pipe', 'pipe', 'pipe'],
  });
  // Read both streams continuously: a full pipe would block the server.
  child.stdout?.on('data', (chunk: Buffer) => tail.append(chunk));
  child.stderr?.on('data', (chunk: Buffer) => tail.append(chunk));
  // The parent never writes; EPIPE after the child exits is expected.
  child.stdin?.on('error', () => undefined);

  let spawnError: Error | undefined;
  const exited = new Promise<void>((resolveExit) => {
    child.once('exit', () => resolveExit());
    child.once('error', (error) => {
      spawnError = error;
      resolveExit();
    });
  });
  const killOnParentExit = () => {
    if (!hasExited(child)) child.kill('SIGKILL');
  };
  process.on('exit', killOnParentExit);
  void exited.then(() => process.off('exit', killOnParentExit));

  let stopping: Promise<void> | undefined;
  const stop = (): Promise<void> => {
    stopping ??= (async () => {
      if (hasExited(child) || spawnError) return;
      child.kill('SIGTERM');
      if (await waitForExit(child, exited, stopTimeoutMs)) return;
      child.kill('SIGKILL');
      // SIGKILL cannot be ignored; the wait only bounds a zombie that is never reaped.
      await waitForExit(child, exited, stopTimeoutMs);
    })();
    return stopping;
  };

  // `spawn` reports a missing executable asynchronously, on the next ticks.
  await Promise.race([once(child, 'spawn').catch(() => undefined), exited]);
  if (spawnError || child.pid === undefined) {
    throw new ProcessStartError(`${options.name}: cannot run ${options.command}`, {
      exitedEarly: true,
      output: tail.toString(),
      cause: spawnError,
    });
  }
  const pid = child.pid;

  const deadline = Date.now() + readyTimeoutMs;
  for (;;) {
    if (hasExited(child)) {
      throw new ProcessStartError(
        `${options.name} exited before it was ready (code ${child.exitCode ?? child.signalCode})`,
        { exitedEarly: true, output: tail.toString() },
      );
    }
    if (await options.isReady().catch(() => false)) return { pid, stop };
    if (Date.now() > deadline) {
      await stop();
      throw new ProcessStartError(`${options.name} was not ready within ${readyTimeoutMs} ms`, {
        exitedEarly: false,
        output: tail.toString(),
      });
    }
    await delay(pollIntervalMs);
  }
}
