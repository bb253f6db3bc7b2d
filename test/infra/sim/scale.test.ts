import { describe, expect, it } from 'vitest';
import { scaleScenario } from '../../../infra/sim/scale.js';

const RACE_DAY = {
  name: 'race-day',
  start: '2026-06-20T06:00:00Z',
  end: '2026-06-21T06:00:00Z',
  generate: [
    { id: 'race-soon', count: 12, cadence: { kind: 'event' } },
    { id: 'race-tomorrow', count: 50, cadence: { kind: 'event' } },
  ],
  schedules: [{ id: 'entry-feed', cadence: { kind: 'interval', every: '15m' } }],
  workers: { high: 20, medium: 10, low: 10 },
  sharedLimit: 20,
  pacer: { settings: { PACER_SUBTICK_SECONDS: 10 } },
};

describe('scaling a scenario', () => {
  it('multiplies the generated groups and the capacity that serves them, keeping the shape', () => {
    const scaled = scaleScenario(RACE_DAY, { scale: 10 });
    expect(scaled.generate).toEqual([
      { id: 'race-soon', count: 120, cadence: { kind: 'event' } },
      { id: 'race-tomorrow', count: 500, cadence: { kind: 'event' } },
    ]);
    expect(scaled.workers).toEqual({ high: 200, medium: 100, low: 100 });
    expect(scaled.sharedLimit).toBe(200);
    expect(scaled.schedules).toBe(RACE_DAY.schedules);
    expect(scaled.end).toBe(RACE_DAY.end);
  });

  it('sets the shards beside the scenario’s own settings, and shortens the window', () => {
    const scaled = scaleScenario(RACE_DAY, { shards: 4, hours: 3 });
    expect(scaled.pacer).toEqual({ settings: { PACER_SUBTICK_SECONDS: 10, PACER_SHARDS: 4 } });
    expect(scaled.end).toBe('2026-06-20T09:00:00.000Z');
    expect(scaled.generate).toBe(RACE_DAY.generate);
  });

  it('changes nothing when asked for nothing', () => {
    expect(scaleScenario(RACE_DAY, {})).toEqual(RACE_DAY);
  });
});
