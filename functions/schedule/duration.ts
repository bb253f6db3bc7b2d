/**
 * Durations as operators write them: a whole number and one unit, `90s`, `5m`, `4h`, `1d`.
 *
 * The grammar is deliberately narrower than general-purpose parsers such as `ms`, which accept
 * `"5 min"`, `"1.5h"` or `"-5m"` and would turn a typo into a schedule that runs at the wrong
 * rate. Here every accepted string means exactly one thing.
 */

const UNIT_MS = { s: 1_000, m: 60_000, h: 3_600_000, d: 86_400_000 } as const;
type Unit = keyof typeof UNIT_MS;

const DURATION = /^(\d{1,9})([smhd])$/;
const NEGATIVE = /^-\s*\d/;

export const DURATION_HINT = 'use 90s, 5m, 4h, 1d';

export type DurationParse =
  { ok: true; ms: number } | { ok: false; reason: 'not_a_duration' | 'negative' };

/** Parses `90s`, `5m`, `4h`, `1d` into milliseconds. */
export function parseDuration(text: string): DurationParse {
  const match = DURATION.exec(text);
  if (!match) {
    return { ok: false, reason: NEGATIVE.test(text.trim()) ? 'negative' : 'not_a_duration' };
  }
  const [, amount, unit] = match as unknown as [string, string, Unit];
  return { ok: true, ms: Number(amount) * UNIT_MS[unit] };
}

/** Parses a duration that is known to be valid (defaults, tests); throws otherwise. */
export function duration(text: string): number {
  const parsed = parseDuration(text);
  if (!parsed.ok) throw new Error(`"${text}" is not a duration (${DURATION_HINT})`);
  return parsed.ms;
}

/** Formats milliseconds in the largest unit that divides them exactly: 5400000 → `90m`. */
export function formatDuration(ms: number): string {
  if (ms === 0) return '0s';
  for (const unit of ['d', 'h', 'm', 's'] as const) {
    if (ms % UNIT_MS[unit] === 0) return `${ms / UNIT_MS[unit]}${unit}`;
  }
  return `${ms}ms`;
}
