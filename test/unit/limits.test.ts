import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  findUnstorableNumber,
  itemSize,
  MIN_NUMBER_MAGNITUDE,
  putEventsEntrySize,
  utf8Bytes,
} from '../../lambdas/outbox/limits';

describe('limits', () => {
  describe('putEventsEntrySize', () => {
    it('counts Time as 14 bytes when present and nothing when absent', () => {
      const entry = { Source: 'src', DetailType: 'Type', Detail: '{}' };

      expect(putEventsEntrySize(entry)).toBe(3 + 4 + 2);
      expect(putEventsEntrySize({ ...entry, Time: new Date('2026-03-01T12:00:00Z') })).toBe(14 + 3 + 4 + 2);
    });

    it('counts the UTF-8 bytes of Source, DetailType, Detail and each resource', () => {
      const entry = {
        Source: 'com.example.é',
        DetailType: 'Größe',
        Detail: JSON.stringify({ name: '日本', emoji: '🎉' }),
        Resources: ['arn:aws:s3:::bucket', 'arn:€'],
      };

      expect(putEventsEntrySize(entry)).toBe(
        14 + // Source: 12 ASCII + 'é' (2 bytes)
          7 + // DetailType: 'Gr', 'ö' (2), 'ß' (2), 'e'
          (JSON.stringify({ name: '', emoji: '' }).length + 6 + 4) + // '日本' 3 bytes each, '🎉' 4 bytes
          19 +
          7, // 'arn:' + '€' (3 bytes)
      );
    });

    it('equals the sum of the fields in UTF-8 bytes for any content', () => {
      fc.assert(
        fc.property(
          fc.string({ unit: 'grapheme' }),
          fc.string({ unit: 'grapheme' }),
          fc.string({ unit: 'grapheme' }),
          fc.array(fc.string({ unit: 'grapheme' })),
          fc.boolean(),
          (source, detailType, detail, resources, withTime) => {
            const size = putEventsEntrySize({
              Source: source,
              DetailType: detailType,
              Detail: detail,
              Resources: resources,
              ...(withTime ? { Time: new Date() } : {}),
            });
            const expected =
              (withTime ? 14 : 0) +
              Buffer.from(source).length +
              Buffer.from(detailType).length +
              Buffer.from(detail).length +
              resources.reduce((sum, resource) => sum + Buffer.from(resource).length, 0);
            expect(size).toBe(expected);
            // UTF-8 never takes fewer bytes than UTF-16 takes code units.
            expect(size).toBeGreaterThanOrEqual(source.length + detailType.length + detail.length);
          },
        ),
      );
    });

    it('does not count the bus name or trace header', () => {
      const entry = { Source: 'src', DetailType: 'Type', Detail: '{}' };
      const withBusAndTrace = { ...entry, EventBusName: 'a-very-long-bus-name', TraceHeader: 'Root=1-abc' };

      expect(putEventsEntrySize(withBusAndTrace)).toBe(putEventsEntrySize(entry));
    });
  });

  describe('utf8Bytes', () => {
    it('counts multi-byte characters in bytes', () => {
      expect(utf8Bytes('a')).toBe(1);
      expect(utf8Bytes('é')).toBe(2);
      expect(utf8Bytes('€')).toBe(3);
      expect(utf8Bytes('🎉')).toBe(4);
    });
  });

  describe('itemSize', () => {
    it('counts attribute names as well as values', () => {
      expect(itemSize({ a: 'xyz' })).toBe(1 + 3);
      expect(itemSize({ longName: 'xyz' })).toBe(8 + 3);
    });

    it('counts strings in UTF-8 bytes', () => {
      expect(itemSize({ s: '€€' })).toBe(1 + 6);
    });

    it('counts numbers by their significant digits', () => {
      expect(itemSize({ n: 7 })).toBe(1 + 2);
      expect(itemSize({ n: 123_456 })).toBe(1 + 4);
      expect(itemSize({ n: 0.001 })).toBe(1 + 2);
    });

    it('counts maps and lists with their overhead', () => {
      expect(itemSize({ m: { k: 'v' } })).toBe(1 + 3 + 1 + 1 + 1);
      expect(itemSize({ l: ['v', 'w'] })).toBe(1 + 3 + (1 + 1) + (1 + 1));
    });

    it('counts booleans and null as one byte, sets and binary by their contents', () => {
      expect(itemSize({ b: true, z: null })).toBe(1 + 1 + 1 + 1);
      expect(itemSize({ s: new Set(['ab', 'cd']) })).toBe(1 + 4);
      expect(itemSize({ bin: new Uint8Array(10) })).toBe(3 + 10);
    });

    it('skips undefined attributes', () => {
      expect(itemSize({ a: 'x', b: undefined })).toBe(itemSize({ a: 'x' }));
    });

    it('grows with every attribute added', () => {
      const value = fc.oneof(
        fc.string(),
        fc.integer(),
        fc.double({ noNaN: true, noDefaultInfinity: true }),
        fc.boolean(),
        fc.constant(null),
        fc.array(fc.string()),
        fc.dictionary(fc.string(), fc.string()),
      );
      fc.assert(
        fc.property(
          fc.dictionary(fc.string(), value),
          fc.string({ minLength: 1 }),
          value,
          (item, name, added) => {
            fc.pre(!(name in item));
            expect(itemSize({ ...item, [name]: added })).toBeGreaterThan(itemSize(item));
          },
        ),
      );
    });

    it('grows with the length of a string value and of an attribute name', () => {
      fc.assert(
        fc.property(
          fc.string({ minLength: 1 }),
          fc.string(),
          fc.string({ minLength: 1 }),
          (name, value, more) => {
            expect(itemSize({ [name]: value + more })).toBeGreaterThan(itemSize({ [name]: value }));
            expect(itemSize({ [name + more]: value })).toBeGreaterThan(itemSize({ [name]: value }));
          },
        ),
      );
    });
  });

  describe('findUnstorableNumber', () => {
    it('finds nothing for zero and every magnitude from 1E-130 to 2^53 - 1, at any depth', () => {
      const storable = fc.oneof(
        fc.constant(0),
        fc.double({ min: MIN_NUMBER_MAGNITUDE, max: Number.MAX_SAFE_INTEGER, noNaN: true }),
        fc.double({ min: -Number.MAX_SAFE_INTEGER, max: -MIN_NUMBER_MAGNITUDE, noNaN: true }),
      );
      fc.assert(
        fc.property(storable, fc.string(), (value, name) => {
          expect(
            findUnstorableNumber({ [name]: value, nested: { list: [value, new Set([value])] } }),
          ).toBeUndefined();
        }),
      );
    });

    it('finds a non-zero magnitude below 1E-130 and names its path', () => {
      fc.assert(
        fc.property(fc.double({ min: Number.MIN_VALUE, max: 9.99e-131, noNaN: true }), (value) => {
          expect(
            findUnstorableNumber({ order: { items: [{ sku: 'A' }, { unitPrice: -value }] } }),
          ).toMatchObject({
            path: 'order.items[1].unitPrice',
            value: -value,
          });
        }),
      );
    });
  });
});
