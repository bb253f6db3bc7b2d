/**
 * Firestore values as plain JSON for `--json` output: Timestamps and Dates become ISO-8601
 * strings in UTC; everything else stays as it is.
 */
import { isTimestampLike, iso } from '../schedule/time.js';

export function plain(value: unknown): unknown {
  if (isTimestampLike(value)) return iso(value.toMillis());
  if (value instanceof Date) return value.toISOString();
  if (Array.isArray(value)) return value.map(plain);
  if (typeof value === 'object' && value !== null) {
    return Object.fromEntries(
      Object.entries(value as Record<string, unknown>).map(([key, item]) => [key, plain(item)]),
    );
  }
  return value;
}

/** Milliseconds → ISO-8601; `null` stays `null`. */
export function isoOrNull(ms: number | null): string | null {
  return ms === null ? null : iso(ms);
}
