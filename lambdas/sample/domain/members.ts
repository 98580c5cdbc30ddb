/**
 * Members: register, read, update the profile, withdraw. A withdrawal erases
 * the member's personal data and cancels every open order in the same
 * transaction as the `MemberWithdrawn` event.
 *
 * Personal data of an answer stored for an Idempotency-Key is kept on the
 * member item (`replayProfiles`), not in the stored answer, so the
 * withdrawal's own update erases it with the rest (no extra transaction
 * actions, nothing left in an idempotency record).
 */
import { GetCommand } from '@aws-sdk/lib-dynamodb';
import { type EntityWrite, entityKey, MAX_TRANSACTION_ACTIONS, type NewEvent } from '../../outbox';
import { type DomainContext, eventMeta } from './context';
import {
  ConflictError,
  NotFoundError,
  RateLimitedError,
  StaleReadError,
  VersionMismatchError,
} from './errors';
import type { SampleEventData } from './events';
import { newId } from './ids';
import { findOrder, ORDER, orderCancellation } from './orders';
import type { CommandOptions, Plan } from './plan';
import { type MemberView, toMemberView } from './views';

export { type MemberView, toMemberView } from './views';

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
  /**
   * The personal fields of answers stored for Idempotency-Keys, by the
   * member version they answered with; each entry lives as long as its
   * idempotency record. Erased by the withdrawal with `email` and `name`.
   */
  readonly replayProfiles?: Readonly<Record<string, ReplayProfile>>;
}

/** The personal fields of one stored answer, kept on the member item until the answer expires. */
export interface ReplayProfile {
  readonly email?: string;
  readonly name?: string;
  /** Epoch seconds: the idempotency record's own `expiresAt`. */
  readonly expiresAt: number;
}

/**
 * Most answers with personal data a member can have stored at once (one per
 * registration or profile update sent with an Idempotency-Key, each kept 24
 * hours). The bound keeps the member item within DynamoDB's 400 KB: an entry
 * holds at most about 1.1 KB (email 254 bytes, name 200 characters of up to 4
 * UTF-8 bytes), so 50 take at most 55 KB (test/unit/domain-limits.test.ts
 * builds the largest member item and checks it).
 */
export const MAX_REPLAY_PROFILES = 50;

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

/** The member's replay profiles whose idempotency records have not expired at `nowSeconds`. */
function liveReplayProfiles(
  member: MemberItem | undefined,
  nowSeconds: number,
): Record<string, ReplayProfile> {
  const live: Record<string, ReplayProfile> = {};
  for (const [version, profile] of Object.entries(member?.replayProfiles ?? {})) {
    // The record is answered until expiresAt (readStored in lambdas/sample/shared/api.ts uses the same test).
    if (profile.expiresAt >= nowSeconds) live[version] = profile;
  }
  return live;
}

/**
 * The personal fields a stored answer of `memberId` at `version` had, or
 * undefined once the member withdrew (or the answer expired).
 */
export async function replayProfileOf(
  context: DomainContext,
  memberId: string,
  version: number,
): Promise<Pick<ReplayProfile, 'email' | 'name'> | undefined> {
  const member = await findMember(context, memberId);
  const profile = member?.replayProfiles?.[String(version)];
  if (!profile) return undefined;
  return {
    ...(profile.email !== undefined ? { email: profile.email } : {}),
    ...(profile.name !== undefined ? { name: profile.name } : {}),
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
export function registerMember(
  context: DomainContext,
  input: RegisterMemberInput,
  options: CommandOptions = { reservedActions: 0 },
): Plan<MemberView> {
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
    ...(options.replayExpiresAt !== undefined
      ? {
          replayProfiles: {
            '1': { email: input.email, name: input.name, expiresAt: options.replayExpiresAt },
          },
        }
      : {}),
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
        data: {
          memberId: id,
          email: input.email,
          name: input.name,
        } satisfies SampleEventData<'MemberRegistered'>,
        ...eventMeta(context, now),
      },
    ],
    result: toMemberView(item),
    personal: { memberId: id, version: 1 },
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
  options: CommandOptions = { reservedActions: 0 },
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
  const removes: string[] = [];
  const replay = replayProfilesAfterUpdate(member, { ...member, ...changes }, version, options, context);
  if (replay) {
    names['#replayProfiles'] = 'replayProfiles';
    if (Object.keys(replay).length > 0) {
      values[':replayProfiles'] = replay;
      sets.push('#replayProfiles = :replayProfiles');
    } else {
      removes.push('#replayProfiles');
    }
  }
  return {
    writes: [
      {
        label: MEMBER_WRITE,
        Update: {
          Key: entityKey(MEMBER, id),
          UpdateExpression: `SET ${sets.join(', ')}${removes.length > 0 ? ` REMOVE ${removes.join(', ')}` : ''}`,
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
        data: { memberId: id, changes } satisfies SampleEventData<'MemberProfileUpdated'>,
        ...eventMeta(context, now),
      },
    ],
    result: toMemberView({ ...member, ...changes, version, updatedAt: now }),
    personal: { memberId: id, version },
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
 * The member's replay profiles after an update to `version`: expired entries
 * dropped, and the new answer's personal fields added when it is stored for
 * an Idempotency-Key. Undefined when nothing changes. The update's version
 * condition makes this read-modify-write safe: no other write to the map can
 * commit in between.
 */
function replayProfilesAfterUpdate(
  member: MemberItem,
  profile: { readonly email?: string | undefined; readonly name?: string | undefined },
  version: number,
  options: CommandOptions,
  context: DomainContext,
): Record<string, ReplayProfile> | undefined {
  const nowSeconds = Math.floor(context.now().getTime() / 1000);
  const live = liveReplayProfiles(member, nowSeconds);
  const pruned = Object.keys(live).length !== Object.keys(member.replayProfiles ?? {}).length;
  if (options.replayExpiresAt === undefined) return pruned ? live : undefined;
  const expiries = Object.values(live).map((entry) => entry.expiresAt);
  if (expiries.length >= MAX_REPLAY_PROFILES) {
    const retryAfter = Math.max(1, Math.min(...expiries) - nowSeconds + 1);
    throw new RateLimitedError(
      `member ${member.id} has ${expiries.length} profile answers stored for Idempotency-Keys in the last ` +
        `24 hours, the most one member can hold (they are kept on the member item, which DynamoDB limits ` +
        `to 400 KB); send this update without an Idempotency-Key, or retry in ${retryAfter} seconds`,
      retryAfter,
    );
  }
  return {
    ...live,
    [String(version)]: {
      ...(profile.email !== undefined ? { email: profile.email } : {}),
      ...(profile.name !== undefined ? { name: profile.name } : {}),
      expiresAt: options.replayExpiresAt,
    },
  };
}

/**
 * Decides a withdrawal: erase the member's personal data and cancel each open
 * order, all with their events in one transaction. More open orders than fit
 * in one transaction is a conflict the caller must resolve first.
 *
 * @param options.reservedActions transaction actions the caller adds (an idempotency record)
 */
export async function withdrawMember(
  context: DomainContext,
  id: string,
  options: CommandOptions = { reservedActions: 0 },
): Promise<Plan<MemberView>> {
  const { reservedActions } = options;
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
        // Personal data is erased here, in the same transaction as the event:
        // the profile and the personal fields of every stored answer.
        UpdateExpression:
          'SET #status = :withdrawn, #version = :version, #updatedAt = :now, #withdrawnAt = :now ' +
          'REMOVE #email, #name, #openOrderIds, #replayProfiles',
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
          '#replayProfiles': 'replayProfiles',
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
    data: { memberId: id, cancelledOrderIds: orderIds } satisfies SampleEventData<'MemberWithdrawn'>,
    ...eventMeta(context, now),
  });

  const { email: _email, name: _name, openOrderIds: _open, replayProfiles: _replay, ...rest } = member;
  return {
    writes,
    events,
    result: toMemberView({ ...rest, status: 'withdrawn', version, updatedAt: now, withdrawnAt: now }),
    // The member or an order changed after it was read (a concurrent order,
    // cancellation or update): deciding again from a fresh read resolves it.
    explain: () => new StaleReadError(`member ${id} changed during the withdrawal`),
  };
}
