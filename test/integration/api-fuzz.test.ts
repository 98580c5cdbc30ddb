/**
 * The API under random requests: odd methods, malicious paths and ids,
 * header variants, and bodies from random JSON to near-valid mutations,
 * invalid JSON, oversize and deeply nested junk, number literals at and past
 * what the service and DynamoDB hold, paths with a trailing slash. Whatever
 * arrives, the API never answers 5xx, every 4xx is problem+json whose
 * `status` matches the HTTP status, no refused request changes the table, a
 * path with a trailing slash is 404 (as API Gateway HTTP API routes it), a
 * 405 never allows the method it refuses, and an order line whose number is
 * not exactly a valid quantity or price is 400 naming it.
 *
 * Reproduce a failure with the seed fast-check prints: FUZZ_SEED=<seed>.
 */
import { createHash } from 'node:crypto';
import { request as httpRequest } from 'node:http';
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { type DynamoDBDocumentClient, ScanCommand } from '@aws-sdk/lib-dynamodb';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createDocumentClient } from '../../lambdas/sample/shared/clients';
import { type LocalApi, requestUrl, startLocalApi } from '../../local/http-server';
import { createTestTable } from '../helpers/local-env';

/** Runs per property; fixed, so the test's duration is too. */
const RUNS = 300;
const MAX_BODY_BYTES = 16 * 1024;

let api: LocalApi;
let tableName: string;
let db: DynamoDBDocumentClient;
/** Ids that exist when the fuzzing starts, so valid routes meet real items too. */
const known = { members: [] as string[], orders: [] as string[] };

interface FuzzRequest {
  readonly method: string;
  readonly path: string;
  readonly headers: Readonly<Record<string, string>>;
  readonly body?: string | Uint8Array;
  /** Set for an order body whose line carries this number literal: the field, and whether it is valid there. */
  readonly number?: { readonly field: string; readonly valid: boolean };
}

interface FuzzReply {
  readonly status: number;
  readonly contentType: string | undefined;
  readonly allow: string | undefined;
  readonly text: string;
}

/** Sends with node:http, which (unlike fetch) allows any method token and raw paths. */
function send(fuzz: FuzzRequest): Promise<FuzzReply> {
  const url = new URL(api.url);
  return new Promise((resolve, reject) => {
    const outgoing = httpRequest(
      {
        host: url.hostname,
        port: url.port,
        method: fuzz.method,
        path: fuzz.path,
        // An explicit length frames the body for every method; node:http would send a GET body unframed.
        headers:
          fuzz.body === undefined
            ? fuzz.headers
            : { ...fuzz.headers, 'content-length': String(Buffer.byteLength(fuzz.body)) },
        agent: false,
      },
      (response) => {
        const chunks: Buffer[] = [];
        response.on('data', (chunk: Buffer) => chunks.push(chunk));
        response.on('end', () =>
          resolve({
            status: response.statusCode ?? 0,
            contentType: response.headers['content-type'],
            allow: typeof response.headers.allow === 'string' ? response.headers.allow : undefined,
            text: Buffer.concat(chunks).toString('utf8'),
          }),
        );
        response.on('error', reject);
      },
    );
    outgoing.on('error', reject);
    outgoing.end(fuzz.body);
  });
}

/** A digest of every item in the table: equal digests, no write happened. */
async function tableDigest(): Promise<string> {
  const items: Record<string, unknown>[] = [];
  let startKey: Record<string, unknown> | undefined;
  do {
    const page = await db.send(
      new ScanCommand({ TableName: tableName, ConsistentRead: true, ExclusiveStartKey: startKey }),
    );
    items.push(...(page.Items ?? []));
    startKey = page.LastEvaluatedKey;
  } while (startKey);
  const text = items
    .map((item) =>
      JSON.stringify(item, (_key, value: unknown) =>
        // String sets come back as Set, which JSON.stringify would turn into {}.
        value instanceof Set ? [...value].map(String).sort() : value,
      ),
    )
    .sort()
    .join('\n');
  return createHash('sha256').update(text).digest('hex');
}

async function seed(method: string, path: string, body: unknown): Promise<Record<string, unknown>> {
  const reply = await send({
    method,
    path,
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify(body),
  });
  expect(reply.status).toBe(201);
  return JSON.parse(reply.text) as Record<string, unknown>;
}

beforeAll(async () => {
  const table = await createTestTable('api-fuzz');
  tableName = table.tableName;
  db = createDocumentClient(new DynamoDBClient({ endpoint: table.endpoint }));
  process.env.TABLE_NAME = tableName;
  process.env.DYNAMODB_ENDPOINT = table.endpoint;
  api = await startLocalApi();
  for (const name of ['Fuzz One', 'Fuzz Two', 'Fuzz Three']) {
    const member = await seed('POST', '/members', { email: 'fuzz@example.com', name });
    known.members.push(String(member.id));
  }
  for (let index = 0; index < 2; index++) {
    const order = await seed('POST', '/orders', {
      memberId: known.members[0],
      items: [{ sku: 'BOOK-1', quantity: 1, unitPrice: 9.99 }],
    });
    known.orders.push(String(order.id));
  }
});

afterAll(async () => {
  await api?.stop();
});

// --- arbitraries -----------------------------------------------------------

/** Percent-encodes the UTF-8 bytes of anything (lone surrogates included; encodeURIComponent would throw). */
function percentEncode(text: string): string {
  return [...Buffer.from(text, 'utf8')]
    .map((byte) =>
      /[A-Za-z0-9\-._~]/.test(String.fromCharCode(byte))
        ? String.fromCharCode(byte)
        : `%${byte.toString(16).toUpperCase().padStart(2, '0')}`,
    )
    .join('');
}

const methods = fc.constantFrom(
  'GET',
  'POST',
  'PUT',
  'PATCH',
  'DELETE',
  'HEAD',
  'OPTIONS',
  'TRACE',
  'PURGE',
  'PROPFIND',
  'LOCK',
  'QUERY',
  'SEARCH',
  'COPY',
  'MOVE',
  'LINK',
  'MKCOL',
  'REPORT',
  'M-SEARCH',
);

const validId = fc.stringMatching(/^[0-9A-HJKMNP-TV-Z]{26}$/);

/** Raw id text: existing, valid-looking, near-valid and malicious. */
function ids(): fc.Arbitrary<string> {
  return fc.oneof(
    { weight: 3, arbitrary: fc.constantFrom(...known.members, ...known.orders) },
    { weight: 2, arbitrary: validId },
    validId.map((id) => id.toLowerCase()),
    validId.map((id) => id.slice(0, 25)),
    validId.map((id) => `${id}0`),
    fc.constantFrom(
      'MEMBER#01ARZ3NDEKTSV4RRFFQ69G5FAV',
      'ORDER#X',
      'IDEMPOTENCY#abc',
      '#',
      '%23',
      '..',
      '.',
      '../orders',
      '..%2F..%2FMEMBER%2301ARZ3NDEKTSV4RRFFQ69G5FAV',
      '%',
      '%zz',
      '%E0%A4%A',
      '%00',
      'ü',
      '😀',
      '\u0000',
      ' ',
      '',
      'null',
      'undefined',
      '__proto__',
      'constructor',
      'A'.repeat(5000),
    ),
    fc.string({ unit: 'binary', maxLength: 40 }),
  );
}

/** Percent signs that do not start a valid escape (`%`, `%z`, `%zz`, `%E0%A4%A`...), sent as they are. */
const malformedEscapes = fc
  .tuple(
    fc.stringMatching(/^[0-9A-Z]{0,4}$/),
    fc.constantFrom('%', '%z', '%zz', '%G0', '%0', '%E0%A4%A', '%C3', '%FF%FE', '%%', '%u0041'),
    fc.stringMatching(/^[0-9A-Z]{0,4}$/),
  )
  .map(([before, broken, after]) => `${before}${broken}${after}`);

/** How an id lands in the path: raw where the HTTP client allows it, encoded, or encoded twice. */
function segments(): fc.Arbitrary<string> {
  const encodedIds = fc.tuple(ids(), fc.constantFrom('raw', 'encoded', 'double')).map(([id, mode]) => {
    if (mode === 'encoded') return percentEncode(id);
    if (mode === 'double') return percentEncode(percentEncode(id));
    // A request target is visible ASCII (RFC 9112); anything else is refused by the HTTP parser, before any API code.
    return /^[\x21-\x7e]*$/.test(id) ? id : percentEncode(id);
  });
  return fc.oneof({ weight: 4, arbitrary: encodedIds }, { weight: 1, arbitrary: malformedEscapes });
}

function paths(): fc.Arbitrary<string> {
  const segment = segments();
  const path = fc.oneof(
    fc.constantFrom(
      '/members',
      '/members/',
      '/orders',
      '/orders/',
      '/',
      '//members',
      '/MEMBERS',
      '/members/..',
      '/members/../orders',
      '/%2e%2e/members',
      '/members#fragment',
      '*',
    ),
    segment.map((id) => `/members/${id}`),
    segment.map((id) => `/members/${id}/`),
    segment.map((id) => `/orders/${id}/cancel`),
    segment.map((id) => `/orders/${id}/cancel/`),
    segment.map((id) => `/orders/${id}/`),
    segment.map((id) => `/orders/${id}`),
    segment.map((id) => `/orders/${id}/cancel/extra`),
    fc.tuple(segment, segment).map(([a, b]) => `/members/${a}/${b}`),
    fc.array(segment, { maxLength: 4 }).map((parts) => `/${parts.join('/')}`),
  );
  const query = fc.oneof(
    { weight: 4, arbitrary: fc.constant('') },
    fc.string({ maxLength: 20 }).map((text) => `?${percentEncode(text)}`),
    fc.constantFrom('?', '?id=MEMBER%23X', '?a=1&a=2', '?%zz'),
  );
  return fc.tuple(path, query).map(([base, search]) => `${base}${search}`);
}

/** Header values node:http can send: tab and bytes 0x20-0xff except DEL. */
const headerText = fc.string({
  unit: fc
    .integer({ min: 0x20, max: 0xff })
    .filter((code) => code !== 0x7f)
    .map((code) => String.fromCharCode(code)),
  maxLength: 300,
});

const contentTypes = fc.constantFrom(
  'application/json',
  'application/json; charset=utf-8',
  'APPLICATION/JSON',
  'application/json;charset=UTF-8',
  'application/json; charset=latin1',
  'application/problem+json',
  'application/merge-patch+json',
  'application/jsonx',
  'application/x-www-form-urlencoded',
  'multipart/form-data; boundary=x',
  'application/octet-stream',
  'text/plain',
  'text/json',
  'image/png',
  'json',
  ';',
  '',
);

const headers = fc.record(
  {
    'content-type': fc.oneof(contentTypes, headerText),
    'idempotency-key': fc.oneof(
      fc.stringMatching(/^[\x21-\x7e]{1,40}$/),
      headerText,
      fc.constant('x'.repeat(300)),
    ),
    'if-match': fc.oneof(
      fc.constantFrom(
        '"1"',
        '1',
        'W/"1"',
        '*',
        '"0"',
        '0',
        '"999999999999"',
        '"1234567890123"',
        '"abc"',
        '""',
        '"1", "2"',
      ),
      fc.nat({ max: 20 }).map((version) => `"${version}"`),
      headerText,
    ),
    'x-correlation-id': headerText,
    'x-amzn-trace-id': headerText,
    'content-encoding': fc.constantFrom('gzip', 'identity', 'br'),
  },
  { requiredKeys: [] },
);

/** A JSON value for a field's wrong type, or junk. */
const junkValue = fc.oneof(
  fc.jsonValue({ maxDepth: 3 }),
  fc.constantFrom(
    '',
    ' ',
    '   \t',
    'ü'.repeat(300),
    'x'.repeat(20_000),
    -1,
    0,
    1.5,
    1e308,
    -0,
    10_001,
    1_000_001,
    0.001,
    1e-200,
    1e-9,
    12.340000001,
    1e200,
    -1e-200,
  ),
);

/**
 * Number literals as sent on the wire, with whether each is a valid quantity
 * and a valid unit price: exact decimals, exponents, literals a double cannot
 * hold (12.3400000000000000001 would become 12.34), and numbers outside
 * DynamoDB's range (1e-200 underflows it).
 */
const NUMBER_LITERALS: readonly { literal: string; quantity: boolean; price: boolean }[] = [
  { literal: '1', quantity: true, price: true },
  { literal: '10000', quantity: true, price: true },
  { literal: '1E4', quantity: true, price: true },
  { literal: '2.0', quantity: true, price: true },
  { literal: '12.34', quantity: false, price: true },
  { literal: '12.340', quantity: false, price: true },
  { literal: '0.10', quantity: false, price: true },
  { literal: '999999.99', quantity: false, price: true },
  { literal: '1000000', quantity: false, price: true },
  { literal: '0', quantity: false, price: true },
  { literal: '1234e-2', quantity: false, price: true },
  { literal: '12.340000001', quantity: false, price: false },
  { literal: '12.3400000000000000001', quantity: false, price: false },
  { literal: '1.0000000000000001', quantity: false, price: false },
  { literal: '1e-9', quantity: false, price: false },
  { literal: '1e-200', quantity: false, price: false },
  { literal: '1e-131', quantity: false, price: false },
  { literal: '1e126', quantity: false, price: false },
  { literal: '1e400', quantity: false, price: false },
  { literal: '-1e-200', quantity: false, price: false },
  { literal: '0.001', quantity: false, price: false },
  { literal: '1.000000000000000000000000000000000000001', quantity: false, price: false },
  { literal: '10000.5', quantity: false, price: true },
  { literal: '-0.01', quantity: false, price: false },
];

/** An order body for a known member with one number literal in its line, raw, and what it must do. */
function numberBodies(): fc.Arbitrary<{ body: string; number: { field: string; valid: boolean } }> {
  return fc
    .tuple(fc.constantFrom(...known.members), fc.constantFrom(...NUMBER_LITERALS), fc.boolean())
    .map(([memberId, { literal, quantity, price }, inQuantity]) => ({
      body: inQuantity
        ? `{"memberId":"${memberId}","items":[{"sku":"A","quantity":${literal},"unitPrice":1}]}`
        : `{"memberId":"${memberId}","items":[{"sku":"A","quantity":1,"unitPrice":${literal}}]}`,
      number: inQuantity
        ? { field: 'items.0.quantity', valid: quantity }
        : { field: 'items.0.unitPrice', valid: price },
    }));
}

/** The valid body of each route that takes one. */
type BodyKind = 'register' | 'update' | 'order' | 'cancel';

function validBodies(kind?: BodyKind): fc.Arbitrary<Record<string, unknown>> {
  const all: Record<BodyKind, fc.Arbitrary<Record<string, unknown>>> = {
    register: fc
      .tuple(fc.stringMatching(/^[a-z]{1,12}$/), fc.string({ minLength: 1, maxLength: 40 }))
      .map(([local, name]) => ({ email: `${local}@example.com`, name: name.trim() === '' ? 'Fuzz' : name })),
    update: fc.constantFrom<Record<string, unknown>>(
      { name: 'Renamed' },
      { email: 'renamed@example.com' },
      { name: 'Both', email: 'both@example.com' },
    ),
    order: fc.constantFrom(...known.members).map((memberId) => ({
      memberId,
      items: [{ sku: 'BOOK-1', quantity: 2, unitPrice: 12.5 }],
    })),
    cancel: fc.constant({}),
  };
  return kind ? all[kind] : fc.oneof(...Object.values(all));
}

/** Valid bodies (of `kind`, or of any route), then one mutation; `keep` leaves them valid. */
function nearValidBodies(kind?: BodyKind): fc.Arbitrary<string> {
  const bases = validBodies(kind);
  const mutation = fc.record({
    op: fc.oneof(
      { weight: 3, arbitrary: fc.constant('keep') },
      { weight: 5, arbitrary: fc.constantFrom('drop', 'retype', 'unknown', 'item', 'items') },
    ),
    pick: fc.nat(),
    key: fc.oneof(fc.constantFrom('__proto__', 'constructor', 'pk', 'sk', 'version', 'status'), fc.string()),
    value: junkValue,
    count: fc.constantFrom(0, 50, 51, 200),
  });
  return fc.tuple(bases, mutation).map(([base, { op, pick, key, value, count }]) => {
    const entries = Object.entries(base);
    const field = entries[pick % Math.max(1, entries.length)]?.[0];
    let body: Record<string, unknown> = { ...base };
    if (op === 'drop' && field) body = Object.fromEntries(entries.filter(([name]) => name !== field));
    if (op === 'retype' && field) body = { ...base, [field]: value };
    // fromEntries makes `__proto__` an own property, as JSON.parse on the server will.
    if (op === 'unknown') body = Object.fromEntries([...entries, [key, value]]);
    if (op === 'item') {
      const line = { sku: 'BOOK-1', quantity: 1, unitPrice: 1 } as Record<string, unknown>;
      const lineField = Object.keys(line)[pick % 3] ?? 'sku';
      body = { ...base, items: [Object.fromEntries([...Object.entries(line), [lineField, value]])] };
    }
    if (op === 'items') {
      body = {
        ...base,
        items: Array.from({ length: count }, () => ({ sku: 'A', quantity: 1, unitPrice: 1 })),
      };
    }
    return JSON.stringify(body);
  });
}

function bodies(): fc.Arbitrary<string | Uint8Array | undefined> {
  return fc.oneof(
    { weight: 2, arbitrary: fc.constant(undefined) },
    { weight: 4, arbitrary: nearValidBodies() },
    fc.jsonValue({ maxDepth: 4 }).map((value) => JSON.stringify(value)),
    fc.string({ unit: 'binary', maxLength: 200 }),
    fc.constantFrom(
      '{',
      '{"email":',
      '{"email":"a@b.co",}',
      "{'name':'x'}",
      'null',
      'true',
      '[]',
      '""',
      '{}',
      ' ',
      'NaN',
    ),
    nearValidBodies().map((text) => text.slice(0, Math.max(1, Math.floor(text.length / 2)))),
    fc
      .integer({ min: MAX_BODY_BYTES - 64, max: MAX_BODY_BYTES * 4 })
      .map((length) => JSON.stringify({ email: 'big@example.com', name: 'x'.repeat(length) })),
    fc.integer({ min: 1, max: 8000 }).map((depth) => `${'['.repeat(depth)}${']'.repeat(depth)}`),
    fc.integer({ min: 1, max: 3000 }).map((depth) => `${'{"a":'.repeat(depth)}1${'}'.repeat(depth)}`),
    fc.uint8Array({ maxLength: 256 }),
  );
}

/**
 * Requests aimed at a real route: the right method, a known id, a JSON
 * content type, near-valid bodies. Without them, almost every request would
 * stop at the first check and the deeper paths would go untested.
 */
function routedRequests(): fc.Arbitrary<FuzzRequest> {
  // Mostly ids that exist; sometimes any id segment, so key validation is met on every route.
  const member = fc.oneof({ weight: 2, arbitrary: fc.constantFrom(...known.members) }, segments());
  const order = fc.oneof({ weight: 2, arbitrary: fc.constantFrom(...known.orders) }, segments());
  const routeHeaders = fc.record(
    {
      'idempotency-key': fc.stringMatching(/^[\x21-\x7e]{1,40}$/),
      'if-match': fc.integer({ min: 1, max: 4 }).map((version) => `"${version}"`),
    },
    { requiredKeys: [] },
  );
  const route = (method: string, path: fc.Arbitrary<string>, kind?: BodyKind) =>
    fc
      .tuple(path, fc.option(nearValidBodies(kind), { freq: kind ? 6 : 2, nil: undefined }))
      .map(([target, body]) => ({ method, path: target, ...(body === undefined ? {} : { body }) }));
  // Now and then with a trailing slash, which no route matches.
  const slash = fc.constantFrom('', '', '', '', '/');
  const memberPath = fc.tuple(member, slash).map(([id, end]) => `/members/${id}${end}`);
  const cancelPath = fc.tuple(order, slash).map(([id, end]) => `/orders/${id}/cancel${end}`);
  const routes = fc.oneof(
    { weight: 3, arbitrary: route('POST', fc.constant('/members'), 'register') },
    { weight: 1, arbitrary: route('GET', memberPath) },
    { weight: 3, arbitrary: route('PATCH', memberPath, 'update') },
    { weight: 2, arbitrary: route('POST', fc.constant('/orders'), 'order') },
    {
      weight: 2,
      arbitrary: numberBodies().map(({ body, number }) => ({
        method: 'POST',
        path: '/orders',
        body,
        number,
      })),
    },
    { weight: 1, arbitrary: route('POST', cancelPath, 'cancel') },
    // Rare: a withdrawal changes what the other routes meet.
    { weight: 1, arbitrary: route('DELETE', memberPath) },
  );
  return fc.tuple(routes, routeHeaders).map(([request, extra]) => ({
    ...request,
    headers: { 'content-type': 'application/json', ...extra },
  }));
}

function requests(): fc.Arbitrary<FuzzRequest> {
  return fc.oneof(
    { weight: 2, arbitrary: fc.record({ method: methods, path: paths(), headers, body: bodies() }) },
    { weight: 1, arbitrary: routedRequests() },
  );
}

// --- property --------------------------------------------------------------

function describeRequest(fuzz: FuzzRequest): string {
  const body =
    fuzz.body === undefined
      ? 'no body'
      : typeof fuzz.body === 'string'
        ? `body ${JSON.stringify(fuzz.body.slice(0, 200))}${fuzz.body.length > 200 ? `... (${fuzz.body.length} chars)` : ''}`
        : `binary body (${fuzz.body.length} bytes)`;
  return `${fuzz.method} ${fuzz.path.slice(0, 200)} ${JSON.stringify(fuzz.headers)} ${body}`;
}

describe('API under random requests', () => {
  it('never answers 5xx, answers every 4xx with matching problem+json, and writes nothing it refuses', async () => {
    const seedFromEnv = process.env.FUZZ_SEED === undefined ? undefined : Number(process.env.FUZZ_SEED);
    let refused = 0;
    let accepted = 0;

    await fc.assert(
      fc.asyncProperty(requests(), async (fuzz) => {
        const before = await tableDigest();

        const reply = await send(fuzz);

        const where = describeRequest(fuzz);
        expect(reply.status, `5xx for ${where}: ${reply.text.slice(0, 300)}`).toBeLessThan(500);
        // The local server routes on the pathname as it parses it; so does this check
        // (resolved against a base, `//` would throw and `//members` would name a host).
        const pathname = requestUrl(fuzz.path).pathname;
        if (pathname.length > 1 && pathname.endsWith('/')) {
          expect(reply.status, `trailing slash for ${where}`).toBe(404);
        }
        if (reply.status === 405) {
          const allowed = (reply.allow ?? '').split(',').map((method) => method.trim());
          expect(allowed, `405 that allows its own method for ${where}`).not.toContain(fuzz.method);
        }
        if (fuzz.number && !fuzz.number.valid) {
          expect(reply.status, `invalid number for ${where}`).toBe(400);
          const fields = (JSON.parse(reply.text) as { errors?: { field: string }[] }).errors ?? [];
          expect(
            fields.map((issue) => issue.field),
            `errors for ${where}`,
          ).toContain(fuzz.number.field);
        }
        if (reply.status >= 400) {
          refused += 1;
          expect(reply.contentType, `content type of ${reply.status} for ${where}`).toBe(
            'application/problem+json',
          );
          // A HEAD answer has no body on the wire.
          if (fuzz.method !== 'HEAD') {
            const problem = JSON.parse(reply.text) as { status?: unknown; detail?: unknown };
            expect(problem.status, `problem status for ${where}`).toBe(reply.status);
            expect(typeof problem.detail, `problem detail for ${where}`).toBe('string');
          }
          expect(await tableDigest(), `a refused request (${reply.status}) wrote: ${where}`).toBe(before);
        } else {
          accepted += 1;
          if (fuzz.method !== 'HEAD')
            expect(() => JSON.parse(reply.text), `JSON body for ${where}`).not.toThrow();
        }
      }),
      { numRuns: RUNS, ...(seedFromEnv === undefined ? {} : { seed: seedFromEnv }) },
    );

    // The fuzzing reached both sides: the property is not only about refusals.
    expect(refused).toBeGreaterThan(RUNS / 2);
    expect(accepted).toBeGreaterThan(0);
  }, 180_000);
});
