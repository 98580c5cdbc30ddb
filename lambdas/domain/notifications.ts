/**
 * The `notifications` consumer's logic: a welcome mail on `MemberRegistered`
 * and a farewell mail on `MemberWithdrawn`, through Amazon SES.
 *
 * `MemberWithdrawn` carries no address (the member's personal data is erased
 * with the withdrawal), so the consumer keeps its own read-model item per
 * member: the address and name from `MemberRegistered` and
 * `MemberProfileUpdated`, guarded by the member's sequence. After the
 * farewell mail the personal data is removed from it; what stays is a
 * tombstone (member id, sequence, withdrawal time) with a TTL, so that a late
 * or replayed earlier event can neither bring the address back nor send a
 * welcome mail to someone who has left.
 *
 * A `MemberWithdrawn` that arrives before any event with the address (SQS and
 * EventBridge do not keep order) is deferred: the message fails with
 * `RetryLaterError` and comes back after the queue's visibility timeout, by
 * when the earlier events have normally arrived. If they never do, it ends
 * in the DLQ after `maxReceiveCount` receives, and its alarm calls an
 * operator.
 *
 * Mails are sent at least once: idempotency stops every redelivery after a
 * success, but a crash between SES accepting the mail and the idempotency
 * record completing sends it again (SES has no idempotency token).
 */
import { ConditionalCheckFailedException } from '@aws-sdk/client-dynamodb';
import { type SESv2Client, SendEmailCommand } from '@aws-sdk/client-sesv2';
import { type DynamoDBDocumentClient, GetCommand, UpdateCommand } from '@aws-sdk/lib-dynamodb';
import { z } from 'zod';
import type { ApplyResult } from '../consumer/consumer';
import { InvalidEnvelopeError, RetryLaterError } from '../consumer/errors';
import { applyIfNewer, type GuardOutcome } from '../consumer/order-guard';
import type { EventEnvelope } from '../outbox/envelope';
import { readModelKey, TTL_ATTRIBUTE } from '../outbox/keys';
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
 * How long a withdrawn member's tombstone stays: as long as the bus's archive
 * keeps events (30 days), so a replay cannot bring the address back.
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

/** The consumer's read-model item of one member. */
export interface MemberContact {
  readonly email?: string;
  readonly name?: string;
  readonly lastSequence?: number;
  /** Set once the farewell mail went out and the personal data was erased. */
  readonly withdrawnAt?: string;
}

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

/** Applies one member event; other event types are ignored. */
export async function applyNotification(
  deps: NotificationsDependencies,
  event: EventEnvelope,
): Promise<ApplyResult | undefined> {
  if (event.aggregateType !== MEMBER) return undefined;
  switch (event.eventType) {
    case 'MemberRegistered': {
      const data = parseData(registeredSchema, event);
      const guard = await rememberContact(deps, event, { email: data.email, name: data.name });
      const contact = await readContact(deps, event.aggregateId);
      // Someone who has already left gets no welcome mail (the event came late, or was replayed).
      if (contact?.email && !contact.withdrawnAt) {
        await sendMail(deps, contact.email, welcomeMail(contact.name ?? data.name));
      }
      return { guard };
    }
    case 'MemberProfileUpdated': {
      const data = parseData(updatedSchema, event);
      return { guard: await rememberContact(deps, event, data.changes) };
    }
    case 'MemberWithdrawn':
      return { guard: await sayFarewell(deps, event) };
    default:
      return undefined;
  }
}

/**
 * Stores the address and name an event carries, when the event is newer
 * than what the item holds. An older event only fills fields nothing newer
 * has set (a `MemberProfileUpdated` that overtook `MemberRegistered` may
 * have changed the name alone), and never touches a tombstone.
 */
async function rememberContact(
  deps: NotificationsDependencies,
  event: EventEnvelope,
  fields: { readonly email?: string | undefined; readonly name?: string | undefined },
): Promise<GuardOutcome> {
  const key = readModelKey(NOTIFICATIONS_VIEW, MEMBER, event.aggregateId);
  const names: Record<string, string> = {};
  const values: Record<string, unknown> = {};
  for (const [field, value] of Object.entries(fields)) {
    if (value === undefined) continue;
    names[`#${field}`] = field;
    values[`:${field}`] = value;
  }
  const fieldNames = Object.keys(names);
  const guard = await applyIfNewer({
    client: deps.client,
    tableName: deps.tableName,
    key,
    sequence: event.sequence,
    set: fieldNames.map((name) => `${name} = :${name.slice(1)}`),
    names,
    values,
  });
  if (guard.applied || fieldNames.length === 0) return guard;
  try {
    await deps.client.send(
      new UpdateCommand({
        TableName: deps.tableName,
        Key: key,
        UpdateExpression: `SET ${fieldNames.map((name) => `${name} = if_not_exists(${name}, :${name.slice(1)})`).join(', ')}`,
        ConditionExpression: 'attribute_not_exists(#withdrawnAt)',
        ExpressionAttributeNames: { ...names, '#withdrawnAt': 'withdrawnAt' },
        ExpressionAttributeValues: values,
      }),
    );
  } catch (error) {
    if (!(error instanceof ConditionalCheckFailedException)) throw error;
    // A tombstone: the member has left and their data stays erased.
  }
  return guard;
}

/**
 * Sends the farewell mail to the remembered address, then erases it. The
 * mail goes first: erasing first and failing to send would lose the address
 * for good; sending first and failing to erase only repeats both on the
 * redelivery.
 */
async function sayFarewell(deps: NotificationsDependencies, event: EventEnvelope): Promise<GuardOutcome> {
  const contact = await readContact(deps, event.aggregateId);
  const current = contact?.lastSequence ?? 0;
  if (contact?.withdrawnAt) return { applied: false, current: Math.max(current, event.sequence) };
  if (!contact?.email) {
    throw new RetryLaterError(
      `no address known for member ${event.aggregateId} yet (events up to ${current} of ${event.sequence - 1} seen)`,
      event.eventId,
    );
  }
  await sendMail(deps, contact.email, farewellMail(contact.name));
  const now = deps.now();
  return applyIfNewer({
    client: deps.client,
    tableName: deps.tableName,
    key: readModelKey(NOTIFICATIONS_VIEW, MEMBER, event.aggregateId),
    sequence: event.sequence,
    set: ['#withdrawnAt = :now', '#expiresAt = :expiresAt'],
    remove: ['#email', '#name'],
    names: { '#withdrawnAt': 'withdrawnAt', '#expiresAt': TTL_ATTRIBUTE, '#email': 'email', '#name': 'name' },
    values: {
      ':now': now.toISOString(),
      ':expiresAt': Math.floor(now.getTime() / 1000) + TOMBSTONE_TTL_SECONDS,
    },
  });
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
