/**
 * `pacer status` shows each provider key's budget, use and block: the `rateLimits` setting (with
 * `pacer/config` laid over it) and `rateLimits/{key}` as the planner and the workers left it.
 */
import { describe, expect, it } from 'vitest';
import type { StatusResult } from '../../../functions/cli/status.js';
import { FirestoreRateLimits } from '../../../functions/ratelimit/store.js';
import { CONFIG_DOC } from '../../../functions/store/state.js';
import { pacerJson, runPacer } from '../../support/cli.js';
import { useTestProject } from '../../support/emulators.js';

const project = useTestProject('cli-rate-limits');

describe('pacer status with provider rate limits', () => {
  it('shows each key’s budget, tokens left and block, live settings included', async () => {
    const env = { ...project.env, PACER_RATE_LIMITS: 'provider:perMinute=60,burst=10' };
    const now = Date.now();
    const store = new FirestoreRateLimits(project.firestore);
    // The planner spent the burst just now; a target blocked another key for a minute.
    await store.saveTokens(new Map([['provider', { minute: 0, hour: 10, refilledAt: now }]]));
    await store.block('flaky-api', now + 60_000, {
      scheduleId: 'feed-7',
      status: 429,
      at: now,
    });
    // pacer/config adds a key live.
    await project.firestore
      .doc(CONFIG_DOC)
      .set({ rateLimits: 'provider:perMinute=60,burst=10;other:perHour=100' });

    const status = await pacerJson<StatusResult>(['status'], env);
    const byKey = new Map(status.rateLimits.map((key) => [key.key, key]));
    expect([...byKey.keys()]).toEqual(['flaky-api', 'other', 'provider']);
    expect(byKey.get('provider')).toMatchObject({
      budget: '60/min, burst 10',
      blockedUntil: null,
    });
    // Spent a moment ago: what refilled since (50 a minute), short of the full burst.
    expect(byKey.get('provider')?.available).toBeLessThan(10);
    expect(byKey.get('other')).toMatchObject({ budget: '100/h, burst 16', available: 16 });
    expect(byKey.get('flaky-api')).toMatchObject({
      budget: null,
      blockedUntil: new Date(now + 60_000).toISOString(),
      blockedBy: { scheduleId: 'feed-7', status: 429 },
    });

    const text = await runPacer(['status'], env);
    expect(text.code).toBe(0);
    expect(text.stdout).toContain('provider rate limits (rateLimitKey):');
    expect(text.stdout).toMatch(/^provider +60\/min, burst 10 +\d+ +\S+ \/ — +— +no$/m);
    expect(text.stdout).toMatch(
      /^flaky-api +none \(only Retry-After\) .* until .*\(429 to feed-7\)$/m,
    );
  });
});
