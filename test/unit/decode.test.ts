import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { decodeRecord, type OutboxStreamRecord } from '../../lambdas/outbox/decode';
import {
  entityInsertRecord,
  insertRecord,
  keyOf,
  modifyRecord,
  outboxItem,
  removeRecord,
  undecodableRecord,
} from '../helpers/stream-records';

describe('decodeRecord', () => {
  it('decodes an outbox INSERT into the item as stored', () => {
    const item = outboxItem({
      aggregateId: 7,
      sequence: 3,
      traceHeader: 'Root=1-abc',
      data: { nested: { n: 1 } },
    });

    expect(decodeRecord(insertRecord(item))).toEqual({ kind: 'event', item });
  });

  it('round-trips any valid item through a stream record', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 10 ** 9 }),
        fc.integer({ min: 1, max: 10 ** 9 }),
        fc.dictionary(fc.string({ maxLength: 8 }), fc.oneof(fc.string(), fc.integer(), fc.boolean())),
        (aggregateId, sequence, data) => {
          const item = outboxItem({ aggregateId, sequence, data });

          expect(decodeRecord(insertRecord(item))).toEqual({ kind: 'event', item });
        },
      ),
    );
  });

  it('skips a MODIFY of an outbox item', () => {
    expect(decodeRecord(modifyRecord(outboxItem()))).toMatchObject({ kind: 'skip' });
  });

  it('skips a TTL delete of an outbox item', () => {
    expect(decodeRecord(removeRecord(outboxItem()))).toMatchObject({ kind: 'skip' });
  });

  it('skips an outbox record with an event name the SDK does not know', () => {
    const record: OutboxStreamRecord = { ...insertRecord(outboxItem()), eventName: 'TTL_DELETE' };

    expect(decodeRecord(record)).toMatchObject({ kind: 'skip' });
  });

  it('skips an INSERT of an entity item', () => {
    expect(decodeRecord(entityInsertRecord(1))).toMatchObject({ kind: 'skip', reason: 'not an outbox item' });
  });

  it('reports an outbox INSERT missing attributes as undecodable, with its key', () => {
    const item = outboxItem();

    const decoded = decodeRecord(undecodableRecord(item, { drop: ['eventType'] }));

    expect(decoded).toMatchObject({ kind: 'undecodable', key: keyOf(item) });
    expect(decoded.kind === 'undecodable' && decoded.detail).toContain('eventType');
  });

  it('reports an outbox INSERT without a NewImage as undecodable', () => {
    const record = insertRecord(outboxItem());
    const { NewImage: _newImage, ...keysOnly } = record.dynamodb ?? {};

    expect(decodeRecord({ ...record, dynamodb: keysOnly })).toMatchObject({
      kind: 'undecodable',
      detail: 'the record has no NewImage',
    });
  });

  it('reports an image that does not unmarshall as undecodable', () => {
    const record = insertRecord(outboxItem());
    const image = { ...record.dynamodb?.NewImage, data: { Z: 'not a type' } };

    expect(decodeRecord({ ...record, dynamodb: { ...record.dynamodb, NewImage: image } })).toMatchObject({
      kind: 'undecodable',
    });
  });

  it('reports an occurredAt that is not a timestamp as undecodable', () => {
    const item = { ...outboxItem(), occurredAt: 'yesterday' };

    expect(decodeRecord(insertRecord(item))).toMatchObject({ kind: 'undecodable' });
  });

  it('reports data that cannot become JSON as undecodable', () => {
    const record = insertRecord(outboxItem());
    // Beyond 2^53 a number unmarshalls to a BigInt.
    const image = { ...record.dynamodb?.NewImage, data: { M: { big: { N: '123456789012345678901234' } } } };

    expect(decodeRecord({ ...record, dynamodb: { ...record.dynamodb, NewImage: image } })).toMatchObject({
      kind: 'undecodable',
    });
  });

  it('reports a non-positive sequence as undecodable', () => {
    const item = { ...outboxItem(), sequence: 0 };

    expect(decodeRecord(insertRecord(item))).toMatchObject({ kind: 'undecodable' });
  });
});
