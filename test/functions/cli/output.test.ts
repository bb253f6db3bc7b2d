import { describe, expect, it } from 'vitest';
import {
  coarse,
  formatRelative,
  formatSpan,
  formatTime,
  formatTimeFrom,
  renderFields,
  renderTable,
} from '../../../functions/cli/output.js';

interface Row {
  id: string;
  count: number;
}

const columns = [
  { header: 'ID', value: (row: Row) => row.id },
  { header: 'COUNT', value: (row: Row) => String(row.count), align: 'right' as const },
];

describe('renderTable', () => {
  it('aligns columns two spaces apart, numbers to the right, with no trailing spaces', () => {
    expect(
      renderTable(columns, [
        { id: 'race-974559', count: 7 },
        { id: 'nightly', count: 1200 },
      ]),
    ).toBe(
      [
        'ID           COUNT', //
        'race-974559      7',
        'nightly       1200',
      ].join('\n'),
    );
  });

  it('prints only the header for no rows', () => {
    expect(renderTable(columns, [])).toBe('ID  COUNT');
  });

  it('cuts long values with an ellipsis and keeps each row on one line', () => {
    const table = renderTable(
      [{ header: 'ERROR', value: (row: { error: string }) => row.error, maxWidth: 10 }],
      [{ error: 'HTTP 503\nService Unavailable' }],
    );
    expect(table.split('\n')).toEqual(['ERROR', 'HTTP 503…']);
  });

  it('counts an accented letter written as two code points as one column', () => {
    const decomposed = 'Zu\u0308rich'; // "Zürich" with a combining diaeresis
    const table = renderTable(
      [
        { header: 'NAME', value: (row: { name: string }) => row.name },
        { header: 'X', value: () => 'x' },
      ],
      [{ name: decomposed }, { name: 'Bern' }],
    );
    expect(table.split('\n')).toEqual(['NAME    X', `${decomposed}  x`, 'Bern    x']);
  });
});

describe('renderFields', () => {
  it('aligns values after their labels and leaves out fields without a value', () => {
    expect(
      renderFields([
        ['id', 'nightly'],
        ['in flight', null],
        ['next due', 'tomorrow'],
      ]),
    ).toBe(['id:        nightly', 'next due:  tomorrow'].join('\n'));
  });
});

describe('times and spans', () => {
  const now = Date.parse('2026-06-20T08:30:00Z');

  it('writes times in UTC to the second', () => {
    expect(formatTime('2026-06-20T08:30:05.123Z')).toBe('2026-06-20 08:30:05Z');
    expect(formatTime(null)).toBe('-');
  });

  it('says how far a time is from now in its largest whole unit', () => {
    expect(formatRelative(now + 4 * 60_000 + 59_000, now)).toBe('in 4m');
    expect(formatRelative(now - 12_000, now)).toBe('12s ago');
    expect(formatRelative(now - 36 * 3_600_000, now)).toBe('1d ago');
    expect(formatRelative(now + 400, now)).toBe('now');
    expect(formatTimeFrom('2026-06-20T10:30:00.000Z', now)).toBe('2026-06-20 10:30:00Z (in 2h)');
  });

  it('writes measured spans with the precision they need', () => {
    expect(formatSpan(850)).toBe('850ms');
    expect(formatSpan(12_345)).toBe('12.3s');
    expect(formatSpan(4 * 60_000 + 10_000)).toBe('4m');
    expect(formatSpan(null)).toBe('-');
    expect(coarse(90_000)).toBe('1m');
  });
});
