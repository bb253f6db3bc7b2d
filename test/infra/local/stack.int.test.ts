/**
 * `npm start` end to end: the stack as a subprocess (its own emulators, every function, the
 * scheduler stand-in, the demo), watched until the demo shows what it should, then stopped with
 * SIGINT — after which nothing it started is left.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, describe, expect, it } from 'vitest';
import { createFirestore } from '../../../functions/clients.js';
import { defaultSettings } from '../../../functions/config.js';
import { laneAt } from '../../../functions/schedule/cadence.js';
import { validateSchedule } from '../../../functions/schedule/spec.js';
import { EMPTY_STATE } from '../../../functions/protocol/state.js';
import { allStates, stateOf } from '../../support/schedule-docs.js';
import { demoSchedules } from '../../../infra/local/demo.js';
import { REPO_ROOT } from '../../../infra/local/functions.js';
import { portLayout } from '../../../infra/local/stack.js';
import { acceptsConnections, processGroupAlive } from '../../../infra/local/supervise.js';
import { describeGuardEntries, GUARD_MODULE, readGuardLog } from '../../support/loopback.js';

/** Every port of the stack at `base`. */
function ports(base: number): number[] {
  const layout = portLayout(base);
  return [layout.firestore, layout.pubsub, ...Object.values(layout.functions), layout.target];
}

/** A port base with every port the stack needs free. */
async function freePortBase(): Promise<number> {
  for (;;) {
    // Below Linux's ephemeral range (32768 up), where outgoing connections take their ports.
    const base = 20_000 + Math.floor(Math.random() * 12_000);
    const taken = await Promise.all(ports(base).map((port) => acceptsConnections(port)));
    if (!taken.some(Boolean)) return base;
  }
}

let stack: ChildProcess | undefined;
afterAll(() => {
  if (stack?.exitCode === null) stack.kill('SIGKILL');
});

/**
 * Starts the built stack with `args` and without the emulator host variables (so it starts its
 * own emulators), collecting its JSON lines.
 */
function spawnStack(args: string[], extraEnv: Record<string, string> = {}) {
  const env = {
    ...Object.fromEntries(
      Object.entries(process.env).filter(
        ([key]) => !key.endsWith('_EMULATOR_HOST') && !key.startsWith('PACER_'),
      ),
    ),
    ...extraEnv,
  };
  const child = spawn(process.execPath, ['dist/infra/local/stack.js', ...args, '--json'], {
    cwd: REPO_ROOT,
    env,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  stack = child;
  const lines: Record<string, unknown>[] = [];
  createInterface({ input: child.stdout as NodeJS.ReadableStream }).on('line', (line) => {
    try {
      lines.push(JSON.parse(line) as Record<string, unknown>);
    } catch {
      lines.push({ text: line });
    }
  });
  let stderr = '';
  child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));

  /** Polls `check` until it gives a value; fails if the stack exits or time runs out. */
  const waitFor = async <T>(
    what: string,
    check: () => Promise<T | undefined> | T | undefined,
    timeoutMs: number,
  ): Promise<T> => {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const value = await check();
      if (value !== undefined) return value;
      if (child.exitCode !== null) {
        throw new Error(`the stack exited while waiting for ${what}: ${stderr}`);
      }
      if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
      await sleep(250);
    }
  };
  const ready = () => waitFor('the stack to be ready', () => lines.find((l) => l.ready), 120_000);
  /** SIGINT, as a terminal's Ctrl-C; resolves with the exit code and how long the stop took. */
  const interrupt = async () => {
    const stopping = Date.now();
    child.kill('SIGINT');
    const [code] = (await once(child, 'exit')) as [number | null];
    return { code, stopMs: Date.now() - stopping };
  };
  return { child, lines, waitFor, ready, interrupt };
}

/**
 * The local addresses TCP sockets listen on at `port`, from /proc/net/tcp and tcp6 (state 0A is
 * LISTEN; IPv4 addresses are little-endian hex, IPv6 four little-endian words).
 */
function listeningAddresses(port: number): string[] {
  const found: string[] = [];
  for (const [file, v6] of [
    ['/proc/net/tcp', false],
    ['/proc/net/tcp6', true],
  ] as const) {
    for (const row of readFileSync(file, 'utf8').split('\n').slice(1)) {
      const [, local, , state] = row.trim().split(/\s+/);
      if (local === undefined || state !== '0A') continue;
      const [hex = '', portHex = ''] = local.split(':');
      if (Number.parseInt(portHex, 16) !== port) continue;
      found.push(v6 ? ipv6FromProc(hex) : ipv4FromProc(hex));
    }
  }
  return found;
}

function ipv4FromProc(hex: string): string {
  return [6, 4, 2, 0].map((i) => Number.parseInt(hex.slice(i, i + 2), 16)).join('.');
}

function ipv6FromProc(hex: string): string {
  const words = [0, 8, 16, 24].map((i) => ipv4FromProc(hex.slice(i, i + 8)).split('.'));
  const bytes = words.flat().map(Number);
  const groups = Array.from({ length: 8 }, (_, i) =>
    (((bytes[2 * i] ?? 0) << 8) | (bytes[2 * i + 1] ?? 0)).toString(16),
  );
  return groups.join(':').replace(/(^|:)0(:0)+(:|$)/, '::');
}

describe('npm start', () => {
  it('runs all of pacer on the emulators until Ctrl-C, on loopback only, and leaves nothing behind', async () => {
    const base = await freePortBase();
    // The stack and every process it starts run under the loopback guard (NODE_OPTIONS from
    // vitest.config.ts), recording into a log of this test's own.
    const guardLog = join(mkdtempSync(join(tmpdir(), 'pacer-stack-')), 'loopback-guard.log');
    const running = spawnStack(['--tick-every', '5s', '--port-base', String(base)], {
      LOOPBACK_GUARD_LOG: guardLog,
    });
    const { lines, waitFor } = running;
    await running.ready();
    const readyAt = Date.now();

    // Every process it started announced its process group.
    const pgids = lines.flatMap((line) => (typeof line.pgid === 'number' ? [line.pgid] : []));
    expect(pgids.length).toBe(2 + 6); // two emulators, six functions
    // The guard is loaded in every function server (their groups' leaders are the servers).
    const functionPgids = lines.flatMap((line) =>
      typeof line.pgid === 'number' && typeof line.function === 'string' ? [line.pgid] : [],
    );
    expect(functionPgids.length).toBe(6);
    for (const pgid of functionPgids) {
      expect(readFileSync(`/proc/${pgid}/environ`, 'utf8')).toContain(GUARD_MODULE);
    }
    // Every function server listens on 127.0.0.1 only: the kernel's own table of listening
    // sockets says so (nothing is sent anywhere to find out).
    for (const [name, port] of Object.entries(portLayout(base).functions)) {
      expect(listeningAddresses(port), name).toEqual(['127.0.0.1']);
    }
    const db = createFirestore(
      { FIRESTORE_EMULATOR_HOST: `127.0.0.1:${portLayout(base).firestore}` },
      'pacer-local',
    );

    // Which demo events are in the high lane now (the demo is seeded relative to now).
    const highLaneEvents = Object.entries(demoSchedules(Date.now(), 'http://demo')).flatMap(
      ([id, document]) => {
        const validation = validateSchedule(document);
        if (!validation.ok || validation.spec.cadence.kind !== 'event') return [];
        const { cadence, lane } = validation.spec;
        const inForce = laneAt(cadence, lane, Date.now(), defaultSettings().laneThresholds);
        return inForce === 'high' ? [id] : [];
      },
    );
    expect(highLaneEvents.length).toBeGreaterThanOrEqual(2);

    await waitFor(
      'the high-lane demo events to sync twice',
      async () => {
        const states = await Promise.all(
          highLaneEvents.map(async (id) => (await stateOf(db, id)) ?? EMPTY_STATE),
        );
        return states.every((state) => state.runCount >= 2) ? states : undefined;
      },
      150_000,
    );
    // Dispatch ahead: after its first sync (due at once when seeded, before the first tick), a
    // high-lane event starts each sync within a second of its point, by the store's clock.
    for (const id of highLaneEvents) {
      const lateness = lines
        .filter((line) => line.event === 'sync.started' && line.scheduleId === id)
        .map((line) => line.lateMs as number);
      expect(lateness.length, id).toBeGreaterThanOrEqual(2);
      for (const late of lateness.slice(1)) {
        expect(late, id).toBeGreaterThanOrEqual(0);
        expect(late, id).toBeLessThan(1_000);
      }
    }
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
    // The long demo sync went to a job execution (a child process of the low-lane worker),
    // which holds its lease while its 3-minute call runs.
    await waitFor(
      'the long demo sync to be handed to a job execution that holds its lease',
      async () => {
        const started = lines.some(
          (line) => line.event === 'job.started' && line.scheduleId === 'full-export',
        );
        const state = (await stateOf(db, 'full-export')) ?? EMPTY_STATE;
        return started && state.lease?.running === true ? state : undefined;
      },
      90_000,
    );
    const broken = (await stateOf(db, 'broken-schedule')) ?? EMPTY_STATE;
    expect(broken.status).toBe('invalid');
    expect(broken.error).toContain('cadence.every: "5 min" is not a duration');

    // A full minute of syncs, and not one attempt to reach beyond loopback in any process.
    const runsSoFar = async () => {
      const all = await allStates(db);
      return [...all.values()].reduce((sum, state) => sum + state.runCount, 0);
    };
    // (The demo was seeded fresh just before ready, so every run counted happened since.)
    await sleep(Math.max(0, readyAt + 60_000 - Date.now()));
    expect(await runsSoFar()).toBeGreaterThanOrEqual(5);
    expect(describeGuardEntries(readGuardLog(guardLog))).toBe('');
    await db.terminate();

    // Every process logged through the one stream, tagged with its name.
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
    const { code, stopMs } = await running.interrupt();
    expect(code).toBe(0);
    expect(stopMs).toBeLessThan(15_000);
    for (const pgid of pgids) expect(processGroupAlive(pgid), `process group ${pgid}`).toBe(false);
    const stillTaken = await Promise.all(ports(base).map((port) => acceptsConnections(port)));
    expect(stillTaken.every((taken) => !taken)).toBe(true);
  }, 300_000);

  it('stops within seconds even while a planner tick is in flight, and a second start on the same ports works at once', async () => {
    const base = await freePortBase();
    for (const start of ['first', 'second']) {
      // The default one-minute tick: its first call to planTick starts at once and plans ~55 s.
      const running = spawnStack(['--no-seed', '--port-base', String(base)]);
      await running.ready();
      const { code, stopMs } = await running.interrupt();
      // On a failure, what the stack said while it stopped (a slow step names itself).
      const said = running.lines
        .filter((line) => line.process === 'pacer-local' && line.severity !== 'INFO')
        .map((line) => String(line.message));
      expect(code, `${start} start: ${said.join('; ')}`).toBe(0);
      expect(stopMs, `${start} start`).toBeLessThan(10_000);
    }
  }, 300_000);
});
