/**
 * A stand-in for the Eventarc trigger that feeds `reconcileSchedule` in production: a Firestore
 * listener on `schedules` that, for every document written or deleted, delivers a
 * `google.cloud.firestore.document.v1.written` CloudEvent (binary mode, as Eventarc does) to the
 * reconciler's functions-framework server. The function is the same code either way.
 */
import type { Firestore } from '@google-cloud/firestore';
import { SCHEDULES } from '../../functions/store/state.js';

export interface ScheduleTrigger {
  /** Events delivered so far. */
  delivered(): number;
  /** Times the listener failed and was started again. */
  restarts(): number;
  /** Stops listening and waits for deliveries in progress. */
  stop(): Promise<void>;
}

export interface ScheduleTriggerOptions {
  db: Firestore;
  projectId: string;
  /** The reconciler's server, e.g. `http://127.0.0.1:8085`. */
  url: string;
  /** Told about a delivery that failed (the listener keeps going). */
  onError?: (error: unknown, documentId: string) => void;
  /** Told when the listener itself failed, and when it listens again. */
  onListenerError?: (error: unknown, retryInMs: number) => void;
  /** The first wait before listening again (doubling per failure in a row, up to 30 s). */
  retryMs?: number;
}

/**
 * Delivers one `document.written` CloudEvent for `schedules/{id}` to the reconciler at `url`,
 * the way Eventarc does (binary mode; the protobuf payload is left out: the function reads the
 * document itself).
 */
export async function deliverScheduleEvent(
  url: string,
  projectId: string,
  id: string,
  version: string,
): Promise<void> {
  const response = await fetch(url, {
    method: 'POST',
    headers: {
      'ce-specversion': '1.0',
      'ce-id': `${id}@${version}`,
      'ce-source': `//firestore.googleapis.com/projects/${projectId}/databases/(default)`,
      'ce-type': 'google.cloud.firestore.document.v1.written',
      'ce-subject': `documents/${SCHEDULES}/${id}`,
      'ce-time': new Date().toISOString(),
      'ce-document': `${SCHEDULES}/${id}`,
      'ce-database': '(default)',
      'content-type': 'application/protobuf',
    },
  });
  await response.body?.cancel();
  if (!response.ok) throw new Error(`the reconciler answered ${response.status}`);
}

/**
 * Listens on `schedules` and delivers an event per change. When the listener fails (the
 * emulator has answered `Unknown listen response type: {}`, after which a listener never hears
 * anything again), it is started again after a pause: its first snapshot lists every document,
 * so each is reconciled once more, and a write made while nothing listened is not missed (the
 * reconciler leaves a consistent schedule unchanged).
 */
export function emulateScheduleTrigger(options: ScheduleTriggerOptions): ScheduleTrigger {
  let delivered = 0;
  let restarts = 0;
  let stopped = false;
  let unsubscribe: () => void = () => undefined;
  let retry: ReturnType<typeof setTimeout> | undefined;
  const firstRetryMs = options.retryMs ?? 1_000;
  let retryMs = firstRetryMs;
  // One delivery at a time, in the order Firestore reported the writes. A listener may fold
  // several quick writes into one change, as Eventarc never does; the reconciler reads the
  // document anyway, so the latest version is what counts.
  let queue: Promise<void> = Promise.resolve();
  const deliver = (id: string, version: string) => {
    queue = queue.then(async () => {
      try {
        await deliverScheduleEvent(options.url, options.projectId, id, version);
        delivered++;
      } catch (error) {
        options.onError?.(error, id);
      }
    });
  };
  const listen = () => {
    unsubscribe = options.db.collection(SCHEDULES).onSnapshot(
      (snapshot) => {
        retryMs = firstRetryMs;
        for (const change of snapshot.docChanges()) {
          const version = change.type === 'removed' ? snapshot.readTime : change.doc.updateTime;
          deliver(change.doc.id, version.toDate().toISOString());
        }
      },
      (error) => {
        unsubscribe();
        if (stopped) return;
        options.onListenerError?.(error, retryMs);
        retry = setTimeout(() => {
          retry = undefined;
          if (stopped) return;
          restarts++;
          listen();
        }, retryMs);
        retryMs = Math.min(retryMs * 2, 30_000);
      },
    );
  };
  listen();
  return {
    delivered: () => delivered,
    restarts: () => restarts,
    async stop() {
      stopped = true;
      if (retry !== undefined) clearTimeout(retry);
      unsubscribe();
      await queue;
    },
  };
}
