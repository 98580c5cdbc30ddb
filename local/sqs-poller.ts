/**
 * The local stand-in for Lambda's SQS event source: polls a queue and
 * invokes a handler with the event source mapping's semantics, so the real
 * consumer handlers run locally as they run in AWS.
 *
 * - Batches: up to `BatchSize` messages per invocation (locally at most 10,
 *   what one ReceiveMessage returns), as an `SQSEvent` whose records look
 *   like Lambda's (attributes, message attributes, event source ARN).
 * - Success: every message of the batch is deleted.
 * - Failure: a handler that throws fails the whole batch; with
 *   `ReportBatchItemFailures`, a response naming messages in
 *   `batchItemFailures` fails only those, and a response naming an unknown
 *   or empty identifier fails the whole batch (Lambda's rules). Failed
 *   messages are not deleted and not made visible early: they come back after
 *   the queue's visibility timeout, as on AWS.
 * - Dead-letter queue: left to the queue's RedrivePolicy, which moto
 *   implements as SQS does (a message received `maxReceiveCount` times moves
 *   to the DLQ on the next receive), so the poller never moves a message
 *   itself.
 * - Concurrency: `maxConcurrency` workers, each running one batch at a time
 *   (default 1, which keeps moto's arrival order; Lambda runs up to the
 *   mapping's MaximumConcurrency batches at once).
 *
 * `stop()` ends the long poll in flight, lets a running invocation finish
 * (its deletes included) and resolves; no timer is left behind.
 */
import { randomUUID } from 'node:crypto';
import {
  DeleteMessageBatchCommand,
  type Message,
  type MessageAttributeValue,
  ReceiveMessageCommand,
  type SQSClient,
} from '@aws-sdk/client-sqs';
import type {
  Context,
  SQSBatchResponse,
  SQSEvent,
  SQSMessageAttributes,
  SQSRecord,
  SQSRecordAttributes,
} from 'aws-lambda';
import { localContext } from './lambda-context';

/** The handler the poller invokes: a Lambda handler for SQS events. */
export type SqsHandler = (event: SQSEvent, context: Context) => Promise<SQSBatchResponse | undefined>;

/** Options of {@link startSqsPoller}; mapping settings under their CloudFormation names. */
export interface SqsPollerOptions {
  /** A client aimed at the server that holds the queue (moto locally). */
  readonly sqs: SQSClient;
  readonly queueUrl: string;
  /** The queue's ARN, the records' `eventSourceARN`. */
  readonly queueArn: string;
  readonly handler: SqsHandler;
  /** Messages per invocation, 1 to 10 locally. @default 10 */
  readonly BatchSize?: number;
  /** `['ReportBatchItemFailures']` to honour partial batch responses. @default none */
  readonly FunctionResponseTypes?: readonly string[];
  /** Batches run at once. @default 1 */
  readonly maxConcurrency?: number;
  /** The function's name in the context. @default 'local-sqs-consumer' */
  readonly functionName?: string;
  /** The function's ARN in the context. @default `arn:aws:lambda:us-east-1:123456789012:function:<functionName>` */
  readonly functionArn?: string;
  /** The function's memory in the context. @default '512' */
  readonly memoryLimitInMB?: string;
  /** The function's timeout: the context's remaining time starts there. @default 30_000 */
  readonly functionTimeoutMs?: number;
  /** Long-poll wait per ReceiveMessage (1 to 20); stop() cuts it short. @default 1 */
  readonly waitTimeSeconds?: number;
  /** Pause after a failed receive before trying again. @default 1_000 */
  readonly errorDelayMs?: number;
  /** Progress and error lines; silent when absent. */
  readonly logger?: (line: string) => void;
}

/** Counters of a running poller. */
export interface SqsPollerStats {
  readonly invocations: number;
  readonly messages: number;
  /** Messages deleted after their batch (or their part of it) succeeded. */
  readonly deleted: number;
  /** Messages left in the queue because they failed. */
  readonly failed: number;
}

/** A running poller. */
export interface SqsPoller {
  /** Stops polling; resolves when no invocation is running. Idempotent. */
  stop(): Promise<void>;
  /**
   * Resolves when every worker has polled the queue empty, after this call,
   * with nothing running. Messages hidden by their visibility timeout after a
   * failure do not count: they are not visible.
   */
  idle(): Promise<void>;
  readonly stats: SqsPollerStats;
}

/** What one SQS ReceiveMessage can return. */
const MAX_MESSAGES = 10;
const REGION = 'us-east-1';

function lambdaAttributes(message: Message): SQSRecordAttributes {
  const attributes = message.Attributes ?? {};
  const now = String(Date.now());
  return {
    ...attributes,
    ApproximateReceiveCount: attributes.ApproximateReceiveCount ?? '1',
    SentTimestamp: attributes.SentTimestamp ?? now,
    SenderId: attributes.SenderId ?? 'local',
    ApproximateFirstReceiveTimestamp: attributes.ApproximateFirstReceiveTimestamp ?? now,
  };
}

function lambdaMessageAttributes(
  attributes: Record<string, MessageAttributeValue> | undefined,
): SQSMessageAttributes {
  const converted: SQSMessageAttributes = {};
  for (const [name, value] of Object.entries(attributes ?? {})) {
    converted[name] = {
      dataType: value.DataType ?? 'String',
      ...(value.StringValue === undefined ? {} : { stringValue: value.StringValue }),
      ...(value.BinaryValue === undefined
        ? {}
        : { binaryValue: Buffer.from(value.BinaryValue).toString('base64') }),
      stringListValues: value.StringListValues ?? [],
      binaryListValues: (value.BinaryListValues ?? []).map((each) => Buffer.from(each).toString('base64')),
    };
  }
  return converted;
}

/** A received message as Lambda's SQS event source hands it to a function. */
export function toSqsRecord(message: Message, queueArn: string): SQSRecord {
  return {
    messageId: message.MessageId ?? randomUUID(),
    receiptHandle: message.ReceiptHandle ?? '',
    body: message.Body ?? '',
    attributes: lambdaAttributes(message),
    messageAttributes: lambdaMessageAttributes(message.MessageAttributes),
    md5OfBody: message.MD5OfBody ?? '',
    eventSource: 'aws:sqs',
    eventSourceARN: queueArn,
    awsRegion: REGION,
  };
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null;
}

/**
 * Lambda's reading of an SQS handler's response: the ids of the messages to
 * keep, or `'all'` when the whole batch failed.
 */
export function failedMessageIds(
  response: unknown,
  messageIds: readonly string[],
  reportItemFailures: boolean,
): ReadonlySet<string> | 'all' {
  if (!reportItemFailures || !isObject(response)) return new Set();
  const failures = response.batchItemFailures;
  if (failures === undefined || failures === null) return new Set();
  if (!Array.isArray(failures)) return 'all';
  const known = new Set(messageIds);
  const failed = new Set<string>();
  for (const failure of failures) {
    const id = isObject(failure) ? failure.itemIdentifier : undefined;
    if (typeof id !== 'string' || id === '' || !known.has(id)) return 'all';
    failed.add(id);
  }
  return failed;
}

function errorText(error: unknown): string {
  return error instanceof Error ? `${error.name}: ${error.message}` : String(error);
}

/** Starts polling in the background; returns at once. */
export function startSqsPoller(options: SqsPollerOptions): SqsPoller {
  const batchSize = options.BatchSize ?? MAX_MESSAGES;
  if (!Number.isInteger(batchSize) || batchSize < 1 || batchSize > MAX_MESSAGES) {
    throw new RangeError(`BatchSize must be an integer from 1 to ${MAX_MESSAGES} locally, got ${batchSize}`);
  }
  const waitTimeSeconds = options.waitTimeSeconds ?? 1;
  if (!Number.isInteger(waitTimeSeconds) || waitTimeSeconds < 1 || waitTimeSeconds > 20) {
    throw new RangeError(`waitTimeSeconds must be an integer from 1 to 20, got ${waitTimeSeconds}`);
  }
  const workers = options.maxConcurrency ?? 1;
  if (!Number.isInteger(workers) || workers < 1) {
    throw new RangeError(`maxConcurrency must be a positive integer, got ${workers}`);
  }
  const reportItemFailures = options.FunctionResponseTypes?.includes('ReportBatchItemFailures') ?? false;
  const functionName = options.functionName ?? 'local-sqs-consumer';
  const functionTimeoutMs = options.functionTimeoutMs ?? 30_000;
  const errorDelayMs = options.errorDelayMs ?? 1_000;
  const log = options.logger ?? (() => undefined);
  const abort = new AbortController();
  const stats = { invocations: 0, messages: 0, deleted: 0, failed: 0 };
  let stopped = false;
  let epoch = 0;
  let running = 0;
  /** Per worker: the epoch at the start of its last poll that found the queue empty. */
  const drainedEpochs = new Array<number>(workers).fill(-1);
  let idleWaiters: Array<{ epoch: number; resolve: () => void }> = [];

  const checkIdle = () => {
    if (running > 0) return;
    const drained = Math.min(...drainedEpochs);
    const waiting = idleWaiters.filter((waiter) => waiter.epoch > drained);
    for (const waiter of idleWaiters) if (waiter.epoch <= drained) waiter.resolve();
    idleWaiters = waiting;
  };

  const pause = (ms: number) =>
    new Promise<void>((resolve) => {
      if (stopped) return resolve();
      const done = () => {
        clearTimeout(timer);
        abort.signal.removeEventListener('abort', done);
        resolve();
      };
      const timer = setTimeout(done, ms);
      abort.signal.addEventListener('abort', done, { once: true });
    });

  const context = (): Context =>
    localContext(functionName, functionTimeoutMs, {
      functionArn: options.functionArn ?? `arn:aws:lambda:${REGION}:123456789012:function:${functionName}`,
      ...(options.memoryLimitInMB ? { memoryLimitInMB: options.memoryLimitInMB } : {}),
    });

  const deliver = async (messages: readonly Message[]): Promise<void> => {
    const records = messages.map((message) => toSqsRecord(message, options.queueArn));
    // A fresh copy, as Lambda serializes the event: a handler cannot change what a retry delivers.
    const event = JSON.parse(JSON.stringify({ Records: records })) as SQSEvent;
    stats.invocations += 1;
    stats.messages += records.length;
    const started = Date.now();
    let failed: ReadonlySet<string> | 'all';
    try {
      const response = await options.handler(event, context());
      failed = failedMessageIds(
        response,
        records.map((record) => record.messageId),
        reportItemFailures,
      );
      if (failed === 'all') log(`${functionName}: invalid batchItemFailures; the whole batch failed`);
    } catch (error) {
      log(`${functionName}: the function failed on ${records.length} messages: ${errorText(error)}`);
      failed = 'all';
    }
    const elapsed = Date.now() - started;
    if (elapsed > functionTimeoutMs) {
      log(`${functionName}: the invocation took ${elapsed} ms, over the ${functionTimeoutMs} ms timeout`);
    }
    const done = failed === 'all' ? [] : records.filter((record) => !failed.has(record.messageId));
    stats.failed += records.length - done.length;
    if (done.length === 0) return;
    try {
      const output = await options.sqs.send(
        new DeleteMessageBatchCommand({
          QueueUrl: options.queueUrl,
          Entries: done.map((record, index) => ({ Id: String(index), ReceiptHandle: record.receiptHandle })),
        }),
      );
      stats.deleted += output.Successful?.length ?? 0;
      // A message not deleted comes back and is applied again: the consumer is idempotent.
      for (const failure of output.Failed ?? []) {
        log(`${functionName}: deleting a message failed (${failure.Code}): it will be delivered again`);
      }
    } catch (error) {
      log(`${functionName}: deleting ${done.length} messages failed: ${errorText(error)}`);
    }
  };

  const work = async (worker: number): Promise<void> => {
    while (!stopped) {
      const pollEpoch = epoch;
      let messages: Message[];
      try {
        const output = await options.sqs.send(
          new ReceiveMessageCommand({
            QueueUrl: options.queueUrl,
            MaxNumberOfMessages: batchSize,
            WaitTimeSeconds: waitTimeSeconds,
            MessageSystemAttributeNames: ['All'],
            MessageAttributeNames: ['All'],
          }),
          { abortSignal: abort.signal },
        );
        messages = output.Messages ?? [];
      } catch (error) {
        if (stopped) return;
        log(`${functionName}: receiving failed: ${errorText(error)}`);
        await pause(errorDelayMs);
        continue;
      }
      if (messages.length === 0) {
        drainedEpochs[worker] = pollEpoch;
        checkIdle();
        continue;
      }
      // Received messages are delivered even when stop() came meanwhile, so none waits out its visibility timeout.
      running += 1;
      try {
        await deliver(messages);
      } finally {
        running -= 1;
      }
    }
  };

  const loops = Array.from({ length: workers }, (_, worker) => work(worker));

  return {
    stop: async () => {
      if (!stopped) {
        stopped = true;
        abort.abort();
      }
      await Promise.all(loops);
      for (const waiter of idleWaiters) waiter.resolve();
      idleWaiters = [];
    },
    idle: () =>
      new Promise<void>((resolve) => {
        if (stopped) return resolve();
        epoch += 1;
        idleWaiters.push({ epoch, resolve });
      }),
    get stats() {
      return { ...stats };
    },
  };
}
