/**
 * Runs the template's queue consumers locally: for every SQS event source
 * mapping, an SQS poller invoking the function's real handler in its own
 * local Lambda environment (function-host.ts), with the environment its
 * stack definition gives it. The sender address of a consumer that mails is
 * made a verified identity in moto's SES.
 */
import { CreateEmailIdentityCommand, type SESv2Client } from '@aws-sdk/client-sesv2';
import type { SQSClient } from '@aws-sdk/client-sqs';
import type { SQSBatchResponse } from 'aws-lambda';
import { MAIL_FROM_ENV } from '../lambdas/consumer/env';
import type { EventFeed } from './event-feed';
import { observeConsumer } from './flow-observers';
import type { LocalFunction } from './function-host';
import { eventSourceMappings, type LocalMessaging } from './resources';
import { type SqsHandler, type SqsPoller, type SqsPollerStats, startSqsPoller } from './sqs-poller';
import type { CfnTemplate } from './synth';

/** Options of {@link startConsumers}. */
export interface StartConsumersOptions {
  readonly template: CfnTemplate;
  readonly messaging: LocalMessaging;
  /** The template's functions by logical id, each in its own environment. */
  readonly functions: ReadonlyMap<string, LocalFunction>;
  /** Clients aimed at moto. */
  readonly sqs: SQSClient;
  readonly ses: SESv2Client;
  /** Where each message's outcome is recorded; none when absent. */
  readonly feed?: EventFeed;
  /** Progress lines; silent when absent. */
  readonly log?: (line: string) => void;
}

/** One consumer's queues. */
export interface ConsumerQueues {
  readonly queueUrl: string;
  readonly deadLetterQueueUrl?: string;
}

/** The running consumers. */
export interface LocalConsumers {
  /** Queue URLs of each consumer (by handler name): its queue and its dead-letter queue. */
  readonly queues: ReadonlyMap<string, ConsumerQueues>;
  stats(): Record<string, SqsPollerStats>;
  /** Resolves when every consumer queue was polled empty with nothing running. */
  idle(): Promise<void>;
  stop(): Promise<void>;
}

function record(value: unknown): Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value)
    ? (value as Record<string, unknown>)
    : {};
}

function redrivePolicy(value: unknown): Record<string, unknown> {
  if (typeof value !== 'string') return record(value);
  try {
    return record(JSON.parse(value));
  } catch {
    return {};
  }
}

/** Starts one SQS poller per consumer queue of the template. */
export async function startConsumers(options: StartConsumersOptions): Promise<LocalConsumers> {
  const log = options.log ?? (() => undefined);
  const pollers = new Map<string, SqsPoller>();
  const queues = new Map<string, ConsumerQueues>();
  const stopAll = async () => {
    await Promise.all([...pollers.values()].map((poller) => poller.stop()));
  };
  try {
    for (const mapping of eventSourceMappings(options.template)) {
      const queue = mapping.eventSourceLogicalId
        ? options.messaging.queues.get(mapping.eventSourceLogicalId)
        : undefined;
      if (!queue || !mapping.functionLogicalId) continue;
      const fn = options.functions.get(mapping.functionLogicalId);
      if (!fn) {
        log(
          `queue ${queue.name}: its function names no handler file (Outbox::Handler and Outbox::HandlerFile metadata); not run locally`,
        );
        continue;
      }
      const { definition } = fn;
      const mailFrom = definition.environment[MAIL_FROM_ENV];
      if (mailFrom) {
        await options.ses.send(new CreateEmailIdentityCommand({ EmailIdentity: mailFrom }));
        log(`${definition.handlerName}: ${mailFrom} is a verified SES identity in moto`);
      }
      const redrive = redrivePolicy(
        record(options.template.Resources[mapping.eventSourceLogicalId ?? '']?.Properties).RedrivePolicy,
      );
      const deadLetterId = record(redrive.deadLetterTargetArn)['Fn::GetAtt'];
      const deadLetterQueue = Array.isArray(deadLetterId)
        ? options.messaging.queues.get(String(deadLetterId[0]))
        : undefined;
      const maxReceiveCount = Number(redrive.maxReceiveCount);
      const invoke: SqsHandler = (event, context) =>
        fn.invoke(event, context) as Promise<SQSBatchResponse | undefined>;
      const handler = options.feed
        ? observeConsumer(invoke, {
            feed: options.feed,
            consumer: definition.handlerName,
            ...(Number.isInteger(maxReceiveCount) ? { maxReceiveCount } : {}),
          })
        : invoke;
      pollers.set(
        definition.handlerName,
        startSqsPoller({
          sqs: options.sqs,
          queueUrl: queue.url,
          queueArn: queue.arn,
          handler,
          ...(mapping.properties.BatchSize === undefined
            ? {}
            : { BatchSize: Math.min(mapping.properties.BatchSize, 10) }),
          ...(mapping.properties.FunctionResponseTypes
            ? { FunctionResponseTypes: mapping.properties.FunctionResponseTypes }
            : {}),
          functionName: definition.functionName,
          functionArn: definition.functionArn,
          memoryLimitInMB: String(definition.memorySize),
          functionTimeoutMs: definition.timeoutSeconds * 1000,
          logger: (line) => log(`sqs poller: ${line}`),
        }),
      );
      queues.set(definition.handlerName, {
        queueUrl: queue.url,
        ...(deadLetterQueue ? { deadLetterQueueUrl: deadLetterQueue.url } : {}),
      });
      log(`consumer ${definition.handlerName} attached to queue ${queue.name}`);
    }
  } catch (error) {
    await stopAll();
    throw error;
  }
  return {
    queues,
    stats: () => Object.fromEntries([...pollers].map(([name, poller]) => [name, poller.stats])),
    idle: async () => {
      await Promise.all([...pollers.values()].map((poller) => poller.idle()));
    },
    stop: stopAll,
  };
}

/** A mail moto's SES accepted. */
export interface SentMail {
  readonly id: string;
  readonly source: string;
  readonly to: readonly string[];
  readonly subject: string;
  readonly body: string;
}

/**
 * Every mail moto's SES has accepted so far (SES v1 and v2 share moto's
 * backend), read from moto's model data (`/moto-api/data.json`, `ses.Message`):
 * SES itself has no API to read sent mail back.
 */
export async function readSentMail(motoEndpoint: string): Promise<SentMail[]> {
  const response = await fetch(`${motoEndpoint}/moto-api/data.json`);
  if (!response.ok) throw new Error(`moto's model data answered ${response.status}`);
  const data = record(await response.json());
  const messages = record(data.ses).Message;
  if (!Array.isArray(messages)) return [];
  return messages.map((raw) => {
    const message = record(raw);
    const to = record(message.destinations).ToAddresses;
    return {
      id: String(message.id),
      source: String(message.source),
      to: Array.isArray(to) ? to.map(String) : [],
      subject: String(message.subject),
      body: String(message.body),
    };
  });
}
