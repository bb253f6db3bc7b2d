/**
 * Human output: aligned plain-text tables and `label: value` blocks, and the way times read in
 * them. Pure string functions; the commands' `--json` output never goes through here.
 *
 * The table has no borders and no colour on purpose: it stays readable in a log and splits
 * cleanly with `awk` and `cut`. Widths count graphemes (what a person sees as one character),
 * which is right for Latin, Greek and Cyrillic names, accents included; East Asian wide
 * characters and emoji take two columns in a terminal and would misalign a column (the data is
 * still correct).
 */
export interface Column<Row> {
  header: string;
  value: (row: Row) => string;
  /** Numbers read better right-aligned. */
  align?: 'left' | 'right';
  /** Longer values are cut to this many characters, ending in `…`. */
  maxWidth?: number;
}

/** Shown in a cell that has no value. */
export const NONE = '-';

/**
 * Renders rows as a table: a header line, then one line per row, columns separated by two
 * spaces, no trailing spaces. Line breaks and tabs inside a value become spaces.
 */
export function renderTable<Row>(columns: readonly Column<Row>[], rows: readonly Row[]): string {
  const cells = rows.map((row) =>
    columns.map((column) => fit(oneLine(column.value(row)), column.maxWidth)),
  );
  const widths = columns.map((column, index) =>
    Math.max(width(column.header), ...cells.map((line) => width(line[index] ?? ''))),
  );
  const renderLine = (values: readonly string[]) =>
    values
      .map((value, index) => {
        const padding = ' '.repeat((widths[index] ?? 0) - width(value));
        return columns[index]?.align === 'right' ? padding + value : value + padding;
      })
      .join('  ')
      .trimEnd();
  return [renderLine(columns.map((column) => column.header)), ...cells.map(renderLine)].join('\n');
}

/** Renders `label: value` lines with the values aligned; a `null` value is left out. */
export function renderFields(fields: readonly (readonly [string, string | null])[]): string {
  const shown = fields.filter((field): field is readonly [string, string] => field[1] !== null);
  const labelWidth = Math.max(0, ...shown.map(([label]) => width(label) + 1));
  return shown
    .map(([label, value]) => `${`${label}:`.padEnd(labelWidth)}  ${value}`.trimEnd())
    .join('\n');
}

/** A time for a table: `2026-06-20 08:30:05Z` (UTC, to the second). `-` for none. */
export function formatTime(iso: string | null): string {
  if (iso === null) return NONE;
  return `${iso.slice(0, 10)} ${iso.slice(11, 19)}Z`;
}

/** A time with how far it is from now: `2026-06-20 08:30:05Z (in 4m)`. */
export function formatTimeFrom(iso: string | null, now: number): string {
  if (iso === null) return NONE;
  return `${formatTime(iso)} (${formatRelative(Date.parse(iso), now)})`;
}

/** `in 4m`, `12s ago`, `now`: the largest whole unit, rounded down. */
export function formatRelative(at: number, now: number): string {
  const difference = at - now;
  const span = Math.abs(difference);
  if (span < 1_000) return 'now';
  const amount = coarse(span);
  return difference > 0 ? `in ${amount}` : `${amount} ago`;
}

/** A span in its largest whole unit, rounded down: `90s` → `1m`, `36h` → `1d`. */
export function coarse(ms: number): string {
  for (const [unit, size] of [
    ['d', 86_400_000],
    ['h', 3_600_000],
    ['m', 60_000],
    ['s', 1_000],
  ] as const) {
    if (ms >= size) return `${Math.floor(ms / size)}${unit}`;
  }
  return `${Math.round(ms)}ms`;
}

/** A measured span for a table: `850ms`, `12.3s`, `4m`. `-` for none. */
export function formatSpan(ms: number | null): string {
  if (ms === null) return NONE;
  if (ms < 1_000) return `${Math.round(ms)}ms`;
  if (ms < 60_000) return `${(ms / 1_000).toFixed(1)}s`;
  return coarse(ms);
}

/** English plural for counts in messages: `1 schedule`, `3 schedules`. */
export function plural(count: number, noun: string, nouns = `${noun}s`): string {
  return `${count} ${count === 1 ? noun : nouns}`;
}

function oneLine(value: string): string {
  return value.replace(/[\r\n\t]+/g, ' ');
}

function fit(value: string, maxWidth: number | undefined): string {
  if (maxWidth === undefined || width(value) <= maxWidth) return value;
  const kept = graphemes(value).slice(0, Math.max(0, maxWidth - 1));
  return `${kept.join('').trimEnd()}…`;
}

const segmenter = new Intl.Segmenter('en', { granularity: 'grapheme' });

/** The characters a person sees: `é` written as `e` plus an accent is one. */
function graphemes(value: string): string[] {
  return Array.from(segmenter.segment(value), (segment) => segment.segment);
}

function width(value: string): number {
  return graphemes(value).length;
}
