/**
 * Seeded randomness for the simulator. Every random choice a simulation makes comes from an
 * {@link Rng} built from the scenario's seed, so a scenario and a seed always give the same
 * report. Nothing here reads `Math.random()` or the clock.
 */

/** A source of uniform numbers in [0, 1). */
export type Rng = () => number;

/** mulberry32: a small, fast 32-bit generator, plenty for a simulation (not for secrets). */
export function mulberry32(seed: number): Rng {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4_294_967_296;
  };
}

/**
 * An independent stream for one purpose (`"population"`, `"pacer"`, ...), so that adding a
 * random draw to one part of the simulation does not shift the numbers every other part sees.
 */
export function stream(seed: number, purpose: string): Rng {
  // FNV-1a over the purpose, mixed with the seed.
  let hash = 0x811c9dc5 ^ (seed >>> 0);
  for (let i = 0; i < purpose.length; i++) {
    hash ^= purpose.charCodeAt(i);
    hash = Math.imul(hash, 0x01000193) >>> 0;
  }
  return mulberry32(hash);
}

/** A uniform number in [min, max). */
export function uniform(rng: Rng, min: number, max: number): number {
  return min + (max - min) * rng();
}

/** A standard normal number (Box–Muller). */
export function standardNormal(rng: Rng): number {
  // 1 - rng() is in (0, 1], so the logarithm is finite.
  const u = 1 - rng();
  const v = rng();
  return Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * v);
}

/** The z-score of the 99th percentile of a normal distribution. */
export const Z_99 = 2.326_347_874;

/**
 * The parameters of a log-normal distribution with the given median and 99th percentile:
 * `ln X ~ N(mu, sigma²)` with `mu = ln median` and `sigma = (ln p99 − mu) / z₀.₉₉`.
 */
export function logNormalParameters(median: number, p99: number): { mu: number; sigma: number } {
  const mu = Math.log(median);
  return { mu, sigma: (Math.log(p99) - mu) / Z_99 };
}
