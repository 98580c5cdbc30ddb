import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { formatDuration, formatPairs, formatTable, parseDuration, truncate } from '../../../cli/format';

describe('parseDuration', () => {
  it.each([
    ['0', 0],
    ['30s', 30],
    ['5m', 300],
    ['2h', 7200],
    ['1d', 86_400],
    ['1h30m', 5400],
    [' 10M ', 600],
  ])('reads %j as %d seconds', (text, seconds) => {
    expect(parseDuration(text)).toBe(seconds);
  });

  it.each(['', '5', '-5m', '1.5h', '5 m', 'm5', '5w', 'soon', '0s0'])('refuses %j', (text) => {
    expect(parseDuration(text)).toBeUndefined();
  });

  it('reads back what it is given as a sum of units', () => {
    fc.assert(
      fc.property(
        fc.nat(30),
        fc.nat(23),
        fc.nat(59),
        fc.nat(59),
        (days, hours, minutes, seconds) =>
          parseDuration(`${days}d${hours}h${minutes}m${seconds}s`) ===
          days * 86_400 + hours * 3600 + minutes * 60 + seconds,
      ),
    );
  });
});

describe('formatDuration', () => {
  it.each([
    [0, '0s'],
    [42.9, '42s'],
    [245, '4m 05s'],
    [7380, '2h 03m'],
    [273_600, '3d 04h'],
    [-5, '0s'],
  ])('shows %d seconds as %j', (seconds, text) => {
    expect(formatDuration(seconds)).toBe(text);
  });
});

describe('formatTable', () => {
  it('aligns columns two spaces apart, numbers right, with no trailing spaces', () => {
    const rows = [
      { name: 'alpha', count: 5, note: '' },
      { name: 'b', count: 12_345, note: 'long note here' },
    ];

    const text = formatTable(
      [
        { header: 'NAME', value: (row) => row.name },
        { header: 'COUNT', value: (row) => row.count },
        { header: 'NOTE', value: (row) => row.note, maxWidth: 8 },
      ],
      rows,
    );

    expect(text.split('\n')).toEqual(['NAME    COUNT  NOTE', 'alpha       5', 'b      12,345  long no…']);
  });

  it('prints only the header for no rows', () => {
    expect(formatTable([{ header: 'A', value: () => 'x' }], [])).toBe('A');
  });
});

describe('truncate and formatPairs', () => {
  it('flattens whitespace and cuts with an ellipsis', () => {
    expect(truncate('a\n  b', 10)).toBe('a b');
    expect(truncate('abcdef', 4)).toBe('abc…');
  });

  it('pads keys to one width and formats counts', () => {
    expect(
      formatPairs([
        ['a', 1000],
        ['longer', 'x'],
      ]),
    ).toBe('a       1,000\nlonger  x');
  });
});
