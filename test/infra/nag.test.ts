import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { App, type PolicyValidationPluginReport, Stack, Validations } from 'aws-cdk-lib';
import * as dynamodb from 'aws-cdk-lib/aws-dynamodb';
import * as iam from 'aws-cdk-lib/aws-iam';
import { AwsSolutionsChecks } from 'cdk-nag';
import type { IConstruct } from 'constructs';
import { describe, expect, it } from 'vitest';
import {
  acknowledgeOutboxNagFindings,
  FUNCTION_POLICY_ACKNOWLEDGMENTS,
  FUNCTION_ROLE_ACKNOWLEDGMENTS,
} from '../../lib/nag';
import { TransactionalOutbox } from '../../lib/outbox/transactional-outbox';
import { OutboxStack } from '../../lib/outbox-stack';
import { STAGES, type Stage } from '../../lib/stage';

/**
 * cdk-nag 3 is a policy validation plugin, not an aspect: `validateScope` is
 * its documented entry point for tests, and reads the acknowledgments that
 * lib/nag.ts records with `Validations.of(...).acknowledge`.
 */
function nagReport(stack: Stack): PolicyValidationPluginReport {
  return new AwsSolutionsChecks(undefined, { verbose: true }).validateScope(stack);
}

function freshStack(stage: Stage): OutboxStack {
  const app = new App({ context: { 'aws:cdk:bundling-stacks': [] } });
  return new OutboxStack(app, `Outbox-${stage}`, { stage });
}

/** `rule: path, path (description)` per violation of `severity`, for a readable failure. */
function findings(report: PolicyValidationPluginReport, severity: 'error' | 'warning'): string[] {
  return report.violations
    .filter((violation) => violation.severity === severity)
    .map(
      (violation) =>
        `${violation.ruleName}: ${violation.violatingResources.map((resource) => resource.constructPath).join(', ')} (${violation.description})`,
    );
}

interface Acknowledged {
  readonly path: string;
  readonly id: string;
  readonly reason: string;
}

/** Every acknowledgment recorded anywhere in the stack, with the construct it is on. */
function acknowledgmentsIn(stack: Stack): Acknowledged[] {
  const acknowledged: Acknowledged[] = [];
  const visit = (construct: IConstruct): void => {
    for (const entry of construct.node.metadata) {
      if (entry.type !== Validations.ACKNOWLEDGED_RULES_METADATA_KEY) continue;
      for (const [key, reason] of Object.entries(entry.data as Record<string, string>)) {
        acknowledged.push({ path: construct.node.path, id: key.replace(/^annotation::/i, ''), reason });
      }
    }
  };
  for (let scope: IConstruct | undefined = stack.node.scope; scope; scope = scope.node.scope) visit(scope);
  for (const construct of stack.node.findAll()) visit(construct);
  return acknowledged;
}

describe('cdk-nag AwsSolutions checks', () => {
  for (const stage of STAGES) {
    it(`find no unacknowledged error in the ${stage} stack`, () => {
      expect(findings(nagReport(freshStack(stage)), 'error')).toEqual([]);
    });

    it(`find no unacknowledged warning in the ${stage} stack`, () => {
      expect(findings(nagReport(freshStack(stage)), 'warning')).toEqual([]);
    });

    it(`in ${stage}, are acknowledged only on resources, for specific findings, with a reason`, () => {
      const stack = freshStack(stage);

      const acknowledged = acknowledgmentsIn(stack);

      expect(acknowledged.length).toBeGreaterThan(0);
      for (const { path, id, reason } of acknowledged) {
        // Not on the app or the stack: each acknowledgment names the resource it concerns.
        expect(path.split('/').length, `${id} on ${path}`).toBeGreaterThan(2);
        expect(reason.length, `${id} on ${path} needs a reason`).toBeGreaterThanOrEqual(60);
        // IAM findings are acknowledged per finding (policy ARN or wildcard), never the whole rule.
        if (/^AwsSolutions-IAM\d+/.test(id)) expect(id, path).toMatch(/^AwsSolutions-IAM\d+\[.+\]$/);
      }
      expect([...new Set(acknowledged.map(({ id }) => id))].sort()).toEqual(
        [
          ...FUNCTION_ROLE_ACKNOWLEDGMENTS.map(({ id }) => id),
          ...FUNCTION_POLICY_ACKNOWLEDGMENTS.map(({ id }) => id),
          'AwsSolutions-SQS3',
        ].sort(),
      );
    });
  }

  it('acknowledge the wildcard X-Ray needs on the policies, not on anything else', () => {
    const stack = freshStack('prod');

    const wildcard = acknowledgmentsIn(stack).filter(({ id }) => id === 'AwsSolutions-IAM5[Resource::*]');

    expect(wildcard.length).toBeGreaterThan(0);
    for (const { path } of wildcard) expect(path).toMatch(/\/ServiceRole\/DefaultPolicy$/);
  });

  it('acknowledge the missing dead-letter queue only on queues that are last stops', () => {
    for (const stage of STAGES) {
      const stack = freshStack(stage);
      const lastStops = [
        stack.relay.poisonQueue,
        stack.relay.onFailureQueue,
        ...(stack.tap ? [stack.tap.queue] : []),
        ...stack.consumers.map((consumer) => consumer.ruleDeadLetterQueue),
      ];

      const paths = acknowledgmentsIn(stack)
        .filter(({ id }) => id === 'AwsSolutions-SQS3')
        .map(({ path }) => path);

      expect(paths.sort()).toEqual(lastStops.map((queue) => queue.node.path).sort());
      expect(paths).toContain(`Outbox-${stage}/Outbox/Relay/PoisonQueue`);
      if (stage === 'dev') expect(paths).toContain('Outbox-dev/Sample/Tap/Queue');
    }
  });

  it('pass as a validation plugin of a whole synth, as `cdk synth` would run them', () => {
    const outdir = mkdtempSync(join(tmpdir(), 'outbox-nag-'));
    try {
      const app = new App({ outdir, context: { 'aws:cdk:bundling-stacks': [] } });
      Validations.of(app).addPlugins(new AwsSolutionsChecks(app));
      for (const stage of STAGES) new OutboxStack(app, `Outbox-${stage}`, { stage });

      // A violation makes synth throw `ValidationFailed` with the report.
      expect(() => app.synth()).not.toThrow();
    } finally {
      rmSync(outdir, { recursive: true, force: true });
    }
  });

  it('still report a finding nobody acknowledged', () => {
    const stack = freshStack('prod');
    stack.relay.function.addToRolePolicy(
      new iam.PolicyStatement({ actions: ['sqs:*'], resources: [stack.relay.poisonQueue.queueArn] }),
    );

    expect(findings(nagReport(stack), 'error')).toEqual([
      expect.stringMatching(
        /^AwsSolutions-IAM5\[Action::sqs:\*\]: Outbox-prod\/Outbox\/Relay\/Function\/ServiceRole/,
      ),
    ]);
  });

  it('find no unacknowledged error in a service stack with a TransactionalOutbox on its own table', () => {
    const stack = new Stack(new App({ context: { 'aws:cdk:bundling-stacks': [] } }), 'Service');
    const table = new dynamodb.TableV2(stack, 'Table', {
      partitionKey: { name: 'PK', type: dynamodb.AttributeType.STRING },
      sortKey: { name: 'SK', type: dynamodb.AttributeType.STRING },
      dynamoStream: dynamodb.StreamViewType.NEW_IMAGE,
      pointInTimeRecoverySpecification: { pointInTimeRecoveryEnabled: true },
    });

    acknowledgeOutboxNagFindings(new TransactionalOutbox(stack, 'Outbox', { table }));

    expect(findings(nagReport(stack), 'error')).toEqual([]);
  });
});
