/**
 * How the CLI fails. Two kinds, two exit codes: the invocation was wrong (bad usage or input,
 * exit 2) or it was fine and the operation against the project failed (exit 1). Either way the
 * operator gets `pacer: <message>` on stderr, never a stack trace.
 */
import { PacerError, errorMessage } from '../errors.js';

export const EXIT_OK = 0;
export const EXIT_FAILED = 1;
export const EXIT_USAGE = 2;

/**
 * The invocation is wrong: an unknown option, a missing argument, an invalid schedule file.
 * `problems` are listed one per line under the message.
 */
export class UsageError extends Error {
  override readonly name = 'UsageError';

  constructor(
    message: string,
    readonly problems: readonly string[] = [],
  ) {
    super(message);
  }
}

/** The invocation was fine but the operation could not be done (not found, already exists). */
export class OperationError extends Error {
  override readonly name = 'OperationError';

  constructor(
    message: string,
    readonly problems: readonly string[] = [],
  ) {
    super(message);
  }
}

/**
 * The command has printed its whole answer (say, `validate --json` with the problems) and only
 * has to end with a failing exit code; nothing more is printed.
 */
export class AnsweredFailure extends Error {
  override readonly name = 'AnsweredFailure';

  constructor(readonly exitCode: typeof EXIT_FAILED | typeof EXIT_USAGE) {
    super(`exit ${exitCode}`);
  }
}

/** What the operator sees for a failure, and the exit code it ends with. */
export interface Failure {
  exitCode: typeof EXIT_FAILED | typeof EXIT_USAGE;
  /** Lines for stderr, the first one the message itself. */
  lines: string[];
}

/**
 * Decides the exit code and the wording of an error a command ended with. A bad setting in the
 * environment is bad usage; anything pacer did not raise on purpose (a Firestore or Pub/Sub
 * error, say) is a failed operation. Commander's parse errors never get here: commander prints
 * them itself and the runner maps them to {@link EXIT_USAGE}.
 */
export function describeFailure(error: unknown): Failure {
  if (error instanceof UsageError) {
    return { exitCode: EXIT_USAGE, lines: [error.message, ...indent(error.problems)] };
  }
  if (error instanceof OperationError) {
    return { exitCode: EXIT_FAILED, lines: [error.message, ...indent(error.problems)] };
  }
  if (error instanceof PacerError && error.code === 'invalid_config') {
    return { exitCode: EXIT_USAGE, lines: errorMessage(error).split('\n') };
  }
  return { exitCode: EXIT_FAILED, lines: errorMessage(error).split('\n') };
}

function indent(problems: readonly string[]): string[] {
  return problems.map((problem) => `  ${problem}`);
}
