/**
 * `reconcileSchedule`: a 2nd gen function on Firestore `document.written` events for
 * `schedules/{id}` (through Eventarc). It takes the document id from the event and reads the
 * current document, so it never decodes the event's protobuf payload, and an old event cannot
 * undo a newer edit.
 */
import { cloudEvent, type CloudEvent } from '@google-cloud/functions-framework';
import type { Logger } from '../log.js';
import { runtime } from '../runtime.js';
import { iso } from '../schedule/time.js';
import { RECONCILER_FUNCTION } from '../topology.js';
import { validationFor } from '../schedule/spec.js';
import { FirestoreStore } from '../store/firestore.js';
import { SCHEDULES } from '../store/state.js';
import { reconcileSchedule, type ReconcileOutcome } from './reconcile.js';

/**
 * The schedule id of a Firestore event: from the `document` extension
 * (`schedules/{id}`) or the subject (`documents/schedules/{id}`). `null` for anything else
 * (a document in a subcollection, another collection).
 */
export function scheduleIdOf(event: { subject?: string; document?: unknown }): string | null {
  const path =
    typeof event.document === 'string'
      ? event.document
      : (event.subject ?? '').replace(/^documents\//, '');
  const match = new RegExp(`^${SCHEDULES}/([^/]+)$`).exec(path);
  return match?.[1] ?? null;
}

/** Logs what reconciling did; `schedule.invalid` is the one operators act on. */
export function logOutcome(logger: Logger, id: string, outcome: ReconcileOutcome): void {
  const log = logger.child({ scheduleId: id });
  switch (outcome.kind) {
    case 'invalid':
      log.warn(
        { event: 'schedule.invalid', problems: outcome.problems },
        `schedule ${id} is invalid: ${outcome.problems.join('; ')}`,
      );
      return;
    case 'scheduled':
      log.info(
        {
          event: 'schedule.reconciled',
          outcome: outcome.kind,
          nextDueAt: iso(outcome.nextDueAt),
          lane: outcome.lane,
        },
        `schedule ${id} is due ${iso(outcome.nextDueAt)} in the ${outcome.lane} lane`,
      );
      return;
    case 'unchanged':
    case 'missing':
      log.debug(
        { event: 'schedule.reconciled', outcome: outcome.kind },
        `schedule ${id}: ${outcome.kind}`,
      );
      return;
    default:
      log.info(
        { event: 'schedule.reconciled', outcome: outcome.kind },
        `schedule ${id}: ${outcome.kind}`,
      );
  }
}

cloudEvent(RECONCILER_FUNCTION, async (event: CloudEvent<unknown>) => {
  const { firestore, settings, logger } = runtime(RECONCILER_FUNCTION);
  const id = scheduleIdOf(event);
  if (id === null) {
    logger.debug({ subject: event.subject }, 'not a schedule document; ignored');
    return;
  }
  const outcome = await reconcileSchedule(
    new FirestoreStore(firestore, validationFor(settings)),
    id,
    {
      thresholds: settings.laneThresholds,
      shards: settings.shards,
    },
  );
  logOutcome(logger, id, outcome);
});
