/**
 * Handler targets: a handler's answer is the run's detail, and one that ignores its signal
 * still stops counting when the signal aborts (run time up, lease lost).
 */
import { describe, expect, it } from 'vitest';
import { PacerError } from '../../../functions/errors.js';
import type { SyncContext } from '../../../functions/worker/context.js';
import type { Handler } from '../../../functions/worker/handlers/index.js';
import { runSyncer } from '../../../functions/worker/syncer.js';
import { capturingLogger } from '../../support/fixtures.js';

function context(signal: AbortSignal): SyncContext {
  return {
    scheduleId: 's-1',
    leaseId: 'l-1',
    dueAt: Date.UTC(2026, 10, 22, 12),
    lane: 'medium',
    attempt: 1,
    payload: {},
    signal,
    logger: capturingLogger().logger,
  };
}

const never: Handler = () => new Promise(() => undefined);
const handlers: Record<string, Handler> = {
  never,
  answers: () => Promise.resolve({ rows: 3 }),
  silent: () => Promise.resolve(undefined),
  refuses: () => Promise.reject(new PacerError('handler_rejected', 'no such account')),
};
const options = { allowNetworks: [], env: {}, handlers };

function run(name: string, signal = new AbortController().signal) {
  return runSyncer({ type: 'handler', name }, context(signal), options);
}

describe('a handler target', () => {
  it.each([
    ['answers', { rows: 3 }],
    ['silent', {}],
  ])('%s: its answer is the detail', async (name, detail) => {
    await expect(run(name)).resolves.toEqual(detail);
  });

  it('that fails: its error is the run’s error', async () => {
    await expect(run('refuses')).rejects.toMatchObject({ code: 'handler_rejected' });
  });

  it('that never settles and ignores its signal: a timeout is target_timeout', async () => {
    await expect(run('never', AbortSignal.timeout(50))).rejects.toMatchObject({
      code: 'target_timeout',
      message: 'handler "never" did not finish within its run time',
    });
  });

  it('that never settles: a lost lease aborts it with the lease’s own error', async () => {
    const controller = new AbortController();
    const running = run('never', controller.signal);
    controller.abort(new PacerError('lease_lost', 'lease l-1 was taken while the sync ran'));
    await expect(running).rejects.toMatchObject({ code: 'lease_lost' });
  });

  it('started with its signal already aborted does not wait', async () => {
    await expect(run('never', AbortSignal.abort())).rejects.toMatchObject({
      code: 'target_timeout',
    });
  });

  it('unknown: handler_unknown, naming the known ones', async () => {
    await expect(run('nope')).rejects.toMatchObject({
      code: 'handler_unknown',
      message: 'no handler is registered as "nope" (known: never, answers, silent, refuses)',
    });
  });
});
