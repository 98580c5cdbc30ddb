/**
 * A service with its own single-table design adds the outbox to its stack:
 * its table keeps its keys (`PK`/`SK`, users at `USER#<id>`/`PROFILE`),
 * `TransactionalOutbox` adds the pending index, TTL, relay, sweeper and
 * alarms, one call makes the service's function a writer, and
 * `OutboxConsumer` deploys the service's own consumer handler.
 * README "Use it in your own service" quotes this file.
 */
import { fileURLToPath } from 'node:url';
import { Stack, type StackProps } from 'aws-cdk-lib';
import * as dynamodb from 'aws-cdk-lib/aws-dynamodb';
import * as lambda from 'aws-cdk-lib/aws-lambda';
import { NodejsFunction } from 'aws-cdk-lib/aws-lambda-nodejs';
import type { Construct } from 'constructs';
// In your service: import { OutboxConsumer, TransactionalOutbox } from '<this repository>/lib/outbox';
import { OutboxConsumer, TransactionalOutbox } from '../../lib/outbox';

/** The users service: its table, the outbox on it, and the function that writes users. */
export class UsersServiceStack extends Stack {
  /** The service's own table. */
  readonly table: dynamodb.TableV2;
  /** The outbox added to it. */
  readonly outbox: TransactionalOutbox;
  /** The function that writes a user and its events. */
  readonly writeUser: NodejsFunction;
  /** The consumer of `UserRegistered` events: its rule, queues and function. */
  readonly welcomeUser: OutboxConsumer;

  constructor(scope: Construct, id: string, props?: StackProps) {
    super(scope, id, props);

    // The table as the service already has it; the outbox needs its stream to carry new images.
    this.table = new dynamodb.TableV2(this, 'Table', {
      partitionKey: { name: 'PK', type: dynamodb.AttributeType.STRING },
      sortKey: { name: 'SK', type: dynamodb.AttributeType.STRING },
      dynamoStream: dynamodb.StreamViewType.NEW_AND_OLD_IMAGES,
    });

    // Key names are read from the table; a bus with an archive is created.
    this.outbox = new TransactionalOutbox(this, 'Outbox', {
      table: this.table,
      eventBusName: 'users',
      alarmEmail: 'oncall@example.com',
    });

    this.writeUser = new NodejsFunction(this, 'WriteUser', {
      entry: fileURLToPath(new URL('./write-user.ts', import.meta.url)),
      runtime: lambda.Runtime.NODEJS_24_X,
      architecture: lambda.Architecture.ARM_64,
    });
    // TABLE_NAME, the OUTBOX_* layout variables, PutItem for the outbox items and
    // what the function's own writes need (here a conditional Put of the profile).
    this.outbox.grantWriter(this.writeUser, { tableActions: ['PutItem'] });
    this.writeUser.addEnvironment('EVENT_SOURCE', 'com.example.users');
    this.outbox.monitoring.addThrottlesAlarm(this.writeUser);

    // A consumer: rule on the outbox bus -> queue (with a dead-letter queue) -> your handler.
    this.welcomeUser = new OutboxConsumer(this, 'WelcomeUser', {
      consumerName: 'welcome-user',
      entry: fileURLToPath(new URL('./welcome-user.ts', import.meta.url)),
      // TABLE_NAME and its idempotency records' actions: claim, complete, read, release.
      table: this.table,
      eventBus: this.outbox.eventBus,
      eventPattern: { source: ['com.example.users'], detailType: ['UserRegistered'] },
      // The idempotency records use the table's own key and TTL names (OUTBOX_*).
      environment: this.outbox.environment,
    });
    this.outbox.monitoring.addDeadLetterQueueAlarm('welcome-user', this.welcomeUser.deadLetterQueue);
    this.outbox.monitoring.addDeadLetterQueueAlarm('welcome-user-rule', this.welcomeUser.ruleDeadLetterQueue);
    this.outbox.monitoring.addThrottlesAlarm(this.welcomeUser.function);
  }
}
