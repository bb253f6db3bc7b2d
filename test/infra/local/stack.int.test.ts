/**
 * `npm start` end to end: the stack as a subprocess (its own emulators, every function, the
 * scheduler stand-in at a 5 s tick, the demo), watched until the demo shows what it should, then
 * stopped with SIGINT — after which nothing it started is left.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { createInterface } from 'node:readline';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, describe, expect, it } from 'vitest';
import { createFirestore } from '../../../functions/clients.js';
import { laneAt } from '../../../functions/schedule/cadence.js';
import { defaultSettings } from '../../../functions/config.js';
import { validateSchedule } from '../../../functions/schedule/spec.js';
import { readState, SCHEDULES } from '../../../functions/store/state.js';
import { demoSchedules } from '../../../infra/local/demo.js';
import { REPO_ROOT } from '../../../infra/local/functions.js';
import { portLayout } from '../../../infra/local/stack.js';
import { acceptsConnections, processGroupAlive } from '../../../infra/local/supervise.js';

/** A port base with every port the stack needs free. */
async function freePortBase(): Promise<number> {
  for (;;) {
    const base = 20_000 + Math.floor(Math.random() * 30_000);
    const layout = portLayout(base);
    const ports = [
      layout.firestore,
      layout.pubsub,
      ...Object.values(layout.functions),
      layout.target,
    ];
    const taken = await Promise.all(ports.map((port) => acceptsConnections(port)));
    if (!taken.some(Boolean)) return base;
  }
}

let stack: ChildProcess | undefined;
afterAll(() => {
  if (stack?.exitCode === null) stack.kill('SIGKILL');
});

describe('npm start', () => {
  it('runs all of pacer on the emulators until Ctrl-C, and leaves nothing behind', async () => {
    const base = await freePortBase();
    const layout = portLayout(base);
    // Without the emulator host variables: the stack starts its own emulators.
    const env = Object.fromEntries(
      Object.entries(process.env).filter(
        ([key]) => !key.endsWith('_EMULATOR_HOST') && !key.startsWith('PACER_'),
      ),
    );
    stack = spawn(
      process.execPath,
      ['dist/infra/local/stack.js', '--tick-every', '5s', '--port-base', String(base), '--json'],
      { cwd: REPO_ROOT, env, stdio: ['ignore', 'pipe', 'pipe'] },
    );
    const lines: Record<string, unknown>[] = [];
    createInterface({ input: stack.stdout as NodeJS.ReadableStream }).on('line', (line) => {
      try {
        lines.push(JSON.parse(line) as Record<string, unknown>);
      } catch {
        lines.push({ text: line });
      }
    });
    let stderr = '';
    stack.stderr?.on('data', (chunk: Buffer) => (stderr += chunk.toString()));

    const waitFor = async <T>(
      what: string,
      check: () => Promise<T | undefined> | T | undefined,
      timeoutMs: number,
    ) => {
      const deadline = Date.now() + timeoutMs;
      for (;;) {
        const value = await check();
        if (value !== undefined) return value;
        if (stack?.exitCode !== null)
          throw new Error(`the stack exited while waiting for ${what}: ${stderr}`);
        if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
        await sleep(500);
      }
    };
    await waitFor(
      'the stack to be ready',
      () => lines.find((line) => line.ready === true),
      120_000,
    );

    // Every process it started announced its process group.
    const pgids = lines.flatMap((line) => (typeof line.pgid === 'number' ? [line.pgid] : []));
    expect(pgids.length).toBe(2 + 6); // two emulators, six functions
    // Every function logged through the one stream, tagged with its process.
    const db = createFirestore(
      { FIRESTORE_EMULATOR_HOST: `127.0.0.1:${layout.firestore}` },
      'pacer-local',
    );

    // Which demo events are in the high lane now (the demo is seeded relative to now).
    const demo = demoSchedules(Date.now(), 'http://demo');
    const highLaneEvents = Object.entries(demo).flatMap(([id, document]) => {
      const validation = validateSchedule(document);
      if (!validation.ok || validation.spec.cadence.kind !== 'event') return [];
      const lane = laneAt(
        validation.spec.cadence,
        validation.spec.lane,
        Date.now(),
        defaultSettings().laneThresholds,
      );
      return lane === 'high' ? [id] : [];
    });
    expect(highLaneEvents.length).toBeGreaterThanOrEqual(2);

    await waitFor(
      'the high-lane demo events to sync twice',
      async () => {
        const states = await Promise.all(
          highLaneEvents.map(async (id) =>
            readState((await db.collection(SCHEDULES).doc(id).get()).data()),
          ),
        );
        return states.every((state) => state.runCount >= 2) ? states : undefined;
      },
      150_000,
    );
    await waitFor(
      'the always-failing target to be dead-lettered',
      async () => {
        const letters = await db
          .collection('deadLetters')
          .where('scheduleId', '==', 'always-fails')
          .get();
        return letters.empty ? undefined : letters.docs[0]?.data();
      },
      90_000,
    );
    const broken = readState((await db.collection(SCHEDULES).doc('broken-schedule').get()).data());
    expect(broken.status).toBe('invalid');
    expect(broken.error).toContain('cadence.every: "5 min" is not a duration');
    await db.terminate();

    const processes = new Set(lines.map((line) => line.process));
    for (const name of [
      'planTick',
      'syncHigh',
      'recordDeadLetter',
      'reconcileSchedule',
      'demo-target',
    ]) {
      expect(processes).toContain(name);
    }

    // Ctrl-C: everything stops within seconds, and every port is free again.
    const stopped = Date.now();
    stack.kill('SIGINT');
    const [code] = (await once(stack, 'exit')) as [number | null];
    expect(code).toBe(0);
    expect(Date.now() - stopped).toBeLessThan(15_000);
    for (const pgid of pgids) expect(processGroupAlive(pgid), `process group ${pgid}`).toBe(false);
    const ports = [
      layout.firestore,
      layout.pubsub,
      ...Object.values(layout.functions),
      layout.target,
    ];
    const stillTaken = await Promise.all(ports.map((port) => acceptsConnections(port)));
    expect(stillTaken.every((taken) => !taken)).toBe(true);
  }, 300_000);

  it('stops within seconds even while a planner tick is in flight, and a second start on the same ports works at once', async () => {
    const base = await freePortBase();
    const env = Object.fromEntries(
      Object.entries(process.env).filter(
        ([key]) => !key.endsWith('_EMULATOR_HOST') && !key.startsWith('PACER_'),
      ),
    );
    const startAndStop = async () => {
      // The default one-minute tick: its first call to planTick starts at once and plans ~55 s.
      const child = spawn(
        process.execPath,
        ['dist/infra/local/stack.js', '--no-seed', '--port-base', String(base), '--json'],
        { cwd: REPO_ROOT, env, stdio: ['ignore', 'pipe', 'pipe'] },
      );
      stack = child;
      const lines: Record<string, unknown>[] = [];
      createInterface({ input: child.stdout as NodeJS.ReadableStream }).on('line', (line) => {
        try {
          lines.push(JSON.parse(line) as Record<string, unknown>);
        } catch {
          lines.push({ text: line });
        }
      });
      const started = Date.now();
      while (!lines.some((line) => line.ready === true)) {
        if (child.exitCode !== null) throw new Error('the stack exited before it was ready');
        if (Date.now() - started > 120_000) throw new Error('the stack was not ready in 2 minutes');
        await sleep(200);
      }
      const readyAfterMs = Date.now() - started;
      const stopping = Date.now();
      child.kill('SIGINT');
      const [code] = (await once(child, 'exit')) as [number | null];
      return { code, readyAfterMs, stopMs: Date.now() - stopping };
    };

    const first = await startAndStop();
    expect(first.code).toBe(0);
    expect(first.stopMs).toBeLessThan(10_000);
    const second = await startAndStop();
    expect(second.code).toBe(0);
    expect(second.stopMs).toBeLessThan(10_000);
  }, 300_000);
});
