/**
 * Event catalogues: the contract of a service's events. A catalogue names
 * every event type the service emits, each with one zod schema of its `data`
 * and a version `major.minor`. The writer refuses what the catalogue does
 * not describe; consumers get `data` typed and validated from it; the
 * contracts generator (`npm run contracts`) publishes it as JSON Schema and
 * AsyncAPI, and the breaking-change guard compares it with what was
 * published before.
 *
 * On the wire the version travels in the envelope as `dataVersion` (the
 * EventBridge `Detail`), set by a writer that has a catalogue. Events
 * written before (or by a writer without a catalogue) have no
 * `dataVersion`; they stay decodable everywhere.
 *
 * Schemas describe JSON data: plain objects, arrays, strings, numbers,
 * booleans and null, without transforms or defaults (the writer stores
 * `data` as given and refuses data the schema would change), and with open
 * objects (`z.object`, not `z.strictObject`), so that a consumer accepts
 * the fields a newer minor version adds.
 */
import type { z } from 'zod';
import { InvalidWriteError, OutboxError } from './errors';

/** A version `major.minor`, e.g. `1.0`. */
export type EventVersion = `${number}.${number}`;

/** One event type of a catalogue. */
export interface EventDefinition<S extends z.ZodType = z.ZodType> {
  /**
   * The version of the schema, `major.minor`. A compatible change (a new
   * optional field) raises the minor; anything else raises the major (see
   * docs/events/README.md for the rules the guard applies).
   */
  readonly version: EventVersion;
  /** The zod schema of the event's `data`. */
  readonly schema: S;
  /** What the event means, for the published documents. */
  readonly description?: string;
}

/** Event types by name (the EventBridge `DetailType`). */
export type EventDefinitions = { readonly [eventType: string]: EventDefinition };

/** A parsed `major.minor`. */
export interface ParsedVersion {
  readonly major: number;
  readonly minor: number;
}

/** A catalogue of event types; build it with {@link defineCatalogue}. */
export interface EventCatalogue<D extends EventDefinitions = EventDefinitions> {
  /** The event types, as declared. */
  readonly events: D;
  /** The names of the event types, in declaration order. */
  readonly eventTypes: readonly (keyof D & string)[];
  /** True when `eventType` is one of the catalogue's. */
  has(eventType: string): eventType is keyof D & string;
  /** A catalogue of only these event types (what one consumer subscribes to). */
  pick<const K extends keyof D & string>(...eventTypes: K[]): EventCatalogue<Pick<D, K>>;
}

/** What the writer and consumers read of a catalogue: any catalogue, whatever its event types. */
export type AnyEventCatalogue = Pick<EventCatalogue, 'events' | 'eventTypes'>;

/** The `data` of an event type of a catalogue, as consumers receive it. */
export type EventDataOf<D extends EventDefinitions, T extends keyof D> = z.output<D[T]['schema']>;

/** The envelope of one event of a catalogue: `eventType` narrows `data`. */
export type CatalogueEnvelope<D extends EventDefinitions> = {
  [T in keyof D & string]: {
    readonly eventId: string;
    readonly eventType: T;
    readonly aggregateType: string;
    readonly aggregateId: string;
    readonly sequence: number;
    readonly occurredAt: string;
    readonly correlationId: string;
    /** The version of `data`'s schema the writer checked it against; absent on events written without a catalogue. */
    readonly dataVersion?: string;
    readonly data: EventDataOf<D, T>;
  };
}[keyof D & string];

/** An invalid catalogue: a malformed event type name or version. Thrown by {@link defineCatalogue}. */
export class InvalidCatalogueError extends OutboxError {
  override name = 'InvalidCatalogueError';
}

/** One field of event data that does not match its schema. */
export interface EventDataIssue {
  /** Path of the field, dot-separated (`items.0.sku`), `(data)` for the data itself. */
  readonly path: string;
  readonly message: string;
}

/**
 * The writer refused an event: its type is not in the writer's catalogue, or
 * its data does not match the type's schema. Nothing was written.
 */
export class EventSchemaError extends InvalidWriteError {
  override name = 'EventSchemaError';
  constructor(
    /** The refused event's type. */
    readonly eventType: string,
    /** Each offending field; empty when the type is unknown. */
    readonly issues: readonly EventDataIssue[],
    /** The version of the schema checked against; undefined when the type is unknown. */
    readonly version?: string,
  ) {
    super(
      version === undefined
        ? `event type ${JSON.stringify(eventType)} is not in the catalogue`
        : `data of event ${eventType} does not match its schema ${version}: ${issues
            .map((issue) => `${issue.path}: ${issue.message}`)
            .join('; ')}`,
    );
  }

  /** The paths of the offending fields. */
  get fields(): string[] {
    return this.issues.map((issue) => issue.path);
  }
}

/** The same pattern the writer applies to every event type. */
const EVENT_TYPE = /^[A-Za-z][A-Za-z0-9.]{0,127}$/;
const VERSION = /^(0|[1-9][0-9]{0,8})\.(0|[1-9][0-9]{0,8})$/;

/** A version `major.minor` as numbers, or undefined when it is not one. */
export function parseEventVersion(value: unknown): ParsedVersion | undefined {
  if (typeof value !== 'string') return undefined;
  const match = VERSION.exec(value);
  if (!match) return undefined;
  return { major: Number(match[1]), minor: Number(match[2]) };
}

/**
 * Declares a catalogue.
 *
 * ```ts
 * const events = defineCatalogue({
 *   UserCreated: { version: '1.0', schema: z.object({ userId: z.string(), email: z.email() }) },
 * });
 * ```
 *
 * @throws InvalidCatalogueError for an event type the writer would refuse or a version that is not `major.minor`
 */
export function defineCatalogue<const D extends EventDefinitions>(events: D): EventCatalogue<D> {
  for (const [eventType, definition] of Object.entries(events)) {
    if (!EVENT_TYPE.test(eventType)) {
      throw new InvalidCatalogueError(`event type ${JSON.stringify(eventType)} is not a valid event type`);
    }
    if (!parseEventVersion(definition.version)) {
      throw new InvalidCatalogueError(
        `version ${JSON.stringify(definition.version)} of ${eventType} is not major.minor (e.g. 1.0)`,
      );
    }
    if (typeof definition.schema?.safeParse !== 'function') {
      throw new InvalidCatalogueError(`the schema of ${eventType} is not a zod schema`);
    }
  }
  const eventTypes = Object.keys(events) as (keyof D & string)[];
  return Object.freeze({
    events,
    eventTypes,
    has: (eventType: string): eventType is keyof D & string => Object.hasOwn(events, eventType),
    pick<const K extends keyof D & string>(...picked: K[]): EventCatalogue<Pick<D, K>> {
      const subset: Record<string, EventDefinition> = {};
      for (const eventType of picked) {
        const definition = events[eventType];
        if (!definition) throw new InvalidCatalogueError(`event type ${eventType} is not in the catalogue`);
        subset[eventType] = definition;
      }
      return defineCatalogue(subset as Pick<D, K>);
    },
  });
}

/**
 * The writer's check of one event's data: every field the schema declares
 * must match, and nothing may be there that the schema does not declare or
 * would change (an unknown field, a value a transform or default alters):
 * what is stored is exactly what the published schema describes.
 *
 * @throws EventSchemaError when the type is not in the catalogue or the data does not match
 * @returns the version the data was checked against
 */
export function checkEventData(catalogue: AnyEventCatalogue, eventType: string, data: unknown): string {
  const definition = definitionOf(catalogue, eventType);
  if (!definition) throw new EventSchemaError(eventType, []);
  const result = definition.schema.safeParse(data);
  const issues: EventDataIssue[] = result.success
    ? []
    : result.error.issues.map((issue) => ({ path: pathOf(issue.path), message: issue.message }));
  if (result.success) compareExact(data, result.data, [], issues);
  if (issues.length > 0) throw new EventSchemaError(eventType, issues, definition.version);
  return definition.version;
}

/** Why a consumer refused an event's data (see {@link parseEventData}). */
export type EventDataRefusal =
  | { readonly reason: 'unknown-type' }
  | { readonly reason: 'unsupported-version'; readonly expected: string; readonly actual: string }
  | { readonly reason: 'invalid-data'; readonly version: string; readonly issues: readonly EventDataIssue[] };

/**
 * A consumer's check of one event's data. Fields the schema declares must
 * match; fields it does not declare are accepted and kept (an event of a
 * newer minor version may carry them), so the data is returned as received.
 * `dataVersion` must have the catalogue's major when present; an event
 * without one (written before versions were recorded) is checked against
 * the schema alone.
 */
export function parseEventData(
  catalogue: AnyEventCatalogue,
  eventType: string,
  data: unknown,
  dataVersion?: string,
): { readonly ok: true } | ({ readonly ok: false } & EventDataRefusal) {
  const definition = definitionOf(catalogue, eventType);
  if (!definition) return { ok: false, reason: 'unknown-type' };
  if (dataVersion !== undefined) {
    const actual = parseEventVersion(dataVersion);
    const expected = parseEventVersion(definition.version);
    if (!actual || actual.major !== expected?.major) {
      return { ok: false, reason: 'unsupported-version', expected: definition.version, actual: dataVersion };
    }
  }
  const result = definition.schema.safeParse(data);
  if (result.success) return { ok: true };
  return {
    ok: false,
    reason: 'invalid-data',
    version: definition.version,
    issues: result.error.issues.map((issue) => ({ path: pathOf(issue.path), message: issue.message })),
  };
}

function definitionOf(catalogue: AnyEventCatalogue, eventType: string): EventDefinition | undefined {
  return Object.hasOwn(catalogue.events, eventType) ? catalogue.events[eventType] : undefined;
}

function pathOf(path: readonly PropertyKey[]): string {
  return path.length === 0 ? '(data)' : path.map(String).join('.');
}

/** Records where the schema's output differs from the input: a field it does not declare, or a changed value. */
function compareExact(
  input: unknown,
  output: unknown,
  path: readonly PropertyKey[],
  issues: EventDataIssue[],
): void {
  if (Object.is(input, output)) return;
  if (Array.isArray(input) && Array.isArray(output) && input.length === output.length) {
    input.forEach((value, index) => {
      compareExact(value, output[index], [...path, index], issues);
    });
    return;
  }
  if (isPlainObject(input) && isPlainObject(output)) {
    for (const key of Object.keys(input)) {
      if (!Object.hasOwn(output, key)) {
        issues.push({ path: pathOf([...path, key]), message: 'not a field of the schema' });
      } else {
        compareExact(input[key], output[key], [...path, key], issues);
      }
    }
    for (const key of Object.keys(output)) {
      if (!Object.hasOwn(input, key)) {
        issues.push({ path: pathOf([...path, key]), message: 'absent, but the schema adds it (a default)' });
      }
    }
    return;
  }
  issues.push({ path: pathOf(path), message: 'the schema changes this value (a transform)' });
}

function isPlainObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}
