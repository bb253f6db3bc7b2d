/**
 * A schedule's two documents in tests: the operator's (`schedules/{id}`) and pacer's
 * (`scheduleStates/{id}`: the spec copy and the `state` map). Tests read pacer's state here, and
 * write a schedule "as reconciled" (both documents) when they need a state to start from.
 */
import type { DocumentData, DocumentReference, Firestore } from '@google-cloud/firestore';
import type { ScheduleState } from '../../functions/protocol/state.js';
import { readState, SCHEDULE_STATES, SCHEDULES, SPEC_FIELD } from '../../functions/store/state.js';

/** pacer's document of schedule `id`. */
export function stateRef(db: Firestore, id: string): DocumentReference {
  return db.collection(SCHEDULE_STATES).doc(id);
}

/** Schedule `id`'s state as pacer has it; `null` when pacer has no document for it. */
export async function stateOf(db: Firestore, id: string): Promise<ScheduleState | null> {
  const snapshot = await stateRef(db, id).get();
  return snapshot.exists ? readState(snapshot.data()) : null;
}

/** Schedule `id`'s state, failing the test when pacer has no document for it. */
export async function existingState(db: Firestore, id: string): Promise<ScheduleState> {
  const state = await stateOf(db, id);
  if (state === null) throw new Error(`no state document for schedule ${id}`);
  return state;
}

/** Every state document, by id. */
export async function allStates(db: Firestore): Promise<Map<string, ScheduleState>> {
  const snapshot = await db.collection(SCHEDULE_STATES).get();
  return new Map(snapshot.docs.map((doc) => [doc.id, readState(doc.data())]));
}

/**
 * Writes a schedule as if reconciled: the operator's fields, and pacer's document with them as
 * its spec copy and `state` (a map of Firestore values) as its state.
 */
export async function writeReconciled(
  db: Firestore,
  id: string,
  fields: DocumentData,
  state: unknown,
): Promise<void> {
  const batch = db.batch();
  batch.set(db.collection(SCHEDULES).doc(id), fields);
  batch.set(stateRef(db, id), { [SPEC_FIELD]: fields, state });
  await batch.commit();
}
