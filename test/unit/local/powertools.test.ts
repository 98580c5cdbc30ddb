import { Metrics } from '@aws-lambda-powertools/metrics';
import { describe, expect, it, vi } from 'vitest';
import { QuietMetrics as OutboxQuietMetrics } from '../../../lambdas/outbox/functions/powertools';
import { QuietMetrics as SampleQuietMetrics } from '../../../lambdas/sample/shared/powertools';

function recordingLogger() {
  return { debug: vi.fn(), info: vi.fn(), warn: vi.fn(), error: vi.fn() };
}

// The outbox's functions and the sample's each have their own (neither imports the other).
describe.each([
  ['outbox functions', OutboxQuietMetrics],
  ['sample', SampleQuietMetrics],
])('QuietMetrics of the %s', (_owner, QuietMetrics) => {
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
