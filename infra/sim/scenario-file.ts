/**
 * Reading a scenario file from disk: the JSON, and the file it `extends`, if any. A file that
 * extends another takes the other's fields and replaces those it gives itself (whole fields:
 * `failures` in the extending file replaces the base's `failures`, it is not merged into it).
 * Paths in `extends` are relative to the file that names them.
 */
import { readFile } from 'node:fs/promises';
import { dirname, resolve } from 'node:path';
import { parseScenario, type ScenarioParse } from './scenario.js';
import { buildPopulation, type SimSchedule } from './population.js';
import type { Scenario } from './scenario.js';
import { scaleScenario, type ScenarioScaling } from './scale.js';

export type LoadedScenario =
  | { ok: true; scenario: Scenario; schedules: SimSchedule[]; file: string }
  | { ok: false; problems: string[]; file: string };

/**
 * Reads, resolves, validates and populates the scenario in `path`; `seed` replaces the file's
 * seed (the schedules drawn and the simulation both follow it).
 */
export async function loadScenarioFile(
  path: string,
  overrides: { seed?: number } & ScenarioScaling = {},
): Promise<LoadedScenario> {
  const file = resolve(path);
  const raw = await readWithExtends(file, []);
  if (!raw.ok) return { ok: false, problems: raw.problems, file };
  const parsed: ScenarioParse = parseScenario(scaleScenario(raw.value, overrides));
  if (!parsed.ok) return { ok: false, problems: parsed.problems, file };
  const scenario =
    overrides.seed === undefined ? parsed.scenario : { ...parsed.scenario, seed: overrides.seed };
  const population = buildPopulation(scenario);
  if (!population.ok) return { ok: false, problems: population.problems, file };
  return { ok: true, scenario, schedules: population.schedules, file };
}

type RawRead = { ok: true; value: Record<string, unknown> } | { ok: false; problems: string[] };

async function readWithExtends(file: string, chain: readonly string[]): Promise<RawRead> {
  if (chain.includes(file)) {
    return { ok: false, problems: [`extends: ${[...chain, file].join(' → ')} is a cycle`] };
  }
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code ?? 'unreadable';
    return { ok: false, problems: [`${file}: cannot be read (${code})`] };
  }
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (error) {
    return { ok: false, problems: [`${file}: is not JSON (${(error as Error).message})`] };
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    return { ok: false, problems: [`${file}: expected a JSON object`] };
  }
  const { extends: base, ...own } = value as Record<string, unknown>;
  if (base === undefined) return { ok: true, value: own };
  if (typeof base !== 'string') {
    return { ok: false, problems: [`${file}: extends: expected a file name`] };
  }
  const parent = await readWithExtends(resolve(dirname(file), base), [...chain, file]);
  if (!parent.ok) return parent;
  return { ok: true, value: { ...parent.value, ...own } };
}
