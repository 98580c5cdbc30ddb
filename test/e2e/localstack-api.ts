/**
 * The API on the localstack target. Community LocalStack does not emulate API
 * Gateway v2 (HTTP APIs answer 501; CloudFormation only mocks their
 * resources), so this stand-in does API Gateway's part: it routes each
 * request by the deployed stack's own route table (its `AWS::ApiGatewayV2::Route`
 * and `Integration` resources, read back with GetTemplate), builds the
 * payload 2.0 event, and invokes the deployed function through LocalStack's
 * Lambda. API Gateway's routing and IAM authorization themselves are covered
 * by the infra tests, not here.
 */
import { randomUUID } from 'node:crypto';
import {
  type CloudFormationClient,
  DescribeStackResourcesCommand,
  GetTemplateCommand,
} from '@aws-sdk/client-cloudformation';
import { InvokeCommand, type LambdaClient } from '@aws-sdk/client-lambda';
import type { APIGatewayProxyEventV2, APIGatewayProxyStructuredResultV2 } from 'aws-lambda';

/** A CloudFormation template as LocalStack returns it (only the parts read here are typed). */
export interface DeployedTemplate {
  readonly Resources: Record<
    string,
    {
      readonly Type: string;
      readonly Properties?: Record<string, unknown>;
      readonly Metadata?: Record<string, unknown>;
    }
  >;
}

/** One route of the deployed API and the function behind it. */
export interface DeployedRoute {
  /** `POST /members`, or `$default`. */
  readonly routeKey: string;
  readonly functionName: string;
}

/** The stack's template and the physical id of each of its resources. */
export interface DeployedStack {
  readonly template: DeployedTemplate;
  /** Logical id to physical id (a function's name, a queue's URL, an alarm's name). */
  readonly physicalIds: ReadonlyMap<string, string>;
}

/** A reply of the stand-in, as the suite's `Reply`. */
export interface StandInReply {
  readonly status: number;
  readonly headers: Headers;
  readonly body: Record<string, unknown>;
}

/** Reads the deployed stack's template and resources. */
export async function readDeployedStack(
  cloudFormation: CloudFormationClient,
  stackName: string,
): Promise<DeployedStack> {
  const [template, resources] = await Promise.all([
    cloudFormation.send(new GetTemplateCommand({ StackName: stackName })),
    cloudFormation.send(new DescribeStackResourcesCommand({ StackName: stackName })),
  ]);
  if (!template.TemplateBody) throw new Error(`stack ${stackName} returned no template`);
  const parsed = JSON.parse(template.TemplateBody) as DeployedTemplate;
  const physicalIds = new Map<string, string>();
  for (const resource of resources.StackResources ?? []) {
    if (resource.LogicalResourceId && resource.PhysicalResourceId) {
      physicalIds.set(resource.LogicalResourceId, resource.PhysicalResourceId);
    }
  }
  return { template: parsed, physicalIds };
}

function record(value: unknown): Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value)
    ? (value as Record<string, unknown>)
    : {};
}

/** The logical id a `{"Fn::Join": ["", ["integrations/", {"Ref": id}]]}` route target names. */
function integrationIdOf(target: unknown): string | undefined {
  const join = record(target)['Fn::Join'];
  if (!Array.isArray(join)) return undefined;
  const parts = join[1];
  if (!Array.isArray(parts)) return undefined;
  const reference = parts.map((part) => record(part).Ref).find((ref) => typeof ref === 'string');
  return typeof reference === 'string' ? reference : undefined;
}

/** The routes of the deployed template, each with the name of its deployed function. */
export function deployedRoutes(stack: DeployedStack): DeployedRoute[] {
  const routes: DeployedRoute[] = [];
  for (const [logicalId, resource] of Object.entries(stack.template.Resources)) {
    if (resource.Type !== 'AWS::ApiGatewayV2::Route') continue;
    const properties = record(resource.Properties);
    const integrationId = integrationIdOf(properties.Target);
    const integration = integrationId ? stack.template.Resources[integrationId] : undefined;
    const uri = record(record(integration?.Properties).IntegrationUri)['Fn::GetAtt'];
    const functionId = Array.isArray(uri) && typeof uri[0] === 'string' ? uri[0] : undefined;
    const functionName = functionId ? stack.physicalIds.get(functionId) : undefined;
    if (typeof properties.RouteKey !== 'string' || !functionName) {
      throw new Error(`route ${logicalId} has no route key or no deployed Lambda integration`);
    }
    routes.push({ routeKey: properties.RouteKey, functionName });
  }
  if (routes.length === 0) throw new Error('the deployed template has no AWS::ApiGatewayV2::Route');
  return routes;
}

interface CompiledRoute {
  readonly route: DeployedRoute;
  readonly method: string;
  readonly pattern: RegExp;
  readonly parameterNames: readonly string[];
}

function compile(route: DeployedRoute): CompiledRoute {
  const [method = '', path = ''] = route.routeKey.split(' ');
  const parameterNames: string[] = [];
  const source = path.replace(/\{([^/}]+)\}/g, (_match, name: string) => {
    parameterNames.push(name);
    return '([^/]+)';
  });
  return { route, method, pattern: new RegExp(`^${source}$`), parameterNames };
}

/** API Gateway decodes path parameters; malformed percent-encoding is handed on raw. */
function decodeSegment(segment: string): string {
  try {
    return decodeURIComponent(segment);
  } catch {
    return segment;
  }
}

/** The payload 2.0 event API Gateway would send for this request. */
export function gatewayEvent(
  method: string,
  url: URL,
  headers: Record<string, string>,
  body: string | undefined,
  routeKey: string,
  pathParameters: Record<string, string> | undefined,
): APIGatewayProxyEventV2 {
  const now = new Date();
  const lowered = Object.fromEntries(
    Object.entries(headers).map(([name, value]) => [name.toLowerCase(), value]),
  );
  const query: Record<string, string> = {};
  for (const [name, value] of url.searchParams) query[name] = query[name] ? `${query[name]},${value}` : value;
  return {
    version: '2.0',
    routeKey,
    rawPath: url.pathname,
    rawQueryString: url.search.replace(/^\?/, ''),
    headers: lowered,
    ...(Object.keys(query).length > 0 ? { queryStringParameters: query } : {}),
    ...(pathParameters ? { pathParameters } : {}),
    requestContext: {
      accountId: '000000000000',
      apiId: 'localstack',
      domainName: url.host,
      domainPrefix: 'localstack',
      http: {
        method: method.toUpperCase(),
        path: url.pathname,
        protocol: 'HTTP/1.1',
        sourceIp: '127.0.0.1',
        userAgent: lowered['user-agent'] ?? 'e2e',
      },
      requestId: randomUUID(),
      routeKey,
      stage: '$default',
      time: now.toUTCString(),
      timeEpoch: now.getTime(),
    },
    ...(body !== undefined ? { body } : {}),
    isBase64Encoded: false,
  };
}

function parseBody(text: string): Record<string, unknown> {
  if (!text) return {};
  try {
    return JSON.parse(text) as Record<string, unknown>;
  } catch {
    return { raw: text };
  }
}

/**
 * A `request` function for the suite: routes by the deployed route table
 * (`$default` when nothing matches), invokes the function synchronously, and
 * maps its result (or a function error, as API Gateway does: 500) to a reply.
 */
export function apiStandIn(lambda: LambdaClient, routes: readonly DeployedRoute[]) {
  const compiled = routes.filter((route) => route.routeKey !== '$default').map(compile);
  const fallback = routes.find((route) => route.routeKey === '$default');
  return async (
    method: string,
    path: string,
    body?: unknown,
    headers: Record<string, string> = {},
  ): Promise<StandInReply> => {
    const url = new URL(path, 'https://api.localstack.invalid');
    const payload = body === undefined ? undefined : typeof body === 'string' ? body : JSON.stringify(body);
    const requestHeaders = {
      ...(payload === undefined ? {} : { 'content-type': 'application/json' }),
      ...headers,
    };
    let target: { functionName: string; routeKey: string; parameters?: Record<string, string> } | undefined;
    for (const route of compiled) {
      if (route.method !== method.toUpperCase()) continue;
      const match = route.pattern.exec(url.pathname);
      if (!match) continue;
      const parameters: Record<string, string> = {};
      route.parameterNames.forEach((name, index) => {
        parameters[name] = decodeSegment(match[index + 1] ?? '');
      });
      target = {
        functionName: route.route.functionName,
        routeKey: route.route.routeKey,
        ...(route.parameterNames.length > 0 ? { parameters } : {}),
      };
      break;
    }
    if (!target && fallback) target = { functionName: fallback.functionName, routeKey: '$default' };
    if (!target) return { status: 404, headers: new Headers(), body: { message: 'Not Found' } };

    const event = gatewayEvent(method, url, requestHeaders, payload, target.routeKey, target.parameters);
    const output = await lambda.send(
      new InvokeCommand({ FunctionName: target.functionName, Payload: Buffer.from(JSON.stringify(event)) }),
    );
    const text = output.Payload ? Buffer.from(output.Payload).toString('utf8') : '';
    if (output.FunctionError) {
      // API Gateway answers 500 for a function error and never shows it to the client.
      return {
        status: 500,
        headers: new Headers({ 'content-type': 'application/json' }),
        body: { message: 'Internal Server Error', functionError: parseBody(text) },
      };
    }
    const result = parseBody(text) as APIGatewayProxyStructuredResultV2;
    if (typeof result.statusCode !== 'number') {
      // Payload 2.0: a result without statusCode is a 200 with the result as its JSON body.
      return {
        status: 200,
        headers: new Headers({ 'content-type': 'application/json' }),
        body: parseBody(text),
      };
    }
    const replyHeaders = new Headers();
    for (const [name, value] of Object.entries(result.headers ?? {})) replyHeaders.set(name, String(value));
    const replyBody =
      result.body === undefined
        ? ''
        : result.isBase64Encoded
          ? Buffer.from(result.body, 'base64').toString('utf8')
          : result.body;
    return { status: result.statusCode, headers: replyHeaders, body: parseBody(replyBody) };
  };
}
