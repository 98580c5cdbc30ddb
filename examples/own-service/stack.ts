/**
 * A service with its own single-table design adds the outbox to its stack:
 * its table keeps its keys (`PK`/`SK`, users at `USER#<id>`/`PROFILE`),
 * `TransactionalOutbox` adds the pending index, TTL, relay, sweeper and
 * alarms, and one call makes the service's function a writer.
 * README "Use it in your own service" quotes this file.
 */
import { fileURLToPath } from 'node:url';
import { Duration, Stack, type StackProps } from 'aws-cdk-lib';
import * as dynamodb from 'aws-cdk-lib/aws-dynamodb';
import * as events from 'aws-cdk-lib/aws-events';
import * as targets from 'aws-cdk-lib/aws-events-targets';
import * as lambda from 'aws-cdk-lib/aws-lambda';
import { SqsEventSource } from 'aws-cdk-lib/aws-lambda-event-sources';
import { NodejsFunction } from 'aws-cdk-lib/aws-lambda-nodejs';
import * as sqs from 'aws-cdk-lib/aws-sqs';
import type { Construct } from 'constructs';
// In your service: import { TransactionalOutbox } from '<this repository>/lib/outbox';
import { TransactionalOutbox } from '../../lib/outbox';

/** The users service: its table, the outbox on it, and the function that writes users. */
export class UsersServiceStack extends Stack {
  /** The service's own table. */
  readonly table: dynamodb.TableV2;
  /** The outbox added to it. */
  readonly outbox: TransactionalOutbox;
  /** The function that writes a user and its events. */
  readonly writeUser: NodejsFunction;
  /** The consumer of `UserRegistered` events. */
  readonly welcomeUser: NodejsFunction;

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

    // A consumer: rule on the outbox bus -> queue (with a dead-letter queue) -> function.
    const deadLetterQueue = new sqs.Queue(this, 'WelcomeUserDlq', { enforceSSL: true });
    const queue = new sqs.Queue(this, 'WelcomeUserQueue', {
      enforceSSL: true,
      visibilityTimeout: Duration.minutes(3),
      deadLetterQueue: { queue: deadLetterQueue, maxReceiveCount: 5 },
    });
    new events.Rule(this, 'UserRegistered', {
      eventBus: this.outbox.eventBus,
      eventPattern: { source: ['com.example.users'], detailType: ['UserRegistered'] },
      targets: [new targets.SqsQueue(queue)],
    });
    this.welcomeUser = new NodejsFunction(this, 'WelcomeUser', {
      entry: fileURLToPath(new URL('./welcome-user.ts', import.meta.url)),
      runtime: lambda.Runtime.NODEJS_24_X,
      architecture: lambda.Architecture.ARM_64,
      timeout: Duration.seconds(30),
      // The idempotency records use the table's own key and TTL names (OUTBOX_*).
      environment: { TABLE_NAME: this.table.tableName, ...this.outbox.environment },
    });
    this.welcomeUser.addEventSource(new SqsEventSource(queue, { reportBatchItemFailures: true }));
    // Its idempotency records: claim, complete, read, release.
    this.table.grant(
      this.welcomeUser,
      'dynamodb:GetItem',
      'dynamodb:PutItem',
      'dynamodb:UpdateItem',
      'dynamodb:DeleteItem',
    );
    this.outbox.monitoring.addDeadLetterQueueAlarm('welcome-user', deadLetterQueue);
  }
}
