/**
 * `npm run bench`: pacer's benchmarks in one run, printed as one table with the machine's
 * details (docs/performance.md keeps the latest).
 *
 *   npm run bench -- [--json] [--skip-emulators] [--schedules 600] [--messages 2000]
 *                    [--operations 1000]
 *
 * Sections run in order: the simulator (every scenario in test/scenarios/ under every strategy;
 * deterministic, no emulators needed), then the emulators (pacer end to end, and the emulators'
 * own ceiling for pacer's path; see emulator.ts). `--skip-emulators` runs the simulator only,
 * for a machine without gcloud and Java.
 */
import { parseArgs } from 'node:util';
import { fileURLToPath } from 'node:url';
import { machine } from './planner.js';
import { benchTable, type BenchRow, type BenchSection } from './sections.js';
import { EMULATOR_BENCH_DEFAULTS, emulatorSection } from './emulator.js';
import { simulatorSection } from './simulator.js';

const SCENARIOS = fileURLToPath(new URL('../../../test/scenarios/', import.meta.url));

const USAGE =
  'usage: npm run bench -- [--json] [--skip-emulators] [--schedules N] [--messages N] [--operations N]';

async function main(): Promise<number> {
  let sections: BenchSection[];
  let json: boolean;
  try {
    const { values } = parseArgs({
      options: {
        json: { type: 'boolean', default: false },
        'skip-emulators': { type: 'boolean', default: false },
        schedules: { type: 'string', default: String(EMULATOR_BENCH_DEFAULTS.schedules) },
        messages: { type: 'string', default: String(EMULATOR_BENCH_DEFAULTS.messages) },
        operations: { type: 'string', default: String(EMULATOR_BENCH_DEFAULTS.operations) },
      },
    });
    const count = (name: 'schedules' | 'messages' | 'operations') => {
      const value = Number(values[name]);
      if (!Number.isInteger(value) || value < 1 || value > 1_000_000) {
        throw new Error(`--${name}: "${values[name]}" is not a whole number from 1 to 1000000`);
      }
      return value;
    };
    json = values.json;
    sections = [simulatorSection(SCENARIOS)];
    if (!values['skip-emulators']) {
      sections.push(
        emulatorSection({
          ...EMULATOR_BENCH_DEFAULTS,
          schedules: count('schedules'),
          messages: count('messages'),
          operations: count('operations'),
        }),
      );
    }
  } catch (error) {
    console.error(`bench: ${(error as Error).message}\n\n${USAGE}`);
    return 2;
  }
  const started = performance.now();
  const rows: BenchRow[] = [];
  for (const section of sections) rows.push(...(await section.run()));
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
