/**
 * The sample service's event catalogue: every event it emits, with the
 * schema of its `data` and a version. The API's writer refuses an event
 * that does not match (lambdas/sample/shared/api.ts), the consumers take their
 * events typed and checked from it (lambdas/sample/handlers/notifications.ts,
 * member-activity.ts), and `npm run contracts` publishes it in docs/events.
 *
 * The schemas say what the domain really emits (members.ts, orders.ts),
 * no more strictly than the request schemas the API accepts
 * (schemas.ts), so no valid request can produce an event the writer
 * refuses. Objects are open (`z.object`): a consumer accepts the fields a
 * newer minor version adds.
 */
import { z } from 'zod';
import { defineCatalogue, type EventDataOf, isId } from '../../outbox';

/** The pattern of `isId` (lambdas/outbox/keys.ts), written out so that JSON Schema carries it. */
const ulid = z
  .string()
  .regex(/^[0-9A-HJKMNP-TV-Z]{26}$/)
  .refine(isId, { message: 'must be a ULID' })
  .meta({ description: 'A ULID: 26 characters of Crockford base 32.' });
const email = z.email().max(254);
const name = z.string().min(1).max(200);

const orderLine = z.object({
  sku: z.string().regex(/^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/),
  quantity: z.int().min(1).max(10_000),
  unitPrice: z.number().min(0).max(1_000_000),
});

/** The sample's events. */
export const SAMPLE_EVENTS = defineCatalogue({
  MemberRegistered: {
    version: '1.0',
    description: 'A member registered; the member is active at version 1.',
    schema: z.object({ memberId: ulid, email, name }),
  },
  MemberProfileUpdated: {
    version: '1.0',
    description: 'A member changed their profile; `changes` holds only the fields that changed.',
    schema: z.object({
      memberId: ulid,
      changes: z.object({ email: email.optional(), name: name.optional() }),
    }),
  },
  MemberWithdrawn: {
    version: '1.0',
    description:
      'A member withdrew; their personal data is erased, and each open order was cancelled in the same transaction (an OrderCancelled each, before this event).',
    schema: z.object({ memberId: ulid, cancelledOrderIds: z.array(ulid) }),
  },
  OrderPlaced: {
    version: '1.0',
    description: 'A member placed an order; it is open at version 1.',
    schema: z.object({
      orderId: ulid,
      memberId: ulid,
      items: z.array(orderLine).min(1).max(50),
      total: z.number().min(0),
    }),
  },
  OrderCancelled: {
    version: '1.0',
    description: 'An open order was cancelled, by the customer or by the member’s withdrawal.',
    schema: z.object({
      orderId: ulid,
      memberId: ulid,
      reason: z.enum(['customer-request', 'member-withdrawn']),
    }),
  },
});

/** The sample's event types. */
export type SampleEventType = (typeof SAMPLE_EVENTS.eventTypes)[number];

/** The `data` of a sample event type, as the domain builds it. */
export type SampleEventData<T extends SampleEventType> = EventDataOf<typeof SAMPLE_EVENTS.events, T>;
