/**
 * The local function host keeps Lambda's timeout rule: an invocation's
 * timeout runs from when its handler is invoked, not from before a cold
 * start (Lambda gives the init phase its own time). On a loaded machine a
 * cold start outlasted the API's 29 s and the invocation timed out "after
 * 0 s" before its handler ran.
 */

import { Worker } from 'node:worker_threads';
import type { APIGatewayProxyEventV2 } from 'aws-lambda';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { LocalFunction } from '../../../local/function-host';
import { localContext } from '../../../local/lambda-context';
import type { LocalFunctionDefinition } from '../../../local/resources';

const definition: LocalFunctionDefinition = {
  logicalId: 'NotFound',
  functionName: 'unit-not-found',
  functionArn: 'arn:aws:lambda:us-east-1:123456789012:function:unit-not-found',
  handlerName: 'not-found',
  handlerFile: 'lambdas/sample/handlers/not-found.ts',
  environment: {},
  timeoutSeconds: 29,
  memorySize: 512,
};

const event = {
  version: '2.0',
  routeKey: '$default',
  rawPath: '/nowhere',
  rawQueryString: '',
  headers: {},
  isBase64Encoded: false,
  requestContext: {
    accountId: '123456789012',
    apiId: 'local',
    domainName: '127.0.0.1',
    domainPrefix: 'local',
    http: { method: 'GET', path: '/nowhere', protocol: 'HTTP/1.1', sourceIp: '127.0.0.1', userAgent: '' },
    requestId: 'unit',
    routeKey: '$default',
    stage: '$default',
    time: new Date().toUTCString(),
    timeEpoch: Date.now(),
  },
} as APIGatewayProxyEventV2;

const started: LocalFunction[] = [];

function fresh(): LocalFunction {
  const fn = new LocalFunction({
    definition,
    environment: { POWERTOOLS_LOG_LEVEL: 'SILENT', POWERTOOLS_METRICS_DISABLED: 'true' },
  });
  started.push(fn);
  return fn;
}

afterEach(async () => {
  for (const fn of started.splice(0)) await fn.stop();
});

const TIMEOUT_MS = 29_000;

describe('LocalFunction', () => {
  it('counts an invocation’s timeout from after the cold start', async () => {
    const posted: { at: number; deadline: number }[] = [];
    const original = Worker.prototype.postMessage;
    const postMessage = vi.spyOn(Worker.prototype, 'postMessage').mockImplementation(function (
      this: Worker,
      message: unknown,
    ) {
      const invoke = message as { type?: string; context?: { deadline: number } };
      if (invoke.type === 'invoke' && invoke.context) {
        posted.push({ at: Date.now(), deadline: invoke.context.deadline });
      }
      return original.call(this, message);
    } as Worker['postMessage']);
    try {
      const fn = fresh();
      const context = localContext(definition.functionName, TIMEOUT_MS);

      const result = (await fn.invoke(event, context)) as { statusCode: number };

      expect(fn.coldStarts).toBe(1);
      expect(result.statusCode).toBe(404);
      // The handler was given the whole timeout, however long the cold start took.
      expect(posted).toHaveLength(1);
      expect(posted[0]?.deadline ?? 0).toBeGreaterThanOrEqual((posted[0]?.at ?? 0) + TIMEOUT_MS - 100);
    } finally {
      postMessage.mockRestore();
    }
  }, 120_000);
});
