/**
 * A target that refused an attempt for its rate limit: a 429 or 503 with `Retry-After` (from an
 * http target, or a handler's `target_rate_limited` error with `details.retryAfter`). The
 * schedule's provider key is blocked until then (`rateLimits/{key}`: the planner dispatches
 * nothing of the key before), and the schedule is held until then with its attempt given back
 * (`holdForRateLimit`): it is retried after the block, never counted toward dead-lettering. The
 * message is acked.
 */
import type { DispatchMessage } from '../bus/message.js';
import { errorMessage, PacerError } from '../errors.js';
import type { Logger } from '../log.js';
import { holdForRateLimit } from '../protocol/decisions.js';
import { retryAfterUntil } from '../ratelimit/retry-after.js';
import type { ScheduleSpec } from '../schedule/spec.js';
import { iso } from '../schedule/time.js';
import type { WorkerDeps } from './deliver.js';
import { redactSecrets } from './secrets.js';

/** When the target said to come back, if it refused for its rate limit; otherwise `null`. */
export function rateLimitedUntil(error: unknown, now: number): number | null {
  if (!(error instanceof PacerError) || error.code !== 'target_rate_limited') return null;
  const raw = error.details.retryAfter;
  return retryAfterUntil(typeof raw === 'string' ? raw : null, now);
}

/**
 * Blocks the key and holds the schedule, if `error` is a rate-limit refusal: `rate_limited`
 * (ack), `lost` (the lease was taken meanwhile), or `null` (not a refusal: the caller goes on).
 */
export async function holdRateLimited(
  deps: WorkerDeps,
  message: DispatchMessage,
  attemptId: string,
  spec: ScheduleSpec,
  error: unknown,
  log: Logger,
): Promise<'rate_limited' | 'lost' | null> {
  const until = rateLimitedUntil(error, deps.clock.now());
  if (until === null) return null;
  const key = spec.rateLimitKey ?? null;
  const status = error instanceof PacerError ? Number(error.details.status ?? 429) : 429;
  if (key !== null && deps.rateLimits !== undefined) {
    await deps.rateLimits.block(key, until, {
      scheduleId: message.scheduleId,
      status,
      at: deps.clock.now(),
    });
  }
  const failure = {
    code: 'target_rate_limited',
    message: redactSecrets(errorMessage(error), deps.syncer.env),
  };
  const held = await deps.store.transact(message.scheduleId, (subject, now) =>
    holdForRateLimit(
      subject,
      {
        leaseId: message.leaseId,
        attemptId,
        holdLeaseId: deps.newId(),
        until,
        error: failure,
        thresholds: deps.settings.laneThresholds,
        expireAt: now + deps.settings.runHistoryDays * 86_400_000,
      },
      now,
    ),
  );
  if (held === 'lost') {
    log.warn(
      { event: 'lease.lost' },
      `lost the lease on ${message.scheduleId} while recording a rate-limit refusal`,
    );
    return 'lost';
  }
  log.warn(
    { event: 'ratelimit.blocked', key, status, until: iso(until) },
    `the target refused ${message.scheduleId} for its rate limit (${status}); ${key === null ? 'the schedule' : `key ${key}`} waits until ${iso(until)}, the attempt not counted`,
  );
  return 'rate_limited';
}
