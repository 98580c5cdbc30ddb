/**
 * Factories for what API Gateway (HTTP API, payload format 2.0) hands a
 * Lambda function: the event and a minimal `Context`.
 */
import type { APIGatewayProxyEventV2, Context } from 'aws-lambda';

/** What varies between requests in a test. */
export interface ApiEventOptions {
  /** Path parameters as the route template extracted them, e.g. `{ id: '01J...' }`. */
  readonly pathParameters?: Record<string, string>;
  /** Request headers; names are lower-cased, as HTTP API delivers them. */
  readonly headers?: Record<string, string>;
  /**
   * The body: a string is sent as is; anything else is sent as JSON with
   * `content-type: application/json` unless `headers` names another type.
   */
  readonly body?: unknown;
  /** Route key; `<METHOD> <path>` when absent. */
  readonly routeKey?: string;
  /** Sends the body base64-encoded, as API Gateway does for binary media types. */
  readonly isBase64Encoded?: boolean;
  /** API Gateway's request id. */
  readonly requestId?: string;
}

/** An HTTP API payload v2 event for `method path`. */
export function apiEvent(
  method: string,
  path: string,
  options: ApiEventOptions = {},
): APIGatewayProxyEventV2 {
  const headers: Record<string, string> = {};
  let body: string | undefined;
  if (typeof options.body === 'string') {
    body = options.body;
  } else if (options.body !== undefined) {
    body = JSON.stringify(options.body);
    headers['content-type'] = 'application/json';
  }
  for (const [name, value] of Object.entries(options.headers ?? {})) headers[name.toLowerCase()] = value;
  if (body !== undefined && options.isBase64Encoded) body = Buffer.from(body, 'utf8').toString('base64');

  const now = new Date('2026-03-01T12:00:00.000Z');
  return {
    version: '2.0',
    routeKey: options.routeKey ?? `${method.toUpperCase()} ${path}`,
    rawPath: path,
    rawQueryString: '',
    headers,
    requestContext: {
      accountId: '123456789012',
      apiId: 'api1234567',
      domainName: 'api1234567.execute-api.us-east-1.amazonaws.com',
      domainPrefix: 'api1234567',
      http: {
        method: method.toUpperCase(),
        path,
        protocol: 'HTTP/1.1',
        sourceIp: '192.0.2.10',
        userAgent: 'vitest',
      },
      requestId: options.requestId ?? 'req-0001',
      routeKey: options.routeKey ?? `${method.toUpperCase()} ${path}`,
      stage: '$default',
      time: '01/Mar/2026:12:00:00 +0000',
      timeEpoch: now.getTime(),
    },
    ...(options.pathParameters ? { pathParameters: options.pathParameters } : {}),
    ...(body !== undefined ? { body } : {}),
    isBase64Encoded: options.isBase64Encoded ?? false,
  };
}

/** A minimal Lambda `Context` with a generous remaining time. */
export function lambdaContext(overrides: Partial<Context> = {}): Context {
  return {
    callbackWaitsForEmptyEventLoop: true,
    functionName: 'outbox-unit-api',
    functionVersion: '$LATEST',
    invokedFunctionArn: 'arn:aws:lambda:us-east-1:123456789012:function:outbox-unit-api',
    memoryLimitInMB: '256',
    awsRequestId: 'lambda-req-0001',
    logGroupName: '/aws/lambda/outbox-unit-api',
    logStreamName: '2026/03/01/[$LATEST]0123456789abcdef',
    getRemainingTimeInMillis: () => 30_000,
    done: () => undefined,
    fail: () => undefined,
    succeed: () => undefined,
    ...overrides,
  };
}
