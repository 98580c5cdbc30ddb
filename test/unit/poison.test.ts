import { SendMessageCommand, SQSClient } from '@aws-sdk/client-sqs';
import { mockClient } from 'aws-sdk-client-mock';
import { allCustomMatcher } from 'aws-sdk-client-mock-vitest';
import type {} from 'aws-sdk-client-mock-vitest/extend';
import { afterEach, describe, expect, it } from 'vitest';
import { utf8Bytes } from '../../lambdas/outbox/limits';
import { MAX_SQS_MESSAGE_BYTES, parkPoison, poisonMessageBody } from '../../lambdas/outbox/poison';
import { serviceError, TEST_NOW, TEST_POISON_QUEUE } from '../helpers/relay-harness';
import { keyOf, outboxItem, undecodableRecord } from '../helpers/stream-records';

expect.extend(allCustomMatcher);

const sqs = mockClient(SQSClient);

describe('poisonMessageBody', () => {
  it('carries the reason, the code, the key and the full item', () => {
    const item = outboxItem();

    const body = JSON.parse(
      poisonMessageBody(
        {
          reason: 'rejected',
          code: 'MalformedDetail',
          detail: 'MalformedDetail: bad',
          key: keyOf(item),
          item,
        },
        TEST_NOW,
      ),
    );

    expect(body).toEqual({
      reason: 'rejected',
      code: 'MalformedDetail',
      detail: 'MalformedDetail: bad',
      key: keyOf(item),
      item,
      parkedAt: TEST_NOW.toISOString(),
    });
  });

  it('carries the raw record of an undecodable event', () => {
    const record = undecodableRecord(outboxItem());

    const body = JSON.parse(
      poisonMessageBody({ reason: 'undecodable', detail: 'no eventId', record }, TEST_NOW),
    );

    expect(body.record).toEqual({
      eventID: record.eventID,
      eventName: 'INSERT',
      SequenceNumber: record.dynamodb?.SequenceNumber,
      Keys: record.dynamodb?.Keys,
      NewImage: record.dynamodb?.NewImage,
    });
  });

  it('leaves out the payload when the message would exceed the SQS size limit', () => {
    const item = outboxItem({ data: { blob: 'x'.repeat(MAX_SQS_MESSAGE_BYTES) } });

    const body = poisonMessageBody(
      { reason: 'oversize', detail: 'too big', key: keyOf(item), item },
      TEST_NOW,
    );

    expect(utf8Bytes(body)).toBeLessThan(MAX_SQS_MESSAGE_BYTES);
    expect(JSON.parse(body)).toMatchObject({ truncated: true, item: { eventId: item.eventId } });
    expect(JSON.parse(body).item).not.toHaveProperty('data');
  });

  it('escapes the characters SQS refuses', () => {
    const item = outboxItem({ data: { text: 'a\uFFFEb\uFFFF' } });

    const body = poisonMessageBody({ reason: 'rejected', detail: 'x', item }, TEST_NOW);

    expect(body).not.toMatch(/[\uFFFE\uFFFF]/);
    expect(JSON.parse(body).item.data.text).toBe('a\uFFFEb\uFFFF');
  });
});

describe('parkPoison', () => {
  afterEach(() => {
    sqs.reset();
  });

  it('sends the body to the queue with the reason as a message attribute', async () => {
    sqs.on(SendMessageCommand).resolves({ MessageId: 'm-1' });
    const item = outboxItem();

    await parkPoison(
      { reason: 'rejected', code: 'MalformedDetail', detail: 'bad', item },
      { client: new SQSClient({}), queueUrl: TEST_POISON_QUEUE, now: () => TEST_NOW },
    );

    expect(sqs).toHaveReceivedCommandWith(SendMessageCommand, {
      QueueUrl: TEST_POISON_QUEUE,
      MessageAttributes: {
        reason: { DataType: 'String', StringValue: 'rejected' },
        code: { DataType: 'String', StringValue: 'MalformedDetail' },
      },
    });
  });

  it('throws when SQS refuses the message, so the caller keeps the event', async () => {
    sqs.on(SendMessageCommand).rejects(serviceError('InvalidMessageContents'));

    await expect(
      parkPoison(
        { reason: 'oversize', detail: 'x', item: outboxItem() },
        { client: new SQSClient({}), queueUrl: TEST_POISON_QUEUE, now: () => TEST_NOW },
      ),
    ).rejects.toThrow('InvalidMessageContents');
  });
});
