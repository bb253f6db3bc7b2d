/**
 * An example handler, `example.echo`: logs what it was asked to sync and reports the payload's
 * keys. A schedule uses it with `target: { type: "handler", name: "example.echo" }`.
 *
 * Writing a handler:
 * - it receives a {@link SyncContext} (schedule id, due point, lane, attempt, payload, an
 *   AbortSignal and a logger bound to the schedule and lease) and resolves when the work is done;
 * - it must stop and throw when `signal` aborts (the run time is up, or the lease was lost);
 * - throwing `new PacerError('handler_rejected', ...)` means trying again will not help: the
 *   message is dead-lettered at once; any other error is retried with backoff;
 * - it may be called more than once for one due point (at-least-once delivery): make the work
 *   idempotent, keyed on `(scheduleId, dueAt)` — not on `leaseId`: a schedule dispatched again
 *   after its lease lapsed comes under a new lease for the same due point;
 * - register it in ./index.ts under a dotted name.
 */
import { PacerError } from '../../errors.js';
import type { SyncContext, SyncResult } from '../context.js';

export function echo(context: SyncContext): Promise<SyncResult> {
  if (context.signal.aborted) return Promise.reject(context.signal.reason as Error);
  if (context.payload.reject === true) {
    return Promise.reject(new PacerError('handler_rejected', 'the payload asked to be rejected'));
  }
  context.logger.info(
    { event: 'handler.echo', payload: context.payload, attempt: context.attempt },
    `echo for ${context.scheduleId}`,
  );
  return Promise.resolve({ payloadKeys: Object.keys(context.payload) });
}
