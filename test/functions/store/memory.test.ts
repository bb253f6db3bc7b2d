/**
 * The in-memory store (the simulator's and the protocol checker's) against the store port's
 * contract, and what it adds: latency and faults through its link, and Firestore's billing.
 */
import { describe, expect, it } from 'vitest';
import { EMPTY_STATE } from '../../../functions/protocol/state.js';
import { MemoryStore, smallest, type StoreLink } from '../../../functions/store/memory.js';
import { describeStoreConformance, type StoreHarness } from './conformance.js';

function memoryHarness(): StoreHarness {
  const store = new MemoryStore({ now: () => Date.now() });
  return {
    store,
    seed(id, data, state = {}) {
      store.put(id, data, { ...EMPTY_STATE, ...state });
      return Promise.resolve();
    },
    state: (id) => Promise.resolve(store.peek(id)?.state ?? null),
    inShard: (shard) => store.withShard(shard),
    runs: (id) => Promise.resolve(store.runRecords(id)),
    letter(id) {
      const letter = store.deadLetters().find((l) => l.id === id);
      return Promise.resolve(
        letter === undefined
          ? null
          : { replayCount: letter.replayCount, replayLeaseId: letter.replayLeaseId },
      );
    },
    setLiveConfig(fields) {
      store.setLiveConfig(fields);
      return Promise.resolve();
    },
    operatorWrite(id, data) {
      store.put(id, data);
      return Promise.resolve();
    },
    seedOldState(id, data, state) {
      store.putWithOldState(id, data, { ...EMPTY_STATE, ...state });
      return Promise.resolve();
    },
    operatorDocument(id) {
      const data = store.peekOperator(id);
      return Promise.resolve(
        data === null ? null : { data: { ...data }, version: store.operatorVersion(id) },
      );
    },
    deleteSchedule(id) {
      store.delete(id);
      return Promise.resolve();
    },
    now: () => Date.now(),
    billedReads: () => store.usage.reads,
  };
}

describeStoreConformance('memory', memoryHarness);

describe('the memory store beyond the contract', () => {
  it('retries a transaction that met a write between its read and its commit, as Firestore does', async () => {
    // A link that lets another write land between each transaction's read and its commit once.
    let interfere = true;
    const holder: { store?: MemoryStore } = {};
    const link: StoreLink = {
      send(operation, _id, apply) {
        if (operation === 'commit' && interfere) {
          interfere = false;
          holder.store?.put('s', { name: 'changed meanwhile' }, EMPTY_STATE);
        }
        return Promise.resolve().then(apply);
      },
    };
    const store = new MemoryStore({ now: () => 0 }, link);
    holder.store = store;
    store.put('s', { name: 'first' }, EMPTY_STATE);
    const seen: string[] = [];
    await store.transact('s', (subject) => {
      seen.push(String(subject?.data.name));
      return { outcome: null, patch: { state: { runCount: 1 } } };
    });
    expect(seen).toEqual(['first', 'changed meanwhile']);
    expect(store.peek('s')?.state.runCount).toBe(1);
  });

  it('bills reads and writes as Firestore does', async () => {
    const store = new MemoryStore({ now: () => 0 });
    store.put('s', { name: 's' }, EMPTY_STATE);
    const before = { ...store.usage };
    await store.transact('s', () => ({
      outcome: null,
      patch: { state: { runCount: 1 }, run: { leaseId: 'L', fields: {} } },
    }));
    expect(store.usage.reads - before.reads).toBe(1);
    expect(store.usage.writes - before.writes).toBe(2);
  });

  it('bills reconciling two reads (both documents) and one write of pacer’s document', async () => {
    const store = new MemoryStore({ now: () => 0 });
    store.put('s', { name: 's' });
    const before = { ...store.usage };
    await store.transactReconcile('s', () => ({
      outcome: null,
      patch: { state: { runCount: 1 } },
    }));
    expect(store.usage.reads - before.reads).toBe(2);
    expect(store.usage.writes - before.writes).toBe(1);
    // Nothing to change, and the spec copy is current: reads only.
    await store.transactReconcile('s', () => ({ outcome: null, patch: null }));
    expect(store.usage.reads - before.reads).toBe(4);
    expect(store.usage.writes - before.writes).toBe(1);
  });

  it('picks the k smallest in order, as a sort would', () => {
    const items = Array.from({ length: 500 }, (_, i) => (i * 7_919) % 500);
    const compare = (a: number, b: number) => a - b;
    expect(smallest(items, 10, compare)).toEqual([...items].sort(compare).slice(0, 10));
    expect(smallest(items, 0, compare)).toEqual([]);
    expect(smallest([3, 1], 5, compare)).toEqual([1, 3]);
  });
});
