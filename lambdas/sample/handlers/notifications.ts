/**
 * The `notifications` consumer: welcome and farewell mails for the member
 * lifecycle, fed by its SQS queue with partial batch responses.
 */
import { SESv2Client } from '@aws-sdk/client-sesv2';
import { createConsumer, MAIL_FROM_ENV } from '../../consumer';
import { SAMPLE_EVENTS } from '../domain/events';
import { applyNotification, NOTIFICATION_EVENT_TYPES, NOTIFICATIONS_CONSUMER } from '../domain/notifications';
import { docClient, dynamoDbClient } from '../shared/clients';
import { ENV, requireEnv } from '../shared/env';
import { logger, metrics, tracer } from '../shared/powertools';

const tableName = requireEnv(ENV.TABLE_NAME);
const fromAddress = requireEnv(MAIL_FROM_ENV);

// The document client sends through the base client, so tracing the base client traces both.
const dynamoDb = tracer.captureAWSv3Client(dynamoDbClient());
// Locally the SDK's own AWS_ENDPOINT_URL(_SESV2) aims it at moto; in AWS neither is set.
const ses = tracer.captureAWSv3Client(new SESv2Client({}));
const deps = { client: docClient(), tableName, ses, fromAddress, now: () => new Date() };

export const handler = createConsumer({
  name: NOTIFICATIONS_CONSUMER,
  tableName,
  dynamoDb,
  logger,
  metrics,
  // Each event's data is checked against the catalogue on arrival; one that does not match fails alone.
  catalogue: SAMPLE_EVENTS.pick(...NOTIFICATION_EVENT_TYPES),
  apply: (event, _delivered, delivery) => applyNotification(deps, event, delivery),
});
