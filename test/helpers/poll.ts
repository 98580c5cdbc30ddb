/** Waiting for an asynchronous outcome: poll with a deadline, never a fixed sleep. */
import { setTimeout as delay } from 'node:timers/promises';

export interface PollOptions {
  /** Give up after this long. */
  readonly timeoutMs: number;
  /** Pause between attempts; 0 when the check itself waits (a long poll). */
  readonly intervalMs?: number;
  /** What is awaited, for the timeout message. */
  readonly what: string;
}

/** Calls `check` until it returns true; throws with `what` when the deadline passes first. */
export async function pollUntil(
  check: () => Promise<boolean> | boolean,
  options: PollOptions,
): Promise<void> {
  const deadline = Date.now() + options.timeoutMs;
  for (;;) {
    if (await check()) return;
    if (Date.now() > deadline)
      throw new Error(`timed out after ${options.timeoutMs} ms waiting for ${options.what}`);
    if ((options.intervalMs ?? 100) > 0) await delay(options.intervalMs ?? 100);
  }
}
