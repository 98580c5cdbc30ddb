import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { normalizeOccurredAt } from '../../lambdas/outbox/envelope';

/** Instants whose ISO form has four-digit years: the ones the outbox can store. */
const instants = fc.date({
  min: new Date('0000-01-01T00:00:00.000Z'),
  max: new Date('9999-12-31T23:59:59.999Z'),
  noInvalidDate: true,
});

describe('normalizeOccurredAt', () => {
  it('keeps a toISOString() value as it is', () => {
    fc.assert(
      fc.property(instants, (instant) => {
        expect(normalizeOccurredAt(instant.toISOString())).toBe(instant.toISOString());
      }),
    );
  });

  it('turns a toUTCString() value into the same instant in ISO form', () => {
    fc.assert(
      fc.property(instants, (instant) => {
        const seconds = new Date(Math.floor(instant.getTime() / 1000) * 1000);
        expect(normalizeOccurredAt(instant.toUTCString())).toBe(seconds.toISOString());
      }),
    );
  });

  it('turns any offset into the same instant in UTC', () => {
    fc.assert(
      fc.property(
        fc.date({
          min: new Date('1970-01-02T00:00:00.000Z'),
          max: new Date('9999-12-30T00:00:00.000Z'),
          noInvalidDate: true,
        }),
        fc.integer({ min: -14 * 60, max: 14 * 60 }),
        (instant, offsetMinutes) => {
          const local = new Date(instant.getTime() + offsetMinutes * 60_000).toISOString().slice(0, 23);
          const magnitude = Math.abs(offsetMinutes);
          const zone = `${offsetMinutes < 0 ? '-' : '+'}${String(Math.floor(magnitude / 60)).padStart(2, '0')}:${String(magnitude % 60).padStart(2, '0')}`;
          expect(normalizeOccurredAt(`${local}${zone}`)).toBe(instant.toISOString());
        },
      ),
    );
  });

  it('stores values whose text order is their time order, as the pending index needs', () => {
    fc.assert(
      fc.property(instants, instants, (a, b) => {
        const [first, second] = [normalizeOccurredAt(a.toUTCString()), normalizeOccurredAt(b.toISOString())];
        const byTime = Math.sign(Math.floor(a.getTime() / 1000) * 1000 - b.getTime());
        const byText = first === second ? 0 : (first ?? '') < (second ?? '') ? -1 : 1;
        expect(byText).toBe(byTime);
      }),
    );
  });

  it('refuses what is not a string', () => {
    expect(normalizeOccurredAt(1_772_366_400_000)).toBeUndefined();
    expect(normalizeOccurredAt(new Date())).toBeUndefined();
    expect(normalizeOccurredAt(undefined)).toBeUndefined();
  });
});
