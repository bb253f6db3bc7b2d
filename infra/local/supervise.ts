/**
 * Runs a command in its own process group, tied to this process: emulators, function servers,
 * anything the tests or the local stack start. The command runs under a small watchdog
 * (./watchdog.js) connected to this process by an IPC channel; when the channel closes (we stop
 * it, we exit, or we are killed with SIGKILL), the watchdog stops the command's whole group and
 * reaps it. No orphans, no zombies.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { createWriteStream, mkdirSync } from 'node:fs';
import { connect, createServer } from 'node:net';
import { dirname } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import { liveGroupMembers, STOP_GRACE_MS } from './watchdog.js';

const WATCHDOG = fileURLToPath(new URL('./watchdog.js', import.meta.url));

export interface SuperviseOptions {
  /** A short name for messages. */
  name: string;
  command: string;
  args: readonly string[];
  env: Readonly<Record<string, string | undefined>>;
  cwd?: string;
  /** Appends the command's output to this file. */
  logFile?: string;
  /** Called with each line of output. */
  onLine?: (line: string) => void;
}

export interface Supervised {
  name: string;
  /** The command's process group (its pid: it leads its own session). */
  pgid: number;
  /** Whether the command has exited. */
  exited(): boolean;
  /** The last few kilobytes of its output, for error messages. */
  recentOutput(): string;
  /** Sends a signal to the command's whole group (SIGSTOP/SIGCONT to pause it, for example). */
  signal(signal: NodeJS.Signals): void;
  /** Resolves when the command has exited. */
  exit: Promise<void>;
  /** Stops the command (the leaves of its process tree first) and waits until it is gone. */
  stop(): Promise<void>;
}

/** Starts `command` under the watchdog and resolves once it runs in its own group. */
export async function supervise(options: SuperviseOptions): Promise<Supervised> {
  const child = spawn(process.execPath, [WATCHDOG, options.command, ...options.args], {
    detached: true, // its own process group: the terminal's Ctrl-C is ours to handle
    stdio: ['ignore', 'pipe', 'pipe', 'ipc'],
    env: options.env,
    ...(options.cwd ? { cwd: options.cwd } : {}),
  });
  const output = captureOutput(child, options);
  const exit = once(child, 'exit').then(() => undefined);
  const [message] = (await Promise.race([
    once(child, 'message'),
    exit.then(() => {
      throw new Error(`${options.name} could not be started. Its output:\n${output.text()}`);
    }),
  ])) as [{ pgid: number }];
  const pgid = message.pgid;
  let stopping: Promise<void> | undefined;
  return {
    name: options.name,
    pgid,
    exited: () => child.exitCode !== null || child.signalCode !== null,
    recentOutput: () => output.text(),
    signal: (signal) => {
      signalGroup(pgid, signal);
    },
    exit,
    stop: () => (stopping ??= stopWatchdog(child, pgid)),
  };
}

/**
 * Polls `ready` until it answers true; fails with the process's recent output if it exits
 * first or does not get ready within `timeoutMs`.
 */
export async function waitUntilReady(
  process: Supervised,
  ready: () => Promise<boolean>,
  timeoutMs: number,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (process.exited()) {
      throw new Error(
        `${process.name} exited during start-up. Its output:\n${process.recentOutput()}`,
      );
    }
    if (await ready()) return;
    await sleep(100);
  }
  throw new Error(
    `${process.name} was not ready within ${timeoutMs / 1000} s. Its output:\n${process.recentOutput()}`,
  );
}

/** Whether `url` answers an HTTP request with any status (a server is listening). */
export async function answersHttp(url: string, okOnly = false): Promise<boolean> {
  try {
    const response = await fetch(url, { signal: AbortSignal.timeout(1_000) });
    await response.body?.cancel();
    return okOnly ? response.ok : true;
  } catch {
    return false; // not listening yet: the caller polls again
  }
}

/** Whether something accepts TCP connections on `port` (without sending it a request). */
export async function acceptsConnections(port: number, host = '127.0.0.1'): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect({ port, host });
    socket.setTimeout(1_000);
    socket.once('connect', () => {
      socket.destroy();
      resolve(true);
    });
    socket.once('timeout', () => {
      socket.destroy();
      resolve(false);
    });
    socket.once('error', () => {
      resolve(false);
    });
  });
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

export function signalGroup(pgid: number, signal: NodeJS.Signals): void {
  try {
    process.kill(-pgid, signal);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'ESRCH') throw error;
  }
}

/** Asks the watchdog to stop its command and waits until both are gone. */
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
        `process group ${pgid} survived SIGKILL: ${liveGroupMembers(pgid).join(', ')}`,
      );
    }
    await sleep(50);
  }
}

function captureOutput(child: ChildProcess, options: SuperviseOptions): { text(): string } {
  let recent = '';
  let file: ReturnType<typeof createWriteStream> | undefined;
  if (options.logFile) {
    mkdirSync(dirname(options.logFile), { recursive: true });
    file = createWriteStream(options.logFile, { flags: 'a' });
  }
  let partial = '';
  const onData = (chunk: Buffer) => {
    const text = chunk.toString('utf8');
    recent = (recent + text).slice(-8_000);
    file?.write(text);
    if (options.onLine) {
      const lines = (partial + text).split('\n');
      partial = lines.pop() ?? '';
      for (const line of lines) if (line.trim() !== '') options.onLine(line);
    }
  };
  child.stdout?.on('data', onData);
  child.stderr?.on('data', onData);
  child.once('exit', () => {
    if (partial.trim() !== '') options.onLine?.(partial);
    file?.end();
  });
  return { text: () => recent };
}
