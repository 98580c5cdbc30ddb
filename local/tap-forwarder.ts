/**
 * Copies every message of the tap queue (an SQS queue that an EventBridge
 * rule feeds with every event on the bus) to a JSON Lines file, so a person
 * running `npm start` can `tail -f` what the relay published.
 *
 * At-least-once, like the rest of the system: a batch is appended to the
 * file before its messages are deleted, so a crash between the two appends
 * the batch again on the next run instead of losing it.
 */
import { appendFile, mkdir } from 'node:fs/promises';
import { dirname } from 'node:path';
import {
  DeleteMessageBatchCommand,
  type Message,
  ReceiveMessageCommand,
  type SQSClient,
} from '@aws-sdk/client-sqs';

/** Options of {@link startTapForwarder}. */
export interface TapForwarderOptions {
  /** A client aimed at the server that holds the queue (moto locally). */
  readonly sqs: SQSClient;
  readonly queueUrl: string;
  /** The JSON Lines file, e.g. `.local/events.jsonl`; its directories are created. */
  readonly file: string;
  /** Long-poll wait per ReceiveMessage (1 to 20); stop() waits for the poll in flight, so keep it short. @default 1 */
  readonly waitTimeSeconds?: number;
  /** Pause after a failed receive, append or delete before trying again. @default 1_000 */
  readonly errorDelayMs?: number;
  /** Error lines; silent when absent. */
  readonly logger?: (line: string) => void;
}

/** A running forwarder. */
export interface TapForwarder {
  /** Lets the long poll in flight finish (at most `waitTimeSeconds`), writes what it got, and resolves. Idempotent. */
  stop(): Promise<void>;
  /** Messages appended to the file so far. */
  readonly count: number;
}

/** SQS returns at most 10 messages per ReceiveMessage. */
const MAX_MESSAGES = 10;

/**
 * One line for a message body: the envelope re-serialized compactly, so a
 * pretty-printed body still takes one line. A body that is not JSON (not
 * something an EventBridge rule delivers) is kept, wrapped, rather than lost.
 */
export function toJsonLine(body: string | undefined): string {
  try {
    return JSON.stringify(JSON.parse(body ?? ''));
  } catch {
    return JSON.stringify({ unparsedBody: body ?? null });
  }
}

/** Starts forwarding in the background; returns at once. */
export function startTapForwarder(options: TapForwarderOptions): TapForwarder {
  const abort = new AbortController();
  const log = options.logger ?? (() => undefined);
  const errorDelayMs = options.errorDelayMs ?? 1_000;
  const waitTimeSeconds = options.waitTimeSeconds ?? 1;
  // 0 would turn the loop into a busy one; 20 is SQS's maximum.
  if (!Number.isInteger(waitTimeSeconds) || waitTimeSeconds < 1 || waitTimeSeconds > 20) {
    throw new RangeError(`waitTimeSeconds must be an integer from 1 to 20, got ${waitTimeSeconds}`);
  }
  let count = 0;
  let stopped = false;

  const pause = (ms: number) =>
    new Promise<void>((resolve) => {
      const done = () => {
        clearTimeout(timer);
        abort.signal.removeEventListener('abort', done);
        resolve();
      };
      const timer = setTimeout(done, ms);
      abort.signal.addEventListener('abort', done, { once: true });
    });

  async function forward(messages: readonly Message[]): Promise<void> {
    await mkdir(dirname(options.file), { recursive: true });
    // One write for the whole batch, so lines of a batch are never interleaved with another writer's.
    await appendFile(
      options.file,
      messages.map((message) => `${toJsonLine(message.Body)}\n`).join(''),
      'utf8',
    );
    count += messages.length;
    const entries = messages.flatMap((message, index) =>
      message.ReceiptHandle ? [{ Id: String(index), ReceiptHandle: message.ReceiptHandle }] : [],
    );
    if (entries.length === 0) return;
    const output = await options.sqs.send(
      new DeleteMessageBatchCommand({ QueueUrl: options.queueUrl, Entries: entries }),
    );
    for (const failed of output.Failed ?? []) {
      // The message comes back after its visibility timeout and is appended again: a duplicate, not a loss.
      log(`tap forwarder: deleting message ${failed.Id} failed: ${failed.Code} ${failed.Message ?? ''}`);
    }
  }

  async function run(): Promise<void> {
    while (!stopped) {
      let messages: Message[];
      try {
        const output = await options.sqs.send(
          new ReceiveMessageCommand({
            QueueUrl: options.queueUrl,
            MaxNumberOfMessages: MAX_MESSAGES,
            WaitTimeSeconds: waitTimeSeconds,
          }),
          // Not aborted on stop: SQS would still hand messages to the abandoned long poll and
          // hide them for the visibility timeout. A short wait keeps stop() prompt instead.
        );
        messages = output.Messages ?? [];
      } catch (error) {
        if (stopped) return;
        log(`tap forwarder: receiving failed: ${error instanceof Error ? error.message : String(error)}`);
        await pause(errorDelayMs);
        continue;
      }
      if (messages.length === 0) continue;
      try {
        await forward(messages);
      } catch (error) {
        // Not deleted, so SQS redelivers them after the visibility timeout.
        log(
          `tap forwarder: forwarding ${messages.length} messages failed: ${error instanceof Error ? error.message : String(error)}`,
        );
        await pause(errorDelayMs);
      }
    }
  }

  const running = run();
  let stopping: Promise<void> | undefined;
  return {
    stop() {
      stopping ??= (async () => {
        stopped = true;
        abort.abort();
        await running;
      })();
      return stopping;
    },
    get count() {
      return count;
    },
  };
}
