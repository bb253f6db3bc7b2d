/**
 * Long syncs at unit level: the attempt a worker hands to a job execution, read back as the
 * execution reads it; the hand-off itself on the in-memory store (accepted, refused); a job's
 * retry backoff.
 */
import { describe, expect, it } from 'vitest';
import { MemoryDeadLetterBus, MemoryPubSub } from '../../../functions/bus/memory.js';
import { encodeMessage } from '../../../functions/bus/message.js';
import { systemClock } from '../../../functions/clock.js';
import { defaultSettings } from '../../../functions/config.js';
import {
  decodeJobAttempt,
  encodeJobAttempt,
  JOB_ATTEMPT_ENV,
  type JobAttempt,
  type JobLauncher,
} from '../../../functions/job/launcher.js';
import { claim, specHash } from '../../../functions/protocol/decisions.js';
import { EMPTY_STATE } from '../../../functions/protocol/state.js';
import { iso } from '../../../functions/schedule/time.js';
import { MemoryStore } from '../../../functions/store/memory.js';
import { describeTopology } from '../../../functions/topology.js';
import { PacerError } from '../../../functions/errors.js';
import {
  handleDelivery,
  jobRetryBackoffMs,
  runJobAttempt,
} from '../../../functions/worker/deliver.js';
import type { Handler } from '../../../functions/worker/handlers/index.js';
import { capturingLogger } from '../../support/fixtures.js';

const ATTEMPT: JobAttempt = {
  message: { v: 1, scheduleId: 's', leaseId: 'l', dueAt: '2026-06-20T02:00:00.000Z', lane: 'low' },
  messageId: 'm',
  attemptId: 'a',
  attempt: 2,
  maxRunSeconds: 3_600,
};

describe('the attempt a job execution is handed', () => {
  it('reads back exactly what the worker wrote', () => {
    expect(decodeJobAttempt(encodeJobAttempt(ATTEMPT))).toEqual({ ok: true, attempt: ATTEMPT });
  });

  it.each([
    [undefined, `${JOB_ATTEMPT_ENV} is not set`],
    ['  ', `${JOB_ATTEMPT_ENV} is not set`],
    ['{', `${JOB_ATTEMPT_ENV} is not JSON`],
    [JSON.stringify({ ...ATTEMPT, attempt: 0 }), 'attempt: Too small'],
    [JSON.stringify({ ...ATTEMPT, attemptId: 'a/b' }), 'attemptId: is not a document id'],
    [
      JSON.stringify({ ...ATTEMPT, message: { ...ATTEMPT.message, scheduleId: 'x/y' } }),
      'message.scheduleId: is not a document id',
    ],
    [JSON.stringify({ ...ATTEMPT, extra: true }), 'Unrecognized key'],
  ])('refuses %j, saying what is wrong', (text, reason) => {
    const decoded = decodeJobAttempt(text);
    expect(decoded.ok).toBe(false);
    if (!decoded.ok) expect(decoded.reason).toContain(reason);
  });
});

describe("a job's retry waits as Pub/Sub would", () => {
  it.each([
    [1, 10_000],
    [2, 20_000],
    [4, 80_000],
    [6, 300_000],
    [20, 300_000],
  ])('attempt %i: %i ms', (attempt, ms) => {
    expect(
      jobRetryBackoffMs({ minimumBackoffSeconds: 10, maximumBackoffSeconds: 300 }, attempt),
    ).toBe(ms);
  });
});

/** A long sync claimed and its message delivered to a worker whose launcher is `jobs`. */
async function handOff(jobs: JobLauncher, handlers?: Record<string, Handler>) {
  const settings = { ...defaultSettings(), maxAttempts: 3, leaseSeconds: 3 };
  const topology = describeTopology(settings);
  // Seconds, not minutes, between retries.
  topology.lanes.low.retry = { minimumBackoffSeconds: 1, maximumBackoffSeconds: 1 };
  const store = new MemoryStore({ now: Date.now });
  const document = {
    name: 'full export',
    cadence: { kind: 'interval', every: '1d' },
    target: { type: 'handler', name: 'example.echo' },
    runner: 'job',
    maxRunSeconds: 7_200,
  };
  store.put('export', document, {
    ...EMPTY_STATE,
    status: 'active',
    lane: 'low',
    nextDueAt: Date.now() - 1_000,
    specHash: specHash(document),
  });
  const claimed = await store.transact('export', (subject, now) =>
    claim(
      subject ?? (null as never),
      { leaseId: 'lease-1', graceMs: 60_000, thresholds: settings.laneThresholds },
      now,
    ),
  );
  if (claimed.kind !== 'claimed') throw new Error(`not claimed: ${claimed.kind}`);
  const message = encodeMessage({
    v: 1,
    scheduleId: 'export',
    leaseId: 'lease-1',
    dueAt: iso(claimed.lease.dueAt),
    lane: 'low',
  });
  const { logger, lines } = capturingLogger('worker');
  const pubsub = new MemoryPubSub({
    now: Date.now,
    after: (ms, action) => void setTimeout(action, ms),
  });
  let ids = 0;
  const deps = {
    store,
    deadLetters: new MemoryDeadLetterBus(pubsub, topology.deadLetter.topic),
    settings,
    topology,
    logger,
    clock: systemClock,
    newId: () => `attempt-${++ids}`,
    syncer: { allowNetworks: [], env: {}, ...(handlers ? { handlers } : {}) },
    jobs,
  };
  const outcome = await handleDelivery(deps, 'low', {
    id: 'm1',
    data: {
      message: {
        data: message.data.toString('base64'),
        attributes: message.attributes,
        messageId: 'm1',
      },
    },
  }).catch((error: unknown) => error);
  return { outcome, state: store.peek('export')?.state, lines, settings, deps, store };
}

describe('the worker hands a long sync to a job execution', () => {
  it('starts the attempt under the hand-off lease, asks for one execution, and acks', async () => {
    const asked: { attempt: JobAttempt; timeoutSeconds: number }[] = [];
    const before = Date.now();
    const { outcome, state, lines, settings } = await handOff({
      launch: (attempt, options) => {
        asked.push({ attempt, timeoutSeconds: options.timeoutSeconds });
        return Promise.resolve({ execution: 'executions/1' });
      },
    });
    expect(outcome).toBe('handed_off');
    expect(asked).toEqual([
      {
        attempt: {
          message: expect.objectContaining({ scheduleId: 'export', leaseId: 'lease-1' }) as unknown,
          messageId: 'm1',
          attemptId: 'attempt-1',
          attempt: 1,
          maxRunSeconds: 7_200,
        },
        // Its start, then three attempts (it retries in itself), each with the lane's longest
        // backoff (1 s here).
        timeoutSeconds: settings.jobs.startSeconds + 3 * (7_200 + 1 + 60),
      },
    ]);
    // The lease covers the execution's start; no call was made here.
    expect(state?.lease).toMatchObject({ running: true, attemptId: 'attempt-1', attempt: 1 });
    expect(state?.lease?.until).toBeGreaterThanOrEqual(before + settings.jobs.startSeconds * 1_000);
    expect(lines.filter((line) => line.event === 'sync.handed_off')).toHaveLength(1);
    expect(lines.filter((line) => line.event === 'sync.started')).toHaveLength(0);
  });

  it('records a refused execution as a failed attempt and has Pub/Sub redeliver', async () => {
    const { outcome, state, lines } = await handOff({
      launch: () => Promise.reject(new Error('7 PERMISSION_DENIED: run.jobs.runWithOverrides')),
    });
    expect(outcome).toBeInstanceOf(Error);
    expect(String(outcome)).toContain('job_launch_failed');
    expect(state?.lease).toMatchObject({ running: false, attempt: 1 });
    expect(state?.lastError).toMatchObject({
      code: 'job_launch_failed',
      message: 'could not start the job: 7 PERMISSION_DENIED: run.jobs.runWithOverrides',
    });
    expect(lines.filter((line) => line.event === 'sync.failed')).toHaveLength(1);
  });
});

describe('a job execution', () => {
  it('takes the attempt over, retries a failure in itself under the same lease, and completes', async () => {
    const handed: JobAttempt[] = [];
    let calls = 0;
    const { deps, store } = await handOff(
      {
        launch: (attempt) => {
          handed.push(attempt);
          return Promise.resolve({ execution: 'executions/1' });
        },
      },
      {
        'example.echo': () => {
          calls++;
          if (calls === 1) throw new PacerError('target_unavailable', 'HTTP 503');
          return Promise.resolve({ rows: 42 });
        },
      },
    );
    const [attempt] = handed;
    if (attempt === undefined) throw new Error('nothing handed off');
    const outcome = await runJobAttempt(deps, attempt);
    expect(outcome).toBe('completed');
    expect(calls).toBe(2);
    const state = store.peek('export')?.state;
    expect(state).toMatchObject({ lease: null, runCount: 1, health: 'ok', lastLeaseId: 'lease-1' });
    // One lease, one run record: the second attempt under the lease the worker started.
    expect(store.runRecords('export')).toEqual([
      expect.objectContaining({ leaseId: 'lease-1', status: 'succeeded', attempt: 2 }),
    ]);
    // A second execution of the same hand-off (a Cloud Run task retry) takes nothing up.
    expect(await runJobAttempt(deps, attempt)).toBe('lost');
    expect(calls).toBe(2);
  });
});
