/** The Lambda `Context` the local runtime hands to handlers: ids, names and a deadline. */
import { randomUUID } from 'node:crypto';
import type { Context } from 'aws-lambda';

/** What differs between the local callers; the rest is Lambda's shape with local values. */
export interface LocalContextOptions {
  /** @default `arn:aws:lambda:us-east-1:123456789012:function:<functionName>` */
  readonly functionArn?: string;
  /** @default '512' */
  readonly memoryLimitInMB?: string;
}

/** A fresh context whose `getRemainingTimeInMillis` counts down from `timeoutMs`. */
export function localContext(
  functionName: string,
  timeoutMs = 29_000,
  options: LocalContextOptions = {},
): Context {
  const deadline = Date.now() + timeoutMs;
  return {
    callbackWaitsForEmptyEventLoop: true,
    functionName,
    functionVersion: '$LATEST',
    invokedFunctionArn:
      options.functionArn ?? `arn:aws:lambda:us-east-1:123456789012:function:${functionName}`,
    memoryLimitInMB: options.memoryLimitInMB ?? '512',
    awsRequestId: randomUUID(),
    logGroupName: `/aws/lambda/${functionName}`,
    logStreamName: 'local',
    getRemainingTimeInMillis: () => Math.max(0, deadline - Date.now()),
    done: () => undefined,
    fail: () => undefined,
    succeed: () => undefined,
  };
}
