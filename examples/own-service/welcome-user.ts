/**
 * A consumer of the users service's events: SQS (fed by an EventBridge rule
 * on the outbox bus) -> this function, with partial batch responses and
 * idempotency records in the service's table. README "Use it in your own
 * service" quotes it.
 *
 * Its idempotency records use the table's own key and TTL names, read from
 * the same `OUTBOX_*` variables as the writer's (`outboxLayoutFromEnv`).
 */

import { Logger } from '@aws-lambda-powertools/logger';
import { Metrics } from '@aws-lambda-powertools/metrics';
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
// In your service: import { createConsumer } from '<this repository>/lambdas/consumer';
import { createConsumer } from '../../lambdas/consumer';
// In your service: import { outboxLayoutFromEnv } from '<this repository>/lambdas/outbox';
import { outboxLayoutFromEnv } from '../../lambdas/outbox';

const tableName = process.env.TABLE_NAME;
if (tableName === undefined || tableName === '')
  throw new Error('environment variable TABLE_NAME is required');
const logger = new Logger({ serviceName: 'welcome-user' });

/** Each `UserRegistered` event once per event id: here it is logged, where a real service would send a mail. */
export const handler = createConsumer({
  name: 'welcome-user',
  tableName,
  dynamoDb: new DynamoDBClient({}),
  layout: outboxLayoutFromEnv(process.env),
  logger,
  metrics: new Metrics({ namespace: 'Users', serviceName: 'welcome-user' }),
  apply: async (event) => {
    if (event.eventType === 'UserRegistered') {
      logger.info('welcoming user', { userId: event.aggregateId, sequence: event.sequence });
    }
    return undefined;
  },
});
