/**
 * Runs the template's queue consumers locally: for every SQS event source
 * mapping, an SQS poller invoking the function's real handler module (named
 * by the function's `Outbox::Handler` metadata, which `OutboxConsumer` sets).
 * Each function's plain environment variables from the template are set
 * before its module loads, as at a cold start, and the sender address of a
 * consumer that mails is made a verified identity in moto's SES.
 */
import { CreateEmailIdentityCommand, type SESv2Client } from '@aws-sdk/client-sesv2';
import type { SQSClient } from '@aws-sdk/client-sqs';
import { MAIL_FROM_ENV } from '../lambdas/consumer/env';
import { HANDLER_METADATA_KEY } from '../lib/outbox-consumer';
import { eventSourceMappings, type LocalMessaging } from './resources';
import { type SqsHandler, type SqsPoller, type SqsPollerStats, startSqsPoller } from './sqs-poller';
import type { CfnTemplate } from './synth';

/** Options of {@link startConsumers}. */
export interface StartConsumersOptions {
  readonly template: CfnTemplate;
  readonly messaging: LocalMessaging;
  /** Clients aimed at moto. */
  readonly sqs: SQSClient;
  readonly ses: SESv2Client;
  /** Progress lines; silent when absent. */
  readonly log?: (line: string) => void;
}

/** The running consumers. */
export interface LocalConsumers {
  /** Queue URLs of each consumer (by handler name): its queue and its dead-letter queue. */
  readonly queues: ReadonlyMap<string, { readonly queueUrl: string; readonly deadLetterQueueUrl?: string }>;
  stats(): Record<string, SqsPollerStats>;
  /** Resolves when every consumer queue was polled empty with nothing running. */
  idle(): Promise<void>;
  stop(): Promise<void>;
}

const HANDLER_NAME_PATTERN = /^[a-z][a-z0-9-]*$/;
/** Set by the runtime or per function by Lambda itself; never copied from one function to the process. */
const PROCESS_VARIABLES = /^(POWERTOOLS_|NODE_OPTIONS$|AWS_)/;

function record(value: unknown): Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value)
    ? (value as Record<string, unknown>)
    : {};
}

/** Starts one SQS poller per consumer queue of the template. */
export async function startConsumers(options: StartConsumersOptions): Promise<LocalConsumers> {
  const log = options.log ?? (() => undefined);
  const pollers = new Map<string, SqsPoller>();
  const queues = new Map<string, { queueUrl: string; deadLetterQueueUrl?: string }>();
  const stopAll = async () => {
    await Promise.all([...pollers.values()].map((poller) => poller.stop()));
  };
  try {
    for (const mapping of eventSourceMappings(options.template)) {
      const queue = mapping.eventSourceLogicalId
        ? options.messaging.queues.get(mapping.eventSourceLogicalId)
        : undefined;
      if (!queue || !mapping.functionLogicalId) continue;
      const fn = options.template.Resources[mapping.functionLogicalId];
      const handlerName = record(fn?.Metadata)[HANDLER_METADATA_KEY];
      if (typeof handlerName !== 'string' || !HANDLER_NAME_PATTERN.test(handlerName)) {
        log(`queue ${queue.name}: its function has no ${HANDLER_METADATA_KEY} metadata; not run locally`);
        continue;
      }
      const variables = record(record(record(fn?.Properties).Environment).Variables);
      for (const [name, value] of Object.entries(variables)) {
        if (typeof value !== 'string' || PROCESS_VARIABLES.test(name)) continue;
        process.env[name] = value;
        if (name === MAIL_FROM_ENV) {
          await options.ses.send(new CreateEmailIdentityCommand({ EmailIdentity: value }));
          log(`${handlerName}: ${value} is a verified SES identity in moto`);
        }
      }
      const module = (await import(
        new URL(`../lambdas/handlers/${handlerName}.ts`, import.meta.url).href
      )) as {
        handler: SqsHandler;
      };
      const redrive = record(
        record(options.template.Resources[mapping.eventSourceLogicalId ?? '']?.Properties).RedrivePolicy,
      );
      const deadLetterId = record(redrive.deadLetterTargetArn)['Fn::GetAtt'];
      const deadLetterQueue = Array.isArray(deadLetterId)
        ? options.messaging.queues.get(String(deadLetterId[0]))
        : undefined;
      const timeout = Number(record(fn?.Properties).Timeout ?? 3);
      pollers.set(
        handlerName,
        startSqsPoller({
          sqs: options.sqs,
          queueUrl: queue.url,
          queueArn: queue.arn,
          handler: module.handler,
          ...(mapping.properties.BatchSize === undefined
            ? {}
            : { BatchSize: Math.min(mapping.properties.BatchSize, 10) }),
          ...(mapping.properties.FunctionResponseTypes
            ? { FunctionResponseTypes: mapping.properties.FunctionResponseTypes }
            : {}),
          functionName: handlerName,
          functionTimeoutMs: timeout * 1000,
          logger: (line) => log(`sqs poller: ${line}`),
        }),
      );
      queues.set(handlerName, {
        queueUrl: queue.url,
        ...(deadLetterQueue ? { deadLetterQueueUrl: deadLetterQueue.url } : {}),
      });
      log(`consumer ${handlerName} attached to queue ${queue.name}`);
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
