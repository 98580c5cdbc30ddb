import {
  DeleteItemCommand,
  DynamoDBClient,
  PutItemCommand,
  UpdateItemCommand,
} from '@aws-sdk/client-dynamodb';
import { SESv2Client, SendEmailCommand } from '@aws-sdk/client-sesv2';
import { DynamoDBDocumentClient, GetCommand, PutCommand, UpdateCommand } from '@aws-sdk/lib-dynamodb';
import type { SQSBatchResponse, SQSEvent } from 'aws-lambda';
import { mockClient } from 'aws-sdk-client-mock';
import { allCustomMatcher } from 'aws-sdk-client-mock-vitest';
import type {} from 'aws-sdk-client-mock-vitest/extend';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it, vi } from 'vitest';
import { WITHDRAWAL_DEFERRALS } from '../../../lambdas/sample/domain/notifications';
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
    ({ handler } = await import('../../../lambdas/sample/handlers/notifications'));
  });

  afterAll(() => {
    vi.unstubAllEnvs();
  });

  beforeEach(() => {
    dynamo.on(PutItemCommand).resolves({});
    dynamo.on(UpdateItemCommand).resolves({});
    dynamo.on(DeleteItemCommand).resolves({});
    ddb.on(UpdateCommand).resolves({});
    ddb.on(PutCommand).resolves({});
    ses.on(SendEmailCommand).resolves({ MessageId: 'mail' });
  });

  afterEach(() => {
    dynamo.reset();
    ddb.reset();
    ses.reset();
  });

  it('remembers the address with its sequence, makes the welcome due, sends it, then marks it sent', async () => {
    ddb.on(GetCommand).resolves({});

    const response = await handler(sqsEvent(registered), lambdaContext());

    expect(response.batchItemFailures).toEqual([]);
    expect(ddb).toHaveReceivedCommandWith(PutCommand, {
      Item: expect.objectContaining({
        pk: `VIEW#notifications#MEMBER#${memberId}`,
        sk: 'VIEW',
        email: 'ada@example.com',
        emailSequence: 1,
        seen: [1],
        welcome: 'due',
        welcomeEventId: registered.eventId,
        revision: 1,
      }),
      ConditionExpression: 'attribute_not_exists(#pk)',
    });
    expect(ses).toHaveReceivedCommandWith(SendEmailCommand, {
      FromEmailAddress: FROM,
      Destination: { ToAddresses: ['ada@example.com'] },
    });
    expect(ddb).toHaveReceivedCommandWith(UpdateCommand, {
      ConditionExpression: '#welcome = :due AND #welcomeEventId = :eventId',
      ExpressionAttributeValues: expect.objectContaining({ ':sent': 'sent', ':eventId': registered.eventId }),
    });
  });

  it('sends no welcome mail for a registration it has seen before, however late it comes again', async () => {
    ddb.on(GetCommand).resolves({
      Item: { email: 'ada@example.com', seen: [1], lastSequence: 1, welcome: 'sent', revision: 2 },
    });

    const response = await handler(sqsEvent(registered), lambdaContext());

    expect(response.batchItemFailures).toEqual([]);
    expect(ddb).not.toHaveReceivedCommand(PutCommand);
    expect(ses).not.toHaveReceivedCommand(SendEmailCommand);
  });

  it('sends no welcome mail to a member who has already left', async () => {
    ddb.on(GetCommand).resolves({
      Item: {
        seen: [3],
        lastSequence: 3,
        withdrawnAt: '2026-01-01T00:00:00Z',
        withdrawnSequence: 3,
        revision: 1,
      },
    });

    const response = await handler(sqsEvent(registered), lambdaContext());

    expect(response.batchItemFailures).toEqual([]);
    expect(ddb).not.toHaveReceivedCommand(PutCommand);
    expect(ses).not.toHaveReceivedCommand(SendEmailCommand);
  });

  it('writes the tombstone first, then sends the farewell mail and drops the address it kept for it', async () => {
    ddb.on(GetCommand).resolves({
      Item: {
        email: 'ada@example.com',
        name: 'Ada',
        seen: [1, 2],
        lastSequence: 2,
        welcome: 'sent',
        revision: 4,
      },
    });

    const response = await handler(sqsEvent(withdrawn), lambdaContext());

    expect(response.batchItemFailures).toEqual([]);
    const tombstone = ddb.commandCalls(PutCommand)[0]?.args[0].input;
    expect(tombstone?.Item).toMatchObject({
      withdrawnSequence: 3,
      farewell: 'due',
      farewellTo: 'ada@example.com',
    });
    expect(tombstone?.Item).not.toHaveProperty('email');
    expect(tombstone?.Item).not.toHaveProperty('name');
    expect(tombstone?.ConditionExpression).toBe('#revision = :revision');
    expect(ses).toHaveReceivedCommandWith(SendEmailCommand, {
      Destination: { ToAddresses: ['ada@example.com'] },
    });
    const sent = ddb.commandCalls(UpdateCommand)[0]?.args[0].input;
    expect(sent?.UpdateExpression).toMatch(/REMOVE #farewellTo, #farewellName/);
  });

  it('defers a MemberWithdrawn while an earlier event of the member is missing', async () => {
    ddb
      .on(GetCommand)
      .resolves({ Item: { email: 'ada@example.com', seen: [1], lastSequence: 1, revision: 1 } });

    const event = sqsEvent(withdrawn);
    const response = await handler(event, lambdaContext());

    expect(response.batchItemFailures).toEqual([{ itemIdentifier: event.Records[0]?.messageId }]);
    expect(ses).not.toHaveReceivedCommand(SendEmailCommand);
    expect(ddb).not.toHaveReceivedCommand(PutCommand);
  });

  it('sends the farewell to the newest address known once the message came back often enough', async () => {
    ddb
      .on(GetCommand)
      .resolves({ Item: { email: 'ada@example.com', seen: [1], lastSequence: 1, revision: 1 } });
    const event = sqsEvent(withdrawn);
    const record = event.Records[0];
    if (record) record.attributes.ApproximateReceiveCount = String(WITHDRAWAL_DEFERRALS);

    const response = await handler(event, lambdaContext());

    expect(response.batchItemFailures).toEqual([]);
    expect(ses).toHaveReceivedCommandWith(SendEmailCommand, {
      Destination: { ToAddresses: ['ada@example.com'] },
    });
  });

  it('fails the message, and keeps the farewell due, when SES refuses the farewell mail', async () => {
    ddb
      .on(GetCommand)
      .resolves({ Item: { email: 'ada@example.com', seen: [1, 2], lastSequence: 2, revision: 1 } });
    ses.on(SendEmailCommand).rejects(new Error('throttled'));

    const response = await handler(sqsEvent(withdrawn), lambdaContext());

    expect(response.batchItemFailures).toHaveLength(1);
    expect(ddb).not.toHaveReceivedCommand(UpdateCommand);
  });

  it('sends a farewell left due by an earlier delivery of the same withdrawal', async () => {
    ddb.on(GetCommand).resolves({
      Item: {
        seen: [1, 2, 3],
        lastSequence: 3,
        withdrawnAt: '2026-01-01T00:00:00Z',
        withdrawnSequence: 3,
        farewell: 'due',
        farewellEventId: withdrawn.eventId,
        farewellTo: 'ada@example.com',
        revision: 5,
      },
    });

    const response = await handler(sqsEvent(withdrawn), lambdaContext());

    expect(response.batchItemFailures).toEqual([]);
    expect(ddb).not.toHaveReceivedCommand(PutCommand);
    expect(ses).toHaveReceivedCommandWith(SendEmailCommand, {
      Destination: { ToAddresses: ['ada@example.com'] },
    });
  });
});
