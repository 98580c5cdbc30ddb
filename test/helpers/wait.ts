/** Waiting for an asynchronous outcome in a test: poll with a deadline, never a fixed sleep. */
import { pollUntil } from './poll';

/** How often {@link waitFor} checks; short, since the checks are cheap in-memory reads. */
const WAIT_INTERVAL_MS = 20;

/**
 * Resolves once `condition` returns true; rejects when `timeoutMs` passes
 * first, naming `what` was awaited.
 */
export function waitFor(
  condition: () => boolean | Promise<boolean>,
  timeoutMs: number,
  what = 'a condition',
): Promise<void> {
  return pollUntil(condition, { timeoutMs, intervalMs: WAIT_INTERVAL_MS, what });
}

/** Resolves or rejects as `promise` does, or rejects when `timeoutMs` passes first. */
export async function withDeadline<T>(promise: Promise<T>, timeoutMs: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const deadline = new Promise<never>((_resolve, reject) => {
    timer = setTimeout(
      () => reject(new Error(`timed out after ${timeoutMs} ms waiting for ${what}`)),
      timeoutMs,
    );
  });
  try {
    return await Promise.race([promise, deadline]);
  } finally {
    clearTimeout(timer);
  }
}
