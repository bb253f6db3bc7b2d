/**
 * The `pacer` command line: commander parses, a command function does the work against a
 * {@link CliContext} and returns data, and the data is printed as text for a person or, with
 * `--json`, as JSON for a script.
 *
 * Exit codes: 0 done; 1 the operation failed (not found, already exists, Firestore said no);
 * 2 bad usage or input (unknown option, missing argument, invalid schedule). A failure prints
 * `pacer: <message>` on stderr and never a stack trace (unless PACER_DEBUG=1).
 */
import { Command, CommanderError } from 'commander';
import {
  closeContext,
  openContext,
  type CliContext,
  type GlobalOptions,
  type Notes,
} from './context.js';
import { deadLetterCommands } from './commands/dead-letters.js';
import type { CliIo, CommandKit } from './commands/kit.js';
import { overviewCommands } from './commands/overview.js';
import { runCommands } from './commands/runs.js';
import { scheduleCommands } from './commands/schedules.js';
import { tickJobCommands } from './commands/tick-job.js';
import { AnsweredFailure, describeFailure, EXIT_OK, EXIT_USAGE } from './errors.js';

export type { CliIo };

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

  const kit: CommandKit = { io, notes, execute };
  scheduleCommands(program, kit);
  runCommands(program, kit);
  overviewCommands(program, kit);
  deadLetterCommands(program, kit);
  tickJobCommands(program, kit);

  forEachCommand(program, (command) => {
    if (command.commands.length === 0) {
      command.showHelpAfterError(`(run "${commandPath(command)} --help" for usage)`);
    }
  });
  return program;
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
