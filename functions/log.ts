/**
 * Structured logging for Cloud Logging: pino with Google's config (`severity`, `message`,
 * trace correlation, serviceContext for Error Reporting). One base logger per process; a child
 * per invocation bound to what the invocation is about.
 *
 * Every log line that operators, metrics or alerts key on carries a stable `event` name, listed
 * in {@link LOG_EVENTS}.
 */
import { createGcpLoggingPinoConfig } from '@google-cloud/pino-logging-gcp-config';
import { pino, type DestinationStream, type Logger } from 'pino';
import type { LogLevel } from './config.js';

export type { Logger } from 'pino';

export interface LoggerOptions {
  level: LogLevel;
  /** Human-readable output through pino-pretty, for a developer's terminal. */
  pretty: boolean;
  /** Service name for Error Reporting, e.g. the function name. */
  service: string;
  version?: string;
  /** Project for `logging.googleapis.com/trace`; leave unset outside Google Cloud. */
  projectId?: string | undefined;
  /** Where lines go; stdout by default. Tests pass a stream to read them back. */
  destination?: DestinationStream;
}

export function createLogger(options: LoggerOptions): Logger {
  if (options.pretty) {
    return pino({
      level: options.level,
      base: { fn: options.service },
      transport: {
        target: 'pino-pretty',
        options: { translateTime: 'SYS:HH:MM:ss.l', ignore: 'pid,hostname', singleLine: true },
      },
    });
  }
  const config = createGcpLoggingPinoConfig(
    {
      serviceContext: {
        service: options.service,
        ...(options.version ? { version: options.version } : {}),
      },
      // Given explicitly so the logger never asks the metadata server at cold start.
      traceGoogleCloudProjectId: options.projectId ?? '',
      inihibitDiagnosticMessage: true,
    },
    { level: options.level, base: { fn: options.service } },
  );
  return options.destination ? pino(config, options.destination) : pino(config);
}

/**
 * W3C `traceparent` → Cloud Logging's trace correlation fields, ready to bind into a child
 * logger (pino's formatters do not see child bindings, so the fields are built here).
 */
export function traceFields(
  traceparent: string | undefined,
  projectId: string | undefined,
): Record<string, string | boolean> {
  const match = /^[\da-f]{2}-([\da-f]{32})-([\da-f]{16})-([\da-f]{2})$/i.exec(traceparent ?? '');
  if (!match) return {};
  const [, traceId, spanId, flags] = match as unknown as [string, string, string, string];
  return {
    'logging.googleapis.com/trace': projectId ? `projects/${projectId}/traces/${traceId}` : traceId,
    'logging.googleapis.com/spanId': spanId,
    'logging.googleapis.com/trace_sampled': (parseInt(flags, 16) & 1) === 1,
  };
}

/**
 * The caller's trace as a W3C `traceparent`: the `traceparent` header if present, otherwise
 * Google's `X-Cloud-Trace-Context: TRACE_ID/SPAN_ID;o=1` (span id in decimal).
 */
export function traceparentFrom(headers: {
  traceparent?: string | undefined;
  cloudTraceContext?: string | undefined;
}): string | undefined {
  if (
    headers.traceparent &&
    /^[\da-f]{2}-[\da-f]{32}-[\da-f]{16}-[\da-f]{2}$/i.test(headers.traceparent)
  ) {
    return headers.traceparent;
  }
  const match = /^([\da-f]{32})\/(\d+)(?:;o=([01]))?/i.exec(headers.cloudTraceContext ?? '');
  if (!match) return undefined;
  const [, traceId, spanDecimal, sampled] = match as unknown as [string, string, string, string?];
  const span = BigInt.asUintN(64, BigInt(spanDecimal)).toString(16).padStart(16, '0');
  return `00-${traceId.toLowerCase()}-${span}-${sampled === '1' ? '01' : '00'}`;
}

/** The stable event names that log-based metrics and alerts key on. */
export const LOG_EVENTS = [
  // planner
  'tick.summary',
  'tick.busy',
  'tick.failed',
  'tick.publish_failed',
  'tick.claim_failed',
  'tick.subtick_failed',
  'config.invalid',
  'schedule.invalid',
  'schedule.skipped',
  'schedule.error',
  'alert.high_deferred',
  'alert.tick_slow',
  'alert.backlog',
  'alert.long_sync_lapsed',
  // workers
  'sync.started',
  'sync.completed',
  'sync.failed',
  'sync.stale',
  'sync.duplicate',
  'sync.missing',
  'sync.paused',
  'sync.early',
  'sync.malformed',
  'lease.lost',
  'lease.renew_failed',
  'handler.echo',
  'sync.handed_off',
  'sync.operator_run',
  // long syncs (job executions)
  'job.started',
  'job.finished',
  'job.failed',
  'job.malformed',
  'job.timed_out',
  'job.exited',
  // reconciler
  'schedule.reconciled',
  // dead letters
  'deadletter.recorded',
  'deadletter.duplicate',
  'deadletter.unrecordable',
  // pauseAfterFailures: a schedule paused by its consecutive dead letters (an alert keys on it)
  'schedule.paused_by_failures',
  // provider rate limits
  'ratelimit.held',
  'ratelimit.save_failed',
  'ratelimit.blocked',
] as const;
export type LogEvent = (typeof LOG_EVENTS)[number];
