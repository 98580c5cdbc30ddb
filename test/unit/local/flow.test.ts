import type { Context, SQSEvent, SQSRecord } from 'aws-lambda';
import { describe, expect, it } from 'vitest';
import { EventFeed, type FlowEntry } from '../../../local/event-feed';
import { observeConsumer } from '../../../local/flow-observers';
import { formatFlowLine, printable } from '../../../local/terminal';

const context = {} as Context;

function message(id: string, receiveCount: number, detail: Record<string, unknown>): SQSRecord {
  return {
    messageId: id,
    receiptHandle: id,
    body: JSON.stringify({ 'detail-type': detail.eventType, detail }),
    attributes: {
      ApproximateReceiveCount: String(receiveCount),
      SentTimestamp: '0',
      SenderId: 'local',
      ApproximateFirstReceiveTimestamp: '0',
    },
    messageAttributes: {},
    md5OfBody: '',
    eventSource: 'aws:sqs',
    eventSourceARN: 'arn:aws:sqs:us-east-1:123456789012:q',
    awsRegion: 'us-east-1',
  };
}

const detail = (eventId: string, sequence: number) => ({
  eventId,
  eventType: 'MemberRegistered',
  aggregateType: 'MEMBER',
  aggregateId: '01M8TA61H4HPEESB0PQ2B99MB9',
  sequence,
  occurredAt: new Date(Date.now() - 50).toISOString(),
  correlationId: 'req-1',
});

describe('event feed', () => {
  it('numbers entries and counts each stage of an event, so a second publication is a duplicate', () => {
    const feed = new EventFeed();
    const seen: FlowEntry[] = [];
    const unsubscribe = feed.subscribe((entry) => seen.push(entry));

    feed.add({ stage: 'published', eventId: 'e1' });
    const again = feed.add({ stage: 'published', eventId: 'e1' });
    feed.add({ stage: 'delivered', eventId: 'e1', consumer: 'a' });
    unsubscribe();
    feed.add({ stage: 'delivered', eventId: 'e1', consumer: 'b' });

    expect(again).toMatchObject({ id: 2, count: 2 });
    expect(seen.map((entry) => entry.id)).toEqual([1, 2, 3]);
    expect(feed.countOf('delivered', 'e1', 'b')).toBe(1);
    expect(feed.recent()).toHaveLength(4);
  });

  it('keeps only the most recent entries', () => {
    const feed = new EventFeed(3);
    for (let index = 0; index < 5; index += 1) feed.add({ stage: 'committed', eventId: `e${index}` });

    expect(feed.recent().map((entry) => entry.eventId)).toEqual(['e2', 'e3', 'e4']);
  });
});

describe('consumer observer', () => {
  it('records delivered, retried and dead-lettered messages from a partial batch response', async () => {
    const feed = new EventFeed();
    const event: SQSEvent = {
      Records: [
        message('m1', 1, detail('e1', 1)),
        message('m2', 1, detail('e2', 2)),
        message('m3', 3, detail('e3', 3)),
      ],
    };
    const invoke = observeConsumer(
      async () => ({ batchItemFailures: [{ itemIdentifier: 'm2' }, { itemIdentifier: 'm3' }] }),
      {
        feed,
        consumer: 'member-activity',
        maxReceiveCount: 3,
      },
    );

    const response = await invoke(event, context);

    expect(response?.batchItemFailures).toHaveLength(2);
    expect(feed.recent().map((entry) => [entry.eventId, entry.stage, entry.attempt])).toEqual([
      ['e1', 'delivered', 1],
      ['e2', 'retried', 1],
      ['e3', 'dead-lettered', 3],
    ]);
    expect(feed.recent()[0]).toMatchObject({
      consumer: 'member-activity',
      aggregateType: 'MEMBER',
      sequence: 1,
    });
    expect(feed.recent()[0]?.latencyMs).toBeGreaterThanOrEqual(0);
  });

  it('records every message as retried with the error when the handler throws, and rethrows it', async () => {
    const feed = new EventFeed();
    const invoke = observeConsumer(
      async () => {
        throw new Error('table unavailable');
      },
      { feed, consumer: 'notifications' },
    );

    await expect(invoke({ Records: [message('m1', 1, detail('e1', 1))] }, context)).rejects.toThrow(
      'table unavailable',
    );
    expect(feed.recent()).toEqual([
      expect.objectContaining({ stage: 'retried', reason: 'table unavailable' }),
    ]);
  });
});

describe('terminal lines', () => {
  const base = {
    id: 1,
    at: '2026-12-02T10:42:07.113Z',
    eventId: 'e1',
    eventType: 'MemberRegistered',
    aggregateType: 'MEMBER',
    aggregateId: '01M8TA61H4HPEESB0PQ2B99MB9',
    sequence: 1,
    count: 1,
  } as const;

  it('says when, what, which aggregate and sequence, and what happened', () => {
    expect(formatFlowLine({ ...base, stage: 'committed', correlationId: 'req-9' })).toBe(
      '10:42:07.113 committed     MemberRegistered       MEMBER 01M8TA61H4HPEESB0PQ2B99MB9 #1  request req-9',
    );
    expect(formatFlowLine({ ...base, stage: 'published', by: 'relay', latencyMs: 1040 })).toMatch(
      /published .* #1 {2}relay, 1\.04 s after commit$/,
    );
    expect(formatFlowLine({ ...base, stage: 'published', by: 'relay', latencyMs: 90, count: 2 })).toMatch(
      /2nd time \(duplicate\)$/,
    );
    expect(
      formatFlowLine({ ...base, stage: 'delivered', consumer: 'notifications', latencyMs: 1200 }),
    ).toMatch(/-> notifications, 1\.20 s after commit$/);
    expect(
      formatFlowLine({
        ...base,
        stage: 'retried',
        consumer: 'member-activity',
        attempt: 1,
        maxAttempts: 3,
        reason: 'boom',
      }),
    ).toMatch(/-> member-activity failed, attempt 1 of 3: boom$/);
    expect(
      formatFlowLine({ ...base, stage: 'dead-lettered', consumer: 'member-activity', attempt: 3 }),
    ).toMatch(/to the DLQ$/);
    expect(formatFlowLine({ ...base, stage: 'parked', reason: 'invalid outbox item: data' })).toMatch(
      /poison: invalid outbox item: data$/,
    );
  });

  it('escapes control characters in event data, so no event can drive the terminal', () => {
    const line = formatFlowLine({ ...base, stage: 'committed', eventType: '\u001b[2J\u001b[31mEvil\nType' });

    expect([...line].some((char) => char.charCodeAt(0) < 0x20)).toBe(false);
    expect(line).toContain('\\u001b[2J');
    expect(printable('a\u0007b\u2028c')).toBe('a\\u0007b\\u2028c');
  });
});
