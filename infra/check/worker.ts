/**
 * A worker thread of `npm run check:protocol`: runs histories for the seeds it takes from the
 * shared counter until they run out or a lower seed has already failed, and posts each result.
 */
import { parentPort, workerData } from 'node:worker_threads';
import { runHistory } from './history.js';

interface Work {
  /** [next seed to take, lowest failing seed so far (or the end)] */
  shared: Int32Array;
  end: number;
}

const { shared, end } = workerData as Work;
for (;;) {
  const seed = Atomics.add(shared, 0, 1);
  if (seed >= end || seed >= Atomics.load(shared, 1)) break;
  const result = await runHistory({ seed });
  if (result.violation !== null) {
    // No seed above a failing one needs to run.
    let lowest = Atomics.load(shared, 1);
    while (seed < lowest) {
      const seen = Atomics.compareExchange(shared, 1, lowest, seed);
      if (seen === lowest) break;
      lowest = seen;
    }
  }
  parentPort?.postMessage({
    seed,
    steps: result.steps,
    counts: result.counts,
    failed: result.violation !== null,
  });
}
