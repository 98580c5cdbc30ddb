import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  compileEventPattern,
  InvalidEventPatternError,
  matchesEventPattern,
  matchesFilterCriteria,
} from '../../local/event-filter';

/** The relay mapping's pattern (lib/outbox-relay.ts): outbox items that are still pending. */
const RELAY_PATTERN = {
  dynamodb: {
    Keys: { sk: { S: [{ prefix: 'OUTBOX#' }] } },
    NewImage: { pendingPk: { S: [{ exists: true }] } },
  },
};

function streamRecord(
  eventName: string,
  sk: string,
  newImage?: Record<string, { S: string } | { N: string }>,
): Record<string, unknown> {
  return {
    eventID: 'a1',
    eventName,
    eventVersion: '1.1',
    eventSource: 'aws:dynamodb',
    awsRegion: 'us-east-1',
    dynamodb: {
      ApproximateCreationDateTime: 1_767_225_600,
      Keys: { pk: { S: 'MEMBER#1' }, sk: { S: sk } },
      ...(newImage ? { NewImage: newImage } : {}),
      SequenceNumber: '100',
      SizeBytes: 50,
      StreamViewType: 'NEW_IMAGE',
    },
    eventSourceARN: 'arn:aws:dynamodb:us-east-1:123456789012:table/t/stream/x',
  };
}

describe('event filter', () => {
  describe('the relay filter criteria', () => {
    const criteria = { Filters: [{ Pattern: JSON.stringify(RELAY_PATTERN) }] };

    it('admits the INSERT of a pending outbox item', () => {
      const record = streamRecord('INSERT', 'OUTBOX#000000000001', {
        sk: { S: 'OUTBOX#000000000001' },
        pendingPk: { S: 'PENDING#3' },
      });

      expect(matchesFilterCriteria(record, criteria)).toBe(true);
    });

    it('drops the delivered mark, which removed the pending key', () => {
      const record = streamRecord('MODIFY', 'OUTBOX#000000000001', {
        deliveredAt: { S: '2026-01-01T00:00:00Z' },
      });

      expect(matchesFilterCriteria(record, criteria)).toBe(false);
    });

    it('drops a TTL delete, which has no new image', () => {
      const record = streamRecord('UNKNOWN_TO_SDK_VERSION', 'OUTBOX#000000000001');

      expect(matchesFilterCriteria(record, criteria)).toBe(false);
    });

    it('drops entity writes', () => {
      const record = streamRecord('INSERT', 'MEMBER', { sk: { S: 'MEMBER' }, pendingPk: { S: 'PENDING#3' } });

      expect(matchesFilterCriteria(record, criteria)).toBe(false);
    });

    it('admits everything when there are no filters', () => {
      expect(matchesFilterCriteria(streamRecord('REMOVE', 'X'), undefined)).toBe(true);
      expect(matchesFilterCriteria(streamRecord('REMOVE', 'X'), { Filters: [] })).toBe(true);
    });

    it('admits a record that any one of several filters matches', () => {
      const several = {
        Filters: [{ Pattern: '{"eventName":["REMOVE"]}' }, { Pattern: '{"eventName":["INSERT"]}' }],
      };

      expect(matchesFilterCriteria(streamRecord('INSERT', 'X'), several)).toBe(true);
      expect(matchesFilterCriteria(streamRecord('MODIFY', 'X'), several)).toBe(false);
    });

    it('rejects a filter without a pattern', () => {
      expect(() => matchesFilterCriteria({}, { Filters: [{}] })).toThrow(InvalidEventPatternError);
    });
  });

  describe('exact values', () => {
    it('matches strings, numbers, booleans and null exactly', () => {
      const pattern = { s: ['a'], n: [5], b: [false], z: [null] };

      expect(matchesEventPattern(pattern, { s: 'a', n: 5.0, b: false, z: null })).toBe(true);
      expect(matchesEventPattern(pattern, { s: 'A', n: 5, b: false, z: null })).toBe(false);
      expect(matchesEventPattern(pattern, { s: 'a', n: '5', b: false, z: null })).toBe(false);
      expect(matchesEventPattern(pattern, { s: 'a', n: 5, b: 'false', z: null })).toBe(false);
      expect(matchesEventPattern(pattern, { s: 'a', n: 5, b: false })).toBe(false);
    });

    it('treats a pattern array as any of its values', () => {
      expect(matchesEventPattern({ k: ['x', 'y'] }, { k: 'y' })).toBe(true);
      expect(matchesEventPattern({ k: ['x', 'y'] }, { k: 'z' })).toBe(false);
    });

    it('treats an event array as matching when any element matches', () => {
      expect(matchesEventPattern({ tags: ['b'] }, { tags: ['a', 'b'] })).toBe(true);
      expect(matchesEventPattern({ tags: ['c'] }, { tags: ['a', 'b'] })).toBe(false);
    });

    it('matches nested objects field by field', () => {
      const pattern = { detail: { state: ['running'], owner: { team: ['x'] } } };

      expect(
        matchesEventPattern(pattern, { detail: { state: 'running', owner: { team: 'x' }, extra: 1 } }),
      ).toBe(true);
      expect(matchesEventPattern(pattern, { detail: { state: 'running', owner: { team: 'y' } } })).toBe(
        false,
      );
      expect(matchesEventPattern(pattern, { detail: { state: 'running' } })).toBe(false);
    });

    it('requires sibling fields to match within one element of an array of objects', () => {
      const pattern = { items: { a: [1], b: [4] } };

      expect(matchesEventPattern(pattern, { items: [{ a: 1, b: 4 }] })).toBe(true);
      expect(
        matchesEventPattern(pattern, {
          items: [
            { a: 1, b: 2 },
            { a: 3, b: 4 },
          ],
        }),
      ).toBe(false);
    });
  });

  describe('operators', () => {
    it('matches prefix and suffix only on strings', () => {
      expect(matchesEventPattern({ k: [{ prefix: 'OUT' }] }, { k: 'OUTBOX#1' })).toBe(true);
      expect(matchesEventPattern({ k: [{ prefix: 'OUT' }] }, { k: 'INBOX#1' })).toBe(false);
      expect(matchesEventPattern({ k: [{ prefix: '1' }] }, { k: 12 })).toBe(false);
      expect(matchesEventPattern({ k: [{ suffix: '.png' }] }, { k: 'a.png' })).toBe(true);
      expect(matchesEventPattern({ k: [{ suffix: '.png' }] }, { k: 'a.jpg' })).toBe(false);
    });

    it('matches prefix and suffix ignoring case when asked', () => {
      expect(matchesEventPattern({ k: [{ prefix: { 'equals-ignore-case': 'out' } }] }, { k: 'OUTBOX' })).toBe(
        true,
      );
      expect(matchesEventPattern({ k: [{ suffix: { 'equals-ignore-case': '.PNG' } }] }, { k: 'a.png' })).toBe(
        true,
      );
    });

    it('matches equals-ignore-case', () => {
      expect(matchesEventPattern({ k: [{ 'equals-ignore-case': 'Alice' }] }, { k: 'aLiCe' })).toBe(true);
      expect(matchesEventPattern({ k: [{ 'equals-ignore-case': 'Alice' }] }, { k: 'Bob' })).toBe(false);
    });

    it('matches exists true on present leaves and exists false on absent ones', () => {
      expect(matchesEventPattern({ k: [{ exists: true }] }, { k: 'v' })).toBe(true);
      expect(matchesEventPattern({ k: [{ exists: true }] }, { k: null })).toBe(true);
      expect(matchesEventPattern({ k: [{ exists: true }] }, {})).toBe(false);
      expect(matchesEventPattern({ k: [{ exists: false }] }, {})).toBe(true);
      expect(matchesEventPattern({ k: [{ exists: false }] }, { k: 0 })).toBe(false);
      expect(matchesEventPattern({ a: { b: [{ exists: false }] } }, {})).toBe(true);
    });

    it('does not count an object as a present leaf', () => {
      expect(matchesEventPattern({ k: [{ exists: true }] }, { k: { nested: 1 } })).toBe(false);
    });

    it('matches anything-but a value, a list, or a prefix, and never an absent field', () => {
      expect(matchesEventPattern({ k: [{ 'anything-but': 'a' }] }, { k: 'b' })).toBe(true);
      expect(matchesEventPattern({ k: [{ 'anything-but': 'a' }] }, { k: 'a' })).toBe(false);
      expect(matchesEventPattern({ k: [{ 'anything-but': ['a', 'b'] }] }, { k: 'b' })).toBe(false);
      expect(matchesEventPattern({ k: [{ 'anything-but': [1, 2] }] }, { k: 3 })).toBe(true);
      expect(matchesEventPattern({ k: [{ 'anything-but': { prefix: 'tmp' } }] }, { k: 'tmp/x' })).toBe(false);
      expect(matchesEventPattern({ k: [{ 'anything-but': { prefix: 'tmp' } }] }, { k: 'var/x' })).toBe(true);
      expect(matchesEventPattern({ k: [{ 'anything-but': 'a' }] }, {})).toBe(false);
    });

    it('matches numeric comparisons and ranges on numbers only', () => {
      const range = { n: [{ numeric: ['>', 0, '<=', 5] }] };

      expect(matchesEventPattern(range, { n: 5 })).toBe(true);
      expect(matchesEventPattern(range, { n: 0 })).toBe(false);
      expect(matchesEventPattern(range, { n: 5.5 })).toBe(false);
      expect(matchesEventPattern(range, { n: '3' })).toBe(false);
      expect(matchesEventPattern({ n: [{ numeric: ['=', 3] }] }, { n: 3 })).toBe(true);
      expect(matchesEventPattern({ n: [{ numeric: ['>=', 3] }] }, { n: 2 })).toBe(false);
    });

    it('matches $or alternatives', () => {
      const pattern = { $or: [{ a: ['1'] }, { b: ['2'] }] };

      expect(matchesEventPattern(pattern, { b: '2' })).toBe(true);
      expect(matchesEventPattern(pattern, { a: '2', b: '1' })).toBe(false);
    });
  });

  describe('invalid or unsupported patterns', () => {
    it.each([
      ['an unknown operator', { k: [{ wildcard: '*.png' }] }],
      ['cidr', { ip: [{ cidr: '10.0.0.0/8' }] }],
      ['a misspelt operator', { k: [{ prefx: 'a' }] }],
      ['an unknown operator in a later field', { a: ['x'], b: [{ 'begins-with': 'y' }] }],
      ['two operators in one object', { k: [{ prefix: 'a', suffix: 'b' }] }],
      ['a scalar instead of an array', { k: 'a' }],
      ['an empty array', { k: [] }],
      ['a bad numeric operator', { n: [{ numeric: ['!=', 1] }] }],
      ['a numeric without a number', { n: [{ numeric: ['>', '1'] }] }],
      ['exists with a non-boolean', { k: [{ exists: 'yes' }] }],
      ['a pattern that is not an object', ['a']],
    ])('throws for %s', (_what, pattern) => {
      expect(() => compileEventPattern(pattern)).toThrow(InvalidEventPatternError);
    });

    it('throws for an unknown operator even when the event would not match anyway', () => {
      expect(() => matchesEventPattern({ a: ['x'], b: [{ wildcard: '*' }] }, { a: 'not x' })).toThrow(
        /operator "wildcard" is not supported \(at b\)/,
      );
    });

    it('throws for text that is not JSON', () => {
      expect(() => compileEventPattern('{not json')).toThrow(InvalidEventPatternError);
    });
  });

  describe('properties', () => {
    it('prefix matching agrees with startsWith', () => {
      fc.assert(
        fc.property(fc.string(), fc.string(), (prefix, value) => {
          expect(matchesEventPattern({ k: [{ prefix }] }, { k: value })).toBe(value.startsWith(prefix));
          expect(matchesEventPattern({ k: [{ prefix }] }, { k: `${prefix}${value}` })).toBe(true);
        }),
      );
    });

    it('suffix matching agrees with endsWith', () => {
      fc.assert(
        fc.property(fc.string(), fc.string(), (suffix, value) => {
          expect(matchesEventPattern({ k: [{ suffix }] }, { k: value })).toBe(value.endsWith(suffix));
        }),
      );
    });

    it('anything-but a list is the negation of the exact match on present values', () => {
      const scalar = fc.oneof(fc.string({ maxLength: 3 }), fc.integer({ min: -3, max: 3 }), fc.boolean());
      fc.assert(
        fc.property(fc.array(scalar, { minLength: 1, maxLength: 4 }), scalar, (list, value) => {
          const exact = matchesEventPattern({ k: list }, { k: value });
          expect(matchesEventPattern({ k: [{ 'anything-but': list }] }, { k: value })).toBe(!exact);
        }),
      );
    });

    it('numeric ranges agree with the comparisons they describe', () => {
      fc.assert(
        fc.property(
          fc.double({ noNaN: true, noDefaultInfinity: true }),
          fc.integer(),
          fc.integer(),
          (n, a, b) => {
            const [low, high] = a <= b ? [a, b] : [b, a];
            expect(matchesEventPattern({ n: [{ numeric: ['>=', low, '<', high] }] }, { n })).toBe(
              n >= low && n < high,
            );
          },
        ),
      );
    });

    it('an event array matches when and only when one of its elements matches alone', () => {
      fc.assert(
        fc.property(
          fc.array(fc.string({ maxLength: 2 }), { minLength: 1 }),
          fc.string({ maxLength: 2 }),
          (values, wanted) => {
            const whole = matchesEventPattern({ k: [{ prefix: wanted }] }, { k: values });
            const any = values.some((value) =>
              matchesEventPattern({ k: [{ prefix: wanted }] }, { k: value }),
            );
            expect(whole).toBe(any);
          },
        ),
      );
    });
  });
});
