import { describe, expect, it } from 'vitest';
import { parseSimArgs } from '../../../infra/sim/cli.js';

describe('npm run sim arguments', () => {
  it('runs all three strategies by default', () => {
    expect(parseSimArgs(['--scenario', 'race-day.json'])).toEqual({
      ok: true,
      options: {
        scenario: 'race-day.json',
        strategies: ['pacer', 'flat', 'fixed-caps'],
        seed: null,
        schedule: null,
        json: false,
        scaling: {},
      },
    });
  });

  it('takes a scale, a number of shards and a shorter window', () => {
    const parsed = parseSimArgs([
      '--scenario=s.json',
      '--scale',
      '10',
      '--shards=4',
      '--hours',
      '2',
    ]);
    expect(parsed.ok && parsed.options.scaling).toEqual({ scale: 10, shards: 4, hours: 2 });
  });

  it('takes one strategy, a seed, a schedule and --json', () => {
    const parsed = parseSimArgs([
      '--scenario=s.json',
      '--strategy',
      'flat',
      '--seed',
      '7',
      '--schedule',
      'race-soon-03',
      '--json',
    ]);
    expect(parsed.ok && parsed.options).toMatchObject({
      strategies: ['flat'],
      seed: 7,
      schedule: 'race-soon-03',
      json: true,
    });
  });

  it.each([
    [[], '--scenario FILE is required'],
    [
      ['--scenario', 's.json', '--strategy', 'fast'],
      '--strategy "fast" is not a strategy (use pacer, flat, fixed-caps)',
    ],
    [
      ['--scenario', 's.json', '--seed=1.5'],
      '--seed "1.5" is not a whole number from 0 to 4294967295',
    ],
    [['--scenario', 's.json', '--colour'], "Unknown option '--colour'"],
    [['--scenario', 's.json', '--scale', '0'], '--scale "0" is not a whole number from 1 to 1000'],
    [
      ['--scenario', 's.json', '--shards', '17'],
      '--shards "17" is not a whole number from 1 to 16',
    ],
    [
      ['--scenario', 's.json', '--hours', '1h'],
      '--hours "1h" is not a whole number from 1 to 8784',
    ],
  ])('refuses %j with a message', (argv, message) => {
    const parsed = parseSimArgs(argv);
    expect(parsed.ok).toBe(false);
    if (!parsed.ok) expect(parsed.message).toContain(message);
  });
});
