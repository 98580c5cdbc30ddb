import { App, Stack } from 'aws-cdk-lib';
import { Template } from 'aws-cdk-lib/assertions';
import { AttributeType, TableV2 } from 'aws-cdk-lib/aws-dynamodb';
import { describe, expect, it } from 'vitest';
import { API_ROUTES, FALLBACK_ROUTE } from '../../lambdas/sample/handlers/api-routes';
import { OUTBOX_FUNCTION_ENTRIES } from '../../lib/outbox';
import { API_TABLE_ACCESS } from '../../lib/sample/sample-api';
import { sampleHandlerEntry } from '../../lib/sample/sample-handlers';
import { ServiceFunction, type ServiceFunctionProps } from '../../lib/service-function';
import {
  arnOf,
  logicalIdOf,
  type Statement,
  type Synthesized,
  statementsOfFunction,
  statementsOfRole,
  statementsWithAction,
  synth,
} from '../helpers/synth';

const FUNCTION = 'AWS::Lambda::Function';

function apiFunction(synthesized: Synthesized, handler: string): ServiceFunction {
  const fn = synthesized.stack.api.functions.get(handler);
  if (!fn) throw new Error(`no function for ${handler}`);
  return fn;
}

function allFunctions(synthesized: Synthesized): ServiceFunction[] {
  return [...synthesized.stack.api.functions.values(), synthesized.stack.relay.function];
}

/** Every action granted on `resource`, sorted. */
function actionsOn(statements: readonly Statement[], resource: unknown): string[] {
  return statements
    .filter((statement) =>
      statement.Resource.some((candidate) => JSON.stringify(candidate) === JSON.stringify(resource)),
    )
    .flatMap((statement) => statement.Action)
    .sort();
}

describe('functions', () => {
  it('are one per route, the fallback, the relay, the sweeper and the two consumers, and nothing else', () => {
    const { template } = synth('dev');

    template.resourceCountIs(FUNCTION, API_ROUTES.length + 5);
  });

  it('all run nodejs24.x on arm64 with active tracing', () => {
    const { template } = synth('prod');

    for (const fn of Object.values(template.findResources(FUNCTION))) {
      expect(fn.Properties).toMatchObject({
        Runtime: 'nodejs24.x',
        Architectures: ['arm64'],
        TracingConfig: { Mode: 'Active' },
        Handler: 'index.handler',
      });
    }
  });

  it('all enable source maps and name their Powertools service and namespace', () => {
    const { template } = synth('dev');

    for (const fn of Object.values(template.findResources(FUNCTION))) {
      expect(fn.Properties.Environment.Variables).toMatchObject({
        NODE_OPTIONS: '--enable-source-maps',
        POWERTOOLS_METRICS_NAMESPACE: 'Outbox',
        POWERTOOLS_SERVICE_NAME: expect.any(String),
      });
    }
  });

  it('each log to their own log group kept for a month', () => {
    const synthesized = synth('dev');
    const resources = synthesized.template.toJSON().Resources;

    const groups = allFunctions(synthesized).map((fn) => {
      const logGroup = resources[logicalIdOf(fn)].Properties.LoggingConfig.LogGroup as { Ref: string };
      expect(resources[logGroup.Ref].Properties.RetentionInDays).toBe(30);
      return logGroup.Ref;
    });

    expect(new Set(groups).size).toBe(groups.length);
  });

  it('keep their log groups in prod and delete them in dev', () => {
    const prod = synth('prod');
    const dev = synth('dev');

    const policyOf = (synthesized: Synthesized) =>
      synthesized.template.toJSON().Resources[logicalIdOf(synthesized.stack.relay.function.functionLogGroup)]
        .DeletionPolicy;

    expect(policyOf(prod)).toBe('Retain');
    expect(policyOf(dev)).toBe('Delete');
  });

  it('default to 512 MB, the relay to 1024 MB and 60 s', () => {
    const synthesized = synth('dev');
    const resources = synthesized.template.toJSON().Resources;

    expect(resources[logicalIdOf(apiFunction(synthesized, 'get-member'))].Properties.MemorySize).toBe(512);
    expect(resources[logicalIdOf(synthesized.stack.relay.function)].Properties).toMatchObject({
      MemorySize: 1024,
      Timeout: 60,
    });
  });
});

describe('function permissions', () => {
  it('allow get-member only dynamodb:GetItem, on the table', () => {
    const synthesized = synth('dev');
    const statements = statementsOfFunction(synthesized, apiFunction(synthesized, 'get-member'));

    const dynamo = statementsWithAction(statements, 'dynamodb:');

    expect(dynamo).toEqual([
      {
        Effect: 'Allow',
        Action: ['dynamodb:GetItem'],
        Resource: [arnOf(synthesized.stack.outboxTable.table)],
      },
    ]);
  });

  it.each(API_ROUTES)('allow $handler exactly its table actions and no index', ({ handler }) => {
    const synthesized = synth('dev');
    const statements = statementsOfFunction(synthesized, apiFunction(synthesized, handler));
    const expected = (API_TABLE_ACCESS[handler] ?? []).map((action) => `dynamodb:${action}`).sort();

    const dynamo = statementsWithAction(statements, 'dynamodb:');

    expect(expected.length).toBeGreaterThan(0);
    expect(actionsOn(dynamo, arnOf(synthesized.stack.outboxTable.table))).toEqual(expected);
    expect(dynamo.flatMap((statement) => statement.Resource)).toEqual(
      dynamo.map(() => arnOf(synthesized.stack.outboxTable.table)),
    );
  });

  it('allow not-found no DynamoDB action at all', () => {
    const synthesized = synth('dev');
    const statements = statementsOfFunction(synthesized, apiFunction(synthesized, FALLBACK_ROUTE.handler));

    expect(statementsWithAction(statements, 'dynamodb:')).toEqual([]);
  });

  it('never grant a wildcard DynamoDB, SQS or EventBridge action', () => {
    const { template } = synth('dev');
    const actions = Object.values(template.findResources('AWS::IAM::Policy')).flatMap((policy) =>
      (policy.Properties.PolicyDocument.Statement as Array<{ Action: string | string[] }>).flatMap(
        (statement) => statement.Action,
      ),
    );

    expect(actions.length).toBeGreaterThan(0);
    expect(actions.filter((action) => action === '*' || /^(dynamodb|sqs|events):\*$/.test(action))).toEqual(
      [],
    );
  });

  it('give TABLE_NAME to exactly the functions allowed on the table', () => {
    const synthesized = synth('dev');
    const resources = synthesized.template.toJSON().Resources;
    const tableArn = arnOf(synthesized.stack.outboxTable.table);

    for (const fn of allFunctions(synthesized)) {
      const variables = resources[logicalIdOf(fn)].Properties.Environment.Variables as Record<
        string,
        unknown
      >;
      const allowed = actionsOn(statementsOfFunction(synthesized, fn), tableArn);
      expect({ handler: fn.handlerName, hasTableName: 'TABLE_NAME' in variables }).toEqual({
        handler: fn.handlerName,
        hasTableName: allowed.length > 0,
      });
    }
  });

  it('allow the relay to publish to its bus only', () => {
    const synthesized = synth('dev');
    const statements = statementsOfFunction(synthesized, synthesized.stack.relay.function);

    expect(statementsWithAction(statements, 'events:')).toEqual([
      { Effect: 'Allow', Action: ['events:PutEvents'], Resource: [arnOf(synthesized.stack.bus.eventBus)] },
    ]);
  });

  it('allow the relay only PartiQLUpdate, UpdateItem, BatchGetItem and Query on the table, besides reading its stream', () => {
    const synthesized = synth('dev');
    const { table } = synthesized.stack.outboxTable;
    const statements = statementsOfFunction(synthesized, synthesized.stack.relay.function);
    const streamArn = { 'Fn::GetAtt': [logicalIdOf(table), 'StreamArn'] };

    expect(actionsOn(statements, arnOf(table))).toEqual([
      'dynamodb:BatchGetItem',
      'dynamodb:PartiQLUpdate',
      'dynamodb:Query',
      'dynamodb:UpdateItem',
    ]);
    expect(actionsOn(statements, streamArn)).toEqual([
      'dynamodb:DescribeStream',
      'dynamodb:GetRecords',
      'dynamodb:GetShardIterator',
      'dynamodb:ListStreams',
    ]);
    const elsewhere = statementsWithAction(statements, 'dynamodb:').flatMap(
      (statement) => statement.Resource,
    );
    expect(
      elsewhere.every((resource) =>
        [arnOf(table), streamArn].some((r) => JSON.stringify(r) === JSON.stringify(resource)),
      ),
    ).toBe(true);
  });

  it('allow the relay only sqs:SendMessage on the poison queue', () => {
    const synthesized = synth('dev');
    const statements = statementsOfFunction(synthesized, synthesized.stack.relay.function);

    expect(actionsOn(statements, arnOf(synthesized.stack.relay.poisonQueue))).toEqual(['sqs:SendMessage']);
  });
});

describe('ServiceFunction', () => {
  function scratchFunction(props: Partial<ServiceFunctionProps> = {}): ServiceFunction {
    const stack = new Stack(new App({ context: { 'aws:cdk:bundling-stacks': [] } }), 'Scratch');
    return new ServiceFunction(stack, 'Function', {
      entry: sampleHandlerEntry(FALLBACK_ROUTE.handler),
      ...props,
    });
  }

  it('refuses a resource variable set without its grant', () => {
    const fn = scratchFunction();

    expect(() => fn.addEnvironment('TABLE_NAME', 'outbox')).toThrow(/use\.\.\. method/);
    expect(() => scratchFunction({ environment: { POISON_QUEUE_URL: 'https://queue' } })).toThrow(
      /use\.\.\. method/,
    );
  });

  it('refuses a second table for the same variable', () => {
    const fn = scratchFunction();
    const stack = Stack.of(fn);
    const table = new TableV2(stack, 'Table', { partitionKey: { name: 'pk', type: AttributeType.STRING } });
    fn.useTable(table, ['GetItem']);

    expect(() => fn.useTable(table, ['PutItem'])).toThrow(/already set/);
  });

  it('grants index actions on the named index only', () => {
    const fn = scratchFunction();
    const stack = Stack.of(fn);
    const table = new TableV2(stack, 'Table', { partitionKey: { name: 'pk', type: AttributeType.STRING } });

    fn.useTable(table, ['UpdateItem'], { indexName: 'pending', actions: ['Query'] });

    if (!fn.role) throw new Error('the function has no role');
    const statements = statementsOfRole(Template.fromStack(stack), logicalIdOf(fn.role));
    const tableArn = arnOf(table);
    expect(statementsWithAction(statements, 'dynamodb:')).toEqual([
      { Effect: 'Allow', Action: ['dynamodb:UpdateItem'], Resource: [tableArn] },
      {
        Effect: 'Allow',
        Action: ['dynamodb:Query'],
        Resource: [{ 'Fn::Join': ['', [tableArn, '/index/pending']] }],
      },
    ]);
  });

  it('refuses a handler name that is not kebab case', () => {
    expect(() => scratchFunction({ handlerName: '../shared/api' })).toThrow(/handlerName/);
    expect(() =>
      scratchFunction({ entry: sampleHandlerEntry('not-found').replace('not-found', 'Not_Found') }),
    ).toThrow(/handlerName must be kebab case, got Not_Found/);
  });

  it('names the handler after its entry and tells the local runtime the file, relative to the repository', () => {
    const fn = scratchFunction({ entry: OUTBOX_FUNCTION_ENTRIES.sweeper });
    const resource = Template.fromStack(Stack.of(fn)).toJSON().Resources[logicalIdOf(fn)];

    expect(fn.handlerName).toBe('sweeper');
    expect(resource.Metadata).toMatchObject({
      'Outbox::Handler': 'sweeper',
      'Outbox::HandlerFile': 'lambdas/outbox/functions/sweeper.ts',
    });
    expect(resource.Properties.Description).toBe('lambdas/outbox/functions/sweeper.ts');
  });
});
