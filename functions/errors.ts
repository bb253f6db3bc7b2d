/**
 * Errors pacer raises on purpose carry a stable code. One pure function, {@link isRetryable},
 * decides from an error whether a worker throws (Pub/Sub redelivers with backoff) or
 * dead-letters and acks.
 */

/** Every code pacer raises, and whether trying again can help. */
export const ERROR_CODES = {
  /** A schedule document failed validation. */
  invalid_schedule: { retryable: false },
  /** A Pub/Sub message is not a pacer message. */
  invalid_message: { retryable: false },
  /** A setting (env or `pacer/config`) has a bad value. */
  invalid_config: { retryable: false },
  /** The target could not be reached: DNS, refused, reset. */
  target_network: { retryable: true },
  /** The target did not answer within the run time. */
  target_timeout: { retryable: true },
  /** The target answered 408, 429 or 5xx. */
  target_unavailable: { retryable: true },
  /**
   * The target answered 429 or 503 with `Retry-After` (`details.retryAfter`): retried after it,
   * without counting the attempt, and the schedule's provider key is blocked until then.
   */
  target_rate_limited: { retryable: true },
  /** The target answered another 4xx: asking again will not help. */
  target_rejected: { retryable: false },
  /** The target's address is private, loopback, link-local or metadata, and not allowed. */
  target_forbidden: { retryable: false },
  /** A header names a secret variable that is not set in the worker's environment. */
  target_secret_missing: { retryable: false },
  /** A header would send a secret to a host its binding (`PACER_SECRET_HOSTS`) does not allow. */
  target_secret_forbidden: { retryable: false },
  /** No handler is registered under the schedule's handler name. */
  handler_unknown: { retryable: false },
  /** A handler reported that trying again will not help. */
  handler_rejected: { retryable: false },
  /** The worker lost its lease while the sync ran. */
  lease_lost: { retryable: false },
  /** A long sync's job execution could not be started (Cloud Run refused or did not answer). */
  job_launch_failed: { retryable: true },
  /** Firestore or Pub/Sub did not answer in time or was unavailable. */
  backend_unavailable: { retryable: true },
  /** A tool pacer needs locally (gcloud, an emulator, Java) is missing. */
  prerequisite_missing: { retryable: false },
} as const satisfies Record<string, { retryable: boolean }>;

export type ErrorCode = keyof typeof ERROR_CODES;

/** An error with a stable code; `details` is logged with it. */
export class PacerError extends Error {
  override readonly name = 'PacerError';

  constructor(
    readonly code: ErrorCode,
    message: string,
    readonly details: Readonly<Record<string, unknown>> = {},
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}

/**
 * Whether an attempt that failed with `error` may succeed if tried again.
 *
 * pacer's own errors answer by their code. Anything else (a handler's plain `Error`, a
 * Firestore or Pub/Sub client error) counts as retryable: an unknown failure is retried with
 * backoff and, if it keeps failing, dead-lettered once the attempt limit is reached.
 */
export function isRetryable(error: unknown): boolean {
  if (error instanceof PacerError) return ERROR_CODES[error.code].retryable;
  return true;
}

/** The error's code, or `unexpected` for errors pacer did not raise itself. */
export function errorCode(error: unknown): ErrorCode | 'unexpected' {
  return error instanceof PacerError ? error.code : 'unexpected';
}

/** A one-line message for any thrown value. */
export function errorMessage(error: unknown): string {
  if (error instanceof Error) return error.message;
  return typeof error === 'string' ? error : JSON.stringify(error);
}

/** gRPC codes a store answers when the request itself is at fault (not the store). */
const CONTENT_CODES = new Set([3 /* INVALID_ARGUMENT */, 11 /* OUT_OF_RANGE */]);

/**
 * Whether an error came from what was being written or read (a value out of range, a document
 * too large), so that trying again cannot help — as opposed to the store or the network failing,
 * which a retry may cure. Unknown errors count as not content: a retry is the safe answer.
 */
export function isContentError(error: unknown): boolean {
  if (error instanceof RangeError || error instanceof TypeError) return true;
  const code = (error as { code?: unknown } | null)?.code;
  return typeof code === 'number' && CONTENT_CODES.has(code);
}
