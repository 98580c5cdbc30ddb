/**
 * Input rules of the sample service. Strict: unknown fields are errors, so a
 * typo never silently drops a change.
 */
import { z } from 'zod';
import { isId } from '../outbox/keys';

const email = z.email({ message: 'must be an email address' }).max(254);
const name = z
  .string()
  .trim()
  .min(1, { message: 'must not be empty' })
  .max(200, { message: 'must be at most 200 characters' });
const id = z.string().refine(isId, { message: 'must be a ULID (26 characters, 0-9 and A-Z)' });

export const registerMemberSchema = z.strictObject({ email, name });

export const updateProfileSchema = z
  .strictObject({ email: email.optional(), name: name.optional() })
  .refine((value) => value.email !== undefined || value.name !== undefined, {
    message: 'give at least one of email, name',
  });

/** At most this many lines per order; keeps an order well inside one item. */
export const MAX_ORDER_LINES = 50;

const orderLine = z.strictObject({
  sku: z
    .string()
    .regex(/^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/, { message: 'must be 1-64 letters, digits, ".", "_" or "-"' }),
  quantity: z.int().min(1).max(10_000),
  unitPrice: z
    .number()
    .min(0)
    .max(1_000_000)
    .refine((value) => Math.abs(value * 100 - Math.round(value * 100)) < 1e-6, {
      message: 'must have at most two decimals',
    }),
});

export const placeOrderSchema = z.strictObject({
  memberId: id,
  items: z.array(orderLine).min(1, { message: 'an order needs at least one item' }).max(MAX_ORDER_LINES),
});

/** The cancel request carries no fields; an empty body or `{}` is accepted. */
export const cancelOrderSchema = z.strictObject({});
