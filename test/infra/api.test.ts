import { Match, type Template } from 'aws-cdk-lib/assertions';
import { describe, expect, it } from 'vitest';
import { API_ROUTES, FALLBACK_ROUTE } from '../../lambdas/sample/handlers/api-routes';
import { EVENT_SOURCE } from '../../lib/sample/sample-api';
import { arnOf, logicalIdOf, synth } from '../helpers/synth';

const ROUTE = 'AWS::ApiGatewayV2::Route';
const ALL_ROUTES = [...API_ROUTES, FALLBACK_ROUTE];
const JWT = { issuer: 'https://issuer.example.com/', audience: ['outbox-api'] };

/** The logical id of the integration a route targets (`integrations/<id>`). */
function integrationIdOf(template: Template, routeKey: string): string {
  const routes = Object.values(template.findResources(ROUTE, { Properties: { RouteKey: routeKey } }));
  expect(routes).toHaveLength(1);
  const target = routes[0]?.Properties.Target as { 'Fn::Join': [string, [string, { Ref: string }]] };
  return target['Fn::Join'][1][1].Ref;
}

describe('api', () => {
  it('has exactly one route per API_ROUTES entry plus $default', () => {
    const { template } = synth('dev');

    template.resourceCountIs(ROUTE, API_ROUTES.length + 1);
    template.hasResourceProperties(ROUTE, { RouteKey: '$default' });
  });

  it.each(ALL_ROUTES)('authorizes $routeKey with IAM by default', ({ routeKey }) => {
    const { template } = synth('dev');

    template.hasResourceProperties(ROUTE, { RouteKey: routeKey, AuthorizationType: 'AWS_IAM' });
  });

  it.each(ALL_ROUTES)('sends $routeKey to the $handler function', ({ routeKey, handler }) => {
    const synthesized = synth('dev');
    const fn = synthesized.stack.api.functions.get(handler);
    if (!fn) throw new Error(`no function for ${handler}`);

    const integration =
      synthesized.template.toJSON().Resources[integrationIdOf(synthesized.template, routeKey)];

    expect(integration.Properties).toMatchObject({
      IntegrationType: 'AWS_PROXY',
      PayloadFormatVersion: '2.0',
      IntegrationUri: arnOf(fn),
    });
  });

  it('has no authorizer resource when IAM authorizes', () => {
    const { template } = synth('dev');

    template.resourceCountIs('AWS::ApiGatewayV2::Authorizer', 0);
  });

  it('uses a JWT authorizer on every route when an issuer and audience are given', () => {
    const synthesized = synth('dev', { jwt: JWT });
    const { template } = synthesized;
    const authorizers = template.findResources('AWS::ApiGatewayV2::Authorizer', {
      Properties: {
        AuthorizerType: 'JWT',
        IdentitySource: ['$request.header.Authorization'],
        JwtConfiguration: { Issuer: JWT.issuer, Audience: JWT.audience },
      },
    });
    const [authorizerId] = Object.keys(authorizers);

    expect(Object.keys(authorizers)).toHaveLength(1);
    for (const { routeKey } of ALL_ROUTES) {
      template.hasResourceProperties(ROUTE, {
        RouteKey: routeKey,
        AuthorizationType: 'JWT',
        AuthorizerId: { Ref: authorizerId },
      });
    }
  });

  it('keeps the default execute-api endpoint', () => {
    const { template } = synth('dev');

    template.hasResourceProperties('AWS::ApiGatewayV2::Api', {
      ProtocolType: 'HTTP',
      DisableExecuteApiEndpoint: Match.absent(),
    });
  });

  it('deploys the $default stage automatically with throttling', () => {
    const { template } = synth('dev');

    template.resourceCountIs('AWS::ApiGatewayV2::Stage', 1);
    template.hasResourceProperties('AWS::ApiGatewayV2::Stage', {
      StageName: '$default',
      AutoDeploy: true,
      DefaultRouteSettings: { ThrottlingRateLimit: 100, ThrottlingBurstLimit: 200 },
    });
  });

  it('writes JSON access logs with the request id to its own log group', () => {
    const synthesized = synth('dev');
    const stages = Object.values(synthesized.template.findResources('AWS::ApiGatewayV2::Stage'));
    const settings = stages[0]?.Properties.AccessLogSettings as { DestinationArn: unknown; Format: string };

    expect(settings.DestinationArn).toEqual(arnOf(synthesized.stack.api.accessLogGroup));
    expect(JSON.parse(settings.Format)).toMatchObject({
      requestId: '$context.requestId',
      routeKey: '$context.routeKey',
      status: '$context.status',
    });
    synthesized.template.hasResourceProperties('AWS::Logs::LogGroup', { RetentionInDays: 30 });
  });

  it.each(API_ROUTES)('gives the $handler function the table name and the event source', ({ handler }) => {
    const synthesized = synth('dev');
    const fn = synthesized.stack.api.functions.get(handler);
    if (!fn) throw new Error(`no function for ${handler}`);

    const resource = synthesized.template.toJSON().Resources[logicalIdOf(fn)];

    expect(resource.Properties.Environment.Variables).toMatchObject({
      TABLE_NAME: { Ref: logicalIdOf(synthesized.stack.outboxTable.table) },
      EVENT_SOURCE,
    });
  });

  it('gives the fallback function neither a table nor an event source', () => {
    const synthesized = synth('dev');
    const fn = synthesized.stack.api.functions.get(FALLBACK_ROUTE.handler);
    if (!fn) throw new Error('no fallback function');

    const variables =
      synthesized.template.toJSON().Resources[logicalIdOf(fn)].Properties.Environment.Variables;

    expect(variables).not.toHaveProperty('TABLE_NAME');
    expect(variables).not.toHaveProperty('EVENT_SOURCE');
  });
});
