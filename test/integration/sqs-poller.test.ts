/**
 * The local SQS event source against moto: batches, partial batch
 * responses, redelivery after the visibility timeout, the DLQ through the
 * queue's redrive policy, and a clean stop.
 */
import { randomBytes } from 'node:crypto';
import {
  CreateQueueCommand,
  DeleteQueueCommand,
  GetQueueAttributesCommand,
  ReceiveMessageCommand,
  SendMessageBatchCommand,
  type SQSClient,
} from '@aws-sdk/client-sqs';
import type { SQSBatchResponse, SQSEvent } from 'aws-lambda';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { failedMessageIds, type SqsHandler, type SqsPoller, startSqsPoller } from '../../local/sqs-poller';
import { localSqsClient } from '../helpers/local-env';
import { pollUntil } from '../helpers/poll';

let sqs: SQSClient;
const pollers: SqsPoller[] = [];
const queues: string[] = [];

beforeAll(() => {
  sqs = localSqsClient();
});

afterEach(async () => {
  await Promise.all(pollers.splice(0).map((poller) => poller.stop()));
  await Promise.all(queues.splice(0).map((url) => sqs.send(new DeleteQueueCommand({ QueueUrl: url }))));
});

afterAll(() => {
  sqs.destroy();
});

async function createQueue(attributes: Record<string, string> = {}): Promise<{ url: string; arn: string }> {
  const name = `poller-${randomBytes(4).toString('hex')}`;
  const created = await sqs.send(new CreateQueueCommand({ QueueName: name, Attributes: attributes }));
  const url = created.QueueUrl;
  if (!url) throw new Error('CreateQueue returned no URL');
  queues.push(url);
  const described = await sqs.send(
    new GetQueueAttributesCommand({ QueueUrl: url, AttributeNames: ['QueueArn'] }),
  );
  return { url, arn: described.Attributes?.QueueArn ?? '' };
}

async function send(url: string, bodies: readonly string[]): Promise<void> {
  await sqs.send(
    new SendMessageBatchCommand({
      QueueUrl: url,
      Entries: bodies.map((body, index) => ({ Id: String(index), MessageBody: body })),
    }),
  );
}

function start(queue: { url: string; arn: string }, handler: SqsHandler, batchSize = 10): SqsPoller {
  const poller = startSqsPoller({
    sqs,
    queueUrl: queue.url,
    queueArn: queue.arn,
    handler,
    BatchSize: batchSize,
    FunctionResponseTypes: ['ReportBatchItemFailures'],
  });
  pollers.push(poller);
  return poller;
}

/** Bodies each invocation received, in order. */
function recorder(
  respond: (event: SQSEvent, call: number) => SQSBatchResponse | undefined = () => undefined,
) {
  const calls: string[][] = [];
  const handler: SqsHandler = async (event) => {
    calls.push(event.Records.map((record) => record.body));
    return respond(event, calls.length);
  };
  return { calls, handler };
}

describe('sqs poller', () => {
  it('invokes the handler with Lambda-shaped records in batches of BatchSize and deletes them', async () => {
    const queue = await createQueue();
    const seen: SQSEvent[] = [];
    const poller = start(
      queue,
      async (event) => {
        seen.push(event);
        return { batchItemFailures: [] };
      },
      2,
    );

    await send(queue.url, ['a', 'b', 'c']);
    await pollUntil(() => poller.stats.deleted === 3, { timeoutMs: 15_000, what: 'three deleted messages' });

    expect(seen.map((event) => event.Records.length).sort()).toEqual([1, 2]);
    expect(seen[0]?.Records[0]).toMatchObject({
      eventSource: 'aws:sqs',
      eventSourceARN: queue.arn,
      attributes: { ApproximateReceiveCount: '1' },
    });
    await poller.idle();
    expect(poller.stats).toMatchObject({ messages: 3, deleted: 3, failed: 0 });
  });

  it('keeps only the reported failures, which come back after the visibility timeout', async () => {
    const queue = await createQueue({ VisibilityTimeout: '1' });
    const { calls, handler } = recorder((event, call) =>
      call === 1
        ? {
            batchItemFailures: event.Records.filter((record) => record.body === 'bad').map((record) => ({
              itemIdentifier: record.messageId,
            })),
          }
        : undefined,
    );
    start(queue, handler);

    await send(queue.url, ['ok-1', 'bad', 'ok-2']);
    await pollUntil(() => calls.length >= 2, { timeoutMs: 15_000, what: 'the redelivery' });

    expect(calls[0]?.sort()).toEqual(['bad', 'ok-1', 'ok-2']);
    expect(calls[1]).toEqual(['bad']);
  });

  it('moves a message that always fails to the DLQ after maxReceiveCount receives', async () => {
    const dlq = await createQueue();
    const queue = await createQueue({
      VisibilityTimeout: '1',
      RedrivePolicy: JSON.stringify({ deadLetterTargetArn: dlq.arn, maxReceiveCount: 3 }),
    });
    const { calls, handler } = recorder((event) => ({
      batchItemFailures: event.Records.filter((record) => record.body === 'poison').map((record) => ({
        itemIdentifier: record.messageId,
      })),
    }));
    start(queue, handler);

    await send(queue.url, ['poison', 'fine']);
    const dead: string[] = [];
    await pollUntil(
      async () => {
        const output = await sqs.send(new ReceiveMessageCommand({ QueueUrl: dlq.url, WaitTimeSeconds: 1 }));
        dead.push(...(output.Messages ?? []).map((message) => message.Body ?? ''));
        return dead.length > 0;
      },
      { timeoutMs: 30_000, intervalMs: 0, what: 'the poison message in the DLQ' },
    );

    expect(dead).toEqual(['poison']);
    expect(calls.flat().filter((body) => body === 'poison')).toHaveLength(3);
    expect(calls.flat().filter((body) => body === 'fine')).toHaveLength(1);
  });

  it('fails the whole batch when the handler throws', async () => {
    const queue = await createQueue({ VisibilityTimeout: '1' });
    const { calls, handler } = recorder((_, call) => {
      if (call === 1) throw new Error('crash');
      return undefined;
    });
    const poller = start(queue, handler);

    await send(queue.url, ['x', 'y']);
    await pollUntil(() => poller.stats.deleted === 2, { timeoutMs: 15_000, what: 'the retried batch' });

    expect(calls.flat().sort()).toEqual(['x', 'x', 'y', 'y']);
    expect(poller.stats.failed).toBe(2);
  });

  it('stops while a long poll is in flight, without waiting for it', async () => {
    const queue = await createQueue();
    const poller = startSqsPoller({
      sqs,
      queueUrl: queue.url,
      queueArn: queue.arn,
      handler: async () => undefined,
      waitTimeSeconds: 20,
    });
    await new Promise((resolve) => setImmediate(resolve));

    const started = Date.now();
    await poller.stop();

    expect(Date.now() - started).toBeLessThan(5_000);
  });
});

describe('partial batch response', () => {
  const ids = ['a', 'b', 'c'];

  it.each([
    ['no response', undefined, new Set()],
    ['an empty list', { batchItemFailures: [] }, new Set()],
    ['named failures', { batchItemFailures: [{ itemIdentifier: 'b' }] }, new Set(['b'])],
    ['an unknown id', { batchItemFailures: [{ itemIdentifier: 'z' }] }, 'all'],
    ['an empty id', { batchItemFailures: [{ itemIdentifier: '' }] }, 'all'],
    ['a non-list', { batchItemFailures: 'b' }, 'all'],
  ])('reads %s as Lambda does', (_, response, expected) => {
    expect(failedMessageIds(response, ids, true)).toEqual(expected);
  });

  it('ignores the response without ReportBatchItemFailures', () => {
    expect(failedMessageIds({ batchItemFailures: [{ itemIdentifier: 'b' }] }, ids, false)).toEqual(new Set());
  });
});
