/**
 * Reading what reached the bus from the dev stack's tap queue: envelopes in
 * arrival order (moto delivers a standard queue's messages in arrival order).
 */
import { DeleteMessageCommand, ReceiveMessageCommand, type SQSClient } from '@aws-sdk/client-sqs';
import type { EventEnvelope } from '../../lambdas/outbox/envelope';
import { pollUntil } from './poll';

/** A queue and the client that reads it. */
export interface TapQueue {
  readonly sqs: SQSClient;
  readonly tapQueueUrl: string;
}

/**
 * Receives and deletes messages until `done` holds for what arrived; their
 * envelopes in arrival order.
 */
export async function receiveUntil(
  queue: TapQueue,
  done: (envelopes: readonly EventEnvelope[]) => boolean,
  what: string,
): Promise<EventEnvelope[]> {
  const envelopes: EventEnvelope[] = [];
  await pollUntil(
    async () => {
      const output = await queue.sqs.send(
        new ReceiveMessageCommand({
          QueueUrl: queue.tapQueueUrl,
          MaxNumberOfMessages: 10,
          WaitTimeSeconds: 1,
        }),
      );
      for (const message of output.Messages ?? []) {
        envelopes.push((JSON.parse(message.Body ?? '{}') as { detail: EventEnvelope }).detail);
        await queue.sqs.send(
          new DeleteMessageCommand({ QueueUrl: queue.tapQueueUrl, ReceiptHandle: message.ReceiptHandle }),
        );
      }
      return done(envelopes);
    },
    { timeoutMs: 20_000, intervalMs: 0, what },
  );
  return envelopes;
}

/** Receives `count` events. */
export function receiveEnvelopes(queue: TapQueue, count: number): Promise<EventEnvelope[]> {
  return receiveUntil(queue, (envelopes) => envelopes.length >= count, `${count} event(s) on the tap queue`);
}

/** True when one receive (a 1 s long poll) finds no message. */
export async function tapQueueIsEmpty(queue: TapQueue): Promise<boolean> {
  const output = await queue.sqs.send(
    new ReceiveMessageCommand({ QueueUrl: queue.tapQueueUrl, MaxNumberOfMessages: 10, WaitTimeSeconds: 1 }),
  );
  return (output.Messages ?? []).length === 0;
}
