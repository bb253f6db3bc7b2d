// @ts-check
/**
 * Keeps one emulator (or any command) tied to the process that started it.
 *
 *   node watchdog.js <command> [args...]     (spawned with an IPC channel)
 *
 * Starts the command as a session leader, so it gets its own process group (gcloud keeps that
 * group for its Java child only when it leads a session), reports `{ pgid }` over IPC, and
 * stops the group when the IPC channel closes: when the parent asks (`disconnect()`), exits,
 * or is killed with SIGKILL. Being the command's parent, it also reaps it, so no zombie is left
 * even where PID 1 does not reap orphans.
 *
 * Plain JavaScript because it must run as its own Node process from the sources (tests) as
 * well as from dist/ (the local stack); tsc type-checks it and copies it to dist/.
 */
import { execFileSync, spawn } from 'node:child_process';
import { pathToFileURL } from 'node:url';

/** Grace between asking the group to stop and killing it. */
export const STOP_GRACE_MS = 5_000;

/**
 * The live (non-zombie) processes in group `pgid`, with their parents.
 * @param {number} pgid
 * @returns {{ pid: number, ppid: number }[]}
 */
function groupProcesses(pgid) {
  const table = execFileSync('ps', ['-eo', 'pid=,ppid=,pgid=,stat='], { encoding: 'utf8' });
  return table
    .split('\n')
    .map((line) => line.trim().split(/\s+/))
    .filter(
      ([, , group, stat]) => group === String(pgid) && stat !== undefined && !stat.startsWith('Z'),
    )
    .map(([pid, ppid]) => ({ pid: Number(pid), ppid: Number(ppid) }));
}

/**
 * Pids of the live (non-zombie) processes in group `pgid`.
 * @param {number} pgid
 * @returns {number[]}
 */
export function liveGroupMembers(pgid) {
  return groupProcesses(pgid).map(({ pid }) => pid);
}

/**
 * Asks group `pgid` to stop the way that leaves nothing behind: SIGTERM to the leaves of its
 * process tree only (the Java servers), so that each parent (the emulator's launcher script,
 * then gcloud) sees its child exit, reaps it and exits in turn; SIGKILL to the whole group
 * after {@link STOP_GRACE_MS}. Signalling every member at once would let a parent die before
 * its child and leave the child unreaped.
 * @param {number} pgid
 * @returns {NodeJS.Timeout} the pending SIGKILL, to cancel once the group is gone
 */
export function stopGroup(pgid) {
  const processes = groupProcesses(pgid);
  const parents = new Set(processes.map(({ ppid }) => ppid));
  for (const { pid } of processes) if (!parents.has(pid)) signal(pid, 'SIGTERM');
  const kill = setTimeout(() => {
    signal(-pgid, 'SIGKILL');
  }, STOP_GRACE_MS);
  kill.unref();
  return kill;
}

/**
 * @param {number} pid negative for a group
 * @param {NodeJS.Signals} name
 */
function signal(pid, name) {
  try {
    process.kill(pid, name);
  } catch (error) {
    // Already gone is the outcome we want; anything else is a real failure.
    if (/** @type {NodeJS.ErrnoException} */ (error).code !== 'ESRCH') throw error;
  }
}

function main() {
  const [command, ...args] = process.argv.slice(2);
  if (command === undefined || process.send === undefined) {
    process.stderr.write(
      'usage: spawn `node watchdog.js <command> [args...]` with an IPC channel\n',
    );
    process.exit(2);
  }
  const child = spawn(command, args, { detached: true, stdio: ['ignore', 'inherit', 'inherit'] });
  const pgid = child.pid;
  if (pgid === undefined) {
    process.stderr.write(`could not start ${command}\n`);
    process.exit(1);
  }
  /** @type {NodeJS.Timeout | undefined} */
  let pendingKill;
  const stop = () => {
    pendingKill ??= stopGroup(pgid);
  };
  child.on('exit', (code) => {
    // The leader is gone (and reaped); take anything it left in its group with it.
    signal(-pgid, 'SIGKILL');
    if (pendingKill) clearTimeout(pendingKill);
    process.exit(code ?? 1);
  });
  process.on('disconnect', stop);
  process.on('SIGTERM', stop);
  process.on('SIGINT', stop);
  process.send({ pgid });
}

if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href) {
  main();
}
