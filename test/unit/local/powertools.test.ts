import { Metrics } from '@aws-lambda-powertools/metrics';
import { describe, expect, it, vi } from 'vitest';
import { QuietMetrics } from '../../../lambdas/shared/powertools';

function recordingLogger() {
  return { debug: vi.fn(), info: vi.fn(), warn: vi.fn(), error: vi.fn() };
}

describe('QuietMetrics', () => {
  it('publishes an invocation without metrics silently, where Powertools warns', () => {
    const quietLogger = recordingLogger();
    const plainLogger = recordingLogger();
    const quiet = new QuietMetrics({ namespace: 'Outbox', logger: quietLogger });
    const plain = new Metrics({ namespace: 'Outbox', logger: plainLogger });

    quiet.publishStoredMetrics();
    plain.publishStoredMetrics();

    expect(quietLogger.warn).not.toHaveBeenCalled();
    expect(plainLogger.warn).toHaveBeenCalledWith(expect.stringMatching(/No application metrics to publish/));
  });

  it('still publishes and clears stored metrics', () => {
    const metrics = new QuietMetrics({ namespace: 'Outbox', logger: recordingLogger() });
    metrics.addMetric('EventsPublished', 'Count', 1);

    metrics.publishStoredMetrics();

    expect(metrics.hasStoredMetrics()).toBe(false);
  });
});
