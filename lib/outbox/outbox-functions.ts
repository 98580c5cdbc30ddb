/**
 * The outbox's own Lambda entry points (lambdas/outbox/functions/), which its
 * constructs bundle: they import only the runtime library and its packages.
 */
import { fileURLToPath } from 'node:url';

/** Entry file of each function the outbox deploys itself. */
export const OUTBOX_FUNCTION_ENTRIES = {
  /** The stream-triggered relay (`OutboxRelay`). */
  relay: fileURLToPath(new URL('../../lambdas/outbox/functions/relay.ts', import.meta.url)),
  /** The scheduled sweeper (`OutboxSweeper`). */
  sweeper: fileURLToPath(new URL('../../lambdas/outbox/functions/sweeper.ts', import.meta.url)),
} as const;
