import {
  ConditionalCheckFailedException,
  DeleteItemCommand,
  DynamoDBClient,
  PutItemCommand,
  UpdateItemCommand,
} from '@aws-sdk/client-dynamodb';
import { SESv2Client, SendEmailCommand } from '@aws-sdk/client-sesv2';
import { DynamoDBDocumentClient, GetCommand, UpdateCommand } from '@aws-sdk/lib-dynamodb';
import type { SQSBatchResponse, SQSEvent } from 'aws-lambda';
import { mockClient } from 'aws-sdk-client-mock';
import { allCustomMatcher } from 'aws-sdk-client-mock-vitest';
import type {} from 'aws-sdk-client-mock-vitest/extend';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it, vi } from 'vitest';
import { envelope, lambdaContext, newId, sqsEvent } from '../../helpers/consumer-events';

expect.extend(allCustomMatcher);

const dynamo = mockClient(DynamoDBClient);
const ddb = mockClient(DynamoDBDocumentClient);
const ses = mockClient(SESv2Client);
const FROM = 'no-reply@example.com';
let handler: (event: SQSEvent, context: ReturnType<typeof lambdaContext>) => Promise<SQSBatchResponse>;

const memberId = newId();
const registered = envelope({
  eventType: 'MemberRegistered',
  aggregateType: 'MEMBER',
  aggregateId: memberId,
  sequence: 1,
  data: { memberId, email: 'ada@example.com', name: 'Ada' },
});
const withdrawn = envelope({
  eventType: 'MemberWithdrawn',
  aggregateType: 'MEMBER',
  aggregateId: memberId,
  sequence: 3,
  data: { memberId, cancelledOrderIds: [] },
});

describe('notifications handler', () => {
  beforeAll(async () => {
    vi.stubEnv('MAIL_FROM_ADDRESS', FROM);
    ({ handler } = await import('../../../lambdas/handlers/notifications'));
  });

  afterAll(() => {
    vi.unstubAllEnvs();
  });

  beforeEach(() => {
    dynamo.on(PutItemCommand).resolves({});
    dynamo.on(UpdateItemCommand).resolves({});
    dynamo.on(DeleteItemCommand).resolves({});
    ddb.on(UpdateCommand).resolves({});
    ses.on(SendEmailCommand).resolves({ MessageId: 'mail' });
  });

  afterEach(() => {
    dynamo.reset();
    ddb.reset();
    ses.reset();
  });

  it('remembers the address and sends a welcome mail on MemberRegistered', async () => {
    ddb.on(GetCommand).resolves({ Item: { email: 'ada@example.com', name: 'Ada', lastSequence: 1 } });

    const response = await handler(sqsEvent(registered), lambdaContext());

    expect(response.batchItemFailures).toEqual([]);
    expect(ddb).toHaveReceivedCommandWith(UpdateCommand, {
      Key: { pk: `VIEW#notifications#MEMBER#${memberId}`, sk: 'VIEW' },
      ExpressionAttributeValues: { ':email': 'ada@example.com', ':name': 'Ada', ':sequence': 1 },
    });
    expect(ses).toHaveReceivedCommandWith(SendEmailCommand, {
      FromEmailAddress: FROM,
      Destination: { ToAddresses: ['ada@example.com'] },
    });
  });

  it('sends no welcome mail to a member who has already left', async () => {
    ddb.on(UpdateCommand).rejects(
      new ConditionalCheckFailedException({
        message: 'no',
        $metadata: {},
        Item: { lastSequence: { N: '3' } },
      }),
    );
    ddb.on(GetCommand).resolves({ Item: { lastSequence: 3, withdrawnAt: '2026-01-01T00:00:00Z' } });

    const response = await handler(sqsEvent(registered), lambdaContext());

    expect(response.batchItemFailures).toEqual([]);
    expect(ses).not.toHaveReceivedCommand(SendEmailCommand);
  });

  it('sends the farewell mail to the remembered address, then erases it', async () => {
    ddb.on(GetCommand).resolves({ Item: { email: 'ada@example.com', name: 'Ada', lastSequence: 2 } });

    const response = await handler(sqsEvent(withdrawn), lambdaContext());

    expect(response.batchItemFailures).toEqual([]);
    expect(ses).toHaveReceivedCommandWith(SendEmailCommand, {
      Destination: { ToAddresses: ['ada@example.com'] },
    });
    const erase = ddb.commandCalls(UpdateCommand)[0]?.args[0].input;
    expect(erase?.UpdateExpression).toMatch(/REMOVE #email, #name$/);
    expect(erase?.ExpressionAttributeValues?.[':sequence']).toBe(3);
  });

  it('defers a MemberWithdrawn whose address has not arrived yet', async () => {
    ddb.on(GetCommand).resolves({});

    const event = sqsEvent(withdrawn);
    const response = await handler(event, lambdaContext());

    expect(response.batchItemFailures).toEqual([{ itemIdentifier: event.Records[0]?.messageId }]);
    expect(ses).not.toHaveReceivedCommand(SendEmailCommand);
    expect(ddb).not.toHaveReceivedCommand(UpdateCommand);
  });

  it('fails the message, and keeps the address, when SES refuses the farewell mail', async () => {
    ddb.on(GetCommand).resolves({ Item: { email: 'ada@example.com', lastSequence: 2 } });
    ses.on(SendEmailCommand).rejects(new Error('throttled'));

    const response = await handler(sqsEvent(withdrawn), lambdaContext());

    expect(response.batchItemFailures).toHaveLength(1);
    expect(ddb).not.toHaveReceivedCommand(UpdateCommand);
  });
});
