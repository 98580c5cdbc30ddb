/**
 * Alarms and a dashboard for the outbox: every way an event can be late,
 * stuck or lost raises an alarm on one encrypted SNS topic, and one dashboard
 * shows the flow from write to publish. docs/operations.md explains each
 * alarm, its threshold and what to do; keep the two in step.
 */
import { ArnFormat, Duration, RemovalPolicy, Stack, Token } from 'aws-cdk-lib';
import type * as apigw from 'aws-cdk-lib/aws-apigatewayv2';
import * as cloudwatch from 'aws-cdk-lib/aws-cloudwatch';
import { SnsAction } from 'aws-cdk-lib/aws-cloudwatch-actions';
import * as dynamodb from 'aws-cdk-lib/aws-dynamodb';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as kms from 'aws-cdk-lib/aws-kms';
import * as lambda from 'aws-cdk-lib/aws-lambda';
import * as sns from 'aws-cdk-lib/aws-sns';
import * as subscriptions from 'aws-cdk-lib/aws-sns-subscriptions';
import type * as sqs from 'aws-cdk-lib/aws-sqs';
import { Construct } from 'constructs';
import { METRICS_NAMESPACE, ServiceFunction } from '../service-function';

/**
 * Names of the custom metrics the alarms and the dashboard read, in namespace
 * {@link METRICS_NAMESPACE} with the Powertools `service` dimension. They
 * mirror `RELAY_METRICS` and `SWEEPER_METRICS` in lambdas/outbox (a test keeps
 * them equal); lib/ does not import the Lambda code, which sets up Powertools
 * when it loads.
 */
export const OUTBOX_METRICS = {
  /** Relay: events EventBridge accepted (Count). */
  eventsPublished: 'EventsPublished',
  /** Relay: entries sent again after a retryable failure (Count). */
  eventsRetried: 'EventsRetried',
  /** Relay: events it could neither publish nor park, which stopped the batch (Count). */
  publishFailures: 'PublishFailures',
  /** Relay and sweeper: events parked on the poison queue (Count). */
  eventsPoisoned: 'EventsPoisoned',
  /** Relay: delivered or failed marks that did not happen; the sweeper covers them (Count). */
  markFailures: 'MarkFailures',
  /** Relay: largest time from `occurredAt` to acceptance by EventBridge in a batch (Milliseconds). */
  publishLag: 'PublishLag',
  /** Relay: pending events its gap guard published before a batch, after a discarded batch or a failed mark (Count). */
  eventsHealed: 'EventsHealed',
  /**
   * Sweeper: age of the oldest pending event when a run starts (Seconds).
   * Emitted on every run, 0 when nothing is pending, absent only when the
   * pending index could not be read: its absence means the sweeper is not
   * running or not working.
   */
  oldestPendingAgeSeconds: 'OldestPendingAgeSeconds',
  /** Sweeper: events found pending longer than its threshold (Count). */
  pendingEvents: 'PendingEvents',
  /** Sweeper: events it republished and EventBridge accepted (Count). */
  eventsRepublished: 'EventsRepublished',
  /** Sweeper: failures that leave events pending for its next run (Count). */
  sweepFailures: 'SweepFailures',
} as const;

/** The Powertools service name (`service` dimension) of the relay's metrics. */
export const RELAY_SERVICE_NAME = 'outbox-relay';
/** The Powertools service name (`service` dimension) of the sweeper's metrics. */
export const SWEEPER_SERVICE_NAME = 'outbox-sweeper';

/**
 * DynamoDB operations whose `SystemErrors` the table alarm sums: every
 * operation the API, relay, event source mapping, sweeper and consumers'
 * idempotency store call. An alarm's metric math takes at most 10 metrics, so
 * the list is explicit rather than CDK's default of all 14 operations.
 */
const TABLE_OPERATIONS: readonly dynamodb.Operation[] = [
  dynamodb.Operation.GET_ITEM,
  dynamodb.Operation.PUT_ITEM,
  dynamodb.Operation.UPDATE_ITEM,
  dynamodb.Operation.DELETE_ITEM,
  dynamodb.Operation.QUERY,
  dynamodb.Operation.SCAN,
  dynamodb.Operation.BATCH_WRITE_ITEM,
  dynamodb.Operation.TRANSACT_WRITE_ITEMS,
  dynamodb.Operation.GET_RECORDS,
];

/** Names given to alarms: kebab case, used in the alarm name and the construct id. */
const ALARM_NAME_PATTERN = /^[a-z][a-z0-9-]*$/;

/** Properties of an {@link OutboxMonitoring}. */
export interface OutboxMonitoringProps {
  /** The outbox table. */
  readonly table: dynamodb.ITable;
  /**
   * The table's pending index, whose throttles count with the table's.
   * @default - only the table's own throttles
   */
  readonly pendingIndexName?: string;
  /** The stream relay function. */
  readonly relayFunction: lambda.IFunction;
  /** The relay's poison queue. */
  readonly poisonQueue: sqs.IQueue;
  /** The on-failure destination of the relay's event source mapping. */
  readonly onFailureQueue: sqs.IQueue;
  /**
   * An HTTP API that writes to the table: its 5xx-rate and latency alarms and
   * graphs. More can be added with {@link OutboxMonitoring.addApi}.
   * @default - no API alarms
   */
  readonly httpApi?: apigw.IHttpApi;
  /**
   * Functions whose throttles raise an alarm; more can be added with
   * {@link OutboxMonitoring.addThrottlesAlarm}.
   * @default - every `lambda.Function` in the stack when the construct is created, so create it last
   */
  readonly functions?: readonly lambda.IFunction[];
  /**
   * Address subscribed to the alarm topic. AWS sends it a confirmation mail
   * first; nothing arrives until it is confirmed.
   * @default - no subscription
   */
  readonly alarmEmail?: string;
  /**
   * Name of the dashboard.
   * @default - the stack name
   */
  readonly dashboardName?: string;
  /**
   * What happens to the topic's KMS key when it leaves the stack.
   * @default RemovalPolicy.RETAIN
   */
  readonly removalPolicy?: RemovalPolicy;
}

/** One alarm's decision: the metric, when it fires, and why. */
interface AlarmSpec {
  /** Kebab-case name: the construct id and the end of the alarm name. */
  readonly name: string;
  readonly metric: cloudwatch.IMetric;
  readonly comparisonOperator: cloudwatch.ComparisonOperator;
  readonly threshold: number;
  readonly evaluationPeriods: number;
  /** @default evaluationPeriods */
  readonly datapointsToAlarm?: number;
  readonly treatMissingData: cloudwatch.TreatMissingData;
  /** What the alarm means, why this threshold, why this missing-data choice. */
  readonly description: string;
  /**
   * Heading of the alarm's section in docs/operations.md.
   * @default the name
   */
  readonly runbook?: string;
}

const GREATER = cloudwatch.ComparisonOperator.GREATER_THAN_THRESHOLD;
const LESS = cloudwatch.ComparisonOperator.LESS_THAN_THRESHOLD;
const NOT_BREACHING = cloudwatch.TreatMissingData.NOT_BREACHING;
const BREACHING = cloudwatch.TreatMissingData.BREACHING;

/**
 * The outbox's alarms, their SNS topic and the dashboard. Every alarm
 * notifies the topic when it fires and when it recovers.
 */
export class OutboxMonitoring extends Construct {
  /** The topic every alarm notifies; SSL-only, encrypted with {@link topicKey}. */
  readonly topic: sns.Topic;
  /**
   * The topic's customer-managed key. Not the AWS-managed `aws/sns` key:
   * CloudWatch alarms cannot publish to a topic encrypted with it, because
   * its key policy does not admit CloudWatch and cannot be changed.
   */
  readonly topicKey: kms.Key;
  /** The dashboard of the whole flow. */
  readonly dashboard: cloudwatch.Dashboard;

  private readonly alarmsByName = new Map<string, cloudwatch.Alarm>();
  private readonly throttledFunctions = new Set<lambda.IFunction>();
  private readonly alarmAction: SnsAction;
  private readonly stackName: string;
  /** The throttles graph; {@link addThrottlesAlarm} adds each function to it. */
  private throttlesGraph?: cloudwatch.GraphWidget;

  constructor(scope: Construct, id: string, props: OutboxMonitoringProps) {
    super(scope, id);
    const stack = Stack.of(this);
    this.stackName = stack.stackName;

    this.topicKey = new kms.Key(this, 'TopicKey', {
      description: `Encrypts the alarm topic of ${stack.stackName}`,
      enableKeyRotation: true,
      removalPolicy: props.removalPolicy ?? RemovalPolicy.RETAIN,
    });
    // CloudWatch encrypts the notification with this key when it publishes to the topic.
    this.topicKey.addToResourcePolicy(
      new iam.PolicyStatement({
        sid: 'AllowCloudWatchAlarmsToUseTheKey',
        principals: [new iam.ServicePrincipal('cloudwatch.amazonaws.com')],
        actions: ['kms:Decrypt', 'kms:GenerateDataKey*'],
        resources: ['*'],
      }),
    );
    this.topic = new sns.Topic(this, 'AlarmTopic', {
      displayName: `${stack.stackName} alarms`,
      masterKey: this.topicKey,
      enforceSSL: true,
    });
    // The topic policy replaces SNS's default one, so CloudWatch needs its own
    // statement; only this account's alarms may publish.
    this.topic.addToResourcePolicy(
      new iam.PolicyStatement({
        sid: 'AllowCloudWatchAlarmsOfThisAccount',
        principals: [new iam.ServicePrincipal('cloudwatch.amazonaws.com')],
        actions: ['sns:Publish'],
        resources: [this.topic.topicArn],
        conditions: {
          ArnLike: {
            'aws:SourceArn': stack.formatArn({
              service: 'cloudwatch',
              resource: 'alarm',
              resourceName: '*',
              arnFormat: ArnFormat.COLON_RESOURCE_NAME,
            }),
          },
          StringEquals: { 'aws:SourceAccount': stack.account },
        },
      }),
    );
    if (props.alarmEmail !== undefined) {
      if (!Token.isUnresolved(props.alarmEmail) && !isEmailAddress(props.alarmEmail)) {
        throw new Error(`alarmEmail must be an email address, got ${JSON.stringify(props.alarmEmail)}`);
      }
      this.topic.addSubscription(new subscriptions.EmailSubscription(props.alarmEmail));
    }
    this.alarmAction = new SnsAction(this.topic);

    this.createRelayAlarms(props);
    this.createSweeperAlarms();
    if (props.httpApi) this.createApiAlarms(props.httpApi);
    this.createTableAlarms(props.table, props.pendingIndexName);
    const functions = props.functions ?? functionsIn(stack);
    for (const fn of functions) this.addThrottlesAlarm(fn);

    this.dashboard = new cloudwatch.Dashboard(this, 'Dashboard', {
      dashboardName: props.dashboardName ?? stack.stackName,
      defaultInterval: Duration.hours(3),
    });
    this.addDashboardWidgets(props, functions);
  }

  /**
   * Watches an HTTP API that writes to the outbox table: alarms on its 5xx
   * rate and p99 latency, and graphs its requests and latency.
   */
  addApi(httpApi: apigw.IHttpApi): void {
    this.createApiAlarms(httpApi);
    this.dashboard.addWidgets(...apiWidgets(httpApi));
  }

  /** Every alarm by its kebab-case name, e.g. `relay-errors` or `throttles-relay`. */
  get alarms(): ReadonlyMap<string, cloudwatch.Alarm> {
    return this.alarmsByName;
  }

  /**
   * Alarms as soon as a consumer's dead-letter queue holds a message: each
   * one is an event the consumer gave up on, to be inspected and redriven.
   * Missing data is not breaching: SQS stops reporting an idle, empty queue,
   * and a queue holding messages is never idle.
   *
   * @param name kebab-case name of the consumer, e.g. `order-projection`
   * @param queue the consumer's dead-letter queue
   */
  addDeadLetterQueueAlarm(name: string, queue: sqs.IQueue): cloudwatch.Alarm {
    const alarm = this.addAlarm({
      name: `dlq-${name}`,
      runbook: 'consumer-dead-letter-queues',
      metric: queue.metricApproximateNumberOfMessagesVisible({
        statistic: cloudwatch.Stats.MAXIMUM,
        period: Duration.minutes(5),
      }),
      comparisonOperator: GREATER,
      threshold: 0,
      evaluationPeriods: 1,
      treatMissingData: NOT_BREACHING,
      description:
        `The dead-letter queue of consumer ${name} holds messages: events the consumer gave up on. ` +
        'Threshold 0: every message is an event not applied. Missing data is not breaching: SQS stops ' +
        'reporting only an empty idle queue.',
    });
    this.dashboard.addWidgets(
      new cloudwatch.AlarmWidget({ alarm, title: `Consumer ${name}: dead-letter queue depth`, width: 12 }),
    );
    return alarm;
  }

  /**
   * Alarms when Lambda throttles `fn`: the account's (or the function's
   * reserved) concurrency is exhausted. A throttled relay stops reading its
   * shard; a throttled API function fails the request. Missing data is not
   * breaching: Lambda reports nothing for a function nobody invokes.
   */
  addThrottlesAlarm(fn: lambda.IFunction): cloudwatch.Alarm {
    if (this.throttledFunctions.has(fn)) {
      throw new Error(`${fn.node.path} already has a throttles alarm`);
    }
    this.throttledFunctions.add(fn);
    const label = fn instanceof ServiceFunction ? fn.handlerName : fn.node.id.toLowerCase();
    this.throttlesGraph?.addLeftMetric(throttlesMetric(fn));
    return this.addAlarm({
      name: `throttles-${label}`,
      runbook: 'lambda-throttles',
      metric: fn.metricThrottles({ statistic: cloudwatch.Stats.SUM, period: Duration.minutes(5) }),
      comparisonOperator: GREATER,
      threshold: 0,
      evaluationPeriods: 1,
      treatMissingData: NOT_BREACHING,
      description:
        `Lambda throttled ${label}. Threshold 0: none of our functions is expected to reach its ` +
        'concurrency limit; a throttled relay stops reading its shard, a throttled API function fails ' +
        'the request. Missing data is not breaching: no invocations, no throttles.',
    });
  }

  private createRelayAlarms(props: OutboxMonitoringProps): void {
    const relay = props.relayFunction;
    this.addAlarm({
      name: 'relay-errors',
      metric: relay.metricErrors({ statistic: cloudwatch.Stats.SUM, period: Duration.minutes(5) }),
      comparisonOperator: GREATER,
      threshold: 0,
      evaluationPeriods: 1,
      treatMissingData: NOT_BREACHING,
      description:
        'The relay function failed an invocation (crash or timeout). Threshold 0: the relay reports ' +
        'failed records through batchItemFailures and parks poison events, so a thrown error is a bug or ' +
        'a timeout, and the poller retries the whole batch, holding its shard. Missing data is not ' +
        'breaching: no invocations, no errors.',
    });
    this.addAlarm({
      name: 'relay-iterator-age',
      metric: relay.metric('IteratorAge', {
        statistic: cloudwatch.Stats.MAXIMUM,
        period: Duration.minutes(1),
      }),
      comparisonOperator: GREATER,
      threshold: Duration.seconds(60).toMilliseconds(),
      evaluationPeriods: 3,
      treatMissingData: NOT_BREACHING,
      description:
        'The relay lags its stream: the newest record it was given is over 60 s old for 3 minutes. ' +
        'Threshold 60 s for 3 periods of 1 min: the relay keeps up within seconds (1 s batching window), ' +
        'so a lag that lasts means it is failing and retrying, throttled or too slow. Missing data is ' +
        'not breaching: Lambda reports IteratorAge only when it invokes; a relay that is not invoked at ' +
        'all shows up in oldest-pending-age.',
    });
    this.addAlarm({
      name: 'on-failure-queue-depth',
      metric: props.onFailureQueue.metricApproximateNumberOfMessagesVisible({
        statistic: cloudwatch.Stats.MAXIMUM,
        period: Duration.minutes(5),
      }),
      comparisonOperator: GREATER,
      threshold: 0,
      evaluationPeriods: 1,
      treatMissingData: NOT_BREACHING,
      description:
        'The event source mapping gave up on a batch (retries or record age exhausted) and sent its ' +
        'shard and sequence range to the on-failure queue. Threshold 0: every message is a range the ' +
        'relay skipped; the sweeper republishes those events, but the cause needs a look. Missing data ' +
        'is not breaching: SQS stops reporting only an empty idle queue.',
    });
    this.addAlarm({
      name: 'poison-queue-depth',
      metric: props.poisonQueue.metricApproximateNumberOfMessagesVisible({
        statistic: cloudwatch.Stats.MAXIMUM,
        period: Duration.minutes(5),
      }),
      comparisonOperator: GREATER,
      threshold: 0,
      evaluationPeriods: 1,
      treatMissingData: NOT_BREACHING,
      description:
        'An event was parked as poison: EventBridge rejected it for good, or its record could not be ' +
        'decoded. Threshold 0: a poison event is never published until an operator fixes and ' +
        'republishes it. Missing data is not breaching: SQS stops reporting only an empty idle queue.',
    });
    this.addAlarm({
      name: 'publish-failures',
      metric: outboxMetric(OUTBOX_METRICS.publishFailures, RELAY_SERVICE_NAME, cloudwatch.Stats.SUM),
      comparisonOperator: GREATER,
      threshold: 0,
      evaluationPeriods: 1,
      treatMissingData: NOT_BREACHING,
      description:
        'PutEvents failed entries the relay could neither retry to success nor park, so it stopped the ' +
        'batch and the shard waits for a retry. Threshold 0: retryable failures are retried within the ' +
        'invocation first, so anything counted here outlasted them. Missing data is not breaching: the ' +
        'relay emits the metric on every invocation, and no invocation means nothing failed.',
    });
  }

  private createSweeperAlarms(): void {
    // Two alarms rather than one with missing data breaching: "an event is
    // stuck" and "the sweeper is not running" need different actions.
    this.addAlarm({
      name: 'oldest-pending-age',
      metric: outboxMetric(
        OUTBOX_METRICS.oldestPendingAgeSeconds,
        SWEEPER_SERVICE_NAME,
        cloudwatch.Stats.MAXIMUM,
      ),
      comparisonOperator: GREATER,
      threshold: Duration.minutes(15).toSeconds(),
      evaluationPeriods: 1,
      treatMissingData: NOT_BREACHING,
      description:
        'An outbox event has been pending (committed, not delivered) for over 15 minutes. Threshold ' +
        '900 s, 3 sweeper periods of 5 min: the relay delivers within seconds and the sweeper ' +
        'republishes what it missed on its next run, so an event still pending after 3 runs is stuck. ' +
        'Missing data is not breaching: sweeper-silent covers a sweeper that stopped reporting.',
    });
    this.addAlarm({
      name: 'sweeper-silent',
      metric: outboxMetric(
        OUTBOX_METRICS.oldestPendingAgeSeconds,
        SWEEPER_SERVICE_NAME,
        cloudwatch.Stats.SAMPLE_COUNT,
      ),
      comparisonOperator: LESS,
      threshold: 1,
      evaluationPeriods: 3,
      treatMissingData: BREACHING,
      description:
        'The sweeper has not reported the oldest pending age for 15 minutes: it is not running or ' +
        'fails before it reports, and nothing recovers events the relay missed. Threshold: fewer than ' +
        '1 report in each of 3 periods of 5 min (3 missed runs). Missing data is breaching: silence is ' +
        'exactly what this alarm detects.',
    });
  }

  private createApiAlarms(httpApi: apigw.IHttpApi): void {
    const period = Duration.minutes(5);
    // Below this many requests in a period, one failure is too large a share to mean anything.
    const minRequests = 20;
    this.addAlarm({
      name: 'api-5xx-rate',
      metric: new cloudwatch.MathExpression({
        expression: `IF(requests >= ${minRequests}, 100 * errors / requests, 0)`,
        usingMetrics: {
          errors: httpApi.metricServerError({ statistic: cloudwatch.Stats.SUM, period }),
          requests: httpApi.metricCount({ statistic: cloudwatch.Stats.SAMPLE_COUNT, period }),
        },
        label: 'API 5xx rate (%)',
        period,
      }),
      comparisonOperator: GREATER,
      threshold: 1,
      evaluationPeriods: 3,
      datapointsToAlarm: 2,
      treatMissingData: NOT_BREACHING,
      description:
        `Over 1 % of API requests failed with a 5xx in 2 of the last 3 periods of 5 min (at least ` +
        `${minRequests} requests a period). Threshold 1 %: the handlers map every expected failure to a ` +
        '4xx, so a 5xx is a bug, a timeout or a dependency failing. Missing data is not breaching: no ' +
        'requests, no errors.',
    });
    this.addAlarm({
      name: 'api-latency-p99',
      metric: httpApi.metricLatency({ statistic: cloudwatch.Stats.p(99), period }),
      comparisonOperator: GREATER,
      threshold: 1000,
      evaluationPeriods: 3,
      treatMissingData: NOT_BREACHING,
      description:
        'The p99 API latency is over 1000 ms for 3 periods of 5 min. Threshold 1 s: a request is a few ' +
        'DynamoDB calls and one transaction, tens of milliseconds warm; cold starts alone stay under it, ' +
        'so a sustained p99 above it is throttling, retries or contention. Missing data is not ' +
        'breaching: no requests.',
    });
  }

  private createTableAlarms(table: dynamodb.ITable, pendingIndexName: string | undefined): void {
    const period = Duration.minutes(5);
    this.addAlarm({
      name: 'table-system-errors',
      metric: table.metricSystemErrorsForOperations({ operations: [...TABLE_OPERATIONS], period }),
      comparisonOperator: GREATER,
      threshold: 0,
      evaluationPeriods: 1,
      treatMissingData: NOT_BREACHING,
      description:
        'DynamoDB answered requests to the outbox table with a server error (HTTP 500). Threshold 0: ' +
        'the SDK retries them, but any means DynamoDB itself is failing and writes or the stream may ' +
        'lag. Missing data is not breaching: DynamoDB reports SystemErrors only when they happen.',
    });
    const throttles: Record<string, cloudwatch.IMetric> = {
      tableReads: table.metric('ReadThrottleEvents', { statistic: cloudwatch.Stats.SUM, period }),
      tableWrites: table.metric('WriteThrottleEvents', { statistic: cloudwatch.Stats.SUM, period }),
    };
    if (pendingIndexName !== undefined) {
      const dimensionsMap = { TableName: table.tableName, GlobalSecondaryIndexName: pendingIndexName };
      throttles.indexReads = table.metric('ReadThrottleEvents', {
        statistic: cloudwatch.Stats.SUM,
        period,
        dimensionsMap,
      });
      throttles.indexWrites = table.metric('WriteThrottleEvents', {
        statistic: cloudwatch.Stats.SUM,
        period,
        dimensionsMap,
      });
    }
    this.addAlarm({
      name: 'table-throttles',
      metric: new cloudwatch.MathExpression({
        expression: Object.keys(throttles).join(' + '),
        usingMetrics: throttles,
        label: 'Throttled read and write events',
        period,
      }),
      comparisonOperator: GREATER,
      threshold: 0,
      evaluationPeriods: 1,
      treatMissingData: NOT_BREACHING,
      description:
        'DynamoDB throttled reads or writes on the outbox table or its pending index. Threshold 0: the ' +
        'table is on demand, so a throttle means a hot partition or a burst beyond twice the previous ' +
        'peak, and a throttled pending index throttles the table writes that feed it. Missing data is ' +
        'not breaching: no requests, no throttles.',
    });
  }

  private addDashboardWidgets(props: OutboxMonitoringProps, functions: readonly lambda.IFunction[]): void {
    const period = Duration.minutes(1);
    const relayMetric = (name: string, statistic: string): cloudwatch.Metric =>
      outboxMetric(name, RELAY_SERVICE_NAME, statistic, period);
    const sweeperMetric = (name: string, statistic: string): cloudwatch.Metric =>
      outboxMetric(name, SWEEPER_SERVICE_NAME, statistic, period);
    const { httpApi, table, relayFunction } = props;
    const sum = cloudwatch.Stats.SUM;
    const max = cloudwatch.Stats.MAXIMUM;
    this.throttlesGraph = graph('Failures: throttles', functions.map(throttlesMetric));

    this.dashboard.addWidgets(
      new cloudwatch.TextWidget({
        markdown:
          `# ${this.stackName}: transactional outbox\n` +
          'Writes -> stream -> relay -> EventBridge, with the sweeper behind it. Each alarm, its ' +
          'threshold and what to do: docs/operations.md.',
        width: 24,
        height: 2,
      }),
    );
    this.dashboard.addWidgets(
      ...(httpApi ? apiWidgets(httpApi) : []),
      graph('Writes: table consumed capacity', [
        table.metricConsumedWriteCapacityUnits({ statistic: sum, period, label: 'write units' }),
        table.metricConsumedReadCapacityUnits({ statistic: sum, period, label: 'read units' }),
      ]),
    );
    this.dashboard.addWidgets(
      graph('Published: events', [
        relayMetric(OUTBOX_METRICS.eventsPublished, sum).with({ label: 'published (relay)' }),
        sweeperMetric(OUTBOX_METRICS.eventsRepublished, sum).with({ label: 'republished (sweeper)' }),
        relayMetric(OUTBOX_METRICS.eventsRetried, sum).with({ label: 'retried entries (relay)' }),
        relayMetric(OUTBOX_METRICS.eventsHealed, sum).with({
          label: 'earlier pending events sent first (relay)',
        }),
      ]),
      new cloudwatch.GraphWidget({
        title: 'Lag',
        width: 8,
        left: [
          relayFunction.metric('IteratorAge', { statistic: max, period, label: 'relay iterator age (ms)' }),
          relayMetric(OUTBOX_METRICS.publishLag, max).with({ label: 'publish lag (ms)' }),
        ],
        right: [
          sweeperMetric(OUTBOX_METRICS.oldestPendingAgeSeconds, max).with({
            label: 'oldest pending age (s)',
          }),
        ],
      }),
      graph('Pending: events past the sweeper threshold', [
        sweeperMetric(OUTBOX_METRICS.pendingEvents, max).with({ label: 'pending' }),
      ]),
    );
    this.dashboard.addWidgets(
      graph('Failures: relay and sweeper', [
        relayFunction.metricErrors({ statistic: sum, period, label: 'relay invocation errors' }),
        relayMetric(OUTBOX_METRICS.publishFailures, sum).with({ label: 'relay publish failures' }),
        relayMetric(OUTBOX_METRICS.eventsPoisoned, sum).with({ label: 'poisoned by the relay' }),
        relayMetric(OUTBOX_METRICS.markFailures, sum).with({ label: 'relay mark failures' }),
        sweeperMetric(OUTBOX_METRICS.eventsPoisoned, sum).with({ label: 'poisoned by the sweeper' }),
        sweeperMetric(OUTBOX_METRICS.sweepFailures, sum).with({ label: 'sweep failures' }),
      ]),
      graph('Failures: queue depths', [
        props.poisonQueue.metricApproximateNumberOfMessagesVisible({
          statistic: max,
          period,
          label: 'poison queue',
        }),
        props.onFailureQueue.metricApproximateNumberOfMessagesVisible({
          statistic: max,
          period,
          label: 'on-failure queue',
        }),
      ]),
      this.throttlesGraph,
    );
    // Every alarm, those added later included: the widget reads the list when the dashboard renders.
    this.dashboard.addWidgets(new AlarmStatusOfAll(() => [...this.alarmsByName.values()], 'Alarms', 24, 6));
  }

  private addAlarm(spec: AlarmSpec): cloudwatch.Alarm {
    if (!ALARM_NAME_PATTERN.test(spec.name)) {
      throw new Error(`alarm names are kebab case, got ${JSON.stringify(spec.name)}`);
    }
    if (this.alarmsByName.has(spec.name)) throw new Error(`there is already an alarm named ${spec.name}`);
    const alarm = new cloudwatch.Alarm(this, `Alarm-${spec.name}`, {
      alarmName: `${this.stackName}-${spec.name}`,
      alarmDescription: `${spec.description} Runbook: docs/operations.md#${spec.runbook ?? spec.name}`,
      metric: spec.metric,
      comparisonOperator: spec.comparisonOperator,
      threshold: spec.threshold,
      evaluationPeriods: spec.evaluationPeriods,
      datapointsToAlarm: spec.datapointsToAlarm ?? spec.evaluationPeriods,
      treatMissingData: spec.treatMissingData,
    });
    alarm.addAlarmAction(this.alarmAction);
    alarm.addOkAction(this.alarmAction);
    this.alarmsByName.set(spec.name, alarm);
    return alarm;
  }
}

/** A custom metric of ours: namespace `Outbox`, Powertools' `service` dimension. */
function outboxMetric(
  metricName: string,
  service: string,
  statistic: string,
  period: Duration = Duration.minutes(5),
): cloudwatch.Metric {
  return new cloudwatch.Metric({
    namespace: METRICS_NAMESPACE,
    metricName,
    dimensionsMap: { service },
    statistic,
    period,
  });
}

/** A function's throttles per minute, for the throttles graph. */
function throttlesMetric(fn: lambda.IFunction): cloudwatch.IMetric {
  return fn.metricThrottles({
    statistic: cloudwatch.Stats.SUM,
    period: Duration.minutes(1),
    label: fn instanceof ServiceFunction ? fn.handlerName : fn.node.id,
  });
}

/** The graphs of an API that writes: requests and errors, latency. */
function apiWidgets(httpApi: apigw.IHttpApi): cloudwatch.GraphWidget[] {
  const period = Duration.minutes(1);
  return [
    graph('Writes: API requests and errors', [
      httpApi.metricCount({ statistic: cloudwatch.Stats.SAMPLE_COUNT, period, label: 'requests' }),
      httpApi.metricClientError({ statistic: cloudwatch.Stats.SUM, period, label: '4xx' }),
      httpApi.metricServerError({ statistic: cloudwatch.Stats.SUM, period, label: '5xx' }),
    ]),
    graph('Writes: API latency (ms)', [
      httpApi.metricLatency({ statistic: cloudwatch.Stats.p(50), period, label: 'p50' }),
      httpApi.metricLatency({ statistic: cloudwatch.Stats.p(99), period, label: 'p99' }),
    ]),
  ];
}

/**
 * An alarm status widget of alarms read when the dashboard renders, so that
 * alarms added after the widget (another construct's API, its consumers)
 * are on it too.
 */
class AlarmStatusOfAll extends cloudwatch.ConcreteWidget {
  constructor(
    private readonly alarms: () => cloudwatch.IAlarm[],
    private readonly title: string,
    width: number,
    height: number,
  ) {
    super(width, height);
  }

  override toJson(): unknown[] {
    const widget = new cloudwatch.AlarmStatusWidget({
      title: this.title,
      alarms: this.alarms(),
      width: this.width,
      height: this.height,
    });
    widget.position(this.x ?? 0, this.y ?? 0);
    return widget.toJson();
  }
}

/** A graph of one third of the dashboard's width. */
function graph(title: string, left: cloudwatch.IMetric[]): cloudwatch.GraphWidget {
  return new cloudwatch.GraphWidget({ title, left, width: 8 });
}

/** Every Lambda function in `stack` so far. */
function functionsIn(stack: Stack): lambda.IFunction[] {
  return stack.node.findAll().filter((construct): construct is lambda.Function => {
    return construct instanceof lambda.Function;
  });
}

/** A plausible address: something@domain.tld, no spaces. SNS confirms it anyway. */
export function isEmailAddress(value: string): boolean {
  return /^[^\s@]+@[^\s@]+\.[^\s@]+$/.test(value);
}
