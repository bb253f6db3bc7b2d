/**
 * Starts the real Firestore and Pub/Sub emulators (from the gcloud CLI) on free loopback ports,
 * waits until they answer, and stops them by process group. Used by the test setup and by the
 * local stack.
 *
 * No orphans, even when the parent is killed: each emulator runs in its own process group
 * under a small watchdog process (./watchdog.js) tied to this one by an IPC channel. When the
 * channel closes (we stop it, we exit, or we are killed with SIGKILL), the watchdog stops the
 * group, the gcloud wrapper and its Java child included, and reaps it.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import {
  accessSync,
  constants,
  createWriteStream,
  existsSync,
  mkdirSync,
  realpathSync,
} from 'node:fs';
import { createServer } from 'node:net';
import { delimiter, dirname, join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import { PacerError } from '../../functions/errors.js';
import { liveGroupMembers, STOP_GRACE_MS } from './watchdog.js';

const WATCHDOG = fileURLToPath(new URL('./watchdog.js', import.meta.url));

export type EmulatorKind = 'firestore' | 'pubsub';
export const EMULATOR_KINDS: readonly EmulatorKind[] = ['firestore', 'pubsub'];

/** The env variable each emulator's clients read, `host:port` without a scheme. */
export const HOST_VARIABLE: Record<EmulatorKind, string> = {
  firestore: 'FIRESTORE_EMULATOR_HOST',
  pubsub: 'PUBSUB_EMULATOR_HOST',
};

const COMPONENT: Record<
  EmulatorKind,
  { file: string; debian: string; gcloud: string; label: string }
> = {
  firestore: {
    file: 'platform/cloud-firestore-emulator/cloud-firestore-emulator.jar',
    debian: 'google-cloud-cli-firestore-emulator',
    gcloud: 'cloud-firestore-emulator',
    label: 'the Firestore emulator',
  },
  pubsub: {
    file: 'platform/pubsub-emulator/bin/cloud-pubsub-emulator',
    debian: 'google-cloud-cli-pubsub-emulator',
    gcloud: 'pubsub-emulator',
    label: 'the Pub/Sub emulator',
  },
};

export interface StartOptions {
  /** Environment to read host variables and PATH from; `process.env` by default. */
  env?: Readonly<Record<string, string | undefined>>;
  /** Which emulators; both by default. */
  kinds?: readonly EmulatorKind[];
  /** Emulator output goes to `<logDir>/<kind>-emulator.log`; discarded when unset. */
  logDir?: string;
  /** Called for every output line (the local stack shows them). */
  onLine?: (kind: EmulatorKind, line: string) => void;
  /** How long to wait for an emulator to answer; 90 s by default (slow CI machines). */
  readyTimeoutMs?: number;
}

export interface RunningEmulator {
  kind: EmulatorKind;
  host: string;
  /** Process group id when this harness started it; `undefined` when reused from the env. */
  pgid: number | undefined;
}

export interface RunningEmulators {
  /** `FIRESTORE_EMULATOR_HOST` / `PUBSUB_EMULATOR_HOST` for the clients. */
  env: Record<string, string>;
  emulators: RunningEmulator[];
  /** Stops the emulators this harness started (never reused ones). Safe to call twice. */
  stop(): Promise<void>;
}

/**
 * Starts whichever emulators are not already given by their host variable. Fails at once,
 * naming what to install, when gcloud, Java or an emulator component is missing.
 */
export async function startEmulators(options: StartOptions = {}): Promise<RunningEmulators> {
  const env = options.env ?? process.env;
  const kinds = options.kinds ?? EMULATOR_KINDS;
  const toStart = kinds.filter((kind) => !env[HOST_VARIABLE[kind]]);
  if (toStart.length > 0) checkPrerequisites(toStart, env);

  const started: StartedProcess[] = [];
  const stopAll = async () => {
    await Promise.all(started.map((process) => process.stop()));
  };
  try {
    const emulators: RunningEmulator[] = [];
    for (const kind of kinds) {
      const reused = env[HOST_VARIABLE[kind]];
      if (reused) {
        emulators.push({ kind, host: reused, pgid: undefined });
        continue;
      }
      const process = await startOne(kind, env, options);
      started.push(process);
      emulators.push({ kind, host: process.host, pgid: process.pgid });
    }
    return {
      env: Object.fromEntries(emulators.map((e) => [HOST_VARIABLE[e.kind], e.host])),
      emulators,
      stop: stopAll,
    };
  } catch (error) {
    await stopAll();
    throw error;
  }
}

/**
 * Checks that gcloud, Java and the emulator components are installed; throws a
 * `prerequisite_missing` error that lists every missing piece and how to install it.
 */
export function checkPrerequisites(
  kinds: readonly EmulatorKind[],
  env: Readonly<Record<string, string | undefined>> = process.env,
): void {
  const missing: string[] = [];
  const gcloud = findOnPath('gcloud', env);
  if (gcloud === undefined) {
    missing.push(
      'gcloud (the Google Cloud CLI) is not on PATH. Install it with: ' +
        `sudo apt-get install google-cloud-cli ${kinds.map((kind) => COMPONENT[kind].debian).join(' ')}`,
    );
  } else {
    // The Debian packages and `gcloud components install` both put components under the SDK
    // root: <root>/bin/gcloud → <root>/platform/...
    const sdkRoot = dirname(dirname(realpathSync(gcloud)));
    for (const kind of kinds) {
      const component = COMPONENT[kind];
      if (!existsSync(join(sdkRoot, component.file))) {
        missing.push(
          `${component.label} is not installed (looked for ${join(sdkRoot, component.file)}). ` +
            `Install it with: sudo apt-get install ${component.debian} ` +
            `(or: gcloud components install ${component.gcloud})`,
        );
      }
    }
  }
  if (findOnPath('java', env) === undefined) {
    missing.push(
      'java is not on PATH; the emulators run on Java 17 or later. Install it with: ' +
        'sudo apt-get install openjdk-17-jre-headless',
    );
  }
  if (missing.length > 0) {
    throw new PacerError(
      'prerequisite_missing',
      `cannot start the emulators:\n  - ${missing.join('\n  - ')}`,
      { missing },
    );
  }
}

/** A free TCP port on the loopback interface. */
export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.unref();
    server.on('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      server.close(() => {
        if (typeof address === 'object' && address !== null) resolve(address.port);
        else reject(new Error('could not read the port of a probe socket'));
      });
    });
  });
}

/** Whether any live (non-zombie) process of group `pgid` is left. */
export function processGroupAlive(pgid: number): boolean {
  return liveGroupMembers(pgid).length > 0;
}

// ---------------------------------------------------------------------------------------------

interface StartedProcess {
  host: string;
  pgid: number;
  stop(): Promise<void>;
}

async function startOne(
  kind: EmulatorKind,
  env: Readonly<Record<string, string | undefined>>,
  options: StartOptions,
): Promise<StartedProcess> {
  const attempts = 3; // a probed port can be taken before the emulator binds it
  for (let attempt = 1; ; attempt++) {
    const port = await freePort();
    const host = `127.0.0.1:${port}`;
    const args =
      kind === 'firestore'
        ? ['emulators', 'firestore', 'start', `--host-port=${host}`]
        : ['beta', 'emulators', 'pubsub', 'start', `--host-port=${host}`, '--project=pacer-local'];
    const child = spawn(process.execPath, [WATCHDOG, 'gcloud', ...args], {
      detached: true, // its own process group: the terminal's Ctrl-C is ours to handle
      stdio: ['ignore', 'pipe', 'pipe', 'ipc'],
      env: { ...env, CLOUDSDK_CORE_DISABLE_PROMPTS: '1' },
    });
    const output = captureOutput(kind, child, options);
    const pgid = await watchdogReport(kind, child, output);
    const stop = () => stopWatchdog(child, pgid);
    try {
      await waitUntilReady(kind, host, child, output, options.readyTimeoutMs ?? 90_000);
      return { host, pgid, stop };
    } catch (error) {
      await stop();
      if (attempt < attempts && output.text().includes('already in use')) continue;
      throw error;
    }
  }
}

/** Waits for the watchdog to report the emulator's process group. */
async function watchdogReport(
  kind: EmulatorKind,
  child: ChildProcess,
  output: CapturedOutput,
): Promise<number> {
  const [message] = (await Promise.race([
    once(child, 'message'),
    once(child, 'exit').then(() => {
      throw new PacerError(
        'prerequisite_missing',
        `${COMPONENT[kind].label} could not be started. Output:\n${output.text()}`,
      );
    }),
  ])) as [{ pgid: number }];
  return message.pgid;
}

/** Asks the watchdog to stop its emulator and waits until both are gone. */
async function stopWatchdog(child: ChildProcess, pgid: number): Promise<void> {
  if (child.exitCode === null && child.signalCode === null) {
    const exited = once(child, 'exit');
    if (child.connected) child.disconnect();
    const timer = new AbortController();
    const deadline = sleep(STOP_GRACE_MS + 2_000, 'timeout' as const, { signal: timer.signal });
    const outcome = await Promise.race([exited, deadline]);
    timer.abort();
    deadline.catch(() => undefined); // the aborted sleep rejects; that is how it was meant to end
    if (outcome === 'timeout') {
      // The watchdog itself is stuck: kill both groups outright.
      for (const group of [pgid, child.pid]) if (group !== undefined) signalGroup(group, 'SIGKILL');
    }
  }
  for (let waited = 0; processGroupAlive(pgid); waited += 50) {
    if (waited > 2_000) {
      throw new Error(
        `emulator process group ${pgid} survived SIGKILL: ${liveGroupMembers(pgid).join(', ')}`,
      );
    }
    await sleep(50);
  }
}

interface CapturedOutput {
  text(): string;
}

function captureOutput(
  kind: EmulatorKind,
  child: ChildProcess,
  options: StartOptions,
): CapturedOutput {
  let recent = '';
  let file: ReturnType<typeof createWriteStream> | undefined;
  if (options.logDir) {
    mkdirSync(options.logDir, { recursive: true });
    file = createWriteStream(join(options.logDir, `${kind}-emulator.log`), { flags: 'a' });
  }
  let partial = '';
  const onData = (chunk: Buffer) => {
    const text = chunk.toString('utf8');
    recent = (recent + text).slice(-8_000);
    file?.write(text);
    if (options.onLine) {
      const lines = (partial + text).split('\n');
      partial = lines.pop() ?? '';
      for (const line of lines) if (line.trim() !== '') options.onLine(kind, line);
    }
  };
  child.stdout?.on('data', onData);
  child.stderr?.on('data', onData);
  child.once('exit', () => file?.end());
  return { text: () => recent };
}

async function waitUntilReady(
  kind: EmulatorKind,
  host: string,
  child: ChildProcess,
  output: CapturedOutput,
  timeoutMs: number,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (child.exitCode !== null || child.signalCode !== null) {
      throw new PacerError(
        'prerequisite_missing',
        `${COMPONENT[kind].label} exited during start-up. Its output:\n${output.text()}`,
      );
    }
    if (await answers(host)) return;
    await sleep(100);
  }
  throw new PacerError(
    'prerequisite_missing',
    `${COMPONENT[kind].label} did not answer on ${host} within ${timeoutMs / 1000} s. Its output:\n${output.text()}`,
  );
}

/** Both emulators answer `GET /` with 200 "Ok" once they serve. */
async function answers(host: string): Promise<boolean> {
  try {
    const response = await fetch(`http://${host}/`, { signal: AbortSignal.timeout(1_000) });
    await response.body?.cancel();
    return response.ok;
  } catch {
    return false; // not listening yet: the caller polls again
  }
}

function signalGroup(pgid: number, signal: NodeJS.Signals): void {
  try {
    process.kill(-pgid, signal);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'ESRCH') throw error;
  }
}

function findOnPath(
  command: string,
  env: Readonly<Record<string, string | undefined>>,
): string | undefined {
  for (const directory of (env.PATH ?? '').split(delimiter)) {
    if (directory === '') continue;
    const candidate = join(directory, command);
    try {
      accessSync(candidate, constants.X_OK);
      return candidate;
    } catch {
      // not here; try the next PATH entry
    }
  }
  return undefined;
}
