/**
 * Content filtering as Lambda event source mappings (`FilterCriteria`) and
 * EventBridge rules (event patterns) do it, for the local stand-ins of both.
 *
 * Supported, and matched the way AWS documents them: exact values (string,
 * number, boolean, null), `prefix`, `suffix` (each also with a nested
 * `equals-ignore-case`), `equals-ignore-case`, `exists`, `anything-but` (a
 * value, a list, or `{ prefix }` / `{ suffix }` / `{ equals-ignore-case }`),
 * `numeric` (one comparison or a range), nested objects, `$or`. An array in
 * the pattern means "any of these"; an array in the event means "any element".
 *
 * Anything else (`wildcard`, `cidr`, a typo) throws an
 * {@link InvalidEventPatternError} when the pattern is compiled. moto's
 * matcher lets unknown operators match every event; a filter that silently
 * admits everything would hide exactly the bugs the local runtime exists to
 * find, so this one refuses.
 */

/** A pattern is invalid or uses an operator this matcher does not support. */
export class InvalidEventPatternError extends Error {
  override readonly name = 'InvalidEventPatternError';
  constructor(
    message: string,
    /** Dotted path of the offending part, e.g. `dynamodb.Keys.sk.S`. */
    readonly path: string,
    options?: ErrorOptions,
  ) {
    super(path ? `${message} (at ${path})` : message, options);
  }
}

/** `FilterCriteria` of an event source mapping, as in CloudFormation and the Lambda API. */
export interface FilterCriteria {
  /** Up to 5 filters (a Lambda quota); a record passes when any of them matches. */
  readonly Filters?: readonly { readonly Pattern?: string }[];
}

/** A compiled pattern: true when the event matches. */
export type EventMatcher = (event: unknown) => boolean;

/** Tests one leaf value (never `undefined`: absence is handled by `exists`). */
type ValueTest = (value: unknown) => boolean;

/** One element of a leaf array: either about presence or about a value. */
type LeafMatcher =
  | { readonly kind: 'exists'; readonly present: boolean }
  | { readonly kind: 'value'; readonly test: ValueTest };

type JsonObject = Record<string, unknown>;

const NUMERIC_OPERATORS = new Set(['<', '<=', '=', '>', '>=']);

function isObject(value: unknown): value is JsonObject {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function isScalar(value: unknown): value is string | number | boolean | null {
  return value === null || typeof value === 'string' || typeof value === 'boolean' || Number.isFinite(value);
}

function join(path: string, key: string): string {
  return path ? `${path}.${key}` : key;
}

/** `===` for scalars; numbers compare as numbers, so `5` matches `5.0` as in EventBridge. */
function equalsScalar(expected: string | number | boolean | null): ValueTest {
  return (value) => value === expected;
}

function lower(value: string): string {
  return value.toLocaleLowerCase('en-US');
}

function requireString(value: unknown, what: string, path: string): string {
  if (typeof value !== 'string') throw new InvalidEventPatternError(`${what} needs a string`, path);
  return value;
}

/** `"x"` or `{ "equals-ignore-case": "x" }`, the two forms `prefix` and `suffix` accept. */
function affix(operand: unknown, operator: string, path: string): { text: string; ignoreCase: boolean } {
  if (isObject(operand)) {
    const keys = Object.keys(operand);
    if (keys.length !== 1 || keys[0] !== 'equals-ignore-case') {
      throw new InvalidEventPatternError(
        `${operator} accepts a string or { "equals-ignore-case": string }`,
        path,
      );
    }
    return { text: requireString(operand['equals-ignore-case'], operator, path), ignoreCase: true };
  }
  return { text: requireString(operand, operator, path), ignoreCase: false };
}

function prefixTest(operand: unknown, path: string): ValueTest {
  const { text, ignoreCase } = affix(operand, 'prefix', path);
  const wanted = ignoreCase ? lower(text) : text;
  return (value) => typeof value === 'string' && (ignoreCase ? lower(value) : value).startsWith(wanted);
}

function suffixTest(operand: unknown, path: string): ValueTest {
  const { text, ignoreCase } = affix(operand, 'suffix', path);
  const wanted = ignoreCase ? lower(text) : text;
  return (value) => typeof value === 'string' && (ignoreCase ? lower(value) : value).endsWith(wanted);
}

function equalsIgnoreCaseTest(operand: unknown, path: string): ValueTest {
  const wanted = lower(requireString(operand, 'equals-ignore-case', path));
  return (value) => typeof value === 'string' && lower(value) === wanted;
}

/** `numeric: ['>', 0, '<=', 5]`: one comparison or two (a range); only numbers match. */
function numericTest(operand: unknown, path: string): ValueTest {
  if (!Array.isArray(operand) || (operand.length !== 2 && operand.length !== 4)) {
    throw new InvalidEventPatternError('numeric needs [operator, number] or a range of two of them', path);
  }
  const comparisons: ValueTest[] = [];
  for (let index = 0; index < operand.length; index += 2) {
    const operator: unknown = operand[index];
    const bound: unknown = operand[index + 1];
    if (typeof operator !== 'string' || !NUMERIC_OPERATORS.has(operator)) {
      throw new InvalidEventPatternError(
        `numeric operator ${JSON.stringify(operator)} is not supported`,
        path,
      );
    }
    if (typeof bound !== 'number' || !Number.isFinite(bound)) {
      throw new InvalidEventPatternError('numeric needs finite numbers', path);
    }
    comparisons.push((value) => {
      if (typeof value !== 'number') return false;
      switch (operator) {
        case '<':
          return value < bound;
        case '<=':
          return value <= bound;
        case '=':
          return value === bound;
        case '>':
          return value > bound;
        default:
          return value >= bound;
      }
    });
  }
  return (value) => comparisons.every((comparison) => comparison(value));
}

/**
 * `anything-but`: a present value that is none of the given ones. Like
 * EventBridge, an absent field does not match (that is `exists: false`).
 */
function anythingButTest(operand: unknown, path: string): ValueTest {
  if (isObject(operand)) {
    const keys = Object.keys(operand);
    const [key] = keys;
    if (keys.length !== 1 || key === undefined) {
      throw new InvalidEventPatternError(
        'anything-but accepts one of prefix, suffix, equals-ignore-case',
        path,
      );
    }
    const inner = operand[key];
    let test: ValueTest;
    switch (key) {
      case 'prefix':
        test = prefixTest(requireString(inner, 'anything-but prefix', path), path);
        break;
      case 'suffix':
        test = suffixTest(requireString(inner, 'anything-but suffix', path), path);
        break;
      case 'equals-ignore-case': {
        const list = Array.isArray(inner) ? inner : [inner];
        if (list.length === 0)
          throw new InvalidEventPatternError('anything-but needs at least one value', path);
        const tests = list.map((item) => equalsIgnoreCaseTest(item, path));
        test = (value) => tests.some((each) => each(value));
        break;
      }
      default:
        throw new InvalidEventPatternError(
          `anything-but operator ${JSON.stringify(key)} is not supported`,
          path,
        );
    }
    // The string forms only ever match strings: `anything-but: { prefix }` never matches a number.
    return (value) => typeof value === 'string' && !test(value);
  }
  const list = Array.isArray(operand) ? operand : [operand];
  if (list.length === 0) throw new InvalidEventPatternError('anything-but needs at least one value', path);
  const excluded = list.map((item) => {
    if (!isScalar(item))
      throw new InvalidEventPatternError('anything-but lists only strings, numbers, booleans, null', path);
    return equalsScalar(item);
  });
  return (value) => !excluded.some((test) => test(value));
}

/** One element of a leaf array: a scalar for exact matching, or a one-key operator object. */
function compileLeafElement(element: unknown, path: string): LeafMatcher {
  if (isScalar(element)) return { kind: 'value', test: equalsScalar(element) };
  if (!isObject(element)) {
    throw new InvalidEventPatternError(
      'a pattern value must be a string, number, boolean, null or operator',
      path,
    );
  }
  const keys = Object.keys(element);
  const [operator] = keys;
  if (keys.length !== 1 || operator === undefined) {
    throw new InvalidEventPatternError(
      `an operator object needs exactly one key, got ${JSON.stringify(keys)}`,
      path,
    );
  }
  const operand = element[operator];
  switch (operator) {
    case 'exists':
      if (typeof operand !== 'boolean')
        throw new InvalidEventPatternError('exists needs true or false', path);
      return { kind: 'exists', present: operand };
    case 'prefix':
      return { kind: 'value', test: prefixTest(operand, path) };
    case 'suffix':
      return { kind: 'value', test: suffixTest(operand, path) };
    case 'equals-ignore-case':
      return { kind: 'value', test: equalsIgnoreCaseTest(operand, path) };
    case 'numeric':
      return { kind: 'value', test: numericTest(operand, path) };
    case 'anything-but':
      return { kind: 'value', test: anythingButTest(operand, path) };
    default:
      throw new InvalidEventPatternError(`operator ${JSON.stringify(operator)} is not supported`, path);
  }
}

/**
 * The leaf values at a field: the value itself, or the scalar elements of an
 * array (nested arrays flattened). Objects are not leaves, so `exists` on an
 * object field sees nothing there, as EventBridge documents ("exists matching
 * only works on leaf nodes").
 */
function leafValues(value: unknown, into: unknown[] = []): unknown[] {
  if (Array.isArray(value)) {
    for (const element of value) leafValues(element, into);
  } else if (value !== undefined && !isObject(value)) {
    into.push(value);
  }
  return into;
}

function compileLeaf(elements: readonly unknown[], path: string): (value: unknown) => boolean {
  if (elements.length === 0)
    throw new InvalidEventPatternError('empty arrays are not allowed in a pattern', path);
  const matchers = elements.map((element) => compileLeafElement(element, path));
  return (value) => {
    const values = leafValues(value);
    return matchers.some((matcher) =>
      matcher.kind === 'exists'
        ? matcher.present === values.length > 0
        : values.some((each) => matcher.test(each)),
    );
  };
}

function compileObject(pattern: JsonObject, path: string): EventMatcher {
  const fields: EventMatcher[] = [];
  for (const [key, sub] of Object.entries(pattern)) {
    const subPath = join(path, key);
    if (key === '$or') {
      if (!Array.isArray(sub) || sub.length < 2) {
        throw new InvalidEventPatternError('$or needs an array of at least two patterns', subPath);
      }
      const alternatives = sub.map((alternative, index) => {
        if (!isObject(alternative))
          throw new InvalidEventPatternError('$or alternatives must be objects', subPath);
        return compileObject(alternative, `${subPath}[${index}]`);
      });
      // `$or` applies to the object it sits in, so its alternatives see the same event.
      fields.push((event) => alternatives.some((alternative) => alternative(event)));
    } else if (Array.isArray(sub)) {
      const leaf = compileLeaf(sub, subPath);
      fields.push((event) => leaf(isObject(event) ? event[key] : undefined));
    } else if (isObject(sub)) {
      const nested = compileObject(sub, subPath);
      fields.push((event) => nested(isObject(event) ? event[key] : undefined));
    } else {
      throw new InvalidEventPatternError('a pattern field must be an array or an object', subPath);
    }
  }
  return (event) => {
    // An array of objects matches when one element matches the whole sub-pattern
    // (EventBridge's array consistency), not when fields match in different elements.
    if (Array.isArray(event)) {
      const elements = event.filter(isObject);
      return elements.length > 0
        ? elements.some((element) => fields.every((field) => field(element)))
        : fields.every((field) => field(undefined));
    }
    return fields.every((field) => field(event));
  };
}

/**
 * Compiles an event pattern (an object, or its JSON text) into a matcher.
 * Validates the whole pattern first, so an unsupported operator throws even
 * when an earlier field would already have rejected the event.
 *
 * @throws InvalidEventPatternError when the pattern is not valid or not supported.
 */
export function compileEventPattern(pattern: unknown): EventMatcher {
  let parsed = pattern;
  if (typeof pattern === 'string') {
    try {
      parsed = JSON.parse(pattern);
    } catch (error) {
      throw new InvalidEventPatternError('the pattern is not valid JSON', '', { cause: error });
    }
  }
  if (!isObject(parsed)) throw new InvalidEventPatternError('a pattern must be a JSON object', '');
  return compileObject(parsed, '');
}

/**
 * True when `event` matches `pattern` (an object or JSON text).
 *
 * @throws InvalidEventPatternError when the pattern is not valid or not supported.
 */
export function matchesEventPattern(pattern: unknown, event: unknown): boolean {
  return compileEventPattern(pattern)(event);
}

/**
 * Compiles an event source mapping's filter criteria: the result admits a
 * record when there are no filters or any filter's pattern matches it.
 *
 * @throws InvalidEventPatternError when a filter has no pattern or an invalid one.
 */
export function compileFilterCriteria(filterCriteria: FilterCriteria | undefined): EventMatcher {
  const filters = filterCriteria?.Filters ?? [];
  if (filters.length === 0) return () => true;
  const matchers = filters.map((filter, index) => {
    if (typeof filter.Pattern !== 'string') {
      throw new InvalidEventPatternError('a filter needs a Pattern (JSON text)', `Filters[${index}]`);
    }
    return compileEventPattern(filter.Pattern);
  });
  return (record) => matchers.some((matcher) => matcher(record));
}

/**
 * True when a record passes an event source mapping's filter criteria: no
 * filters, or any filter's JSON pattern matches. For a DynamoDB stream
 * record the pattern is matched against the record as Lambda delivers it
 * (`{ eventName, dynamodb: { Keys, NewImage, ... } }`, images in
 * AttributeValue JSON such as `{ S: 'OUTBOX#...' }`).
 *
 * @throws InvalidEventPatternError when a filter has no pattern or an invalid one.
 */
export function matchesFilterCriteria(record: unknown, filterCriteria: FilterCriteria | undefined): boolean {
  return compileFilterCriteria(filterCriteria)(record);
}
