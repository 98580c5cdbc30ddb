/**
 * The sample consumers' read models as the events in `sequence` order give
 * them (the "model"), and the same views read from what a consumer stored.
 * A consumer is correct when, for every delivery order, duplicate and late
 * redelivery, what it stored shows the model's view.
 */

import type { EventEnvelope } from '../../lambdas/outbox/envelope';
import type { MemberActivity } from '../../lambdas/sample/domain/member-activity';
import type { MemberContact } from '../../lambdas/sample/domain/notifications';

/** What the notifications read model shows of a member. */
export interface ContactView {
  readonly email?: string;
  readonly name?: string;
  readonly withdrawn: boolean;
}

/** The notifications model of one member, and where its farewell mail belongs. */
export interface ContactModel {
  readonly view: ContactView;
  /** The newest address before the withdrawal: where a farewell mail goes; undefined while not withdrawn. */
  readonly farewellTo?: string;
}

/** What a fold needs of an event. */
export type FoldEvent = Pick<EventEnvelope, 'eventType' | 'aggregateId' | 'sequence' | 'data'>;

function inOrder<T extends FoldEvent>(events: readonly T[]): T[] {
  return [...events].sort((a, b) => a.sequence - b.sequence);
}

/** Folds one member's events, in `sequence` order, into the notifications view. */
export function foldContact(events: readonly FoldEvent[]): ContactModel {
  let email: string | undefined;
  let name: string | undefined;
  for (const event of inOrder(events)) {
    const data = event.data as { email?: string; name?: string; changes?: { email?: string; name?: string } };
    if (event.eventType === 'MemberRegistered') {
      email = data.email;
      name = data.name;
    } else if (event.eventType === 'MemberProfileUpdated') {
      email = data.changes?.email ?? email;
      name = data.changes?.name ?? name;
    } else if (event.eventType === 'MemberWithdrawn') {
      return { view: { withdrawn: true }, ...(email === undefined ? {} : { farewellTo: email }) };
    }
  }
  return {
    view: {
      ...(email === undefined ? {} : { email }),
      ...(name === undefined ? {} : { name }),
      withdrawn: false,
    },
  };
}

/** The notifications view of a stored contact item (absent: the consumer knows nothing of the member). */
export function contactView(contact: MemberContact | undefined): ContactView | undefined {
  if (!contact) return undefined;
  return {
    ...(contact.email === undefined ? {} : { email: contact.email }),
    ...(contact.name === undefined ? {} : { name: contact.name }),
    withdrawn: contact.withdrawnAt !== undefined,
  };
}

/**
 * Folds the events of one member and of its orders, each aggregate in
 * `sequence` order, into the member-activity view.
 */
export function foldMemberActivity(
  memberId: string,
  memberEvents: readonly FoldEvent[],
  orderEvents: readonly FoldEvent[],
): MemberActivity {
  let status: MemberActivity['status'];
  for (const event of inOrder(memberEvents)) {
    if (event.eventType === 'MemberRegistered') status = 'active';
    if (event.eventType === 'MemberWithdrawn') status = 'withdrawn';
  }
  const orders = new Map<string, string>();
  for (const event of inOrder(orderEvents)) {
    if (event.eventType === 'OrderPlaced') orders.set(event.aggregateId, 'open');
    if (event.eventType === 'OrderCancelled') orders.set(event.aggregateId, 'cancelled');
  }
  const openOrders = [...orders.values()].filter((state) => state === 'open').length;
  return { memberId, ...(status === undefined ? {} : { status }), openOrders };
}
