/**
 * Event catalogues: declaring one, the writer's strict check before the
 * transaction (aws-sdk-client-mock: nothing is sent), and a consumer's
 * check on arrival (typed data, newer minors accepted, a mismatch failing
 * its own record only).
 */
import { Logger } from '@aws-lambda-powertools/logger';
import {
  DeleteItemCommand,
  DynamoDBClient,
  PutItemCommand,
  UpdateItemCommand,
} from '@aws-sdk/client-dynamodb';
import { DynamoDBDocumentClient, TransactWriteCommand } from '@aws-sdk/lib-dynamodb';
import { mockClient } from 'aws-sdk-client-mock';
import { afterEach, beforeEach, describe, expect, expectTypeOf, it, vi } from 'vitest';
import { z } from 'zod';
import { type ApplyEvent, createConsumer } from '../../lambdas/consumer/consumer';
import { InvalidEventDataError } from '../../lambdas/consumer/errors';
import {
  type CatalogueEnvelope,
  checkEventData,
  defineCatalogue,
  type EventEnvelope,
  EventSchemaError,
  InvalidCatalogueError,
  InvalidWriteError,
  OutboxWriter,
  parseEventData,
  parseEventVersion,
  toEnvelope,
} from '../../lambdas/outbox';
import { SAMPLE_EVENTS } from '../../lambdas/sample/domain/events';
import { envelope, lambdaContext, newId, sqsEvent } from '../helpers/consumer-events';

const catalogue = defineCatalogue({
  UserCreated: {
    version: '1.2',
    schema: z.object({
      userId: z.string().min(1),
      email: z.email(),
      tags: z.array(z.object({ key: z.string(), value: z.string() })).optional(),
    }),
  },
  UserDeleted: { version: '2.0', schema: z.object({ userId: z.string().min(1) }) },
});

/** What `run` threw (undefined when it returned). */
function thrownBy(run: () => unknown): unknown {
  try {
    run();
  } catch (error) {
    return error;
  }
  return undefined;
}

describe('defineCatalogue', () => {
  it('refuses an event type the writer would refuse', () => {
    expect(() => defineCatalogue({ 'user created': { version: '1.0', schema: z.object({}) } })).toThrow(
      InvalidCatalogueError,
    );
  });

  it.each(['1', '1.0.0', 'v1.0', '01.0', '1.x'])('refuses the version %j', (version) => {
    expect(() =>
      defineCatalogue({ UserCreated: { version: version as '1.0', schema: z.object({}) } }),
    ).toThrow(/not major\.minor/);
  });

  it('parses versions', () => {
    expect(parseEventVersion('3.14')).toEqual({ major: 3, minor: 14 });
    expect(parseEventVersion('3')).toBeUndefined();
  });

  it('picks a subset, typed, and refuses a type it does not have', () => {
    const picked = catalogue.pick('UserDeleted');
    expect(picked.eventTypes).toEqual(['UserDeleted']);
    expectTypeOf(picked.eventTypes).toEqualTypeOf<readonly 'UserDeleted'[]>();
    expect(() => catalogue.pick('Nope' as 'UserDeleted')).toThrow(InvalidCatalogueError);
  });
});

describe('checkEventData (the writer)', () => {
  it('returns the version for matching data', () => {
    expect(checkEventData(catalogue, 'UserCreated', { userId: 'u1', email: 'a@example.com' })).toBe('1.2');
  });

  it('names the type and every offending field, nested ones by their path', () => {
    const error = thrownBy(() =>
      checkEventData(catalogue, 'UserCreated', { email: 'nope', tags: [{ key: 'k', value: 1 }] }),
    );
    expect(error).toBeInstanceOf(EventSchemaError);
    expect(error).toBeInstanceOf(InvalidWriteError);
    const schemaError = error as EventSchemaError;
    expect(schemaError.eventType).toBe('UserCreated');
    expect(schemaError.version).toBe('1.2');
    expect(schemaError.fields).toEqual(['userId', 'email', 'tags.0.value']);
    expect(schemaError.message).toMatch(
      /^data of event UserCreated does not match its schema 1\.2: userId: /,
    );
  });

  it('refuses a field the schema does not declare, at any depth', () => {
    const error = thrownBy(() =>
      checkEventData(catalogue, 'UserCreated', {
        userId: 'u1',
        email: 'a@example.com',
        tags: [{ key: 'k', value: 'v', extra: true }],
        nickname: 'x',
      }),
    );
    expect(error).toBeInstanceOf(EventSchemaError);
    expect((error as EventSchemaError).fields).toEqual(['tags.0.extra', 'nickname']);
  });

  it('refuses data a transform or default would change: what is stored is what the schema says', () => {
    const changing = defineCatalogue({
      Trimmed: { version: '1.0', schema: z.object({ name: z.string().trim(), n: z.number().default(1) }) },
    });
    const error = thrownBy(() => checkEventData(changing, 'Trimmed', { name: ' Ada ' }));
    expect((error as EventSchemaError).fields).toEqual(['name', 'n']);
  });

  it('refuses an event type not in the catalogue', () => {
    expect(() => checkEventData(catalogue, 'UserRenamed', {})).toThrow(
      'event type "UserRenamed" is not in the catalogue',
    );
  });
});

describe('OutboxWriter with a catalogue', () => {
  const doc = mockClient(DynamoDBDocumentClient);
  afterEach(() => doc.reset());

  function writer(): OutboxWriter {
    return new OutboxWriter({
      client: DynamoDBDocumentClient.from(new DynamoDBClient({ region: 'us-east-1' })),
      tableName: 'outbox-unit',
      source: 'com.example.users',
      catalogue,
    });
  }
  const event = (eventType: string, data: Record<string, unknown>) => ({
    eventType,
    aggregateType: 'USER',
    aggregateId: newId(),
    sequence: 1,
    data,
  });

  it('sends nothing when one event of the write does not match, even after a valid one', async () => {
    doc.on(TransactWriteCommand).resolves({});
    const error = await writer()
      .write({
        writes: [],
        events: [event('UserCreated', { userId: 'u1', email: 'a@example.com' }), event('UserDeleted', {})],
      })
      .then(
        () => undefined,
        (rejected: unknown) => rejected,
      );
    expect(error).toBeInstanceOf(EventSchemaError);
    expect(error).toMatchObject({ eventType: 'UserDeleted', fields: ['userId'] });
    expect(doc.commandCalls(TransactWriteCommand)).toHaveLength(0);
  });

  it('stores the version as dataVersion, and the relay sends it in the envelope', async () => {
    doc.on(TransactWriteCommand).resolves({});
    const { events } = await writer().write({ writes: [], events: [event('UserDeleted', { userId: 'u1' })] });
    expect(events[0]?.dataVersion).toBe('2.0');
    const sent = doc.commandCalls(TransactWriteCommand)[0]?.args[0].input.TransactItems?.[0]?.Put?.Item;
    expect(sent?.dataVersion).toBe('2.0');
    expect(events[0] && toEnvelope(events[0]).dataVersion).toBe('2.0');
  });

  it('without a catalogue writes any data and no dataVersion', async () => {
    doc.on(TransactWriteCommand).resolves({});
    const plain = new OutboxWriter({
      client: DynamoDBDocumentClient.from(new DynamoDBClient({ region: 'us-east-1' })),
      tableName: 'outbox-unit',
      source: 'com.example.users',
    });
    const { events } = await plain.write({ writes: [], events: [event('Anything', { x: 1 })] });
    expect(events[0]).not.toHaveProperty('dataVersion');
    expect(events[0] && toEnvelope(events[0])).not.toHaveProperty('dataVersion');
  });
});

describe('parseEventData (consumers)', () => {
  it('accepts a newer minor version with fields the schema does not know', () => {
    expect(
      parseEventData(catalogue, 'UserCreated', { userId: 'u1', email: 'a@example.com', locale: 'en' }, '1.7'),
    ).toEqual({ ok: true });
  });

  it('accepts an older minor and an event without dataVersion (written before versions were recorded)', () => {
    const data = { userId: 'u1', email: 'a@example.com' };
    expect(parseEventData(catalogue, 'UserCreated', data, '1.0')).toEqual({ ok: true });
    expect(parseEventData(catalogue, 'UserCreated', data)).toEqual({ ok: true });
  });

  it('refuses another major version, an unknown type and data that does not match', () => {
    expect(parseEventData(catalogue, 'UserDeleted', { userId: 'u1' }, '1.9')).toMatchObject({
      ok: false,
      reason: 'unsupported-version',
    });
    expect(parseEventData(catalogue, 'UserRenamed', {})).toEqual({ ok: false, reason: 'unknown-type' });
    expect(parseEventData(catalogue, 'UserDeleted', { userId: 3 }, '2.0')).toMatchObject({
      ok: false,
      reason: 'invalid-data',
      issues: [expect.objectContaining({ path: 'userId' })],
    });
  });
});

describe('createConsumer with a catalogue', () => {
  const dynamo = mockClient(DynamoDBClient);
  beforeEach(() => {
    dynamo.on(PutItemCommand).resolves({});
    dynamo.on(UpdateItemCommand).resolves({});
    dynamo.on(DeleteItemCommand).resolves({});
  });
  afterEach(() => dynamo.reset());

  type Envelope = CatalogueEnvelope<typeof catalogue.events>;

  function handlerOf(apply: ApplyEvent<Envelope>) {
    return createConsumer({
      name: 'catalogue-consumer',
      tableName: 'outbox-unit',
      dynamoDb: new DynamoDBClient({ region: 'us-east-1' }),
      logger: new Logger({ logLevel: 'SILENT' }),
      catalogue,
      apply,
    });
  }
  const user = (eventType: string, data: Record<string, unknown>, dataVersion?: string): EventEnvelope =>
    envelope({
      eventType,
      aggregateType: 'USER',
      aggregateId: newId(),
      sequence: 1,
      data,
      ...(dataVersion ? { dataVersion } : {}),
    });

  it('types data from the catalogue', () => {
    createConsumer({
      name: 'typed',
      tableName: 'outbox-unit',
      dynamoDb: new DynamoDBClient({ region: 'us-east-1' }),
      catalogue,
      apply: async (event) => {
        expectTypeOf(event.eventType).toEqualTypeOf<'UserCreated' | 'UserDeleted'>();
        if (event.eventType === 'UserCreated') {
          expectTypeOf(event.data.email).toEqualTypeOf<string>();
          expectTypeOf(event.data.tags).toEqualTypeOf<{ key: string; value: string }[] | undefined>();
        } else {
          expectTypeOf(event.data).toEqualTypeOf<{ userId: string }>();
        }
        return undefined;
      },
    });
    const sample = SAMPLE_EVENTS.pick('OrderPlaced');
    expectTypeOf<
      CatalogueEnvelope<typeof sample.events>['data']['items'][number]['quantity']
    >().toEqualTypeOf<number>();
  });

  it('fails only the record whose data does not match; the others apply, a newer minor with unknown fields included', async () => {
    const apply = vi.fn<ApplyEvent<Envelope>>().mockResolvedValue(undefined);
    const good = user('UserCreated', { userId: 'u1', email: 'a@example.com' }, '1.2');
    const newer = user('UserCreated', { userId: 'u2', email: 'b@example.com', locale: 'en' }, '1.3');
    const bad = user('UserCreated', { userId: 'u3', email: 'not-an-email' }, '1.2');
    const otherMajor = user('UserDeleted', { userId: 'u4' }, '3.0');
    const unknown = user('UserRenamed', { userId: 'u5' });
    const event = sqsEvent(good, bad, newer, otherMajor, unknown);

    const response = await handlerOf(apply)(event, lambdaContext());

    const failed = response.batchItemFailures.map((failure) => failure.itemIdentifier);
    expect(failed).toEqual([1, 3, 4].map((index) => event.Records[index]?.messageId));
    expect(apply.mock.calls.map(([applied]) => applied.eventId)).toEqual([good.eventId, newer.eventId]);
    // The data as received: the newer minor's field is kept, not stripped.
    expect(apply.mock.calls[1]?.[0].data).toEqual({ userId: 'u2', email: 'b@example.com', locale: 'en' });
    // Refused before the idempotency record: one claim per applied event only.
    expect(dynamo.commandCalls(PutItemCommand)).toHaveLength(2);
  });

  it('reports the refusal as InvalidEventDataError naming the fields', async () => {
    const errors: unknown[] = [];
    const handler = createConsumer({
      name: 'catalogue-consumer',
      tableName: 'outbox-unit',
      dynamoDb: new DynamoDBClient({ region: 'us-east-1' }),
      logger: {
        info: () => undefined,
        addContext: () => undefined,
        error: (_message: string, fields: unknown) => {
          errors.push((fields as { error: unknown }).error);
        },
      } as unknown as Logger,
      catalogue,
      apply: async () => undefined,
    });
    await handler(sqsEvent(user('UserDeleted', { userId: 7 }, '2.0')), lambdaContext());
    expect(errors).toEqual([expect.any(InvalidEventDataError)]);
    expect(errors[0]).toMatchObject({ eventType: 'UserDeleted', fields: ['userId'] });
  });
});
