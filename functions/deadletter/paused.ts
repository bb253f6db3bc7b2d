/**
 * The line an alert keys on (infra/monitoring/policies/paused-by-failures.yaml): a dead letter
 * just released was the schedule's `pauseAfterFailures`-th in a row, and pacer paused it.
 * Logged by whoever released it (the worker that gave up, or the dead-letter function).
 */
import type { Logger } from '../log.js';

export function logPausedByFailures(log: Logger, scheduleId: string): void {
  log.error(
    { event: 'schedule.paused_by_failures', scheduleId, health: 'paused_by_failures' },
    `paused ${scheduleId} after its pauseAfterFailures consecutive dead letters; resume it with "pacer schedules resume ${scheduleId}"`,
  );
}
