/**
 * The simulator's front door: runs strategies through a scenario and measures them against
 * the same yardstick. Deterministic: a scenario and its seed give the same report.
 */
import { iso } from '../../functions/schedule/time.js';
import {
  measureLoad,
  measureRun,
  measureSchedule,
  yardstick,
  type Load,
  type ScheduleRun,
  type StrategyResult,
} from './measure.js';
import type { SimSchedule } from './population.js';
import { STRATEGIES, type RunRecord, type StrategyName } from './record.js';
import { describeDuration, type FailureRates, type Scenario } from './scenario.js';
import { runPacer } from './strategies/pacer.js';
import { FIXED_CAPS, FLAT, runSequential } from './strategies/sequential.js';

/** The scenario as the report shows it. */
export interface ScenarioSummary {
  name: string;
  description: string;
  seed: number;
  start: string;
  end: string;
  warmUpMs: number;
  schedules: number;
  groups: Record<string, number>;
  workers: Scenario['workers'];
  sharedLimit: number | null;
  syncDuration: string;
  failures: FailureRates;
  outages: { from: string; to: string }[];
  subTickSeconds: number;
}

export interface SimulationReport {
  scenario: ScenarioSummary;
  load: Load;
  strategies: StrategyResult[];
}

/** Runs one strategy. */
export async function runStrategy(
  strategy: StrategyName,
  scenario: Scenario,
  schedules: readonly SimSchedule[],
): Promise<RunRecord> {
  switch (strategy) {
    case 'pacer':
      return runPacer(scenario, schedules);
    case 'flat':
      return runSequential(FLAT, scenario, schedules);
    case 'fixed-caps':
      return runSequential(FIXED_CAPS, scenario, schedules);
  }
}

/** Runs `strategies` through the scenario; the report and the raw runs (for detail). */
export async function simulate(
  scenario: Scenario,
  schedules: readonly SimSchedule[],
  strategies: readonly StrategyName[] = STRATEGIES,
): Promise<{ report: SimulationReport; runs: RunRecord[] }> {
  const stick = yardstick(scenario, schedules);
  const runs: RunRecord[] = [];
  // One after another: each strategy has the virtual clock to itself.
  for (const strategy of strategies) runs.push(await runStrategy(strategy, scenario, schedules));
  return {
    report: {
      scenario: summarize(scenario, schedules),
      load: measureLoad(stick),
      strategies: runs.map((run) => measureRun(stick, run)),
    },
    runs,
  };
}

/** One schedule's detail under each run. */
export function scheduleDetail(
  scenario: Scenario,
  schedules: readonly SimSchedule[],
  runs: readonly RunRecord[],
  scheduleId: string,
): ScheduleRun[] {
  const stick = yardstick(scenario, schedules);
  return runs.map((run) => measureSchedule(stick, run, scheduleId));
}

function summarize(scenario: Scenario, schedules: readonly SimSchedule[]): ScenarioSummary {
  const groups: Record<string, number> = {};
  for (const schedule of schedules) {
    const group = schedule.group ?? '(inline)';
    groups[group] = (groups[group] ?? 0) + 1;
  }
  return {
    name: scenario.name,
    description: scenario.description,
    seed: scenario.seed,
    start: iso(scenario.start),
    end: iso(scenario.end),
    warmUpMs: scenario.warmUpMs,
    schedules: schedules.length,
    groups,
    workers: scenario.workers,
    sharedLimit: scenario.sharedLimit,
    syncDuration: describeDuration(scenario.syncDuration),
    failures: scenario.failures,
    outages: scenario.outages.map((outage) => ({ from: iso(outage.from), to: iso(outage.to) })),
    subTickSeconds: scenario.pacer.settings.subTickSeconds,
  };
}
