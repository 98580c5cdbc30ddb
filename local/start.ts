/**
 * `npm start`: the system on this machine. The API serves on
 * http://127.0.0.1:3000 (PORT changes it), the outbox console on
 * http://127.0.0.1:3001 (CONSOLE_PORT), and every event that reaches the bus
 * is appended to .local/events.jsonl. The terminal shows one line per step
 * of each event; each function's JSON logs go to .local/logs/<function>.log
 * (`--verbose`, or LOG_LEVEL, shows them here too). .local/outbox.json
 * describes the running system to the operator CLI (`npx outbox stats
 * --local`) until it stops. Ctrl-C stops everything.
 */
import { resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { startLocalRuntime } from './runtime';
import { LOCAL_TARGET_FILE } from './target-file';
import { FunctionLogFiles, formatFlowLine, printable } from './terminal';

function portFrom(name: string, fallback: number): number {
  const raw = process.env[name];
  const port = raw === undefined || raw === '' ? fallback : Number(raw);
  if (!Number.isInteger(port) || port < 0 || port > 65_535) {
    console.error(`${name} must be a port number, got ${raw}`);
    process.exit(2);
  }
  return port;
}

let verbose = false;
try {
  verbose = parseArgs({ options: { verbose: { type: 'boolean', short: 'v' } } }).values.verbose === true;
} catch (error) {
  console.error(`${error instanceof Error ? error.message : String(error)}\nusage: npm start [-- --verbose]`);
  process.exit(2);
}
const logLevel = process.env.LOG_LEVEL?.trim() || undefined;
const echoLogs = verbose || logLevel !== undefined;

const port = portFrom('PORT', 3000);
const consolePort = portFrom('CONSOLE_PORT', 3001);
const localDir = resolve(import.meta.dirname, '..', '.local');
const eventsFile = resolve(localDir, 'events.jsonl');
const logsDir = resolve(localDir, 'logs');
const logFiles = new FunctionLogFiles(logsDir);

const runtime = await startLocalRuntime({
  port,
  eventsFile,
  targetFile: LOCAL_TARGET_FILE,
  console: { port: consolePort },
  ...(logLevel ? { functionLogLevel: logLevel.toUpperCase() } : {}),
  log: (line) => console.log(`[local] ${line}`),
  functionLog: (fn, line) => {
    logFiles.write(fn, line);
    if (echoLogs) console.log(`[${fn.handlerName}] ${printable(line)}`);
  },
});
logFiles.open(runtime.functions);
console.log(`
Outbox is running, on Node ${process.version}${
  process.versions.node.startsWith('24.') ? '' : ' (the project is built for Node 24: run npm run setup)'
}.
  API      ${runtime.apiUrl}
  console  ${runtime.consoleUrl}   (open it in a browser: the events as they flow)
  table    ${runtime.tableName} (DynamoDB Local ${runtime.dynamoDbEndpoint})
  bus      ${runtime.eventBusName} (moto ${runtime.motoEndpoint})
  events   ${eventsFile}
  logs     ${logsDir}/<function>.log${echoLogs ? ' (also shown here)' : ' (npm start -- --verbose shows them here)'}
  CLI      npx outbox stats --local   (reads ${LOCAL_TARGET_FILE})

Try:  curl -s -X POST ${runtime.apiUrl}/members -H 'content-type: application/json' -d '{"email":"ada@example.com","name":"Ada"}'
Press Ctrl-C to stop.
`);
runtime.feed.subscribe((entry) => console.log(formatFlowLine(entry)));

let stopping = false;
async function shutdown(signal: string): Promise<void> {
  if (stopping) return;
  stopping = true;
  console.log(`\n[local] ${signal}: stopping`);
  await runtime.stop();
  await logFiles.close();
  console.log('[local] stopped');
  process.exit(0);
}
process.on('SIGINT', () => void shutdown('SIGINT'));
process.on('SIGTERM', () => void shutdown('SIGTERM'));
