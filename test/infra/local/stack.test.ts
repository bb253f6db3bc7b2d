import { describe, expect, it } from 'vitest';
import { defaultSettings } from '../../../functions/config.js';
import { laneAt } from '../../../functions/schedule/cadence.js';
import { validateSchedule } from '../../../functions/schedule/spec.js';
import { demoSchedules } from '../../../infra/local/demo.js';
import { parseOptions, portLayout, tickSettings } from '../../../infra/local/stack.js';

describe('npm start options', () => {
  it('default to a one-minute tick, the demo, and ports from 8780', () => {
    expect(parseOptions([], {})).toEqual({
      tickEveryMs: 60_000,
      seed: true,
      portBase: 8780,
      verbose: false,
      json: false,
      projectId: 'pacer-local',
    });
  });

  it('read a tick period as a duration or seconds, and refuse nonsense', () => {
    expect(parseOptions(['--tick-every', '5s'], {}).tickEveryMs).toBe(5_000);
    expect(parseOptions(['--tick-every', '90'], {}).tickEveryMs).toBe(90_000);
    expect(() => parseOptions(['--tick-every', 'often'], {})).toThrow(
      '--tick-every: "often" is not a period from 2s to 10m (e.g. 5s, 60s, 1m)',
    );
    expect(() => parseOptions(['--port-base', '80'], {})).toThrow(
      '--port-base: "80" is not a port from 1024 to 65000',
    );
    expect(() => parseOptions(['--bogus'], {})).toThrow(/bogus/);
  });

  it('fit the planner’s sub-ticks inside the scheduler period', () => {
    expect(tickSettings(60_000)).toEqual({ budgetSeconds: 55, subTickSeconds: 10 });
    expect(tickSettings(5_000)).toEqual({ budgetSeconds: 4, subTickSeconds: 2 });
    expect(tickSettings(2_000)).toEqual({ budgetSeconds: 1, subTickSeconds: 1 });
  });

  it('lay out one port per process, from the base up', () => {
    const layout = portLayout(9000);
    const ports = [
      layout.firestore,
      layout.pubsub,
      ...Object.values(layout.functions),
      layout.target,
    ];
    expect(ports).toEqual([9000, 9001, 9002, 9003, 9004, 9005, 9006, 9007, 9008]);
  });
});

describe('the demo schedules', () => {
  const now = Date.parse('2026-06-20T08:00:00Z');
  const documents = demoSchedules(now, 'http://127.0.0.1:8788');

  it('are all valid except the one meant to show validation', () => {
    const invalid = Object.entries(documents).filter(
      ([, document]) => !validateSchedule(document).ok,
    );
    expect(invalid.map(([id]) => id)).toEqual(['broken-schedule']);
  });

  it('put something in every lane, and include a cron, an interval and an always-failing target', () => {
    const lanes = new Set(
      Object.values(documents).flatMap((document) => {
        const validation = validateSchedule(document);
        return validation.ok
          ? [
              laneAt(
                validation.spec.cadence,
                validation.spec.lane,
                now,
                defaultSettings().laneThresholds,
              ),
            ]
          : [];
      }),
    );
    expect([...lanes].sort()).toEqual(['high', 'low', 'medium']);
    const kinds = Object.values(documents).map(
      (document) => (document.cadence as { kind: string }).kind,
    );
    expect(kinds).toEqual(expect.arrayContaining(['event', 'cron', 'interval']));
    expect(documents['always-fails']?.target).toEqual({
      type: 'http',
      url: 'http://127.0.0.1:8788/always-fails',
    });
  });
});
