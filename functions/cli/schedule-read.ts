/**
 * How the CLI reads a schedule: the operator's document (`schedules/{id}`, its fields now) and
 * pacer's (`scheduleStates/{id}`, its state), in one `getAll`, joined into the one document shape
 * the CLI's views take (the operator's fields and a `state` map).
 */
import type { DocumentData, DocumentSnapshot, Firestore } from '@google-cloud/firestore';
import { SCHEDULE_STATES, SCHEDULES } from '../store/state.js';

/** A schedule as the CLI shows it; `null` when the operator's document does not exist. */
export interface ScheduleRead {
  id: string;
  /** The operator's fields and pacer's `state` map. */
  data: DocumentData | null;
}

/**
 * The operator's fields with pacer's state: from pacer's document, or, before the schedule has
 * been reconciled since the upgrade, the `state` map an older version kept in the operator's.
 */
export function joinSchedule(
  operator: DocumentSnapshot,
  state: DocumentSnapshot | undefined,
): DocumentData | null {
  const fields = operator.data();
  if (!operator.exists || fields === undefined) return null;
  if (state?.exists !== true) return fields;
  return { ...fields, state: state.get('state') as unknown };
}

/** Schedules `ids`, in order, with one `getAll` of both documents of each. */
export async function readSchedules(
  db: Firestore,
  ids: readonly string[],
): Promise<ScheduleRead[]> {
  if (ids.length === 0) return [];
  const operators = ids.map((id) => db.collection(SCHEDULES).doc(id));
  const states = ids.map((id) => db.collection(SCHEDULE_STATES).doc(id));
  const snapshots = await db.getAll(...operators, ...states);
  return ids.map((id, index) => {
    const operator = snapshots[index];
    if (operator === undefined) throw new Error(`getAll lost ${id}`);
    return { id, data: joinSchedule(operator, snapshots[ids.length + index]) };
  });
}

/** Pacer's documents of `ids` joined with their operators' documents (one `getAll`). */
export async function joinOperators(
  db: Firestore,
  states: readonly DocumentSnapshot[],
): Promise<ScheduleRead[]> {
  if (states.length === 0) return [];
  const operators = await db.getAll(...states.map((s) => db.collection(SCHEDULES).doc(s.id)));
  return states.map((state, index) => {
    const operator = operators[index];
    if (operator === undefined) throw new Error(`getAll lost ${state.id}`);
    return { id: state.id, data: joinSchedule(operator, state) };
  });
}
