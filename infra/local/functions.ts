/**
 * Serves one of pacer's functions locally with functions-framework, from the compiled code in
 * dist/ (run `npm run build` first), supervised like the emulators. Used by the tests and by
 * the local stack.
 */
import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import {
  acceptsConnections,
  freePort,
  supervise,
  waitUntilReady,
  type Supervised,
} from './supervise.js';

/** The repository root (also where functions-framework finds package.json's `main`). */
export const REPO_ROOT = fileURLToPath(new URL('../../', import.meta.url)).replace(
  /\/dist\/$/,
  '/',
);
const MAIN = `${REPO_ROOT}dist/functions/index.js`;
/** The preload that keeps a function server on 127.0.0.1 (in the sources: not compiled). */
export const LOOPBACK_LISTEN = `${REPO_ROOT}infra/local/loopback-listen.cjs`;
// The CLI beside the package's entry point (its `exports` do not list the CLI itself).
const FRAMEWORK = join(
  dirname(createRequire(import.meta.url).resolve('@google-cloud/functions-framework')),
  'main.js',
);

export interface FunctionServerOptions {
  /** The function's name, e.g. `planTick` or `syncHigh`. */
  target: string;
  signatureType: 'http' | 'cloudevent';
  /** The function's environment (settings, emulator hosts, project). */
  env: Readonly<Record<string, string | undefined>>;
  port?: number;
  logFile?: string;
  onLine?: (line: string) => void;
}

export interface FunctionServer {
  target: string;
  port: number;
  url: string;
  process: Supervised;
}

export async function startFunctionServer(options: FunctionServerOptions): Promise<FunctionServer> {
  if (!existsSync(MAIN)) {
    throw new Error(`${MAIN} is missing: run \`npm run build\` first`);
  }
  const port = options.port ?? (await freePort());
  const server = await supervise({
    name: `function ${options.target}`,
    command: process.execPath,
    args: [
      // functions-framework listens on every interface; this makes it loopback only.
      '--require',
      LOOPBACK_LISTEN,
      FRAMEWORK,
      `--target=${options.target}`,
      `--signature-type=${options.signatureType}`,
      `--port=${port}`,
      `--source=${REPO_ROOT}`,
    ],
    env: {
      ...options.env,
      PATH: process.env.PATH,
      // Node options reach the function too: a preload such as the tests' loopback guard
      // (test/support/loopback-guard.cjs) then covers the function servers as well.
      ...pick(process.env, ['NODE_OPTIONS', 'LOOPBACK_GUARD_LOG']),
    },
    cwd: REPO_ROOT,
    ...(options.logFile ? { logFile: options.logFile } : {}),
    ...(options.onLine ? { onLine: options.onLine } : {}),
  });
  const url = `http://127.0.0.1:${port}`;
  try {
    // A TCP probe: any HTTP request would invoke the function.
    await waitUntilReady(server, () => acceptsConnections(port), 30_000);
  } catch (error) {
    await server.stop();
    throw error;
  }
  return { target: options.target, port, url, process: server };
}

/** The variables of `env` named in `keys` that are set. */
function pick(
  env: Readonly<Record<string, string | undefined>>,
  keys: readonly string[],
): Record<string, string> {
  return Object.fromEntries(
    keys.flatMap((key) => (env[key] === undefined ? [] : [[key, env[key]] as const])),
  );
}
