/**
 * Pausing with a note, and resuming, as pure decisions over a schedule's `state`.
 *
 * An operator's pause is `enabled: false` in the document (which is what takes the schedule out
 * of planning; the reconciler does that) plus a note in `state.pause` saying who paused it, when
 * and why. The note goes when the schedule is enabled again (by `resume`, or by hand).
 *
 * pacer pauses a schedule itself after `pauseAfterFailures` consecutive dead letters: that is
 * part of the release decision (./decisions.ts `release`), and its note (`cause: failures`) is
 * what keeps the schedule paused — its `enabled` stays true — until {@link resumeSchedule}.
 */
import { reconcile, type ReconcileOutcome, type Subject } from './decisions.js';
import type { LaneThresholds } from '../schedule/lane.js';
import { applyPatch, type Decision, type Patch } from './patch.js';
import type { Pause, ScheduleState } from './state.js';

/** The longest reason a pause note keeps. */
export const MAX_PAUSE_REASON = 500;
/** The longest name of who paused it. */
export const MAX_PAUSED_BY = 200;

export type PauseNoteOutcome = { kind: 'noted'; pause: Pause } | { kind: 'missing' };

/**
 * The note of an operator's pause: who, when (`now`, the store's time) and why. The caller
 * writes it together with `enabled: false`. A schedule pacer had paused after failures is now
 * paused by the operator: its health goes back to `failing` (what its last runs did).
 */
export function notePause(
  subject: Subject | null,
  request: { by: string; reason: string | null },
  now: number,
): Decision<PauseNoteOutcome> {
  if (subject === null) return { outcome: { kind: 'missing' }, patch: null };
  const pause: Pause = {
    cause: 'operator',
    by: request.by.slice(0, MAX_PAUSED_BY),
    at: now,
    reason: request.reason === null ? null : request.reason.slice(0, MAX_PAUSE_REASON),
  };
  return {
    outcome: { kind: 'noted', pause },
    patch: {
      state: {
        pause,
        ...(subject.state.health === 'paused_by_failures' ? { health: 'failing' as const } : {}),
      },
    },
  };
}

/** What a resume clears: the pause note and the count of dead letters behind a failure pause. */
export function resumeFields(state: ScheduleState): Partial<ScheduleState> {
  return {
    pause: null,
    consecutiveDeadLetters: 0,
    ...(state.health === 'paused_by_failures' ? { health: 'failing' as const } : {}),
  };
}

/**
 * Resumes a schedule at the store's `now`: clears its pause note (and so a pause after
 * failures), then reconciles it as the document says — planned again if it is enabled. The
 * caller sets `enabled: true` in the same write when the operator resumes it.
 */
export function resumeSchedule(
  subject: Subject | null,
  now: number,
  thresholds: LaneThresholds,
): Decision<ReconcileOutcome> {
  if (subject === null) return reconcile(null, now, thresholds);
  const cleared: Patch = { state: resumeFields(subject.state) };
  const state = applyPatch(subject.state, cleared);
  const planned = reconcile({ ...subject, state }, now, thresholds, { force: true });
  return { outcome: planned.outcome, patch: merge(cleared, planned.patch) };
}

function merge(first: Patch, second: Patch | null): Patch {
  return second === null ? first : { ...second, state: { ...first.state, ...second.state } };
}
