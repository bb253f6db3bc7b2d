/**
 * `Retry-After` (RFC 9110 §10.2.3): delay-seconds or an HTTP date. Pure; `now` is the
 * worker's clock when the answer came.
 */

/** The longest block one answer may impose: a provider asking for more is asked again then. */
export const MAX_RETRY_AFTER_MS = 3_600_000;

/**
 * When a target that answered `Retry-After: raw` at `now` may be called again (capped at
 * {@link MAX_RETRY_AFTER_MS}); `null` when the header is absent or not a delay or a date.
 */
export function retryAfterUntil(raw: string | null | undefined, now: number): number | null {
  if (raw === null || raw === undefined) return null;
  const text = raw.trim();
  if (text === '') return null;
  let until: number;
  if (/^\d+$/.test(text)) {
    until = now + Number(text) * 1_000;
  } else {
    // An IMF-fixdate such as `Wed, 21 Oct 2015 07:28:00 GMT` (or the obsolete forms Date parses).
    if (!/[a-z]/i.test(text)) return null;
    const parsed = Date.parse(text);
    if (!Number.isFinite(parsed)) return null;
    until = Math.max(now, parsed);
  }
  return Math.min(until, now + MAX_RETRY_AFTER_MS);
}

/** Statuses whose `Retry-After` blocks a provider key. */
export function isRateLimitStatus(status: number): boolean {
  return status === 429 || status === 503;
}
