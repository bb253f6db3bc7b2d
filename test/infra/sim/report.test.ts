import { describe, expect, it } from 'vitest';
import { duration, percent, table } from '../../../infra/sim/report.js';

describe('report formatting', () => {
  it.each([
    [850, '850ms'],
    [16_200, '16.2s'],
    [542_000, '9m 02s'],
    [12_480_000, '3h 28m'],
    [-5_000, '-5.0s'],
  ])('writes %i ms as %s', (ms, text) => {
    expect(duration(ms)).toBe(text);
  });

  it('never rounds a share up to a threshold it did not reach', () => {
    expect(percent(0.99899)).toBe('99.89%');
    expect(percent(1)).toBe('100.00%');
  });

  it('aligns table columns', () => {
    expect(table(['a', 'bb'], [['xyz', '1']])).toBe('| a   | bb |\n| --- | -- |\n| xyz | 1  |');
  });
});
