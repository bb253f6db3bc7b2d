/**
 * `pacer schedules trigger|backfill|backfill-cancel`, added to the `schedules` command.
 */
import { InvalidArgumentError, Option, type Command } from 'commander';
import { LANES, type Lane } from '../../schedule/lane.js';
import { parseTime, TIME_HINT } from '../../schedule/time.js';
import {
  backfill,
  cancelBackfill,
  renderBackfill,
  renderBackfillCancelled,
  renderTriggered,
  trigger,
} from '../runs.js';
import { wholeNumber, type CommandKit } from './kit.js';

/** A commander parser for an ISO-8601 time with an offset. */
function time(value: string): number {
  const parsed = parseTime(value);
  if (!parsed.ok) throw new InvalidArgumentError(`"${value}" is not a time (${TIME_HINT})`);
  return parsed.ms;
}

export function runCommands(program: Command, { execute }: CommandKit): void {
  const schedules =
    program.commands.find((command) => command.name() === 'schedules') ??
    program.command('schedules');

  schedules
    .command('trigger')
    .description('run one sync now, without moving the cadence (a manual run)')
    .argument('<id>', 'schedule id')
    .addOption(
      new Option('--lane <lane>', "dispatch in this lane (default: the schedule's)").choices(LANES),
    )
    .option(
      '--wait <seconds>',
      'while a sync of it is dispatched or running, wait up to this long for it to end',
      wholeNumber(0, 3_600),
      0,
    )
    .action(async (id: string, options: { lane?: Lane; wait: number }, command: Command) => {
      await execute(
        command,
        (context) =>
          trigger(context, id, {
            ...(options.lane === undefined ? {} : { lane: options.lane }),
            waitSeconds: options.wait,
          }),
        renderTriggered,
      );
    });

  schedules
    .command('backfill')
    .description("serve the range's cadence points that have no successful run, oldest first")
    .argument('<id>', 'schedule id')
    .requiredOption('--from <time>', 'first point of the range (ISO-8601 with an offset)', time)
    .requiredOption('--to <time>', 'last point of the range (ISO-8601 with an offset)', time)
    .addOption(new Option('--lane <lane>', 'dispatch in this lane').choices(LANES).default('low'))
    .option('--max <n>', 'dispatch at most this many points', wholeNumber(1, 10_000), 100)
    .option(
      '--spacing <seconds>',
      'the least time between two dispatches',
      wholeNumber(0, 3_600),
      1,
    )
    .option('--dry-run', 'list the points it would dispatch, dispatch nothing')
    .action(
      async (
        id: string,
        options: {
          from: number;
          to: number;
          lane: Lane;
          max: number;
          spacing: number;
          dryRun?: boolean;
        },
        command: Command,
      ) => {
        await execute(
          command,
          (context) =>
            backfill(context, id, {
              from: options.from,
              to: options.to,
              lane: options.lane,
              max: options.max,
              dryRun: options.dryRun === true,
              spacingSeconds: options.spacing,
            }),
          renderBackfill,
        );
      },
    );

  schedules
    .command('backfill-cancel')
    .description("cancel the schedule's running backfills (a point in flight runs to its end)")
    .argument('<id>', 'schedule id')
    .action(async (id: string, _options: unknown, command: Command) => {
      await execute(command, (context) => cancelBackfill(context, id), renderBackfillCancelled);
    });
}
