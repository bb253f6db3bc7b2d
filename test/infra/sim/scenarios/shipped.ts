/**
 * Running the scenario files shipped in test/scenarios/ (the files themselves, not copies).
 */
import type { StrategyResult } from '../../../../infra/sim/measure.js';
import type { StrategyName } from '../../../../infra/sim/record.js';
import { loadScenarioFile } from '../../../../infra/sim/scenario-file.js';
import { simulate } from '../../../../infra/sim/simulate.js';

/** The path of a shipped scenario file. */
export function shipped(file: string): string {
  return new URL(`../../../scenarios/${file}`, import.meta.url).pathname;
}

export async function load(file: string, overrides: { seed?: number } = {}) {
  const loaded = await loadScenarioFile(shipped(file), overrides);
  if (!loaded.ok) throw new Error(`${file}: ${loaded.problems.join('\n')}`);
  return loaded;
}

export async function run(file: string, strategies?: StrategyName[]) {
  const { scenario, schedules } = await load(file);
  return { scenario, schedules, ...(await simulate(scenario, schedules, strategies)) };
}

export function strategy(results: readonly StrategyResult[], name: StrategyName): StrategyResult {
  const result = results.find((candidate) => candidate.strategy === name);
  if (result === undefined) throw new Error(`no ${name} in the report`);
  return result;
}
