/**
 * The `notifications` consumer's logic: a welcome mail on `MemberRegistered`
 * and a farewell mail on `MemberWithdrawn`, through Amazon SES.
 *
 * `MemberWithdrawn` carries no address (the member's personal data is erased
 * with the withdrawal), so the consumer keeps its own read-model item per
 * member. EventBridge and SQS keep no order, and archive replays and DLQ
 * redrives come days later, after the idempotency record expired, so the
 * item alone decides what an event changes and which mail goes out:
 *
 * - each field (`email`, `name`) carries the sequence of the event that set
 *   it, and an event sets a field only when it is newer than that: an older
 *   event never overwrites a newer one's value, whatever the arrival order;
 * - `seen` lists every sequence applied, so a redelivered event changes
 *   nothing, however late it comes;
 * - a mail is a state of the item (`welcome`, `farewell`: `due`, then
 *   `sent`), written before it is sent and owned by the event that made it
 *   due: only deliveries of that event send it, so it goes out once per
 *   member, not once per idempotency window (at least once: a crash between
 *   SES accepting the mail and the `sent` mark sends it again on the retry;
 *   SES has no idempotency token);
 * - `MemberWithdrawn` leaves a tombstone: the personal data is removed, and
 *   no later or replayed event stores it again or sends a welcome mail. The
 *   address waits in `farewellTo` only until SES accepted the farewell mail.
 *   The tombstone lives {@link TOMBSTONE_TTL_SECONDS}, longer than every
 *   redelivery path.
 *
 * The farewell mail goes to the newest address. A `MemberWithdrawn` that
 * arrives while an earlier event of the member is still missing (member
 * sequences are contiguous: every member write is one event, its sequence
 * the member's version) is deferred with `RetryLaterError`, up to
 * {@link WITHDRAWAL_DEFERRALS} receives, then sent to the newest address
 * known. One that arrives before any address (before the registration) ends
 * the member at once: a tombstone, no farewell mail (there is no address to
 * send it to), and the late registration sends no welcome mail.
 */
import { type SESv2Client, SendEmailCommand } from '@aws-sdk/client-sesv2';
import { type DynamoDBDocumentClient, GetCommand } from '@aws-sdk/lib-dynamodb';
import { z } from 'zod';
import {
  type ApplyResult,
  changeByRevision,
  type Delivery,
  type GuardOutcome,
  InvalidEnvelopeError,
  RetryLaterError,
  updateRevisioned,
} from '../../consumer';
import { type EventEnvelope, readModelKey, TTL_ATTRIBUTE } from '../../outbox';
import { MEMBER } from './members';

/** Name of the consumer: scopes its idempotency records. */
export const NOTIFICATIONS_CONSUMER = 'notifications';
/** Name of its read model (part of the read-model items' keys). */
export const NOTIFICATIONS_VIEW = 'notifications';
/** The events the consumer subscribes to (its rule's `detail-type` filter). */
export const NOTIFICATION_EVENT_TYPES = [
  'MemberRegistered',
  'MemberProfileUpdated',
  'MemberWithdrawn',
] as const;
/**
 * How long a withdrawn member's tombstone stays after the withdrawal was
 * applied: at least as long as every way an earlier event can come again,
 * the bus's archive (30 days from the event) and the DLQs (14 days), so no
 * replay or redrive can bring the address back or send a welcome mail.
 */
export const TOMBSTONE_TTL_SECONDS = 30 * 24 * 60 * 60;

/** What the notifications logic needs. */
export interface NotificationsDependencies {
  readonly client: DynamoDBDocumentClient;
  readonly tableName: string;
  readonly ses: SESv2Client;
  /** The sender address, a verified SES identity (or one of a verified domain). */
  readonly fromAddress: string;
  readonly now: () => Date;
}

/** Where a mail of a member stands: made due by an event, then sent, or skipped. */
export type MailState = 'due' | 'sent' | 'skipped';

/** The consumer's read-model item of one member (the key and `revision` aside). */
export interface MemberContact {
  readonly memberId?: string;
  readonly email?: string;
  /** Sequence of the event that set `email`. */
  readonly emailSequence?: number;
  readonly name?: string;
  /** Sequence of the event that set `name`. */
  readonly nameSequence?: number;
  /** Every sequence of the member applied so far, ascending. */
  readonly seen?: readonly number[];
  /** The highest sequence applied. */
  readonly lastSequence?: number;
  /** Set with the tombstone, when the withdrawal was applied and the personal data removed. */
  readonly withdrawnAt?: string;
  readonly withdrawnSequence?: number;
  /** The tombstone's TTL (epoch seconds). */
  readonly expiresAt?: number;
  readonly welcome?: MailState;
  /** The event whose deliveries send the welcome mail. */
  readonly welcomeEventId?: string;
  readonly farewell?: MailState;
  /** The event whose deliveries send the farewell mail. */
  readonly farewellEventId?: string;
  /** The address the farewell mail goes to, kept only while it is due. */
  readonly farewellTo?: string;
  readonly farewellName?: string;
}

/**
 * How often a `MemberWithdrawn` is received while an earlier event of the
 * member is missing before the farewell goes to the newest address known
 * anyway; below the queue's `maxReceiveCount` (5 by default), so it never
 * ends in the DLQ for it.
 */
export const WITHDRAWAL_DEFERRALS = 3;

const registeredSchema = z.object({ email: z.string().min(3), name: z.string().min(1) });
const updatedSchema = z.object({
  changes: z.object({ email: z.string().min(3).optional(), name: z.string().min(1).optional() }),
});

function parseData<T>(schema: z.ZodType<T>, event: EventEnvelope): T {
  const result = schema.safeParse(event.data);
  if (!result.success) {
    throw new InvalidEnvelopeError(`${event.eventType} ${event.eventId} has invalid data`);
  }
  return result.data;
}

/** A member event as the contact item takes it. */
export type ContactEvent =
  | {
      readonly kind: 'fields';
      readonly eventId: string;
      readonly sequence: number;
      readonly email?: string | undefined;
      readonly name?: string | undefined;
      /** A registration: it makes the welcome mail due. */
      readonly welcome: boolean;
    }
  | { readonly kind: 'withdrawn'; readonly eventId: string; readonly sequence: number };

/** What applying one event to the contact item decided. */
export interface ContactDecision {
  /** The next item; undefined when the event changes nothing. */
  readonly next: MemberContact | undefined;
  readonly guard: GuardOutcome;
  /** Why the event waits for a redelivery instead (nothing was written). */
  readonly deferred?: string;
}

/** An item written before fields carried sequences, read as the current format. */
function normalize(item: Record<string, unknown> | undefined): MemberContact | undefined {
  if (!item) return undefined;
  const contact = item as MemberContact;
  if (contact.seen) return contact;
  const last = contact.lastSequence ?? 0;
  return {
    ...contact,
    seen: Array.from({ length: last }, (_, index) => index + 1),
    ...(contact.email === undefined ? {} : { emailSequence: last }),
    ...(contact.name === undefined ? {} : { nameSequence: last }),
    ...(contact.withdrawnAt === undefined
      ? { ...(contact.email === undefined ? {} : { welcome: 'sent' as const }) }
      : { withdrawnSequence: last, welcome: 'sent' as const, farewell: 'sent' as const }),
  };
}

/**
 * Decides what one member event changes in the member's contact item: pure,
 * so it can run again when the item changed in between, and so tests can
 * check it against the events in order.
 */
export function decideContact(
  current: MemberContact | undefined,
  event: ContactEvent,
  context: { readonly now: Date; readonly receiveCount: number },
): ContactDecision {
  const seen = current?.seen ?? [];
  const lastSequence = current?.lastSequence ?? 0;
  const stale: GuardOutcome = { applied: false, current: Math.max(lastSequence, event.sequence) };
  // A tombstone takes nothing any more; a sequence seen before is a redelivery.
  if (current?.withdrawnAt !== undefined || seen.includes(event.sequence)) {
    return { next: undefined, guard: stale };
  }
  const missing = Array.from({ length: event.sequence - 1 }, (_, index) => index + 1).filter(
    (sequence) => !seen.includes(sequence),
  );
  const guard: GuardOutcome = { applied: true, gap: missing.length };
  const bookkeeping = {
    seen: [...seen, event.sequence].sort((a, b) => a - b),
    lastSequence: Math.max(lastSequence, event.sequence),
  };
  if (event.kind === 'fields') {
    const next: Record<string, unknown> = { ...current, ...bookkeeping };
    for (const field of ['email', 'name'] as const) {
      const value = event[field];
      const setBy = current?.[`${field}Sequence`];
      if (value === undefined || (setBy !== undefined && setBy > event.sequence)) continue;
      next[field] = value;
      next[`${field}Sequence`] = event.sequence;
    }
    if (event.welcome && current?.welcome === undefined) {
      next.welcome = 'due';
      next.welcomeEventId = event.eventId;
    }
    return { next: next as MemberContact, guard };
  }
  const email = current?.email;
  if (email !== undefined && missing.length > 0 && context.receiveCount < WITHDRAWAL_DEFERRALS) {
    return {
      next: undefined,
      guard,
      deferred: `events ${missing.join(', ')} of the member are missing; the farewell mail waits for the newest address`,
    };
  }
  const now = context.now;
  return {
    next: {
      ...bookkeeping,
      withdrawnAt: now.toISOString(),
      withdrawnSequence: event.sequence,
      [TTL_ATTRIBUTE]: Math.floor(now.getTime() / 1000) + TOMBSTONE_TTL_SECONDS,
      welcome: current?.welcome === 'sent' ? 'sent' : 'skipped',
      ...(current?.welcomeEventId === undefined ? {} : { welcomeEventId: current.welcomeEventId }),
      farewellEventId: event.eventId,
      ...(email === undefined
        ? { farewell: 'skipped' }
        : {
            farewell: 'due',
            farewellTo: email,
            ...(current?.name === undefined ? {} : { farewellName: current.name }),
          }),
    },
    guard,
  };
}

function contactEvent(event: EventEnvelope): ContactEvent | undefined {
  switch (event.eventType) {
    case 'MemberRegistered': {
      const data = parseData(registeredSchema, event);
      return { kind: 'fields', eventId: event.eventId, sequence: event.sequence, ...data, welcome: true };
    }
    case 'MemberProfileUpdated': {
      const { changes } = parseData(updatedSchema, event);
      return { kind: 'fields', eventId: event.eventId, sequence: event.sequence, ...changes, welcome: false };
    }
    case 'MemberWithdrawn':
      return { kind: 'withdrawn', eventId: event.eventId, sequence: event.sequence };
    default:
      return undefined;
  }
}

/**
 * Applies one member event; other event types are ignored.
 *
 * @throws RetryLaterError when a withdrawal waits for an earlier event
 */
export async function applyNotification(
  deps: NotificationsDependencies,
  event: EventEnvelope,
  delivery: Delivery = { receiveCount: 1 },
): Promise<ApplyResult | undefined> {
  if (event.aggregateType !== MEMBER) return undefined;
  const change = contactEvent(event);
  if (!change) return undefined;
  const key = readModelKey(NOTIFICATIONS_VIEW, MEMBER, event.aggregateId);
  const context = { now: deps.now(), receiveCount: delivery.receiveCount };
  const { item, decision } = await changeByRevision({
    client: deps.client,
    tableName: deps.tableName,
    key,
    decide: (current) => {
      const decided = decideContact(normalize(current), change, context);
      const next = decided.next && { ...decided.next, memberId: event.aggregateId };
      return { next, decision: decided };
    },
  });
  if (decision.deferred) throw new RetryLaterError(decision.deferred, event.eventId);
  // Also after "no change": a redelivery after a crash sends what its first delivery left due.
  await sendDueMails(deps, key, normalize(item), event.eventId);
  return { guard: decision.guard };
}

/** Sends the mails this event made due, each then marked sent. */
async function sendDueMails(
  deps: NotificationsDependencies,
  key: { readonly pk: string; readonly sk: string },
  contact: MemberContact | undefined,
  eventId: string,
): Promise<void> {
  if (!contact) return;
  if (contact.welcome === 'due' && contact.welcomeEventId === eventId && contact.email) {
    await sendMail(deps, contact.email, welcomeMail(contact.name ?? ''));
    await updateRevisioned({
      client: deps.client,
      tableName: deps.tableName,
      key,
      set: ['#welcome = :sent'],
      condition: '#welcome = :due AND #welcomeEventId = :eventId',
      names: { '#welcome': 'welcome', '#welcomeEventId': 'welcomeEventId' },
      values: { ':sent': 'sent', ':due': 'due', ':eventId': eventId },
    });
  }
  if (contact.farewell === 'due' && contact.farewellEventId === eventId && contact.farewellTo) {
    await sendMail(deps, contact.farewellTo, farewellMail(contact.farewellName));
    await updateRevisioned({
      client: deps.client,
      tableName: deps.tableName,
      key,
      set: ['#farewell = :sent'],
      remove: ['#farewellTo', '#farewellName'],
      condition: '#farewell = :due AND #farewellEventId = :eventId',
      names: {
        '#farewell': 'farewell',
        '#farewellEventId': 'farewellEventId',
        '#farewellTo': 'farewellTo',
        '#farewellName': 'farewellName',
      },
      values: { ':sent': 'sent', ':due': 'due', ':eventId': eventId },
    });
  }
}

/** The consumer's read-model item of a member, if any. */
export async function readContact(
  deps: Pick<NotificationsDependencies, 'client' | 'tableName'>,
  memberId: string,
): Promise<MemberContact | undefined> {
  const output = await deps.client.send(
    new GetCommand({
      TableName: deps.tableName,
      Key: readModelKey(NOTIFICATIONS_VIEW, MEMBER, memberId),
      ConsistentRead: true,
    }),
  );
  return output.Item as MemberContact | undefined;
}

interface Mail {
  readonly subject: string;
  readonly text: string;
}

/** The welcome mail's subject; tests and operators recognise mails by it. */
export const WELCOME_SUBJECT = 'Welcome';
/** The farewell mail's subject. */
export const FAREWELL_SUBJECT = 'Goodbye';

function welcomeMail(name: string): Mail {
  return { subject: WELCOME_SUBJECT, text: `Hello ${name},\n\nwelcome, and thank you for registering.\n` };
}

function farewellMail(name: string | undefined): Mail {
  const greeting = name ? `Hello ${name},` : 'Hello,';
  return {
    subject: FAREWELL_SUBJECT,
    text: `${greeting}\n\nyour membership has ended and your personal data has been erased. Goodbye.\n`,
  };
}

async function sendMail(deps: NotificationsDependencies, to: string, mail: Mail): Promise<void> {
  await deps.ses.send(
    new SendEmailCommand({
      FromEmailAddress: deps.fromAddress,
      Destination: { ToAddresses: [to] },
      Content: {
        Simple: {
          Subject: { Data: mail.subject, Charset: 'UTF-8' },
          Body: { Text: { Data: mail.text, Charset: 'UTF-8' } },
        },
      },
    }),
  );
}
