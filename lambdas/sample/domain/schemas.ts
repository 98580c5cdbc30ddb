/**
 * Input rules of the sample service. Strict: unknown fields are errors, so a
 * typo never silently drops a change.
 */
import { z } from 'zod';
import { isId } from '../../outbox';
import { decimalOf, decimalPlaces } from '../shared/decimal';

const email = z.email({ message: 'must be an email address' }).max(254);
const name = z
  .string()
  .trim()
  .min(1, { message: 'must not be empty' })
  .max(200, { message: 'must be at most 200 characters' })
  // For the OpenAPI document (contracts/openapi.ts): what `trim().min(1)` means for the text sent.
  .meta({ pattern: '\\S', description: 'surrounding white space is removed' });
const id = z
  .string()
  .refine(isId, { message: 'must be a ULID (26 characters, 0-9 and A-Z)' })
  // The document's form of `isId`, which a refinement cannot carry into JSON Schema.
  .meta({ pattern: '^[0-9A-HJKMNP-TV-Z]{26}$', description: 'a ULID' });

export const registerMemberSchema = z.strictObject({ email, name });

export const updateProfileSchema = z
  .strictObject({ email: email.optional(), name: name.optional() })
  .refine((value) => value.email !== undefined || value.name !== undefined, {
    message: 'give at least one of email, name',
  })
  .meta({ minProperties: 1 });

/** At most this many lines per order; keeps an order well inside one item. */
export const MAX_ORDER_LINES = 50;
/** Most units of one line. */
export const MAX_QUANTITY = 10_000;
/** Highest unit price, in the shop's currency. */
export const MAX_UNIT_PRICE = 1_000_000;
/** Prices are in cents: at most two decimals. */
export const PRICE_DECIMALS = 2;

/*
 * Every accepted quantity and price is a number DynamoDB stores exactly (at
 * most 38 significant digits, magnitude 1E-130 .. 1E+126): the largest, the
 * smallest positive price (one cent) all fit.
 * The order total stays exact too: at most 50 lines of 10,000 units at
 * 1,000,000.00 is 5E+13 cents, below 2^53, the largest integer a JavaScript
 * number holds exactly (orderTotal adds cents). test/unit/domain-limits.test.ts
 * checks both.
 */

/** True when the number has at most `places` decimals, counted on its exact decimal form. */
function hasAtMostDecimals(value: number, places: number): boolean {
  const decimal = decimalOf(value);
  return decimal !== undefined && decimalPlaces(decimal) <= places;
}

const orderLine = z.strictObject({
  sku: z
    .string()
    .regex(/^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/, { message: 'must be 1-64 letters, digits, ".", "_" or "-"' }),
  quantity: z
    .int({ message: 'must be a whole number' })
    .min(1, { message: 'must be at least 1' })
    .max(MAX_QUANTITY, { message: `must be at most ${MAX_QUANTITY}` }),
  unitPrice: z
    .number({ message: 'must be a number' })
    .min(0, { message: 'must not be negative' })
    .max(MAX_UNIT_PRICE, { message: `must be at most ${MAX_UNIT_PRICE}` })
    .refine((value) => hasAtMostDecimals(value, PRICE_DECIMALS), {
      message: `must have at most ${PRICE_DECIMALS} decimals`,
    })
    .meta({ multipleOf: 10 ** -PRICE_DECIMALS }),
});

export const placeOrderSchema = z.strictObject({
  memberId: id,
  items: z.array(orderLine).min(1, { message: 'an order needs at least one item' }).max(MAX_ORDER_LINES),
});

/** The cancel request carries no fields; an empty body or `{}` is accepted. */
export const cancelOrderSchema = z.strictObject({});
