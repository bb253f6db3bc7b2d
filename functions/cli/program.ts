/**
 * The `pacer` command line: commander parses, a command function does the work against a
 * {@link CliContext} and returns data, and the data is printed as text for a person or, with
 * `--json`, as JSON for a script.
 *
 * Exit codes: 0 done; 1 the operation failed (not found, already exists, Firestore said no);
 * 2 bad usage or input (unknown option, missing argument, invalid schedule). A failure prints
 * `pacer: <message>` on stderr and never a stack trace (unless PACER_DEBUG=1).
 */
import { Command, CommanderError, InvalidArgumentError, Option } from 'commander';
import type { Env } from '../config.js';
import { LANES, type Lane } from '../schedule/lane.js';
import { STATUSES } from '../store/state.js';
import {
  closeContext,
  openContext,
  type CliContext,
  type GlobalOptions,
  type Notes,
} from './context.js';
import { listDeadLetters, renderDeadLetters, renderReplayed, replay } from './dead-letters.js';
import { describeCadence } from './describe.js';
import { AnsweredFailure, describeFailure, EXIT_OK, EXIT_USAGE, UsageError } from './errors.js';
import { DEFAULT_RUNS, explainSchedule, renderExplain } from './explain.js';
import { plural } from './output.js';
import {
  formatOf,
  parseScheduleText,
  scheduleFromFlags,
  schedulesFromValue,
  type InputResult,
  type ScheduleFlags,
} from './schedule-input.js';
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
} from './schedules.js';
import { readStatus, renderStatus } from './status.js';
import {
  ensureCommand,
  pauseCommand,
  renderEnsure,
  renderPaused,
  renderTickJobState,
  statusCommand,
} from './tick-job.js';

/** What the CLI needs from the outside world; `main.ts` passes the process's. */
export interface CliIo {
  stdout(text: string): void;
  stderr(text: string): void;
  readFile(path: string): Promise<string>;
  readStdin(): Promise<string>;
  env: Env;
  clock: () => number;
  /** Builds the context for commands that talk to a project (tests may refuse to). */
  openContext?: typeof openContext;
}

/** Runs one invocation and returns its exit code. */
export async function runCli(argv: readonly string[], io: CliIo): Promise<number> {
  const program = buildProgram(io);
  try {
    await program.parseAsync([...argv], { from: 'user' });
    return EXIT_OK;
  } catch (error) {
    if (error instanceof CommanderError) {
      // Commander has printed its message (or the help) already.
      return error.exitCode === 0 ? EXIT_OK : EXIT_USAGE;
    }
    if (error instanceof AnsweredFailure) return error.exitCode;
    const failure = describeFailure(error);
    const [first = '', ...rest] = failure.lines;
    io.stderr([`pacer: ${first}`, ...rest].join('\n') + '\n');
    if (io.env.PACER_DEBUG === '1' && error instanceof Error && error.stack) {
      io.stderr(`${error.stack}\n`);
    }
    return failure.exitCode;
  }
}

/** The command tree, printing through `io`. */
function buildProgram(io: CliIo): Command {
  const notes: Notes = {
    note: (line) => {
      io.stderr(`${line}\n`);
    },
  };
  const program = new Command('pacer')
    .description('Operate pacer: schedules, their runs, the planner and dead letters.')
    .option('--project <id>', 'Google Cloud project (default: $GOOGLE_CLOUD_PROJECT)')
    .option('--region <region>', "the tick job's Cloud Scheduler region (default: $PACER_REGION)")
    .option('--json', 'print the result as JSON for scripts')
    .exitOverride()
    .configureOutput({
      writeOut: (text) => {
        io.stdout(text);
      },
      writeErr: (text) => {
        io.stderr(text);
      },
      outputError: (text, write) => {
        write(`pacer: ${text.replace(/^error: /, '')}`);
      },
    })
    .showSuggestionAfterError()
    .addHelpText(
      'after',
      `
Talks to the Firestore and Pub/Sub emulators when FIRESTORE_EMULATOR_HOST and
PUBSUB_EMULATOR_HOST are set, to Google Cloud with Application Default Credentials otherwise.
Exit codes: 0 done, 1 the operation failed, 2 bad usage or input.`,
    );

  /** Runs an operation against the project, prints its data, closes the clients. */
  async function execute<T>(
    command: Command,
    operation: (context: CliContext) => Promise<T>,
    render: (data: T, now: number) => string,
  ): Promise<void> {
    const globals = command.optsWithGlobals<GlobalOptions>();
    const context = (io.openContext ?? openContext)(globals, io.env, {
      clock: io.clock,
      out: notes,
    });
    const outcome = await operation(context).then(
      (data) => ({ ok: true as const, data }),
      (error: unknown) => ({ ok: false as const, error }),
    );
    const closing = await closeContext(context).then(
      () => null,
      (error: unknown) => ({ error }),
    );
    // After a failed operation, closing usually fails for the same reason (no credentials, no
    // connection): the operation's error is the one to report.
    if (!outcome.ok) throw outcome.error;
    if (closing !== null) throw closing.error;
    print(globals, outcome.data, render);
  }

  function print<T>(globals: GlobalOptions, data: T, render: (data: T, now: number) => string) {
    io.stdout(
      globals.json === true
        ? `${JSON.stringify(data, null, 2)}\n`
        : `${render(data, io.clock())}\n`,
    );
  }

  // -------------------------------------------------------------------------------------------
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
    .option(
      '--max-run-seconds <seconds>',
      'longest run (1-540; default PACER_DEFAULT_MAX_RUN_SECONDS)',
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
    .option('--failing', 'only schedules whose last runs failed')
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
    .action(async (id: string, _options: unknown, command: Command) => {
      await execute(command, (context) => showSchedule(context, id), renderShow);
    });

  schedules
    .command('pause')
    .description(
      'set enabled: false and take the schedule out of planning (a run in flight finishes)',
    )
    .argument('<id>', 'schedule id')
    .action(async (id: string, _options: unknown, command: Command) => {
      await execute(command, (context) => setEnabled(context, id, false), renderRow);
    });

  schedules
    .command('resume')
    .description('set enabled: true and plan the schedule again from its cadence')
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
        options.id === undefined ? {} : { id: options.id },
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

  // -------------------------------------------------------------------------------------------
  program
    .command('explain')
    .description(
      'a schedule in words: cadence, tier and lane in force, next due, recent runs against the cadence with gaps marked',
    )
    .argument('<id>', 'schedule id')
    .option('--runs <n>', 'how many recent runs to compare', wholeNumber(1, 500), DEFAULT_RUNS)
    .action(async (id: string, options: { runs: number }, command: Command) => {
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

  // -------------------------------------------------------------------------------------------
  const deadLetters = program.command('dead-letters').description('list and replay dead letters');

  deadLetters
    .command('list')
    .description('dead letters, newest first')
    .option('--open', 'only those not replayed')
    .option('--limit <n>', 'at most this many', wholeNumber(1, 10_000), 50)
    .action(async (options: { open?: boolean; limit: number }, command: Command) => {
      await execute(
        command,
        (context) =>
          listDeadLetters(context, { open: options.open === true, limit: options.limit }),
        (data) => {
          if (data.more)
            notes.note(`more dead letters; showing the newest ${options.limit} (raise --limit)`);
          return renderDeadLetters(data);
        },
      );
    });

  deadLetters
    .command('replay')
    .description("dispatch a dead letter's schedule again with a fresh lease")
    .argument('<id>', 'dead letter id')
    .action(async (id: string, _options: unknown, command: Command) => {
      await execute(command, (context) => replay(context, id), renderReplayed);
    });

  // -------------------------------------------------------------------------------------------
  const tickJob = program
    .command('tick-job')
    .description('the Cloud Scheduler job that calls the planner every minute')
    .addHelpText(
      'after',
      `
The job is projects/PROJECT/locations/REGION/jobs/pacer-tick (REGION: --region or $PACER_REGION).
infra/deploy.sh runs "tick-job ensure" for you; pause and resume are for maintenance.`,
    );

  tickJob
    .command('ensure')
    .description('create the job, update what differs, or leave it as it is (never resumes it)')
    .requiredOption(
      '--planner-url <url>',
      "the planner's URL (gcloud functions describe planTick)",
      url,
    )
    .option(
      '--service-account <email>',
      'identity of the OIDC token (default: pacer-tick@PROJECT.iam.gserviceaccount.com)',
    )
    .action(async (options: { plannerUrl: string; serviceAccount?: string }, command: Command) => {
      await execute(command, (context) => ensureCommand(context, options), renderEnsure);
    });

  tickJob
    .command('pause')
    .description('stop calling the planner (maintenance); schedules wait, nothing is lost')
    .action(async (_options: unknown, command: Command) => {
      await execute(command, (context) => pauseCommand(context, true), renderPaused);
    });

  tickJob
    .command('resume')
    .description(
      'call the planner again; what fell due meanwhile is dispatched, most overdue first',
    )
    .action(async (_options: unknown, command: Command) => {
      await execute(command, (context) => pauseCommand(context, false), renderPaused);
    });

  tickJob
    .command('status')
    .description("the job's state, schedule, target, last attempt and next run")
    .action(async (_options: unknown, command: Command) => {
      await execute(command, statusCommand, renderTickJobState);
    });

  forEachCommand(program, (command) => {
    if (command.commands.length === 0) {
      command.showHelpAfterError(`(run "${commandPath(command)} --help" for usage)`);
    }
  });
  return program;
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
  'eventStartsAt',
  'tier',
  'otherwise',
  'after',
  'url',
  'header',
  'secretHeader',
  'handler',
  'lane',
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
      result: schedulesFromValue(value, options.id === undefined ? {} : { id: options.id }),
    };
  }
  if (flagsGiven.length === 0) {
    throw new UsageError(
      'give --file FILE, or the schedule as flags (run "pacer schedules add --help" for usage)',
    );
  }
  return { source: 'the schedule', result: scheduleFromFlags(options) };
}

/** Reads a file named on the command line; one that cannot be read is bad input. */
async function readInputFile(io: CliIo, path: string): Promise<string> {
  try {
    return await io.readFile(path);
  } catch (error) {
    const code = (error as { code?: unknown }).code;
    if (code === 'ENOENT' || code === 'EACCES' || code === 'EISDIR') {
      throw new UsageError(`cannot read ${path}: ${(error as Error).message}`);
    }
    throw error;
  }
}

/** A commander parser for whole numbers in a range. */
function wholeNumber(min: number, max: number): (value: string) => number {
  return (value) => {
    if (!/^\d+$/.test(value) || Number(value) < min || Number(value) > max) {
      throw new InvalidArgumentError(`expected a whole number from ${min} to ${max}`);
    }
    return Number(value);
  };
}

/** A commander parser for an http(s) URL. */
function url(value: string): string {
  let parsed: URL;
  try {
    parsed = new URL(value);
  } catch {
    throw new InvalidArgumentError('expected a URL such as https://planTick-abc123-ew.a.run.app');
  }
  if (parsed.protocol !== 'https:' && parsed.protocol !== 'http:') {
    throw new InvalidArgumentError('expected an http(s) URL');
  }
  return value;
}

/** For repeatable options: each use adds to the list. */
function collect(value: string, previous: string[] | undefined): string[] {
  return [...(previous ?? []), value];
}

function flagName(key: string): string {
  return `--${key.replace(/[A-Z]/g, (letter) => `-${letter.toLowerCase()}`)}`;
}

function forEachCommand(command: Command, visit: (command: Command) => void): void {
  visit(command);
  for (const child of command.commands) forEachCommand(child, visit);
}

function commandPath(command: Command): string {
  const names: string[] = [];
  for (let at: Command | null = command; at !== null; at = at.parent) names.unshift(at.name());
  return names.join(' ');
}
