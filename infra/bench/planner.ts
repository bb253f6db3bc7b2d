/**
 * Planner benchmark on the emulators: seeds N schedules (10% of them due, across lanes), runs
 * sub-ticks back to back with the real tick code, and reports per size the documents read per
 * sub-tick, the dispatches per second and the sub-tick duration.
 *
 *   npm run bench:planner -- [--sizes 1000,10000,100000] [--sub-ticks 5] [--json]
 *
 * Uses the emulators named by FIRESTORE_EMULATOR_HOST / PUBSUB_EMULATOR_HOST, or starts its own.
 * The Firestore emulator scans collections instead of using indexes, so its durations grow with
 * N where Firestore's would not; documents read is the measure that carries over.
 */
import { randomUUID } from 'node:crypto';
import { cpus, totalmem } from 'node:os';
import { parseArgs } from 'node:util';
import { PubSubBus } from '../../functions/bus/publisher.js';
import { systemClock } from '../../functions/clock.js';
import { FirestoreStore } from '../../functions/store/firestore.js';
import { createFirestore, createPubSub, emulatorProcessEnv } from '../../functions/clients.js';
import { defaultSettings, type Settings } from '../../functions/config.js';
import { createLogger } from '../../functions/log.js';
import { perLane } from '../../functions/planner/plan.js';
import { runSubTick, type SubTickSummary } from '../../functions/planner/tick.js';
import { LANES } from '../../functions/schedule/lane.js';
import { LiveConfig } from '../../functions/store/live-config.js';
import { SCHEDULE_STATES, SCHEDULES, SPEC_FIELD, timestamp } from '../../functions/store/state.js';
import { describeTopology } from '../../functions/topology.js';
import { startEmulators } from '../local/emulators.js';

export interface PlannerBenchRow {
  size: number;
  due: number;
  seedSeconds: number;
  subTicks: number;
  documentsReadPerSubTick: number;
  dispatchedPerSubTick: number;
  readsPerDispatch: number;
  subTickMs: { mean: number; max: number };
  dispatchesPerSecond: number;
}

export async function benchPlanner(
  sizes: readonly number[],
  subTicks: number,
  hosts: Record<string, string>,
): Promise<PlannerBenchRow[]> {
  const rows: PlannerBenchRow[] = [];
  for (const size of sizes) rows.push(await benchOneSize(size, subTicks, hosts));
  return rows;
}

async function benchOneSize(
  size: number,
  subTicks: number,
  hosts: Record<string, string>,
): Promise<PlannerBenchRow> {
  const projectId = `bench-planner-${size}-${randomUUID().slice(0, 6)}`;
  const env = emulatorProcessEnv({ ...hosts, GOOGLE_CLOUD_PROJECT: projectId });
  const db = createFirestore(env, projectId);
  const pubsub = createPubSub(env, projectId);
  // Lanes roomy enough that the budgets never stop dispatching: this measures the planner.
  const settings: Settings = {
    ...defaultSettings(),
    inFlightBudget: { high: 1_000_000, medium: 1_000_000, low: 1_000_000 },
    log: { level: 'silent', pretty: false },
  };
  const topology = describeTopology(settings);
  for (const lane of LANES) await pubsub.createTopic(topology.lanes[lane].topic);

  const now = Date.now();
  const seedStarted = Date.now();
  const writer = db.bulkWriter({ throttling: false });
  let due = 0;
  for (let i = 0; i < size; i++) {
    // Lanes 20% high, 30% medium, 50% low, independently of which 10% are due.
    const mix = Math.floor(i / 10) % 10;
    const lane = mix < 2 ? 'high' : mix < 5 ? 'medium' : 'low';
    const isDue = i % 10 === 0;
    if (isDue) due++;
    const spec = {
      name: `schedule ${i}`,
      cadence: {
        kind: 'interval',
        every: lane === 'high' ? '1m' : lane === 'medium' ? '5m' : '1h',
      },
      target: { type: 'http', url: 'https://target.example.com/sync' },
    };
    // The operator's document, and pacer's as reconciling would leave it.
    void writer.set(db.collection(SCHEDULES).doc(`s-${i}`), spec);
    void writer.set(db.collection(SCHEDULE_STATES).doc(`s-${i}`), {
      [SPEC_FIELD]: spec,
      state: {
        status: 'active',
        lane,
        nextDueAt: timestamp(isDue ? now - (i % 600) * 1_000 : now + 3_600_000 + i),
        lease: null,
      },
    });
  }
  await writer.close();
  const seedSeconds = (Date.now() - seedStarted) / 1_000;

  const deps = {
    store: new FirestoreStore(db),
    bus: new PubSubBus(pubsub, {
      topics: perLane((lane) => topology.lanes[lane].topic),
      timeoutMs: 10_000,
    }),
    config: new LiveConfig(settings),
    logger: createLogger({ level: 'silent', pretty: false, service: 'bench' }),
    clock: { ...systemClock, sleep: () => Promise.resolve() },
    newId: randomUUID,
    holder: 'bench',
  };
  const summaries: SubTickSummary[] = [];
  for (let index = 0; index < subTicks; index++) {
    summaries.push(await runSubTick(deps, settings, index));
  }
  await deps.bus.close();
  await Promise.all([db.terminate(), pubsub.close()]);

  const dispatched = summaries.map((s) =>
    LANES.reduce((sum, lane) => sum + s.lanes[lane].dispatched, 0),
  );
  const totalDispatched = dispatched.reduce((a, b) => a + b, 0);
  const totalReads = summaries.reduce((sum, s) => sum + s.documentsRead, 0);
  const durations = summaries.map((s) => s.durationMs);
  const totalMs = durations.reduce((a, b) => a + b, 0);
  return {
    size,
    due,
    seedSeconds: round(seedSeconds, 1),
    subTicks,
    documentsReadPerSubTick: round(totalReads / subTicks, 1),
    dispatchedPerSubTick: round(totalDispatched / subTicks, 1),
    readsPerDispatch: round(totalReads / Math.max(1, totalDispatched), 2),
    subTickMs: { mean: Math.round(totalMs / subTicks), max: Math.max(...durations) },
    dispatchesPerSecond: Math.round((totalDispatched * 1_000) / Math.max(1, totalMs)),
  };
}

export function machine(): string {
  const cpu = cpus();
  return `${cpu.length} × ${cpu[0]?.model.trim() ?? 'unknown CPU'}, ${Math.round(totalmem() / 2 ** 30)} GiB, Node ${process.version}`;
}

export function plannerTable(rows: readonly PlannerBenchRow[]): string {
  const header =
    '| schedules | due | sub-ticks | docs read / sub-tick | dispatched / sub-tick | reads / dispatch | sub-tick ms (mean / max) | dispatches / s |';
  const lines = rows.map(
    (r) =>
      `| ${r.size.toLocaleString('en')} | ${r.due.toLocaleString('en')} | ${r.subTicks} | ${r.documentsReadPerSubTick} | ${r.dispatchedPerSubTick} | ${r.readsPerDispatch} | ${r.subTickMs.mean} / ${r.subTickMs.max} | ${r.dispatchesPerSecond} |`,
  );
  return [header, '| --- | --- | --- | --- | --- | --- | --- | --- |', ...lines].join('\n');
}

function round(value: number, digits: number): number {
  const factor = 10 ** digits;
  return Math.round(value * factor) / factor;
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      sizes: { type: 'string', default: '1000,10000,100000' },
      'sub-ticks': { type: 'string', default: '5' },
      json: { type: 'boolean', default: false },
    },
  });
  const sizes = values.sizes.split(',').map((size) => Number(size.trim()));
  const subTicks = Number(values['sub-ticks']);
  if (
    sizes.some((size) => !Number.isInteger(size) || size < 10) ||
    !Number.isInteger(subTicks) ||
    subTicks < 1
  ) {
    console.error('usage: bench:planner [--sizes 1000,10000] [--sub-ticks 5] [--json]');
    process.exit(2);
  }
  const emulators = await startEmulators();
  try {
    const rows = await benchPlanner(sizes, subTicks, emulators.env);
    if (values.json) console.log(JSON.stringify({ machine: machine(), rows }, null, 2));
    else console.log(`Planner on the emulators — ${machine()}\n\n${plannerTable(rows)}`);
  } finally {
    await emulators.stop();
  }
}

if (process.argv[1] && import.meta.url === new URL(process.argv[1], 'file:').href) {
  await main();
}
