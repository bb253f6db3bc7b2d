/**
 * The loopback guard's settings and its record (see ./loopback-guard.cjs): which env puts a
 * Node process under the guard, and what the guard refused.
 */
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

/** The preload, by absolute path (children may run in another directory). */
export const GUARD_MODULE = fileURLToPath(new URL('./loopback-guard.cjs', import.meta.url));

/** One refused attempt, as the guard wrote it down. */
export interface GuardEntry {
  pid: number;
  kind: 'connect' | 'lookup';
  target: string;
  process: string;
  stack: string[];
}

/**
 * `NODE_OPTIONS` and `LOOPBACK_GUARD_LOG` that put a process and its Node children under the
 * guard, recording into `<root>/.pacer/loopback-guard.log` unless a log is already named.
 */
export function guardProcessEnv(
  root: string,
  env: Readonly<Record<string, string | undefined>> = process.env,
): Record<string, string> {
  const preload = `--require ${JSON.stringify(GUARD_MODULE)}`;
  const options = env.NODE_OPTIONS ?? '';
  return {
    NODE_OPTIONS: options.includes(GUARD_MODULE) ? options : `${options} ${preload}`.trim(),
    LOOPBACK_GUARD_LOG: env.LOOPBACK_GUARD_LOG ?? join(root, '.pacer', 'loopback-guard.log'),
  };
}

/**
 * The guard's variables of this process, for a child started with an env of its own (which
 * would otherwise run unguarded). Empty when this process is not under the guard.
 */
export function inheritedGuardEnv(): Record<string, string> {
  const { NODE_OPTIONS, LOOPBACK_GUARD_LOG } = process.env;
  return {
    ...(NODE_OPTIONS ? { NODE_OPTIONS } : {}),
    ...(LOOPBACK_GUARD_LOG ? { LOOPBACK_GUARD_LOG } : {}),
  };
}

/** What the guard refused, from its log (none when the log does not exist). */
export function readGuardLog(path: string): GuardEntry[] {
  if (!existsSync(path)) return [];
  return readFileSync(path, 'utf8')
    .split('\n')
    .filter((line) => line.trim() !== '')
    .map((line) => JSON.parse(line) as GuardEntry);
}

/** A short account of refused attempts, one per line, for a failure message. */
export function describeGuardEntries(entries: readonly GuardEntry[]): string {
  return entries
    .map(
      (entry) =>
        `${entry.kind} to ${entry.target} by pid ${entry.pid} (${entry.process})\n    ` +
        entry.stack.slice(0, 12).join('\n    '),
    )
    .join('\n');
}
