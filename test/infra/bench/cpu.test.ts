import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { existsSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import {
  cpuCost,
  cpuMeter,
  describeCost,
  parseStat,
  THIS_PROCESS,
  ticksByGroup,
} from '../../../infra/bench/cpu.js';

describe('parseStat', () => {
  it('counts fields from the last ")", whatever the command name holds', () => {
    // pid (comm) state ppid pgrp session tty tpgid flags minflt cminflt majflt cmajflt utime stime
    const line = '4242 (java (emu) x) S 1 4200 4200 0 -1 4194560 100 0 0 0 1234 56 0 0 20 0 40';
    expect(parseStat(line)).toEqual({ pid: 4242, pgrp: 4200, ticks: 1290 });
  });

  it.each([
    ['no parentheses', '4242 java S 1 4200'],
    ['cut short', '4242 (node) S 1 4200 4200'],
    ['not numbers', '4242 (node) S 1 x 4200 0 -1 0 0 0 0 0 a b'],
  ])('answers null for a line %s', (_, line) => {
    expect(parseStat(line)).toBeNull();
  });
});

describe('ticksByGroup and cpuCost', () => {
  it('sums the processes of each group', () => {
    const groups = ticksByGroup([
      { pid: 1, pgrp: 10, ticks: 5 },
      { pid: 2, pgrp: 10, ticks: 7 },
      { pid: 3, pgrp: 20, ticks: 1 },
    ]);
    expect([...groups]).toEqual([
      [10, 12],
      [20, 1],
    ]);
  });

  it('divides by the items, orders the parts, and bounds the rate by the cores', () => {
    const cost = cpuCost({ byPart: { a: 100, b: 300, c: 0 } }, 10, 2);
    expect(cost).toEqual({
      byPart: [
        ['b', 30],
        ['a', 10],
        ['c', 0],
      ],
      totalMs: 40,
      cores: 2,
      boundPerSecond: 50,
    });
    expect(cost && describeCost(cost)).toBe('b 30.0 ms, a 10.0 ms, c 0.0 ms');
  });

  it('has no cost without a reading or without items', () => {
    expect(cpuCost({ byPart: null }, 10, 2)).toBeNull();
    expect(cpuCost({ byPart: { a: 1 } }, 0, 2)).toBeNull();
  });
});

describe.runIf(existsSync('/proc/self/stat'))('cpuMeter on /proc', () => {
  it("measures a process group's CPU time, and the bench process's own", async () => {
    // A process in a group of its own that burns 300 ms of CPU, says so, and waits to be killed.
    const child = spawn(
      process.execPath,
      [
        '-e',
        `const burnt = () => { const u = process.cpuUsage(); return (u.user + u.system) / 1000; };
         while (burnt() < 300) {}
         process.stdout.write('burnt\\n');
         setInterval(() => {}, 1000);`,
      ],
      { detached: true, stdio: ['ignore', 'pipe', 'inherit'] },
    );
    try {
      const pgid = child.pid ?? 0;
      const meter = cpuMeter({ child: [pgid], nobody: [] });
      await once(child.stdout, 'data');
      const started = process.cpuUsage();
      while (process.cpuUsage(started).user < 50_000) {
        // 50 ms of the bench process's own CPU.
      }
      const { byPart } = meter.read();
      // Ticks are 10 ms: allow one short; node's own start-up only adds to it.
      expect(byPart?.child).toBeGreaterThanOrEqual(280);
      expect(byPart?.nobody).toBe(0);
      expect(byPart?.[THIS_PROCESS]).toBeGreaterThanOrEqual(50);
    } finally {
      child.kill('SIGKILL');
    }
  });
});
