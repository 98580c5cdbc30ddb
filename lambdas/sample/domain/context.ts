/** What domain functions need from their caller: storage, a clock, and the request's tracing ids. */
import type { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';

export interface DomainContext {
  readonly client: DynamoDBDocumentClient;
  readonly tableName: string;
  readonly now: () => Date;
  /** Ties the events to the request that caused them. */
  readonly correlationId?: string;
  /** X-Ray trace header of the request, carried into the events. */
  readonly traceHeader?: string;
}

/** Fields every event of a command shares. */
export function eventMeta(context: DomainContext, occurredAt: string) {
  return {
    occurredAt,
    ...(context.correlationId ? { correlationId: context.correlationId } : {}),
    ...(context.traceHeader ? { traceHeader: context.traceHeader } : {}),
  };
}
