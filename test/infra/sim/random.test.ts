import { describe, expect, it } from 'vitest';
import {
  logNormalParameters,
  mulberry32,
  standardNormal,
  stream,
} from '../../../infra/sim/random.js';

describe('seeded randomness', () => {
  it('gives the same numbers for the same seed and different ones for another', () => {
    const draw = (rng: () => number) => Array.from({ length: 5 }, rng);
    expect(draw(mulberry32(7))).toEqual(draw(mulberry32(7)));
    expect(draw(mulberry32(7))).not.toEqual(draw(mulberry32(8)));
  });

  it('stays in [0, 1) and spreads evenly', () => {
    const rng = mulberry32(1);
    const buckets = new Array<number>(10).fill(0);
    let outside = 0;
    for (let i = 0; i < 100_000; i++) {
      const value = rng();
      if (value < 0 || value >= 1) outside += 1;
      else buckets[Math.floor(value * 10)]! += 1;
    }
    expect(outside).toBe(0);
    for (const count of buckets) expect(Math.abs(count - 10_000)).toBeLessThan(500);
  });

  it('gives each purpose its own stream', () => {
    expect(stream(1, 'pacer')()).not.toBe(stream(1, 'flat')());
    expect(stream(1, 'pacer')()).toBe(stream(1, 'pacer')());
  });

  it('log-normal parameters put the median and the 99th percentile where asked', () => {
    const { mu, sigma } = logNormalParameters(16_000, 40_000);
    const rng = mulberry32(3);
    const draws = Array.from({ length: 50_000 }, () => Math.exp(mu + sigma * standardNormal(rng)));
    draws.sort((a, b) => a - b);
    expect(draws[25_000]! / 16_000).toBeCloseTo(1, 1);
    expect(draws[49_500]! / 40_000).toBeCloseTo(1, 1);
  });
});
