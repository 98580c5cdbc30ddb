/**
 * The `member-activity` consumer's logic: a read model of each member's
 * status and number of open orders, built from MEMBER and ORDER events that
 * may arrive duplicated and in any order.
 *
 * - The member item holds `status` from `MemberRegistered` and
 *   `MemberWithdrawn`, with the sequence of the event that set it
 *   (`statusSequence`): an event sets it only when newer than that. Events
 *   that change no status (`MemberProfileUpdated`) do not touch it, so a
 *   profile update that overtook the registration cannot make the
 *   registration look stale, and a late or replayed registration never
 *   revives a withdrawn member.
 * - Each order has an item of its own with its status and sequence. The
 *   member's `openOrders` changes only when an order's status really changes
 *   (absent or cancelled to open: +1; open to cancelled: -1), in one
 *   transaction with the order item's write, conditioned on the order item's
 *   exact previous state. A duplicate or an older event changes nothing, and
 *   an `OrderCancelled` that overtakes its `OrderPlaced` records the order as
 *   cancelled without ever counting it.
 */
import { type DynamoDBDocumentClient, GetCommand } from '@aws-sdk/lib-dynamodb';
import { z } from 'zod';
import {
  type ApplyResult,
  applyIfNewer,
  type GuardOutcome,
  InvalidEnvelopeError,
  transitionIfNewer,
} from '../../consumer';
import { type EventEnvelope, isId, readModelKey } from '../../outbox';
import { MEMBER } from './members';
import { ORDER } from './orders';

/** Name of the consumer: scopes its idempotency records. */
export const MEMBER_ACTIVITY_CONSUMER = 'member-activity';
/** Name of its read model (part of the read-model items' keys). */
export const MEMBER_ACTIVITY_VIEW = 'member-activity';
/** The events the consumer subscribes to (its rule's `detail-type` filter). */
export const MEMBER_ACTIVITY_EVENT_TYPES = [
  'MemberRegistered',
  'MemberProfileUpdated',
  'MemberWithdrawn',
  'OrderPlaced',
  'OrderCancelled',
] as const;

/** What the member-activity logic needs. */
export interface MemberActivityDependencies {
  readonly client: DynamoDBDocumentClient;
  readonly tableName: string;
}

/** A member as the read model shows it. */
export interface MemberActivity {
  readonly memberId: string;
  /** Absent while only order events of the member have arrived. */
  readonly status?: 'active' | 'withdrawn';
  readonly openOrders: number;
}

const MEMBER_STATUS: Readonly<Record<string, 'active' | 'withdrawn'>> = {
  MemberRegistered: 'active',
  MemberWithdrawn: 'withdrawn',
};
const ORDER_STATUS: Readonly<Record<string, 'open' | 'cancelled'>> = {
  OrderPlaced: 'open',
  OrderCancelled: 'cancelled',
};

const orderSchema = z.object({ memberId: z.string().refine(isId) });

/** Applies one member or order event; other event types are ignored. */
export async function applyMemberActivity(
  deps: MemberActivityDependencies,
  event: EventEnvelope,
): Promise<ApplyResult | undefined> {
  if (event.aggregateType === MEMBER) {
    const guard = await applyMemberEvent(deps, event);
    return guard ? { guard } : undefined;
  }
  const orderStatus = ORDER_STATUS[event.eventType];
  if (event.aggregateType === ORDER && orderStatus) {
    return { guard: await applyOrderEvent(deps, event, orderStatus) };
  }
  return undefined;
}

/** The attribute holding the sequence of the event that set a member's `status`. */
export const STATUS_SEQUENCE_ATTRIBUTE = 'statusSequence';

async function applyMemberEvent(
  deps: MemberActivityDependencies,
  event: EventEnvelope,
): Promise<GuardOutcome | undefined> {
  const status = MEMBER_STATUS[event.eventType];
  if (!status) return undefined;
  const outcome = await applyIfNewer({
    client: deps.client,
    tableName: deps.tableName,
    key: readModelKey(MEMBER_ACTIVITY_VIEW, MEMBER, event.aggregateId),
    sequence: event.sequence,
    sequenceAttribute: STATUS_SEQUENCE_ATTRIBUTE,
    set: ['#memberId = :memberId', '#status = :status'],
    names: { '#memberId': 'memberId', '#status': 'status' },
    values: { ':memberId': event.aggregateId, ':status': status },
  });
  // Status events are not contiguous (profile updates come between), so no gap is reported.
  return outcome.applied ? { applied: true, gap: 0 } : outcome;
}

function applyOrderEvent(
  deps: MemberActivityDependencies,
  event: EventEnvelope,
  status: 'open' | 'cancelled',
): Promise<GuardOutcome> {
  const parsed = orderSchema.safeParse(event.data);
  if (!parsed.success) throw new InvalidEnvelopeError(`${event.eventType} ${event.eventId} has no memberId`);
  const { memberId } = parsed.data;
  return transitionIfNewer({
    client: deps.client,
    tableName: deps.tableName,
    key: readModelKey(MEMBER_ACTIVITY_VIEW, ORDER, event.aggregateId),
    sequence: event.sequence,
    decide: (current) => {
      const delta = (status === 'open' ? 1 : 0) - (current?.status === 'open' ? 1 : 0);
      return {
        attributes: { orderId: event.aggregateId, memberId, status },
        also:
          delta === 0
            ? []
            : [
                {
                  Update: {
                    TableName: deps.tableName,
                    Key: readModelKey(MEMBER_ACTIVITY_VIEW, MEMBER, memberId),
                    UpdateExpression: 'SET #memberId = :memberId ADD #openOrders :delta',
                    ExpressionAttributeNames: { '#memberId': 'memberId', '#openOrders': 'openOrders' },
                    ExpressionAttributeValues: { ':memberId': memberId, ':delta': delta },
                  },
                },
              ],
      };
    },
  });
}

/** A member's activity as the read model holds it, or undefined when it knows nothing of the member. */
export async function readMemberActivity(
  deps: MemberActivityDependencies,
  memberId: string,
): Promise<MemberActivity | undefined> {
  const output = await deps.client.send(
    new GetCommand({
      TableName: deps.tableName,
      Key: readModelKey(MEMBER_ACTIVITY_VIEW, MEMBER, memberId),
      ConsistentRead: true,
    }),
  );
  const item = output.Item;
  if (!item) return undefined;
  return {
    memberId,
    ...(item.status === 'active' || item.status === 'withdrawn' ? { status: item.status } : {}),
    openOrders: typeof item.openOrders === 'number' ? item.openOrders : 0,
  };
}
