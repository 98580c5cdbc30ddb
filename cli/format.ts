/**
 * Text the operator reads: durations in and out, counts, and aligned tables.
 * Nothing here writes anywhere; commands decide where the text goes.
 */

/** Seconds per duration unit accepted on the command line. */
const UNIT_SECONDS: Readonly<Record<string, number>> = { s: 1, m: 60, h: 3600, d: 86_400 };
const DURATION_PATTERN = /^(?:\d+[smhd])+$/;
const DURATION_PART = /(\d+)([smhd])/g;

/**
 * Parses a duration such as `30s`, `5m`, `2h`, `1d` or `1h30m` into seconds;
 * `0` alone means no time at all. Undefined for anything else (a bare number
 * other than 0 is refused: seconds or minutes would be a guess).
 */
export function parseDuration(text: string): number | undefined {
  const trimmed = text.trim().toLowerCase();
  if (trimmed === '0') return 0;
  if (!DURATION_PATTERN.test(trimmed)) return undefined;
  let seconds = 0;
  for (const [, amount, unit] of trimmed.matchAll(DURATION_PART)) {
    seconds += Number(amount) * (UNIT_SECONDS[unit ?? 's'] ?? 1);
  }
  return Number.isSafeInteger(seconds) ? seconds : undefined;
}

/**
 * A duration for people, two units at most: `42s`, `4m 05s`, `2h 03m`,
 * `3d 04h`. Fractions of a second are dropped.
 */
export function formatDuration(totalSeconds: number): string {
  const seconds = Math.max(0, Math.floor(totalSeconds));
  const days = Math.floor(seconds / 86_400);
  const hours = Math.floor((seconds % 86_400) / 3600);
  const minutes = Math.floor((seconds % 3600) / 60);
  const rest = seconds % 60;
  const pad = (value: number) => String(value).padStart(2, '0');
  if (days > 0) return `${days}d ${pad(hours)}h`;
  if (hours > 0) return `${hours}h ${pad(minutes)}m`;
  if (minutes > 0) return `${minutes}m ${pad(rest)}s`;
  return `${rest}s`;
}

/** A count with thousands separators: `12,345`. */
export function formatCount(value: number): string {
  return value.toLocaleString('en-US');
}

/** Cuts `text` to `width` characters, marking the cut with an ellipsis. */
export function truncate(text: string, width: number): string {
  if (width < 1) return '';
  const flat = text.replace(/\s+/g, ' ');
  return flat.length <= width ? flat : `${flat.slice(0, Math.max(0, width - 1))}…`;
}

/** One column of a table. */
export interface Column<Row> {
  readonly header: string;
  readonly value: (row: Row) => string | number;
  /** Numbers align right by default, text left. */
  readonly align?: 'left' | 'right';
  /** Longest cell; longer text is truncated. @default no limit */
  readonly maxWidth?: number;
}

/**
 * An aligned plain-text table: a header line, then one line per row, columns
 * two spaces apart, no trailing spaces. Numbers are formatted as counts.
 */
export function formatTable<Row>(columns: readonly Column<Row>[], rows: readonly Row[]): string {
  const cells = rows.map((row) =>
    columns.map((column) => {
      const value = column.value(row);
      const text = typeof value === 'number' ? formatCount(value) : value;
      return column.maxWidth === undefined ? text : truncate(text, column.maxWidth);
    }),
  );
  const widths = columns.map((column, index) =>
    Math.max(column.header.length, ...cells.map((line) => (line[index] ?? '').length)),
  );
  const aligns = columns.map(
    (column) =>
      column.align ??
      (rows.length > 0 && typeof column.value(rows[0] as Row) === 'number' ? 'right' : 'left'),
  );
  const render = (line: readonly string[]) =>
    line
      .map((cell, index) => {
        const width = widths[index] ?? 0;
        return aligns[index] === 'right' ? cell.padStart(width) : cell.padEnd(width);
      })
      .join('  ')
      .trimEnd();
  return [render(columns.map((column) => column.header)), ...cells.map(render)].join('\n');
}

/** `key  value` lines with the keys padded to one width. */
export function formatPairs(pairs: ReadonlyArray<readonly [string, string | number]>): string {
  const width = Math.max(0, ...pairs.map(([key]) => key.length));
  return pairs
    .map(([key, value]) => `${key.padEnd(width)}  ${typeof value === 'number' ? formatCount(value) : value}`)
    .join('\n');
}
