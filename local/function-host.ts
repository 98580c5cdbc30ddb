/**
 * One Lambda execution environment per function, locally: a worker thread
 * with the function's own `process.env` (the variables its stack definition
 * gives it, plus what Lambda itself sets), its own module graph, so the
 * module-scope objects of a handler (clients, Powertools logger and metrics)
 * are the function's alone, and its own stdout and stderr, handed on line by
 * line (its JSON log lines) to the caller.
 *
 * Why worker threads: the handlers read their environment at import, as at a
 * cold start, and Powertools builds its objects at module scope. In one
 * shared process every handler would see the last environment set and share
 * one logger (another function's name, `service_undefined`). A worker is
 * what a Lambda environment is for these modules (a fresh module graph and
 * environment), at a fraction of a child process's start-up time and memory.
 *
 * Like Lambda, the environment starts on the first invocation (a cold start),
 * a handler that does not answer before the deadline is stopped with its
 * environment, and an environment whose init failed or that crashed is
 * replaced at the next invocation.
 */
import { createInterface } from 'node:readline';
import { Worker } from 'node:worker_threads';
import type { Context } from 'aws-lambda';
import type {
  HostToWorker,
  SerializedContext,
  SerializedError,
  WorkerData,
  WorkerToHost,
} from './function-protocol';
import type { LocalFunctionDefinition } from './resources';

/** Base class of the local function host's errors. */
export class LocalFunctionError extends Error {
  override readonly name: string = 'LocalFunctionError';
}

/** The handler module failed to load (Lambda's init error). */
export class FunctionInitError extends LocalFunctionError {
  override readonly name = 'FunctionInitError';
}

/** The handler threw or rejected; `errorType` is the name of what it threw. */
export class FunctionInvocationError extends LocalFunctionError {
  override readonly name = 'FunctionInvocationError';
  constructor(
    readonly functionName: string,
    readonly errorType: string,
    message: string,
    readonly remoteStack?: string,
  ) {
    super(`${functionName}: ${errorType}: ${message}`);
  }
}

/** The handler did not answer before the function's timeout; its environment was stopped. */
export class FunctionTimeoutError extends LocalFunctionError {
  override readonly name = 'FunctionTimeoutError';
}

/** The environment stopped (the runtime is shutting down, or the worker crashed). */
export class FunctionStoppedError extends LocalFunctionError {
  override readonly name = 'FunctionStoppedError';
}

/** Options of {@link LocalFunction}. */
export interface LocalFunctionOptions {
  readonly definition: LocalFunctionDefinition;
  /** The function's whole environment: nothing of the host's process.env leaks in. */
  readonly environment: Readonly<Record<string, string>>;
  /** Each line the function writes to stdout or stderr. */
  readonly onLine?: (line: string) => void;
}

interface PendingInvocation {
  readonly resolve: (value: unknown) => void;
  readonly reject: (error: Error) => void;
  readonly timer: NodeJS.Timeout;
}

const WORKER_ENTRY = new URL('./function-worker.mjs', import.meta.url);
/** The repository root: a function's entry file (`handlerFile`) is relative to it. */
const PROJECT_ROOT = new URL('../', import.meta.url);
/** Past the deadline, how long the host still waits for an answer already on its way. */
const DEADLINE_GRACE_MS = 250;

/** A function of the template, run in its own worker thread. */
export class LocalFunction {
  readonly definition: LocalFunctionDefinition;
  private readonly environment: Readonly<Record<string, string>>;
  private readonly onLine: (line: string) => void;
  private worker: Worker | undefined;
  private starting: Promise<Worker> | undefined;
  private readonly pending = new Map<number, PendingInvocation>();
  private nextId = 1;
  private stopped = false;
  private starts = 0;

  constructor(options: LocalFunctionOptions) {
    this.definition = options.definition;
    this.environment = options.environment;
    this.onLine = options.onLine ?? (() => undefined);
  }

  /** How many environments were started so far (cold starts). */
  get coldStarts(): number {
    return this.starts;
  }

  /** Invokes the handler with `event`; resolves to its result, rejects with a {@link LocalFunctionError}. */
  async invoke(event: unknown, context: Context): Promise<unknown> {
    // Lambda runs the init phase on its own time: the timeout counts from when the handler is invoked,
    // so a slow cold start (tens of seconds on a loaded machine) does not use it up.
    const remaining = context.getRemainingTimeInMillis();
    const worker = await this.start();
    const id = this.nextId++;
    const serialized: SerializedContext = {
      functionName: context.functionName,
      functionVersion: context.functionVersion,
      invokedFunctionArn: context.invokedFunctionArn,
      memoryLimitInMB: context.memoryLimitInMB,
      awsRequestId: context.awsRequestId,
      logGroupName: context.logGroupName,
      logStreamName: context.logStreamName,
      deadline: Date.now() + remaining,
    };
    return new Promise<unknown>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.pending.delete(id);
        reject(
          new FunctionTimeoutError(
            `${this.definition.functionName} timed out after ${Math.round(remaining / 1000)} s`,
          ),
        );
        // Lambda stops an environment whose invocation timed out; the next one starts cold.
        this.discard(worker);
      }, remaining + DEADLINE_GRACE_MS);
      this.pending.set(id, { resolve, reject, timer });
      const message: HostToWorker = { type: 'invoke', id, event, context: serialized };
      worker.postMessage(message);
    });
  }

  /** Stops the environment; invocations in flight reject with {@link FunctionStoppedError}. Idempotent. */
  async stop(): Promise<void> {
    this.stopped = true;
    const worker = this.worker ?? (await this.starting?.catch(() => undefined));
    this.failPending(new FunctionStoppedError(`${this.definition.functionName} was stopped`));
    this.worker = undefined;
    this.starting = undefined;
    await worker?.terminate();
  }

  private start(): Promise<Worker> {
    if (this.stopped) {
      return Promise.reject(new FunctionStoppedError(`${this.definition.functionName} was stopped`));
    }
    if (this.worker) return Promise.resolve(this.worker);
    this.starting ??= this.spawn().finally(() => {
      this.starting = undefined;
    });
    return this.starting;
  }

  private spawn(): Promise<Worker> {
    this.starts += 1;
    const workerData: WorkerData = {
      handlerFile: new URL(this.definition.handlerFile, PROJECT_ROOT).href,
    };
    const worker = new Worker(WORKER_ENTRY, {
      workerData,
      env: { ...this.environment },
      stdout: true,
      stderr: true,
      // The worker entry registers tsx itself; the host's loader flags (vitest's, tsx's) stay out.
      execArgv: [],
      name: this.definition.functionName,
    });
    for (const stream of [worker.stdout, worker.stderr]) {
      createInterface({ input: stream, crlfDelay: Number.POSITIVE_INFINITY }).on('line', (line) =>
        this.onLine(line),
      );
    }
    return new Promise<Worker>((resolve, reject) => {
      let ready = false;
      worker.on('message', (message: WorkerToHost) => {
        switch (message.type) {
          case 'ready':
            ready = true;
            this.worker = worker;
            resolve(worker);
            return;
          case 'init-error':
            reject(new FunctionInitError(`${this.definition.functionName}: ${describe(message.error)}`));
            return;
          case 'result':
          case 'error':
            this.settle(message);
        }
      });
      worker.on('error', (error) => {
        if (!ready) reject(new FunctionInitError(`${this.definition.functionName}: ${error.message}`));
        this.onLine(
          `local runtime: ${this.definition.functionName} crashed: ${error.stack ?? error.message}`,
        );
        this.discard(worker, error);
      });
      worker.on('exit', (code) => {
        if (!ready) reject(new FunctionInitError(`${this.definition.functionName} exited with code ${code}`));
        this.discard(worker);
      });
    });
  }

  private settle(message: Extract<WorkerToHost, { type: 'result' | 'error' }>): void {
    const pending = this.pending.get(message.id);
    if (!pending) return;
    this.pending.delete(message.id);
    clearTimeout(pending.timer);
    if (message.type === 'result') pending.resolve(message.result);
    else {
      pending.reject(
        new FunctionInvocationError(
          this.definition.functionName,
          message.error.name,
          message.error.message,
          message.error.stack,
        ),
      );
    }
  }

  /** Forgets a worker that crashed, exited or timed out; what it was running fails. */
  private discard(worker: Worker, cause?: Error): void {
    if (this.worker !== worker) return;
    this.worker = undefined;
    this.failPending(
      new FunctionStoppedError(`${this.definition.functionName}: its environment stopped`, { cause }),
    );
    void worker.terminate();
  }

  private failPending(error: Error): void {
    for (const [id, pending] of this.pending) {
      clearTimeout(pending.timer);
      pending.reject(error);
      this.pending.delete(id);
    }
  }
}

function describe(error: SerializedError): string {
  return `${error.name}: ${error.message}`;
}
