/**
 * The Firestore store, on the emulator, against the store port's contract
 * (./conformance.ts) — the same one the in-memory store passes. Each test works in a project of
 * its own.
 */
import { FirestoreStore } from '../../../functions/store/firestore.js';
import {
  CONFIG_DOC,
  DEAD_LETTERS,
  millis,
  readState,
  RUNS,
  SCHEDULE_STATES,
  SCHEDULES,
  SPEC_FIELD,
  stateFields,
} from '../../../functions/store/state.js';
import { useProjects } from '../../support/emulators.js';
import { DEPLOYED } from '../../../functions/schedule/spec.js';
import { describeStoreConformance, type StoreHarness } from './conformance.js';

const projects = useProjects();

/** Firestore values read back as the harness reports them: Timestamps as ms, deeply. */
function plain(value: unknown): unknown {
  const ms = millis(value);
  if (ms !== null) return ms;
  if (Array.isArray(value)) return value.map(plain);
  if (typeof value === 'object' && value !== null) {
    return Object.fromEntries(Object.entries(value).map(([key, inner]) => [key, plain(inner)]));
  }
  return value;
}

function firestoreHarness(): StoreHarness {
  const { firestore: db } = projects('conformance');
  const schedule = (id: string) => db.collection(SCHEDULES).doc(id);
  const stateDoc = (id: string) => db.collection(SCHEDULE_STATES).doc(id);
  return {
    store: new FirestoreStore(db),
    async seed(id, data, state = {}) {
      await schedule(id).set(data);
      await stateDoc(id).set({ [SPEC_FIELD]: data, state: stateFields(state) });
    },
    async operatorWrite(id, data) {
      await schedule(id).set(data);
    },
    async seedOldState(id, data, state) {
      await schedule(id).set({ ...data, state: stateFields(state) });
    },
    async operatorDocument(id) {
      const snapshot = await schedule(id).get();
      if (!snapshot.exists) return null;
      const data = Object.fromEntries(
        Object.entries(snapshot.data() ?? {}).filter(([key]) => key !== 'state'),
      );
      return { data, version: snapshot.updateTime?.valueOf() };
    },
    async state(id) {
      const snapshot = await stateDoc(id).get();
      return snapshot.exists ? readState(snapshot.data()) : null;
    },
    async runs(id) {
      const snapshot = await schedule(id).collection(RUNS).get();
      return snapshot.docs.map((doc) => ({ ...(plain(doc.data()) as object), leaseId: doc.id }));
    },
    async letter(id) {
      const snapshot = await db.collection(DEAD_LETTERS).doc(id).get();
      if (!snapshot.exists) return null;
      return {
        replayCount: snapshot.get('replayCount') as number,
        replayLeaseId: (snapshot.get('replayLeaseId') as string | null | undefined) ?? null,
      };
    },
    async setLiveConfig(fields) {
      await db.doc(CONFIG_DOC).set(fields);
    },
    async deleteSchedule(id) {
      await schedule(id).delete();
    },
    now: () => Date.now(),
    inShard: (shard) => new FirestoreStore(db, DEPLOYED, shard),
  };
}

describeStoreConformance('Firestore', firestoreHarness);
