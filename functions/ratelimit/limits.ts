/**
 * The `rateLimits` setting (`PACER_RATE_LIMITS`, live in `pacer/config`): per provider key, a
 * limit on calls per minute and per hour (token buckets with a burst, ./bucket.ts) and on calls
 * in flight. Written as `KEY:perMinute=60,perHour=1000,burst=10,concurrency=5;OTHER:perHour=500`.
 */
import type { KeyLimit } from './bucket.js';

/** What a `rateLimitKey` (and a key in the setting) looks like. */
export const RATE_LIMIT_KEY = /^[a-z0-9]([a-z0-9_.-]{0,62})$/;
export const RATE_LIMIT_KEY_HINT =
  'lowercase letters, digits, _, . and -, starting with a letter or digit, at most 63';

export type RateLimits = Readonly<Record<string, KeyLimit>>;

const FIELDS = ['perMinute', 'perHour', 'burst', 'concurrency'] as const;
type Field = (typeof FIELDS)[number];
const MAX = { perMinute: 1_000_000, perHour: 100_000_000, burst: 1_000_000, concurrency: 100_000 };

/**
 * Parses the setting's text. Every problem is named with its key and field; `none` (or an empty
 * text) is no limits at all.
 */
export function parseRateLimits(
  raw: string,
): { ok: true; limits: Record<string, KeyLimit> } | { ok: false; problems: string[] } {
  const text = raw.trim();
  const limits: Record<string, KeyLimit> = {};
  const problems: string[] = [];
  if (text === '' || text.toLowerCase() === 'none') return { ok: true, limits };
  for (const entry of text.split(';').map((part) => part.trim())) {
    if (entry === '') continue;
    const colon = entry.indexOf(':');
    const key = (colon < 0 ? entry : entry.slice(0, colon)).trim();
    if (!RATE_LIMIT_KEY.test(key)) {
      problems.push(`${JSON.stringify(key)} is not a key (${RATE_LIMIT_KEY_HINT})`);
      continue;
    }
    if (key in limits) {
      problems.push(`${key}: given twice`);
      continue;
    }
    const values: Partial<Record<Field, number>> = {};
    const pairs = colon < 0 ? [] : entry.slice(colon + 1).split(',');
    for (const pair of pairs.map((part) => part.trim()).filter((part) => part !== '')) {
      const [name, value, extra] = pair.split('=').map((part) => part.trim());
      const field = FIELDS.find((known) => known === name);
      if (field === undefined || value === undefined || extra !== undefined) {
        problems.push(
          `${key}: ${JSON.stringify(pair)} is not one of ${FIELDS.join(', ')} = a number`,
        );
        continue;
      }
      const number = Number(value);
      if (!/^\d+$/.test(value) || number < 1 || number > MAX[field]) {
        problems.push(
          `${key}.${field}: ${JSON.stringify(value)} is not a whole number from 1 to ${MAX[field]}`,
        );
        continue;
      }
      values[field] = number;
    }
    const limit = keyLimit(key, values, problems);
    if (limit !== null) limits[key] = limit;
  }
  return problems.length === 0 ? { ok: true, limits } : { ok: false, problems };
}

function keyLimit(
  key: string,
  values: Partial<Record<Field, number>>,
  problems: string[],
): KeyLimit | null {
  const perMinute = values.perMinute ?? null;
  const perHour = values.perHour ?? null;
  const concurrency = values.concurrency ?? null;
  if (perMinute === null && perHour === null && concurrency === null) {
    problems.push(`${key}: sets none of perMinute, perHour, concurrency`);
    return null;
  }
  const rates = [perMinute, perHour].filter((rate): rate is number => rate !== null);
  const smallest = rates.length === 0 ? null : Math.min(...rates);
  // A bucket refills `limit - burst` per window, so the burst must leave room to refill.
  const burst = values.burst ?? (smallest === null ? 1 : Math.max(1, Math.floor(smallest / 6)));
  if (smallest !== null && burst >= smallest) {
    problems.push(
      `${key}.burst: ${burst} must be less than its smallest rate (${smallest}): a full burst plus a window's refill may not exceed the limit`,
    );
    return null;
  }
  return { perMinute, perHour, burst, concurrency };
}

/** The setting as an operator writes it. */
export function formatRateLimits(limits: RateLimits): string {
  const entries = Object.entries(limits);
  if (entries.length === 0) return 'none';
  return entries
    .map(
      ([key, limit]) =>
        `${key}:${FIELDS.flatMap((field) =>
          limit[field] === null || (field === 'burst' && !limitsRate(limit))
            ? []
            : [`${field}=${limit[field]}`],
        ).join(',')}`,
    )
    .join(';');
}

/** One key's limits in words, for `pacer status`. */
export function describeLimit(limit: KeyLimit): string {
  const parts = [
    limit.perMinute === null ? null : `${limit.perMinute}/min`,
    limit.perHour === null ? null : `${limit.perHour}/h`,
    limit.perMinute === null && limit.perHour === null ? null : `burst ${limit.burst}`,
    limit.concurrency === null ? null : `${limit.concurrency} at once`,
  ];
  return parts.filter((part) => part !== null).join(', ');
}

function limitsRate(limit: KeyLimit): boolean {
  return limit.perMinute !== null || limit.perHour !== null;
}
