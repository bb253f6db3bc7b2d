import { once } from 'node:events';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { describe, expect, it } from 'vitest';
import { defaultSettings } from '../../../functions/config.js';
import { laneAt } from '../../../functions/schedule/cadence.js';
import { validateSchedule } from '../../../functions/schedule/spec.js';
import { demoSchedules } from '../../../infra/local/demo.js';
import {
  parseOptions,
  portLayout,
  startStack,
  StartError,
  tickSettings,
  withRetries,
} from '../../../infra/local/stack.js';

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

  it('put something in every lane, and include a cron, an interval, a long sync and an always-failing target', () => {
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
    expect(documents['full-export']).toMatchObject({ runner: 'job', maxRunSeconds: 600 });
    expect(documents['always-fails']?.target).toEqual({
      type: 'http',
      url: 'http://127.0.0.1:8788/always-fails',
    });
  });
});

describe('a start that fails', () => {
  it('names the step that failed', async () => {
    // Something already listens where the stack's demo target would: the first step refuses.
    const taken = http.createServer();
    taken.listen(0, '127.0.0.1');
    await once(taken, 'listening');
    const port = (taken.address() as AddressInfo).port;
    const said: string[] = [];
    const log = { line: () => undefined, say: (message: string) => said.push(message) };
    try {
      const layout = portLayout(port);
      const base = port - (layout.target - port);
      const error = await startStack({ ...parseOptions([], {}), portBase: base }, log, {
        PATH: process.env.PATH,
      }).catch((e: unknown) => e);
      expect(error).toBeInstanceOf(StartError);
      expect((error as StartError).step).toBe('checking the ports');
      expect((error as Error).message).toMatch(/^checking the ports failed: port /);
      expect((error as Error).message).toContain(`port ${port} (the demo target)`);
      expect((error as Error).message).toContain('already in use');
    } finally {
      taken.close();
    }
  });

  it('tries a transient emulator error again, and nothing else', async () => {
    const waits: number[] = [];
    const sleep = (ms: number) => {
      waits.push(ms);
      return Promise.resolve();
    };
    let calls = 0;
    const flaky = () => {
      calls++;
      return calls < 3
        ? Promise.reject(Object.assign(new Error('2 UNKNOWN: '), { code: 2 }))
        : Promise.resolve('seeded');
    };
    await expect(withRetries(flaky, { attempts: 4, sleep })).resolves.toBe('seeded');
    expect(waits).toEqual([500, 1_000]);

    const wrong = () => Promise.reject(Object.assign(new Error('bad'), { code: 3 }));
    await expect(withRetries(wrong, { attempts: 4, sleep })).rejects.toThrow('bad');
    const down = () => Promise.reject(Object.assign(new Error('14 UNAVAILABLE'), { code: 14 }));
    waits.length = 0;
    await expect(withRetries(down, { attempts: 3, sleep })).rejects.toThrow('14 UNAVAILABLE');
    expect(waits).toEqual([500, 1_000]);
  });
});
