/**
 * The sample HTTP API as an OpenAPI 3.1 document, built from the schemas the
 * handlers use: the request schemas of lambdas/sample/domain/schemas.ts (what
 * `HttpRequest.json` validates), the response schemas of
 * lambdas/sample/domain/responses.ts (what `jsonOf` types), and the routes of
 * lambdas/sample/handlers/api-routes.ts (what the CDK API and the local server
 * route). `npm run contracts` writes it to docs/events/openapi.json;
 * test/unit/contracts/openapi.test.ts fails when the committed file differs
 * from what this builds, and test/integration/api-schemathesis.test.ts
 * fuzzes the local API with it.
 */
import { writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { z } from 'zod';
import {
  fieldIssueSchema,
  gatewayErrorSchema,
  memberResponseSchema,
  orderLineResponseSchema,
  orderResponseSchema,
  problemSchema,
} from '../lambdas/sample/domain/responses';
import {
  cancelOrderSchema,
  placeOrderSchema,
  registerMemberSchema,
  updateProfileSchema,
} from '../lambdas/sample/domain/schemas';
import { API_ROUTES } from '../lambdas/sample/handlers/api-routes';
import { MAX_BODY_BYTES } from '../lambdas/sample/shared/http';

/** Where the document is committed, relative to the repository root. */
export const OPENAPI_DOCUMENT_PATH = 'docs/events/openapi.json';

/** An OpenAPI document, as plain JSON. */
export type OpenApiDocument = Record<string, unknown>;

type Json = Record<string, unknown>;

const schemaRef = (name: string): Json => ({ $ref: `#/components/schemas/${name}` });
const ref = (kind: 'parameters' | 'headers' | 'responses', name: string): Json => ({
  $ref: `#/components/${kind}/${name}`,
});

/** Named schemas converted by zod, each with the document's references to the others. */
function componentSchemas(): Record<string, unknown> {
  const uri = (id: string) => `#/components/schemas/${id}`;
  const requests = z.registry<{ id: string }>();
  requests.add(registerMemberSchema, { id: 'RegisterMember' });
  requests.add(updateProfileSchema, { id: 'UpdateProfile' });
  requests.add(placeOrderSchema, { id: 'PlaceOrder' });
  requests.add(cancelOrderSchema, { id: 'CancelOrder' });
  const responses = z.registry<{ id: string }>();
  responses.add(memberResponseSchema, { id: 'Member' });
  responses.add(orderResponseSchema, { id: 'Order' });
  responses.add(orderLineResponseSchema, { id: 'OrderLine' });
  responses.add(problemSchema, { id: 'Problem' });
  responses.add(fieldIssueSchema, { id: 'FieldIssue' });
  responses.add(gatewayErrorSchema, { id: 'GatewayError' });
  // Requests as the handlers accept them (before defaults and transforms), answers as they are sent.
  const converted = {
    ...z.toJSONSchema(requests, { target: 'draft-2020-12', io: 'input', uri }).schemas,
    ...z.toJSONSchema(responses, { target: 'draft-2020-12', io: 'output', uri }).schemas,
  };
  const schemas: Record<string, unknown> = {};
  for (const name of Object.keys(converted).sort()) {
    // The document is the schemas' resource: no dialect or id of their own.
    const { $schema: _dialect, $id: _id, ...schema } = converted[name] as Json;
    schemas[name] = schema;
  }
  return schemas;
}

const PROBLEM = 'application/problem+json';

/** A problem+json answer; `gateway` when API Gateway itself may answer the status before any function runs. */
function problemResponse(description: string, options: { headers?: string[]; gateway?: string } = {}): Json {
  return {
    description,
    ...(options.headers
      ? { headers: Object.fromEntries(options.headers.map((name) => [name, ref('headers', name)])) }
      : {}),
    content: {
      [PROBLEM]: { schema: schemaRef('Problem') },
      ...(options.gateway ? { 'application/json': { schema: schemaRef('GatewayError') } } : {}),
    },
  };
}

function componentResponses(): Json {
  return {
    BadRequest: problemResponse(
      'The request is malformed: a path id that is not a ULID, an invalid body (`errors` names each field), ' +
        'a malformed `If-Match` or `Idempotency-Key`. Nothing is written.',
    ),
    NotFound: problemResponse(
      'No such resource. The same answer, from the `$default` route, for a path no route matches ' +
        '(a trailing slash makes another path). Nothing is written.',
    ),
    MethodNotAllowed: problemResponse(
      'A known path with a method it does not take, from the `$default` route; `Allow` lists the methods it takes.',
      { headers: ['Allow'] },
    ),
    Conflict: problemResponse(
      'The request conflicts with the resource (withdrawn member, cancelled order, open-order limit, ' +
        'a concurrent change, or a request with the same `Idempotency-Key` still in progress). Nothing is written.',
    ),
    PreconditionFailed: problemResponse(
      '`If-Match` names another version than the current one, which `ETag` carries. Nothing is written.',
      { headers: ['ETag'] },
    ),
    ContentTooLarge: problemResponse(
      `The body exceeds ${MAX_BODY_BYTES} bytes (problem+json from the function), or API Gateway's 10 MB ` +
        'payload limit (`{"message"}` from the gateway, before any function runs). Nothing is written.',
      { gateway: 'payload limit' },
    ),
    UnsupportedMediaType: problemResponse('A body that is not `application/json`. Nothing is written.'),
    UnprocessableContent: problemResponse(
      'The `Idempotency-Key` was used for another request, or the result would exceed a storage limit. ' +
        'Nothing is written.',
    ),
    PreconditionRequired: problemResponse('No `If-Match`: an update must name the version it read.'),
    TooManyRequests: problemResponse(
      'The member holds the most stored answers for `Idempotency-Key`s; retry after `Retry-After` seconds, ' +
        'or send the update without a key. Nothing is written.',
      { headers: ['Retry-After'] },
    ),
    InternalServerError: problemResponse(
      'An unexpected fault, with no detail of it (problem+json from the function, `{"message"}` when API ' +
        'Gateway reports a function that failed).',
      { gateway: 'function failed' },
    ),
    ServiceUnavailable: problemResponse(
      'DynamoDB is throttling, or the write is still in progress; retry after `Retry-After` seconds, with the ' +
        'same `Idempotency-Key` to learn the first outcome.',
      { headers: ['Retry-After'] },
    ),
  };
}

function componentHeaders(): Json {
  return {
    ETag: {
      description: 'The version of the resource, quoted: send it back as `If-Match`.',
      required: true,
      schema: { type: 'string', pattern: '^"[1-9][0-9]*"$' },
    },
    Location: {
      description: 'The path of the resource created.',
      required: true,
      schema: { type: 'string' },
    },
    'Idempotent-Replayed': {
      description: '`true` when the answer is the stored first answer to this `Idempotency-Key`.',
      schema: { type: 'string', const: 'true' },
    },
    'Retry-After': {
      description: 'Seconds to wait before retrying.',
      required: true,
      schema: { type: 'string', pattern: '^[0-9]+$' },
    },
    Allow: {
      description: 'The methods the path takes.',
      required: true,
      schema: { type: 'string' },
    },
  };
}

function componentParameters(): Json {
  const id = { type: 'string', pattern: '^[0-9A-HJKMNP-TV-Z]{26}$' };
  return {
    MemberId: {
      name: 'id',
      in: 'path',
      required: true,
      description: "The member's id (a ULID).",
      schema: id,
    },
    OrderId: { name: 'id', in: 'path', required: true, description: "The order's id (a ULID).", schema: id },
    IfMatch: {
      name: 'If-Match',
      in: 'header',
      required: true,
      description: 'The version last read, as its `ETag` (`"3"`) or bare (`3`); missing is 428.',
      schema: { type: 'string', pattern: '^\\s*(?:W/)?(?:"[1-9][0-9]{0,11}"|[1-9][0-9]{0,11})\\s*$' },
    },
    IdempotencyKey: {
      name: 'Idempotency-Key',
      in: 'header',
      required: false,
      description:
        'Makes the request safe to repeat for 24 hours: a repeat gets the first answer and writes nothing; ' +
        'the same key with another request is 422.',
      schema: { type: 'string', pattern: '^[\\x21-\\x7e]{1,255}$' },
    },
  };
}

/** A success answer with a resource body, its headers and the links a client (or a fuzzer) may follow. */
function resourceResponse(
  description: string,
  schema: 'Member' | 'Order',
  headers: string[],
  links: Record<string, Json>,
): Json {
  return {
    description,
    headers: Object.fromEntries(
      [...headers, 'Idempotent-Replayed'].map((name) => [name, ref('headers', name)]),
    ),
    content: { 'application/json': { schema: schemaRef(schema) } },
    links,
  };
}

/** Links from an answer carrying a member to what a client can do with it next. */
function memberLinks(options: { placeOrder: boolean }): Record<string, Json> {
  const id = '$response.body#/id';
  return {
    GetMember: { operationId: 'getMember', parameters: { 'path.id': id } },
    UpdateMember: {
      operationId: 'updateMember',
      parameters: { 'path.id': id, 'header.If-Match': '$response.header.ETag' },
    },
    WithdrawMember: { operationId: 'withdrawMember', parameters: { 'path.id': id } },
    ...(options.placeOrder
      ? {
          PlaceOrder: {
            operationId: 'placeOrder',
            description: 'An order for this member: the other fields as the schema allows.',
            requestBody: { memberId: id },
          },
        }
      : {}),
  };
}

const problems = (...names: string[]): Json =>
  Object.fromEntries(names.map((name) => [STATUS_OF[name], ref('responses', name)]));

const STATUS_OF: Record<string, string> = {
  BadRequest: '400',
  NotFound: '404',
  Conflict: '409',
  PreconditionFailed: '412',
  ContentTooLarge: '413',
  UnsupportedMediaType: '415',
  UnprocessableContent: '422',
  PreconditionRequired: '428',
  TooManyRequests: '429',
  InternalServerError: '500',
  ServiceUnavailable: '503',
};

/** What every command (a write through `runCommand`) can answer besides its own errors. */
const COMMAND_PROBLEMS = [
  'BadRequest',
  'Conflict',
  'ContentTooLarge',
  'UnprocessableContent',
  'InternalServerError',
  'ServiceUnavailable',
];

const jsonBody = (schema: string, required = true): Json => ({
  required,
  content: { 'application/json': { schema: schemaRef(schema) } },
});

/** Each route's operation, keyed by its route key in lambdas/sample/handlers/api-routes.ts. */
function operations(): Record<string, Json> {
  return {
    'POST /members': {
      operationId: 'createMember',
      summary: 'Register a member',
      description: 'Emits `MemberRegistered`.',
      tags: ['members'],
      parameters: [ref('parameters', 'IdempotencyKey')],
      requestBody: jsonBody('RegisterMember'),
      responses: {
        '201': resourceResponse(
          'The member registered.',
          'Member',
          ['ETag', 'Location'],
          memberLinks({ placeOrder: true }),
        ),
        ...problems(...COMMAND_PROBLEMS, 'UnsupportedMediaType'),
      },
    },
    'GET /members/{id}': {
      operationId: 'getMember',
      summary: 'Read a member',
      tags: ['members'],
      parameters: [ref('parameters', 'MemberId')],
      responses: {
        '200': resourceResponse('The member.', 'Member', ['ETag'], memberLinks({ placeOrder: true })),
        ...problems('BadRequest', 'NotFound', 'InternalServerError'),
      },
    },
    'PATCH /members/{id}': {
      operationId: 'updateMember',
      summary: "Update a member's profile",
      description: 'Emits `MemberProfileUpdated`.',
      tags: ['members'],
      parameters: [
        ref('parameters', 'MemberId'),
        ref('parameters', 'IfMatch'),
        ref('parameters', 'IdempotencyKey'),
      ],
      requestBody: jsonBody('UpdateProfile'),
      responses: {
        '200': resourceResponse(
          'The member updated.',
          'Member',
          ['ETag'],
          memberLinks({ placeOrder: false }),
        ),
        ...problems(
          ...COMMAND_PROBLEMS,
          'NotFound',
          'PreconditionFailed',
          'UnsupportedMediaType',
          'PreconditionRequired',
          'TooManyRequests',
        ),
      },
    },
    'DELETE /members/{id}': {
      operationId: 'withdrawMember',
      summary: 'Withdraw a member',
      description:
        'Erases `email` and `name` and cancels every open order in one transaction; emits `MemberWithdrawn` ' +
        'and one `OrderCancelled` per order. A member with more than 48 open orders is 409.',
      tags: ['members'],
      parameters: [ref('parameters', 'MemberId'), ref('parameters', 'IdempotencyKey')],
      responses: {
        '200': resourceResponse('The member withdrawn.', 'Member', ['ETag'], {
          GetMember: { operationId: 'getMember', parameters: { 'path.id': '$response.body#/id' } },
        }),
        ...problems(...COMMAND_PROBLEMS, 'NotFound'),
      },
    },
    'POST /orders': {
      operationId: 'placeOrder',
      summary: 'Place an order',
      description: 'For an active member below its open-order limit; emits `OrderPlaced`.',
      tags: ['orders'],
      parameters: [ref('parameters', 'IdempotencyKey')],
      requestBody: jsonBody('PlaceOrder'),
      responses: {
        '201': resourceResponse('The order placed.', 'Order', ['ETag', 'Location'], {
          CancelOrder: { operationId: 'cancelOrder', parameters: { 'path.id': '$response.body#/id' } },
          GetMember: { operationId: 'getMember', parameters: { 'path.id': '$response.body#/memberId' } },
          WithdrawMember: {
            operationId: 'withdrawMember',
            parameters: { 'path.id': '$response.body#/memberId' },
          },
        }),
        ...problems(...COMMAND_PROBLEMS, 'UnsupportedMediaType'),
      },
    },
    'POST /orders/{id}/cancel': {
      operationId: 'cancelOrder',
      summary: 'Cancel an order',
      description: 'Emits `OrderCancelled`. The body may be empty.',
      tags: ['orders'],
      parameters: [ref('parameters', 'OrderId'), ref('parameters', 'IdempotencyKey')],
      requestBody: jsonBody('CancelOrder', false),
      responses: {
        '200': resourceResponse('The order cancelled.', 'Order', ['ETag'], {
          GetMember: { operationId: 'getMember', parameters: { 'path.id': '$response.body#/memberId' } },
        }),
        ...problems(...COMMAND_PROBLEMS, 'NotFound', 'UnsupportedMediaType'),
      },
    },
  };
}

/**
 * The OpenAPI 3.1 document of the sample API. Throws when a route of
 * `API_ROUTES` has no operation here or an operation has no route, so the
 * document cannot leave a route out.
 */
export function openApiDocument(): OpenApiDocument {
  const byRoute = operations();
  const routeKeys = API_ROUTES.map((route) => route.routeKey);
  const missing = routeKeys.filter((key) => !(key in byRoute));
  const extra = Object.keys(byRoute).filter((key) => !routeKeys.includes(key));
  if (missing.length > 0 || extra.length > 0) {
    throw new Error(
      `the OpenAPI operations and API_ROUTES differ: no operation for ${missing.join(', ') || 'none'}; ` +
        `no route for ${extra.join(', ') || 'none'}`,
    );
  }
  const paths: Record<string, Record<string, Json>> = {};
  for (const key of routeKeys) {
    const [method = '', path = ''] = key.split(' ');
    const operation = byRoute[key] as Json;
    paths[path] = { ...paths[path], [method.toLowerCase()]: operation };
  }
  return {
    openapi: '3.1.1',
    info: {
      title: 'Members and orders (the outbox sample service)',
      version: '1.0.0',
      description:
        'The sample service of the DynamoDB transactional outbox. Every write commits its events in the same ' +
        'transaction; see the AsyncAPI document beside this one for the events. Errors are ' +
        '`application/problem+json` (RFC 9457). A request to a known path with another method is 405 with ' +
        '`Allow`, and a path no route matches is 404, both answered by the `$default` route as problem+json. ' +
        'Deployed, every route takes IAM (SigV4) or JWT authorization, and API Gateway itself answers ' +
        '401/403 and throttling (429) with `{"message"}` before any function runs. Generated by ' +
        'contracts/openapi.ts from the schemas the handlers use; do not edit.',
      license: { name: 'MIT-0', identifier: 'MIT-0' },
    },
    servers: [{ url: 'http://127.0.0.1:3000', description: 'npm start' }],
    tags: [
      { name: 'members', description: 'Members: registration, profile, withdrawal.' },
      { name: 'orders', description: "Members' orders." },
    ],
    paths,
    components: {
      schemas: componentSchemas(),
      parameters: componentParameters(),
      headers: componentHeaders(),
      responses: componentResponses(),
    },
  };
}

/** The document as committed: two-space JSON with a final newline. */
export function renderOpenApiDocument(): string {
  return `${JSON.stringify(openApiDocument(), null, 2)}\n`;
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  const target = fileURLToPath(new URL(`../${OPENAPI_DOCUMENT_PATH}`, import.meta.url));
  writeFileSync(target, renderOpenApiDocument());
  console.log(`wrote ${OPENAPI_DOCUMENT_PATH}`);
}
