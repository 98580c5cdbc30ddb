/**
 * The users service's writer: a user's profile and its `UserRegistered`
 * event commit in one DynamoDB transaction, so the event is published if
 * and only if the user exists. README "Use it in your own service" quotes it.
 *
 * The table's attribute names and the pending index's shard count come from
 * the `OUTBOX_*` variables that `TransactionalOutbox.grantWriter` sets
 * (`outboxLayoutFromEnv`), and each event names its aggregate's partition
 * key as the service builds it (`aggregateKey`), so the outbox items land in
 * the user's own partition, next to its profile.
 */
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { ulid } from 'ulid';
// In your service: import { ConditionFailedError, OutboxWriter, outboxLayoutFromEnv } from '<this repository>/lambdas/outbox';
import { ConditionFailedError, OutboxWriter, outboxLayoutFromEnv } from '../../lambdas/outbox';

/** What the function is asked to do. */
export interface RegisterUser {
  readonly email: string;
  readonly name: string;
}

/** Thrown when the email address is already registered. */
export class UserExistsError extends Error {
  override readonly name = 'UserExistsError';
}

/** The service's own keys: a user's profile is `USER#<id>` / `PROFILE`. */
export function userProfileKey(userId: string): { PK: string; SK: string } {
  return { PK: `USER#${userId}`, SK: 'PROFILE' };
}

// Read once at cold start; TransactionalOutbox.grantWriter sets TABLE_NAME and OUTBOX_*.
const tableName = requiredVariable('TABLE_NAME');
const source = requiredVariable('EVENT_SOURCE');
const writer = new OutboxWriter({
  tableName,
  source,
  client: DynamoDBDocumentClient.from(new DynamoDBClient({})),
  // PK/SK, the pending index's names and shards, the TTL attribute.
  layout: outboxLayoutFromEnv(process.env),
});

/** Registers a user: the profile and its first event, atomically. */
export async function registerUser(request: RegisterUser): Promise<{ userId: string }> {
  const userId = ulid();
  try {
    await writer.write({
      writes: [
        {
          label: 'profile',
          Put: {
            Item: { ...userProfileKey(userId), email: request.email, name: request.name, version: 1 },
            ConditionExpression: 'attribute_not_exists(PK)',
          },
        },
      ],
      events: [
        {
          eventType: 'UserRegistered',
          aggregateType: 'USER',
          aggregateId: userId,
          // The user's partition: the outbox item is USER#<id> / OUTBOX#<sequence>.
          aggregateKey: userProfileKey(userId).PK,
          // The aggregate's version after the event: orders its events on the bus.
          sequence: 1,
          data: { userId, email: request.email, name: request.name },
        },
      ],
    });
  } catch (error) {
    if (error instanceof ConditionFailedError && error.failureOf('profile')) {
      throw new UserExistsError(`user ${userId} exists already`, { cause: error });
    }
    throw error;
  }
  return { userId };
}

/** The Lambda entry point. */
export const handler = (request: RegisterUser): Promise<{ userId: string }> => registerUser(request);

function requiredVariable(name: string): string {
  const value = process.env[name];
  if (value === undefined || value === '') throw new Error(`environment variable ${name} is required`);
  return value;
}
