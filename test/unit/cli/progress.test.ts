import { describe, expect, it } from 'vitest';
import { createProgress, renderBar } from '../../../cli/progress';

/** What the bar writes first to redraw its line. */
const CLEAR = '\r\u001b[2K';

function buffer(isTTY = true) {
  const writes: string[] = [];
  return { writes, stream: { isTTY, columns: 200, write: (text: string) => writes.push(text) } };
}

describe('renderBar', () => {
  it('shows a bar, percentage and counts with a total', () => {
    expect(renderBar('scan', 512, 1024, 'items')).toBe(
      `scan [${'#'.repeat(12)}${'-'.repeat(12)}]  50%  512/1,024 items`,
    );
  });

  it('shows a count without a total, and never 100 % before the end', () => {
    expect(renderBar('scan', 42)).toBe('scan  42');
    expect(renderBar('scan', 2000, 1000)).toContain(' 99%  2,000/2,000');
  });
});

describe('createProgress', () => {
  it('draws nothing when disabled, but still passes notes through', () => {
    const { writes, stream } = buffer(false);
    const progress = createProgress(stream, 'scan', false);

    progress.update(5, 10);
    progress.note('warning: x');
    progress.finish();

    expect(writes).toEqual(['warning: x\n']);
  });

  it('redraws one line in place, at most every 100 ms, and erases it at the end', () => {
    const { writes, stream } = buffer();
    let now = 0;
    const progress = createProgress(stream, 'scan', true, () => now);

    progress.update(1, 10);
    now = 50;
    progress.update(2, 10);
    now = 150;
    progress.update(3, 10);
    progress.finish();

    expect(writes).toHaveLength(3);
    expect(writes[0]?.startsWith(`${CLEAR}scan [`)).toBe(true);
    expect(writes[0]).toMatch(/\]\s+10%\s+1\/10$/);
    expect(writes[1]).toMatch(/30%\s+3\/10$/);
    expect(writes[2]).toBe(CLEAR);
    expect(writes.join('')).not.toContain('\n');
  });

  it('writes a note on its own line and draws the bar again below it', () => {
    const { writes, stream } = buffer();
    const progress = createProgress(stream, 'scan', true, () => 0);

    progress.update(1, 10);
    progress.note('warning: slow');

    expect(writes.slice(1)).toEqual([CLEAR, 'warning: slow\n', `${CLEAR}${renderBar('scan', 1, 10)}`]);
  });
});
