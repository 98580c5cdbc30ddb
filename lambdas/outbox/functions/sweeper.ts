/**
 * The sweeper: invoked on a schedule, republishes outbox events that stayed
 * pending longer than the threshold (the relay missed them, or was down for
 * longer than the stream keeps records) and reports the oldest pending age.
 */
import type { Context, ScheduledEvent } from 'aws-lambda';
import {
  outboxLayoutFromEnv,
  SWEEPER_DEFAULTS,
  SWEEPER_THRESHOLD_ENV,
  type SweepResult,
  sweep,
} from '../index';
import { docClient, dynamoDbClient, eventBridgeClient, sqsClient } from './clients';
import { ENV, numberEnv, requireEnv } from './env';
import { logger, metrics, tracer } from './powertools';

const tableName = requireEnv(ENV.TABLE_NAME);
const eventBusName = requireEnv(ENV.EVENT_BUS_NAME);
const poisonQueueUrl = requireEnv(ENV.POISON_QUEUE_URL);
const deliveredRetentionHours = numberEnv(ENV.DELIVERED_TTL_HOURS, 24);
const layout = outboxLayoutFromEnv(process.env);
const thresholdSeconds = numberEnv(SWEEPER_THRESHOLD_ENV, SWEEPER_DEFAULTS.thresholdSeconds);

// The document client sends through the base client, so tracing the base
// client traces the reads and the marks.
const dynamoDb = tracer.captureAWSv3Client(dynamoDbClient());
const dynamo = docClient();
const eventBridge = tracer.captureAWSv3Client(eventBridgeClient());
const sqs = tracer.captureAWSv3Client(sqsClient());

/** Runs one sweep and returns its summary; never throws for an AWS error. */
export const handler = async (_event: ScheduledEvent, context: Context): Promise<SweepResult> => {
  logger.addContext(context);
  try {
    const result = await sweep({
      tableName,
      eventBusName,
      poisonQueueUrl,
      deliveredRetentionHours,
      layout,
      thresholdSeconds,
      dynamoDb,
      dynamo,
      eventBridge,
      sqs,
      logger,
      metrics,
      remainingTimeMs: () => context.getRemainingTimeInMillis(),
    });
    logger.info('sweep finished', { thresholdSeconds, ...result });
    return result;
  } finally {
    metrics.publishStoredMetrics();
  }
};
