/**
 * Spread: where within its interval a schedule's due points fall, so that schedules sharing a
 * grid (races starting on round times, intervals created together) do not fall due together.
 *
 * A schedule's *phase* is a fraction in [0, 1) derived from its id alone: the first 32 bits of
 * the SHA-256 of the id (UTF-8), read as an unsigned big-endian number, divided by 2^32. The same
 * id always gets the same phase (across restarts, deployments and edits of any other field), and
 * distinct ids are spread uniformly. The cadence engine turns it into an offset of
 * `floor(phase × every)` ms within each interval (`floor(phase × jitter)` for a cron with
 * `jitter`).
 */
import { createHash } from 'node:crypto';

/** The id's phase: first 32 bits of SHA-256(id) / 2^32, in [0, 1). */
export function spreadPhase(id: string): number {
  return createHash('sha256').update(id, 'utf8').digest().readUInt32BE(0) / 2 ** 32;
}

/** The offset of a phase within a span of `span` ms: a whole number of ms in [0, span). */
export function spreadOffset(phase: number, span: number): number {
  return Math.floor(phase * span);
}
