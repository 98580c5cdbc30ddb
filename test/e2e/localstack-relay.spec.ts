/**
 * LocalStack's own event source mapping, not the project's stream poller,
 * drives the relay here. One batch of work holds a poison event (an outbox
 * item that does not decode, written straight to the table) and a member's
 * three events through the API; the PutEvents call carrying the second of
 * them is refused once, as IAM would refuse it (the fault proxy in front of
 * LocalStack's EventBridge, ./localstack-fault-proxy.ts). The poison is parked
 * once and never redelivered; the relay reports the refused event's record as
 * its batch item failure, and LocalStack redelivers from exactly that record.
 * Bisect is not emulated by LocalStack and nothing here depends on it.
 *
 * What LocalStack sent and got back is read from the runtime executor's
 * invocation journal. Host mode only: the proxy and the journal are there.
 */
import { randomUUID } from 'node:crypto';
import { DescribeStacksCommand } from '@aws-sdk/client-cloudformation';
import { DeleteMessageCommand, ReceiveMessageCommand } from '@aws-sdk/client-sqs';
import { GetCommand, PutCommand } from '@aws-sdk/lib-dynamodb';
import { ulid } from 'ulid';
import { beforeAll, describe, expect, it } from 'vitest';
import { outboxKey, PENDING_PK, PENDING_SK, pendingKeys } from '../../lambdas/outbox/keys';
import { pollUntil } from '../helpers/poll';
import { refusals, refusePutEvents } from './localstack-fault-proxy';
import {
  batchItemFailures,
  type JournalEntry,
  readJournal,
  recordKey,
  streamRecords,
} from './localstack-journal';
import { eventSourceMappings, localStackClients } from './localstack-target';
import { type E2eTarget, openTarget } from './targets';

const run = randomUUID().slice(0, 8);
const correlation = (step: string) => `e2e-relay-${run}-${step}`;
const MEMBER = 'MEMBER';

function required(name: string): string {
  const value = process.env[name];
  if (!value) throw new Error(`${name} is not set: this check runs in the localstack target's host mode`);
  return value;
}

interface Delivered {
  readonly detail: {
    readonly aggregateId: string;
    readonly sequence: number;
    readonly correlationId: string;
  };
}

let target: E2eTarget;
let memberId = '';
const poisonId = ulid();
const poisonKey = outboxKey(MEMBER, poisonId, 1);
let relayInvocations: JournalEntry[] = [];
const delivered: Delivered[] = [];
const parked: string[] = [];

beforeAll(async () => {
  const journal = required('E2E_EXECUTOR_JOURNAL');
  const proxy = required('E2E_FAULT_PROXY');
  target = await openTarget();
  const poisonQueueUrl = await poisonQueue();
  const relayFunctions = new Set(
    (await eventSourceMappings(localStackClients().lambda)).stream.map((mapping) =>
      String(mapping.FunctionArn?.split(':').at(-1)),
    ),
  );
  const startedAt = Date.now() / 1000;

  // Arrange: the second PATCH's event will be refused once.
  await refusePutEvents(proxy, correlation('refused'), 1);

  // Act: the poison first, then three events of one member, as fast as the API answers.
  const pending = pendingKeys(MEMBER, poisonId, 1, new Date().toISOString());
  await target.db.send(
    new PutCommand({
      TableName: target.tableName,
      Item: {
        ...poisonKey,
        [PENDING_PK]: pending.pendingPk,
        [PENDING_SK]: pending.pendingSk,
        garbage: 'not an event',
      },
    }),
  );
  const created = await target.request(
    'POST',
    '/members',
    { email: `relay-${run}@example.com`, name: 'Relay' },
    { 'x-correlation-id': correlation('created') },
  );
  expect(created.status, JSON.stringify(created.body)).toBe(201);
  memberId = String(created.body.id);
  for (const [version, step] of [
    [1, 'refused'],
    [2, 'after'],
  ] as const) {
    const updated = await target.request(
      'PATCH',
      `/members/${memberId}`,
      { name: `Relay ${step}` },
      { 'x-correlation-id': correlation(step), 'if-match': String(version) },
    );
    expect(updated.status, JSON.stringify(updated.body)).toBe(200);
  }

  // Every event of the member on the tap queue, and the poison on the poison queue.
  await pollUntil(
    async () => {
      await drain(target.tapQueueUrl, (body) => {
        const event = JSON.parse(body) as Delivered;
        if (event.detail?.correlationId?.startsWith(`e2e-relay-${run}-`)) delivered.push(event);
      });
      await drain(poisonQueueUrl, (body) => {
        if (body.includes(poisonId)) parked.push(body);
      });
      const sequences = new Set(delivered.map((event) => event.detail.sequence));
      return [1, 2, 3].every((sequence) => sequences.has(sequence)) && parked.length > 0;
    },
    {
      timeoutMs: 90_000,
      intervalMs: 0,
      what: "the member's three events on the tap queue and the poison parked",
    },
  );
  // Then until the relay is idle, so a second parking or a stray redelivery would be seen.
  await target.settle?.();
  await drain(poisonQueueUrl, (body) => {
    if (body.includes(poisonId)) parked.push(body);
  });
  relayInvocations = readJournal(journal).filter(
    (entry) => relayFunctions.has(entry.function) && entry.startedAt >= startedAt,
  );
  expect(await refusals(proxy)).toHaveLength(1);
});

async function poisonQueue(): Promise<string> {
  const stacks = await localStackClients().cloudFormation.send(
    new DescribeStacksCommand({ StackName: process.env.E2E_STACK ?? 'Outbox-dev' }),
  );
  const url = stacks.Stacks?.[0]?.Outputs?.find(
    (output) => output.OutputKey === 'PoisonQueueUrl',
  )?.OutputValue;
  if (!url) throw new Error('the stack has no PoisonQueueUrl output');
  return url;
}

/** Receives and deletes what the queue holds now, handing each body to `take`. */
async function drain(queueUrl: string, take: (body: string) => void): Promise<void> {
  const output = await target.sqs.send(
    new ReceiveMessageCommand({ QueueUrl: queueUrl, MaxNumberOfMessages: 10, WaitTimeSeconds: 1 }),
  );
  for (const message of output.Messages ?? []) {
    take(message.Body ?? '');
    await target.sqs.send(
      new DeleteMessageCommand({ QueueUrl: queueUrl, ReceiptHandle: message.ReceiptHandle }),
    );
  }
}

const memberRecord = (sequence: number) => {
  const key = outboxKey(MEMBER, memberId, sequence);
  return `${key.pk}|${key.sk}`;
};
const poisonRecord = `${poisonKey.pk}|${poisonKey.sk}`;

/** The relay invocations holding the record, oldest first. */
function invocationsWith(record: string): JournalEntry[] {
  return relayInvocations.filter((entry) =>
    streamRecords(entry).some((candidate) => recordKey(candidate) === record),
  );
}

function sequenceNumberOf(record: string): string {
  const found = relayInvocations
    .flatMap((entry) => streamRecords(entry))
    .find((candidate) => recordKey(candidate) === record);
  return String(found?.dynamodb?.SequenceNumber);
}

describe("the relay under LocalStack's event source mapping", () => {
  it('parks the poison event once, takes it out of the pending index and never publishes it', async () => {
    const item = await target.db.send(new GetCommand({ TableName: target.tableName, Key: poisonKey }));

    expect(parked).toHaveLength(1);
    expect(JSON.parse(parked[0] ?? '{}')).toMatchObject({ reason: 'undecodable' });
    expect(item.Item).not.toHaveProperty(PENDING_PK);
    expect(item.Item).not.toHaveProperty('deliveredAt');
    expect(invocationsWith(poisonRecord)).toHaveLength(1);
  });

  it('reports the record whose PutEvents was refused as the batch item failure', () => {
    const failed = relayInvocations.filter((entry) => batchItemFailures(entry).length > 0);

    expect(failed).toHaveLength(1);
    expect(batchItemFailures(failed[0] as JournalEntry)).toEqual([sequenceNumberOf(memberRecord(2))]);
  });

  it('is redelivered by LocalStack from that record on, and nothing before it is sent again', () => {
    const failed = relayInvocations.findIndex((entry) => batchItemFailures(entry).length > 0);
    const retry = relayInvocations[failed + 1];
    const before = streamRecords(relayInvocations[failed] as JournalEntry)
      .map(recordKey)
      .slice(
        0,
        streamRecords(relayInvocations[failed] as JournalEntry)
          .map(recordKey)
          .indexOf(memberRecord(2)),
      );

    expect(retry).toBeDefined();
    expect(recordKey(streamRecords(retry as JournalEntry)[0] ?? {})).toBe(memberRecord(2));
    expect(batchItemFailures(retry as JournalEntry)).toEqual([]);
    for (const record of before) expect(invocationsWith(record), record).toHaveLength(1);
    expect(invocationsWith(memberRecord(1))).toHaveLength(1);
  });

  it("publishes each of the member's events and marks it delivered", async () => {
    const sequences = delivered.map((event) => event.detail.sequence).sort((a, b) => a - b);

    expect([...new Set(sequences)]).toEqual([1, 2, 3]);
    for (const sequence of [1, 2, 3]) {
      const item = await target.db.send(
        new GetCommand({ TableName: target.tableName, Key: outboxKey(MEMBER, memberId, sequence) }),
      );
      expect(item.Item).toMatchObject({ deliveredAt: expect.any(String), expiresAt: expect.any(Number) });
    }
  });
});
