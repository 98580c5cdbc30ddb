/**
 * The HTTP edge of the API functions (API Gateway HTTP API, payload v2):
 * request parsing and validation, problem+json responses (RFC 9457), and the
 * one place where errors become status codes.
 */
import type { APIGatewayProxyEventV2, APIGatewayProxyStructuredResultV2, Context } from 'aws-lambda';
import type { z } from 'zod';
import { isId } from '../../outbox';
import { decimalOf, dynamoDbNumberProblem, parseDecimal, sameDecimal } from './decimal';
import { logger } from './powertools';

/** Largest request body the API accepts, in bytes. Every valid request is far smaller. */
export const MAX_BODY_BYTES = 16 * 1024;

/** A response of an API function. */
export type HttpResponse = APIGatewayProxyStructuredResultV2 & { statusCode: number };

/** A validation issue, pointing at the field that is wrong. */
export interface FieldIssue {
  readonly field: string;
  readonly message: string;
}

/**
 * An error whose status and message are meant for the client. Anything else
 * that escapes a handler becomes a bare 500 with no detail.
 */
export class HttpError extends Error {
  override readonly name = 'HttpError';
  constructor(
    readonly status: number,
    readonly title: string,
    readonly detail: string,
    readonly extra: {
      readonly errors?: readonly FieldIssue[];
      readonly headers?: Record<string, string>;
    } = {},
  ) {
    super(detail);
  }
}

const REASONS: Record<number, string> = {
  400: 'Bad Request',
  404: 'Not Found',
  405: 'Method Not Allowed',
  409: 'Conflict',
  412: 'Precondition Failed',
  413: 'Content Too Large',
  415: 'Unsupported Media Type',
  422: 'Unprocessable Content',
  428: 'Precondition Required',
  429: 'Too Many Requests',
  500: 'Internal Server Error',
  503: 'Service Unavailable',
};

/** A JSON response. */
export function json(statusCode: number, body: unknown, headers: Record<string, string> = {}): HttpResponse {
  return {
    statusCode,
    headers: { 'content-type': 'application/json', ...headers },
    body: JSON.stringify(body),
  };
}

/** A type with every property and array element readonly: what the views hand out. */
export type DeepReadonly<T> = T extends readonly (infer E)[]
  ? readonly DeepReadonly<E>[]
  : T extends object
    ? { readonly [K in keyof T]: DeepReadonly<T[K]> }
    : T;

/**
 * A JSON response whose body has the type of a response schema
 * (lambdas/sample/domain/responses.ts): the schema the OpenAPI document publishes
 * for the answer, so a handler cannot send what the document does not say.
 */
export function jsonOf<S extends z.ZodType>(
  _schema: S,
  statusCode: number,
  body: DeepReadonly<z.output<S>>,
  headers: Record<string, string> = {},
): HttpResponse {
  return json(statusCode, body, headers);
}

/** A problem+json response (RFC 9457). */
export function problem(
  status: number,
  detail: string,
  extra: { title?: string; errors?: readonly FieldIssue[]; headers?: Record<string, string> } = {},
): HttpResponse {
  const body = {
    type: 'about:blank',
    title: extra.title ?? REASONS[status] ?? 'Error',
    status,
    detail,
    ...(extra.errors && extra.errors.length > 0 ? { errors: extra.errors } : {}),
  };
  return {
    statusCode: status,
    headers: { 'content-type': 'application/problem+json', ...extra.headers },
    body: JSON.stringify(body),
  };
}

/** The request as the handlers see it: validated accessors over the API Gateway event. */
export class HttpRequest {
  constructor(readonly event: APIGatewayProxyEventV2) {}

  get method(): string {
    return this.event.requestContext.http.method.toUpperCase();
  }

  get path(): string {
    return this.event.rawPath;
  }

  /** A header value (HTTP API lower-cases header names). */
  header(name: string): string | undefined {
    const headers = this.event.headers ?? {};
    const wanted = name.toLowerCase();
    for (const [key, value] of Object.entries(headers)) {
      if (key.toLowerCase() === wanted) return value;
    }
    return undefined;
  }

  /** The request id API Gateway assigned. */
  get requestId(): string {
    return this.event.requestContext.requestId;
  }

  /** A path parameter that must be a well-formed id; anything else is a 400, so no client text shapes a key. */
  id(name = 'id'): string {
    const value = this.event.pathParameters?.[name];
    if (!isId(value)) {
      throw new HttpError(
        400,
        'Invalid id',
        `path parameter ${name} must be a ULID (26 characters, 0-9 and A-Z)`,
      );
    }
    return value;
  }

  /** The raw body text, size-checked. */
  bodyText(): string {
    const raw = this.event.body ?? '';
    const text = this.event.isBase64Encoded ? Buffer.from(raw, 'base64').toString('utf8') : raw;
    if (Buffer.byteLength(text, 'utf8') > MAX_BODY_BYTES) {
      throw new HttpError(
        413,
        REASONS[413] ?? 'Content Too Large',
        `the body exceeds ${MAX_BODY_BYTES} bytes`,
      );
    }
    return text;
  }

  /**
   * The JSON body validated by a strict schema: wrong content type (415),
   * oversize (413), invalid JSON, wrong types or unknown fields (400), and
   * numbers that would not be stored as sent (400, see `parseJsonBody`).
   */
  json<T>(schema: z.ZodType<T>, options: { optional?: boolean } = {}): T {
    const text = this.bodyText();
    if (text.trim() === '' && options.optional) return schema.parse({});
    assertJsonContentType(this.header('content-type'));
    const { value, numberIssues } = parseJsonBody(text);
    const result = schema.safeParse(value);
    const errors = result.success
      ? []
      : result.error.issues.flatMap((issue): FieldIssue[] => {
          const at = issue.path.map(String);
          // An unknown field is named in `field` itself, not only in the message.
          if (issue.code === 'unrecognized_keys') {
            return issue.keys.map((key) => ({ field: [...at, key].join('.'), message: 'unknown field' }));
          }
          return [{ field: at.length > 0 ? at.join('.') : '(body)', message: issue.message }];
        });
    // A number the schema already refused is named once, with the schema's reason.
    const named = new Set(errors.map((issue) => issue.field));
    errors.push(...numberIssues.filter((issue) => !named.has(issue.field)));
    if (!result.success || errors.length > 0) {
      throw new HttpError(400, 'Invalid request body', 'the body does not match the schema', { errors });
    }
    return result.data;
  }
}

/**
 * Parses a JSON body and checks every number literal in it against the
 * number JavaScript makes of it: `12.3400000000000000001` becomes 12.34 and
 * `1e400` becomes Infinity, so the service would store and compute with
 * something other than what the client sent. Such a number, or one DynamoDB
 * cannot store (more than 38 significant digits, magnitude outside 1E-130 ..
 * 1E+126, which DynamoDB refuses with a ValidationException), is an issue
 * naming its field. The literal is read with the reviver's source text
 * (JSON.parse source text access, Node.js 21+).
 */
export function parseJsonBody(text: string): { value: unknown; numberIssues: FieldIssue[] } {
  const flagged = new Map<object, Map<string, string>>();
  function reviver(this: object, key: string, value: unknown, context?: { source?: string }): unknown {
    if (typeof value === 'number' && context?.source !== undefined) {
      const problem = numberProblem(context.source, value);
      if (problem) {
        const keys = flagged.get(this) ?? new Map<string, string>();
        keys.set(key, problem);
        flagged.set(this, keys);
      }
    }
    return value;
  }
  let value: unknown;
  try {
    value = JSON.parse(text, reviver as (this: unknown, key: string, value: unknown) => unknown);
  } catch (error) {
    flagged.clear();
    // The reviver recurses once per level and runs out of stack on very deep
    // nesting (a few thousand levels), where a plain parse does not; no
    // schema accepts such a body, so it goes on to be refused by the schema.
    if (!(error instanceof RangeError)) throw invalidJson();
    try {
      value = JSON.parse(text);
    } catch {
      throw invalidJson();
    }
  }
  return { value, numberIssues: flagged.size === 0 ? [] : locate(value, flagged) };
}

function invalidJson(): HttpError {
  return new HttpError(400, 'Invalid JSON', 'the body is not valid JSON');
}

function numberProblem(source: string, value: number): string | undefined {
  const sent = parseDecimal(source);
  if (!sent) return undefined;
  const storable = dynamoDbNumberProblem(sent);
  if (storable) return `the number ${source.slice(0, 40)} ${storable}`;
  const held = decimalOf(value);
  if (!held || !sameDecimal(sent, held)) {
    return `the number ${source.slice(0, 40)} cannot be held exactly (it would become ${String(value)}); send at most 15 significant digits`;
  }
  return undefined;
}

/** Field paths of the flagged numbers, found by walking the parsed value (iteratively: it may be deep). */
function locate(root: unknown, flagged: Map<object, Map<string, string>>): FieldIssue[] {
  const issues: FieldIssue[] = [];
  const stack: { node: unknown; path: string[] }[] = [{ node: root, path: [] }];
  while (stack.length > 0) {
    const { node, path } = stack.pop() as { node: unknown; path: string[] };
    if (node === null || typeof node !== 'object') continue;
    for (const [key, message] of flagged.get(node) ?? [])
      issues.push({ field: [...path, key].join('.'), message });
    for (const [key, child] of Object.entries(node)) stack.push({ node: child, path: [...path, key] });
  }
  // A number as the whole body: its holder is JSON.parse's wrapper, not part of the value.
  if (issues.length === 0) {
    for (const keys of flagged.values()) {
      for (const message of keys.values()) issues.push({ field: '(body)', message });
    }
  }
  return issues.sort((a, b) => a.field.localeCompare(b.field));
}

function assertJsonContentType(contentType: string | undefined): void {
  const mediaType = contentType?.split(';')[0]?.trim().toLowerCase();
  if (mediaType !== 'application/json') {
    throw new HttpError(415, REASONS[415] ?? 'Unsupported Media Type', 'the body must be application/json');
  }
}

/** A route's logic: takes the parsed request, returns a response or throws. */
export type RouteLogic = (request: HttpRequest, context: Context) => Promise<HttpResponse>;

/**
 * Wraps route logic into a Lambda handler. Errors become responses here and
 * only here: an HttpError becomes its problem+json; anything else is logged
 * with its stack and answered with a bare 500 (no SDK text leaks out).
 */
export function httpHandler(
  logic: RouteLogic,
): (event: APIGatewayProxyEventV2, context: Context) => Promise<HttpResponse> {
  return async (event, context) => {
    const request = new HttpRequest(event);
    try {
      return await logic(request, context);
    } catch (error) {
      if (error instanceof HttpError) {
        return problem(error.status, error.detail, {
          title: error.title,
          ...(error.extra.errors ? { errors: error.extra.errors } : {}),
          ...(error.extra.headers ? { headers: error.extra.headers } : {}),
        });
      }
      logger.error('request failed', {
        error,
        routeKey: event.routeKey,
        requestId: event.requestContext.requestId,
      });
      return problem(500, 'an internal error occurred');
    }
  };
}
