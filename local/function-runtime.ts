/**
 * The inside of one local Lambda execution environment (a worker thread
 * started by function-host.ts): imports the function's handler module once,
 * as a cold start does, with the function's own environment (the worker's
 * `process.env`), then runs each invocation the host sends and answers with
 * its result or error. Everything the handler writes to stdout and stderr
 * goes to the host, which keeps it in the function's log file.
 */
import { parentPort, workerData } from 'node:worker_threads';
import type { Context } from 'aws-lambda';
import type {
  HostToWorker,
  SerializedContext,
  SerializedError,
  WorkerData,
  WorkerToHost,
} from './function-protocol';

type Handler = (event: unknown, context: Context) => Promise<unknown>;

const port = parentPort;
if (!port) throw new Error('function-runtime.ts runs only as a worker thread of the local runtime');
const { handlerFile } = workerData as WorkerData;

function post(message: WorkerToHost): void {
  port?.postMessage(message);
}

function serializeError(error: unknown): SerializedError {
  if (error instanceof Error) {
    return { name: error.name, message: error.message, ...(error.stack ? { stack: error.stack } : {}) };
  }
  return { name: 'Error', message: String(error) };
}

function toContext(serialized: SerializedContext): Context {
  return {
    callbackWaitsForEmptyEventLoop: true,
    functionName: serialized.functionName,
    functionVersion: serialized.functionVersion,
    invokedFunctionArn: serialized.invokedFunctionArn,
    memoryLimitInMB: serialized.memoryLimitInMB,
    awsRequestId: serialized.awsRequestId,
    logGroupName: serialized.logGroupName,
    logStreamName: serialized.logStreamName,
    getRemainingTimeInMillis: () => Math.max(0, serialized.deadline - Date.now()),
    done: () => undefined,
    fail: () => undefined,
    succeed: () => undefined,
  };
}

let handler: Handler;
try {
  const module = (await import(handlerFile)) as { handler?: unknown };
  if (typeof module.handler !== 'function') throw new TypeError(`${handlerFile} exports no handler function`);
  handler = module.handler as Handler;
} catch (error) {
  // As a failed Lambda init: the host reports it and answers every invocation with it.
  post({ type: 'init-error', error: serializeError(error) });
  throw error;
}

port.on('message', (message: HostToWorker) => {
  if (message.type !== 'invoke') return;
  handler(message.event, toContext(message.context)).then(
    (result) => post({ type: 'result', id: message.id, result }),
    (error: unknown) => post({ type: 'error', id: message.id, error: serializeError(error) }),
  );
});
post({ type: 'ready' });
