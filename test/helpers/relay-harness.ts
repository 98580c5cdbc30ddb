/**
 * Test doubles for the relay core: fake logger, metrics, clock and sleep,
 * EventBridge responses, and readers for what the mocks received.
 */

import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import type {
  PutEventsCommandInput,
  PutEventsCommandOutput,
  PutEventsRequestEntry,
  PutEventsResultEntry,
} from '@aws-sdk/client-eventbridge';
import { EventBridgeClient } from '@aws-sdk/client-eventbridge';
import { SQSClient } from '@aws-sdk/client-sqs';
import { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { type Mock, vi } from 'vitest';
import type { EventEnvelope } from '../../lambdas/outbox/envelope';
import type { RelayOptions } from '../../lambdas/outbox/relay';

/** Bus, table and queue names the relay tests use. */
export const TEST_BUS = 'outbox-bus';
export const TEST_TABLE = 'outbox-unit';
export const TEST_POISON_QUEUE = 'https://sqs.us-east-1.amazonaws.com/123456789012/outbox-poison';
/** The relay's clock in tests: 5 s after the factories' `occurredAt`. */
export const TEST_NOW = new Date('2026-03-01T12:00:05.000Z');

/** A logger whose calls can be inspected. */
export interface FakeLogger {
  readonly debug: Mock;
  readonly info: Mock;
  readonly warn: Mock;
  readonly error: Mock;
}

/** Metrics whose values can be read back. */
export interface FakeMetrics {
  readonly addMetric: Mock;
}

/** Fakes for everything the relay takes besides its AWS clients, plus options wired to them. */
export interface RelayFakes {
  readonly logger: FakeLogger;
  readonly metrics: FakeMetrics;
  /** Every delay the relay waited, in order. */
  readonly sleeps: number[];
  /** Relay options with mocked clients and these fakes; `overrides` win. */
  options(overrides?: Partial<RelayOptions>): RelayOptions;
}

/** Builds fresh fakes; the clients are plain SDK clients that `mockClient` intercepts. */
export function relayFakes(): RelayFakes {
  const logger: FakeLogger = { debug: vi.fn(), info: vi.fn(), warn: vi.fn(), error: vi.fn() };
  const metrics: FakeMetrics = { addMetric: vi.fn() };
  const sleeps: number[] = [];
  const clients = {
    eventBridge: new EventBridgeClient({}),
    dynamo: DynamoDBDocumentClient.from(new DynamoDBClient({})),
    sqs: new SQSClient({}),
  };
  return {
    logger,
    metrics,
    sleeps,
    options: (overrides = {}) => ({
      eventBusName: TEST_BUS,
      tableName: TEST_TABLE,
      poisonQueueUrl: TEST_POISON_QUEUE,
      ...clients,
      logger,
      metrics,
      now: () => TEST_NOW,
      sleep: async (ms: number) => {
        sleeps.push(ms);
      },
      random: () => 0.5,
      ...overrides,
    }),
  };
}

/** Sum of the values recorded for a metric. */
export function metricTotal(metrics: FakeMetrics, name: string): number {
  return metrics.addMetric.mock.calls
    .filter((call) => call[0] === name)
    .reduce((sum, call) => sum + Number(call[2]), 0);
}

/** The response of a PutEvents call in which every entry was accepted. */
export function acceptAll(input: PutEventsCommandInput): PutEventsCommandOutput {
  return respond(input, () => undefined);
}

/**
 * A PutEvents response: `codeFor` gives the ErrorCode of each entry, or
 * undefined to accept it (it then gets an EventId).
 */
export function respond(
  input: PutEventsCommandInput,
  codeFor: (entry: PutEventsRequestEntry, index: number) => string | undefined,
): PutEventsCommandOutput {
  const entries: PutEventsResultEntry[] = (input.Entries ?? []).map((entry, index) => {
    const code = codeFor(entry, index);
    return code
      ? { ErrorCode: code, ErrorMessage: `entry failed with ${code}` }
      : { EventId: `eb-${envelopeOf(entry).eventId}` };
  });
  return {
    $metadata: { httpStatusCode: 200 },
    FailedEntryCount: entries.filter((entry) => entry.ErrorCode).length,
    Entries: entries,
  };
}

/** The envelope an entry carries as `Detail`. */
export function envelopeOf(entry: PutEventsRequestEntry): EventEnvelope {
  return JSON.parse(entry.Detail ?? '{}') as EventEnvelope;
}

/** `aggregateId#sequence` of an entry, a compact label for assertions. */
export function labelOf(entry: PutEventsRequestEntry): string {
  const envelope = envelopeOf(entry);
  return `${envelope.aggregateId.replace(/^0+/, '')}#${envelope.sequence}`;
}

/** An error shaped like an SDK service error, with the given name and HTTP status. */
export function serviceError(name: string, httpStatusCode = 400): Error {
  return Object.assign(new Error(`${name} from the mock`), { name, $metadata: { httpStatusCode } });
}

/** A statement of a `BatchExecuteStatement` call, as the document client takes it. */
interface MarkStatement {
  readonly Statement?: string;
  readonly Parameters?: readonly unknown[];
}

/** Answers a delivered-mark call: every statement succeeds (one empty response per statement). */
export function acceptStatements(input: { Statements?: readonly MarkStatement[] }): {
  Responses: { TableName: string }[];
} {
  return { Responses: (input.Statements ?? []).map(() => ({ TableName: TEST_TABLE })) };
}

/** The item key a delivered-mark statement names: its last two parameters are `pk` and `sk`. */
export function statementKey(statement: MarkStatement): { pk: unknown; sk: unknown } {
  const parameters = statement.Parameters ?? [];
  return { pk: parameters[parameters.length - 2], sk: parameters[parameters.length - 1] };
}
