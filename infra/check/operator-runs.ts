/**
 * The operator's runs in a checked history: now and then a `pacer schedules trigger` (refused or
 * waiting while a sync runs), a `pacer schedules backfill` of a recent range (whose points the
 * planner has often served already), and a cancellation of a running backfill — the real
 * drivers (functions/operator/runs.ts) on the simulated store and bus, each as a process that
 * faults may kill.
 */
import { MemoryDispatchBus } from '../../functions/bus/memory.js';
import type { Settings } from '../../functions/config.js';
import { runBackfill, triggerRun, type OperatorRunDeps } from '../../functions/operator/runs.js';
import { perLane } from '../../functions/planner/plan.js';
import { LANES } from '../../functions/schedule/lane.js';
import { MemoryBackfills } from '../../functions/store/backfills.js';
import type { Topology } from '../../functions/topology.js';
import { uniform, type Rng } from '../sim/random.js';
import type { SimProcess, World } from '../sim/world.js';

export interface OperatorRunsContext {
  settings: Settings;
  topology: Topology;
  /** When operator runs may happen: `[from, until)`. */
  from: number;
  until: number;
  /** The schedules the history has. */
  ids: readonly string[];
  /**
   * Schedules of a provider key whose budget binds: the operator runs them only in the first
   * half of `[from, until)`. Their runs spend the key's tokens, as they must, so a backfill late
   * in the history could starve the key's planned runs past the quiet drain by design (the end
   * check demands every schedule healed by then).
   */
  budgeted?: ReadonlySet<string>;
  note: (scheduleId: string | null, text: string) => void;
  count: (what: string) => void;
}

/** Plans the operator's triggers, backfills and cancellations over the history. */
export function scheduleOperatorRuns(world: World, rng: Rng, context: OperatorRunsContext): void {
  const { settings, topology, ids, note, count } = context;
  const backfills = new MemoryBackfills((id) => world.store.runRecords(id));
  const depsFor = (process: SimProcess): OperatorRunDeps & { backfills: MemoryBackfills } => ({
    store: world.storeFor(process),
    bus: new MemoryDispatchBus(
      world.pubsub,
      perLane((lane) => topology.lanes[lane].topic),
    ),
    newId: () => world.newId(`${process.kind}-`),
    dispatchGraceMs: settings.dispatchGraceSeconds * 1_000,
    thresholds: settings.laneThresholds,
    sleep: (ms) => process.clock.sleep(ms),
    backfills,
    rateLimits: { store: world.rateLimits, limits: settings.rateLimits },
  });
  let at = context.from;
  for (;;) {
    at += uniform(rng, 30_000, 180_000);
    if (at >= context.until) break;
    const id = ids[Math.floor(rng() * ids.length)];
    const roll = rng();
    const waitMs = rng() < 0.5 ? 0 : Math.round(uniform(rng, 5_000, 40_000));
    const lane = rng() < 0.3 ? LANES[Math.floor(rng() * LANES.length)] : undefined;
    const back = Math.round(uniform(rng, 2, 30)) * 60_000;
    const span = Math.round(uniform(rng, 1, 20)) * 60_000;
    const max = Math.round(uniform(rng, 1, 6));
    const late = at > context.from + (context.until - context.from) / 2;
    world.clock.at(at, () => {
      if (id === undefined || (late && context.budgeted?.has(id) === true)) return;
      count('operator');
      if (roll < 0.5) {
        note(id, `operator: triggers a run${waitMs > 0 ? `, waiting up to ${waitMs} ms` : ''}`);
        const process = world.spawn('trigger');
        void process
          .run(() =>
            triggerRun(depsFor(process), id, {
              ...(lane === undefined ? {} : { lane }),
              waitMs,
              pollMs: 5_000,
            }),
          )
          .then(
            (outcome) => {
              if (outcome.kind === 'dispatched') count('manual runs');
              note(id, `operator: trigger ${outcome.kind}`);
              process.kill();
            },
            () => undefined,
          );
        return;
      }
      if (roll < 0.85) {
        const now = world.clock.now();
        const to = now - back;
        note(
          id,
          `operator: backfills ${span / 60_000} min up to ${back / 60_000} min ago, at most ${max}`,
        );
        const process = world.spawn('backfill');
        void process
          .run(() =>
            runBackfill(depsFor(process), id, {
              from: to - span,
              to,
              lane: lane ?? 'low',
              max,
              dryRun: false,
              pollMs: 5_000,
              spacingMs: 1_000,
              maxPoints: 1_000,
            }),
          )
          .then(
            (result) => {
              if (result.kind !== 'refused') {
                result.dispatched.forEach(() => {
                  count('backfilled points');
                });
              }
              note(
                id,
                `operator: backfill ${result.kind}${result.kind === 'refused' ? ` (${result.reason})` : `, ${result.dispatched.length} dispatched`}`,
              );
              process.kill();
            },
            () => undefined,
          );
        return;
      }
      note(id, 'operator: cancels its backfills');
      void backfills.cancelBackfills(id, world.clock.now());
    });
  }
}
