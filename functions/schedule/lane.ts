/** Priority lanes, most urgent first. Each has its own topic, workers and caps. */
export const LANES = ['high', 'medium', 'low'] as const;
export type Lane = (typeof LANES)[number];

/** Which interval counts as urgent: at most `highMaxIntervalMs` → high, and so on. */
export interface LaneThresholds {
  highMaxIntervalMs: number;
  mediumMaxIntervalMs: number;
}

/** The lane a schedule syncing every `intervalMs` belongs in. */
export function laneForInterval(intervalMs: number, thresholds: LaneThresholds): Lane {
  if (intervalMs <= thresholds.highMaxIntervalMs) return 'high';
  if (intervalMs <= thresholds.mediumMaxIntervalMs) return 'medium';
  return 'low';
}

export function isLane(value: unknown): value is Lane {
  return typeof value === 'string' && (LANES as readonly string[]).includes(value);
}

/**
 * The lanes whose schedules can escalate: the high lane has nothing more urgent to move to, and
 * no decision gives a schedule there an escalation point (the checker's `escalation` invariant).
 */
export const ESCALATING_LANES: readonly Lane[] = ['medium', 'low'];
