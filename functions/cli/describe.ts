/**
 * Schedules in words, for `explain`, `show` and `validate`: what a cadence asks for, which rule
 * of it is in force at a moment, and where a target points. Pure.
 */
import { intervalAt, laneAt } from '../schedule/cadence.js';
import { formatDuration } from '../schedule/duration.js';
import type { Lane, LaneThresholds } from '../schedule/lane.js';
import type { Cadence, ScheduleSpec, Target } from '../schedule/spec.js';
import { spreadOffset } from '../schedule/spread.js';
import { iso } from '../schedule/time.js';
import { formatTime } from './output.js';

/**
 * The cadence in one line, e.g. `event at 2026-06-20 08:30:00Z: every 60m; every 5m from 24h
 * before; every 1m from 4h before; ends 1h after (2026-06-20 09:30:00Z)`.
 */
export function describeCadence(cadence: Cadence): string {
  switch (cadence.kind) {
    case 'event': {
      // The spec keeps tiers closest first; in words they read in time order, farthest first.
      const tiers = [...cadence.tiers]
        .reverse()
        .map(
          (tier) =>
            `every ${formatDuration(tier.every)} from ${formatDuration(tier.before)} before`,
        );
      const end = cadence.startsAt + cadence.after;
      return [
        `event at ${formatTime(iso(cadence.startsAt))}: every ${formatDuration(cadence.otherwise)}`,
        ...tiers,
        `ends ${formatDuration(cadence.after)} after (${formatTime(iso(end))})`,
        ...spreadWords(cadence.phase),
      ].join('; ');
    }
    case 'interval':
      return (
        [
          `every ${formatDuration(cadence.every)}`,
          ...(cadence.startAt === undefined ? [] : [`from ${formatTime(iso(cadence.startAt))}`]),
          ...(cadence.endAt === undefined ? [] : [`until ${formatTime(iso(cadence.endAt))}`]),
        ].join(' ') +
        spreadWords(cadence.phase)
          .map((words) => `; ${words}`)
          .join('')
      );
    case 'cron':
      return `cron "${cadence.expression}" in ${cadence.timezone}; a run missed by at most ${formatDuration(cadence.catchUpWithin)} still runs once, an older one is skipped${cadence.jitter === undefined ? '' : `; each run shifted by ${formatMs(spreadOffset(cadence.phase ?? 0, cadence.jitter))} (jitter ${formatDuration(cadence.jitter)})`}`;
  }
}

/** A spread cadence's place within each interval, in words (docs/schedules.md, Spread). */
function spreadWords(phase: number | undefined): string[] {
  return phase === undefined ? [] : [`spread ${(phase * 100).toFixed(1)}% into each interval`];
}

/** A shift in seconds (`125s`, `125.5s`). */
function formatMs(ms: number): string {
  return `${(ms / 1_000).toFixed(ms % 1_000 === 0 ? 0 : 1)}s`;
}

/** Where the schedule syncs: `POST https://…` or `handler example.echo`. */
export function describeTarget(target: Target): string {
  return target.type === 'http' ? `POST ${target.url}` : `handler ${target.name}`;
}

/** The rule of a cadence in force at a moment, and the interval and lane it gives. */
export interface RuleInForce {
  /** The interval in force, or `null` once the cadence has finished. */
  intervalMs: number | null;
  /**
   * Which part of the cadence gives the interval, for events (`tier: from 4h before the
   * start`, `otherwise (more than 24h before the start)`, `after the start`) and crons; `null`
   * when there is nothing to add (an interval) or the cadence has finished.
   */
  rule: string | null;
  lane: Lane;
  /** Whether the schedule names its lane or the lane follows the interval. */
  laneSource: 'schedule' | 'interval';
}

/** What is in force for `spec` at `at`. */
export function ruleInForce(
  spec: ScheduleSpec,
  at: number,
  thresholds: LaneThresholds,
): RuleInForce {
  const intervalMs = intervalAt(spec.cadence, at);
  return {
    intervalMs,
    rule: intervalMs === null ? null : ruleName(spec.cadence, at),
    lane: laneAt(spec.cadence, spec.lane, at, thresholds),
    laneSource: spec.lane === undefined ? 'interval' : 'schedule',
  };
}

function ruleName(cadence: Cadence, at: number): string | null {
  switch (cadence.kind) {
    case 'event': {
      const left = cadence.startsAt - at;
      // Tiers are kept closest first, the order the cadence engine looks them up in; the
      // closest tier goes on after the start, until the event's end.
      const tier = cadence.tiers.find((candidate) => left <= candidate.before);
      if (left < 0) {
        return tier === undefined ? 'after the start' : 'after the start (the closest tier)';
      }
      if (tier !== undefined) return `tier: from ${formatDuration(tier.before)} before the start`;
      const farthest = cadence.tiers.at(-1);
      return farthest === undefined
        ? 'otherwise'
        : `otherwise (more than ${formatDuration(farthest.before)} before the start)`;
    }
    case 'interval':
      return cadence.startAt !== undefined && at < cadence.startAt
        ? `starts ${formatTime(iso(cadence.startAt))}`
        : null;
    case 'cron':
      return 'between the cron occurrences around now';
  }
}
