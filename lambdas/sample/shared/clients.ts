/**
 * SDK clients, created once per execution environment and reused across
 * invocations. Library functions take a client parameter; handlers pass these.
 */
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { EventBridgeClient } from '@aws-sdk/client-eventbridge';
import { SQSClient } from '@aws-sdk/client-sqs';
import { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { ENV } from './env';

/**
 * Endpoint overrides exist only for the local runtime and tests. In AWS
 * neither variable is set and the SDK resolves the regional endpoint.
 */
function endpoint(specific: string): string | undefined {
  return process.env[specific] || process.env[ENV.AWS_ENDPOINT_URL] || undefined;
}

/** Builds a document client that drops `undefined` fields (optional attributes are simply absent). */
export function createDocumentClient(client: DynamoDBClient): DynamoDBDocumentClient {
  return DynamoDBDocumentClient.from(client, {
    marshallOptions: { removeUndefinedValues: true, convertClassInstanceToMap: false },
  });
}

let dynamoDb: DynamoDBClient | undefined;
let documentClient: DynamoDBDocumentClient | undefined;
let eventBridge: EventBridgeClient | undefined;
let sqs: SQSClient | undefined;

/** The process-wide DynamoDB client. */
export function dynamoDbClient(): DynamoDBClient {
  dynamoDb ??= new DynamoDBClient({ endpoint: endpoint(ENV.DYNAMODB_ENDPOINT) });
  return dynamoDb;
}

/** The process-wide DynamoDB document client. */
export function docClient(): DynamoDBDocumentClient {
  documentClient ??= createDocumentClient(dynamoDbClient());
  return documentClient;
}

/**
 * The process-wide EventBridge client. The relay does its own entry-level
 * retries within the invocation's time, so the SDK makes one attempt per call.
 */
export function eventBridgeClient(): EventBridgeClient {
  eventBridge ??= new EventBridgeClient({ endpoint: endpoint('EVENTBRIDGE_ENDPOINT'), maxAttempts: 1 });
  return eventBridge;
}

/** The process-wide SQS client. */
export function sqsClient(): SQSClient {
  sqs ??= new SQSClient({ endpoint: endpoint('SQS_ENDPOINT') });
  return sqs;
}
