/**
 * `pacer explain` and `pacer status`: a schedule in words, and the whole system at a glance.
 */
import type { Command } from 'commander';
import { DEFAULT_RUNS, explainSchedule, renderExplain } from '../explain.js';
import { readStatus, renderStatus } from '../status.js';
import { DEFAULT_UPCOMING, MAX_UPCOMING } from '../upcoming.js';
import { wholeNumber, type CommandKit } from './kit.js';

export function overviewCommands(program: Command, { execute }: CommandKit): void {
  program
    .command('explain')
    .description(
      'a schedule in words: cadence, tier and lane in force, next due, recent runs against the cadence with gaps marked',
    )
    .argument('<id>', 'schedule id')
    .option('--runs <n>', 'how many recent runs to compare', wholeNumber(1, 500), DEFAULT_RUNS)
    .option(
      '--upcoming <n>',
      'how many next due points to list, with the lane and tier in force at each',
      wholeNumber(0, MAX_UPCOMING),
      DEFAULT_UPCOMING,
    )
    .action(async (id: string, options: { runs: number; upcoming: number }, command: Command) => {
      await execute(command, (context) => explainSchedule(context, id, options), renderExplain);
    });

  program
    .command('status')
    .description(
      'per lane due, in flight, deferred and lag; recent ticks; failing schedules; dead letters',
    )
    .action(async (_options: unknown, command: Command) => {
      await execute(command, readStatus, renderStatus);
    });
}
