import { fileURLToPath } from 'node:url';
import { defineConfig } from 'vitest/config';

/**
 * The localstack target (`npm run test:localstack` runs it after deploying):
 * the e2e suite body every target shares, plus the checks only a real
 * LocalStack can answer (`test/e2e/localstack-*.spec.ts`; the `e2e` project of
 * the root config runs `*.test.ts` only, so `npm test` never reaches them).
 * No global setup: the deployed stack is the target. The relay check needs
 * host mode's fault proxy and invocation journal, so container mode leaves it out.
 */
const hostMode = process.env.E2E_LOCALSTACK_MODE !== 'container';

export default defineConfig({
  root: fileURLToPath(new URL('..', import.meta.url)),
  test: {
    name: 'localstack',
    include: [
      'test/e2e/localstack-deploy.spec.ts',
      'test/e2e/outbox.e2e.test.ts',
      'test/e2e/consumers.e2e.test.ts',
      ...(hostMode ? ['test/e2e/localstack-relay.spec.ts'] : []),
    ],
    // The AWS SDK reads the endpoint, region and credentials from the environment the script sets.
    env: {
      POWERTOOLS_DEV: 'false',
      POWERTOOLS_LOG_LEVEL: 'SILENT',
      POWERTOOLS_METRICS_DISABLED: 'true',
      POWERTOOLS_TRACE_ENABLED: 'false',
    },
    testTimeout: 180_000,
    // The consumers' hook may wait out a deferred message's visibility timeout (about a minute) twice.
    hookTimeout: 300_000,
    // One stack, one tap queue: files run one after another, in the order above.
    fileParallelism: false,
    sequence: { shuffle: false },
  },
});
