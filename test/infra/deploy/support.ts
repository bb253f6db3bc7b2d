/**
 * Running infra/deploy.sh from tests, and reading the commands it prints.
 */
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { inheritedGuardEnv } from '../../support/loopback.js';

export const REPO = fileURLToPath(new URL('../../../', import.meta.url));

export interface DeployRun {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** Runs `bash infra/deploy.sh ...args` from the repository root with exactly `env` (+ PATH). */
export async function runDeploy(
  args: readonly string[],
  env: Readonly<Record<string, string | undefined>>,
): Promise<DeployRun> {
  const child = spawn('bash', ['infra/deploy.sh', ...args], {
    cwd: REPO,
    env: { PATH: process.env.PATH, HOME: process.env.HOME, ...inheritedGuardEnv(), ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
  child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  const code = await new Promise<number | null>((resolve, reject) => {
    child.on('error', reject);
    child.on('close', resolve);
  });
  return { code, stdout, stderr };
}

/**
 * Splits a printed command into its arguments as a shell would: 'single' and "double" quotes
 * group (nothing is expanded), a backslash escapes outside single quotes.
 */
export function shellWords(line: string): string[] {
  const words: string[] = [];
  let word = '';
  let inWord = false;
  let quote: "'" | '"' | null = null;
  for (let i = 0; i < line.length; i++) {
    const char = line[i] ?? '';
    if (quote !== null) {
      if (char === quote) quote = null;
      else if (char === '\\' && quote === '"' && i + 1 < line.length) word += line[++i] ?? '';
      else word += char;
    } else if (char === "'" || char === '"') {
      quote = char;
      inWord = true;
    } else if (char === '\\' && i + 1 < line.length) {
      word += line[++i] ?? '';
      inWord = true;
    } else if (/\s/.test(char)) {
      if (inWord) words.push(word);
      word = '';
      inWord = false;
    } else {
      word += char;
      inWord = true;
    }
  }
  if (quote !== null) throw new Error(`unterminated quote in: ${line}`);
  if (inWord) words.push(word);
  return words;
}

/** The commands of a deploy's output (dry run: plain; real run: after `+ `), split. */
export function commandsOf(stdout: string): string[][] {
  return stdout
    .split('\n')
    .filter((line) => line.trim() !== '' && !line.startsWith('#'))
    .filter((line) => !/^(Created|Updated) /.test(line))
    .map((line) => shellWords(line.replace(/^\+ /, '')));
}

/** The value of `--name=value` in a command, or `undefined`. */
export function flag(command: readonly string[], name: string): string | undefined {
  const prefix = `--${name}=`;
  return command.find((arg) => arg.startsWith(prefix))?.slice(prefix.length);
}

/** Every value of a repeated `--name=value`. */
export function flags(command: readonly string[], name: string): string[] {
  const prefix = `--${name}=`;
  return command.filter((arg) => arg.startsWith(prefix)).map((arg) => arg.slice(prefix.length));
}
