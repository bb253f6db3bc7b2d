/**
 * What a strategy's run leaves behind for measuring: every call of a sync target, every dead
 * letter, and (for pacer) the planner's own counts and the Firestore, Pub/Sub and function
 * usage. Strategies fill a {@link RunRecord}; `measure.ts` turns it into the report.
 */
import type { PerLane } from '../../functions/config.js';

export const STRATEGIES = ['pacer', 'flat', 'fixed-caps'] as const;
export type StrategyName = (typeof STRATEGIES)[number];

/**
 * How an attempt ended: `success`; `retryable` (5xx, 429, network); `timeout` (ran past its
 * run time); `permanent` (other 4xx); `crash` (the worker died mid-sync); `aborted` (the worker
 * stopped it: its lease was lost or about to lapse); `rejected` (the provider's shared limit was
 * full: a 429 before any work, with no duration).
 */
export type AttemptOutcome =
  'success' | 'retryable' | 'timeout' | 'permanent' | 'crash' | 'aborted' | 'rejected';

/** One call of a schedule's sync target. */
export interface SyncAttempt {
  scheduleId: string;
  /** The due point the attempt served. */
  dueAt: number;
  start: number;
  /** When the call ended (for a crash, when the worker died; for a rejection, `start`). */
  end: number;
  outcome: AttemptOutcome;
  /** Which attempt of its dispatch it was, from 1. */
  attempt: number;
}

/** Why a dead letter was written: a permanent failure, pacer's attempt limit, or Pub/Sub's. */
export type DeadLetterReason = 'permanent' | 'attempts' | 'delivery_limit';

export interface DeadLetterRecord {
  scheduleId: string;
  dueAt: number;
  at: number;
  reason: DeadLetterReason;
}

/** Per lane, what pacer's sub-ticks decided. */
export interface LanePlannerCounts {
  /** Sub-ticks in which the lane had due schedules. */
  demandSubTicks: number;
  /** Sum over sub-ticks of due schedules not dispatched. */
  deferred: number;
  /** Sub-ticks that deferred at least one of the lane's schedules. */
  deferringSubTicks: number;
  /** The most the lane deferred in one sub-tick. */
  maxDeferred: number;
  /** Sub-ticks in which the lane had demand and, after dispatch, fewer than its reserved slots in flight. */
  belowReserve: number;
}

/** The planner's own counts over the run. */
export interface PlannerCounts {
  ticks: number;
  subTicks: number;
  /** Claims refused because the document changed between the read and the claim. */
  conflicts: number;
  /** Deliveries acked without work because their lease was no longer the schedule's. */
  staleAcks: number;
  /** Deliveries of a lease that had already completed. */
  duplicateAcks: number;
  /** Cron runs skipped because they were missed by more than their catch-up window. */
  skippedCronRuns: number;
  /** Waiting schedules the planner moved to a more urgent lane (a tier boundary passed). */
  escalated: number;
  lanes: PerLane<LanePlannerCounts>;
}

/** Usage, for the cost model. */
export interface UsageCounts {
  firestoreReads: number;
  firestoreWrites: number;
  /** Messages published: dispatches and dead letters. */
  messagesPublished: number;
  /** Push deliveries, redeliveries included. */
  deliveries: number;
  /**
   * Function invocations: worker deliveries, planner ticks, dead-letter recordings and the
   * reconciler's (its trigger fires on operator writes only).
   */
  invocations: number;
}

export interface RunRecord {
  strategy: StrategyName;
  attempts: SyncAttempt[];
  /** `null` for the old designs, which had no dead letters: they retried every cycle. */
  deadLetters: DeadLetterRecord[] | null;
  planner: PlannerCounts | null;
  usage: UsageCounts | null;
}
