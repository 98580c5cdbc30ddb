/**
 * What the sample API answers, as schemas: the member and order views and
 * the problem+json error. The handlers' answers are typed by them (see
 * `jsonOf` in lambdas/sample/shared/http.ts), the views in ./views.ts must have
 * exactly their types (checked below at compile time), and
 * contracts/openapi.ts publishes them, so the OpenAPI document, the types
 * and what a handler sends cannot drift apart. Strict: a field that is not
 * listed is a contract violation, as the README's response-fields table says.
 */
import { z } from 'zod';
import type { MemberView, OrderView } from './views';

/** A ULID, as every id in the API. */
const ULID_PATTERN_SOURCE = '^[0-9A-HJKMNP-TV-Z]{26}$';

const id = z.string().regex(new RegExp(ULID_PATTERN_SOURCE)).meta({ description: 'a ULID' });
/** `Date.prototype.toISOString`: UTC with milliseconds. */
const timestamp = z.iso.datetime();
const version = z.int().min(1).meta({ description: 'bumped by every change; the ETag carries it' });

/** A member as the API shows it (README: "Response fields"). */
export const memberResponseSchema = z.strictObject({
  id,
  status: z.enum(['active', 'withdrawn']),
  version,
  email: z.string().optional().meta({ description: 'absent once the member withdrew' }),
  name: z.string().optional().meta({ description: 'absent once the member withdrew' }),
  openOrders: z.int().min(0),
  createdAt: timestamp,
  updatedAt: timestamp,
  withdrawnAt: timestamp.optional(),
});

/** One line of an order as the API shows it. */
export const orderLineResponseSchema = z.strictObject({
  sku: z.string(),
  quantity: z.int().min(1),
  unitPrice: z.number().min(0),
});

/** An order as the API shows it (README: "Response fields"). */
export const orderResponseSchema = z.strictObject({
  id,
  memberId: id,
  items: z.array(orderLineResponseSchema).min(1),
  total: z.number().min(0),
  status: z.enum(['open', 'cancelled']),
  version,
  createdAt: timestamp,
  updatedAt: timestamp,
  cancelledAt: timestamp.optional(),
  cancellationReason: z.string().optional().meta({ description: '`customer-request` or `member-withdrawn`' }),
});

/** A field a request got wrong. */
export const fieldIssueSchema = z.strictObject({ field: z.string(), message: z.string() });

/** Every error the API functions answer: problem+json (RFC 9457), as lambdas/sample/shared/http.ts builds it. */
export const problemSchema = z.strictObject({
  type: z.string(),
  title: z.string(),
  status: z.int().min(400).max(599),
  detail: z.string().min(1),
  errors: z.array(fieldIssueSchema).min(1).optional(),
});

/**
 * What API Gateway itself answers when no function runs (a payload over 10 MB,
 * a function that crashed, an authorizer's refusal): `{"message": ...}`.
 */
export const gatewayErrorSchema = z.strictObject({ message: z.string() }).meta({ id: 'GatewayError' });

/** A member answer. */
export type MemberResponse = z.output<typeof memberResponseSchema>;
/** An order answer. */
export type OrderResponse = z.output<typeof orderResponseSchema>;
/** A problem+json answer's body. */
export type ProblemResponse = z.output<typeof problemSchema>;

/*
 * The views are the schemas' types, field for field: a field added to a view
 * and not to its schema (or the other way round, or retyped) fails the type
 * check here, before any test runs.
 */
type Same<A, B> = [A] extends [B] ? ([B] extends [A] ? true : false) : false;
type Mutable<T> = { -readonly [K in keyof T]: T[K] extends readonly (infer E)[] ? Mutable<E>[] : T[K] };
const sameMember: Same<Mutable<MemberView>, MemberResponse> = true;
const sameOrder: Same<Mutable<OrderView>, OrderResponse> = true;
const sameKeys: Same<keyof MemberView, keyof MemberResponse> & Same<keyof OrderView, keyof OrderResponse> =
  true;
void [sameMember, sameOrder, sameKeys];
