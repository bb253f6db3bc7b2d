/**
 * Starts the real Firestore and Pub/Sub emulators (from the gcloud CLI) on free loopback ports,
 * waits until they answer, and stops them by process group. Used by the test setup and by the
 * local stack.
 *
 * No orphans, even when the parent is killed: each emulator runs supervised (./supervise.ts),
 * in its own process group that dies with this process.
 */
import { accessSync, constants, existsSync, realpathSync } from 'node:fs';
import { delimiter, dirname, join } from 'node:path';
import { PacerError } from '../../functions/errors.js';
import { answersHttp, freePort, supervise, waitUntilReady } from './supervise.js';

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
  /** Security rules the Firestore emulator enforces on client (non-admin) requests. */
  firestoreRules?: string;
  /** Fixed ports (the local stack); free ports are picked when unset. */
  ports?: Partial<Record<EmulatorKind, number>>;
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
    // In parallel: each emulator takes a few seconds to start.
    const emulators = await Promise.all(
      kinds.map(async (kind): Promise<RunningEmulator> => {
        const reused = env[HOST_VARIABLE[kind]];
        if (reused) return { kind, host: reused, pgid: undefined };
        const process = await startOne(kind, env, options);
        started.push(process);
        return { kind, host: process.host, pgid: process.pgid };
      }),
    );
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
  const fixedPort = options.ports?.[kind];
  // A probed free port can be taken before the emulator binds it: try another. A fixed one is
  // the caller's choice: report it.
  const attempts = fixedPort === undefined ? 3 : 1;
  for (let attempt = 1; ; attempt++) {
    const host = `127.0.0.1:${fixedPort ?? (await freePort())}`;
    const args =
      kind === 'firestore'
        ? [
            'emulators',
            'firestore',
            'start',
            `--host-port=${host}`,
            ...(options.firestoreRules ? [`--rules=${options.firestoreRules}`] : []),
          ]
        : ['beta', 'emulators', 'pubsub', 'start', `--host-port=${host}`, '--project=pacer-local'];
    const emulator = await supervise({
      name: COMPONENT[kind].label,
      command: 'gcloud',
      args,
      env: {
        ...env,
        CLOUDSDK_CORE_DISABLE_PROMPTS: '1',
        // Nothing but the emulator: no update check, no usage report.
        CLOUDSDK_COMPONENT_MANAGER_DISABLE_UPDATE_CHECK: '1',
        CLOUDSDK_CORE_DISABLE_USAGE_REPORTING: '1',
      },
      ...(options.logDir ? { logFile: join(options.logDir, `${kind}-emulator.log`) } : {}),
      ...(options.onLine ? { onLine: (line: string) => options.onLine?.(kind, line) } : {}),
    });
    try {
      // Both emulators answer `GET /` with 200 "Ok" once they serve.
      await waitUntilReady(
        emulator,
        () => answersHttp(`http://${host}/`, true),
        options.readyTimeoutMs ?? 90_000,
      );
      return { host, pgid: emulator.pgid, stop: () => emulator.stop() };
    } catch (error) {
      await emulator.stop();
      if (attempt < attempts && emulator.recentOutput().includes('already in use')) continue;
      throw new PacerError('prerequisite_missing', (error as Error).message, {}, { cause: error });
    }
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
