import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { App } from 'aws-cdk-lib';
import { Template } from 'aws-cdk-lib/assertions';
import { afterEach, describe, expect, it } from 'vitest';
import { API_ROUTES, FALLBACK_ROUTE } from '../../lambdas/sample/handlers/api-routes';
import { OUTBOX_FUNCTION_ENTRIES } from '../../lib/outbox';
import { OutboxStack } from '../../lib/outbox-stack';
import { sampleHandlerEntry } from '../../lib/sample/sample-handlers';
import { missingEntries } from '../helpers/synth';

const HANDLERS = [
  ...[...API_ROUTES, FALLBACK_ROUTE].map((route) => sampleHandlerEntry(route.handler)),
  sampleHandlerEntry('notifications'),
  sampleHandlerEntry('member-activity'),
  OUTBOX_FUNCTION_ENTRIES.relay,
  OUTBOX_FUNCTION_ENTRIES.sweeper,
];

describe('bundling', () => {
  const outdirs: string[] = [];
  afterEach(() => {
    for (const outdir of outdirs.splice(0)) rmSync(outdir, { recursive: true, force: true });
  });

  it('bundles every handler locally with esbuild into an ESM file with a source map', () => {
    expect(missingEntries(HANDLERS)).toEqual([]);
    const outdir = mkdtempSync(join(tmpdir(), 'outbox-bundling-'));
    outdirs.push(outdir);
    // No bundling-stacks override: this is the synth `cdk deploy` runs.
    const app = new App({ outdir });
    const stack = new OutboxStack(app, 'Outbox-dev', { stage: 'dev' });

    const functions = Object.values(Template.fromStack(stack).findResources('AWS::Lambda::Function'));

    expect(functions).toHaveLength(HANDLERS.length);
    for (const fn of functions) {
      const key = fn.Properties.Code.S3Key as string;
      const bundle = join(outdir, `asset.${key.replace(/\.zip$/, '')}`);
      const code = readFileSync(join(bundle, 'index.mjs'), 'utf8');
      expect(code.startsWith("import { createRequire } from 'module';")).toBe(true);
      expect(code).toMatch(/export\s*\{[^}]*as handler/);
      expect(existsSync(join(bundle, 'index.mjs.map'))).toBe(true);
    }
  });
});
