/**
 * The event contracts: the breaking-change guard rule by rule (synthetic
 * before/after catalogues), the real catalogue against the committed
 * docs/events files, the committed AsyncAPI document through
 * @asyncapi/parser, and the committed JSON Schemas through ajv, against
 * events the domain really builds.
 */
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { Parser } from '@asyncapi/parser';
import { Ajv } from 'ajv';
import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import { compareCatalogues, type SchemaVersion } from '../../contracts/compatibility';
import { ASYNCAPI_FILE, currentSchemas, readPublishedSchemas, schemaFilePath } from '../../contracts/events';
import { defineCatalogue, type EventDefinitions } from '../../lambdas/outbox';
import { SAMPLE_EVENTS } from '../../lambdas/sample/domain/events';
import { registerMember } from '../../lambdas/sample/domain/members';
import { orderCancellation, placeOrder } from '../../lambdas/sample/domain/orders';

const ROOT = resolve(import.meta.dirname, '../..');

/** The guard's verdict on `after` against `before` as published. */
function rulesBroken(before: EventDefinitions, after: EventDefinitions): string[] {
  const published: Record<string, SchemaVersion[]> = Object.fromEntries(
    Object.entries(currentSchemas(defineCatalogue(before))).map(([eventType, schema]) => [
      eventType,
      [schema],
    ]),
  );
  return compareCatalogues(published, currentSchemas(defineCatalogue(after))).map(
    (violation) => `${violation.eventType}${violation.path ? ` ${violation.path}` : ''}: ${violation.rule}`,
  );
}

const user = z.object({
  userId: z.string(),
  email: z.email(),
  address: z.object({ city: z.string(), zip: z.string().optional() }),
  tags: z.array(z.object({ key: z.string() })),
});
const before = {
  UserCreated: { version: '1.0', schema: user },
  UserDeleted: { version: '1.0', schema: z.object({ userId: z.string() }) },
} as const satisfies EventDefinitions;

describe('breaking-change guard', () => {
  it('passes the unchanged catalogue', () => {
    expect(rulesBroken(before, before)).toEqual([]);
  });

  it('passes a new optional field with a minor bump, and a changed description', () => {
    expect(
      rulesBroken(before, {
        ...before,
        UserCreated: {
          version: '1.1',
          schema: user.extend({ locale: z.string().optional() }).describe('now documented'),
        },
      }),
    ).toEqual([]);
  });

  it('passes a new event type', () => {
    expect(
      rulesBroken(before, {
        ...before,
        UserRenamed: { version: '1.0', schema: z.object({ name: z.string() }) },
      }),
    ).toEqual([]);
  });

  it('refuses a removed event type (event-type-removed)', () => {
    expect(rulesBroken(before, { UserCreated: before.UserCreated })).toEqual([
      'UserDeleted: event-type-removed',
    ]);
  });

  it('refuses a removed field, nested ones too (field-removed)', () => {
    expect(
      rulesBroken(before, {
        ...before,
        UserCreated: {
          version: '1.1',
          schema: user.omit({ email: true }).extend({ address: z.object({ zip: z.string().optional() }) }),
        },
      }),
    ).toEqual(['UserCreated email: field-removed', 'UserCreated address.city: field-removed']);
  });

  it('refuses a retyped field, in arrays and enums too (field-retyped)', () => {
    expect(
      rulesBroken(before, {
        ...before,
        UserCreated: {
          version: '1.1',
          schema: user.extend({
            userId: z.number(),
            tags: z.array(z.object({ key: z.enum(['a', 'b']) })),
            email: z.string(),
          }),
        },
      }),
    ).toEqual([
      'UserCreated userId: field-retyped',
      'UserCreated email: field-retyped',
      'UserCreated tags[].key: field-retyped',
    ]);
  });

  it('refuses a new required field and an optional field made required (required-field-added)', () => {
    expect(
      rulesBroken(before, {
        ...before,
        UserCreated: {
          version: '1.1',
          schema: user.extend({
            locale: z.string(),
            address: z.object({ city: z.string(), zip: z.string() }),
          }),
        },
      }),
    ).toEqual(['UserCreated address.zip: required-field-added', 'UserCreated locale: required-field-added']);
  });

  it('refuses a required field made optional (required-field-made-optional)', () => {
    expect(
      rulesBroken(before, {
        ...before,
        UserDeleted: { version: '1.1', schema: z.object({ userId: z.string().optional() }) },
      }),
    ).toEqual(['UserDeleted userId: required-field-made-optional']);
  });

  it('refuses a compatible change under the same version (changed-without-version-bump)', () => {
    expect(
      rulesBroken(before, {
        ...before,
        UserDeleted: {
          version: '1.0',
          schema: z.object({ userId: z.string(), reason: z.string().optional() }),
        },
      }),
    ).toEqual(['UserDeleted: changed-without-version-bump']);
  });

  it('refuses a lower version than the published one (version-lowered)', () => {
    expect(
      rulesBroken({ ...before, UserDeleted: { ...before.UserDeleted, version: '1.3' } }, before),
    ).toEqual(['UserDeleted: version-lowered']);
  });

  it('refuses an object closed to unknown fields (object-closed)', () => {
    expect(
      rulesBroken(before, {
        ...before,
        UserDeleted: {
          version: '1.1',
          schema: z.object({ userId: z.string(), meta: z.strictObject({}).optional() }),
        },
      }),
    ).toEqual(['UserDeleted meta: object-closed']);
  });

  it('passes any change under a new major version', () => {
    expect(
      rulesBroken(before, {
        ...before,
        UserCreated: { version: '2.0', schema: z.object({ id: z.number(), createdBy: z.string() }) },
      }),
    ).toEqual([]);
  });

  it('compares with every published version of the major, not only the last', () => {
    const published = {
      UserDeleted: [
        {
          version: '1.0',
          schema: { type: 'object', properties: { userId: { type: 'string' } }, required: ['userId'] },
        },
        { version: '1.1', schema: { type: 'object', properties: {}, required: [] } },
      ],
    };
    const current = currentSchemas(
      defineCatalogue({ UserDeleted: { version: '1.2', schema: z.object({}) } }),
    );
    expect(
      compareCatalogues(published, current).map((violation) => [violation.rule, violation.against]),
    ).toEqual([['field-removed', '1.0']]);
  });

  it('finds no breaking change of the sample catalogue against the committed docs/events', () => {
    expect(compareCatalogues(readPublishedSchemas(ROOT), currentSchemas(SAMPLE_EVENTS))).toEqual([]);
  });
});

describe('published documents', () => {
  it('the AsyncAPI document parses with @asyncapi/parser without errors, with every event type as a message', async () => {
    const parser = new Parser();
    const { document, diagnostics } = await parser.parse(readFileSync(resolve(ROOT, ASYNCAPI_FILE), 'utf8'));
    // Severity 0 is an error (Spectral's DiagnosticSeverity).
    expect(diagnostics.filter((diagnostic) => diagnostic.severity === 0)).toEqual([]);
    expect(document?.version()).toBe('3.0.0');
    expect(
      document
        ?.allMessages()
        .all()
        .map((message) => message.name())
        .sort(),
    ).toEqual([...SAMPLE_EVENTS.eventTypes].sort());
    expect(
      document
        ?.channels()
        .all()
        .map((channel) => channel.id())
        .sort(),
    ).toEqual(['bus', 'member-activity', 'notifications']);
    // The parser runs Spectral's AsyncAPI rule set: seconds, more on a loaded machine.
  }, 60_000);

  /** The committed schema of an event type's current version, compiled by ajv (it checks the schema itself too). */
  function validatorOf(eventType: keyof typeof SAMPLE_EVENTS.events) {
    const file = schemaFilePath(eventType, SAMPLE_EVENTS.events[eventType].version);
    return new Ajv({ strict: true, validateFormats: false }).compile(
      JSON.parse(readFileSync(resolve(ROOT, file), 'utf8')),
    );
  }

  const context = {
    client: undefined as never,
    tableName: 'unused',
    now: () => new Date('2026-03-01T12:00:00Z'),
  };

  it('the JSON Schemas accept the data the domain builds and refuse a mismatch (ajv)', () => {
    const registration = registerMember(context, { email: 'ada@example.com', name: 'Ada' }).events[0];
    const order = placeOrder(context, {
      memberId: '01KA0000000000000000000000',
      items: [{ sku: 'A-1', quantity: 2, unitPrice: 9.99 }],
    }).events[0];
    const cancellation = orderCancellation(
      context,
      { id: '01KA0000000000000000000001', version: 1 },
      { memberId: '01KA0000000000000000000000', reason: 'customer-request', now: '2026-03-01T12:00:00.000Z' },
    ).event;

    for (const [eventType, data] of [
      ['MemberRegistered', registration?.data],
      ['OrderPlaced', order?.data],
      ['OrderCancelled', cancellation.data],
    ] as const) {
      const validate = validatorOf(eventType);
      expect(validate(data), `${eventType}: ${JSON.stringify(validate.errors)}`).toBe(true);
    }
    const validate = validatorOf('OrderPlaced');
    expect(validate({ ...order?.data, items: [] })).toBe(false);
    expect(validate({ ...order?.data, total: '1' })).toBe(false);
  });
});
