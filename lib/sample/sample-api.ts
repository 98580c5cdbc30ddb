/**
 * The sample service's HTTP API: one function per route of `API_ROUTES`, the
 * fallback on `$default`, IAM (or JWT) authorization on every route, a
 * throttled `$default` stage with JSON access logs.
 */
import { RemovalPolicy } from 'aws-cdk-lib';
import { AccessLogField, AccessLogFormat } from 'aws-cdk-lib/aws-apigateway';
import * as apigw from 'aws-cdk-lib/aws-apigatewayv2';
import { HttpIamAuthorizer, HttpJwtAuthorizer } from 'aws-cdk-lib/aws-apigatewayv2-authorizers';
import { HttpLambdaIntegration } from 'aws-cdk-lib/aws-apigatewayv2-integrations';
import * as logs from 'aws-cdk-lib/aws-logs';
import { Construct } from 'constructs';
import { API_ROUTES, type ApiRoute, FALLBACK_ROUTE } from '../../lambdas/sample/handlers/api-routes';
import { ENV } from '../../lambdas/sample/shared/env';
import type { TransactionalOutbox } from '../outbox/transactional-outbox';
import { ServiceFunction, type TableAction } from '../service-function';
import { sampleHandlerEntry } from './sample-handlers';

/** Read, conditionally write, and commit a transaction with outbox items. */
const COMMAND_ACTIONS: readonly TableAction[] = ['GetItem', 'PutItem', 'UpdateItem', 'ConditionCheckItem'];

/**
 * The table actions of each API handler, least privilege. A handler missing
 * here fails synthesis, so a new route cannot ship without this decision.
 * An empty list means no table access and no `TABLE_NAME`.
 */
export const API_TABLE_ACCESS: Readonly<Record<string, readonly TableAction[]>> = {
  'create-member': COMMAND_ACTIONS,
  'get-member': ['GetItem'],
  'update-member': COMMAND_ACTIONS,
  'withdraw-member': COMMAND_ACTIONS,
  'place-order': COMMAND_ACTIONS,
  'cancel-order': COMMAND_ACTIONS,
  'not-found': [],
};

/** The `source` of every event the sample service emits. */
export const EVENT_SOURCE = 'com.example.members';

/** JWT authorization instead of IAM. */
export interface JwtAuthorization {
  /** Issuer URL of the tokens (`iss`), e.g. a Cognito user pool's URL. */
  readonly issuer: string;
  /** Accepted audiences (`aud`); at least one. */
  readonly audience: readonly string[];
}

/** Properties of an {@link SampleApi}. */
export interface SampleApiProps {
  /** The outbox whose table the route handlers read and write; the command handlers are its writers. */
  readonly outbox: TransactionalOutbox;
  /**
   * Name of the HTTP API.
   * @default - CloudFormation generates one
   */
  readonly apiName?: string;
  /**
   * Authorize every route with JWTs from this issuer instead of IAM (SigV4).
   * @default - IAM authorization on every route
   */
  readonly jwt?: JwtAuthorization;
  /**
   * Steady-state requests per second of the stage.
   * @default 100
   */
  readonly throttlingRateLimit?: number;
  /**
   * Burst of requests the stage admits above the rate.
   * @default 200
   */
  readonly throttlingBurstLimit?: number;
  /**
   * Retention of the access log group.
   * @default logs.RetentionDays.ONE_MONTH
   */
  readonly accessLogRetention?: logs.RetentionDays;
  /**
   * What happens to the log groups when they leave the stack.
   * @default RemovalPolicy.RETAIN
   */
  readonly removalPolicy?: RemovalPolicy;
}

/** An HTTP API whose routes come from `API_ROUTES`, each served by its own function. */
export class SampleApi extends Construct {
  /** The HTTP API. */
  readonly httpApi: apigw.HttpApi;
  /** The `$default` stage, auto-deployed. */
  readonly stage: apigw.HttpStage;
  /** The stage's access log group. */
  readonly accessLogGroup: logs.LogGroup;
  /** The route functions by handler name, the fallback (`not-found`) included. */
  readonly functions: ReadonlyMap<string, ServiceFunction>;

  constructor(scope: Construct, id: string, props: SampleApiProps) {
    super(scope, id);
    const removalPolicy = props.removalPolicy ?? RemovalPolicy.RETAIN;

    this.httpApi = new apigw.HttpApi(this, 'HttpApi', {
      ...(props.apiName ? { apiName: props.apiName } : {}),
      description: 'Members and orders sample service of the DynamoDB outbox',
      // The stage is created below with throttling and access logs.
      createDefaultStage: false,
      defaultAuthorizer: props.jwt ? jwtAuthorizer(props.jwt) : new HttpIamAuthorizer(),
    });

    this.accessLogGroup = new logs.LogGroup(this, 'AccessLogs', {
      retention: props.accessLogRetention ?? logs.RetentionDays.ONE_MONTH,
      removalPolicy,
    });
    this.stage = new apigw.HttpStage(this, 'Stage', {
      httpApi: this.httpApi,
      stageName: '$default',
      autoDeploy: true,
      throttle: {
        rateLimit: props.throttlingRateLimit ?? 100,
        burstLimit: props.throttlingBurstLimit ?? 200,
      },
      accessLogSettings: {
        destination: new apigw.LogGroupLogDestination(this.accessLogGroup),
        format: ACCESS_LOG_FORMAT,
      },
    });

    const functions = new Map<string, ServiceFunction>();
    for (const route of [...API_ROUTES, FALLBACK_ROUTE]) {
      const fn = this.routeFunction(route, props.outbox, removalPolicy);
      functions.set(route.handler, fn);
      new apigw.HttpRoute(this, `Route-${route.handler}`, {
        httpApi: this.httpApi,
        routeKey: routeKeyOf(route),
        integration: new HttpLambdaIntegration(`Integration-${route.handler}`, fn),
        // No authorizer here: every route takes the API's default authorizer.
      });
    }
    this.functions = functions;
  }

  /** The URL of the stage, with a trailing slash. */
  get url(): string {
    return this.stage.url;
  }

  private routeFunction(
    route: ApiRoute,
    outbox: TransactionalOutbox,
    removalPolicy: RemovalPolicy,
  ): ServiceFunction {
    const actions = API_TABLE_ACCESS[route.handler];
    if (actions === undefined) {
      throw new Error(`no table access is decided for handler ${route.handler}; add it to API_TABLE_ACCESS`);
    }
    const fn = new ServiceFunction(this, `Function-${route.handler}`, {
      entry: sampleHandlerEntry(route.handler),
      description: `${route.routeKey} (lambdas/sample/handlers/${route.handler}.ts)`,
      serviceName: 'members-api',
      environment: actions.length > 0 ? { [ENV.EVENT_SOURCE]: EVENT_SOURCE } : {},
      removalPolicy,
    });
    // A handler that puts items commits entity and outbox writes in one
    // transaction: it is a writer of the outbox (layout variables, PutItem).
    if (actions.includes('PutItem')) outbox.grantWriter(fn, { tableActions: actions });
    else if (actions.length > 0) fn.useTable(outbox.table, actions);
    return fn;
  }
}

/** `POST /members` as a route key; `$default` as the default route. */
function routeKeyOf(route: ApiRoute): apigw.HttpRouteKey {
  if (route.routeKey === '$default') return apigw.HttpRouteKey.DEFAULT;
  const [method, path, ...rest] = route.routeKey.split(' ');
  const httpMethod = Object.values(apigw.HttpMethod).find((candidate) => candidate === method);
  if (!httpMethod || !path?.startsWith('/') || rest.length > 0) {
    throw new Error(`invalid route key ${route.routeKey}; expected "<METHOD> /<path>"`);
  }
  return apigw.HttpRouteKey.with(path, httpMethod);
}

function jwtAuthorizer(jwt: JwtAuthorization): HttpJwtAuthorizer {
  if (jwt.audience.length === 0) throw new Error('a JWT authorizer needs at least one audience');
  return new HttpJwtAuthorizer('JwtAuthorizer', jwt.issuer, { jwtAudience: [...jwt.audience] });
}

/** One JSON object per request, with HTTP API context variables. */
const ACCESS_LOG_FORMAT = AccessLogFormat.custom(
  JSON.stringify({
    requestId: AccessLogField.contextRequestId(),
    requestTime: AccessLogField.contextRequestTime(),
    ip: AccessLogField.contextIdentitySourceIp(),
    userArn: AccessLogField.contextIdentityUserArn(),
    httpMethod: AccessLogField.contextHttpMethod(),
    routeKey: AccessLogField.contextRouteKey(),
    path: AccessLogField.contextPath(),
    protocol: AccessLogField.contextProtocol(),
    status: AccessLogField.contextStatus(),
    responseLength: AccessLogField.contextResponseLength(),
    responseLatency: AccessLogField.contextResponseLatency(),
    integrationStatus: AccessLogField.contextIntegrationStatus(),
    integrationLatency: AccessLogField.contextIntegrationLatency(),
    integrationError: AccessLogField.contextIntegrationErrorMessage(),
    authorizerError: AccessLogField.contextAuthorizerError(),
    errorMessage: AccessLogField.contextErrorMessage(),
  }),
);
