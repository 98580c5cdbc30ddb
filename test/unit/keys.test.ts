import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  entityKey,
  formatSequence,
  InvalidKeyPartError,
  idempotencyKey,
  isId,
  isOutboxSk,
  MAX_SEQUENCE,
  OUTBOX_PREFIX,
  outboxKey,
  PENDING_SHARDS,
  pendingKeys,
  pendingPartition,
  pendingShard,
  previousOutboxKey,
} from '../../lambdas/outbox/keys';
import { testId } from '../helpers/stream-records';

/** Crockford base-32 as ULIDs use it: no I, L, O or U. */
const CROCKFORD = '0123456789ABCDEFGHJKMNPQRSTVWXYZ';
/** fc.integer stops at 2^31 - 1; sequences go up to 10^12 - 1. */
const sequence = fc.bigInt({ min: 1n, max: BigInt(MAX_SEQUENCE) }).map(Number);
const aggregateType = fc.stringMatching(/^[A-Z][A-Z0-9_]{0,39}$/);
/** Strings that are not ids: wrong length, a character outside upper-case Crockford, or a delimiter. */
const notAnId = fc.oneof(
  fc.string().filter((value) => !/^[0-9A-HJKMNP-TV-Z]{26}$/.test(value)),
  fc
    .ulid()
    .filter((id) => /[A-Z]/.test(id))
    .map((id) => id.toLowerCase()),
  fc.ulid().map((id) => id.slice(1)),
  fc.ulid().map((id) => `${id}0`),
  fc
    .tuple(fc.ulid(), fc.integer({ min: 0, max: 25 }))
    .map(([id, at]) => `${id.slice(0, at)}#${id.slice(at + 1)}`),
  fc
    .tuple(fc.ulid(), fc.integer({ min: 0, max: 25 }), fc.constantFrom('I', 'L', 'O', 'U', 'a', '-', ' '))
    .map(([id, at, char]) => `${id.slice(0, at)}${char}${id.slice(at + 1)}`),
);

/** Matches an InvalidKeyPartError about `part`. */
function invalidPart(part: string, extra: Record<string, unknown> = {}) {
  return expect.objectContaining({ name: 'InvalidKeyPartError', part, ...extra });
}

describe('keys', () => {
  describe('isId', () => {
    it('accepts every ULID', () => {
      fc.assert(fc.property(fc.ulid(), (id) => isId(id)));
    });

    it('accepts only 26 upper-case Crockford base-32 characters', () => {
      fc.assert(
        fc.property(fc.string({ unit: fc.constantFrom(...CROCKFORD), minLength: 26, maxLength: 26 }), (id) =>
          isId(id),
        ),
      );
    });

    it('rejects anything with a #, lower case, a letter outside Crockford, or the wrong length', () => {
      fc.assert(fc.property(notAnId, (value) => !isId(value)));
    });

    it('rejects values that are not strings', () => {
      fc.assert(
        fc.property(
          fc.oneof(fc.integer(), fc.constant(null), fc.constant(undefined), fc.object()),
          (value) => {
            expect(isId(value)).toBe(false);
          },
        ),
      );
    });
  });

  describe('entityKey and outboxKey', () => {
    it('build <TYPE>#<id> partition keys shared by the entity and its outbox items', () => {
      fc.assert(
        fc.property(aggregateType, fc.ulid(), sequence, (type, id, seq) => {
          const entity = entityKey(type, id);
          const outbox = outboxKey(type, id, seq);
          expect(entity).toEqual({ pk: `${type}#${id}`, sk: type });
          expect(outbox.pk).toBe(entity.pk);
          expect(outbox.sk).toBe(`${OUTBOX_PREFIX}${String(seq).padStart(12, '0')}`);
          expect(isOutboxSk(outbox.sk)).toBe(true);
          expect(isOutboxSk(entity.sk)).toBe(false);
        }),
      );
    });

    it('give outbox sort keys that order like their sequence numbers', () => {
      fc.assert(
        fc.property(fc.ulid(), sequence, sequence, (id, a, b) => {
          const skA = outboxKey('MEMBER', id, a).sk;
          const skB = outboxKey('MEMBER', id, b).sk;
          expect(Math.sign(skA.localeCompare(skB, 'en'))).toBe(Math.sign(a - b));
          expect(skA < skB).toBe(a < b);
        }),
      );
    });

    it('throw InvalidKeyPartError for a malformed id', () => {
      fc.assert(
        fc.property(notAnId, sequence, (id, seq) => {
          for (const build of [() => entityKey('MEMBER', id), () => outboxKey('MEMBER', id, seq)]) {
            expect(build).toThrow(InvalidKeyPartError);
            expect(build).toThrow(invalidPart('aggregateId', { value: id }));
          }
        }),
      );
    });

    it('throw InvalidKeyPartError for a malformed aggregate type', () => {
      const badType = fc.string().filter((value) => !/^[A-Z][A-Z0-9_]{0,39}$/.test(value));
      fc.assert(
        fc.property(badType, fc.ulid(), sequence, (type, id, seq) => {
          for (const build of [() => entityKey(type, id), () => outboxKey(type, id, seq)]) {
            expect(build).toThrow(InvalidKeyPartError);
            expect(build).toThrow(invalidPart('aggregateType'));
          }
        }),
      );
    });

    it('throw InvalidKeyPartError for a sequence outside 1..MAX_SEQUENCE or not an integer', () => {
      const badSequence = fc.oneof(
        fc.integer({ max: 0 }),
        fc.bigInt({ min: BigInt(MAX_SEQUENCE) + 1n, max: BigInt(Number.MAX_SAFE_INTEGER) }).map(Number),
        fc.double({ noInteger: true }),
        fc.constant(Number.NaN),
      );
      fc.assert(
        fc.property(fc.ulid(), badSequence, (id, seq) => {
          const build = () => outboxKey('MEMBER', id, seq);
          expect(build).toThrow(InvalidKeyPartError);
          expect(build).toThrow(invalidPart('sequence'));
        }),
      );
    });

    it('pad the largest sequence to the full width', () => {
      expect(formatSequence(MAX_SEQUENCE)).toBe('999999999999');
      expect(formatSequence(1)).toBe('000000000001');
    });
  });

  describe('pending index', () => {
    it('gives each aggregate a stable shard within range', () => {
      fc.assert(
        fc.property(fc.ulid(), (id) => {
          const shard = pendingShard(id);
          expect(Number.isInteger(shard)).toBe(true);
          expect(shard).toBeGreaterThanOrEqual(0);
          expect(shard).toBeLessThan(PENDING_SHARDS);
          expect(pendingShard(id)).toBe(shard);
        }),
      );
    });

    it('spreads aggregates over every shard', () => {
      const shards = new Set(fc.sample(fc.ulid(), { numRuns: 2000, seed: 42 }).map(pendingShard));

      expect(shards.size).toBe(PENDING_SHARDS);
    });

    it('keys pending events by shard and by occurredAt first', () => {
      fc.assert(
        fc.property(fc.ulid(), sequence, fc.date({ noInvalidDate: true }), (id, seq, at) => {
          const occurredAt = at.toISOString();
          expect(pendingKeys('ORDER', id, seq, occurredAt)).toEqual({
            pendingPk: `PENDING#${pendingShard(id)}`,
            pendingSk: `${occurredAt}#ORDER#${id}#${formatSequence(seq)}`,
          });
        }),
      );
    });

    it('refuses a shard outside range', () => {
      for (const shard of [-1, PENDING_SHARDS, 1.5]) {
        expect(() => pendingPartition(shard)).toThrow(InvalidKeyPartError);
      }
    });
  });

  describe('idempotencyKey', () => {
    /** Client keys with a character that can appear neither in the prefix nor in a hex digest. */
    const clientKey = fc
      .string({
        unit: fc.integer({ min: 0x21, max: 0x7e }).map((code) => String.fromCharCode(code)),
        minLength: 1,
      })
      .filter((value) => /[^0-9a-fIDEMPOTNCY#]/.test(value));

    it('never contains the client key text', () => {
      fc.assert(
        fc.property(fc.constantFrom('api', 'consumer'), clientKey, (scope, key) => {
          const record = idempotencyKey(scope, key);
          expect(record.pk).toMatch(/^IDEMPOTENCY#[0-9a-f]{64}$/);
          expect(record.sk).toBe('IDEMPOTENCY');
          expect(record.pk).not.toContain(key);
          expect(record.sk).not.toContain(key);
        }),
      );
    });

    it('is stable for one scope and key, and differs across scopes and keys', () => {
      fc.assert(
        fc.property(clientKey, clientKey, (a, b) => {
          expect(idempotencyKey('api', a)).toEqual(idempotencyKey('api', a));
          expect(idempotencyKey('api', a).pk).not.toBe(idempotencyKey('consumer', a).pk);
          expect(idempotencyKey('api', a).pk === idempotencyKey('api', b).pk).toBe(a === b);
        }),
      );
    });

    it('keeps scope and key apart, so moving characters between them changes the key', () => {
      expect(idempotencyKey('ab', 'c').pk).not.toBe(idempotencyKey('a', 'bc').pk);
    });
  });
});

describe('previousOutboxKey', () => {
  it('names the outbox item one sequence earlier in the same aggregate', () => {
    const key = outboxKey('MEMBER', testId(1), 10);

    expect(previousOutboxKey(key)).toEqual(outboxKey('MEMBER', testId(1), 9));
  });

  it('has nothing before an aggregate’s first event or for a key that is not an outbox item’s', () => {
    expect(previousOutboxKey(outboxKey('MEMBER', testId(1), 1))).toBeUndefined();
    expect(previousOutboxKey(entityKey('MEMBER', testId(1)))).toBeUndefined();
    expect(previousOutboxKey({ pk: 'MEMBER#1', sk: 'OUTBOX#12' })).toBeUndefined();
  });
});
