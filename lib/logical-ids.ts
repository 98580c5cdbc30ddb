/**
 * CloudFormation logical ids the way CDK makes them from a construct path,
 * for a stack that leaves some levels of its construct tree out of the
 * path (lib/outbox-stack.ts).
 *
 * This is CDK's `makeUniqueId` (aws-cdk-lib core/lib/private/uniqueid.ts,
 * not exported): the path's components without `Default`; one component
 * stands alone; otherwise the components without repeats, without
 * `Resource`, stripped to letters and digits, capped at 240 characters,
 * then the first 8 hex digits of the MD5 of the path. CDK cannot change it
 * without replacing the resources of every deployed stack;
 * test/infra/stack.test.ts checks that the ids are those of the stack
 * before the split.
 */
import { createHash } from 'node:crypto';

const HIDDEN_ID = 'Default';
const HIDDEN_FROM_HUMAN_ID = 'Resource';
const HASH_LENGTH = 8;
const MAX_HUMAN_LENGTH = 240;
const MAX_ID_LENGTH = 255;

/** The logical id CDK gives the element at `components` (construct ids below the stack). */
export function logicalIdFor(pathComponents: readonly string[]): string {
  const components = pathComponents.filter((component) => component !== HIDDEN_ID);
  const [only] = components;
  if (only === undefined) throw new Error('a logical id needs at least one path component');
  if (components.length === 1) {
    const candidate = alphanumeric(only);
    if (candidate.length <= MAX_ID_LENGTH) return candidate;
  }
  const hash = createHash('md5')
    .update(components.join('/'))
    .digest('hex')
    .slice(0, HASH_LENGTH)
    .toUpperCase();
  const human = withoutRepeats(components)
    .filter((component) => component !== HIDDEN_FROM_HUMAN_ID)
    .map(alphanumeric)
    .join('')
    .slice(0, MAX_HUMAN_LENGTH);
  return human + hash;
}

function alphanumeric(component: string): string {
  return component.replace(/[^A-Za-z0-9]/g, '');
}

/** Drops a component that the previous one ends with (`Table/Table` becomes `Table`). */
function withoutRepeats(components: readonly string[]): string[] {
  const kept: string[] = [];
  for (const component of components) {
    const last = kept[kept.length - 1];
    if (last === undefined || !last.endsWith(component)) kept.push(component);
  }
  return kept;
}
