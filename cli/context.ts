/**
 * What every command is given: its parsed options, the target and its
 * clients, a clock, and the two output streams. stdout carries only the
 * result (a table or one JSON document); everything else (progress,
 * warnings, the library's log lines) goes to stderr.
 */
import type { RelayLogger } from '../lambdas/outbox';
import type { GlobalOptions } from './args';
import { isAccessProblem } from './errors';
import { createProgress, type Progress, type Writer } from './progress';
import type { Clients, Target } from './target';

/** Everything a command runs with. */
export interface CommandContext {
  readonly global: GlobalOptions;
  readonly target: Target;
  readonly clients: Clients;
  readonly now: () => Date;
  readonly stdout: Writer;
  readonly stderr: Writer;
  /** Aborted on Ctrl-C: reads stop, republishing stops starting calls and still marks. */
  readonly signal: AbortSignal;
  /** A progress bar on stderr, drawn only when enabled. */
  progress(label: string): Progress;
  /** A warning on stderr (above the progress bar, if one is drawn). */
  warn(line: string): void;
  /** The library's logger, writing readable lines to stderr. */
  readonly logger: RelayLogger;
}

/** Writes the result: one JSON document (`--json`), or text. */
export function printResult(
  context: Pick<CommandContext, 'global' | 'stdout'>,
  json: unknown,
  text: string,
): void {
  if (context.global.json) context.stdout.write(`${JSON.stringify(json, null, 2)}\n`);
  else context.stdout.write(text.endsWith('\n') ? text : `${text}\n`);
}

/** Whether progress bars are drawn: forced by --progress / --no-progress, else when stderr is a terminal. */
export function progressEnabled(global: GlobalOptions, stderr: Writer): boolean {
  return global.progress ?? stderr.isTTY === true;
}

/** Context fields built from the streams alone. */
export function streamsContext(
  global: GlobalOptions,
  stderr: Writer,
): Pick<CommandContext, 'progress' | 'warn' | 'logger'> {
  const enabled = progressEnabled(global, stderr);
  let current: Progress | undefined;
  const warn = (line: string) => {
    if (current) current.note(line);
    else stderr.write(`${line}\n`);
  };
  const log =
    (level: string, shown: boolean) =>
    (input: unknown, ...extra: unknown[]): void => {
      if (!shown) return;
      warn(`${level}: ${describeLog(input, extra)}`);
    };
  return {
    progress(label) {
      const progress = createProgress(stderr, label, enabled);
      current = progress;
      return {
        update: (done, total, detail) => progress.update(done, total, detail),
        note: (line) => progress.note(line),
        finish: () => {
          progress.finish();
          if (current === progress) current = undefined;
        },
      };
    },
    warn,
    logger: {
      debug: log('debug', global.verbose),
      info: log('info', global.verbose),
      warn: log('warning', true),
      error: log('error', true),
    },
  };
}

/** A log call as one readable line: the message, then its attributes; errors as `Name: message`. */
function describeLog(input: unknown, extra: readonly unknown[]): string {
  const message = typeof input === 'string' ? input : JSON.stringify(input);
  const attributes = extra.map((item) => JSON.stringify(item, (_key, value) => plain(value))).join(' ');
  const access = extra.some(
    (item) =>
      typeof item === 'object' && item !== null && isAccessProblem((item as { error?: unknown }).error),
  );
  const hint = access ? ' (an IAM permission is missing: see the README, Operator CLI)' : '';
  return `${message}${attributes ? ` ${attributes}` : ''}${hint}`;
}

function plain(value: unknown): unknown {
  if (value instanceof Error) return `${value.name}: ${value.message}`;
  if (typeof value === 'bigint') return value.toString();
  return value;
}
