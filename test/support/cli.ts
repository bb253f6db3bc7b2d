/**
 * Runs the built `pacer` CLI (dist/functions/cli/main.js, from `npm run build`) as a subprocess,
 * the way an operator runs it, and collects what it printed and how it exited.
 */
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { inheritedGuardEnv } from './loopback.js';

export const CLI = fileURLToPath(new URL('../../dist/functions/cli/main.js', import.meta.url));

export interface CliRun {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** Runs `pacer ...args` with `env` (the test project's, usually) and optional stdin. */
export async function runPacer(
  args: readonly string[],
  env: Readonly<Record<string, string | undefined>>,
  options: { stdin?: string; cwd?: string } = {},
): Promise<CliRun> {
  if (!existsSync(CLI)) throw new Error(`${CLI} is missing: run \`npm run build\` first`);
  const child = spawn(process.execPath, [CLI, ...args], {
    env: { PATH: process.env.PATH, ...inheritedGuardEnv(), ...env },
    cwd: options.cwd ?? process.cwd(),
    stdio: ['pipe', 'pipe', 'pipe'],
  });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
  child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  child.stdin.end(options.stdin ?? '');
  const code = await new Promise<number | null>((resolve, reject) => {
    child.on('error', reject);
    child.on('close', resolve);
  });
  return { code, stdout, stderr };
}

/** Runs `pacer --json ...args`, expects exit 0, and parses what it printed. */
export async function pacerJson<T>(
  args: readonly string[],
  env: Readonly<Record<string, string | undefined>>,
): Promise<T> {
  const run = await runPacer(['--json', ...args], env);
  if (run.code !== 0) {
    throw new Error(`pacer ${args.join(' ')} exited ${run.code}:\n${run.stderr}`);
  }
  return JSON.parse(run.stdout) as T;
}
