/**
 * `npm run check:protocol -- --seeds N [--seed S] [--from S]`: N seeded random histories of the
 * lease protocol (./history.ts), every invariant checked after every step. A violation prints
 * its seed, the invariant, a history shrunk to what it needs (fewer fault kinds, only the
 * schedule concerned) and that history's trace for the schedule, and exits 1. The last line is
 * `N histories, M steps, K invariant violations`.
 */
import { availableParallelism } from 'node:os';
import { parseArgs } from 'node:util';
import { Worker } from 'node:worker_threads';
import { iso } from '../../functions/schedule/time.js';
import { FAULT_KINDS, runHistory, type FaultKind, type HistoryResult } from './history.js';

export interface CheckOptions {
  seeds: number;
  first: number;
}

const USAGE = 'usage: npm run check:protocol -- [--seeds N] [--seed S | --from S]';

export function parseCheckArgs(argv: readonly string[]): CheckOptions | string {
  let values;
  try {
    ({ values } = parseArgs({
      args: [...argv],
      options: { seeds: { type: 'string' }, seed: { type: 'string' }, from: { type: 'string' } },
      strict: true,
    }));
  } catch (error) {
    return `${(error as Error).message}\n${USAGE}`;
  }
  const whole = (text: string | undefined, name: string, fallback: number): number | string => {
    if (text === undefined) return fallback;
    return /^\d{1,9}$/.test(text)
      ? Number(text)
      : `--${name} must be a whole number, got "${text}"`;
  };
  if (values.seed !== undefined && (values.seeds !== undefined || values.from !== undefined)) {
    return `--seed runs one history; leave out --seeds and --from\n${USAGE}`;
  }
  const seeds = values.seed === undefined ? whole(values.seeds, 'seeds', 200) : 1;
  const first = whole(values.seed ?? values.from, values.seed === undefined ? 'from' : 'seed', 1);
  if (typeof seeds === 'string') return seeds;
  if (typeof first === 'string') return first;
  if (seeds < 1) return `--seeds must be at least 1\n${USAGE}`;
  return { seeds, first };
}

/** Runs the histories; resolves with the exit code. */
export async function check(
  options: CheckOptions & { threads?: number },
  out: (line: string) => void = (line) => {
    console.log(line);
  },
): Promise<number> {
  const started = performance.now();
  const progress = (done: number) => {
    if (done % 250 === 0 && done < options.seeds) {
      out(`… ${done} histories (${((performance.now() - started) / 1_000).toFixed(1)} s)`);
    }
  };
  const { steps, histories, failing, counts } =
    (options.threads ?? 1) > 1
      ? await runInThreads(options, options.threads ?? 1, progress)
      : await runHere(options, progress);
  const did = [
    'calls',
    'failed calls',
    'dead letters',
    'crashes',
    'operator',
    'manual runs',
    'backfilled points',
    'claimed ahead',
    'refilled',
  ]
    .map(
      (what) =>
        `${(counts[what] ?? 0).toLocaleString('en')} ${what === 'operator' ? 'operator actions' : what}`,
    )
    .join(', ');
  if (failing !== null) {
    out(await explain(await runHistory({ seed: failing })));
    out(`${histories} histories, ${steps} steps, 1 invariant violations`);
    return 1;
  }
  out(`in all: ${did}`);
  out(`${histories} histories, ${steps} steps, 0 invariant violations`);
  return 0;
}

interface Run {
  steps: number;
  /** What the histories did, summed. */
  counts: Record<string, number>;
  histories: number;
  /** The lowest seed that failed, or `null`. */
  failing: number | null;
}

async function runHere(options: CheckOptions, progress: (done: number) => void): Promise<Run> {
  let steps = 0;
  const counts: Record<string, number> = {};
  for (let seed = options.first; seed < options.first + options.seeds; seed++) {
    const result = await runHistory({ seed });
    steps += result.steps;
    add(counts, result.counts);
    const histories = seed - options.first + 1;
    if (result.violation !== null) return { steps, counts, histories, failing: seed };
    progress(histories);
  }
  return { steps, counts, histories: options.seeds, failing: null };
}

/** The same histories on `threads` worker threads; the lowest failing seed is the one reported. */
async function runInThreads(
  options: CheckOptions,
  threads: number,
  progress: (done: number) => void,
): Promise<Run> {
  const end = options.first + options.seeds;
  const shared = new Int32Array(new SharedArrayBuffer(8));
  shared[0] = options.first;
  shared[1] = end;
  let steps = 0;
  let histories = 0;
  let failing: number | null = null;
  const counts: Record<string, number> = {};
  await Promise.all(
    Array.from({ length: threads }, async () => {
      const worker = new Worker(new URL('./worker.js', import.meta.url), {
        workerData: { shared, end },
      });
      interface Message {
        seed: number;
        steps: number;
        counts: Record<string, number>;
        failed: boolean;
      }
      worker.on('message', (message: Message) => {
        steps += message.steps;
        add(counts, message.counts);
        histories++;
        if (message.failed && (failing === null || message.seed < failing)) failing = message.seed;
        progress(histories);
      });
      await new Promise<void>((resolve, reject) => {
        worker.on('error', reject);
        worker.on('exit', () => {
          resolve();
        });
      });
    }),
  );
  return { steps, counts, histories, failing };
}

function add(into: Record<string, number>, more: Record<string, number>): void {
  for (const [what, n] of Object.entries(more)) into[what] = (into[what] ?? 0) + n;
}

/** Shrinks a failing history and describes it. */
export async function explain(failing: HistoryResult): Promise<string> {
  const seed = failing.seed;
  const first = failing.violation;
  if (first === null) return `seed ${seed}: no violation`;
  // Fewer fault kinds, then only the schedule concerned, while it still fails.
  let faults = new Set<FaultKind>(FAULT_KINDS);
  for (const kind of FAULT_KINDS) {
    const fewer = new Set([...faults].filter((k) => k !== kind));
    if ((await runHistory({ seed, faults: fewer })).violation !== null) faults = fewer;
  }
  let schedules: Set<string> | undefined;
  const alone = new Set([first.scheduleId]);
  if ((await runHistory({ seed, faults, schedules: alone })).violation !== null) schedules = alone;
  const shrunk = await runHistory({
    seed,
    faults,
    trace: true,
    ...(schedules ? { schedules } : {}),
  });
  const violation = shrunk.violation ?? first;
  const lines = shrunk.trace.filter(
    (line) =>
      line.at <= violation.at &&
      (line.scheduleId === violation.scheduleId || line.scheduleId === null),
  );
  const start = lines[0]?.at ?? violation.at;
  const stamp = (at: number) =>
    `+${((at - start) / 1_000).toFixed(3).padStart(9)} s ${iso(at).slice(11, 23)}`;
  return [
    `invariant violated: ${violation.invariant} — schedule ${violation.scheduleId} at ${iso(violation.at)}: ${violation.message}`,
    `seed ${seed}; reproduce with: npm run check:protocol -- --seed ${seed}`,
    `shrunk to faults [${[...faults].join(', ') || 'none'}]${schedules ? `, schedules [${[...schedules].join(', ')}]` : ''}; trace (${lines.length} steps):`,
    ...lines.slice(-200).map((line) => `  ${stamp(line.at)}  ${line.text}`),
  ].join('\n');
}

// Run as a script (not when imported by the tests).
if (process.argv[1]?.endsWith('/check/cli.js')) {
  const parsed = parseCheckArgs(process.argv.slice(2));
  if (typeof parsed === 'string') {
    console.error(`check:protocol: ${parsed}`);
    process.exitCode = 2;
  } else {
    process.exitCode = await check({ ...parsed, threads: Math.min(4, availableParallelism()) });
  }
}
