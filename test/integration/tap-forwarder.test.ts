/**
 * The tap forwarder against moto's SQS: EventBridge envelopes on a queue end
 * up in a JSON Lines file, one compact object per line, and leave the queue.
 */
import { randomBytes } from 'node:crypto';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  CreateQueueCommand,
  DeleteQueueCommand,
  GetQueueAttributesCommand,
  SendMessageBatchCommand,
  SQSClient,
} from '@aws-sdk/client-sqs';
import { afterAll, afterEach, beforeAll, describe, expect, inject, it } from 'vitest';
import { startTapForwarder, type TapForwarder, toJsonLine } from '../../local/tap-forwarder';
import { waitFor, withDeadline } from '../helpers/wait';

const CREDENTIALS = { accessKeyId: 'test', secretAccessKey: 'test' };
let sqs: SQSClient;
let directory: string;
const forwarders: TapForwarder[] = [];
const queues: string[] = [];

beforeAll(async () => {
  sqs = new SQSClient({
    region: 'us-east-1',
    credentials: CREDENTIALS,
    endpoint: inject('motoEndpoint'),
  });
  directory = await mkdtemp(join(tmpdir(), 'tap-forwarder-'));
});

afterEach(async () => {
  await Promise.all(forwarders.splice(0).map((forwarder) => forwarder.stop()));
  await Promise.all(queues.splice(0).map((url) => sqs.send(new DeleteQueueCommand({ QueueUrl: url }))));
});

afterAll(async () => {
  sqs.destroy();
  await rm(directory, { recursive: true, force: true });
});

async function queue(): Promise<string> {
  const output = await sqs.send(
    new CreateQueueCommand({ QueueName: `tap-${randomBytes(4).toString('hex')}` }),
  );
  if (!output.QueueUrl) throw new Error('CreateQueue returned no URL');
  queues.push(output.QueueUrl);
  return output.QueueUrl;
}

/** An EventBridge envelope as a rule delivers it to an SQS target. */
function envelope(n: number): Record<string, unknown> {
  return {
    version: '0',
    id: `6a7e8feb-b491-4cf7-a9f1-bf3703467${String(n).padStart(3, '0')}`,
    'detail-type': 'MemberRegistered',
    source: 'com.example.members',
    account: '123456789012',
    time: '2026-03-01T12:00:00Z',
    region: 'us-east-1',
    resources: [],
    detail: { eventId: `event-${n}`, sequence: n, payload: { name: 'Ada\nLovelace' } },
  };
}

async function send(url: string, bodies: readonly string[]): Promise<void> {
  await sqs.send(
    new SendMessageBatchCommand({
      QueueUrl: url,
      Entries: bodies.map((body, index) => ({ Id: String(index), MessageBody: body })),
    }),
  );
}

async function lines(file: string): Promise<string[]> {
  const text = await readFile(file, 'utf8').catch(() => '');
  return text.split('\n').filter((line) => line !== '');
}

async function messagesLeft(url: string): Promise<number> {
  const output = await sqs.send(
    new GetQueueAttributesCommand({
      QueueUrl: url,
      AttributeNames: ['ApproximateNumberOfMessages', 'ApproximateNumberOfMessagesNotVisible'],
    }),
  );
  const attributes = output.Attributes ?? {};
  return (
    Number(attributes.ApproximateNumberOfMessages ?? 0) +
    Number(attributes.ApproximateNumberOfMessagesNotVisible ?? 0)
  );
}

describe('tap forwarder', () => {
  it('appends each message as one compact JSON object per line and deletes it', async () => {
    const url = await queue();
    const file = join(directory, 'nested', 'dir', 'events.jsonl');
    const envelopes = Array.from({ length: 12 }, (_, index) => envelope(index + 1));
    // Pretty-printed bodies: the file must still get one line per event.
    await send(
      url,
      envelopes.slice(0, 10).map((each) => JSON.stringify(each, null, 2)),
    );
    await send(
      url,
      envelopes.slice(10).map((each) => JSON.stringify(each, null, 2)),
    );

    const forwarder = startTapForwarder({ sqs, queueUrl: url, file });
    forwarders.push(forwarder);
    await waitFor(async () => (await lines(file)).length >= 12, 20_000, 'twelve lines in the file');
    await waitFor(async () => (await messagesLeft(url)) === 0, 20_000, 'the queue to be empty');

    const written = await lines(file);
    expect(written).toHaveLength(12);
    const parsed = written.map((line) => JSON.parse(line) as { detail: { sequence: number } });
    expect(parsed.map((each) => each.detail.sequence).sort((a, b) => a - b)).toEqual(
      envelopes.map((each) => (each.detail as { sequence: number }).sequence),
    );
    expect(parsed).toEqual(expect.arrayContaining(envelopes));
    expect(forwarder.count).toBe(12);
  });

  it('appends to a file that already has lines', async () => {
    const url = await queue();
    const file = join(directory, 'append.jsonl');
    const first = startTapForwarder({ sqs, queueUrl: url, file });
    forwarders.push(first);
    await send(url, [JSON.stringify(envelope(1))]);
    await waitFor(async () => (await lines(file)).length === 1, 20_000, 'the first line');
    await first.stop();

    const second = startTapForwarder({ sqs, queueUrl: url, file });
    forwarders.push(second);
    await send(url, [JSON.stringify(envelope(2))]);
    await waitFor(async () => (await lines(file)).length === 2, 20_000, 'the second line');

    expect((await lines(file)).map((line) => (JSON.parse(line) as { id: string }).id)).toEqual([
      envelope(1).id,
      envelope(2).id,
    ]);
  });

  it('stops within the long-poll wait and still writes what that poll received', async () => {
    const url = await queue();
    const counted = new SQSClient({
      region: 'us-east-1',
      credentials: CREDENTIALS,
      endpoint: inject('motoEndpoint'),
    });
    let receives = 0;
    counted.middlewareStack.add(
      (next, context) => async (args) => {
        if (context.commandName === 'ReceiveMessageCommand') receives += 1;
        return next(args);
      },
      { step: 'finalizeRequest' },
    );
    const forwarder = startTapForwarder({
      sqs: counted,
      queueUrl: url,
      file: join(directory, 'stop.jsonl'),
      waitTimeSeconds: 2,
    });
    forwarders.push(forwarder);
    await waitFor(() => receives === 1, 5_000, 'the first long poll');

    const stopping = forwarder.stop();
    await send(url, [JSON.stringify(envelope(1))]);
    await withDeadline(stopping, 4_000, 'stop() during a 2 s long poll');
    counted.destroy();

    // Whatever the poll in flight received is in the file, not hidden in the queue.
    expect((await lines(join(directory, 'stop.jsonl'))).length + (await messagesLeft(url))).toBe(1);
    expect(receives).toBe(1);
  });

  it('keeps a body that is not JSON, wrapped, instead of losing it', () => {
    expect(JSON.parse(toJsonLine('not json'))).toEqual({ unparsedBody: 'not json' });
    expect(toJsonLine('{\n  "a": [1, 2]\n}')).toBe('{"a":[1,2]}');
  });
});
