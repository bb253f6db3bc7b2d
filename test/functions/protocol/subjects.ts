/**
 * Schedules as the protocol's decisions see them, written in a line: a document, a state, a lease.
 */
import { defaultSettings } from '../../../functions/config.js';
import { specHash, type Subject } from '../../../functions/protocol/decisions.js';
import { applyPatch, type Decision } from '../../../functions/protocol/patch.js';
import { EMPTY_STATE, type Lease, type ScheduleState } from '../../../functions/protocol/state.js';
import { validateSchedule } from '../../../functions/schedule/spec.js';

export const THRESHOLDS = defaultSettings().laneThresholds;
export const at = (iso: string): number => Date.parse(iso);

const TARGET = { type: 'http', url: 'https://target.example.com/sync' };

/** An operator's document with the given cadence (and any other fields). */
export function documentOf(
  cadence: Record<string, unknown>,
  extra: Record<string, unknown> = {},
): Record<string, unknown> {
  return { name: 'test', cadence, target: TARGET, ...extra };
}

/** An interval schedule; `extra` are document fields, `cadence` more cadence fields. */
export const interval = (
  every: string,
  extra: Record<string, unknown> = {},
  cadence: Record<string, unknown> = {},
) => documentOf({ kind: 'interval', every, ...cadence }, extra);

/** A schedule: its document and state (reconciled: the hash matches, unless `hash` is given). */
export function subject(
  data: Record<string, unknown>,
  state: Partial<ScheduleState> = {},
  id = 's',
): Subject {
  return {
    id,
    data,
    state: { ...EMPTY_STATE, specHash: specHash(data), ...state },
    validation: validateSchedule(data),
  };
}

/** A lease, dispatched and not started unless told otherwise. */
export function leaseOf(
  fields: Partial<Lease> & { id: string; until: number; dueAt: number },
): Lease {
  return {
    kind: 'planned',
    attempt: 0,
    dispatchedAt: fields.dueAt,
    startedAt: null,
    running: false,
    attemptId: null,
    owedSince: fields.dueAt,
    ...fields,
  };
}

/** The subject after a decision's patch (the same document). */
export function after<T>(before: Subject, decision: Decision<T>): Subject {
  return { ...before, state: applyPatch(before.state, decision.patch) };
}

/** The subject with another document (an operator's edit), its state as it was. */
export function edited(before: Subject, data: Record<string, unknown>): Subject {
  return { ...before, data, validation: validateSchedule(data) };
}
