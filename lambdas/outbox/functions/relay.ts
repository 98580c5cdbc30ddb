/**
 * The relay: invoked by the table stream's event source mapping with
 * outbox INSERTs, forwards them to EventBridge and answers with a partial
 * batch response (`ReportBatchItemFailures`), so the stream resumes at the
 * first record that was not dealt with.
 */
import type { Context, DynamoDBBatchResponse, DynamoDBStreamEvent } from 'aws-lambda';
import { outboxLayoutFromEnv, relayInOrder } from '../index';
import { docClient, dynamoDbClient, eventBridgeClient, sqsClient } from './clients';
import { ENV, numberEnv, requireEnv } from './env';
import { logger, metrics, tracer } from './powertools';

const tableName = requireEnv(ENV.TABLE_NAME);
const eventBusName = requireEnv(ENV.EVENT_BUS_NAME);
const poisonQueueUrl = requireEnv(ENV.POISON_QUEUE_URL);
const deliveredRetentionHours = numberEnv(ENV.DELIVERED_TTL_HOURS, 24);
const layout = outboxLayoutFromEnv(process.env);

// The document client sends through the base client, so tracing the base
// client traces the marks too.
const dynamoDb = tracer.captureAWSv3Client(dynamoDbClient());
const dynamo = docClient();
const eventBridge = tracer.captureAWSv3Client(eventBridgeClient());
const sqs = tracer.captureAWSv3Client(sqsClient());

/** Relays one batch of stream records; never throws for an AWS error. */
export const handler = async (
  event: DynamoDBStreamEvent,
  context: Context,
): Promise<DynamoDBBatchResponse> => {
  logger.addContext(context);
  try {
    const result = await relayInOrder(event.Records, {
      tableName,
      eventBusName,
      poisonQueueUrl,
      deliveredRetentionHours,
      layout,
      eventBridge,
      dynamo,
      dynamoDb,
      sqs,
      logger,
      metrics,
      remainingTimeMs: () => context.getRemainingTimeInMillis(),
    });
    logger.info('batch relayed', {
      records: event.Records.length,
      published: result.published,
      poisoned: result.poisoned,
      skipped: result.skipped,
      retried: result.retried,
      markFailures: result.markFailures,
      healed: result.healed,
      resumeAt: result.batchItemFailures[0]?.itemIdentifier,
    });
    return { batchItemFailures: result.batchItemFailures };
  } finally {
    metrics.publishStoredMetrics();
  }
};
