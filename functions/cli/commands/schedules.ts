/**
 * `pacer schedules add|list|show|pause|resume|delete|validate|reconcile`.
 */
import { Option, type Command } from 'commander';
import { LANES, type Lane } from '../../schedule/lane.js';
import { HTTP_METHODS, RUNNERS } from '../../schedule/spec.js';
import { MAX_PAUSE_REASON } from '../../protocol/pause.js';
import { operatorName } from '../pause-note.js';
import { DEFAULT_UPCOMING, MAX_UPCOMING } from '../upcoming.js';
import { STATUSES } from '../../protocol/state.js';
import type { GlobalOptions } from '../context.js';
import { describeCadence } from '../describe.js';
import { AnsweredFailure, EXIT_USAGE, UsageError } from '../errors.js';
import { plural } from '../output.js';
import {
  formatOf,
  parseScheduleText,
  scheduleFromFlags,
  schedulesFromValue,
  type InputResult,
  type ScheduleFlags,
} from '../schedule-input.js';
import {
  addSchedules,
  deleteSchedule,
  listSchedules,
  reconcileAll,
  reconcileOne,
  renderAdded,
  renderDeleted,
  renderList,
  renderReconciledAll,
  renderReconciledOne,
  renderRow,
  renderShow,
  setEnabled,
  showSchedule,
  RECONCILE_PAGE_SIZE,
} from '../schedules.js';
import {
  collect,
  readInputFile,
  validationOf,
  wholeNumber,
  type CliIo,
  type CommandKit,
} from './kit.js';

export function scheduleCommands(program: Command, { io, notes, execute }: CommandKit): void {
  const schedules = program
    .command('schedules')
    .description('add, list, show, pause, resume, delete, validate and reconcile schedules');

  schedules
    .command('add')
    .description('add schedules from a JSON or YAML file, or one schedule from flags')
    .option(
      '--file <path>',
      "JSON or YAML file: one schedule, a list, or YAML documents ('-': stdin)",
    )
    .option('--id <id>', 'document id (for one schedule; a file may give it as `id`)')
    .option('--replace', 'replace the fields of schedules that exist (their state is kept)')
    .option('--name <name>', 'what the schedule syncs, for people')
    .option('--every <duration>', 'interval cadence: every 90s, 15m, 4h, 1d')
    .option('--start-at <time>', 'interval: first due point (ISO-8601 with offset)')
    .option('--end-at <time>', 'interval: no due points from then on')
    .option('--cron <expression>', 'cron cadence: a 5-field expression such as "0 2 * * *"')
    .option('--timezone <zone>', 'cron: IANA time zone (default UTC)')
    .option(
      '--catch-up-within <duration>',
      'cron: a run missed by at most this still runs (default 1h)',
    )
    .option(
      '--jitter <duration>',
      "cron: shift every run by the schedule's own offset within this (default none)",
    )
    .option(
      '--event-starts-at <time>',
      'event cadence: when the event starts (ISO-8601 with offset)',
    )
    .option(
      '--tier <before:every>',
      'event: every EVERY from BEFORE the start; repeat for more tiers (default 4h:1m and 24h:5m)',
      collect,
    )
    .option('--otherwise <duration>', 'event: interval before the first tier (default 60m)')
    .option('--after <duration>', 'event: keep syncing this long after the start (default 1h)')
    .option('--url <url>', 'http target: POST to this URL')
    .addOption(
      new Option(
        '--method <method>',
        'http target: call it with this method (default POST)',
      ).choices(HTTP_METHODS),
    )
    .option(
      '--pause-after-failures <n>',
      'pause the schedule after this many dead letters in a row (until resumed)',
    )
    .option('--header <name=value>', 'http target: a header; repeat for more', collect)
    .option(
      '--secret-header <name=PACER_SECRET_X>',
      'http target: a header read from a worker variable; repeat for more',
      collect,
    )
    .option('--handler <name>', 'handler target: a registered TypeScript handler')
    .addOption(
      new Option('--lane <lane>', 'pin the lane (default: follows the interval)').choices(LANES),
    )
    .addOption(
      new Option(
        '--runner <runner>',
        'where the sync runs: request (in the push request) or job (a Cloud Run job, for runs past 540 s)',
      ).choices(RUNNERS),
    )
    .option(
      '--max-run-seconds <seconds>',
      'longest run (1-540, or up to 86400 with --runner job; default PACER_DEFAULT_MAX_RUN_SECONDS)',
    )
    .option('--payload <json>', 'JSON object sent to the target')
    .option('--label <key=value>', 'a label; repeat for more', collect)
    .option('--disabled', 'add it paused')
    .addHelpText(
      'after',
      `
Examples:
  pacer schedules add --file races.yaml
  pacer schedules add --id nightly --name "nightly export" --cron "0 2 * * *" \\
    --timezone Europe/Berlin --url https://api.example.com/export
  pacer schedules add --id race-974559 --name "race 974559 participants" \\
    --event-starts-at 2026-06-20T08:30:00Z --handler example.echo

Everything is validated first; if anything is invalid, every problem is printed with its field
path, nothing is written and the exit code is 2. After writing, each schedule is reconciled
and its status, lane and next due time are printed.`,
    )
    .action(async (options: AddOptions, command: Command) => {
      const input = await readAddInput(options, io);
      if (!input.result.ok) {
        throw new UsageError(
          `${input.source}: ${plural(input.result.problems.length, 'problem')}; nothing was written`,
          input.result.problems,
        );
      }
      const inputs = input.result.schedules;
      await execute(
        command,
        (context) => addSchedules(context, inputs, { replace: options.replace === true }),
        renderAdded,
      );
    });

  schedules
    .command('list')
    .description('list schedules in id order')
    .addOption(new Option('--status <status>', 'only this status').choices(STATUSES))
    .addOption(
      new Option('--lane <lane>', 'only this lane (the lane at the next due time)').choices(LANES),
    )
    .option(
      '--failing',
      'only schedules whose last runs failed, those paused by failures included (HEALTH says which)',
    )
    .option('--limit <n>', 'at most this many', wholeNumber(1, 10_000), 100)
    .action(async (options: ListOptions, command: Command) => {
      await execute(
        command,
        (context) =>
          listSchedules(
            context,
            {
              ...(options.status === undefined ? {} : { status: options.status }),
              ...(options.lane === undefined ? {} : { lane: options.lane }),
              ...(options.failing === true ? { failing: true } : {}),
            },
            options.limit,
          ),
        (data, now) => {
          if (data.more)
            notes.note(`more schedules match; showing the first ${options.limit} (raise --limit)`);
          return renderList(data, now);
        },
      );
    });

  schedules
    .command('show')
    .description("a schedule's fields and state as stored, and whether it validates")
    .argument('<id>', 'schedule id')
    .option(
      '--upcoming <n>',
      'how many next due points to list, with the lane and tier in force at each',
      wholeNumber(0, MAX_UPCOMING),
      DEFAULT_UPCOMING,
    )
    .action(async (id: string, options: { upcoming: number }, command: Command) => {
      await execute(command, (context) => showSchedule(context, id, options), renderShow);
    });

  schedules
    .command('pause')
    .description(
      'set enabled: false and take the schedule out of planning (a run in flight finishes)',
    )
    .argument('<id>', 'schedule id')
    .option(
      '--reason <text>',
      `why, kept with who paused it and when (at most ${MAX_PAUSE_REASON} characters)`,
    )
    .option('--by <name>', 'who pauses it (default: PACER_OPERATOR, else the OS user)')
    .action(async (id: string, options: { reason?: string; by?: string }, command: Command) => {
      const reason = options.reason?.trim() ?? null;
      if (reason !== null && (reason === '' || reason.length > MAX_PAUSE_REASON)) {
        throw new UsageError(`--reason must be 1 to ${MAX_PAUSE_REASON} characters`);
      }
      const by = operatorName(options.by, io.env);
      await execute(
        command,
        (context) => setEnabled(context, id, false, { by, reason }),
        renderRow,
      );
    });

  schedules
    .command('resume')
    .description(
      'set enabled: true, clear the pause note (and a pause after failures), and plan the schedule again from its cadence',
    )
    .argument('<id>', 'schedule id')
    .action(async (id: string, _options: unknown, command: Command) => {
      await execute(command, (context) => setEnabled(context, id, true), renderRow);
    });

  schedules
    .command('delete')
    .description('delete a schedule and its run history')
    .argument('<id>', 'schedule id')
    .option('--yes', 'confirm: the schedule and its runs are gone for good')
    .action(async (id: string, options: { yes?: boolean }, command: Command) => {
      if (options.yes !== true) {
        throw new UsageError(
          `delete removes schedule "${id}" and its run history for good; add --yes to confirm`,
        );
      }
      await execute(command, (context) => deleteSchedule(context, id), renderDeleted);
    });

  schedules
    .command('validate')
    .description('check a schedule file without writing anything (no project needed)')
    .argument('<file>', "JSON or YAML file ('-': stdin)")
    .option('--id <id>', 'document id, for a file with one schedule and no `id`')
    .action(async (file: string, options: { id?: string }, command: Command) => {
      const text = file === '-' ? await io.readStdin() : await readInputFile(io, file);
      const result = schedulesFromValue(
        parseScheduleText(text, formatOf(file), file === '-' ? 'stdin' : file),
        {
          ...(options.id === undefined ? {} : { id: options.id }),
          validation: validationOf(io.env),
        },
      );
      const globals = command.optsWithGlobals<GlobalOptions>();
      if (globals.json === true) {
        io.stdout(
          `${JSON.stringify(
            result.ok
              ? {
                  valid: true,
                  schedules: result.schedules.map((s) => ({
                    id: s.id,
                    cadence: describeCadence(s.spec.cadence),
                  })),
                }
              : { valid: false, problems: result.problems },
            null,
            2,
          )}\n`,
        );
        if (!result.ok) throw new AnsweredFailure(EXIT_USAGE);
        return;
      }
      if (!result.ok) {
        throw new UsageError(
          `${file}: ${plural(result.problems.length, 'problem')}`,
          result.problems,
        );
      }
      io.stdout(
        `${file}: ${plural(result.schedules.length, 'valid schedule')}\n${result.schedules
          .map((s) => `  ${s.id}: ${describeCadence(s.spec.cadence)}`)
          .join('\n')}\n`,
      );
    });

  schedules
    .command('reconcile')
    .description("recompute pacer's state from the operator fields: one schedule, or --all")
    .argument('[id]', 'schedule id')
    .option('--all', 'every schedule, paging by document id (after a bulk import)')
    .option(
      '--page-size <n>',
      'schedule ids read per page with --all',
      wholeNumber(1, 1_000),
      RECONCILE_PAGE_SIZE,
    )
    .action(
      async (
        id: string | undefined,
        options: { all?: boolean; pageSize: number },
        command: Command,
      ) => {
        if ((id === undefined) === (options.all !== true)) {
          throw new UsageError('give a schedule id or --all (not both)');
        }
        if (id !== undefined) {
          await execute(command, (context) => reconcileOne(context, id), renderReconciledOne);
          return;
        }
        await execute(
          command,
          (context) => reconcileAll(context, options.pageSize),
          renderReconciledAll,
        );
      },
    );
}

interface AddOptions extends ScheduleFlags {
  file?: string;
  replace?: boolean;
}

interface ListOptions {
  status?: string;
  lane?: Lane;
  failing?: boolean;
  limit: number;
}

/** The flags that only describe a schedule (not where it comes from or how it is written). */
const SCHEDULE_FLAG_KEYS = [
  'name',
  'every',
  'startAt',
  'endAt',
  'cron',
  'timezone',
  'catchUpWithin',
  'jitter',
  'eventStartsAt',
  'tier',
  'otherwise',
  'after',
  'url',
  'method',
  'pauseAfterFailures',
  'header',
  'secretHeader',
  'handler',
  'lane',
  'runner',
  'maxRunSeconds',
  'payload',
  'label',
  'disabled',
] as const satisfies readonly (keyof ScheduleFlags)[];

async function readAddInput(
  options: AddOptions,
  io: CliIo,
): Promise<{ source: string; result: InputResult }> {
  const flagsGiven = SCHEDULE_FLAG_KEYS.filter((key) => options[key] !== undefined);
  if (options.file !== undefined) {
    if (flagsGiven.length > 0) {
      throw new UsageError(
        `--file cannot be combined with schedule flags (${flagsGiven.map(flagName).join(', ')}): the file holds the schedule`,
      );
    }
    const source = options.file === '-' ? 'stdin' : options.file;
    const text =
      options.file === '-' ? await io.readStdin() : await readInputFile(io, options.file);
    const value = parseScheduleText(text, formatOf(options.file), source);
    return {
      source,
      result: schedulesFromValue(value, {
        ...(options.id === undefined ? {} : { id: options.id }),
        validation: validationOf(io.env),
      }),
    };
  }
  if (flagsGiven.length === 0) {
    throw new UsageError(
      'give --file FILE, or the schedule as flags (run "pacer schedules add --help" for usage)',
    );
  }
  return { source: 'the schedule', result: scheduleFromFlags(options, validationOf(io.env)) };
}

function flagName(key: string): string {
  return `--${key.replace(/[A-Z]/g, (letter) => `-${letter.toLowerCase()}`)}`;
}
