/**
 * Synthesizes the outbox stack for infra tests, with Lambda bundling skipped
 * (`aws:cdk:bundling-stacks` empty) so a synth takes a second, not a minute,
 * and reads IAM statements per function without generated logical ids.
 */
import { existsSync } from 'node:fs';
import { App, type CfnElement } from 'aws-cdk-lib';
import { Template } from 'aws-cdk-lib/assertions';
import type { IConstruct } from 'constructs';
import { OutboxStack, type OutboxStackProps } from '../../lib/outbox-stack';
import type { Stage } from '../../lib/stage';

/** A synthesized stack and its template. */
export interface Synthesized {
  readonly stack: OutboxStack;
  readonly template: Template;
}

/** Stack properties besides the stage. */
export type SynthProps = Omit<OutboxStackProps, 'stage'>;

const cache = new Map<string, Synthesized>();

/**
 * The `Outbox-<stage>` stack and its template, bundling skipped. Results are
 * cached per stage and props within a test file; treat them as read-only.
 */
export function synth(stage: Stage, props: SynthProps = {}): Synthesized {
  const key = JSON.stringify([stage, props]);
  const cached = cache.get(key);
  if (cached) return cached;
  const app = new App({ context: { 'aws:cdk:bundling-stacks': [] } });
  const stack = new OutboxStack(app, `Outbox-${stage}`, { stage, ...props });
  const synthesized = { stack, template: Template.fromStack(stack) };
  cache.set(key, synthesized);
  return synthesized;
}

/** The entries of `entries` whose file does not exist. */
export function missingEntries(entries: readonly string[]): string[] {
  return entries.filter((entry) => !existsSync(entry));
}

/** The logical id of a construct's CloudFormation resource, as the stack resolves it. */
export function logicalIdOf(construct: IConstruct): string {
  const element = construct.node.defaultChild as CfnElement | undefined;
  if (!element) throw new Error(`${construct.node.path} has no default child`);
  return element.stack.getLogicalId(element);
}

/** A policy statement with `Action` and `Resource` always as lists. */
export interface Statement {
  readonly Effect: string;
  readonly Action: readonly string[];
  readonly Resource: readonly unknown[];
}

interface RawStatement {
  readonly Effect: string;
  readonly Action: string | string[];
  readonly Resource: unknown;
}

/** Every statement of the inline policies attached to `roleId` (a role's logical id). */
export function statementsOfRole(template: Template, roleId: string): Statement[] {
  const policies = template.findResources('AWS::IAM::Policy');
  const statements: Statement[] = [];
  for (const policy of Object.values(policies)) {
    const roles = (policy.Properties?.Roles ?? []) as unknown[];
    if (!roles.some((role) => JSON.stringify(role) === JSON.stringify({ Ref: roleId }))) continue;
    for (const raw of policy.Properties.PolicyDocument.Statement as RawStatement[]) {
      statements.push({
        Effect: raw.Effect,
        Action: Array.isArray(raw.Action) ? raw.Action : [raw.Action],
        Resource: Array.isArray(raw.Resource) ? raw.Resource : [raw.Resource],
      });
    }
  }
  return statements;
}

/** Every statement granted to a function's execution role. */
export function statementsOfFunction(
  synthesized: Synthesized,
  fn: { readonly role?: IConstruct | undefined },
): Statement[] {
  if (!fn.role) throw new Error('the function has no role');
  return statementsOfRole(synthesized.template, logicalIdOf(fn.role));
}

/** Statements granting any action that starts with `prefix`, e.g. `dynamodb:`. */
export function statementsWithAction(statements: readonly Statement[], prefix: string): Statement[] {
  return statements.filter((statement) => statement.Action.some((action) => action.startsWith(prefix)));
}

/** `{ 'Fn::GetAtt': [id, 'Arn'] }`: how a template refers to a resource's ARN. */
export function arnOf(construct: IConstruct): { 'Fn::GetAtt': [string, string] } {
  return { 'Fn::GetAtt': [logicalIdOf(construct), 'Arn'] };
}
