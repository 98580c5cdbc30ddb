import { describe, expect, it } from 'vitest';
import { STAGES } from '../../lib/stage';
import { synth } from '../helpers/synth';

/**
 * The only actions allowed on `Resource: "*"`: X-Ray's, which support no
 * resource-level permissions, added to every function by active tracing.
 */
const WILDCARD_RESOURCE_ACTIONS: ReadonlySet<string> = new Set([
  'xray:PutTraceSegments',
  'xray:PutTelemetryRecords',
]);

/** The only managed policy a role may carry: CloudWatch Logs writes for a function's own logs. */
const MANAGED_POLICY_ARNS: ReadonlySet<string> = new Set([
  JSON.stringify({
    'Fn::Join': [
      '',
      ['arn:', { Ref: 'AWS::Partition' }, ':iam::aws:policy/service-role/AWSLambdaBasicExecutionRole'],
    ],
  }),
]);

/** `*` or a whole service, e.g. `sqs:*`. A wildcard inside a name (`kms:GenerateDataKey*`) is not one. */
const WHOLE_SERVICE_ACTION = /^(\*|[a-zA-Z0-9-]+:\*)$/;

type Template = ReturnType<typeof synth>['template'];

interface PolicyStatement {
  readonly Sid?: string;
  readonly Effect: 'Allow' | 'Deny';
  readonly Action?: string | string[];
  readonly NotAction?: unknown;
  readonly Resource?: unknown;
  readonly NotResource?: unknown;
  readonly Principal?: unknown;
}

interface LocatedStatement {
  /** Logical id of the resource holding the policy, and which policy. */
  readonly where: string;
  readonly statement: PolicyStatement;
}

function listOf<T>(value: T | T[] | undefined): T[] {
  if (value === undefined) return [];
  return Array.isArray(value) ? value : [value];
}

function statementsOf(document: unknown): PolicyStatement[] {
  return listOf((document as { Statement?: PolicyStatement | PolicyStatement[] }).Statement);
}

/**
 * Every statement of every identity policy (inline role policies,
 * `AWS::IAM::Policy`, `AWS::IAM::ManagedPolicy`) and resource policy (queues,
 * topics) in the template. Trust policies are not included: they grant
 * `sts:AssumeRole` to a principal, not access to resources. Key policies are
 * checked on their own (see below).
 */
function policyStatements(template: Template): LocatedStatement[] {
  const located: LocatedStatement[] = [];
  const resources = template.toJSON().Resources as Record<
    string,
    { Type: string; Properties?: Record<string, unknown> }
  >;
  for (const [id, resource] of Object.entries(resources)) {
    const properties = resource.Properties ?? {};
    const add = (where: string, document: unknown) => {
      for (const statement of statementsOf(document)) located.push({ where, statement });
    };
    switch (resource.Type) {
      case 'AWS::IAM::Policy':
      case 'AWS::IAM::ManagedPolicy':
      case 'AWS::SQS::QueuePolicy':
      case 'AWS::SNS::TopicPolicy':
        add(id, properties.PolicyDocument);
        break;
      case 'AWS::IAM::Role':
      case 'AWS::IAM::User':
      case 'AWS::IAM::Group':
        for (const policy of listOf(
          properties.Policies as { PolicyName: string; PolicyDocument: unknown }[],
        )) {
          add(`${id}/${policy.PolicyName}`, policy.PolicyDocument);
        }
        break;
    }
  }
  return located;
}

function resourcesOfType(template: Template, type: string): [string, Record<string, unknown>][] {
  return Object.entries(template.findResources(type)).map(([id, resource]) => [
    id,
    resource.Properties ?? {},
  ]);
}

describe('security', () => {
  for (const stage of STAGES) {
    describe(`in ${stage}`, () => {
      it('encrypts every table at rest', () => {
        const { template } = synth(stage);
        const tables = [
          ...resourcesOfType(template, 'AWS::DynamoDB::GlobalTable'),
          ...resourcesOfType(template, 'AWS::DynamoDB::Table'),
        ];

        expect(tables.length).toBeGreaterThan(0);
        for (const [id, properties] of tables) {
          expect(properties.SSESpecification, id).toMatchObject({ SSEEnabled: true });
        }
      });

      it('encrypts every queue at rest', () => {
        const { template } = synth(stage);
        const queues = resourcesOfType(template, 'AWS::SQS::Queue');

        expect(queues.length).toBeGreaterThan(0);
        for (const [id, properties] of queues) {
          const encrypted =
            properties.SqsManagedSseEnabled === true || properties.KmsMasterKeyId !== undefined;
          expect(encrypted, `${id} is not encrypted`).toBe(true);
        }
      });

      it('encrypts every topic at rest with a KMS key', () => {
        const { template } = synth(stage);
        const topics = resourcesOfType(template, 'AWS::SNS::Topic');

        expect(topics.length).toBeGreaterThan(0);
        for (const [id, properties] of topics) {
          expect(properties.KmsMasterKeyId, `${id} is not encrypted`).toBeDefined();
        }
      });

      it('grants no action of a whole service, nor every action', () => {
        const statements = policyStatements(synth(stage).template);

        expect(statements.length).toBeGreaterThan(0);
        for (const { where, statement } of statements) {
          // Deny statements (e.g. `sqs:*` without TLS) restrict; a wildcard there is the point.
          if (statement.Effect === 'Deny') continue;
          expect(statement.NotAction, where).toBeUndefined();
          for (const action of listOf(statement.Action)) {
            expect(action, `${where} allows ${action}`).not.toMatch(WHOLE_SERVICE_ACTION);
          }
        }
      });

      it('grants Resource "*" only for the X-Ray actions AWS requires it for', () => {
        const statements = policyStatements(synth(stage).template);

        for (const { where, statement } of statements) {
          if (statement.Effect === 'Deny') continue;
          expect(statement.NotResource, where).toBeUndefined();
          if (!listOf(statement.Resource).includes('*')) continue;
          for (const action of listOf(statement.Action)) {
            expect(WILDCARD_RESOURCE_ACTIONS.has(action), `${where} allows ${action} on "*"`).toBe(true);
          }
        }
      });

      it('attaches no managed policy but AWSLambdaBasicExecutionRole', () => {
        const { template } = synth(stage);

        for (const [id, properties] of resourcesOfType(template, 'AWS::IAM::Role')) {
          for (const arn of listOf(properties.ManagedPolicyArns as unknown[])) {
            expect(MANAGED_POLICY_ARNS.has(JSON.stringify(arn)), `${id} has ${JSON.stringify(arn)}`).toBe(
              true,
            );
          }
        }
      });

      it('gives kms:* in a key policy to this account alone, and no other wildcard action', () => {
        // In a key policy, Resource "*" means the key itself. The account-root
        // statement is KMS's default key policy: it lets IAM policies of this
        // account grant use of the key, and keeps the key manageable.
        const { template } = synth(stage);
        const accountRoot = {
          AWS: {
            'Fn::Join': [
              '',
              ['arn:', { Ref: 'AWS::Partition' }, ':iam::', { Ref: 'AWS::AccountId' }, ':root'],
            ],
          },
        };

        for (const [id, properties] of resourcesOfType(template, 'AWS::KMS::Key')) {
          for (const statement of statementsOf(properties.KeyPolicy)) {
            if (statement.Effect === 'Deny') continue;
            for (const action of listOf(statement.Action)) {
              if (!WHOLE_SERVICE_ACTION.test(action)) continue;
              expect(action, `${id}: ${statement.Sid ?? 'a statement'} allows ${action}`).toBe('kms:*');
              expect(statement.Principal, `${id} allows kms:* to another principal`).toEqual(accountRoot);
            }
          }
        }
      });
    });
  }
});
