/**
 * The stack's CloudFormation template, synthesized in-process, so the local
 * runtime and the tests create exactly the resources the stack defines.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { App } from 'aws-cdk-lib';
import type { Stage } from '../lib/stage';

/** One resource of a CloudFormation template. */
export interface CfnResource {
  readonly Type: string;
  readonly Properties?: Record<string, unknown>;
  readonly DependsOn?: string | readonly string[];
  readonly Condition?: string;
  readonly Metadata?: Record<string, unknown>;
  readonly DeletionPolicy?: string;
  readonly UpdateReplacePolicy?: string;
}

/** One output of a CloudFormation template. */
export interface CfnOutput {
  readonly Value: unknown;
  readonly Description?: string;
  readonly Export?: { readonly Name: unknown };
  readonly Condition?: string;
}

/** A CloudFormation template as JSON (only the parts the local runtime reads are typed). */
export interface CfnTemplate {
  readonly Resources: Record<string, CfnResource>;
  readonly Outputs?: Record<string, CfnOutput>;
  readonly Parameters?: Record<string, unknown>;
  readonly Conditions?: Record<string, unknown>;
  readonly Rules?: Record<string, unknown>;
  readonly Description?: string;
}

/**
 * Synthesizes the stack of `stage` and returns its template. Lambda bundling
 * is skipped (`aws:cdk:bundling-stacks` empty): the local runtime imports the
 * handlers' sources itself, and esbuild would only cost time here. The cloud
 * assembly goes to a temporary directory that is removed afterwards.
 */
export async function synthTemplate(stage: Stage = 'dev'): Promise<CfnTemplate> {
  const { OutboxStack } = await import('../lib/outbox-stack');
  const outdir = await mkdtemp(join(tmpdir(), 'outbox-synth-'));
  try {
    const app = new App({ outdir, context: { 'aws:cdk:bundling-stacks': [] } });
    const stack = new OutboxStack(app, `Outbox-${stage}`, { stage });
    const template: unknown = app.synth().getStackByName(stack.stackName).template;
    if (!isTemplate(template)) throw new Error(`the synthesized Outbox-${stage} template has no Resources`);
    return template;
  } finally {
    await rm(outdir, { recursive: true, force: true });
  }
}

function isTemplate(value: unknown): value is CfnTemplate {
  return (
    typeof value === 'object' &&
    value !== null &&
    'Resources' in value &&
    typeof value.Resources === 'object' &&
    value.Resources !== null
  );
}
