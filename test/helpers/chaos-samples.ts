/**
 * The sample service's side of the chaos run: members who register, update
 * their profile, place and cancel orders and sometimes withdraw, written
 * through the outbox writer with the events the service writes; then the two
 * sample consumers (notifications, member-activity) fed those events in a
 * shuffled order, with duplicates, failures before and after the effect,
 * and late redeliveries after their idempotency records expired; then the
 * check that every read model equals the in-order fold (I5).
 */
import type { Logger } from '@aws-lambda-powertools/logger';
import type { Metrics } from '@aws-lambda-powertools/metrics';
import type { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import type { SESv2Client } from '@aws-sdk/client-sesv2';
import type { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { type ApplyEvent, createConsumer } from '../../lambdas/consumer/consumer';
import type { NewEvent } from '../../lambdas/outbox/envelope';
import { entityKey } from '../../lambdas/outbox/keys';
import type { EntityWrite, OutboxWrite, OutboxWriter } from '../../lambdas/outbox/writer';
import {
  applyMemberActivity,
  MEMBER_ACTIVITY_CONSUMER,
  readMemberActivity,
} from '../../lambdas/sample/domain/member-activity';
import {
  applyNotification,
  FAREWELL_SUBJECT,
  NOTIFICATIONS_CONSUMER,
  readContact,
  WELCOME_SUBJECT,
} from '../../lambdas/sample/domain/notifications';
import type { SentMail } from '../../local/consumers';
import {
  type DeliveryStats,
  deliverInAnyOrder,
  expireIdempotencyRecords,
  roll,
  seededRandom,
  seededUlid,
} from './chaos';
import { contactView, foldContact, foldMemberActivity } from './read-models';

/** EventBridge source of the sample events (the ledger consumer's rules do not match it). */
export const SAMPLE_SOURCE = 'com.example.members';

/** An event of the sample workload, with the id it is written with. */
export type SampleEvent = NewEvent & { readonly eventId: string };

/** One member's planned life: its transactions in order, and what they commit. */
export interface SampleMember {
  readonly memberId: string;
  readonly transactions: readonly OutboxWrite[];
  /** The member's events, in sequence order. */
  readonly memberEvents: readonly SampleEvent[];
  /** The events of the member's orders. */
  readonly orderEvents: readonly SampleEvent[];
  /** Every address the member had. */
  readonly addresses: readonly string[];
  readonly withdraws: boolean;
}

function entityPut(aggregateType: string, aggregateId: string, version: number): EntityWrite {
  return {
    label: `${aggregateType}:${aggregateId}`,
    Put: {
      Item: { ...entityKey(aggregateType, aggregateId), version },
      ConditionExpression: version === 1 ? 'attribute_not_exists(pk)' : 'version = :expected',
      ...(version === 1 ? {} : { ExpressionAttributeValues: { ':expected': version - 1 } }),
    },
  };
}

/**
 * Plans `count` members from the seed: a registration, then up to four steps
 * (a profile update changing the address, the name or both, an order placed,
 * an open order cancelled), and in 40 % of lives a withdrawal that cancels
 * the open orders in the same transaction, as the service does.
 */
export function planSampleMembers(seed: number, count: number, mailTag: string): SampleMember[] {
  const random = seededRandom(Math.floor(roll(seed, 'samples') * 2 ** 31));
  return Array.from({ length: count }, (_, index) => {
    const memberId = seededUlid(random);
    const address = (step: number) => `chaos-${mailTag}-${index}-${step}@example.com`;
    const addresses = [address(0)];
    const transactions: OutboxWrite[] = [];
    const memberEvents: SampleEvent[] = [];
    const orderEvents: SampleEvent[] = [];
    const event = (
      eventType: string,
      aggregateType: string,
      aggregateId: string,
      sequence: number,
      data: NewEvent['data'],
    ) => {
      const built: SampleEvent = {
        eventId: seededUlid(random),
        eventType,
        aggregateType,
        aggregateId,
        sequence,
        data,
      };
      (aggregateType === 'MEMBER' ? memberEvents : orderEvents).push(built);
      return built;
    };
    let version = 1;
    transactions.push({
      writes: [entityPut('MEMBER', memberId, 1)],
      events: [
        event('MemberRegistered', 'MEMBER', memberId, 1, { memberId, email: address(0), name: 'Name 0' }),
      ],
    });
    const open: string[] = [];
    const steps = Math.floor(random() * 5);
    for (let step = 1; step <= steps; step += 1) {
      const dice = random();
      if (dice < 0.55) {
        const which = random();
        const changes = {
          ...(which < 0.66 ? { email: address(step) } : {}),
          ...(which >= 0.33 ? { name: `Name ${step}` } : {}),
        };
        if (changes.email) addresses.push(changes.email);
        version += 1;
        transactions.push({
          writes: [entityPut('MEMBER', memberId, version)],
          events: [event('MemberProfileUpdated', 'MEMBER', memberId, version, { memberId, changes })],
        });
      } else if (dice < 0.85 || open.length === 0) {
        const orderId = seededUlid(random);
        open.push(orderId);
        transactions.push({
          writes: [entityPut('ORDER', orderId, 1)],
          events: [event('OrderPlaced', 'ORDER', orderId, 1, { orderId, memberId, total: step })],
        });
      } else {
        const orderId = open.shift() as string;
        transactions.push({
          writes: [entityPut('ORDER', orderId, 2)],
          events: [event('OrderCancelled', 'ORDER', orderId, 2, { orderId, memberId, reason: 'customer' })],
        });
      }
    }
    const withdraws = random() < 0.4;
    if (withdraws) {
      version += 1;
      transactions.push({
        writes: [
          entityPut('MEMBER', memberId, version),
          ...open.map((orderId) => entityPut('ORDER', orderId, 2)),
        ],
        events: [
          ...open.map((orderId) =>
            event('OrderCancelled', 'ORDER', orderId, 2, { orderId, memberId, reason: 'member-withdrawn' }),
          ),
          event('MemberWithdrawn', 'MEMBER', memberId, version, { memberId, cancelledOrderIds: [...open] }),
        ],
      });
    }
    return { memberId, transactions, memberEvents, orderEvents, addresses, withdraws };
  });
}

/** Writes every member's transactions in order, four members at a time. */
export async function writeSampleMembers(
  writer: OutboxWriter,
  members: readonly SampleMember[],
): Promise<void> {
  const queue = [...members];
  await Promise.all(
    Array.from({ length: 4 }, async () => {
      for (let member = queue.shift(); member; member = queue.shift()) {
        for (const transaction of member.transactions) await writer.write(transaction);
      }
    }),
  );
}

/** What the sample consumers went through. */
export interface SampleRun {
  /** Per consumer: the shuffled first round, and the late round after the records expired. */
  readonly rounds: Record<
    string,
    { readonly first: DeliveryStats; readonly late: DeliveryStats; readonly expired: number }
  >;
  /** Injected failures before and after the effect. */
  readonly failures: { before: number; after: number };
}

/** Share of deliveries failing before the effect, and (as much again) after it. */
const SAMPLE_FAILURE_SHARE = 0.05;
/** Share of events delivered twice in the first round. */
const SAMPLE_DUPLICATE_SHARE = 0.3;
/** Share of events delivered again after the idempotency records expired. */
const SAMPLE_LATE_SHARE = 0.4;

/**
 * Feeds the bodies (one per event, as the bus delivered them) to the real
 * notifications and member-activity consumers: shuffled, a share twice, some
 * deliveries failing before or after the effect (they come back later, with
 * a higher receive count); then every idempotency record of both is expired
 * and a share of the events comes again, shuffled anew.
 */
export async function runSampleConsumers(options: {
  readonly seed: number;
  readonly bodies: readonly string[];
  readonly client: DynamoDBClient;
  readonly doc: DynamoDBDocumentClient;
  readonly tableName: string;
  readonly ses: SESv2Client;
  readonly fromAddress: string;
  readonly logger: Logger;
  readonly metrics: Metrics;
}): Promise<SampleRun> {
  const { seed } = options;
  const failures = { before: 0, after: 0 };
  const attempts = new Map<string, number>();
  const faulty =
    (name: string, apply: ApplyEvent): ApplyEvent =>
    async (event, delivered, delivery) => {
      const key = `${name}:${event.eventId}`;
      const attempt = (attempts.get(key) ?? 0) + 1;
      attempts.set(key, attempt);
      const chance = roll(seed, 'sample-consume', key, attempt);
      if (chance < SAMPLE_FAILURE_SHARE) {
        failures.before += 1;
        throw new Error('injected: the consumer failed before its effect');
      }
      const result = await apply(event, delivered, delivery);
      if (chance < 2 * SAMPLE_FAILURE_SHARE) {
        failures.after += 1;
        throw new Error('injected: the consumer failed after its effect');
      }
      return result;
    };
  const deps = { client: options.doc, tableName: options.tableName };
  const consumers = [
    {
      name: NOTIFICATIONS_CONSUMER,
      apply: (event, _delivered, delivery) =>
        applyNotification(
          { ...deps, ses: options.ses, fromAddress: options.fromAddress, now: () => new Date() },
          event,
          delivery,
        ),
    },
    { name: MEMBER_ACTIVITY_CONSUMER, apply: (event) => applyMemberActivity(deps, event) },
  ] satisfies { name: string; apply: ApplyEvent }[];

  const rounds: SampleRun['rounds'] = {};
  await Promise.all(
    consumers.map(async ({ name, apply }) => {
      const handler = createConsumer({
        name,
        tableName: options.tableName,
        dynamoDb: options.client,
        logger: options.logger,
        metrics: options.metrics,
        apply: faulty(name, apply),
      });
      const random = seededRandom(Math.floor(roll(seed, 'sample-order', name) * 2 ** 31));
      const firstBodies = options.bodies.flatMap((body) =>
        random() < SAMPLE_DUPLICATE_SHARE ? [body, body] : [body],
      );
      const first = await deliverInAnyOrder(handler, firstBodies, { random, maxReceives: 10 });
      const expired = await expireIdempotencyRecords(options.client, options.tableName, name);
      const lateBodies = options.bodies.filter(() => random() < SAMPLE_LATE_SHARE);
      const late = await deliverInAnyOrder(handler, lateBodies, { random, maxReceives: 10 });
      rounds[name] = { first, late, expired };
    }),
  );
  return { rounds, failures };
}

/**
 * (I5) What differs between each member's read models and the in-order fold
 * of its committed events, and every mail sent more than once per member or
 * to another address than the newest: empty when the consumers converged.
 */
export async function sampleDivergences(
  doc: DynamoDBDocumentClient,
  tableName: string,
  members: readonly SampleMember[],
  mails: readonly SentMail[],
): Promise<string[]> {
  const deps = { client: doc, tableName };
  const wrong: string[] = [];
  for (const member of members) {
    const model = foldContact(member.memberEvents);
    const contact = contactView(await readContact(deps, member.memberId));
    if (JSON.stringify(contact) !== JSON.stringify(model.view)) {
      wrong.push(
        `notifications ${member.memberId}: ${JSON.stringify(contact)} instead of ${JSON.stringify(model.view)}`,
      );
    }
    const activity = await readMemberActivity(deps, member.memberId);
    const expected = foldMemberActivity(member.memberId, member.memberEvents, member.orderEvents);
    if (JSON.stringify(activity) !== JSON.stringify(expected)) {
      wrong.push(
        `member-activity ${member.memberId}: ${JSON.stringify(activity)} instead of ${JSON.stringify(expected)}`,
      );
    }
    const own = mails.filter((mail) => mail.to.some((to) => member.addresses.includes(to)));
    const welcomes = own.filter((mail) => mail.subject === WELCOME_SUBJECT).length;
    const farewells = own.filter((mail) => mail.subject === FAREWELL_SUBJECT);
    if (welcomes > 1 || (!member.withdraws && welcomes !== 1)) {
      wrong.push(`mail ${member.memberId}: ${welcomes} welcome mails`);
    }
    if (farewells.length > (member.withdraws ? 1 : 0)) {
      wrong.push(`mail ${member.memberId}: ${farewells.length} farewell mails`);
    }
    for (const farewell of farewells) {
      if (!farewell.to.includes(model.farewellTo ?? '')) {
        wrong.push(
          `mail ${member.memberId}: farewell to ${farewell.to.join()} instead of ${model.farewellTo}`,
        );
      }
    }
  }
  return wrong;
}
