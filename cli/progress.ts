/**
 * A one-line progress bar on stderr for long scans. It is drawn only when
 * enabled (stderr is a terminal, or `--progress`), never touches stdout, and
 * erases itself before any other line is written to stderr and when it ends,
 * so tables and JSON on stdout stay clean and logs stay readable.
 */
import { formatCount } from './format';

/** Where text goes: `process.stdout`, `process.stderr`, or a test's buffer. */
export interface Writer {
  write(text: string): unknown;
  readonly isTTY?: boolean;
  readonly columns?: number;
}

/** A progress bar for one piece of work. */
export interface Progress {
  /** Reports the work done so far, and the total when known (an estimate is fine). */
  update(done: number, total?: number, detail?: string): void;
  /** Writes a line to stderr above the bar. */
  note(line: string): void;
  /** Erases the bar; call once, when the work ends (or fails). */
  finish(): void;
}

/** Redraws at most this often; a terminal does not need more. */
const REDRAW_INTERVAL_MS = 100;
const BAR_WIDTH = 24;
/** Moves to the start of the line and erases it. */
const CLEAR_LINE = '\r\u001b[2K';

/** A progress bar that draws nothing: for stderr that is not a terminal, and for tests. */
export function silentProgress(stderr: Writer): Progress {
  return { update: () => undefined, note: (line) => void stderr.write(`${line}\n`), finish: () => undefined };
}

/**
 * A progress bar labelled `label` on `stderr`, or a silent one when not
 * `enabled`. `clock` returns milliseconds (injected by tests).
 */
export function createProgress(
  stderr: Writer,
  label: string,
  enabled: boolean,
  clock: () => number = () => performance.now(),
): Progress {
  if (!enabled) return silentProgress(stderr);
  let drawn = false;
  let lastDraw = Number.NEGATIVE_INFINITY;
  let state: { done: number; total?: number; detail?: string } = { done: 0 };
  const draw = () => {
    lastDraw = clock();
    const line = renderBar(label, state.done, state.total, state.detail);
    const width = stderr.columns && stderr.columns > 10 ? stderr.columns - 1 : line.length;
    stderr.write(`${CLEAR_LINE}${line.slice(0, width)}`);
    drawn = true;
  };
  const clear = () => {
    if (drawn) stderr.write(CLEAR_LINE);
    drawn = false;
  };
  return {
    update(done, total, detail) {
      state = {
        done,
        ...(total === undefined ? {} : { total }),
        ...(detail === undefined ? {} : { detail }),
      };
      if (clock() - lastDraw >= REDRAW_INTERVAL_MS) draw();
    },
    note(line) {
      clear();
      stderr.write(`${line}\n`);
      draw();
    },
    finish() {
      clear();
    },
  };
}

/**
 * The bar's text: `label [#####-----]  52%  1,024/1,970 detail` with a total,
 * `label  1,024 detail` without one. Done beyond an estimated total shows 99 %
 * until the work ends.
 */
export function renderBar(label: string, done: number, total?: number, detail?: string): string {
  const suffix = detail ? ` ${detail}` : '';
  if (total === undefined || total <= 0) return `${label}  ${formatCount(done)}${suffix}`;
  const ratio = Math.min(done / total, 0.99);
  const filled = Math.round(ratio * BAR_WIDTH);
  const bar = `${'#'.repeat(filled)}${'-'.repeat(BAR_WIDTH - filled)}`;
  const percent = `${Math.floor(ratio * 100)}%`.padStart(4);
  return `${label} [${bar}] ${percent}  ${formatCount(done)}/${formatCount(Math.max(total, done))}${suffix}`;
}
