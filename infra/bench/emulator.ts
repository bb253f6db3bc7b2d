/**
 * The emulator part of `npm run bench`: pacer end to end on the Firestore and Pub/Sub emulators,
 * and, in the same run, the emulators' own ceiling for the path pacer takes, so that pacer's
 * throughput reads as a share of what this machine's emulators can do at all.
 *
 * - ceiling · publish → push: messages published to a topic as fast as the client batches
 *   them, pushed to a bare HTTP server that answers 204 at once;
 * - ceiling · conditional updates: updates with a last-update-time precondition (pacer's claim);
 * - ceiling · transactions: read-write transactions of one document (an operator's run, or a
 *   completion that someone else's write forced into a transaction);
 * - ceiling · a sync's Firestore path: what a worker does per sync (a read, a write conditional on
 *   it, then a conditional write with a run record in one batch), run back to back with as many
 *   in flight as the Pub/Sub emulator pushes at once to the three lane subscriptions;
 * - pacer: `planTick` and the three lane workers under functions-framework, fed by the push
 *   subscriptions of the topology, syncing N schedules that are all due against a target that
 *   answers at once. Caps and budgets are raised so that the planner's pacing (by design 80
 *   dispatches per 10 s sub-tick) does not hide what the path can carry.
 *
 * Emulators are started for the run (or reused from FIRESTORE_EMULATOR_HOST / PUBSUB_EMULATOR_HOST).
 */
import { randomUUID } from 'node:crypto';
import { once } from 'node:events';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';
import type { Firestore } from '@google-cloud/firestore';
import type { PubSub } from '@google-cloud/pubsub';
import { createFirestore, createPubSub, emulatorProcessEnv } from '../../functions/clients.js';
import { loadSettings } from '../../functions/config.js';
import type { SubTickSummary } from '../../functions/planner/tick.js';
import { LANES } from '../../functions/schedule/lane.js';
import { SCHEDULE_STATES, SCHEDULES, SPEC_FIELD, timestamp } from '../../functions/store/state.js';
import { describeTopology, PLANNER_FUNCTION, WORKER_FUNCTIONS } from '../../functions/topology.js';
import { startEmulators } from '../local/emulators.js';
import { startFunctionServer, type FunctionServer } from '../local/functions.js';
import { applyTopology, pushEndpoint } from '../local/topology.js';
import { cpuCost, cpuMeter, describeCost, type CpuCost, type CpuParts } from './cpu.js';
import type { BenchRow, BenchSection } from './sections.js';

export interface EmulatorBenchOptions {
  /** Schedules pacer syncs end to end. */
  schedules: number;
  /** Messages for the publish → push ceiling. */
  messages: number;
  /** Writes for each Firestore ceiling. */
  operations: number;
  /** Requests in flight at once for the Firestore ceilings. */
  concurrency: number;
}

export const EMULATOR_BENCH_DEFAULTS: EmulatorBenchOptions = {
  schedules: 600,
  messages: 2_000,
  operations: 1_000,
  concurrency: 32,
};

export function emulatorSection(options: EmulatorBenchOptions): BenchSection {
  return {
    name: 'emulators',
    async run(): Promise<BenchRow[]> {
      const emulators = await startEmulators();
      // The emulators' process groups, for CPU per sync (none when an emulator was reused).
      const emulatorParts: CpuParts = Object.fromEntries(
        emulators.emulators.flatMap((emulator) =>
          emulator.pgid === undefined
            ? []
            : [[EMULATOR_NAMES[emulator.kind], [emulator.pgid]] as const],
        ),
      );
      try {
        const project = (label: string) => {
          const projectId = `bench-${label}-${randomUUID().slice(0, 6)}`;
          const env = emulatorProcessEnv({ ...emulators.env, GOOGLE_CLOUD_PROJECT: projectId });
          return {
            projectId,
            env,
            db: createFirestore(env, projectId),
            pubsub: createPubSub(env, projectId),
          };
        };
        const push = await pushCeiling(project('push'), options.messages, emulatorParts);
        const updates = await conditionalUpdateCeiling(project('updates'), options);
        const transactions = await transactionCeiling(project('transactions'), options);
        const syncPath = await syncPathCeiling(
          project('sync-path'),
          { ...options, concurrency: push.concurrency * LANES.length },
          emulatorParts,
        );
        const pacer = await pacerEndToEnd(project('pacer'), options.schedules, {}, emulatorParts);
        const rate = (perSecond: number) => `${Math.round(perSecond).toLocaleString('en')} /s`;
        // The most pacer's path could carry here: one push per sync on each of three lane
        // subscriptions, one conditional update (the claim) per sync, and the worker's own
        // Firestore path with no more in flight than the pushes.
        const bounds = [
          { what: 'push, 3 lanes', perSecond: push.perSecond * LANES.length },
          { what: 'conditional updates, 1 per sync', perSecond: updates.perSecond },
          {
            what: `a sync's Firestore path, ${syncPath.concurrency} in flight`,
            perSecond: syncPath.perSecond,
          },
        ].sort((a, b) => a.perSecond - b.perSecond);
        const binding = bounds[0] ?? { what: 'push', perSecond: push.perSecond };
        return [
          {
            section: 'emulators',
            case: 'ceiling · publish → push → no-op',
            values: {
              rate: rate(push.perSecond),
              ...cpuValues(push.cpu),
              'sample size': `${options.messages} messages`,
              notes: `at most ${push.concurrency} pushes in flight per subscription${cpuNote(push.cpu, 'message')}`,
            },
          },
          {
            section: 'emulators',
            case: 'ceiling · conditional updates',
            values: {
              rate: rate(updates.perSecond),
              'sample size': `${options.operations} updates`,
            },
          },
          {
            section: 'emulators',
            case: 'ceiling · read-write transactions',
            values: {
              rate: rate(transactions.perSecond),
              'sample size': `${options.operations} transactions`,
            },
          },
          {
            section: 'emulators',
            case: "ceiling · a sync's Firestore path",
            values: {
              rate: `${rate(syncPath.perSecond)} syncs`,
              ...cpuValues(syncPath.cpu),
              'sample size': `${options.operations} syncs`,
              notes: `read, conditional write, conditional write + run record; ${syncPath.concurrency} in flight (the pushes of 3 lanes)${cpuNote(syncPath.cpu, 'sync')}`,
            },
          },
          {
            section: 'emulators',
            case: 'pacer · planner + workers, all due',
            values: {
              schedules: options.schedules.toLocaleString('en'),
              rate: `${rate(pacer.syncsPerSecond)} syncs`,
              'docs read / dispatch': pacer.readsPerDispatch.toFixed(2),
              'of ceiling': `${((pacer.syncsPerSecond / binding.perSecond) * 100).toFixed(0)}%`,
              'of bare push': `${((pacer.syncsPerSecond / push.perSecond) * 100).toFixed(0)}%`,
              ...cpuValues(pacer.cpu),
              'sample size': `${options.schedules} syncs`,
              notes: `the path's ceiling here: ${rate(binding.perSecond)} (${binding.what})${cpuNote(pacer.cpu, 'sync')}`,
            },
          },
          ...(pacer.cpu === null
            ? []
            : [
                {
                  section: 'emulators',
                  case: "bound · the cores, at pacer's CPU per sync",
                  values: {
                    rate: `${rate(pacer.cpu.boundPerSecond)} syncs`,
                    'of bare push': `${((pacer.cpu.boundPerSecond / push.perSecond) * 100).toFixed(0)}%`,
                    ...cpuValues(pacer.cpu),
                    notes: `${pacer.cpu.cores} cores ÷ ${pacer.cpu.totalMs.toFixed(1)} ms a sync: the most this machine could carry were every part of the path free to run in parallel`,
                  },
                },
              ]),
        ];
      } finally {
        await emulators.stop();
      }
    },
  };
}

interface BenchProject {
  projectId: string;
  env: Record<string, string>;
  db: Firestore;
  pubsub: PubSub;
}

const EMULATOR_NAMES = { firestore: 'Firestore emulator', pubsub: 'Pub/Sub emulator' } as const;

/** The CPU column: milliseconds of CPU, all parts together, per message or sync. */
function cpuValues(cost: CpuCost | null): Record<string, string> {
  return cost === null ? {} : { 'CPU / item': `${cost.totalMs.toFixed(1)} ms` };
}

function cpuNote(cost: CpuCost | null, item: string): string {
  return cost === null ? '' : `; CPU per ${item}: ${describeCost(cost)}`;
}

async function close(project: BenchProject): Promise<void> {
  await Promise.all([project.db.terminate(), project.pubsub.close()]);
}

/**
 * A target on loopback that answers after `delayMs` (at once by default), counting requests and
 * the most it was ever serving at once.
 */
async function noOpTarget(delayMs = 0): Promise<{
  url: string;
  count: () => number;
  maxConcurrent: () => number;
  stop: () => Promise<void>;
}> {
  let count = 0;
  let active = 0;
  let maxConcurrent = 0;
  const server = http.createServer((request, response) => {
    active++;
    maxConcurrent = Math.max(maxConcurrent, active);
    request.resume();
    request.on('end', () => {
      setTimeout(() => {
        active--;
        count++;
        response.writeHead(204);
        response.end();
      }, delayMs);
    });
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    count: () => count,
    maxConcurrent: () => maxConcurrent,
    stop: async () => {
      server.closeAllConnections();
      await new Promise((resolve) => server.close(resolve));
    },
  };
}

async function waitFor(done: () => boolean, timeoutMs: number, what: string): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!done()) {
    if (Date.now() > deadline)
      throw new Error(`timed out after ${timeoutMs / 1_000} s waiting for ${what}`);
    await sleep(20);
  }
}

/**
 * Publish → push → a bare server that answers 204: messages per second, end to end. Then how
 * many pushes one subscription has in flight at once, against a server that takes 20 ms.
 */
async function pushCeiling(
  project: BenchProject,
  messages: number,
  parts: CpuParts,
): Promise<{ perSecond: number; concurrency: number; cpu: CpuCost | null }> {
  const pushAll = async (name: string, count: number, delayMs: number) => {
    const target = await noOpTarget(delayMs);
    try {
      const [topic] = await project.pubsub.createTopic(name);
      await topic.createSubscription(`${name}-push`, {
        pushConfig: { pushEndpoint: pushEndpoint(target.url, project.projectId, name) },
        ackDeadlineSeconds: 60,
      });
      const publisher = project.pubsub.topic(name, {
        batching: { maxMessages: 100, maxMilliseconds: 10 },
      });
      const started = performance.now();
      const meter = cpuMeter(parts);
      await Promise.all(
        Array.from({ length: count }, (_, i) => publisher.publishMessage({ json: { i } })),
      );
      await waitFor(() => target.count() >= count, 300_000, `${count} pushes`);
      const perSecond = (count * 1_000) / (performance.now() - started);
      return {
        perSecond,
        concurrency: target.maxConcurrent(),
        cpu: cpuCost(meter.read(), count),
      };
    } finally {
      await target.stop();
    }
  };
  try {
    const fast = await pushAll('bench-ceiling', messages, 0);
    const slow = await pushAll('bench-concurrency', 100, 20);
    return { perSecond: fast.perSecond, concurrency: slow.concurrency, cpu: fast.cpu };
  } finally {
    await close(project);
  }
}

/** Runs `task(i)` for i < total with at most `concurrency` in flight. */
async function pool(
  total: number,
  concurrency: number,
  task: (i: number) => Promise<unknown>,
): Promise<void> {
  let next = 0;
  await Promise.all(
    Array.from({ length: Math.min(concurrency, total) }, async () => {
      while (next < total) await task(next++);
    }),
  );
}

async function seedPlainDocuments(db: Firestore, count: number): Promise<void> {
  const writer = db.bulkWriter({ throttling: false });
  for (let i = 0; i < count; i++) void writer.set(db.doc(`bench/${i}`), { n: 0 });
  await writer.close();
}

/** Updates with a precondition on the update time read before: per second. */
async function conditionalUpdateCeiling(
  project: BenchProject,
  options: EmulatorBenchOptions,
): Promise<{ perSecond: number }> {
  try {
    await seedPlainDocuments(project.db, options.operations);
    const refs = Array.from({ length: options.operations }, (_, i) => project.db.doc(`bench/${i}`));
    const read = await project.db.getAll(...refs);
    const started = performance.now();
    await pool(options.operations, options.concurrency, async (i) => {
      const snapshot = read[i];
      if (snapshot === undefined) throw new Error(`document ${i} was not read`);
      await snapshot.ref.update({ n: 1 }, { lastUpdateTime: snapshot.updateTime });
    });
    return { perSecond: (options.operations * 1_000) / (performance.now() - started) };
  } finally {
    await close(project);
  }
}

/** Read-write transactions of one document each: per second. */
async function transactionCeiling(
  project: BenchProject,
  options: EmulatorBenchOptions,
): Promise<{ perSecond: number }> {
  try {
    await seedPlainDocuments(project.db, options.operations);
    const started = performance.now();
    await pool(options.operations, options.concurrency, (i) =>
      project.db.runTransaction(async (transaction) => {
        const ref = project.db.doc(`bench/${i}`);
        const snapshot = await transaction.get(ref);
        transaction.update(ref, { n: ((snapshot.get('n') as number | undefined) ?? 0) + 1 });
      }),
    );
    return { perSecond: (options.operations * 1_000) / (performance.now() - started) };
  } finally {
    await close(project);
  }
}

/**
 * A worker's Firestore path per sync, without the push, the function or the target: the start (a
 * read, then a write conditional on its update time) and the completion (a write conditional on
 * the start's, with a run record in the same batch), `concurrency` syncs in flight.
 */
async function syncPathCeiling(
  project: BenchProject,
  options: EmulatorBenchOptions,
  parts: CpuParts,
): Promise<{ perSecond: number; concurrency: number; cpu: CpuCost | null }> {
  try {
    await seedPlainDocuments(project.db, options.operations);
    const started = performance.now();
    const meter = cpuMeter(parts);
    await pool(options.operations, options.concurrency, async (i) => {
      const ref = project.db.doc(`bench/${i}`);
      const snapshot = await ref.get();
      const start = await ref.update({ n: 1 }, { lastUpdateTime: snapshot.updateTime });
      const completion = project.db.batch();
      completion.update(ref, { n: 2 }, { lastUpdateTime: start.writeTime });
      completion.set(ref.collection('runs').doc('r'), { outcome: 'success' });
      await completion.commit();
    });
    return {
      perSecond: (options.operations * 1_000) / (performance.now() - started),
      concurrency: options.concurrency,
      cpu: cpuCost(meter.read(), options.operations),
    };
  } finally {
    await close(project);
  }
}

/**
 * pacer's own path: N due schedules through `planTick`, the lane topics, push, the workers and
 * the target, until every one has synced.
 */
export async function pacerEndToEnd(
  project: BenchProject,
  schedules: number,
  overrides: { env?: Record<string, string>; spec?: Record<string, unknown> } = {},
  parts: CpuParts = {},
): Promise<{
  syncsPerSecond: number;
  readsPerDispatch: number;
  subTicks: SubTickSummary[];
  cpu: CpuCost | null;
}> {
  const target = await noOpTarget();
  const env = {
    ...project.env,
    PACER_LOG_LEVEL: 'warn',
    PACER_ALLOW_TARGET_NETWORKS: '127.0.0.0/8',
    // Caps and budgets out of the way: this measures the path, not the pacing.
    PACER_CAP_HIGH: '10000',
    PACER_CAP_MEDIUM: '10000',
    PACER_CAP_LOW: '10000',
    PACER_INFLIGHT_HIGH: '100000',
    PACER_INFLIGHT_MEDIUM: '100000',
    PACER_INFLIGHT_LOW: '100000',
    PACER_SUBTICK_SECONDS: '1',
    // Publishing ends with the tick's budget (see runTick): a budget of one sub-tick left no time
    // to publish after reading and claiming all N, so every claim was given back and claimed
    // again, tick after tick. Ten sub-ticks leave room; the clock stops at the last sync.
    PACER_TICK_BUDGET_SECONDS: '10',
    ...overrides.env,
  };
  const servers: FunctionServer[] = [];
  try {
    servers.push(
      ...(await Promise.all([
        startFunctionServer({ target: PLANNER_FUNCTION, signatureType: 'http', env }),
        ...LANES.map((lane) =>
          startFunctionServer({ target: WORKER_FUNCTIONS[lane], signatureType: 'cloudevent', env }),
        ),
      ])),
    );
    const url = (name: string) => servers.find((server) => server.target === name)?.url ?? '';
    const topology = describeTopology(loadSettings(env));
    // Dead letters are not part of this run (nothing fails): their subscription pushes to the
    // no-op target.
    await applyTopology(project.pubsub, topology, {
      projectId: project.projectId,
      endpoint: (name) => url(name) || target.url,
    });

    const now = Date.now();
    const writer = project.db.bulkWriter({ throttling: false });
    for (let i = 0; i < schedules; i++) {
      const lane = LANES[i % LANES.length] ?? 'low';
      const spec = {
        name: `schedule ${i}`,
        cadence: { kind: 'interval', every: '1h' },
        target: { type: 'http', url: `${target.url}/sync` },
        lane,
        ...overrides.spec,
      };
      // The operator's document, and pacer's as reconciling would leave it.
      void writer.set(project.db.collection(SCHEDULES).doc(`s-${i}`), spec);
      void writer.set(project.db.collection(SCHEDULE_STATES).doc(`s-${i}`), {
        [SPEC_FIELD]: spec,
        state: { status: 'active', lane, nextDueAt: timestamp(now - 1_000), lease: null },
      });
    }
    await writer.close();

    const summaries: SubTickSummary[] = [];
    const published = () => summaries.reduce((sum, summary) => sum + summary.published, 0);
    const started = performance.now();
    // The function servers are part of the path's CPU (the planner's and the three workers'); the
    // bench process is the no-op target and the loop that calls the planner.
    const groups = (planner: boolean) =>
      servers
        .filter((server) => (server.target === PLANNER_FUNCTION) === planner)
        .map((server) => server.process.pgid);
    const meter = cpuMeter({ ...parts, planner: groups(true), workers: groups(false) });
    const stopTicking = new AbortController();
    // Tick back to back until everything is dispatched (no idle ticks counted after that).
    const ticks = (async () => {
      while (!stopTicking.signal.aborted && published() < schedules) {
        const response = await fetch(url(PLANNER_FUNCTION), { method: 'POST' });
        const body = (await response.json()) as { outcome: string; subTicks?: SubTickSummary[] };
        if (!response.ok)
          throw new Error(`planTick answered ${response.status}: ${JSON.stringify(body)}`);
        summaries.push(...(body.subTicks ?? []));
      }
    })();
    let seconds: number;
    let cpu: CpuCost | null;
    try {
      await waitFor(() => target.count() >= schedules, 300_000, `${schedules} syncs`);
      seconds = (performance.now() - started) / 1_000;
      // Before the servers stop: an exited process's CPU time is no longer there to read.
      cpu = cpuCost(meter.read(), schedules);
    } finally {
      stopTicking.abort();
      await ticks;
    }
    // Reads up to the sub-tick that dispatched the last schedule; the idle ones the tick runs
    // after that are not the path's cost.
    let reads = 0;
    let dispatched = 0;
    for (const summary of summaries) {
      if (dispatched >= schedules) break;
      reads += summary.documentsRead;
      dispatched += summary.published;
    }
    return {
      syncsPerSecond: schedules / seconds,
      readsPerDispatch: reads / Math.max(1, published()),
      subTicks: summaries,
      cpu,
    };
  } finally {
    await Promise.all(servers.map((server) => server.process.stop()));
    await target.stop();
    await close(project);
  }
}
