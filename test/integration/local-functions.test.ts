/**
 * Each function of the local runtime runs in its own environment, with the
 * variables its stack definition gives it, as in Lambda: its log lines carry
 * its own service and function name, its metrics the stack's namespace, and
 * a normal run logs no warning.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { LocalFunctionDefinition } from '../../local/resources';
import { type LocalRuntime, startLocalRuntime } from '../../local/runtime';
import { localEndpoints, uniqueNamespace } from '../helpers/local-env';
import { pollUntil } from '../helpers/poll';

interface LoggedLine {
  readonly fn: LocalFunctionDefinition;
  readonly json: Record<string, unknown>;
}

let runtime: LocalRuntime;
const lines: LoggedLine[] = [];
const unparsed: string[] = [];

beforeAll(async () => {
  const endpoints = localEndpoints();
  runtime = await startLocalRuntime({
    dynamoDbEndpoint: endpoints.dynamoDb,
    motoEndpoint: endpoints.moto,
    port: 0,
    namespace: uniqueNamespace('functions'),
    eventsFile: null,
    functionLog: (fn, line) => {
      try {
        lines.push({ fn, json: JSON.parse(line) as Record<string, unknown> });
      } catch {
        unparsed.push(`${fn.handlerName}: ${line}`);
      }
    },
  });
});

afterAll(async () => {
  await runtime?.stop();
});

describe('local functions', () => {
  it('gives every function the environment its stack definition gives it', () => {
    const byHandler = new Map(runtime.functions.map((fn) => [fn.handlerName, fn]));

    expect(byHandler.get('relay')?.environment).toMatchObject({
      POWERTOOLS_SERVICE_NAME: 'outbox-relay',
      POWERTOOLS_METRICS_NAMESPACE: 'Outbox',
      TABLE_NAME: runtime.tableName,
      EVENT_BUS_NAME: runtime.eventBusName,
      POISON_QUEUE_URL: runtime.poisonQueueUrl,
    });
    expect(byHandler.get('create-member')?.environment).toMatchObject({
      POWERTOOLS_SERVICE_NAME: 'members-api',
      TABLE_NAME: runtime.tableName,
      EVENT_SOURCE: 'com.example.members',
    });
    // Least privilege shows locally too: the API function is given no bus, the relay no event source.
    expect(byHandler.get('create-member')?.environment).not.toHaveProperty('EVENT_BUS_NAME');
    expect(byHandler.get('relay')?.environment).not.toHaveProperty('EVENT_SOURCE');
  });

  it('logs each line with the function’s own name and service, and no warning on a normal run', async () => {
    const response = await fetch(`${runtime.apiUrl}/members`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ email: 'ada@example.com', name: 'Ada' }),
    });
    expect(response.status).toBe(201);
    const member = (await response.json()) as { id: string };
    await pollUntil(
      () =>
        runtime.feed
          .recent()
          .filter((entry) => entry.aggregateId === member.id && entry.stage === 'delivered').length === 2,
      { timeoutMs: 45_000, what: 'the event delivered to both consumers' },
    );
    await pollUntil(() => lines.some(({ json }) => json.message === 'batch relayed'), {
      timeoutMs: 10_000,
      what: "the relay's log line",
    });

    const relayLine = lines.find(({ json }) => json.message === 'batch relayed');
    expect(relayLine?.fn.handlerName).toBe('relay');
    expect(relayLine?.json).toMatchObject({
      service: 'outbox-relay',
      function_name: relayLine?.fn.functionName,
      cold_start: true,
    });
    for (const { fn, json } of lines) {
      if (typeof json.service === 'string') expect(json.service).toBe(fn.environment.POWERTOOLS_SERVICE_NAME);
      const emf = (json._aws as { CloudWatchMetrics?: { Namespace: string }[] } | undefined)
        ?.CloudWatchMetrics;
      for (const directive of emf ?? []) expect(directive.Namespace).toBe('Outbox');
    }
    expect(lines.filter(({ json }) => json.level === 'WARN' || json.level === 'ERROR')).toEqual([]);
    expect(unparsed).toEqual([]);
  });
});
