/**
 * CPU time spent by the processes of a bench, by part: each emulator, the function servers, the
 * bench process itself (its publisher, its no-op target). On a machine with few cores the
 * emulator benches are CPU-bound, so a rate alone does not say what it is bounded by: CPU
 * milliseconds per sync, per part, do — and how many syncs per second the machine's cores
 * could carry at that cost, whatever the rest of the path does.
 *
 * Read from `/proc` (Linux): a process group's CPU time is the sum of its live processes'
 * `utime + stime`, all threads included. Elsewhere there is no `/proc` and the parts read as
 * unknown (`null`), and the bench prints no CPU columns.
 */
import { execFileSync } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import os from 'node:os';

/** One process as `/proc/<pid>/stat` describes it: its group and its CPU time in clock ticks. */
export interface ProcessStat {
  pid: number;
  pgrp: number;
  ticks: number;
}

/**
 * Parses `/proc/<pid>/stat`. The command name (field 2) is in parentheses and may itself hold
 * spaces and parentheses, so fields are counted from the last `)`: field 5 is the process group,
 * fields 14 and 15 the user and system time.
 */
export function parseStat(text: string): ProcessStat | null {
  const open = text.indexOf('(');
  const close = text.lastIndexOf(')');
  if (open < 1 || close < open) return null;
  const pid = Number(text.slice(0, open).trim());
  const fields = text
    .slice(close + 1)
    .trim()
    .split(/\s+/);
  // fields[0] is field 3 (state): field N is fields[N - 3].
  const pgrp = Number(fields[2]);
  const utime = Number(fields[11]);
  const stime = Number(fields[12]);
  if (![pid, pgrp, utime, stime].every(Number.isInteger)) return null;
  return { pid, pgrp, ticks: utime + stime };
}

/** CPU ticks per process group, summed over `stats`. */
export function ticksByGroup(stats: readonly ProcessStat[]): Map<number, number> {
  const groups = new Map<number, number>();
  for (const stat of stats) groups.set(stat.pgrp, (groups.get(stat.pgrp) ?? 0) + stat.ticks);
  return groups;
}

/** Every live process's stat; `null` without `/proc`. */
function readProcesses(): ProcessStat[] | null {
  let entries: string[];
  try {
    entries = readdirSync('/proc');
  } catch {
    return null;
  }
  const stats: ProcessStat[] = [];
  for (const entry of entries) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const stat = parseStat(readFileSync(`/proc/${entry}/stat`, 'utf8'));
      if (stat !== null) stats.push(stat);
    } catch {
      // Gone between the listing and the read.
    }
  }
  return stats;
}

let ticksPerSecond: number | undefined;

/** The kernel's clock ticks per second (`getconf CLK_TCK`; 100 on every common Linux). */
function clockTicks(): number {
  if (ticksPerSecond === undefined) {
    try {
      ticksPerSecond = Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim());
    } catch {
      ticksPerSecond = 100;
    }
    if (!Number.isFinite(ticksPerSecond) || ticksPerSecond <= 0) ticksPerSecond = 100;
  }
  return ticksPerSecond;
}

/** The parts of a bench: a name and the process groups it is made of. */
export type CpuParts = Record<string, readonly number[]>;

/** The bench process's own part (it is not in a group of its own). */
export const THIS_PROCESS = 'bench process';

export interface CpuReading {
  /** CPU milliseconds by part since the meter started; `null` where `/proc` cannot be read. */
  byPart: Record<string, number> | null;
}

/**
 * Starts measuring: `read()` answers the CPU milliseconds each part (and the bench process
 * itself, under {@link THIS_PROCESS}) used since. Read it before the processes stop: a process
 * that has exited no longer counts.
 */
export function cpuMeter(parts: CpuParts): { read(): CpuReading } {
  const snapshot = (): Record<string, number> | null => {
    const processes = readProcesses();
    if (processes === null) return null;
    const groups = ticksByGroup(processes);
    const msPerTick = 1_000 / clockTicks();
    const byPart: Record<string, number> = {};
    for (const [name, pgids] of Object.entries(parts)) {
      byPart[name] = pgids.reduce((sum, pgid) => sum + (groups.get(pgid) ?? 0), 0) * msPerTick;
    }
    const own = process.cpuUsage();
    byPart[THIS_PROCESS] = (own.user + own.system) / 1_000;
    return byPart;
  };
  const first = snapshot();
  return {
    read(): CpuReading {
      const now = snapshot();
      if (first === null || now === null) return { byPart: null };
      return {
        byPart: Object.fromEntries(
          Object.entries(now).map(([name, ms]) => [name, Math.max(0, ms - (first[name] ?? 0))]),
        ),
      };
    },
  };
}

/** CPU cost per item (a sync, a message), by part and in all, and what the cores could carry. */
export interface CpuCost {
  /** Milliseconds per item by part, largest first. */
  byPart: [string, number][];
  totalMs: number;
  cores: number;
  /** Items per second the machine's cores could carry at this cost, all else free. */
  boundPerSecond: number;
}

export function cpuCost(
  reading: CpuReading,
  items: number,
  cores = os.availableParallelism(),
): CpuCost | null {
  if (reading.byPart === null || items <= 0) return null;
  const byPart = Object.entries(reading.byPart)
    .map(([name, ms]): [string, number] => [name, ms / items])
    .sort((a, b) => b[1] - a[1]);
  const totalMs = byPart.reduce((sum, [, ms]) => sum + ms, 0);
  return {
    byPart,
    totalMs,
    cores,
    boundPerSecond: totalMs > 0 ? (cores * 1_000) / totalMs : Number.POSITIVE_INFINITY,
  };
}

/** "Firestore emulator 12.1 ms, functions 9.8 ms, …" */
export function describeCost(cost: CpuCost): string {
  return cost.byPart.map(([name, ms]) => `${name} ${ms.toFixed(1)} ms`).join(', ');
}
