/**
 * The sample service's bounds against DynamoDB's limits: the largest member
 * item fits in 400 KB, every accepted number is one DynamoDB stores exactly,
 * and the exact decimal checks accept every amount in cents.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { entityKey, MAX_ITEM_BYTES } from '../../lambdas/outbox';
import { itemSize } from '../../lambdas/outbox/limits';
import { MAX_REPLAY_PROFILES, type MemberItem } from '../../lambdas/sample/domain/members';
import { MAX_OPEN_ORDERS } from '../../lambdas/sample/domain/orders';
import {
  MAX_ORDER_LINES,
  MAX_QUANTITY,
  MAX_UNIT_PRICE,
  placeOrderSchema,
} from '../../lambdas/sample/domain/schemas';
import {
  decimalOf,
  decimalPlaces,
  dynamoDbNumberProblem,
  parseDecimal,
  sameDecimal,
} from '../../lambdas/sample/shared/decimal';

const MEMBER_ID = '01JNQ8Z6Y2X3W4V5T6S7R8P9QA';
const LONGEST_EMAIL = `${'a'.repeat(64)}@${'b'.repeat(185)}.com`; // 254 characters, the schema's maximum
const LONGEST_NAME = '𝔄'.repeat(200); // 200 characters of 4 UTF-8 bytes each

describe('member item size', () => {
  it('keeps the largest member item within a fifth of spare room under 400 KB', () => {
    const now = '2026-03-01T12:00:00.000Z';
    const member: MemberItem & { entityType: string } = {
      ...entityKey('MEMBER', MEMBER_ID),
      entityType: 'MEMBER',
      id: MEMBER_ID,
      status: 'active',
      version: 999_999_999_999,
      email: LONGEST_EMAIL,
      name: LONGEST_NAME,
      createdAt: now,
      updatedAt: now,
      withdrawnAt: now,
      ordersRevision: 999_999_999_999,
      openOrderIds: new Set(
        Array.from({ length: MAX_OPEN_ORDERS }, (_, n) => `01JNQ8Z6Y2X3W4V5T6S${String(n).padStart(7, '0')}`),
      ),
      replayProfiles: Object.fromEntries(
        Array.from({ length: MAX_REPLAY_PROFILES }, (_, n) => [
          String(999_999_999_999 - n),
          { email: LONGEST_EMAIL, name: LONGEST_NAME, expiresAt: 9_999_999_999 },
        ]),
      ),
    };

    const size = itemSize(member as unknown as Record<string, unknown>);

    expect(size).toBeLessThanOrEqual(MAX_ITEM_BYTES * 0.8);
  });
});

describe('numbers', () => {
  it('accepts only bounds DynamoDB stores exactly, and an order total that stays an exact number of cents', () => {
    for (const literal of [String(MAX_QUANTITY), `${MAX_UNIT_PRICE}.00`, '999999.99', '0.01', '1']) {
      const decimal = parseDecimal(literal);
      expect(decimal && dynamoDbNumberProblem(decimal), literal).toBeUndefined();
    }
    expect(MAX_ORDER_LINES * MAX_QUANTITY * MAX_UNIT_PRICE * 100).toBeLessThanOrEqual(
      Number.MAX_SAFE_INTEGER,
    );
  });

  it('accepts every price in whole cents up to the maximum', () => {
    fc.assert(
      fc.property(fc.integer({ min: 0, max: MAX_UNIT_PRICE * 100 }), (cents) => {
        const unitPrice = cents / 100;
        const parsed = placeOrderSchema.safeParse({
          memberId: MEMBER_ID,
          items: [{ sku: 'A', quantity: 1, unitPrice }],
        });
        expect(parsed.success, String(unitPrice)).toBe(true);
      }),
    );
  });

  it('refuses every price with a third decimal', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 0, max: MAX_UNIT_PRICE * 100 - 1 }),
        fc.integer({ min: 1, max: 9 }),
        (cents, mills) => {
          const unitPrice = (cents * 10 + mills) / 1000;
          const parsed = placeOrderSchema.safeParse({
            memberId: MEMBER_ID,
            items: [{ sku: 'A', quantity: 1, unitPrice }],
          });
          expect(parsed.success, String(unitPrice)).toBe(false);
        },
      ),
    );
  });

  it('reads any double as the decimal String() writes, and tells it from a longer literal', () => {
    fc.assert(
      fc.property(fc.double({ noNaN: true, noDefaultInfinity: true }), (value) => {
        const held = decimalOf(value);
        const written = parseDecimal(String(value));
        expect(held && written && sameDecimal(held, written)).toBe(true);
        expect(Number(String(value))).toBe(value === 0 ? 0 : value);
      }),
    );
    const rounded = decimalOf(Number('12.3400000000000000001'));
    const sent = parseDecimal('12.3400000000000000001');
    expect(rounded && sent && sameDecimal(rounded, sent)).toBe(false);
  });

  it.each([
    ['12.34', 2],
    ['1200', 0],
    ['0.010', 2],
    ['1e-9', 9],
    ['1.5E+3', 0],
    ['1234e-2', 2],
  ])('counts the decimals of %s as %i', (literal, places) => {
    const decimal = parseDecimal(literal);

    expect(decimal && decimalPlaces(decimal)).toBe(places);
  });

  it.each([
    ['1e-130', undefined],
    ['1e-131', 'too close to zero'],
    ['9.9999999999999999999999999999999999999E+125', undefined],
    ['1e126', 'too large'],
    ['1.000000000000000000000000000000000000001', 'significant digits'],
    ['0', undefined],
  ])('finds whether DynamoDB stores %s', (literal, problem) => {
    const decimal = parseDecimal(literal);

    const found = decimal ? dynamoDbNumberProblem(decimal) : 'unparsed';

    if (problem === undefined) expect(found).toBeUndefined();
    else expect(found).toContain(problem);
  });
});
