/**
 * `TransactionalOutbox`: gives a service's DynamoDB table an outbox. It adds
 * what the outbox needs (TTL, the pending index, the stream relay with its
 * queues, the sweeper, their alarms and dashboard) and checks at synth time
 * what it cannot add (the stream, the key schema, a TTL on another
 * attribute), so a wrong table fails `cdk synth` with a message, not the
 * first event at run time.
 */
import { RemovalPolicy, Stack, Token } from 'aws-cdk-lib';
import * as dynamodb from 'aws-cdk-lib/aws-dynamodb';
import type * as events from 'aws-cdk-lib/aws-events';
import * as iam from 'aws-cdk-lib/aws-iam';
import type * as lambda from 'aws-cdk-lib/aws-lambda';
import { Construct } from 'constructs';
import { ENV } from '../../lambdas/outbox/functions/env';
import { ServiceFunction, type TableAction } from '../service-function';
import { OutboxBus } from './outbox-bus';
import {
  checkAttributeNames,
  DEFAULT_ATTRIBUTE_NAMES,
  DEFAULT_PENDING_SHARDS,
  layoutEnvironment,
  type OutboxAttributeNames,
  OutboxConfigurationError,
} from './outbox-layout';
import { OutboxMonitoring } from './outbox-monitoring';
import { OutboxRelay, type OutboxRelayProps } from './outbox-relay';
import { OutboxSweeper, type OutboxSweeperProps } from './outbox-sweeper';
import { OutboxTable, pendingIndexProps, pendingShardsFor } from './outbox-table';

/**
 * What the writer does on the table itself: each event is a `Put` of its
 * outbox item (conditional on the sequence being free) inside the service's
 * transaction. `TransactWriteItems` needs no action of its own; the entity
 * writes of the transaction need theirs (`tableActions` of {@link WriterGrant}).
 */
export const WRITER_TABLE_ACTIONS: readonly TableAction[] = ['PutItem'];

/** Stream view types that carry the new image, which the relay publishes from. */
const NEW_IMAGE_VIEWS: ReadonlySet<string> = new Set([
  dynamodb.StreamViewType.NEW_IMAGE,
  dynamodb.StreamViewType.NEW_AND_OLD_IMAGES,
]);

/** Settings of the relay that the outbox does not decide itself. */
export type OutboxRelayOptions = Omit<
  OutboxRelayProps,
  'table' | 'eventBus' | 'attributeNames' | 'pendingShards' | 'deliveredTtlHours' | 'removalPolicy'
>;

/** Settings of the sweeper that the outbox does not decide itself. */
export type OutboxSweeperOptions = Omit<
  OutboxSweeperProps,
  | 'table'
  | 'eventBus'
  | 'poisonQueue'
  | 'attributeNames'
  | 'pendingShards'
  | 'deliveredTtlHours'
  | 'removalPolicy'
>;

/** Properties of a {@link TransactionalOutbox}. */
export interface TransactionalOutboxProps {
  /**
   * The service's table. Its stream must be on, with `NEW_IMAGE` or
   * `NEW_AND_OLD_IMAGES` (CDK cannot add a stream to a table it already
   * built); its keys must be strings. The outbox adds the pending index and,
   * when the table has none, the TTL; its key names are read from the table.
   * @default - a new table (`OutboxTable`) with the configured names
   */
  readonly table?: dynamodb.TableV2 | dynamodb.Table;
  /**
   * The bus the relay publishes to.
   * @default - a new bus with an archive (`OutboxBus`) named `eventBusName`
   */
  readonly eventBus?: events.IEventBus;
  /**
   * Name of the bus created when `eventBus` is not given.
   * @default - `<stack name>-outbox`
   */
  readonly eventBusName?: string;
  /**
   * Partition key attribute of a created table. For a given table it is read
   * from the table; when given too, it must match.
   * @default 'pk'
   */
  readonly partitionKey?: string;
  /**
   * Sort key attribute of a created table. For a given table it is read
   * from the table; when given too, it must match.
   * @default 'sk'
   */
  readonly sortKey?: string;
  /**
   * Name of the sparse pending index the outbox adds.
   * @default 'pendingEvents'
   */
  readonly pendingIndexName?: string;
  /**
   * Partition key attribute of the pending index.
   * @default 'pendingPk'
   */
  readonly pendingPartitionKey?: string;
  /**
   * Sort key attribute of the pending index.
   * @default 'pendingSk'
   */
  readonly pendingSortKey?: string;
  /**
   * TTL attribute (epoch seconds) of delivered outbox items. A given table's
   * TTL is set to it when the table has none, and must be it when it has one.
   * @default 'expiresAt'
   */
  readonly ttlAttribute?: string;
  /**
   * The table's peak outbox event rate (events per second, all aggregates);
   * sizes the pending index's shard count, which the writers, relay and
   * sweeper are told (`OUTBOX_PENDING_SHARDS`).
   * @default - 16 shards, about 5,300 events per second
   */
  readonly peakEventsPerSecond?: number;
  /**
   * Keep the old `pending` index on a created table for the first deployment
   * of a migration (README "Migrating the pending index").
   * @default false
   */
  readonly keepLegacyPendingIndex?: boolean;
  /**
   * Whether a created table refuses deletion until this is turned off.
   * @default true
   */
  readonly deletionProtection?: boolean;
  /**
   * Hours a delivered outbox item lives before TTL deletes it.
   * @default 24
   */
  readonly deliveredTtlHours?: number;
  /**
   * Settings of the relay (batch size, batching window, retries, memory...).
   * @default - the defaults of `OutboxRelayProps`
   */
  readonly relay?: OutboxRelayOptions;
  /**
   * Settings of the sweeper (threshold, schedule, timeout, memory).
   * @default - the defaults of `OutboxSweeperProps`
   */
  readonly sweeper?: OutboxSweeperOptions;
  /**
   * Address subscribed to the alarm topic (confirmed by mail first).
   * @default - no subscription
   */
  readonly alarmEmail?: string;
  /**
   * Name of the dashboard.
   * @default - the stack name
   */
  readonly dashboardName?: string;
  /**
   * What happens to a created table, the queues, log groups and the alarm
   * topic's key when they leave the stack.
   * @default RemovalPolicy.RETAIN
   */
  readonly removalPolicy?: RemovalPolicy;
}

/** What a writer function uses on the table besides the outbox's own writes. */
export interface WriterGrant {
  /**
   * Table actions of the function's own logic: its reads, and the entity
   * writes inside its transactions (e.g. `GetItem`, `UpdateItem`,
   * `ConditionCheckItem`). `PutItem` for the outbox items is always granted.
   * @default - none
   */
  readonly tableActions?: readonly TableAction[];
}

/** An outbox on a DynamoDB table: relay, queues, sweeper, alarms and dashboard. */
export class TransactionalOutbox extends Construct {
  /** The table the outbox lives in (given or created). */
  readonly table: dynamodb.TableV2 | dynamodb.Table;
  /** The created table construct; undefined when a table was given. */
  readonly outboxTable?: OutboxTable;
  /** The bus the relay publishes to (given or created). */
  readonly eventBus: events.IEventBus;
  /** The created bus and its archive; undefined when a bus was given. */
  readonly bus?: OutboxBus;
  /** The attribute and index names the outbox uses on the table. */
  readonly attributeNames: OutboxAttributeNames;
  /** Shards of the pending index the writers spread events over. */
  readonly pendingShards: number;
  /** The stream relay, its poison and on-failure queues. */
  readonly relay: OutboxRelay;
  /** The scheduled sweeper republishing events left pending. */
  readonly sweeper: OutboxSweeper;
  /** The alarms of these parts, their SNS topic and the dashboard. */
  readonly monitoring: OutboxMonitoring;
  /** The ARN of the table's stream, which the relay reads. */
  readonly tableStreamArn: string;

  constructor(scope: Construct, id: string, props: TransactionalOutboxProps = {}) {
    super(scope, id);
    const removalPolicy = props.removalPolicy ?? RemovalPolicy.RETAIN;
    this.pendingShards =
      props.peakEventsPerSecond === undefined
        ? DEFAULT_PENDING_SHARDS
        : pendingShardsFor(props.peakEventsPerSecond);

    if (props.table) {
      const createOnly = (['keepLegacyPendingIndex', 'deletionProtection'] as const).filter(
        (setting) => props[setting] !== undefined,
      );
      if (createOnly.length > 0) {
        throw new OutboxConfigurationError(
          `${createOnly.join(' and ')} apply to a table the outbox creates; set them on ${props.table.node.path} instead`,
        );
      }
      this.table = props.table;
      this.attributeNames = checkAttributeNames(namesOfTable(props.table, props));
      requireNewImageStream(props.table);
      ensureTimeToLive(props.table, this.attributeNames.ttlAttribute);
      addPendingIndex(props.table, this.attributeNames);
    } else {
      this.attributeNames = checkAttributeNames({
        ...configuredNames(props),
        partitionKey: props.partitionKey ?? DEFAULT_ATTRIBUTE_NAMES.partitionKey,
        sortKey: props.sortKey ?? DEFAULT_ATTRIBUTE_NAMES.sortKey,
      });
      this.outboxTable = new OutboxTable(this, 'OutboxTable', {
        removalPolicy,
        deletionProtection: props.deletionProtection ?? true,
        attributeNames: this.attributeNames,
        ...(props.peakEventsPerSecond === undefined
          ? {}
          : { peakEventsPerSecond: props.peakEventsPerSecond }),
        ...(props.keepLegacyPendingIndex ? { keepLegacyPendingIndex: true } : {}),
      });
      this.table = this.outboxTable.table;
    }
    const streamArn = this.table.tableStreamArn;
    if (streamArn === undefined) throw new OutboxConfigurationError(`${this.table.node.path} has no stream`);
    this.tableStreamArn = streamArn;

    if (props.eventBus) {
      this.eventBus = props.eventBus;
    } else {
      this.bus = new OutboxBus(this, 'Bus', {
        eventBusName: props.eventBusName ?? `${Stack.of(this).stackName}-outbox`,
      });
      this.eventBus = this.bus.eventBus;
    }

    const shared = {
      table: this.table,
      eventBus: this.eventBus,
      attributeNames: this.attributeNames,
      pendingShards: this.pendingShards,
      removalPolicy,
      ...(props.deliveredTtlHours === undefined ? {} : { deliveredTtlHours: props.deliveredTtlHours }),
    };
    this.relay = new OutboxRelay(this, 'Relay', { ...props.relay, ...shared });
    this.sweeper = new OutboxSweeper(this, 'Sweeper', {
      ...props.sweeper,
      ...shared,
      poisonQueue: this.relay.poisonQueue,
    });
    this.monitoring = new OutboxMonitoring(this, 'Monitoring', {
      table: this.table,
      pendingIndexName: this.attributeNames.pendingIndexName,
      relayFunction: this.relay.function,
      poisonQueue: this.relay.poisonQueue,
      onFailureQueue: this.relay.onFailureQueue,
      // The outbox's own functions; a service adds its own with addThrottlesAlarm.
      functions: [this.relay.function, this.sweeper.function],
      removalPolicy,
      ...(props.alarmEmail === undefined ? {} : { alarmEmail: props.alarmEmail }),
      ...(props.dashboardName === undefined ? {} : { dashboardName: props.dashboardName }),
    });
  }

  /** The layout environment variables (`OUTBOX_*`) the library reads, as this outbox sets them. */
  get environment(): Readonly<Record<string, string>> {
    return layoutEnvironment(this.attributeNames, this.pendingShards);
  }

  /**
   * Makes `fn` a writer of this outbox: sets `TABLE_NAME` and the layout
   * variables (`OUTBOX_*`), and allows exactly `PutItem` (its outbox items)
   * plus `grant.tableActions` on the table, and the table key's use when it
   * is customer managed.
   */
  grantWriter(fn: lambda.Function, grant: WriterGrant = {}): void {
    const actions = [...new Set<TableAction>([...(grant.tableActions ?? []), ...WRITER_TABLE_ACTIONS])];
    if (fn instanceof ServiceFunction) {
      fn.useTable(this.table, actions);
    } else {
      fn.addEnvironment(ENV.TABLE_NAME, this.table.tableName);
      fn.addToRolePolicy(
        new iam.PolicyStatement({
          actions: actions.map((action) => `dynamodb:${action}`),
          resources: [this.table.tableArn],
        }),
      );
      this.table.encryptionKey?.grantEncryptDecrypt(fn);
    }
    for (const [name, value] of Object.entries(this.environment)) fn.addEnvironment(name, value);
  }
}

/** The configured names that do not come from the table's key schema. */
function configuredNames(
  props: TransactionalOutboxProps,
): Omit<OutboxAttributeNames, 'partitionKey' | 'sortKey'> {
  return {
    pendingIndexName: props.pendingIndexName ?? DEFAULT_ATTRIBUTE_NAMES.pendingIndexName,
    pendingPartitionKey: props.pendingPartitionKey ?? DEFAULT_ATTRIBUTE_NAMES.pendingPartitionKey,
    pendingSortKey: props.pendingSortKey ?? DEFAULT_ATTRIBUTE_NAMES.pendingSortKey,
    ttlAttribute: props.ttlAttribute ?? DEFAULT_ATTRIBUTE_NAMES.ttlAttribute,
  };
}

/** A key attribute as the table declares it. */
interface KeyAttribute {
  readonly name: string;
  readonly type: string | undefined;
}

/** The names of a given table: its key schema, and the configured rest. */
function namesOfTable(
  table: dynamodb.TableV2 | dynamodb.Table,
  props: TransactionalOutboxProps,
): OutboxAttributeNames {
  const path = table.node.path;
  const { partitionKey, sortKey } = keySchemaOf(table);
  if (sortKey === undefined) {
    throw new OutboxConfigurationError(
      `${path} has no sort key: outbox items share their aggregate's partition key and need a sort key (OUTBOX#<sequence>)`,
    );
  }
  for (const [setting, key] of [
    ['partitionKey', partitionKey],
    ['sortKey', sortKey],
  ] as const) {
    if (key.type !== undefined && key.type !== dynamodb.AttributeType.STRING) {
      throw new OutboxConfigurationError(
        `${path}: the ${setting} ${key.name} must be a string attribute, got ${key.type}`,
      );
    }
    const configured = props[setting];
    if (configured !== undefined && configured !== key.name) {
      throw new OutboxConfigurationError(
        `${setting} is ${JSON.stringify(configured)} but ${path} has ${JSON.stringify(key.name)}; leave ${setting} out to use the table's`,
      );
    }
  }
  return { ...configuredNames(props), partitionKey: partitionKey.name, sortKey: sortKey.name };
}

/** The table's key attributes: `Table.schema()`, or the global table's key schema. */
function keySchemaOf(table: dynamodb.TableV2 | dynamodb.Table): {
  partitionKey: KeyAttribute;
  sortKey?: KeyAttribute;
} {
  if (table instanceof dynamodb.Table) {
    const schema = table.schema();
    if (!schema.partitionKey) throw new OutboxConfigurationError(`${table.node.path} has no partition key`);
    return {
      partitionKey: { name: schema.partitionKey.name, type: schema.partitionKey.type },
      ...(schema.sortKey ? { sortKey: { name: schema.sortKey.name, type: schema.sortKey.type } } : {}),
    };
  }
  // TableV2 exposes no schema(); its CloudFormation resource holds the key schema and attribute types.
  const cfn = table.node.defaultChild as dynamodb.CfnGlobalTable;
  const stack = Stack.of(table);
  const keySchema = stack.resolve(cfn.keySchema) as dynamodb.CfnGlobalTable.KeySchemaProperty[];
  const definitions = (stack.resolve(cfn.attributeDefinitions) ??
    []) as dynamodb.CfnGlobalTable.AttributeDefinitionProperty[];
  const attribute = (keyType: string): KeyAttribute | undefined => {
    const name = keySchema.find((key) => key.keyType === keyType)?.attributeName;
    if (name === undefined) return undefined;
    return { name, type: definitions.find((definition) => definition.attributeName === name)?.attributeType };
  };
  const partitionKey = attribute('HASH');
  if (partitionKey === undefined)
    throw new OutboxConfigurationError(`${table.node.path} has no partition key`);
  const sortKey = attribute('RANGE');
  return { partitionKey, ...(sortKey ? { sortKey } : {}) };
}

/** The relay publishes from the new image: a table without one in its stream cannot have an outbox. */
function requireNewImageStream(table: dynamodb.TableV2 | dynamodb.Table): void {
  const path = table.node.path;
  const cfn = table.node.defaultChild as dynamodb.CfnGlobalTable | dynamodb.CfnTable;
  const spec = Stack.of(table).resolve(cfn.streamSpecification) as { streamViewType?: string } | undefined;
  const view = spec?.streamViewType;
  if (table.tableStreamArn === undefined || view === undefined) {
    throw new OutboxConfigurationError(
      `${path} has no stream: the outbox relay reads it. Create the table with ` +
        `${table instanceof dynamodb.Table ? 'stream' : 'dynamoStream'}: StreamViewType.NEW_IMAGE (or NEW_AND_OLD_IMAGES)`,
    );
  }
  if (!NEW_IMAGE_VIEWS.has(view)) {
    throw new OutboxConfigurationError(
      `${path} has a ${view} stream: the outbox relay publishes from the new image, so it needs NEW_IMAGE or NEW_AND_OLD_IMAGES`,
    );
  }
}

/** Sets the table's TTL to `attribute` when it has none; a TTL elsewhere (or off) is an error. */
function ensureTimeToLive(table: dynamodb.TableV2 | dynamodb.Table, attribute: string): void {
  const cfn = table.node.defaultChild as dynamodb.CfnGlobalTable | dynamodb.CfnTable;
  const current = cfn.timeToLiveSpecification;
  if (current === undefined) {
    // Neither construct can add a TTL after construction; the resource property is the documented escape hatch.
    cfn.timeToLiveSpecification = { attributeName: attribute, enabled: true };
    return;
  }
  const spec = Stack.of(table).resolve(current) as { attributeName?: string; enabled?: unknown };
  if (Token.isUnresolved(spec.attributeName) || spec.attributeName !== attribute || spec.enabled !== true) {
    throw new OutboxConfigurationError(
      `${table.node.path} has its TTL ${spec.enabled === true ? `on ${JSON.stringify(spec.attributeName)}` : 'turned off'}; ` +
        `the outbox expires delivered items with ${JSON.stringify(attribute)}: set ttlAttribute to the table's TTL attribute`,
    );
  }
}

/** Adds the lean, sparse pending index (the same one a created table gets). */
function addPendingIndex(table: dynamodb.TableV2 | dynamodb.Table, names: OutboxAttributeNames): void {
  const index = pendingIndexProps(names);
  if (table instanceof dynamodb.Table) {
    table.addGlobalSecondaryIndex({
      indexName: index.indexName,
      partitionKey: index.partitionKey,
      ...(index.sortKey ? { sortKey: index.sortKey } : {}),
      projectionType: dynamodb.ProjectionType.INCLUDE,
      nonKeyAttributes: [...(index.nonKeyAttributes ?? [])],
    });
  } else {
    table.addGlobalSecondaryIndex(index);
  }
}
