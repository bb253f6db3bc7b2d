/**
 * `npm start`: all of pacer on the emulators, in the production topology.
 *
 * Starts (or reuses) the Firestore and Pub/Sub emulators; serves the planner, the three
 * workers, the dead-letter function and the reconciler with functions-framework; creates the
 * topics and push subscriptions from the topology, pointed at those servers; stands in for
 * Cloud Scheduler (a POST to planTick every `--tick-every`) and for the reconciler's Eventarc
 * trigger (a Firestore listener); runs a demo target and seeds demo schedules. Logs from every
 * process go to one stream. Ctrl-C stops everything it started.
 *
 *   npm start -- [--tick-every 60s] [--no-seed] [--port-base 8780] [--verbose] [--json]
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import type { Firestore } from '@google-cloud/firestore';
import type { PubSub } from '@google-cloud/pubsub';
import { createFirestore, createPubSub, emulatorProcessEnv } from '../../functions/clients.js';
import { loadSettings } from '../../functions/config.js';
import { PacerError } from '../../functions/errors.js';
import { LANES } from '../../functions/schedule/lane.js';
import { parseDuration } from '../../functions/schedule/duration.js';
import {
  DEAD_LETTER_FUNCTION,
  describeTopology,
  PLANNER_FUNCTION,
  RECONCILER_FUNCTION,
  WORKER_FUNCTIONS,
} from '../../functions/topology.js';
import { seedDemo } from './demo.js';
import { startDemoTarget } from './demo-target.js';
import { HOST_VARIABLE, startEmulators, type RunningEmulators } from './emulators.js';
import { REPO_ROOT, startFunctionServer, type FunctionServer } from './functions.js';
import { createLogStream, type LogStream } from './log-stream.js';
import { emulateScheduleTrigger } from './schedule-trigger.js';
import { acceptsConnections, signalGroup } from './supervise.js';
import { applyTopology } from './topology.js';

export const STATE_DIR = join(REPO_ROOT, '.pacer');
export const LOCAL_ENV_FILE = join(STATE_DIR, 'local.env');

/** The functions the stack serves, in port order after the emulators. */
const FUNCTIONS: readonly { name: string; signature: 'http' | 'cloudevent' }[] = [
  { name: PLANNER_FUNCTION, signature: 'http' },
  ...LANES.map((lane) => ({ name: WORKER_FUNCTIONS[lane], signature: 'cloudevent' as const })),
  { name: DEAD_LETTER_FUNCTION, signature: 'cloudevent' },
  { name: RECONCILER_FUNCTION, signature: 'cloudevent' },
];

export interface StackOptions {
  tickEveryMs: number;
  seed: boolean;
  portBase: number;
  verbose: boolean;
  json: boolean;
  projectId: string;
}

/** Ports, from `portBase` up: emulators, functions, demo target. */
export function portLayout(base: number) {
  const functions = Object.fromEntries(FUNCTIONS.map(({ name }, i) => [name, base + 2 + i]));
  return {
    firestore: base,
    pubsub: base + 1,
    functions,
    target: base + 2 + FUNCTIONS.length,
  };
}

/**
 * The planner's tick for a scheduler period: sub-ticks within the period, leaving a second, so
 * that ticks never overlap (the defaults, 10 s sub-ticks from :00 to :50, at the usual minute).
 */
export function tickSettings(periodMs: number): { budgetSeconds: number; subTickSeconds: number } {
  const period = Math.max(2, Math.round(periodMs / 1_000));
  const budgetSeconds = period >= 60 ? 55 : period - 1;
  return {
    budgetSeconds,
    subTickSeconds: Math.min(10, Math.max(1, Math.floor(budgetSeconds / 2))),
  };
}

export function parseOptions(argv: readonly string[], env: NodeJS.ProcessEnv): StackOptions {
  const { values } = parseArgs({
    args: [...argv],
    options: {
      'tick-every': { type: 'string', default: '60s' },
      'no-seed': { type: 'boolean', default: false },
      'port-base': { type: 'string', default: env.PACER_LOCAL_PORT_BASE ?? '8780' },
      verbose: { type: 'boolean', default: false },
      json: { type: 'boolean', default: false },
      project: { type: 'string', default: 'pacer-local' },
    },
    strict: true,
  });
  const tick = /^\d+$/.test(values['tick-every'])
    ? `${values['tick-every']}s`
    : values['tick-every'];
  const parsedTick = parseDuration(tick);
  if (!parsedTick.ok || parsedTick.ms < 2_000 || parsedTick.ms > 600_000) {
    throw new PacerError(
      'invalid_config',
      `--tick-every: "${values['tick-every']}" is not a period from 2s to 10m (e.g. 5s, 60s, 1m)`,
    );
  }
  const portBase = Number(values['port-base']);
  if (!Number.isInteger(portBase) || portBase < 1024 || portBase > 65_000) {
    throw new PacerError(
      'invalid_config',
      `--port-base: "${values['port-base']}" is not a port from 1024 to 65000`,
    );
  }
  return {
    tickEveryMs: parsedTick.ms,
    seed: !values['no-seed'],
    portBase,
    verbose: values.verbose,
    json: values.json,
    projectId: values.project,
  };
}

interface Running {
  emulators?: RunningEmulators;
  servers: FunctionServer[];
  stops: Stop[];
  /** Stops the processes the stack started (emulators, function servers, the demo target). */
  processes: Stop[];
}

interface Stop {
  what: string;
  stop: () => Promise<void>;
}

/** Starts the stack; resolves once everything runs. `stop` takes it all down. */
export async function startStack(
  options: StackOptions,
  log: LogStream,
  env: NodeJS.ProcessEnv = process.env,
): Promise<{ stop: () => Promise<void>; pgids: () => number[] }> {
  const ports = portLayout(options.portBase);
  const running: Running = { servers: [], stops: [], processes: [] };
  const stop = async () => {
    const attempt = async (step: Stop) => {
      const started = Date.now();
      try {
        await step.stop();
      } catch (error) {
        log.say(`while stopping ${step.what}: ${(error as Error).message}`, {}, 'WARNING');
      }
      const tookMs = Date.now() - started;
      // A slow stop says what held it up (the whole stop has a deadline).
      if (tookMs > 2_000) log.say(`stopping ${step.what} took ${tookMs} ms`, { tookMs }, 'WARNING');
    };
    // First what calls into the processes (the ticker, the trigger, the stack's clients), newest
    // first; then the processes themselves, all at once: each may take its grace period to
    // exit, and one after another they could outlast the stop deadline on a busy machine.
    for (const step of running.stops.reverse()) await attempt(step);
    await Promise.all(running.processes.map(attempt));
  };
  // Each step of the start, named: a start that fails says which step failed, and why.
  const step = async <T>(what: string, run: () => Promise<T>): Promise<T> => {
    try {
      return await run();
    } catch (error) {
      throw new StartError(what, error);
    }
  };
  try {
    await step('checking the ports', () => checkPortsFree(ports, env));
    running.emulators = await step('starting the emulators', () =>
      startEmulators({
        env,
        ports: { firestore: ports.firestore, pubsub: ports.pubsub },
        logDir: join(STATE_DIR, 'logs'),
        onLine: (kind, line) => {
          log.line(`${kind}-emulator`, line);
        },
      }),
    );
    const emulators = running.emulators;
    running.processes.push({ what: 'the emulators', stop: () => emulators.stop() });
    for (const emulator of emulators.emulators) {
      log.say(
        `${emulator.kind} emulator ${emulator.pgid === undefined ? 'reused' : 'started'} on ${emulator.host}`,
        {
          kind: emulator.kind,
          host: emulator.host,
          ...(emulator.pgid ? { pgid: emulator.pgid } : {}),
        },
      );
    }

    const functionEnv = emulatorProcessEnv({
      // Settings the operator set in this shell pass through (PACER_*).
      ...Object.fromEntries(Object.entries(env).filter(([key]) => key.startsWith('PACER_'))),
      ...emulators.env,
      GOOGLE_CLOUD_PROJECT: options.projectId,
      PACER_ALLOW_TARGET_NETWORKS: env.PACER_ALLOW_TARGET_NETWORKS ?? '127.0.0.0/8',
      // Long syncs run as child processes of the workers, from the request Cloud Run would get.
      PACER_JOB_LAUNCHER: env.PACER_JOB_LAUNCHER ?? 'local',
      PACER_TICK_BUDGET_SECONDS: String(tickSettings(options.tickEveryMs).budgetSeconds),
      PACER_SUBTICK_SECONDS: String(tickSettings(options.tickEveryMs).subTickSeconds),
      PATH: env.PATH,
    });
    const settings = loadSettings(functionEnv);

    const target = await step('starting the demo target', () => startDemoTarget(ports.target, log));
    running.processes.push({ what: 'the demo target', stop: () => target.stop() });

    running.servers = await step('starting the function servers', () =>
      Promise.all(
        FUNCTIONS.map(({ name, signature }) =>
          startFunctionServer({
            target: name,
            signatureType: signature,
            env: functionEnv,
            port: ports.functions[name],
            logFile: join(STATE_DIR, 'logs', `${name}.log`),
            onLine: (line) => {
              log.line(name, line);
            },
          }),
        ),
      ),
    );
    running.processes.push({
      what: 'the function servers',
      stop: () =>
        Promise.all(running.servers.map((server) => server.process.stop())).then(() => undefined),
    });
    for (const server of running.servers) {
      log.say(`${server.target} serving on ${server.url}`, {
        function: server.target,
        url: server.url,
        pgid: server.process.pgid,
      });
    }
    const url = (name: string) =>
      running.servers.find((server) => server.target === name)?.url ?? '';

    const firestore: Firestore = createFirestore(functionEnv, options.projectId);
    const pubsub: PubSub = createPubSub(functionEnv, options.projectId);
    running.stops.push({
      what: "the stack's clients",
      stop: () => Promise.all([firestore.terminate(), pubsub.close()]).then(() => undefined),
    });

    // The production topology, with retries backing off seconds rather than minutes, so that
    // dead-lettering shows within a minute.
    const topology = describeTopology(settings);
    for (const lane of LANES)
      topology.lanes[lane].retry = { minimumBackoffSeconds: 2, maximumBackoffSeconds: 10 };
    await step('creating the topics and push subscriptions', () =>
      applyTopology(pubsub, topology, { projectId: options.projectId, endpoint: url }),
    );
    log.say('topics and push subscriptions created from the topology');

    const trigger = emulateScheduleTrigger({
      db: firestore,
      projectId: options.projectId,
      url: url(RECONCILER_FUNCTION),
      onError: (error, id) => {
        log.say(
          `reconciler trigger for ${id} failed: ${(error as Error).message}`,
          { event: 'trigger.delivery_failed', scheduleId: id },
          'WARNING',
        );
      },
      onListenerError: (error, retryInMs) => {
        log.say(
          `the reconciler trigger's listener failed (${(error as Error).message}); listening again in ${retryInMs} ms`,
          { event: 'trigger.listener_failed', retryInMs },
          'WARNING',
        );
      },
    });
    running.stops.push({ what: 'the reconciler trigger', stop: () => trigger.stop() });

    if (options.seed) {
      // A fresh emulator sometimes fails its first writes (a bare `2 UNKNOWN`): try again.
      const ids = await step('seeding the demo schedules', () =>
        withRetries(() => seedDemo(firestore, Date.now(), target.url), {
          attempts: 4,
          onRetry: (error, inMs) => {
            log.say(
              `seeding failed (${(error as Error).message}); trying again in ${inMs} ms`,
              {},
              'WARNING',
            );
          },
        }),
      );
      log.say(`seeded ${ids.length} demo schedules: ${ids.join(', ')}`, { seeded: ids });
    }

    mkdirSync(STATE_DIR, { recursive: true });
    writeFileSync(
      LOCAL_ENV_FILE,
      [
        `GOOGLE_CLOUD_PROJECT=${options.projectId}`,
        `${HOST_VARIABLE.firestore}=${emulators.env[HOST_VARIABLE.firestore] ?? ''}`,
        `${HOST_VARIABLE.pubsub}=${emulators.env[HOST_VARIABLE.pubsub] ?? ''}`,
        '',
      ].join('\n'),
    );

    const ticker = startTicker(url(PLANNER_FUNCTION), options.tickEveryMs, log);
    running.stops.push({ what: 'the tick stand-in', stop: () => ticker.stop() });
    log.say(
      `pacer is running: planTick every ${options.tickEveryMs / 1_000}s; demo target counts at ${target.url}/counts. ` +
        'In another terminal: npm run pacer:local -- status. Ctrl-C stops everything.',
      { ready: true, tickEveryMs: options.tickEveryMs, target: target.url, env: LOCAL_ENV_FILE },
    );
    return {
      stop,
      pgids: () => [
        ...(running.emulators?.emulators.flatMap((e) => (e.pgid === undefined ? [] : [e.pgid])) ??
          []),
        ...running.servers.map((server) => server.process.pgid),
      ],
    };
  } catch (error) {
    await stop();
    throw error;
  }
}

/** A start that failed, with the step it failed at. */
export class StartError extends Error {
  constructor(
    readonly step: string,
    cause: unknown,
  ) {
    super(`${step} failed: ${cause instanceof Error ? cause.message : String(cause)}`, { cause });
    this.name = 'StartError';
  }
}

/** gRPC codes a fresh emulator answers now and then, which a retry cures. */
const TRANSIENT_CODES = new Set([2 /* UNKNOWN */, 4 /* DEADLINE_EXCEEDED */, 10, 14]);

/**
 * Runs `run`, again after a short wait (doubling from 500 ms) when it fails with a transient
 * gRPC error, up to `attempts` times in all. Anything else fails at once.
 */
export async function withRetries<T>(
  run: () => Promise<T>,
  options: {
    attempts: number;
    onRetry?: (error: unknown, inMs: number) => void;
    sleep?: (ms: number) => Promise<void>;
  },
): Promise<T> {
  const sleep = options.sleep ?? ((ms: number) => new Promise((r) => setTimeout(r, ms)));
  for (let attempt = 1; ; attempt++) {
    try {
      return await run();
    } catch (error) {
      const code = (error as { code?: unknown } | null)?.code;
      const transient = typeof code === 'number' && TRANSIENT_CODES.has(code);
      if (!transient || attempt >= options.attempts) throw error;
      const inMs = 500 * 2 ** (attempt - 1);
      options.onRetry?.(error, inMs);
      await sleep(inMs);
    }
  }
}

/** Fails, naming the port and what needs it, when a port the stack needs is taken. */
async function checkPortsFree(
  ports: ReturnType<typeof portLayout>,
  env: NodeJS.ProcessEnv,
): Promise<void> {
  const wanted: [string, number][] = [
    ...(env[HOST_VARIABLE.firestore]
      ? []
      : [['the Firestore emulator', ports.firestore] as [string, number]]),
    ...(env[HOST_VARIABLE.pubsub]
      ? []
      : [['the Pub/Sub emulator', ports.pubsub] as [string, number]]),
    ...Object.entries(ports.functions).map(([name, port]): [string, number] => [
      `the function ${name}`,
      port,
    ]),
    ['the demo target', ports.target],
  ];
  const taken: string[] = [];
  for (const [what, port] of wanted) {
    if (await acceptsConnections(port)) taken.push(`port ${port} (${what})`);
  }
  if (taken.length > 0) {
    throw new PacerError(
      'prerequisite_missing',
      `${taken.join(', ')} ${taken.length === 1 ? 'is' : 'are'} already in use. Is another \`npm start\` running? ` +
        'Stop it, or start on other ports with `npm start -- --port-base N`.',
    );
  }
}

/**
 * The Cloud Scheduler stand-in: a POST to planTick every period, one at a time. Stopping aborts
 * the call in flight (a tick plans for most of a minute; nobody needs its answer any more).
 */
function startTicker(url: string, periodMs: number, log: LogStream): { stop: () => Promise<void> } {
  let running: Promise<void> | null = null;
  const stopping = new AbortController();
  const tick = () => {
    if (running) return;
    running = (async () => {
      try {
        const response = await fetch(url, {
          method: 'POST',
          signal: AbortSignal.any([stopping.signal, AbortSignal.timeout(periodMs + 60_000)]),
        });
        const body = (await response.json()) as { outcome?: string };
        if (!response.ok)
          log.say(`planTick answered ${response.status}: ${JSON.stringify(body)}`, {}, 'WARNING');
        else if (body.outcome === 'busy')
          log.say('planTick: another tick still holds the planner lease', {}, 'WARNING');
      } catch (error) {
        if (!stopping.signal.aborted) {
          log.say(`could not call planTick: ${(error as Error).message}`, {}, 'WARNING');
        }
      } finally {
        running = null;
      }
    })();
  };
  tick();
  const timer = setInterval(tick, periodMs);
  return {
    async stop() {
      clearInterval(timer);
      stopping.abort();
      await running;
    },
  };
}

/** How long a graceful stop may take before everything is killed outright. */
const STOP_DEADLINE_MS = 10_000;

async function main(): Promise<void> {
  let options: StackOptions;
  try {
    options = parseOptions(process.argv.slice(2), process.env);
  } catch (error) {
    console.error(`pacer-local: ${(error as Error).message}`);
    process.exit(2);
  }
  const log = createLogStream({
    out: process.stdout,
    pretty: process.stdout.isTTY && !options.json,
    verbose: options.verbose,
  });
  let stack: Awaited<ReturnType<typeof startStack>> | undefined;
  let stopping = false;
  const shutdown = (signal: NodeJS.Signals) => {
    if (stopping) {
      // A second Ctrl-C: do not wait any longer.
      log.say(`${signal} again: killing everything now`, {}, 'WARNING');
      for (const pgid of stack?.pgids() ?? []) signalGroup(pgid, 'SIGKILL');
      process.exit(130);
    }
    stopping = true;
    log.say(`${signal}: stopping everything`);
    const deadline = setTimeout(() => {
      log.say(
        `not stopped after ${STOP_DEADLINE_MS / 1_000} s: killing everything now`,
        {},
        'WARNING',
      );
      for (const pgid of stack?.pgids() ?? []) signalGroup(pgid, 'SIGKILL');
      process.exit(1);
    }, STOP_DEADLINE_MS);
    const done = stack ? stack.stop() : Promise.resolve();
    void done.then(() => {
      clearTimeout(deadline);
      log.say('stopped', { stopped: true });
      process.exit(0);
    });
  };
  process.on('SIGINT', shutdown);
  process.on('SIGTERM', shutdown);
  try {
    // A Ctrl-C during start-up exits at once; what was started dies with this process
    // (every process runs under a watchdog tied to it).
    stack = await startStack(options, log);
  } catch (error) {
    console.error(`pacer-local: ${(error as Error).message}`);
    process.exit(1);
  }
}

if (process.argv[1] && import.meta.url === new URL(process.argv[1], 'file:').href) {
  await main();
}
