/**
 * Powertools for AWS Lambda of the outbox's own functions, configured once
 * per execution environment. Service name and namespace come from
 * POWERTOOLS_SERVICE_NAME and POWERTOOLS_METRICS_NAMESPACE, which
 * `ServiceFunction` sets (and the local runtime gives each function from the
 * same template).
 */
import { Logger } from '@aws-lambda-powertools/logger';
import { Metrics } from '@aws-lambda-powertools/metrics';
import { Tracer } from '@aws-lambda-powertools/tracer';

/**
 * Metrics that publish nothing, silently, when an invocation recorded none.
 * Powertools' `publishStoredMetrics` warns "No application metrics to
 * publish" on every such call (metrics/lib/esm/Metrics.js), which a handler
 * that publishes in a `finally` makes once per quiet invocation: noise in
 * every log, and nothing would have been published anyway.
 */
export class QuietMetrics extends Metrics {
  /** Publishes the stored metrics; with none stored, only clears the dimensions added since. */
  override publishStoredMetrics(): this {
    if (!this.hasStoredMetrics()) {
      this.clearDimensions();
      return this;
    }
    return super.publishStoredMetrics();
  }
}

/** The function's logger: JSON lines with its service name and, after `addContext`, its function name. */
export const logger = new Logger();
/** The function's metrics (CloudWatch EMF in its log). */
export const metrics = new QuietMetrics({ defaultDimensions: {} });
/** The function's tracer (X-Ray); off where POWERTOOLS_TRACE_ENABLED is false. */
export const tracer = new Tracer();
