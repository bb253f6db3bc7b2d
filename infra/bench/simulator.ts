/**
 * The simulator's part of `npm run bench`: every scenario in test/scenarios/ under every
 * strategy, with the coverage and lateness the simulation measured and how long it took to
 * simulate on this machine.
 */
import { readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { percent, duration } from '../sim/report.js';
import { STRATEGIES } from '../sim/record.js';
import { loadScenarioFile } from '../sim/scenario-file.js';
import { simulate } from '../sim/simulate.js';
import type { BenchRow, BenchSection } from './sections.js';

/** A bench section that runs each scenario file in `directory` under each strategy. */
export function simulatorSection(directory: string): BenchSection {
  return {
    name: 'simulator',
    async run(): Promise<BenchRow[]> {
      const files = (await readdir(directory)).filter((file) => file.endsWith('.json')).sort();
      const rows: BenchRow[] = [];
      for (const file of files) {
        const loaded = await loadScenarioFile(join(directory, file));
        if (!loaded.ok) throw new Error(`${file}: ${loaded.problems.join('; ')}`);
        for (const strategy of STRATEGIES) {
          const started = performance.now();
          const { report } = await simulate(loaded.scenario, loaded.schedules, [strategy]);
          const seconds = (performance.now() - started) / 1_000;
          const result = report.strategies[0];
          if (result === undefined) throw new Error(`${file}: no result for ${strategy}`);
          const coverage = (share: number | null) => (share === null ? '—' : percent(share));
          const p99 = (lane: 'high' | 'medium' | 'low') => {
            const late = result.lanes[lane].lateness?.p99;
            return late === undefined ? '—' : duration(late);
          };
          rows.push({
            section: 'simulator',
            case: `${loaded.scenario.name} · ${strategy}`,
            values: {
              schedules: loaded.schedules.length.toLocaleString('en'),
              'coverage high / medium / low': [
                result.lanes.high.coverage,
                result.lanes.medium.coverage,
                result.lanes.low.coverage,
              ]
                .map(coverage)
                .join(' / '),
              'p99 late high / medium / low': [p99('high'), p99('medium'), p99('low')].join(' / '),
              synced: result.total.syncs.toLocaleString('en'),
              'refused (429)': result.total.outcomes.rejected.toLocaleString('en'),
              duplicates: result.duplicates.toLocaleString('en'),
              'dead letters':
                result.deadLetters === null ? '—' : result.deadLetters.toLocaleString('en'),
              'simulated in': `${seconds.toFixed(2)} s`,
            },
          });
        }
      }
      return rows;
    },
  };
}
