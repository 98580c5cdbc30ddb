/**
 * `npm start`: the system on this machine. The API serves on
 * http://127.0.0.1:3000 (PORT changes it) and every event that reaches the
 * bus is appended to .local/events.jsonl. .local/outbox.json describes the
 * running system to the operator CLI (`npx outbox stats --local`) until it
 * stops. Ctrl-C stops everything.
 */
import { resolve } from 'node:path';
import { startLocalRuntime } from './runtime';
import { LOCAL_TARGET_FILE } from './target-file';

const port = Number(process.env.PORT ?? 3000);
if (!Number.isInteger(port) || port < 0 || port > 65_535) {
  console.error(`PORT must be a port number, got ${process.env.PORT}`);
  process.exit(2);
}
const eventsFile = resolve(import.meta.dirname, '..', '.local', 'events.jsonl');

const runtime = await startLocalRuntime({
  port,
  eventsFile,
  targetFile: LOCAL_TARGET_FILE,
  log: (line) => console.log(`[local] ${line}`),
});
console.log(`
Outbox is running.
  API     ${runtime.apiUrl}
  table   ${runtime.tableName} (DynamoDB Local ${runtime.dynamoDbEndpoint})
  bus     ${runtime.eventBusName} (moto ${runtime.motoEndpoint})
  events  ${eventsFile}
  CLI     npx outbox stats --local   (reads ${LOCAL_TARGET_FILE})

Try:  curl -s -X POST ${runtime.apiUrl}/members -H 'content-type: application/json' -d '{"email":"ada@example.com","name":"Ada"}'
Press Ctrl-C to stop.`);

let stopping = false;
async function shutdown(signal: string): Promise<void> {
  if (stopping) return;
  stopping = true;
  console.log(`\n[local] ${signal}: stopping`);
  await runtime.stop();
  console.log('[local] stopped');
  process.exit(0);
}
process.on('SIGINT', () => void shutdown('SIGINT'));
process.on('SIGTERM', () => void shutdown('SIGTERM'));
