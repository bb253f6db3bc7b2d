/**
 * A schedule's pause note (who paused it, when and why) as the CLI shows it, and who the
 * operator running the CLI is.
 */
import { userInfo } from 'node:os';
import type { Env } from '../config.js';
import type { Pause } from '../protocol/state.js';
import { formatTimeFrom } from './output.js';

/** A pause note as `list`, `show`, `explain` and `status` give it (`--json` too). */
export interface PauseView {
  /** `operator`: `pacer schedules pause`; `failures`: pacer, after `pauseAfterFailures`. */
  cause: Pause['cause'];
  by: string;
  at: string;
  reason: string | null;
}

export function pauseView(pause: Pause | null): PauseView | null {
  if (pause === null) return null;
  return {
    cause: pause.cause,
    by: pause.by,
    at: new Date(pause.at).toISOString(),
    reason: pause.reason,
  };
}

/** `by alice 2h ago: provider maintenance` / `by pacer after failures 5m ago: 3 consecutive …`. */
export function describePause(view: PauseView, now: number): string {
  const who = view.cause === 'failures' ? `${view.by} after failures` : view.by;
  return `by ${who} at ${formatTimeFrom(view.at, now)}${view.reason === null ? '' : `: ${view.reason}`}`;
}

/**
 * Who the operator is, for the note a pause leaves: `--by`, else `PACER_OPERATOR`, else the
 * user the CLI runs as.
 */
export function operatorName(by: string | undefined, env: Env): string {
  const named = by ?? env.PACER_OPERATOR;
  if (named !== undefined && named.trim() !== '') return named.trim();
  try {
    return userInfo().username;
  } catch {
    // No user entry for this process's uid (a bare container): say so rather than guess.
    return 'unknown';
  }
}
