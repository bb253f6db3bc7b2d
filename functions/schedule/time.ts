/**
 * Points in time as schedules hold them: a Firestore Timestamp (what the console and the
 * client libraries write), a JavaScript Date, or an ISO-8601 string with a UTC offset. Inside
 * pacer a time is a number of milliseconds since the epoch.
 */
import { DateTime, IANAZone } from 'luxon';

/** The shape of a Firestore `Timestamp`, from any SDK, without depending on one. */
export interface TimestampLike {
  toMillis(): number;
}

export function isTimestampLike(value: unknown): value is TimestampLike {
  return (
    typeof value === 'object' &&
    value !== null &&
    'toMillis' in value &&
    typeof value.toMillis === 'function'
  );
}

export const TIME_HINT =
  'use an ISO-8601 time with an offset such as 2026-05-01T08:30:00Z, or a Firestore timestamp';

// An ISO-8601 date-time must say which offset it is in; a bare local time is ambiguous.
const HAS_OFFSET = /T.*(Z|[+-]\d\d(:?\d\d)?)$/i;

export type TimeParse =
  { ok: true; ms: number } | { ok: false; reason: 'not_a_time' | 'no_offset' | 'wrong_type' };

/** Reads a time from a Timestamp, a Date or an ISO-8601 string with an offset. */
export function parseTime(value: unknown): TimeParse {
  if (isTimestampLike(value)) return { ok: true, ms: value.toMillis() };
  if (value instanceof Date) {
    return Number.isNaN(value.getTime())
      ? { ok: false, reason: 'not_a_time' }
      : { ok: true, ms: value.getTime() };
  }
  if (typeof value !== 'string') return { ok: false, reason: 'wrong_type' };
  const parsed = DateTime.fromISO(value.trim(), { setZone: true });
  if (!parsed.isValid) return { ok: false, reason: 'not_a_time' };
  if (!HAS_OFFSET.test(value.trim())) return { ok: false, reason: 'no_offset' };
  return { ok: true, ms: parsed.toMillis() };
}

/** Whether `zone` is an IANA time zone name this runtime knows, such as `Europe/Berlin`. */
export const isTimeZone: (zone: string) => boolean = remembered((zone) =>
  IANAZone.isValidZone(zone),
);

/**
 * `fn`, remembering its answers for the last `limit` distinct arguments. For pure checks that
 * are costly (Intl builds a formatter per time-zone check) and asked about the same few values
 * for every schedule the planner reads.
 */
export function remembered<T>(fn: (key: string) => T, limit = 1_000): (key: string) => T {
  const known = new Map<string, T>();
  return (key) => {
    if (known.has(key)) return known.get(key) as T;
    const value = fn(key);
    const oldest = known.keys().next();
    if (known.size >= limit && oldest.done !== true) known.delete(oldest.value);
    known.set(key, value);
    return value;
  };
}

/** ISO-8601 in UTC, for logs, messages and tables. */
export function iso(ms: number): string {
  return new Date(ms).toISOString();
}
