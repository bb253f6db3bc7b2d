/**
 * `npm run sim`: runs a scenario through pacer and the designs it replaces, and prints the
 * report.
 *
 *   npm run sim -- --scenario test/scenarios/race-day.json [--strategy pacer|flat|fixed-caps]
 *                  [--seed N] [--schedule ID] [--json]
 *
 * Exit status: 0 after a report; 2 for bad usage or a scenario that cannot be read or is
 * invalid (the message names each problem).
 */
import { parseArgs } from 'node:util';
import { formatReport, formatScheduleDetail } from './report.js';
import { STRATEGIES, type StrategyName } from './record.js';
import { loadScenarioFile } from './scenario-file.js';
import type { ScenarioScaling } from './scale.js';
import { scheduleDetail, simulate } from './simulate.js';

export const USAGE = `usage: npm run sim -- --scenario FILE [--strategy ${STRATEGIES.join('|')}] [--seed N] [--schedule ID] [--json]
       [--scale N] [--shards N] [--hours H]

  --scenario FILE   a scenario file (see docs/simulator.md; shipped ones in test/scenarios/)
  --strategy NAME   run one strategy instead of all three side by side
  --seed N          override the scenario's seed (a whole number from 0 to 4294967295)
  --schedule ID     the detail of one schedule: due points missed, every call of its target
  --json            the report as JSON instead of tables
  --scale N         N times the generated schedules, workers and shared limit (same shape)
  --shards N        pacer with PACER_SHARDS=N: N planners, one per shard
  --hours H         end the window H hours after its start`;

export interface SimOptions {
  scenario: string;
  strategies: StrategyName[];
  seed: number | null;
  schedule: string | null;
  json: boolean;
  scaling: ScenarioScaling;
}

export type ParsedArgs = { ok: true; options: SimOptions } | { ok: false; message: string };

/** Reads the command line; never throws. */
export function parseSimArgs(argv: readonly string[]): ParsedArgs {
  let values;
  try {
    ({ values } = parseArgs({
      args: [...argv],
      options: {
        scenario: { type: 'string' },
        strategy: { type: 'string' },
        seed: { type: 'string' },
        schedule: { type: 'string' },
        json: { type: 'boolean', default: false },
        scale: { type: 'string' },
        shards: { type: 'string' },
        hours: { type: 'string' },
        help: { type: 'boolean', default: false },
      },
      strict: true,
      allowPositionals: false,
    }));
  } catch (error) {
    return { ok: false, message: (error as Error).message };
  }
  if (values.help) return { ok: false, message: '' };
  if (values.scenario === undefined || values.scenario.trim() === '') {
    return { ok: false, message: '--scenario FILE is required' };
  }
  let strategies: StrategyName[] = [...STRATEGIES];
  if (values.strategy !== undefined) {
    const strategy = values.strategy as StrategyName;
    if (!STRATEGIES.includes(strategy)) {
      return {
        ok: false,
        message: `--strategy "${values.strategy}" is not a strategy (use ${STRATEGIES.join(', ')})`,
      };
    }
    strategies = [strategy];
  }
  let seed: number | null = null;
  if (values.seed !== undefined) {
    seed = Number(values.seed);
    if (!/^\d+$/.test(values.seed) || seed > 4_294_967_295) {
      return {
        ok: false,
        message: `--seed "${values.seed}" is not a whole number from 0 to 4294967295`,
      };
    }
  }
  const scaling: ScenarioScaling = {};
  for (const [name, max] of [
    ['scale', 1_000],
    ['shards', 16],
    ['hours', 24 * 366],
  ] as const) {
    const given = values[name];
    if (given === undefined) continue;
    const value = Number(given);
    if (!/^\d+$/.test(given) || value < 1 || value > max) {
      return { ok: false, message: `--${name} "${given}" is not a whole number from 1 to ${max}` };
    }
    scaling[name] = value;
  }
  return {
    ok: true,
    options: {
      scaling,
      scenario: values.scenario,
      strategies,
      seed,
      schedule: values.schedule ?? null,
      json: values.json,
    },
  };
}

async function main(): Promise<number> {
  const parsed = parseSimArgs(process.argv.slice(2));
  if (!parsed.ok) {
    if (parsed.message !== '') console.error(`sim: ${parsed.message}\n`);
    console.error(USAGE);
    return parsed.message === '' ? 0 : 2;
  }
  const { options } = parsed;
  const loaded = await loadScenarioFile(
    options.scenario,
    options.seed === null ? options.scaling : { ...options.scaling, seed: options.seed },
  );
  if (!loaded.ok) {
    console.error(
      `sim: ${loaded.file} is not a usable scenario:\n  ${loaded.problems.join('\n  ')}`,
    );
    return 2;
  }
  const { scenario, schedules } = loaded;
  const chosen =
    options.schedule === null
      ? null
      : schedules.find((schedule) => schedule.id === options.schedule);
  if (chosen === undefined) {
    const examples = schedules
      .slice(0, 5)
      .map((schedule) => schedule.id)
      .join(', ');
    console.error(
      `sim: the scenario has no schedule "${options.schedule ?? ''}" (ids look like ${examples})`,
    );
    return 2;
  }

  const { report, runs } = await simulate(scenario, schedules, options.strategies);
  if (chosen === null) {
    console.log(options.json ? JSON.stringify(report, null, 2) : formatReport(report));
    return 0;
  }
  const detail = scheduleDetail(scenario, schedules, runs, chosen.id);
  if (options.json) {
    console.log(
      JSON.stringify({ scenario: report.scenario, schedule: chosen, strategies: detail }, null, 2),
    );
  } else {
    console.log(formatScheduleDetail(chosen, detail));
  }
  return 0;
}

if (process.argv[1] && import.meta.url === new URL(process.argv[1], 'file:').href) {
  process.exitCode = await main();
}
