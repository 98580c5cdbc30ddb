import {
  DeleteItemCommand,
  DynamoDBClient,
  PutItemCommand,
  TransactionCanceledException,
  UpdateItemCommand,
} from '@aws-sdk/client-dynamodb';
import {
  DynamoDBDocumentClient,
  GetCommand,
  TransactWriteCommand,
  UpdateCommand,
} from '@aws-sdk/lib-dynamodb';
import type { SQSBatchResponse, SQSEvent } from 'aws-lambda';
import { mockClient } from 'aws-sdk-client-mock';
import { allCustomMatcher } from 'aws-sdk-client-mock-vitest';
import type {} from 'aws-sdk-client-mock-vitest/extend';
import { afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { envelope, lambdaContext, newId, sqsEvent } from '../../helpers/consumer-events';

expect.extend(allCustomMatcher);

const dynamo = mockClient(DynamoDBClient);
const ddb = mockClient(DynamoDBDocumentClient);
let handler: (event: SQSEvent, context: ReturnType<typeof lambdaContext>) => Promise<SQSBatchResponse>;

const memberId = newId();
const orderId = newId();
const orderEvent = (eventType: 'OrderPlaced' | 'OrderCancelled', sequence: number) =>
  envelope({
    eventType,
    aggregateType: 'ORDER',
    aggregateId: orderId,
    sequence,
    // Complete data: the handler checks it against the sample's catalogue.
    data:
      eventType === 'OrderPlaced'
        ? { orderId, memberId, items: [{ sku: 'A-1', quantity: 1, unitPrice: 2.5 }], total: 2.5 }
        : { orderId, memberId, reason: 'customer-request' },
  });

function transactItems() {
  return ddb.commandCalls(TransactWriteCommand).map((call) => call.args[0].input.TransactItems ?? []);
}

describe('member-activity handler', () => {
  beforeAll(async () => {
    ({ handler } = await import('../../../lambdas/sample/handlers/member-activity'));
  });

  beforeEach(() => {
    dynamo.on(PutItemCommand).resolves({});
    dynamo.on(UpdateItemCommand).resolves({});
    dynamo.on(DeleteItemCommand).resolves({});
    ddb.on(UpdateCommand).resolves({});
    ddb.on(TransactWriteCommand).resolves({});
  });

  afterEach(() => {
    dynamo.reset();
    ddb.reset();
  });

  it('sets the member status from MemberWithdrawn, guarded by the sequence that set the status', async () => {
    const event = envelope({
      eventType: 'MemberWithdrawn',
      aggregateType: 'MEMBER',
      aggregateId: memberId,
      sequence: 4,
      data: { memberId, cancelledOrderIds: [] },
    });

    await handler(sqsEvent(event), lambdaContext());

    expect(ddb).toHaveReceivedCommandWith(UpdateCommand, {
      Key: { pk: `VIEW#member-activity#MEMBER#${memberId}`, sk: 'VIEW' },
      ConditionExpression: 'attribute_not_exists(#lastSequence) OR #lastSequence < :sequence',
      ExpressionAttributeNames: expect.objectContaining({ '#lastSequence': 'statusSequence' }),
      ExpressionAttributeValues: { ':memberId': memberId, ':status': 'withdrawn', ':sequence': 4 },
    });
  });

  it('leaves the member item alone on a profile update, so a later-arriving registration still applies', async () => {
    const event = envelope({
      eventType: 'MemberProfileUpdated',
      aggregateType: 'MEMBER',
      aggregateId: memberId,
      sequence: 2,
      data: { memberId, changes: { name: 'Ada L.' } },
    });

    const response = await handler(sqsEvent(event), lambdaContext());

    expect(response.batchItemFailures).toEqual([]);
    expect(ddb).not.toHaveReceivedCommand(UpdateCommand);
  });

  it('counts a newly placed order on the member in the same transaction as the order item', async () => {
    ddb.on(GetCommand).resolves({});

    await handler(sqsEvent(orderEvent('OrderPlaced', 1)), lambdaContext());

    const [items = []] = transactItems();
    expect(items[0]?.Put?.Item).toMatchObject({ status: 'open', memberId, lastSequence: 1 });
    expect(items[1]?.Update).toMatchObject({
      Key: { pk: `VIEW#member-activity#MEMBER#${memberId}`, sk: 'VIEW' },
      ExpressionAttributeValues: { ':delta': 1 },
    });
  });

  it('takes a cancelled order off the count only when it was open', async () => {
    ddb.on(GetCommand).resolves({ Item: { status: 'open', lastSequence: 1 } });

    await handler(sqsEvent(orderEvent('OrderCancelled', 2)), lambdaContext());

    expect(transactItems()[0]?.[1]?.Update?.ExpressionAttributeValues).toMatchObject({ ':delta': -1 });
  });

  it('records a cancellation that overtook its placement without touching the count', async () => {
    ddb.on(GetCommand).resolves({});

    await handler(sqsEvent(orderEvent('OrderCancelled', 2)), lambdaContext());

    expect(transactItems()[0]).toHaveLength(1);
  });

  it('ignores an order event older than the order item', async () => {
    ddb.on(GetCommand).resolves({ Item: { status: 'cancelled', lastSequence: 2 } });

    const response = await handler(sqsEvent(orderEvent('OrderPlaced', 1)), lambdaContext());

    expect(response.batchItemFailures).toEqual([]);
    expect(ddb).not.toHaveReceivedCommand(TransactWriteCommand);
  });

  it('decides again when the order item changed before the transaction', async () => {
    ddb
      .on(GetCommand)
      .resolvesOnce({})
      .resolves({ Item: { status: 'cancelled', lastSequence: 2 } });
    ddb.on(TransactWriteCommand).rejectsOnce(
      new TransactionCanceledException({
        message: 'cancelled',
        $metadata: {},
        CancellationReasons: [{ Code: 'ConditionalCheckFailed' }, { Code: 'None' }],
      }),
    );

    const response = await handler(sqsEvent(orderEvent('OrderPlaced', 1)), lambdaContext());

    expect(response.batchItemFailures).toEqual([]);
    expect(ddb).toHaveReceivedCommandTimes(TransactWriteCommand, 1);
  });

  it('fails an order event without a valid memberId', async () => {
    const event = envelope({
      eventType: 'OrderPlaced',
      aggregateType: 'ORDER',
      aggregateId: orderId,
      sequence: 1,
      data: { memberId: 'MEMBER#X' },
    });

    const response = await handler(sqsEvent(event), lambdaContext());

    expect(response.batchItemFailures).toHaveLength(1);
  });
});
