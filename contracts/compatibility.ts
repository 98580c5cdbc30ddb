/**
 * The breaking-change guard: compares a catalogue's JSON Schemas with the
 * ones published before (docs/events/schemas) and names every change a
 * consumer of the published version would not survive, unless the event
 * type's major version changed. The rules, as docs/events/README.md lists
 * them:
 *
 * | rule | what breaks |
 * |---|---|
 * | `event-type-removed` | a published event type is no longer in the catalogue |
 * | `version-lowered` | the catalogue's version is below one already published |
 * | `changed-without-version-bump` | the schema of a published version changed (annotations aside) |
 * | `field-removed` | a field of the published schema is gone |
 * | `field-retyped` | a field's type, format, enum or const changed (or its `anyOf`/`oneOf`) |
 * | `required-field-added` | a new required field, or an optional field made required |
 * | `required-field-made-optional` | a required field may now be absent |
 * | `object-closed` | an object of the current schema refuses unknown fields (`additionalProperties: false`) |
 *
 * Compatible, so passing: a new optional field (with a minor bump), a
 * changed description, and anything under a new major version (the old
 * major's published files stay as its record).
 */

/** A JSON Schema (draft-07), as the generator writes it. */
export type JsonSchema = { readonly [keyword: string]: unknown };

/** One published or current version of an event type's data schema. */
export interface SchemaVersion {
  /** `major.minor`. */
  readonly version: string;
  readonly schema: JsonSchema;
}

/** The identifiers of the guard's rules. */
export type CompatibilityRule =
  | 'event-type-removed'
  | 'version-lowered'
  | 'changed-without-version-bump'
  | 'field-removed'
  | 'field-retyped'
  | 'required-field-added'
  | 'required-field-made-optional'
  | 'object-closed';

/** A breaking change the guard found. */
export interface Violation {
  readonly eventType: string;
  readonly rule: CompatibilityRule;
  /** Where in `data` (`items[].sku`), when the rule is about a field. */
  readonly path?: string;
  /** The published version compared with, when the rule compares two. */
  readonly against?: string;
  readonly detail: string;
}

/** Keywords that document a schema without constraining it: changing them changes no contract. */
const ANNOTATIONS = new Set(['title', 'description', 'examples', '$comment', 'deprecated', '$schema', '$id']);

/** A version as numbers. */
function versionOf(text: string): { major: number; minor: number } {
  const [major, minor] = text.split('.').map(Number);
  return { major: major ?? 0, minor: minor ?? 0 };
}

function compareVersions(a: string, b: string): number {
  const left = versionOf(a);
  const right = versionOf(b);
  return left.major - right.major || left.minor - right.minor;
}

/**
 * Every breaking change of `current` (event type to its schema now) against
 * `published` (event type to every version published so far).
 */
export function compareCatalogues(
  published: Readonly<Record<string, readonly SchemaVersion[]>>,
  current: Readonly<Record<string, SchemaVersion>>,
): Violation[] {
  const violations: Violation[] = [];
  for (const [eventType, versions] of Object.entries(published)) {
    if (versions.length > 0 && !Object.hasOwn(current, eventType)) {
      violations.push({
        eventType,
        rule: 'event-type-removed',
        detail: `${eventType} was published (${versions.map((entry) => entry.version).join(', ')}) and is no longer in the catalogue`,
      });
    }
  }
  for (const [eventType, now] of Object.entries(current)) {
    for (const path of closedObjects(now.schema, '')) {
      violations.push({
        eventType,
        rule: 'object-closed',
        path: path || '(data)',
        detail:
          'the object refuses fields it does not declare (additionalProperties: false): a consumer would refuse an event of a newer minor version; declare it with z.object, not z.strictObject',
      });
    }
    const history = published[eventType] ?? [];
    const highest = [...history].sort((a, b) => compareVersions(b.version, a.version))[0];
    if (highest && compareVersions(now.version, highest.version) < 0) {
      violations.push({
        eventType,
        rule: 'version-lowered',
        against: highest.version,
        detail: `version ${now.version} is below the published ${highest.version}`,
      });
    }
    const major = versionOf(now.version).major;
    for (const before of history) {
      if (versionOf(before.version).major !== major || compareVersions(before.version, now.version) > 0)
        continue;
      if (before.version === now.version) {
        if (canonical(before.schema) !== canonical(now.schema)) {
          violations.push({
            eventType,
            rule: 'changed-without-version-bump',
            against: before.version,
            detail: `the schema of ${before.version} changed; raise the minor version for a compatible change, the major for a breaking one`,
          });
        }
      }
      for (const change of compareSchemas(before.schema, now.schema)) {
        violations.push({ eventType, against: before.version, ...change });
      }
    }
  }
  return violations;
}

/** A breaking difference between two schemas of one event type's data. */
export interface SchemaChange {
  readonly rule: Extract<
    CompatibilityRule,
    'field-removed' | 'field-retyped' | 'required-field-added' | 'required-field-made-optional'
  >;
  readonly path: string;
  readonly detail: string;
}

/** The breaking differences of `after` from `before` (draft-07 schemas as zod writes them). */
export function compareSchemas(before: JsonSchema, after: JsonSchema, path = ''): SchemaChange[] {
  const where = path || '(data)';
  const changes: SchemaChange[] = [];
  for (const keyword of ['anyOf', 'oneOf', 'allOf'] as const) {
    if (keyword in before || keyword in after) {
      if (canonical(before[keyword]) !== canonical(after[keyword])) {
        changes.push({ rule: 'field-retyped', path: where, detail: `its ${keyword} changed` });
      }
    }
  }
  const typeBefore = typesOf(before);
  const typeAfter = typesOf(after);
  if (typeBefore !== typeAfter) {
    changes.push({
      rule: 'field-retyped',
      path: where,
      detail: `its type changed from ${typeBefore || 'any'} to ${typeAfter || 'any'}`,
    });
    return changes;
  }
  for (const keyword of ['format', 'enum', 'const'] as const) {
    if (canonical(before[keyword]) !== canonical(after[keyword])) {
      changes.push({
        rule: 'field-retyped',
        path: where,
        detail: `its ${keyword} changed from ${canonical(before[keyword]) ?? 'none'} to ${canonical(after[keyword]) ?? 'none'}`,
      });
    }
  }
  const propertiesBefore = objectOf(before.properties);
  const propertiesAfter = objectOf(after.properties);
  if (propertiesBefore || propertiesAfter) {
    const requiredBefore = new Set(stringsOf(before.required));
    const requiredAfter = new Set(stringsOf(after.required));
    for (const [name, schema] of Object.entries(propertiesBefore ?? {})) {
      const field = path ? `${path}.${name}` : name;
      const next = propertiesAfter?.[name];
      if (next === undefined) {
        changes.push({ rule: 'field-removed', path: field, detail: 'the field was removed' });
        continue;
      }
      if (requiredAfter.has(name) && !requiredBefore.has(name)) {
        changes.push({
          rule: 'required-field-added',
          path: field,
          detail: 'the optional field became required',
        });
      }
      if (requiredBefore.has(name) && !requiredAfter.has(name)) {
        changes.push({
          rule: 'required-field-made-optional',
          path: field,
          detail: 'the required field became optional: consumers relying on it would find it missing',
        });
      }
      changes.push(...compareSchemas(schema as JsonSchema, next as JsonSchema, field));
    }
    for (const name of Object.keys(propertiesAfter ?? {})) {
      if (!Object.hasOwn(propertiesBefore ?? {}, name) && requiredAfter.has(name)) {
        changes.push({
          rule: 'required-field-added',
          path: path ? `${path}.${name}` : name,
          detail: 'a new required field: events published before lack it',
        });
      }
    }
  }
  const itemsBefore = objectOf(before.items);
  const itemsAfter = objectOf(after.items);
  if (itemsBefore && itemsAfter) changes.push(...compareSchemas(itemsBefore, itemsAfter, `${path}[]`));
  return changes;
}

/** Paths of the objects in `schema` that refuse unknown fields. */
function closedObjects(schema: JsonSchema, path: string): string[] {
  const found = schema.additionalProperties === false ? [path] : [];
  for (const [name, child] of Object.entries(objectOf(schema.properties) ?? {})) {
    found.push(...closedObjects(child as JsonSchema, path ? `${path}.${name}` : name));
  }
  const items = objectOf(schema.items);
  if (items) found.push(...closedObjects(items, `${path}[]`));
  for (const keyword of ['anyOf', 'oneOf', 'allOf']) {
    const options = schema[keyword];
    if (Array.isArray(options)) {
      for (const option of options) found.push(...closedObjects(option as JsonSchema, path));
    }
  }
  return found;
}

function typesOf(schema: JsonSchema): string {
  const type = schema.type;
  if (type === undefined) return '';
  return (Array.isArray(type) ? [...type].map(String).sort() : [String(type)]).join('|');
}

function objectOf(value: unknown): Record<string, unknown> | undefined {
  return typeof value === 'object' && value !== null && !Array.isArray(value)
    ? (value as Record<string, unknown>)
    : undefined;
}

function stringsOf(value: unknown): string[] {
  return Array.isArray(value) ? value.filter((entry): entry is string => typeof entry === 'string') : [];
}

/** JSON with sorted keys and without annotations: equal for schemas that constrain alike. */
export function canonical(value: unknown): string | undefined {
  return JSON.stringify(strip(value));
}

/** `names`: the object is a map of names (`properties`), whose keys are fields, not keywords. */
function strip(value: unknown, names = false): unknown {
  if (Array.isArray(value)) return value.map((entry) => strip(entry));
  if (typeof value !== 'object' || value === null) return value;
  const entries = Object.entries(value)
    .filter(([key]) => names || !ANNOTATIONS.has(key))
    .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
    .map(([key, child]) => [key, strip(child, !names && (key === 'properties' || key === 'definitions'))]);
  return Object.fromEntries(entries);
}
