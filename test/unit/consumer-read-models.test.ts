import * as fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import type { EventEnvelope } from '../../lambdas/outbox/envelope';
import {
  type ContactEvent,
  decideContact,
  type MemberContact,
  WITHDRAWAL_DEFERRALS,
} from '../../lambdas/sample/domain/notifications';
import { envelope, newId } from '../helpers/consumer-events';
import { contactView, foldContact } from '../helpers/read-models';

const memberId = newId();
const now = new Date('2026-12-01T00:00:00Z');

/** A member's events: the registration, profile updates (each changes something), maybe the withdrawal. */
const historyArb = fc
  .record({
    updates: fc.array(
      fc.record({
        email: fc.option(fc.emailAddress(), { nil: undefined }),
        name: fc.option(fc.string({ minLength: 1 }), { nil: undefined }),
      }),
      { maxLength: 5 },
    ),
    withdraws: fc.boolean(),
    email: fc.emailAddress(),
    name: fc.string({ minLength: 1 }),
  })
  .map(({ updates, withdraws, email, name }) => {
    const events: EventEnvelope[] = [
      envelope({
        eventType: 'MemberRegistered',
        aggregateType: 'MEMBER',
        aggregateId: memberId,
        sequence: 1,
        data: { memberId, email, name },
      }),
    ];
    for (const update of updates) {
      const changes = {
        ...(update.email === undefined ? {} : { email: update.email }),
        ...(update.name === undefined ? {} : { name: update.name }),
      };
      events.push(
        envelope({
          eventType: 'MemberProfileUpdated',
          aggregateType: 'MEMBER',
          aggregateId: memberId,
          sequence: events.length + 1,
          data: { memberId, changes },
        }),
      );
    }
    if (withdraws) {
      events.push(
        envelope({
          eventType: 'MemberWithdrawn',
          aggregateType: 'MEMBER',
          aggregateId: memberId,
          sequence: events.length + 1,
        }),
      );
    }
    return events;
  });

function asContactEvent(event: EventEnvelope): ContactEvent {
  const data = event.data as { email?: string; name?: string; changes?: { email?: string; name?: string } };
  if (event.eventType === 'MemberWithdrawn')
    return { kind: 'withdrawn', eventId: event.eventId, sequence: event.sequence };
  const fields = event.eventType === 'MemberRegistered' ? data : (data.changes ?? {});
  return {
    kind: 'fields',
    eventId: event.eventId,
    sequence: event.sequence,
    ...fields,
    welcome: event.eventType === 'MemberRegistered',
  };
}

/** Deliveries: every event at least once, some more often, in the order the indices give. */
const deliveriesArb = (events: readonly EventEnvelope[]) =>
  fc.array(fc.nat({ max: events.length - 1 }), { maxLength: events.length * 2 }).chain((extra) =>
    fc.shuffledSubarray([...events.map((_, index) => index), ...extra], {
      minLength: events.length + extra.length,
    }),
  );

describe('notifications read model (decideContact)', () => {
  it('ends as the events in sequence order give it, for any delivery order and duplicates', () => {
    fc.assert(
      fc.property(
        historyArb.chain((events) => fc.tuple(fc.constant(events), deliveriesArb(events))),
        ([events, order]) => {
          let item: MemberContact | undefined;
          const queue = order.map((index) => ({ event: events[index] as EventEnvelope, receives: 0 }));
          const welcomes = new Set<string>();
          let farewellTo: string | undefined;
          for (let next = queue.shift(); next; next = queue.shift()) {
            next.receives += 1;
            const decision = decideContact(item, asContactEvent(next.event), {
              now,
              receiveCount: next.receives,
            });
            if (decision.deferred) {
              // Back after the visibility timeout, behind everything waiting.
              queue.push(next);
              continue;
            }
            if (decision.next) item = decision.next;
            if (item?.welcome === 'due' && item.welcomeEventId) welcomes.add(item.welcomeEventId);
            if (item?.farewell === 'due') farewellTo ??= item.farewellTo;
          }

          const model = foldContact(events);
          expect(contactView(item)).toEqual(model.view);
          expect(welcomes.size).toBeLessThanOrEqual(1);
          if (farewellTo !== undefined) expect(farewellTo).toBe(model.farewellTo);
        },
      ),
      { numRuns: 500 },
    );
    // 500 runs took 1.8 s to over 5 s (the default cap) at load 14-18 on 2 cores.
  }, 60_000);

  it('changes nothing for an event it has applied before, however late it comes', () => {
    fc.assert(
      fc.property(historyArb, (events) => {
        let item: MemberContact | undefined;
        for (const event of events)
          item = decideContact(item, asContactEvent(event), { now, receiveCount: 1 }).next ?? item;

        for (const event of events) {
          expect(decideContact(item, asContactEvent(event), { now, receiveCount: 1 }).next).toBeUndefined();
        }
      }),
    );
  });

  it('sends the farewell to the newest address known after the last deferral', () => {
    const item: MemberContact = {
      email: 'a@example.com',
      emailSequence: 1,
      seen: [1],
      lastSequence: 1,
      welcome: 'sent',
    };
    const event: ContactEvent = { kind: 'withdrawn', eventId: 'w', sequence: 3 };

    expect(decideContact(item, event, { now, receiveCount: WITHDRAWAL_DEFERRALS - 1 }).deferred).toEqual(
      expect.any(String),
    );
    expect(decideContact(item, event, { now, receiveCount: WITHDRAWAL_DEFERRALS }).next).toMatchObject({
      farewell: 'due',
      farewellTo: 'a@example.com',
    });
  });
});
