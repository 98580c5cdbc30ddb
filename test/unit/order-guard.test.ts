import {
  ConditionalCheckFailedException,
  DynamoDBClient,
  TransactionCanceledException,
} from '@aws-sdk/client-dynamodb';
import {
  DynamoDBDocumentClient,
  GetCommand,
  PutCommand,
  TransactWriteCommand,
  UpdateCommand,
} from '@aws-sdk/lib-dynamodb';
import { mockClient } from 'aws-sdk-client-mock';
import { allCustomMatcher } from 'aws-sdk-client-mock-vitest';
import type {} from 'aws-sdk-client-mock-vitest/extend';
import { afterEach, describe, expect, it } from 'vitest';
import { GuardContentionError } from '../../lambdas/consumer/errors';
import { applyIfNewer, changeByRevision, transitionIfNewer } from '../../lambdas/consumer/order-guard';

expect.extend(allCustomMatcher);

const ddb = mockClient(DynamoDBDocumentClient);
const client = DynamoDBDocumentClient.from(new DynamoDBClient({ region: 'us-east-1' }));
const key = { pk: 'VIEW#test#MEMBER#1', sk: 'VIEW' };

afterEach(() => {
  ddb.reset();
});

describe('applyIfNewer', () => {
  it('writes the change and the sequence under a newer-than condition', async () => {
    ddb.on(UpdateCommand).resolves({ Attributes: { lastSequence: 2 } });

    const outcome = await applyIfNewer({
      client,
      tableName: 't',
      key,
      sequence: 3,
      set: ['#status = :status'],
      remove: ['#email'],
      names: { '#status': 'status', '#email': 'email' },
      values: { ':status': 'active' },
    });

    expect(outcome).toEqual({ applied: true, gap: 0 });
    expect(ddb).toHaveReceivedCommandWith(UpdateCommand, {
      UpdateExpression: 'SET #status = :status, #lastSequence = :sequence REMOVE #email',
      ConditionExpression: 'attribute_not_exists(#lastSequence) OR #lastSequence < :sequence',
      ExpressionAttributeValues: { ':status': 'active', ':sequence': 3 },
    });
  });

  it('reports the gap when sequences were skipped', async () => {
    ddb.on(UpdateCommand).resolves({});

    expect(await applyIfNewer({ client, tableName: 't', key, sequence: 4, set: [] })).toEqual({
      applied: true,
      gap: 3,
    });
  });

  it('reports a stale event with the sequence the item holds', async () => {
    ddb.on(UpdateCommand).rejects(
      new ConditionalCheckFailedException({
        message: 'no',
        $metadata: {},
        Item: { lastSequence: { N: '5' } },
      }),
    );

    expect(await applyIfNewer({ client, tableName: 't', key, sequence: 2, set: [] })).toEqual({
      applied: false,
      current: 5,
    });
  });

  it('passes other errors on', async () => {
    ddb.on(UpdateCommand).rejects(new Error('boom'));

    await expect(applyIfNewer({ client, tableName: 't', key, sequence: 2, set: [] })).rejects.toThrow('boom');
  });
});

describe('transitionIfNewer', () => {
  const cancelled = () =>
    new TransactionCanceledException({
      message: 'cancelled',
      $metadata: {},
      CancellationReasons: [{ Code: 'ConditionalCheckFailed' }, { Code: 'None' }],
    });

  it('writes the decided item and the extra writes conditioned on the state it read', async () => {
    ddb.on(GetCommand).resolves({ Item: { ...key, status: 'open', lastSequence: 1 } });
    ddb.on(TransactWriteCommand).resolves({});

    const outcome = await transitionIfNewer({
      client,
      tableName: 't',
      key,
      sequence: 2,
      decide: (current) => ({
        attributes: { status: 'cancelled', was: current?.status },
        also: [{ Update: { TableName: 't', Key: { pk: 'm', sk: 'VIEW' }, UpdateExpression: 'ADD n :d' } }],
      }),
    });

    expect(outcome).toEqual({ applied: true, gap: 0 });
    const items = ddb.commandCalls(TransactWriteCommand)[0]?.args[0].input.TransactItems;
    expect(items?.[0]?.Put).toMatchObject({
      Item: { ...key, status: 'cancelled', was: 'open', lastSequence: 2 },
      ConditionExpression: '#lastSequence = :previous',
      ExpressionAttributeValues: { ':previous': 1 },
    });
    expect(items).toHaveLength(2);
  });

  it('requires the item to be absent when it read none', async () => {
    ddb.on(GetCommand).resolves({});
    ddb.on(TransactWriteCommand).resolves({});

    await transitionIfNewer({ client, tableName: 't', key, sequence: 1, decide: () => ({ attributes: {} }) });

    expect(ddb.commandCalls(TransactWriteCommand)[0]?.args[0].input.TransactItems?.[0]?.Put).toMatchObject({
      ConditionExpression: 'attribute_not_exists(#lastSequence)',
    });
  });

  it('changes nothing for an event no newer than the item', async () => {
    ddb.on(GetCommand).resolves({ Item: { ...key, lastSequence: 2 } });

    const outcome = await transitionIfNewer({
      client,
      tableName: 't',
      key,
      sequence: 2,
      decide: () => ({ attributes: {} }),
    });

    expect(outcome).toEqual({ applied: false, current: 2 });
    expect(ddb).not.toHaveReceivedCommand(TransactWriteCommand);
  });

  it('reads and decides again when the item changed in between', async () => {
    ddb
      .on(GetCommand)
      .resolvesOnce({ Item: { ...key, lastSequence: 1 } })
      .resolves({ Item: { ...key, lastSequence: 3 } });
    ddb.on(TransactWriteCommand).rejectsOnce(cancelled()).resolves({});

    const outcome = await transitionIfNewer({
      client,
      tableName: 't',
      key,
      sequence: 2,
      decide: () => ({ attributes: {} }),
    });

    expect(outcome).toEqual({ applied: false, current: 3 });
    expect(ddb).toHaveReceivedCommandTimes(GetCommand, 2);
  });

  it('gives up after maxAttempts lost races', async () => {
    ddb.on(GetCommand).resolves({ Item: { ...key, lastSequence: 1 } });
    ddb.on(TransactWriteCommand).rejects(cancelled());

    await expect(
      transitionIfNewer({
        client,
        tableName: 't',
        key,
        sequence: 2,
        maxAttempts: 3,
        decide: () => ({ attributes: {} }),
      }),
    ).rejects.toThrow(GuardContentionError);
    expect(ddb).toHaveReceivedCommandTimes(TransactWriteCommand, 3);
  });

  it('passes on a cancellation caused by another write of the transaction', async () => {
    ddb.on(GetCommand).resolves({});
    ddb.on(TransactWriteCommand).rejects(
      new TransactionCanceledException({
        message: 'cancelled',
        $metadata: {},
        CancellationReasons: [{ Code: 'None' }, { Code: 'ValidationError' }],
      }),
    );

    await expect(
      transitionIfNewer({ client, tableName: 't', key, sequence: 1, decide: () => ({ attributes: {} }) }),
    ).rejects.toThrow(TransactionCanceledException);
  });
});

describe('changeByRevision', () => {
  const decideCount = (current: Record<string, unknown> | undefined) => ({
    next: { count: Number(current?.count ?? 0) + 1 },
    decision: Number(current?.count ?? 0),
  });

  it('creates an absent item at revision 1, conditioned on its absence', async () => {
    ddb.on(GetCommand).resolves({});
    ddb.on(PutCommand).resolves({});

    const change = await changeByRevision({ client, tableName: 't', key, decide: decideCount });

    expect(change.item).toEqual({ ...key, count: 1, revision: 1 });
    expect(ddb).toHaveReceivedCommandWith(PutCommand, { ConditionExpression: 'attribute_not_exists(#pk)' });
  });

  it('reads and decides again when the item changed since the read', async () => {
    ddb
      .on(GetCommand)
      .resolvesOnce({ Item: { ...key, count: 1, revision: 1 } })
      .resolves({ Item: { ...key, count: 2, revision: 2 } });
    ddb
      .on(PutCommand)
      .rejectsOnce(new ConditionalCheckFailedException({ message: 'changed', $metadata: {} }))
      .resolves({});

    const change = await changeByRevision({ client, tableName: 't', key, decide: decideCount });

    expect(change).toEqual({ item: { ...key, count: 3, revision: 3 }, decision: 2 });
    expect(ddb.commandCalls(PutCommand)[1]?.args[0].input).toMatchObject({
      ConditionExpression: '#revision = :revision',
      ExpressionAttributeValues: { ':revision': 2 },
    });
  });

  it('writes nothing when the decision changes nothing', async () => {
    ddb.on(GetCommand).resolves({ Item: { ...key, count: 1, revision: 1 } });

    const change = await changeByRevision({
      client,
      tableName: 't',
      key,
      decide: () => ({ next: undefined, decision: 'same' }),
    });

    expect(change.decision).toBe('same');
    expect(ddb).not.toHaveReceivedCommand(PutCommand);
  });

  it('gives up with GuardContentionError when the item keeps changing', async () => {
    ddb.on(GetCommand).resolves({ Item: { ...key, revision: 1 } });
    ddb.on(PutCommand).rejects(new ConditionalCheckFailedException({ message: 'changed', $metadata: {} }));

    await expect(
      changeByRevision({ client, tableName: 't', key, decide: decideCount, maxAttempts: 3 }),
    ).rejects.toThrow(GuardContentionError);
    expect(ddb).toHaveReceivedCommandTimes(PutCommand, 3);
  });
});
