/**
 * The library's own logger and metrics, used when a caller passes none, so
 * the library needs nothing from the service that embeds it.
 *
 * The logger is a Powertools `Logger` of its own (service `outbox`): what the
 * relay and sweeper warn about (a parked event, a mark that did not happen)
 * must reach the log even when the caller forgot to pass its logger.
 * Metrics are silent by default: Powertools metrics are written as EMF only
 * when their owner publishes them at the end of an invocation, and only the
 * handler knows when that is, so a library that published on its own would
 * write half an invocation's figures or fight the handler's flush. Pass the
 * handler's `Metrics` to get them.
 */
import { Logger } from '@aws-lambda-powertools/logger';
import type { Metrics } from '@aws-lambda-powertools/metrics';

/** The logger methods the library uses; a Powertools `Logger` fits. */
export type OutboxLogger = Pick<Logger, 'debug' | 'info' | 'warn' | 'error'>;
/** The metrics method the library uses; a Powertools `Metrics` fits. */
export type OutboxMetrics = Pick<Metrics, 'addMetric'>;

/** Service name of the library's default logger. */
export const OUTBOX_SERVICE_NAME = 'outbox';

let defaultLogger: OutboxLogger | undefined;

/** The library's default logger: created on first use, one per process. */
export function outboxLogger(): OutboxLogger {
  defaultLogger ??= new Logger({ serviceName: OUTBOX_SERVICE_NAME });
  return defaultLogger;
}

/** Metrics that record nothing: the default when the caller passes no `Metrics`. */
export const SILENT_METRICS: OutboxMetrics = {
  addMetric(this: Metrics) {
    return this;
  },
};
