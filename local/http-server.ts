/**
 * The local stand-in for API Gateway (HTTP API, payload v2): turns each HTTP
 * request into the event API Gateway would send and invokes the same handler
 * module Lambda runs. Routes come from lambdas/handlers/api-routes.ts, the
 * list the CDK API is built from.
 */

import { randomUUID } from 'node:crypto';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { APIGatewayProxyEventV2, APIGatewayProxyStructuredResultV2, Context } from 'aws-lambda';
import { API_ROUTES, type ApiRoute, FALLBACK_ROUTE } from '../lambdas/handlers/api-routes';
import { localContext } from './lambda-context';

/** API Gateway refuses payloads over 10 MB before any Lambda runs. */
const MAX_PAYLOAD_BYTES = 10 * 1024 * 1024;

/** A Lambda handler for API Gateway v2 events. */
export type ApiHandler = (
  event: APIGatewayProxyEventV2,
  context: Context,
) => Promise<APIGatewayProxyStructuredResultV2>;

interface CompiledRoute {
  readonly route: ApiRoute;
  readonly method: string;
  readonly pattern: RegExp;
  readonly parameterNames: readonly string[];
  readonly handler: ApiHandler;
}

/** A running local API. */
export interface LocalApi {
  readonly url: string;
  readonly port: number;
  stop(): Promise<void>;
}

async function loadHandler(route: ApiRoute): Promise<ApiHandler> {
  const module = (await import(`../lambdas/handlers/${route.handler}.ts`)) as { handler: ApiHandler };
  return module.handler;
}

async function compile(
  route: ApiRoute,
  handlerFor: (route: ApiRoute) => ApiHandler | Promise<ApiHandler>,
): Promise<CompiledRoute> {
  const [method = '', path = ''] = route.routeKey.split(' ');
  const parameterNames: string[] = [];
  const source = path.replace(/\{([^/}]+)\}/g, (_match, name: string) => {
    parameterNames.push(name);
    return '([^/]+)';
  });
  return {
    route,
    method,
    pattern: new RegExp(`^${source}$`),
    parameterNames,
    handler: await handlerFor(route),
  };
}

/** A path segment decoded; malformed percent-encoding is handed on raw, for the handler to refuse. */
function decodePathSegment(segment: string): string {
  try {
    return decodeURIComponent(segment);
  } catch {
    return segment;
  }
}

function readBody(request: IncomingMessage): Promise<Buffer | 'too-large'> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    request.on('data', (chunk: Buffer) => {
      size += chunk.length;
      if (size <= MAX_PAYLOAD_BYTES) chunks.push(chunk);
    });
    request.on('end', () => resolve(size > MAX_PAYLOAD_BYTES ? 'too-large' : Buffer.concat(chunks)));
    request.on('error', reject);
  });
}

function toEvent(
  request: IncomingMessage,
  url: URL,
  body: Buffer,
  routeKey: string,
  pathParameters: Record<string, string> | undefined,
): APIGatewayProxyEventV2 {
  const headers: Record<string, string> = {};
  for (const [name, value] of Object.entries(request.headers)) {
    if (value === undefined) continue;
    headers[name.toLowerCase()] = Array.isArray(value) ? value.join(',') : value;
  }
  const queryStringParameters: Record<string, string> = {};
  for (const [name, value] of url.searchParams) {
    queryStringParameters[name] = queryStringParameters[name]
      ? `${queryStringParameters[name]},${value}`
      : value;
  }
  const now = new Date();
  const contentType = headers['content-type'] ?? '';
  // API Gateway base64-encodes bodies that are not text.
  const isText =
    body.length === 0 ||
    /^(text\/|application\/(json|.*\+json|x-www-form-urlencoded|xml))/i.test(contentType);
  return {
    version: '2.0',
    routeKey,
    rawPath: url.pathname,
    rawQueryString: url.search.replace(/^\?/, ''),
    headers,
    ...(Object.keys(queryStringParameters).length > 0 ? { queryStringParameters } : {}),
    ...(pathParameters ? { pathParameters } : {}),
    requestContext: {
      accountId: '123456789012',
      apiId: 'local',
      domainName: headers.host ?? '127.0.0.1',
      domainPrefix: 'local',
      http: {
        method: (request.method ?? 'GET').toUpperCase(),
        path: url.pathname,
        protocol: `HTTP/${request.httpVersion}`,
        sourceIp: request.socket.remoteAddress ?? '127.0.0.1',
        userAgent: headers['user-agent'] ?? '',
      },
      requestId: randomUUID(),
      routeKey,
      stage: '$default',
      time: now.toUTCString(),
      timeEpoch: now.getTime(),
    },
    ...(body.length > 0 ? { body: isText ? body.toString('utf8') : body.toString('base64') } : {}),
    isBase64Encoded: body.length > 0 && !isText,
  };
}

function send(response: ServerResponse, result: APIGatewayProxyStructuredResultV2): void {
  const headers: Record<string, string> = {};
  for (const [name, value] of Object.entries(result.headers ?? {})) headers[name] = String(value);
  const body =
    result.body === undefined
      ? undefined
      : Buffer.from(result.body, result.isBase64Encoded ? 'base64' : 'utf8');
  response.writeHead(result.statusCode ?? 200, headers);
  response.end(body);
}

function gatewayError(response: ServerResponse, status: number, message: string): void {
  // What API Gateway itself answers when no Lambda runs (payload too large, handler crash).
  response.writeHead(status, { 'content-type': 'application/json' });
  response.end(JSON.stringify({ message }));
}

/** Options of {@link startLocalApi}. */
export interface LocalApiOptions {
  /** @default 0 (a free port) */
  readonly port?: number;
  /** @default '127.0.0.1' */
  readonly host?: string;
  /**
   * The function serving a route (the local runtime runs each in its own
   * environment). By default the handler module is imported into this process,
   * so the environment it reads at cold start (TABLE_NAME, endpoints) must be set first.
   */
  readonly handlerFor?: (route: ApiRoute) => ApiHandler | Promise<ApiHandler>;
}

/**
 * The URL of a request target. An origin-form target is a path even when it
 * starts with `//` (resolved against a base, `//members` would name a host);
 * an absolute-form target keeps its path, and `*` becomes `/*`.
 */
export function requestUrl(target: string): URL {
  const origin = 'http://127.0.0.1';
  if (target.startsWith('/')) return new URL(`${origin}${target}`);
  try {
    return new URL(target);
  } catch {
    return new URL(`${origin}/${target}`);
  }
}

/** Starts the local API on 127.0.0.1. */
export async function startLocalApi(options: LocalApiOptions = {}): Promise<LocalApi> {
  const handlerFor = options.handlerFor ?? loadHandler;
  const routes = await Promise.all(API_ROUTES.map((route) => compile(route, handlerFor)));
  const fallback = await handlerFor(FALLBACK_ROUTE);

  const server: Server = createServer(async (request, response) => {
    try {
      const url = requestUrl(request.url ?? '/');
      const body = await readBody(request);
      if (body === 'too-large') return gatewayError(response, 413, 'Request Entity Too Large');
      const method = (request.method ?? 'GET').toUpperCase();
      for (const compiled of routes) {
        if (compiled.method !== method) continue;
        const match = compiled.pattern.exec(url.pathname);
        if (!match) continue;
        const parameters: Record<string, string> = {};
        compiled.parameterNames.forEach((name, index) => {
          parameters[name] = decodePathSegment(match[index + 1] ?? '');
        });
        const event = toEvent(
          request,
          url,
          body,
          compiled.route.routeKey,
          compiled.parameterNames.length ? parameters : undefined,
        );
        return send(response, await compiled.handler(event, localContext(compiled.route.handler)));
      }
      const event = toEvent(request, url, body, FALLBACK_ROUTE.routeKey, undefined);
      return send(response, await fallback(event, localContext(FALLBACK_ROUTE.handler)));
    } catch (error) {
      // A handler that throws is a Lambda error: API Gateway answers 500.
      console.error('local api: handler failed', error);
      return gatewayError(response, 500, 'Internal Server Error');
    }
  });
  const host = options.host ?? '127.0.0.1';
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port ?? 0, host, () => resolve());
  });
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://${host}:${port}`,
    port,
    stop: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
