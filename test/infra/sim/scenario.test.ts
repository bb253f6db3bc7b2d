import { mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { drawTime, buildPopulation } from '../../../infra/sim/population.js';
import { mulberry32 } from '../../../infra/sim/random.js';
import { parseScenario, parseSimDuration } from '../../../infra/sim/scenario.js';
import { loadScenarioFile } from '../../../infra/sim/scenario-file.js';
import { at, scenarioOf } from './helpers.js';

const minimal = {
  name: 'minimal',
  start: '2026-06-20T10:00:00Z',
  end: '2026-06-20T11:00:00Z',
  workers: { high: 5, medium: 5, low: 5 },
  syncDuration: { distribution: 'uniform', min: '15s', max: '20s' },
};

describe('the scenario format', () => {
  it('fills in defaults and takes the in-flight budgets from the workers and the shared limit', () => {
    const parsed = parseScenario({ ...minimal, sharedLimit: 12 });
    expect(parsed.ok).toBe(true);
    if (!parsed.ok) return;
    const { scenario } = parsed;
    expect(scenario.seed).toBe(1);
    expect(scenario.warmUpMs).toBe(0);
    expect(scenario.failures).toEqual({
      retryable: 0,
      permanent: 0,
      crash: 0,
      duplicateDelivery: 0,
    });
    expect(scenario.syncDuration).toEqual({
      distribution: 'uniform',
      minMs: 15_000,
      maxMs: 20_000,
    });
    expect(scenario.pacer.settings.inFlightBudget).toEqual({ high: 5, medium: 5, low: 5 });
    expect(scenario.pacer.settings.totalInFlightBudget).toBe(12);
    expect(scenario.pacer.settings.caps).toEqual({ high: 50, medium: 20, low: 10 });
  });

  it('reads pacer settings the way a deployment reads its environment', () => {
    const parsed = parseScenario({ ...minimal, pacer: { settings: { PACER_CAP_HIGH: '80' } } });
    expect(parsed.ok && parsed.scenario.pacer.settings.caps.high).toBe(80);
  });

  it.each<[string, Record<string, unknown>, string]>([
    ['a missing field', { workers: undefined }, 'workers: is required'],
    ['an end before the start', { end: '2026-06-20T09:00:00Z' }, 'end: must be after start'],
    [
      'a time without an offset',
      { start: '2026-06-20T10:00:00' },
      'start: "2026-06-20T10:00:00" has no UTC offset',
    ],
    [
      'a duration pacer cannot read',
      { syncDuration: { distribution: 'fixed', value: '5 sec' } },
      'syncDuration.value: "5 sec" is not a duration (use 250ms, 90s, 5m, 4h, 1d)',
    ],
    [
      'an unknown distribution',
      { syncDuration: { distribution: 'pareto', value: '5s' } },
      'syncDuration.distribution: is not a known distribution (use fixed, uniform, log-normal)',
    ],
    ['an unknown field', { colour: 'blue' }, 'colour: unknown field'],
    [
      'failure shares over 1 together',
      { failures: { retryable: 0.6, crash: 0.5 } },
      'failures: retryable + permanent + crash must be at most 1',
    ],
    [
      'an in-flight budget, which the workers decide',
      { pacer: { settings: { PACER_INFLIGHT_HIGH: '5' } } },
      'pacer.settings.PACER_INFLIGHT_HIGH: comes from workers.high',
    ],
    [
      'a bad pacer setting',
      { pacer: { settings: { PACER_CAP_HIGH: 'lots' } } },
      'pacer.settings.PACER_CAP_HIGH: expected a whole number from 0 to 10000, got "lots"',
    ],
    [
      'overlapping outages',
      {
        outages: [
          { from: '2026-06-20T10:00:00Z', to: '2026-06-20T10:30:00Z' },
          { from: '2026-06-20T10:20:00Z', to: '2026-06-20T10:40:00Z' },
        ],
      },
      'outages: must not overlap',
    ],
    [
      'an event group without start times',
      { generate: [{ id: 'race', count: 3, cadence: { kind: 'event' } }] },
      'generate[0].startsAt: is required for event cadences',
    ],
  ])('reports %s by its path', (_name, change, problem) => {
    const parsed = parseScenario({ ...minimal, ...change });
    expect(parsed.ok).toBe(false);
    if (parsed.ok) return;
    expect(parsed.problems.some((line) => line.startsWith(problem))).toBe(true);
  });

  it('validates schedules with pacer own rules, naming where they are', () => {
    const parsed = parseScenario({
      ...minimal,
      generate: [{ id: 'poll', count: 2, cadence: { kind: 'interval', every: '5 min' } }],
      schedules: [{ id: 'x', name: 'x', cadence: { kind: 'interval', every: '1s' } }],
    });
    if (!parsed.ok) throw new Error(parsed.problems.join('\n'));
    const population = buildPopulation(parsed.scenario);
    expect(population.ok).toBe(false);
    if (population.ok) return;
    expect(population.problems).toEqual([
      'schedules[0].cadence.every: "1s" is too short (at least 10s)',
      'generate[0].cadence.every: "5 min" is not a duration (use 90s, 5m, 4h, 1d)',
    ]);
  });

  it('reads durations down to milliseconds', () => {
    expect(parseSimDuration('250ms')).toBe(250);
    expect(parseSimDuration('90s')).toBe(90_000);
    expect(parseSimDuration('1.5s')).toBeNull();
  });
});

describe('generated schedules', () => {
  it('are numbered, drawn in order of start time, and the same for the same seed', () => {
    const make = () =>
      scenarioOf({
        seed: 42,
        warmUp: '1h',
        generate: [
          {
            id: 'race',
            count: 12,
            cadence: { kind: 'event' },
            startsAt: {
              distribution: 'uniform',
              from: '2026-06-20T12:00:00Z',
              to: '2026-06-20T18:00:00Z',
              roundTo: '5m',
            },
          },
        ],
      }).schedules;
    const schedules = make();
    expect(schedules.map((schedule) => schedule.id).slice(0, 2)).toEqual(['race-01', 'race-02']);
    const starts = schedules.map((schedule) =>
      schedule.spec.cadence.kind === 'event' ? schedule.spec.cadence.startsAt : 0,
    );
    expect(starts).toEqual([...starts].sort((a, b) => a - b));
    for (const start of starts) {
      expect(start % 300_000).toBe(0);
      expect(start).toBeGreaterThanOrEqual(at('2026-06-20T12:00:00Z'));
      expect(start).toBeLessThanOrEqual(at('2026-06-20T18:00:00Z'));
    }
    for (const schedule of schedules) {
      expect(schedule.createdAt).toBeGreaterThanOrEqual(at('2026-06-20T09:00:00Z'));
      expect(schedule.createdAt).toBeLessThan(at('2026-06-20T10:00:00Z'));
    }
    expect(make()).toEqual(schedules);
  });

  it('spaces an even distribution evenly', () => {
    const even = {
      distribution: 'even' as const,
      from: at('2026-06-20T00:00:00Z'),
      to: at('2026-06-20T01:00:00Z'),
      roundToMs: null,
    };
    const times = [0, 1, 2, 3].map((i) => drawTime(even, i, 4, mulberry32(1)));
    expect(times.map((time) => new Date(time).toISOString().slice(11, 19))).toEqual([
      '00:07:30',
      '00:22:30',
      '00:37:30',
      '00:52:30',
    ]);
  });
});

describe('scenario files', () => {
  it('extend another file, replacing the fields they give', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'pacer-sim-'));
    await writeFile(join(dir, 'base.json'), JSON.stringify({ ...minimal, seed: 5 }));
    await writeFile(
      join(dir, 'child.json'),
      JSON.stringify({ extends: 'base.json', name: 'child', failures: { retryable: 0.05 } }),
    );
    const loaded = await loadScenarioFile(join(dir, 'child.json'));
    if (!loaded.ok) throw new Error(loaded.problems.join('\n'));
    expect(loaded.scenario.name).toBe('child');
    expect(loaded.scenario.seed).toBe(5);
    expect(loaded.scenario.failures.retryable).toBe(0.05);
  });

  it('report a cycle of extends, a missing file and bad JSON', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'pacer-sim-'));
    await writeFile(join(dir, 'a.json'), JSON.stringify({ extends: 'b.json' }));
    await writeFile(join(dir, 'b.json'), JSON.stringify({ extends: 'a.json' }));
    await writeFile(join(dir, 'bad.json'), '{ nope');
    const cycle = await loadScenarioFile(join(dir, 'a.json'));
    expect(!cycle.ok && cycle.problems[0]).toMatch(/is a cycle$/);
    const missing = await loadScenarioFile(join(dir, 'missing.json'));
    expect(!missing.ok && missing.problems[0]).toMatch(/cannot be read \(ENOENT\)$/);
    const bad = await loadScenarioFile(join(dir, 'bad.json'));
    expect(!bad.ok && bad.problems[0]).toMatch(/is not JSON/);
  });
});
