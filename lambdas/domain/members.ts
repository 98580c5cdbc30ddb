/**
 * Members: register, read, update the profile, withdraw. A withdrawal erases
 * the member's personal data and cancels every open order in the same
 * transaction as the `MemberWithdrawn` event.
 */
import { GetCommand } from '@aws-sdk/lib-dynamodb';
import { type EntityWrite, entityKey, MAX_TRANSACTION_ACTIONS, type NewEvent } from '../outbox';
import { type DomainContext, eventMeta } from './context';
import { ConflictError, NotFoundError, StaleReadError, VersionMismatchError } from './errors';
import { newId } from './ids';
import { findOrder, ORDER, orderCancellation } from './orders';
import type { Plan } from './plan';

/** Aggregate type of members (first part of their partition key). */
export const MEMBER = 'MEMBER';

export type MemberStatus = 'active' | 'withdrawn';

/** A member as stored. */
export interface MemberItem {
  readonly pk: string;
  readonly sk: string;
  readonly id: string;
  readonly status: MemberStatus;
  readonly version: number;
  readonly email?: string;
  readonly name?: string;
  readonly createdAt: string;
  readonly updatedAt: string;
  readonly withdrawnAt?: string;
  /** Ids of the member's open orders; a withdrawal cancels each. */
  readonly openOrderIds?: Set<string>;
  /** Bumped by every order placed or cancelled, so a withdrawal notices an order that raced it. */
  readonly ordersRevision: number;
}

/** A member as the API shows it. */
export interface MemberView {
  readonly id: string;
  readonly status: MemberStatus;
  readonly version: number;
  readonly email?: string;
  readonly name?: string;
  readonly openOrders: number;
  readonly createdAt: string;
  readonly updatedAt: string;
  readonly withdrawnAt?: string;
}

export interface RegisterMemberInput {
  readonly email: string;
  readonly name: string;
}

export interface UpdateProfileInput {
  readonly email?: string;
  readonly name?: string;
}

/** Labels of the writes, so a failed condition can be told apart. */
const MEMBER_WRITE = 'member';

/** Actions a withdrawal needs besides the orders: the member update and its event. */
const WITHDRAWAL_BASE_ACTIONS = 2;
/** Actions per cancelled order: the order update and its event. */
const ACTIONS_PER_ORDER = 2;

/** The view of a stored member. */
export function toMemberView(item: MemberItem): MemberView {
  return {
    id: item.id,
    status: item.status,
    version: item.version,
    ...(item.email !== undefined ? { email: item.email } : {}),
    ...(item.name !== undefined ? { name: item.name } : {}),
    openOrders: item.openOrderIds?.size ?? 0,
    createdAt: item.createdAt,
    updatedAt: item.updatedAt,
    ...(item.withdrawnAt !== undefined ? { withdrawnAt: item.withdrawnAt } : {}),
  };
}

/** Reads a member (strongly consistent), or undefined. */
export async function findMember(context: DomainContext, id: string): Promise<MemberItem | undefined> {
  const output = await context.client.send(
    new GetCommand({ TableName: context.tableName, Key: entityKey(MEMBER, id), ConsistentRead: true }),
  );
  return output.Item as MemberItem | undefined;
}

/** Decides a registration: a new member at version 1 and its `MemberRegistered` event. */
export function registerMember(context: DomainContext, input: RegisterMemberInput): Plan<MemberView> {
  const id = newId();
  const now = context.now().toISOString();
  const item: MemberItem = {
    ...entityKey(MEMBER, id),
    id,
    status: 'active',
    version: 1,
    email: input.email,
    name: input.name,
    createdAt: now,
    updatedAt: now,
    ordersRevision: 0,
  };
  return {
    writes: [
      {
        label: MEMBER_WRITE,
        Put: { Item: { ...item, entityType: MEMBER }, ConditionExpression: 'attribute_not_exists(pk)' },
      },
    ],
    events: [
      {
        eventType: 'MemberRegistered',
        aggregateType: MEMBER,
        aggregateId: id,
        sequence: 1,
        data: { memberId: id, email: input.email, name: input.name },
        ...eventMeta(context, now),
      },
    ],
    result: toMemberView(item),
    // A fresh ULID cannot collide; if it ever did, deciding again picks another.
    explain: () => new StaleReadError('member id collision'),
  };
}

/**
 * Decides a profile update against the version the caller last saw. The read
 * answers the common cases (404, 409, 412) without a write; the update's
 * condition still guards against a writer that commits in between.
 */
export async function updateMemberProfile(
  context: DomainContext,
  id: string,
  expectedVersion: number,
  input: UpdateProfileInput,
): Promise<Plan<MemberView>> {
  const member = await findMember(context, id);
  if (!member) throw new NotFoundError(`member ${id} does not exist`);
  if (member.status === 'withdrawn') throw new ConflictError(`member ${id} has withdrawn`);
  if (member.version !== expectedVersion) throw new VersionMismatchError(expectedVersion, member.version);

  const now = context.now().toISOString();
  const version = expectedVersion + 1;
  const names: Record<string, string> = {
    '#version': 'version',
    '#updatedAt': 'updatedAt',
    '#status': 'status',
  };
  const values: Record<string, unknown> = {
    ':expected': expectedVersion,
    ':version': version,
    ':now': now,
    ':active': 'active',
  };
  const sets = ['#version = :version', '#updatedAt = :now'];
  const changes: UpdateProfileInput = {
    ...(input.email !== undefined ? { email: input.email } : {}),
    ...(input.name !== undefined ? { name: input.name } : {}),
  };
  for (const [field, value] of Object.entries(changes)) {
    names[`#${field}`] = field;
    values[`:${field}`] = value;
    sets.push(`#${field} = :${field}`);
  }
  return {
    writes: [
      {
        label: MEMBER_WRITE,
        Update: {
          Key: entityKey(MEMBER, id),
          UpdateExpression: `SET ${sets.join(', ')}`,
          ConditionExpression: 'attribute_exists(pk) AND #version = :expected AND #status = :active',
          ExpressionAttributeNames: names,
          ExpressionAttributeValues: values,
          ReturnValuesOnConditionCheckFailure: 'ALL_OLD',
        },
      },
    ],
    events: [
      {
        eventType: 'MemberProfileUpdated',
        aggregateType: MEMBER,
        aggregateId: id,
        sequence: version,
        data: { memberId: id, changes },
        ...eventMeta(context, now),
      },
    ],
    result: toMemberView({ ...member, ...changes, version, updatedAt: now }),
    explain: (error) => {
      const current = error.failureOf(MEMBER_WRITE)?.item as MemberItem | undefined;
      if (!current) return new NotFoundError(`member ${id} does not exist`);
      if (current.status === 'withdrawn') return new ConflictError(`member ${id} has withdrawn`);
      if (current.version !== expectedVersion)
        return new VersionMismatchError(expectedVersion, current.version);
      return new StaleReadError('member changed while updating');
    },
  };
}

/**
 * Decides a withdrawal: erase the member's personal data and cancel each open
 * order, all with their events in one transaction. More open orders than fit
 * in one transaction is a conflict the caller must resolve first.
 *
 * @param reservedActions transaction actions the caller adds (an idempotency record)
 */
export async function withdrawMember(
  context: DomainContext,
  id: string,
  reservedActions = 0,
): Promise<Plan<MemberView>> {
  const member = await findMember(context, id);
  if (!member) throw new NotFoundError(`member ${id} does not exist`);
  if (member.status === 'withdrawn') throw new ConflictError(`member ${id} has already withdrawn`);

  const orderIds = [...(member.openOrderIds ?? [])].sort();
  const capacity = Math.floor(
    (MAX_TRANSACTION_ACTIONS - reservedActions - WITHDRAWAL_BASE_ACTIONS) / ACTIONS_PER_ORDER,
  );
  if (orderIds.length > capacity) {
    throw new ConflictError(
      `member ${id} has ${orderIds.length} open orders; one withdrawal can cancel at most ${capacity} ` +
        `together with the withdrawal (a DynamoDB transaction holds ${MAX_TRANSACTION_ACTIONS} actions). ` +
        `Cancel ${orderIds.length - capacity} or more orders first, then withdraw.`,
    );
  }
  const orders = await Promise.all(orderIds.map((orderId) => findOrder(context, orderId)));

  const now = context.now().toISOString();
  const version = member.version + 1;
  const writes: EntityWrite[] = [
    {
      label: MEMBER_WRITE,
      Update: {
        Key: entityKey(MEMBER, id),
        // Personal data is erased here, in the same transaction as the event.
        UpdateExpression:
          'SET #status = :withdrawn, #version = :version, #updatedAt = :now, #withdrawnAt = :now ' +
          'REMOVE #email, #name, #openOrderIds',
        ConditionExpression: '#version = :expected AND #ordersRevision = :revision AND #status = :active',
        ExpressionAttributeNames: {
          '#status': 'status',
          '#version': 'version',
          '#updatedAt': 'updatedAt',
          '#withdrawnAt': 'withdrawnAt',
          '#email': 'email',
          '#name': 'name',
          '#openOrderIds': 'openOrderIds',
          '#ordersRevision': 'ordersRevision',
        },
        ExpressionAttributeValues: {
          ':withdrawn': 'withdrawn',
          ':active': 'active',
          ':version': version,
          ':expected': member.version,
          ':revision': member.ordersRevision,
          ':now': now,
        },
      },
    },
  ];
  const events: NewEvent[] = [];
  for (const [index, order] of orders.entries()) {
    if (order?.status !== 'open')
      throw new StaleReadError(`order ${orderIds[index]} changed during the withdrawal`);
    const cancellation = orderCancellation(context, order, { memberId: id, reason: 'member-withdrawn', now });
    writes.push({ label: `${ORDER}:${order.id}`, ...cancellation.write });
    events.push(cancellation.event);
  }
  events.push({
    eventType: 'MemberWithdrawn',
    aggregateType: MEMBER,
    aggregateId: id,
    sequence: version,
    data: { memberId: id, cancelledOrderIds: orderIds },
    ...eventMeta(context, now),
  });

  const { email: _email, name: _name, openOrderIds: _open, ...rest } = member;
  return {
    writes,
    events,
    result: toMemberView({ ...rest, status: 'withdrawn', version, updatedAt: now, withdrawnAt: now }),
    // The member or an order changed after it was read (a concurrent order,
    // cancellation or update): deciding again from a fresh read resolves it.
    explain: () => new StaleReadError(`member ${id} changed during the withdrawal`),
  };
}
