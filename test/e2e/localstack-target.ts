/**
 * The `localstack` e2e target: the dev stack deployed to LocalStack with
 * cdklocal (`npm run test:localstack`). Everything the suite reads goes
 * through LocalStack's APIs (DynamoDB, SQS, CloudFormation, Lambda), and the
 * relay and consumers are driven by LocalStack's own event source mappings.
 *
 * What community LocalStack does not emulate is reached another way (README,
 * "LocalStack"): the API through a stand-in that invokes the deployed API
 * functions (./localstack-api.ts), and, in host mode, the notifications
 * consumer's SES v2 through moto (E2E_MOTO_ENDPOINT), whose sent mail the
 * suite reads back. The executor's journal (E2E_EXECUTOR_JOURNAL, host mode)
 * lets the suite count the relay's stream records and tell when it is idle.
 */
import { CloudFormationClient, DescribeStacksCommand } from '@aws-sdk/client-cloudformation';
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { LambdaClient, ListEventSourceMappingsCommand } from '@aws-sdk/client-lambda';
import { AlreadyExistsException, CreateEmailIdentityCommand, SESv2Client } from '@aws-sdk/client-sesv2';
import { GetQueueAttributesCommand, GetQueueUrlCommand, SQSClient } from '@aws-sdk/client-sqs';
import { MAIL_FROM_ENV } from '../../lambdas/consumer/env';
import { createDocumentClient } from '../../lambdas/sample/shared/clients';
import { pollUntil } from '../helpers/poll';
import { apiStandIn, type DeployedStack, deployedRoutes, readDeployedStack } from './localstack-api';
import { readJournal, streamRecords } from './localstack-journal';
import type { E2eTarget } from './targets';

/** The endpoint of the LocalStack under test; the script sets it. */
export function localStackEndpoint(): string {
  const endpoint = process.env.AWS_ENDPOINT_URL;
  if (!endpoint)
    throw new Error('AWS_ENDPOINT_URL is not set: run the localstack target with npm run test:localstack');
  return endpoint;
}

/** Clients aimed at LocalStack. */
export function localStackClients() {
  const config = { region: process.env.AWS_REGION ?? 'us-east-1', endpoint: localStackEndpoint() };
  return {
    config,
    cloudFormation: new CloudFormationClient(config),
    lambda: new LambdaClient(config),
    sqs: new SQSClient(config),
    dynamoDb: new DynamoDBClient(config),
  };
}

/** The event source mappings of the deployed functions, by kind of source. */
export async function eventSourceMappings(lambda: LambdaClient) {
  const output = await lambda.send(new ListEventSourceMappingsCommand({}));
  const mappings = output.EventSourceMappings ?? [];
  return {
    all: mappings,
    stream: mappings.filter((mapping) => mapping.EventSourceArn?.includes(':dynamodb:')),
    queues: mappings.filter((mapping) => mapping.EventSourceArn?.startsWith('arn:aws:sqs:')),
  };
}

function functionName(arn: string | undefined): string {
  return arn?.split(':').at(-1) ?? '';
}

/** The sender address the deployed notifications consumer mails from (its function's environment). */
function mailFromAddress(stack: DeployedStack): string | undefined {
  for (const resource of Object.values(stack.template.Resources)) {
    if (resource.Type !== 'AWS::Lambda::Function') continue;
    const variables = (
      resource.Properties?.Environment as { Variables?: Record<string, unknown> } | undefined
    )?.Variables;
    const address = variables?.[MAIL_FROM_ENV];
    if (typeof address === 'string') return address;
  }
  return undefined;
}

async function queuesAreEmpty(sqs: SQSClient, queueUrls: readonly string[]): Promise<boolean> {
  const counts = await Promise.all(
    queueUrls.map(async (queueUrl) => {
      const output = await sqs.send(
        new GetQueueAttributesCommand({
          QueueUrl: queueUrl,
          AttributeNames: [
            'ApproximateNumberOfMessages',
            'ApproximateNumberOfMessagesNotVisible',
            'ApproximateNumberOfMessagesDelayed',
          ],
        }),
      );
      return Object.values(output.Attributes ?? {}).reduce((sum, value) => sum + Number(value), 0);
    }),
  );
  return counts.every((count) => count === 0);
}

async function longestVisibilityTimeoutMs(sqs: SQSClient, queueUrls: readonly string[]): Promise<number> {
  const timeouts = await Promise.all(
    queueUrls.map(async (queueUrl) => {
      const output = await sqs.send(
        new GetQueueAttributesCommand({ QueueUrl: queueUrl, AttributeNames: ['VisibilityTimeout'] }),
      );
      return Number(output.Attributes?.VisibilityTimeout ?? 30) * 1000;
    }),
  );
  return Math.max(30_000, ...timeouts);
}

/** Resolves once `read` returned the same value `times` polls in a row (the thing it watches is quiet). */
async function quiet(read: () => Promise<string> | string, what: string, times = 4): Promise<void> {
  let last: string | undefined;
  let same = 0;
  await pollUntil(
    async () => {
      const current = await read();
      same = current === last ? same + 1 : 0;
      last = current;
      return same >= times;
    },
    { timeoutMs: 60_000, intervalMs: 500, what },
  );
}

/** Opens the localstack target. */
export async function openLocalStack(): Promise<E2eTarget> {
  const stackName = process.env.E2E_STACK ?? 'Outbox-dev';
  const clients = localStackClients();
  const openedAt = Date.now() / 1000;
  const [stacks, stack, mappings] = await Promise.all([
    clients.cloudFormation.send(new DescribeStacksCommand({ StackName: stackName })),
    readDeployedStack(clients.cloudFormation, stackName),
    eventSourceMappings(clients.lambda),
  ]);
  const outputs = new Map(
    (stacks.Stacks?.[0]?.Outputs ?? []).map((output) => [output.OutputKey, output.OutputValue]),
  );
  const output = (key: string): string => {
    const value = outputs.get(key);
    if (!value) throw new Error(`stack ${stackName} has no output ${key}; deploy the dev stage`);
    return value;
  };
  const request = apiStandIn(clients.lambda, deployedRoutes(stack));

  const consumerQueueUrls = await Promise.all(
    mappings.queues.map(async (mapping) => {
      const queueName = mapping.EventSourceArn?.split(':').at(-1) ?? '';
      const found = await clients.sqs.send(new GetQueueUrlCommand({ QueueName: queueName }));
      if (!found.QueueUrl) throw new Error(`no queue ${queueName}`);
      return found.QueueUrl;
    }),
  );
  const relayFunctions = new Set(mappings.stream.map((mapping) => functionName(mapping.FunctionArn)));
  const consumerFunctions = new Set(mappings.queues.map((mapping) => functionName(mapping.FunctionArn)));

  const motoEndpoint = process.env.E2E_MOTO_ENDPOINT;
  if (motoEndpoint) {
    // SES refuses mail from an unverified sender; moto keeps the same rule.
    const sender = mailFromAddress(stack);
    if (!sender) throw new Error(`no function of ${stackName} sets ${MAIL_FROM_ENV}`);
    const ses = new SESv2Client({ region: clients.config.region, endpoint: motoEndpoint });
    await ses.send(new CreateEmailIdentityCommand({ EmailIdentity: sender })).catch((error: unknown) => {
      if (!(error instanceof AlreadyExistsException)) throw error;
    });
  }
  const journal = process.env.E2E_EXECUTOR_JOURNAL;
  const invocationsSinceOpen = () =>
    journal ? readJournal(journal).filter((entry) => entry.startedAt >= openedAt) : [];
  const invocationsOf = (names: ReadonlySet<string>) =>
    invocationsSinceOpen().filter((entry) => names.has(entry.function));

  return {
    name: 'localstack',
    apiUrl: output('ApiUrl').replace(/\/$/, ''),
    tableName: output('TableName'),
    db: createDocumentClient(clients.dynamoDb),
    sqs: clients.sqs,
    tapQueueUrl: output('TapQueueUrl'),
    orderedTap: false,
    ...(journal
      ? {
          relayRecordCount: () =>
            invocationsOf(relayFunctions).reduce((sum, entry) => sum + streamRecords(entry).length, 0),
          settle: () =>
            quiet(
              () => String(invocationsOf(relayFunctions).length),
              'the relay to be idle (no new invocation for 2 s)',
            ),
        }
      : {}),
    ...(motoEndpoint
      ? {
          sentMail: async () => (await import('../../local/consumers')).readSentMail(motoEndpoint),
        }
      : {}),
    consumersIdle: async () => {
      // A message a consumer defers or fails comes back only after its queue's visibility timeout.
      await pollUntil(() => queuesAreEmpty(clients.sqs, consumerQueueUrls), {
        timeoutMs: 2 * (await longestVisibilityTimeoutMs(clients.sqs, consumerQueueUrls)) + 30_000,
        intervalMs: 250,
        what: 'every consumer queue to be empty',
      });
      await quiet(
        async () =>
          `${invocationsOf(consumerFunctions).length}:${await queuesAreEmpty(clients.sqs, consumerQueueUrls)}`,
        'the consumers to be idle',
      );
    },
    request,
    stop: async () => {
      for (const client of Object.values(clients)) {
        if (typeof client === 'object' && 'destroy' in client) client.destroy();
      }
    },
  };
}
