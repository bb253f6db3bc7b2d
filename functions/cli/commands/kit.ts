/**
 * What every command group of the `pacer` command line builds on: the outside world (`io`),
 * notes for the operator, and `execute`, which opens the project's clients, runs an operation,
 * prints its data (text or `--json`) and closes the clients.
 */
import { InvalidArgumentError, type Command } from 'commander';
import type { Env } from '../../config.js';
import type { CliContext, Notes, openContext } from '../context.js';
import { UsageError } from '../errors.js';
import { DEPLOYED, type ValidationContext } from '../../schedule/spec.js';
import { parseSecretBindings } from '../../worker/secrets.js';

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

export interface CommandKit {
  io: CliIo;
  notes: Notes;
  /** Runs an operation against the project, prints its data, closes the clients. */
  execute: <T>(
    command: Command,
    operation: (context: CliContext) => Promise<T>,
    render: (data: T, now: number) => string,
  ) => Promise<void>;
}

/** A commander parser for whole numbers in a range. */
export function wholeNumber(min: number, max: number): (value: string) => number {
  return (value) => {
    if (!/^\d+$/.test(value) || Number(value) < min || Number(value) > max) {
      throw new InvalidArgumentError(`expected a whole number from ${min} to ${max}`);
    }
    return Number(value);
  };
}

/** A commander parser for an http(s) URL. */
export function url(value: string): string {
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
export function collect(value: string, previous: string[] | undefined): string[] {
  return [...(previous ?? []), value];
}

/** Reads a file named on the command line; one that cannot be read is bad input. */
export async function readInputFile(io: CliIo, path: string): Promise<string> {
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

/**
 * What schedules are validated against from this environment: the registered handlers, and the
 * secret bindings of `PACER_SECRET_HOSTS` (as the deployment the operator points at has them).
 */
export function validationOf(env: Env): ValidationContext {
  const parsed = parseSecretBindings(env.PACER_SECRET_HOSTS ?? '');
  if (!parsed.ok) throw new UsageError(`PACER_SECRET_HOSTS: ${parsed.problem}`);
  return { ...DEPLOYED, secretHosts: parsed.bindings };
}
