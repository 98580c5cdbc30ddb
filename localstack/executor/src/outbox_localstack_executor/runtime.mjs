/**
 * The Node.js side of the outbox process executor: loads one function's
 * handler from LAMBDA_TASK_ROOT, serves LocalStack's invocations on a loopback
 * port, and reports to LocalStack's executor endpoint
 * (LOCALSTACK_RUNTIME_ENDPOINT) the way LocalStack's own init does:
 * /status/<id>/ready (with the port) or /status/<id>/error once loaded, then
 * per invocation /invocations/<request id>/logs and .../response or .../error.
 *
 * Timeouts are enforced by the Python executor, which kills this process.
 */
import { existsSync } from 'node:fs';
import { createServer } from 'node:http';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';

const runtimeEndpoint = required('LOCALSTACK_RUNTIME_ENDPOINT');
const runtimeId = required('LOCALSTACK_RUNTIME_ID');
const taskRoot = required('LAMBDA_TASK_ROOT');
const handlerSetting = required('_HANDLER');
const timeoutMs = Number(process.env.AWS_LAMBDA_FUNCTION_TIMEOUT ?? '3') * 1000;

// LocalStack keeps stdin open while it runs; end-of-file means it is gone.
process.stdin.on('end', () => process.exit(0));
process.stdin.on('error', () => process.exit(0));
process.stdin.resume();

function required(name) {
  const value = process.env[name];
  if (!value) {
    console.error(`outbox runtime: ${name} is not set`);
    process.exit(2);
  }
  return value;
}

async function report(path, body, contentType = 'application/json') {
  const response = await fetch(`${runtimeEndpoint}${path}`, {
    method: 'POST',
    headers: { 'content-type': contentType },
    body,
  });
  await response.body?.cancel();
}

function errorPayload(error) {
  const failure = error instanceof Error ? error : new Error(String(error));
  return JSON.stringify({
    errorType: failure.name || 'Error',
    errorMessage: failure.message,
    stackTrace: (failure.stack ?? '')
      .split('\n')
      .slice(1)
      .map((line) => line.trim()),
  });
}

/** `index.handler` -> the file index.mjs (or .js, .cjs) in the task root and its export `handler`. */
function resolveHandler(setting) {
  const dot = setting.lastIndexOf('.');
  if (dot <= 0) throw new Error(`handler ${setting} is not <module>.<export>`);
  const module = setting.slice(0, dot);
  const exportName = setting.slice(dot + 1);
  for (const extension of ['.mjs', '.js', '.cjs']) {
    const file = join(taskRoot, `${module}${extension}`);
    if (existsSync(file)) return { file, exportName };
  }
  throw new Error(`no ${module}.mjs, .js or .cjs in ${taskRoot}`);
}

// What the function prints during an invocation is also sent as that invocation's logs.
let captured = null;
for (const stream of [process.stdout, process.stderr]) {
  const write = stream.write.bind(stream);
  stream.write = (chunk, ...rest) => {
    if (captured !== null) captured.push(typeof chunk === 'string' ? chunk : Buffer.from(chunk).toString());
    return write(chunk, ...rest);
  };
}

async function invoke(request) {
  const requestId = request['invoke-id'];
  const started = Date.now();
  const context = {
    awsRequestId: requestId,
    invokedFunctionArn: request['invoked-function-arn'],
    functionName: process.env.AWS_LAMBDA_FUNCTION_NAME,
    functionVersion: process.env.AWS_LAMBDA_FUNCTION_VERSION,
    memoryLimitInMB: process.env.AWS_LAMBDA_FUNCTION_MEMORY_SIZE,
    logGroupName: process.env.AWS_LAMBDA_LOG_GROUP_NAME,
    logStreamName: process.env.AWS_LAMBDA_LOG_STREAM_NAME,
    callbackWaitsForEmptyEventLoop: true,
    getRemainingTimeInMillis: () => Math.max(0, started + timeoutMs - Date.now()),
    done: () => undefined,
    fail: () => undefined,
    succeed: () => undefined,
  };
  // Lambda sets the trace header per invocation; the X-Ray SDK reads it from the environment.
  if (request['trace-id']) process.env._X_AMZN_TRACE_ID = request['trace-id'];
  captured = [];
  let outcome;
  try {
    const event = request.payload ? JSON.parse(request.payload) : {};
    const result = await handler(event, context);
    outcome = { path: 'response', body: JSON.stringify(result === undefined ? null : result) };
  } catch (error) {
    console.error(`${new Date().toISOString()}\t${requestId}\tERROR\tInvoke Error\t${errorPayload(error)}`);
    outcome = { path: 'error', body: errorPayload(error) };
  }
  const logs = captured.join('');
  captured = null;
  await report(`/invocations/${requestId}/logs`, JSON.stringify({ logs }));
  await report(`/invocations/${requestId}/${outcome.path}`, outcome.body);
}

let handler;
try {
  const { file, exportName } = resolveHandler(handlerSetting);
  const module = await import(pathToFileURL(file).href);
  handler = module[exportName];
  if (typeof handler !== 'function') throw new Error(`${file} does not export a function ${exportName}`);
} catch (error) {
  console.error(`outbox runtime: cannot load ${handlerSetting}: ${error?.stack ?? error}`);
  await report(`/status/${runtimeId}/error`, errorPayload(error)).catch(() => undefined);
  process.exit(1);
}

const server = createServer((incoming, outgoing) => {
  if (incoming.method !== 'POST' || incoming.url !== '/invoke') {
    outgoing.writeHead(404).end();
    return;
  }
  const chunks = [];
  incoming.on('data', (chunk) => chunks.push(chunk));
  incoming.on('end', () => {
    let request;
    try {
      request = JSON.parse(Buffer.concat(chunks).toString('utf8'));
    } catch {
      outgoing.writeHead(400).end();
      return;
    }
    // Accepted at once; the result goes to LocalStack's endpoint when the handler is done.
    outgoing.writeHead(202).end();
    invoke(request).catch((error) => {
      console.error(`outbox runtime: reporting invocation ${request['invoke-id']} failed: ${error}`);
      process.exit(1);
    });
  });
});
server.listen(0, '127.0.0.1', () => {
  const { port } = server.address();
  report(`/status/${runtimeId}/ready`, JSON.stringify({ port })).catch((error) => {
    console.error(`outbox runtime: reporting ready failed: ${error}`);
    process.exit(1);
  });
});
