/**
 * The `member-activity` consumer: a read model of each member's status and
 * open-order count, fed by its SQS queue with partial batch responses.
 */
import { createConsumer } from '../../consumer';
import { SAMPLE_EVENTS } from '../domain/events';
import {
  applyMemberActivity,
  MEMBER_ACTIVITY_CONSUMER,
  MEMBER_ACTIVITY_EVENT_TYPES,
} from '../domain/member-activity';
import { docClient, dynamoDbClient } from '../shared/clients';
import { ENV, requireEnv } from '../shared/env';
import { logger, metrics, tracer } from '../shared/powertools';

const tableName = requireEnv(ENV.TABLE_NAME);

// The document client sends through the base client, so tracing the base client traces both.
const dynamoDb = tracer.captureAWSv3Client(dynamoDbClient());
const deps = { client: docClient(), tableName };

export const handler = createConsumer({
  name: MEMBER_ACTIVITY_CONSUMER,
  tableName,
  dynamoDb,
  logger,
  metrics,
  // Each event's data is checked against the catalogue on arrival; one that does not match fails alone.
  catalogue: SAMPLE_EVENTS.pick(...MEMBER_ACTIVITY_EVENT_TYPES),
  apply: (event) => applyMemberActivity(deps, event),
});
