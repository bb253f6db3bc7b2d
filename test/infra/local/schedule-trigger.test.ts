/**
 * The reconciler trigger's stand-in keeps listening (issue 13, "Why" 8): the emulator's listener
 * once failed with `Unknown listen response type: {}` and never listened again, so the stack ran
 * and reconciled nothing. Now a failed listener is reported and started again, and its first
 * snapshot delivers every document once more. The listener here is a scripted stand-in for
 * Firestore's; the deliveries go to a real HTTP server on loopback.
 */
import { once } from 'node:events';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Firestore } from '@google-cloud/firestore';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { emulateScheduleTrigger } from '../../../infra/local/schedule-trigger.js';

const received: string[] = [];
let url = '';
const reconciler = http.createServer((request, response) => {
  received.push(String(request.headers['ce-subject']));
  request.resume();
  response.end();
});
beforeAll(async () => {
  reconciler.listen(0, '127.0.0.1');
  await once(reconciler, 'listening');
  url = `http://127.0.0.1:${(reconciler.address() as AddressInfo).port}`;
});
afterAll(() => {
  reconciler.close();
});

interface Listener {
  next: (snapshot: unknown) => void;
  error: (error: Error) => void;
  unsubscribed: boolean;
}

/** A Firestore whose `schedules` listeners the test drives. */
function scriptedFirestore(): { db: Firestore; listeners: Listener[] } {
  const listeners: Listener[] = [];
  const db = {
    collection: () => ({
      onSnapshot: (next: Listener['next'], error: Listener['error']) => {
        const listener = { next, error, unsubscribed: false };
        listeners.push(listener);
        return () => {
          listener.unsubscribed = true;
        };
      },
    }),
  } as unknown as Firestore;
  return { db, listeners };
}

function snapshot(ids: string[]) {
  const time = { toDate: () => new Date('2026-06-20T08:00:00Z') };
  return {
    readTime: time,
    docChanges: () => ids.map((id) => ({ type: 'added', doc: { id, updateTime: time } })),
  };
}

const until = async (check: () => boolean, timeoutMs = 5_000) => {
  const deadline = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > deadline) throw new Error('timed out');
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
};

describe('the reconciler trigger stand-in', () => {
  it('listens again after its listener fails, says so, and delivers what the new listener sees', async () => {
    received.length = 0;
    const { db, listeners } = scriptedFirestore();
    const failures: { message: string; retryInMs: number }[] = [];
    const trigger = emulateScheduleTrigger({
      db,
      projectId: 'p',
      url,
      retryMs: 20,
      onListenerError: (error, retryInMs) =>
        failures.push({ message: (error as Error).message, retryInMs }),
    });
    listeners[0]?.next(snapshot(['a']));
    await until(() => trigger.delivered() === 1);

    listeners[0]?.error(new Error('Unknown listen response type: {}'));
    expect(listeners[0]?.unsubscribed).toBe(true);
    expect(failures).toEqual([{ message: 'Unknown listen response type: {}', retryInMs: 20 }]);
    await until(() => listeners.length === 2);
    expect(trigger.restarts()).toBe(1);

    // The new listener's first snapshot lists every document: each is reconciled again,
    // including one written while nothing listened.
    listeners[1]?.next(snapshot(['a', 'b']));
    await until(() => trigger.delivered() === 3);
    expect(received).toEqual([
      'documents/schedules/a',
      'documents/schedules/a',
      'documents/schedules/b',
    ]);

    // Failing again and again, it waits longer each time (doubling), and keeps coming back.
    listeners[1]?.error(new Error('again'));
    await until(() => listeners.length === 3);
    listeners[2]?.error(new Error('and again'));
    expect(failures.map((f) => f.retryInMs)).toEqual([20, 20, 40]);
    await until(() => listeners.length === 4);
    await trigger.stop();
    expect(listeners[3]?.unsubscribed).toBe(true);
  });

  it('does not listen again once stopped', async () => {
    const { db, listeners } = scriptedFirestore();
    const trigger = emulateScheduleTrigger({ db, projectId: 'p', url, retryMs: 10 });
    listeners[0]?.error(new Error('gone'));
    await trigger.stop();
    await new Promise((resolve) => setTimeout(resolve, 50));
    expect(listeners).toHaveLength(1);
    expect(trigger.restarts()).toBe(0);
  });
});
