/**
 * The local API fuzzed by schemathesis, an independent tool, driven by the
 * committed OpenAPI document (docs/events/openapi.json): examples, coverage
 * and fuzzing of each operation with valid and invalid input, then stateful
 * sequences along the document's links (create a member, read, update and
 * withdraw it, place and cancel its orders). Its checks: no 5xx, and every
 * status code, content type, header and body as the document declares them
 * (each 4xx and 5xx is declared as problem+json), 405 with `Allow` for the
 * methods a path does not take.
 *
 * Around every handler a wrapper snapshots the table: a request answered
 * 4xx must leave it as it was, and must be problem+json. One worker, so no
 * two requests overlap and a change belongs to the request that made it.
 * (The fuzz test beside it, api-fuzz.test.ts, sends what no schema
 * describes: odd methods, raw paths, broken bodies.)
 *
 * Bounded: at most SCHEMATHESIS_MAX_EXAMPLES cases per operation and
 * SCHEMATHESIS_MAX_SECONDS for the whole run. Reproduce a failure with the
 * seed schemathesis prints: SCHEMATHESIS_SEED=<seed>; SCHEMATHESIS_OUTPUT=<file>
 * keeps its whole output, which a failure prints.
 */
import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { type DynamoDBDocumentClient, ScanCommand } from '@aws-sdk/lib-dynamodb';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { OPENAPI_DOCUMENT_PATH } from '../../contracts/openapi';
import { createDocumentClient } from '../../lambdas/sample/shared/clients';
import { type ApiHandler, type LocalApi, loadHandler, startLocalApi } from '../../local/http-server';
import { createTestTable } from '../helpers/local-env';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const SCHEMATHESIS = join(ROOT, '.venv/bin/schemathesis');
const MAX_EXAMPLES = Number(process.env.SCHEMATHESIS_MAX_EXAMPLES ?? 40);
const MAX_SECONDS = Number(process.env.SCHEMATHESIS_MAX_SECONDS ?? 80);
/** Every check but those that assume REST semantics the API does not have (see below). */
const CHECKS = [
  'not_a_server_error',
  'status_code_conformance',
  'content_type_conformance',
  'response_headers_conformance',
  'response_schema_conformance',
  'unsupported_method',
  'allow_header_conformance',
  'missing_required_header',
];

let api: LocalApi;
let tableName: string;
let db: DynamoDBDocumentClient;
/** What the handlers answered, and every 4xx that changed the table or was not problem+json. */
const seen = { requests: 0, refused: 0, accepted: 0 };
const violations: string[] = [];

/** A digest of every item in the table: equal digests, no write happened. */
async function tableDigest(): Promise<string> {
  const lines: string[] = [];
  let startKey: Record<string, unknown> | undefined;
  do {
    const page = await db.send(
      new ScanCommand({ TableName: tableName, ConsistentRead: true, ExclusiveStartKey: startKey }),
    );
    for (const item of page.Items ?? []) {
      lines.push(
        JSON.stringify(item, (_key, value: unknown) =>
          value instanceof Set ? [...value].map(String).sort() : value,
        ),
      );
    }
    startKey = page.LastEvaluatedKey;
  } while (startKey);
  return createHash('sha256').update(lines.sort().join('\n')).digest('hex');
}

/**
 * The table's digest after the last request. Requests never overlap (one
 * worker) and nothing else writes to this file's table, so it is also the
 * digest before the next one: one scan a request instead of two.
 */
let lastDigest = '';

/** The handler with a snapshot of the table after each request, compared with the one before when it refused. */
function watched(name: string, handler: ApiHandler): ApiHandler {
  return async (event, context) => {
    const result = await handler(event, context);
    const status = result.statusCode ?? 200;
    const before = lastDigest;
    lastDigest = await tableDigest();
    seen.requests += 1;
    const where = `${name}: ${event.requestContext.http.method} ${event.rawPath} -> ${status}`;
    if (status >= 400 && status < 500) {
      seen.refused += 1;
      if (lastDigest !== before) violations.push(`${where} changed the table`);
      const contentType = Object.entries(result.headers ?? {}).find(
        ([header]) => header.toLowerCase() === 'content-type',
      )?.[1];
      if (contentType !== 'application/problem+json')
        violations.push(`${where} answered ${String(contentType)}, not problem+json`);
    } else if (status < 400) {
      seen.accepted += 1;
    }
    return result;
  };
}

interface Run {
  readonly code: number;
  readonly output: string;
}

function schemathesis(args: string[], cwd: string): Promise<Run> {
  return new Promise((resolve) => {
    execFile(
      SCHEMATHESIS,
      args,
      {
        cwd,
        // The run bounds itself (--max-time); this only stops a hung process.
        timeout: (MAX_SECONDS + 60) * 1000,
        maxBuffer: 64 * 1024 * 1024,
        env: { ...process.env, NO_COLOR: '1', SCHEMATHESIS_TELEMETRY: 'false', COLUMNS: '160' },
      },
      (error, stdout, stderr) => {
        const code = error ? (typeof error.code === 'number' ? error.code : -1) : 0;
        resolve({ code, output: `${stdout}${stderr}` });
      },
    );
  });
}

beforeAll(async () => {
  const table = await createTestTable('api-schemathesis');
  tableName = table.tableName;
  db = createDocumentClient(new DynamoDBClient({ endpoint: table.endpoint }));
  process.env.TABLE_NAME = tableName;
  process.env.DYNAMODB_ENDPOINT = table.endpoint;
  lastDigest = await tableDigest();
  api = await startLocalApi({
    handlerFor: async (route) => watched(route.routeKey, await loadHandler(route)),
  });
});

afterAll(async () => {
  await api?.stop();
});

describe('API under schemathesis', () => {
  it(
    'conforms to its OpenAPI document, never answers 5xx, and writes nothing it refuses',
    async () => {
      expect(existsSync(SCHEMATHESIS), `${SCHEMATHESIS} is missing: run npm run setup`).toBe(true);
      const work = mkdtempSync(join(tmpdir(), 'schemathesis-'));
      const seed = process.env.SCHEMATHESIS_SEED;
      const started = Date.now();

      const run = await schemathesis(
        [
          '--config-file',
          join(ROOT, 'test/integration/schemathesis.toml'),
          'run',
          join(ROOT, OPENAPI_DOCUMENT_PATH),
          '--url',
          api.url,
          '--workers',
          '1',
          '--max-examples',
          String(MAX_EXAMPLES),
          '--max-time',
          String(MAX_SECONDS),
          '--checks',
          CHECKS.join(','),
          '--request-timeout',
          '10',
          '--generation-database',
          'none',
          '--suppress-health-check',
          'all',
          '--no-color',
          ...(seed ? ['--seed', seed] : []),
        ],
        work,
      );
      rmSync(work, { recursive: true, force: true });

      const summary =
        `schemathesis exited ${run.code} after ${Math.round((Date.now() - started) / 1000)} s; the handlers ` +
        `answered ${seen.requests} requests (${seen.accepted} accepted, ${seen.refused} refused); ` +
        `refusals that wrote or were not problem+json: ${violations.length === 0 ? 'none' : violations.join('; ')}` +
        `\n${run.output}`;
      if (process.env.SCHEMATHESIS_OUTPUT) writeFileSync(process.env.SCHEMATHESIS_OUTPUT, summary);
      expect({ exitCode: run.code, violations }, summary).toEqual({ exitCode: 0, violations: [] });
      // The run reached both sides: refusals, and writes that succeeded and were chained on.
      expect(seen.refused, summary).toBeGreaterThan(0);
      expect(seen.accepted, summary).toBeGreaterThan(0);
      expect(run.output, summary).toMatch(/Stateful/i);
    },
    (MAX_SECONDS + 120) * 1000,
  );
});
