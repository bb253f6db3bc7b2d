/**
 * The whole test run stays on loopback: this global setup starts the run with an empty guard log
 * (see ./loopback-guard.cjs, installed into every process by vitest.config.ts) and fails the run
 * at teardown if any process of it tried to reach beyond 127.0.0.0/8 and ::1.
 */
import { mkdirSync, rmSync } from 'node:fs';
import { dirname } from 'node:path';
import { describeGuardEntries, readGuardLog } from './loopback.js';

export default function setup(): () => void {
  const log = process.env.LOOPBACK_GUARD_LOG;
  if (log === undefined) throw new Error('LOOPBACK_GUARD_LOG is not set: see vitest.config.ts');
  mkdirSync(dirname(log), { recursive: true });
  rmSync(log, { force: true });
  return () => {
    const entries = readGuardLog(log);
    console.log(`loopback guard: ${entries.length} non-loopback attempts (${log})`);
    if (entries.length > 0) {
      // A teardown that throws is only logged by vitest; the exit code is what CI sees.
      console.error(
        `the run reached beyond loopback ${entries.length} times:\n${describeGuardEntries(entries)}`,
      );
      process.exitCode = 1;
    }
  };
}
