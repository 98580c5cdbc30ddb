/**
 * Orders: place one for an active member, cancel an open one. The member
 * item keeps the set of its open orders, so a withdrawal can cancel them in
 * its own transaction and notices any order that races it.
 */
import { GetCommand } from '@aws-sdk/lib-dynamodb';
import { type EntityWrite, entityKey, type NewEvent } from '../../outbox';
import { type DomainContext, eventMeta } from './context';
import { ConflictError, NotFoundError, StaleReadError } from './errors';
import type { SampleEventData } from './events';
import { newId } from './ids';
import type { Plan } from './plan';
import { type OrderView, toOrderView } from './views';

export { type OrderView, toOrderView } from './views';

/** Aggregate type of orders. */
export const ORDER = 'ORDER';
/** Aggregate type of members; repeated here to keep the modules acyclic at load time. */
const MEMBER = 'MEMBER';

export interface OrderItem {
  readonly sku: string;
  readonly quantity: number;
  /** Price of one unit in the shop's currency, at most two decimals. */
  readonly unitPrice: number;
}

export type OrderStatus = 'open' | 'cancelled';

/** An order as stored. */
export interface StoredOrder {
  readonly pk: string;
  readonly sk: string;
  readonly id: string;
  readonly memberId: string;
  readonly items: readonly OrderItem[];
  readonly total: number;
  readonly status: OrderStatus;
  readonly version: number;
  readonly createdAt: string;
  readonly updatedAt: string;
  readonly cancelledAt?: string;
  readonly cancellationReason?: string;
}

export interface PlaceOrderInput {
  readonly memberId: string;
  readonly items: readonly OrderItem[];
}

const ORDER_WRITE = 'order';
const MEMBER_WRITE = 'member';

/**
 * Most open orders one member can have. Each open order's id (26 bytes) sits
 * in the member item's `openOrderIds` set, and DynamoDB limits an item to 400
 * KB: an order beyond the limit would make the transaction fail with a
 * `ValidationError`. 10,000 ids take 260 KB; the rest of the item (profile,
 * at most 1.1 KB, and up to `MAX_REPLAY_PROFILES` stored answers, at most 55
 * KB) fits in what is left with a fifth of the item to spare
 * (test/unit/domain-limits.test.ts builds the largest member item and checks it).
 */
export const MAX_OPEN_ORDERS = 10_000;

/** Total of the items, computed in cents so that 0.1 + 0.2 stays 0.3. */
export function orderTotal(items: readonly OrderItem[]): number {
  const cents = items.reduce((sum, item) => sum + Math.round(item.unitPrice * 100) * item.quantity, 0);
  return cents / 100;
}

/** Reads an order (strongly consistent), or undefined. */
export async function findOrder(context: DomainContext, id: string): Promise<StoredOrder | undefined> {
  const output = await context.client.send(
    new GetCommand({ TableName: context.tableName, Key: entityKey(ORDER, id), ConsistentRead: true }),
  );
  return output.Item as StoredOrder | undefined;
}

/**
 * Decides an order: the order at version 1, its `OrderPlaced` event, and the
 * member's open-order set, in one transaction. The member write is
 * conditional on the member being active, so no order is placed for a member
 * who does not exist or has withdrawn.
 */
export function placeOrder(context: DomainContext, input: PlaceOrderInput): Plan<OrderView> {
  const id = newId();
  const now = context.now().toISOString();
  const order: StoredOrder = {
    ...entityKey(ORDER, id),
    id,
    memberId: input.memberId,
    items: input.items,
    total: orderTotal(input.items),
    status: 'open',
    version: 1,
    createdAt: now,
    updatedAt: now,
  };
  return {
    writes: [
      {
        label: MEMBER_WRITE,
        // A conditional update rather than a bare ConditionCheck: it also
        // records the order on the member, which a concurrent withdrawal's
        // condition (ordersRevision) then sees.
        // The open-order bound is part of the condition, so it holds under
        // concurrent orders too, and the member item never reaches 400 KB.
        Update: {
          Key: entityKey(MEMBER, input.memberId),
          UpdateExpression: 'ADD #openOrderIds :order, #ordersRevision :one',
          ConditionExpression:
            'attribute_exists(pk) AND #status = :active AND ' +
            '(attribute_not_exists(#openOrderIds) OR size(#openOrderIds) < :maxOpen)',
          ExpressionAttributeNames: {
            '#openOrderIds': 'openOrderIds',
            '#ordersRevision': 'ordersRevision',
            '#status': 'status',
          },
          ExpressionAttributeValues: {
            ':order': new Set([id]),
            ':one': 1,
            ':active': 'active',
            ':maxOpen': MAX_OPEN_ORDERS,
          },
          ReturnValuesOnConditionCheckFailure: 'ALL_OLD',
        },
      },
      {
        label: ORDER_WRITE,
        Put: { Item: { ...order, entityType: ORDER }, ConditionExpression: 'attribute_not_exists(pk)' },
      },
    ],
    events: [
      {
        eventType: 'OrderPlaced',
        aggregateType: ORDER,
        aggregateId: id,
        sequence: 1,
        data: {
          orderId: id,
          memberId: input.memberId,
          items: [...input.items],
          total: order.total,
        } satisfies SampleEventData<'OrderPlaced'>,
        ...eventMeta(context, now),
      },
    ],
    result: toOrderView(order),
    explain: (error) => {
      const member = error.failureOf(MEMBER_WRITE);
      if (member) {
        const current = member.item as { status?: string; openOrderIds?: Set<string> } | undefined;
        if (!current) return new ConflictError(`member ${input.memberId} does not exist`);
        if (current.status !== 'active') return new ConflictError(`member ${input.memberId} has withdrawn`);
        const open = current.openOrderIds?.size ?? 0;
        if (open >= MAX_OPEN_ORDERS) {
          return new ConflictError(
            `member ${input.memberId} has ${open} open orders, the most one member can have ` +
              `(${MAX_OPEN_ORDERS}: their ids are kept on the member item, which DynamoDB limits to 400 KB); ` +
              'cancel an order first',
          );
        }
        return new StaleReadError(`member ${input.memberId} changed while placing the order`);
      }
      return new StaleReadError('order id collision');
    },
  };
}

/**
 * The order update and `OrderCancelled` event that cancel one open order.
 * Shared by a single cancellation and by a member's withdrawal.
 */
export function orderCancellation(
  context: DomainContext,
  order: { readonly id: string; readonly version: number },
  options: {
    readonly memberId: string;
    readonly reason: SampleEventData<'OrderCancelled'>['reason'];
    readonly now: string;
  },
): { write: EntityWrite; event: NewEvent } {
  const version = order.version + 1;
  return {
    write: {
      Update: {
        Key: entityKey(ORDER, order.id),
        UpdateExpression:
          'SET #status = :cancelled, #version = :version, #updatedAt = :now, #cancelledAt = :now, #reason = :reason',
        ConditionExpression: '#status = :open AND #version = :expected',
        ExpressionAttributeNames: {
          '#status': 'status',
          '#version': 'version',
          '#updatedAt': 'updatedAt',
          '#cancelledAt': 'cancelledAt',
          '#reason': 'cancellationReason',
        },
        ExpressionAttributeValues: {
          ':cancelled': 'cancelled',
          ':open': 'open',
          ':version': version,
          ':expected': order.version,
          ':now': options.now,
          ':reason': options.reason,
        },
        ReturnValuesOnConditionCheckFailure: 'ALL_OLD',
      },
    },
    event: {
      eventType: 'OrderCancelled',
      aggregateType: ORDER,
      aggregateId: order.id,
      sequence: version,
      data: {
        orderId: order.id,
        memberId: options.memberId,
        reason: options.reason,
      } satisfies SampleEventData<'OrderCancelled'>,
      ...eventMeta(context, options.now),
    },
  };
}

/** Decides a cancellation requested by the customer. */
export async function cancelOrder(context: DomainContext, id: string): Promise<Plan<OrderView>> {
  const order = await findOrder(context, id);
  if (!order) throw new NotFoundError(`order ${id} does not exist`);
  if (order.status === 'cancelled') throw new ConflictError(`order ${id} is already cancelled`);

  const now = context.now().toISOString();
  const cancellation = orderCancellation(context, order, {
    memberId: order.memberId,
    reason: 'customer-request',
    now,
  });
  return {
    writes: [
      { label: ORDER_WRITE, ...cancellation.write },
      {
        label: MEMBER_WRITE,
        Update: {
          Key: entityKey(MEMBER, order.memberId),
          UpdateExpression: 'DELETE #openOrderIds :order ADD #ordersRevision :one',
          ConditionExpression: 'attribute_exists(pk)',
          ExpressionAttributeNames: { '#openOrderIds': 'openOrderIds', '#ordersRevision': 'ordersRevision' },
          ExpressionAttributeValues: { ':order': new Set([id]), ':one': 1 },
        },
      },
    ],
    events: [cancellation.event],
    result: toOrderView({
      ...order,
      status: 'cancelled',
      version: order.version + 1,
      updatedAt: now,
      cancelledAt: now,
      cancellationReason: 'customer-request',
    }),
    explain: (error) => {
      const current = error.failureOf(ORDER_WRITE)?.item as StoredOrder | undefined;
      if (current?.status === 'cancelled') return new ConflictError(`order ${id} is already cancelled`);
      return new StaleReadError(`order ${id} changed during the cancellation`);
    },
  };
}
