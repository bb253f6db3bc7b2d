/**
 * Scenarios for the simulator's tests, written as an operator would write the JSON and
 * validated by the real parser, so every test also exercises the format.
 */
import { buildPopulation, type SimSchedule } from '../../../infra/sim/population.js';
import { parseScenario, type Scenario } from '../../../infra/sim/scenario.js';

/**
 * One hour from 10:00 on 20 June 2026, ample capacity, no failures, and a store that answers at
 * once (so due points and timings come out exact); `extra` overrides fields.
 */
export function scenarioOf(extra: Record<string, unknown> = {}): {
  scenario: Scenario;
  schedules: SimSchedule[];
} {
  const parsed = parseScenario({
    name: 'test',
    start: '2026-06-20T10:00:00Z',
    end: '2026-06-20T11:00:00Z',
    workers: { high: 10, medium: 10, low: 10 },
    syncDuration: { distribution: 'fixed', value: '5s' },
    pacer: { tickJitter: '0s', storeLatency: '0ms' },
    ...extra,
  });
  if (!parsed.ok) throw new Error(`test scenario is invalid:\n${parsed.problems.join('\n')}`);
  const population = buildPopulation(parsed.scenario);
  if (!population.ok)
    throw new Error(`test schedules are invalid:\n${population.problems.join('\n')}`);
  return { scenario: parsed.scenario, schedules: population.schedules };
}

export const at = (iso: string) => Date.parse(iso);
