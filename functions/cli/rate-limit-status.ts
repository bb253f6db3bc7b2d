/**
 * `pacer status`'s provider rate limits: each key's budget (the `rateLimits` setting, as
 * `pacer/config` overrides it), its use (tokens left in its buckets now, calls in flight) and
 * its block (a target's `Retry-After`), from `rateLimits/{key}`.
 */
import { errorMessage } from '../errors.js';
import { available, type KeyLimit } from '../ratelimit/bucket.js';
import { bucketOf } from '../ratelimit/gate.js';
import { describeLimit } from '../ratelimit/limits.js';
import { FirestoreRateLimits } from '../ratelimit/store.js';
import { iso } from '../schedule/time.js';
import { LiveConfig } from '../store/live-config.js';
import { ReadMeter } from '../store/queries.js';
import type { CliContext } from './context.js';
import { formatTimeFrom, renderTable } from './output.js';

export interface RateLimitKeyStatus {
  key: string;
  /** The budget in words (`60/min, 1000/h, burst 10`), or `null` when none is configured. */
  budget: string | null;
  limit: KeyLimit | null;
  /** Calls it may dispatch now (whole tokens in its emptiest bucket); `null`: unlimited. */
  available: number | null;
  /** Tokens left per bucket, as saved and refilled to now. */
  tokens: { minute: number | null; hour: number | null };
  /** Calls in flight (counted when the key limits concurrency). */
  inFlight: number | null;
  blockedUntil: string | null;
  blockedBy: { scheduleId: string; status: number; at: string } | null;
}

/** Every key configured or saved, sorted by key. */
export async function readRateLimitStatus(context: CliContext): Promise<RateLimitKeyStatus[]> {
  const now = context.clock();
  const live = await new LiveConfig(context.settings).refresh(context.store);
  const limits = live.settings.rateLimits;
  const store = new FirestoreRateLimits(context.db);
  const saved = await store.listKeys();
  const keys = [...new Set([...Object.keys(limits), ...saved.keys()])].sort();
  const meter = new ReadMeter();
  return Promise.all(
    keys.map(async (key): Promise<RateLimitKeyStatus> => {
      const limit = limits[key] ?? null;
      const record = saved.get(key) ?? null;
      const blocked = record?.blockedUntil ?? null;
      const bucket = bucketOf(limit, record?.tokens ?? null, blocked, now);
      const limitsRate = limit !== null && (limit.perMinute !== null || limit.perHour !== null);
      const room = limit === null ? null : available(bucket, limit, now);
      return {
        key,
        budget: limit === null ? null : describeLimit(limit),
        limit,
        available: room === null || !Number.isFinite(room) ? null : room,
        tokens: {
          minute: limitsRate && limit.perMinute !== null ? round(bucket.minute) : null,
          hour: limitsRate && limit.perHour !== null ? round(bucket.hour) : null,
        },
        inFlight: limit?.concurrency == null ? null : await store.countInFlight(key, now, meter),
        blockedUntil: blocked !== null && blocked > now ? iso(blocked) : null,
        blockedBy:
          blocked !== null && blocked > now && record?.blockedBy != null
            ? { ...record.blockedBy, at: iso(record.blockedBy.at) }
            : null,
      };
    }),
  ).catch((error: unknown) => {
    throw new Error(`could not read the rate limits: ${errorMessage(error)}`);
  });
}

function round(tokens: number): number {
  return Math.floor(tokens * 10) / 10;
}

/** The section of `pacer status`. */
export function renderRateLimits(keys: readonly RateLimitKeyStatus[], now: number): string {
  if (keys.length === 0) return 'provider rate limits: none (PACER_RATE_LIMITS)';
  return `provider rate limits (rateLimitKey):\n${renderTable(
    [
      { header: 'KEY', value: (status: RateLimitKeyStatus) => status.key },
      { header: 'BUDGET', value: (status) => status.budget ?? 'none (only Retry-After)' },
      {
        header: 'MAY SEND NOW',
        value: (status) => (status.available === null ? '—' : String(status.available)),
        align: 'right',
      },
      {
        header: 'TOKENS (MIN / HOUR)',
        value: (status) => `${status.tokens.minute ?? '—'} / ${status.tokens.hour ?? '—'}`,
        align: 'right',
      },
      {
        header: 'IN FLIGHT',
        value: (status) =>
          status.inFlight === null || status.limit?.concurrency == null
            ? '—'
            : `${status.inFlight}/${status.limit.concurrency}`,
        align: 'right',
      },
      {
        header: 'BLOCKED',
        value: (status) =>
          status.blockedUntil === null
            ? 'no'
            : `until ${formatTimeFrom(status.blockedUntil, now)}${status.blockedBy === null ? '' : ` (${status.blockedBy.status} to ${status.blockedBy.scheduleId})`}`,
      },
    ],
    keys,
  )}`;
}
