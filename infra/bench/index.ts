/**
 * `npm run bench`: pacer's benchmarks in one run, printed as one table with the machine's
 * details (docs/performance.md keeps the latest).
 *
 *   npm run bench -- [--json]
 *
 * Sections run in order. Today there is one, the simulator (every scenario in test/scenarios/
 * under every strategy). The emulator sections issue 8 also asks for belong in SECTIONS below,
 * as further BenchSection values (see sections.ts), once the worker functions exist:
 *
 * - the end-to-end run: planner and workers on the emulators with a no-op target, N schedules
 *   all due; syncs per second and documents read per dispatch;
 * - the emulators' own ceiling for pacer's path, in the same run: bare publish → push → no-op
 *   delivery rate, conditional updates and read-write transactions per second; with pacer's
 *   throughput as a ratio of that ceiling.
 *
 * A section that needs the emulators starts them itself (infra/local/emulators.ts), so the
 * simulator section keeps running without Java or gcloud.
 */
import { parseArgs } from 'node:util';
import { fileURLToPath } from 'node:url';
import { machine } from './planner.js';
import { benchTable, type BenchRow, type BenchSection } from './sections.js';
import { simulatorSection } from './simulator.js';

const SCENARIOS = fileURLToPath(new URL('../../../test/scenarios/', import.meta.url));

/** Every section of `npm run bench`, in the order they run. */
export const SECTIONS: readonly BenchSection[] = [simulatorSection(SCENARIOS)];

async function main(): Promise<number> {
  let json: boolean;
  try {
    json = parseArgs({ options: { json: { type: 'boolean', default: false } } }).values.json;
  } catch (error) {
    console.error(`bench: ${(error as Error).message}\n\nusage: npm run bench -- [--json]`);
    return 2;
  }
  const started = performance.now();
  const rows: BenchRow[] = [];
  for (const section of SECTIONS) rows.push(...(await section.run()));
  const seconds = ((performance.now() - started) / 1_000).toFixed(1);
  if (json) {
    console.log(JSON.stringify({ machine: machine(), seconds: Number(seconds), rows }, null, 2));
  } else {
    console.log(`pacer benchmarks — ${machine()} — ${seconds} s\n\n${benchTable(rows)}`);
  }
  return 0;
}

if (process.argv[1] && import.meta.url === new URL(process.argv[1], 'file:').href) {
  process.exitCode = await main();
}
