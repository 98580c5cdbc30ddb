/**
 * `npm start`'s terminal: one readable line per step of an event, and the
 * functions' JSON log lines kept in one file per function. Event data is
 * untrusted: control characters are shown escaped, so no event can move the
 * cursor or recolour the terminal.
 */
import { createWriteStream, mkdirSync, type WriteStream } from 'node:fs';
import { join } from 'node:path';
import type { FlowEntry } from './event-feed';
import type { LocalFunctionDefinition } from './resources';

/** Longest reason shown on one line; the full text is in the function's log. */
const MAX_REASON = 160;
const STAGE_WIDTH = 13;
const TYPE_WIDTH = 22;

/** Shows a value on one line: control characters (ANSI escapes, newlines) escaped. */
export function printable(value: unknown): string {
  // biome-ignore lint/suspicious/noControlCharactersInRegex: matching control characters is the point.
  return String(value ?? '').replace(/[\u0000-\u001f\u007f-\u009f\u2028\u2029]/g, (char) => {
    return `\\u${char.charCodeAt(0).toString(16).padStart(4, '0')}`;
  });
}

function duration(ms: number): string {
  return ms < 1000 ? `${ms} ms` : `${(ms / 1000).toFixed(2)} s`;
}

function clip(text: string, width: number): string {
  return text.length > width ? `${text.slice(0, width - 1)}…` : text;
}

function detail(entry: FlowEntry): string {
  const after = entry.latencyMs === undefined ? '' : `${duration(entry.latencyMs)} after commit`;
  const again = entry.count > 1 ? `, ${entry.count}${ordinal(entry.count)} time (duplicate)` : '';
  switch (entry.stage) {
    case 'committed':
      return entry.correlationId ? `request ${printable(entry.correlationId)}` : '';
    case 'published':
      return `${entry.by === 'republish' ? 'republished' : 'relay'}${after ? `, ${after}` : ''}${again}`;
    case 'parked':
      return `poison: ${clip(printable(entry.reason), MAX_REASON)}`;
    case 'pending':
      return 'still pending; the stream delivers it again';
    case 'delivered':
      return `-> ${printable(entry.consumer)}${after ? `, ${after}` : ''}${again}`;
    case 'retried':
      return `-> ${printable(entry.consumer)} failed, attempt ${entry.attempt ?? '?'}${
        entry.maxAttempts ? ` of ${entry.maxAttempts}` : ''
      }: ${clip(printable(entry.reason), MAX_REASON)}`;
    case 'dead-lettered':
      return `-> ${printable(entry.consumer)} failed its last attempt (${entry.attempt ?? '?'}): to the DLQ`;
  }
}

function ordinal(n: number): string {
  if (n % 100 >= 11 && n % 100 <= 13) return 'th';
  return ['th', 'st', 'nd', 'rd'][n % 10] ?? 'th';
}

/**
 * One line for a step: time, step, event type, aggregate and sequence, and
 * what happened, e.g.
 * `10:42:07.113 published     MemberRegistered       Member 01K… #1  relay, 1.04 s after commit`.
 */
export function formatFlowLine(entry: FlowEntry): string {
  const at = entry.at.slice(11, 23);
  const aggregate =
    entry.aggregateId === undefined
      ? printable(entry.eventId)
      : `${printable(entry.aggregateType ?? '')} ${printable(entry.aggregateId)} #${entry.sequence ?? '?'}`;
  const type = clip(printable(entry.eventType ?? '(undecodable)'), TYPE_WIDTH);
  const rest = detail(entry);
  return `${at} ${entry.stage.padEnd(STAGE_WIDTH)} ${type.padEnd(TYPE_WIDTH)} ${aggregate}${rest ? `  ${rest}` : ''}`;
}

/** The functions' log files: `<dir>/<handler>.log`, one per function, started afresh on each run. */
export class FunctionLogFiles {
  private readonly files = new Map<string, WriteStream>();

  constructor(private readonly dir: string) {
    mkdirSync(dir, { recursive: true });
  }

  /** Starts an empty file for each function, so every function's log is where the banner says. */
  open(functions: readonly LocalFunctionDefinition[]): void {
    for (const fn of functions) this.stream(fn);
  }

  /** The file a function's lines go to. */
  fileOf(fn: LocalFunctionDefinition): string {
    return join(this.dir, `${fn.handlerName}.log`);
  }

  /** Appends one line of a function's output. */
  write(fn: LocalFunctionDefinition, line: string): void {
    this.stream(fn).write(`${line}\n`);
  }

  private stream(fn: LocalFunctionDefinition): WriteStream {
    let file = this.files.get(fn.handlerName);
    if (!file) {
      file = createWriteStream(this.fileOf(fn), { flags: 'w' });
      this.files.set(fn.handlerName, file);
    }
    return file;
  }

  /** Flushes and closes every file. */
  async close(): Promise<void> {
    await Promise.all(
      [...this.files.values()].map((file) => new Promise<void>((resolve) => file.end(() => resolve()))),
    );
    this.files.clear();
  }
}
