import { describe, expect, it } from 'vitest';
import { applyOverrides, defaultSettings, loadSettings, SETTINGS } from '../../functions/config.js';
import { PacerError } from '../../functions/errors.js';

describe('loadSettings', () => {
  it('gives the documented defaults for an empty environment', () => {
    expect(loadSettings({})).toEqual({
      projectId: undefined,
      caps: { high: 50, medium: 20, low: 10 },
      inFlightBudget: { high: 100, medium: 50, low: 20 },
      totalInFlightBudget: null,
      reserved: { high: 1, medium: 1, low: 1 },
      dispatchGraceSeconds: 120,
      publishTimeoutSeconds: 10,
      leaseSeconds: 60,
      runHistoryDays: 30,
      runHistory: 'all',
      allowTargetNetworks: [],
      secretHosts: {},
      laneThresholds: { highMaxIntervalMs: 60_000, mediumMaxIntervalMs: 300_000 },
      subTickSeconds: 10,
      dispatchAheadSeconds: 10,
      refillSeconds: 0.5,
      tickBudgetSeconds: 55,
      defaultMaxRunSeconds: 300,
      maxAttempts: 5,
      jobs: { launcher: 'cloud-run', name: 'pacer-long-sync', region: '', startSeconds: 300 },
      alerts: { highDeferred: 10, backlog: 1_000 },
      log: { level: 'info', pretty: false },
      rateLimits: {},
      shards: 1,
    });
  });

  it('reads every variable, trimming whitespace and treating empty as unset', () => {
    const settings = loadSettings({
      GOOGLE_CLOUD_PROJECT: 'race-timing',
      PACER_CAP_HIGH: ' 80 ',
      PACER_CAP_MEDIUM: '',
      PACER_LANE_HIGH_MAX_INTERVAL: '2m',
      PACER_SUBTICK_SECONDS: '1',
      PACER_MAX_ATTEMPTS: '8',
      PACER_LOG_PRETTY: 'true',
      PACER_LOG_LEVEL: 'debug',
    });
    expect(settings.projectId).toBe('race-timing');
    expect(settings.caps).toEqual({ high: 80, medium: 20, low: 10 });
    expect(settings.laneThresholds.highMaxIntervalMs).toBe(120_000);
    expect(settings.subTickSeconds).toBe(1);
    expect(settings.maxAttempts).toBe(8);
    expect(settings.log).toEqual({ level: 'debug', pretty: true });
  });

  it.each([
    ['PACER_CAP_HIGH', 'abc', 'PACER_CAP_HIGH: expected a whole number from 0 to 10000, got "abc"'],
    ['PACER_CAP_LOW', '-1', 'PACER_CAP_LOW: expected a whole number from 0 to 10000, got "-1"'],
    [
      'PACER_MAX_ATTEMPTS',
      '2.5',
      'PACER_MAX_ATTEMPTS: expected a whole number from 1 to 100, got "2.5"',
    ],
    [
      'PACER_LANE_MEDIUM_MAX_INTERVAL',
      '5 min',
      'PACER_LANE_MEDIUM_MAX_INTERVAL: expected a duration of at least 10s (use 90s, 5m, 4h, 1d), got "5 min"',
    ],
    ['PACER_LOG_PRETTY', 'sometimes', 'PACER_LOG_PRETTY: expected true or false, got "sometimes"'],
    [
      'PACER_LOG_LEVEL',
      'loud',
      'PACER_LOG_LEVEL: expected one of trace, debug, info, warn, error, fatal, silent, got "loud"',
    ],
  ])('a bad %s fails with the variable name', (name, value, message) => {
    expect(() => loadSettings({ [name]: value })).toThrow(message);
  });

  it('reads an optional total budget, and none clears it', () => {
    expect(loadSettings({ PACER_INFLIGHT_TOTAL: '20' }).totalInFlightBudget).toBe(20);
    expect(loadSettings({ PACER_INFLIGHT_TOTAL: 'none' }).totalInFlightBudget).toBeNull();
    expect(() => loadSettings({ PACER_INFLIGHT_TOTAL: '0' })).toThrow(
      'PACER_INFLIGHT_TOTAL: expected a whole number from 1 to 100000, or none, got "0"',
    );
    expect(() => loadSettings({ PACER_INFLIGHT_TOTAL: '2' })).toThrow(
      'PACER_INFLIGHT_TOTAL: must be at least the reserved slots together (3)',
    );
  });

  it.each([
    ['0', 0],
    ['0.5', 0.5],
    ['0.3', 0.3],
    ['2', 2],
    ['60', 60],
  ])('reads PACER_REFILL_SECONDS=%s as %d seconds', (raw, seconds) => {
    expect(loadSettings({ PACER_REFILL_SECONDS: raw }).refillSeconds).toBe(seconds);
  });

  it.each(['0.25', '-0.5', '61', 'soon'])('refuses PACER_REFILL_SECONDS=%s', (raw) => {
    expect(() => loadSettings({ PACER_REFILL_SECONDS: raw })).toThrow(
      `PACER_REFILL_SECONDS: expected a number of seconds from 0 to 60, to the tenth, got "${raw}"`,
    );
  });

  it('reads target networks as CIDR ranges and refuses anything else', () => {
    expect(
      loadSettings({ PACER_ALLOW_TARGET_NETWORKS: '127.0.0.0/8, ::1/128' }).allowTargetNetworks,
    ).toEqual(['127.0.0.0/8', '::1/128']);
    expect(() => loadSettings({ PACER_ALLOW_TARGET_NETWORKS: 'localhost' })).toThrow(
      'PACER_ALLOW_TARGET_NETWORKS: expected comma-separated CIDR ranges such as 127.0.0.0/8,10.0.0.0/8, or none, got "localhost"',
    );
  });

  it('checks settings against each other', () => {
    expect(() =>
      loadSettings({
        PACER_LANE_HIGH_MAX_INTERVAL: '10m',
        PACER_SUBTICK_SECONDS: '60',
        PACER_TICK_BUDGET_SECONDS: '30',
      }),
    ).toThrow(
      'PACER_LANE_MEDIUM_MAX_INTERVAL: must not be shorter than PACER_LANE_HIGH_MAX_INTERVAL\n' +
        '  PACER_SUBTICK_SECONDS: must not exceed PACER_TICK_BUDGET_SECONDS',
    );
  });

  it('throws a coded error listing every problem', () => {
    try {
      loadSettings({ PACER_CAP_HIGH: 'x', PACER_CAP_LOW: 'y' });
      expect.unreachable();
    } catch (error) {
      expect(error).toBeInstanceOf(PacerError);
      expect((error as PacerError).code).toBe('invalid_config');
      expect((error as PacerError).details.problems).toHaveLength(2);
    }
  });

  it('every setting has a unique variable that starts with PACER_', () => {
    const names = SETTINGS.map((setting) => setting.env);
    expect(new Set(names).size).toBe(names.length);
    expect(names.every((name) => name.startsWith('PACER_'))).toBe(true);
  });
});

describe('applyOverrides (the pacer/config document)', () => {
  const base = defaultSettings();

  it('overrides live settings by path and leaves the rest', () => {
    const result = applyOverrides(base, { caps: { high: 80 }, subTickSeconds: 5 });
    expect(result).toEqual({
      ok: true,
      settings: { ...base, caps: { ...base.caps, high: 80 }, subTickSeconds: 5 },
    });
    expect(base.caps.high).toBe(50);
  });

  it('reports bad values, settings that are not live, and unknown keys', () => {
    expect(
      applyOverrides(base, { caps: { high: 'lots' }, maxAttempts: 3, capz: { high: 1 } }),
    ).toEqual({
      ok: false,
      problems: [
        'caps.high: expected a whole number from 0 to 10000, got "lots"',
        'maxAttempts: cannot be changed live; set PACER_MAX_ATTEMPTS instead',
        'capz.high: unknown setting',
      ],
    });
  });

  it('refuses a document that is not a map', () => {
    expect(applyOverrides(base, 'fast')).toEqual({
      ok: false,
      problems: ['(document): expected a map of settings'],
    });
  });
});
