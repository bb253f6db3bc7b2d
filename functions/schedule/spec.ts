/**
 * The operator-written part of a schedule document (`schedules/{id}` minus pacer's `state`),
 * its schema and its validation. Validation turns whatever an operator wrote (console edit,
 * CLI, their own code) into a {@link ScheduleSpec} with defaults filled in, or into a list of
 * problems, each naming the field path and what was wrong with it.
 */
import { RATE_LIMIT_KEY, RATE_LIMIT_KEY_HINT } from '../ratelimit/limits.js';
import { CronExpressionParser } from 'cron-parser';
import { z } from 'zod';
import { DURATION_HINT, duration, formatDuration, parseDuration } from './duration.js';
import { LANES } from './lane.js';
import { HANDLERS } from '../worker/handlers/index.js';
import { secretRefusal, type SecretBindings } from '../worker/secrets.js';
import { TIME_HINT, isTimeZone, parseTime, remembered } from './time.js';
import { spreadPhase } from './spread.js';

/** The shortest interval a cadence may ask for: the planner cannot serve finer than this. */
export const MIN_EVERY_MS = duration('10s');
/** The longest interval, tier window or `otherwise` a cadence may ask for. */
export const MAX_EVERY_MS = duration('366d');
/** The longest an event may go on after its start. */
export const MAX_AFTER_MS = duration('30d');
/** The longest catch-up window of a cron schedule. */
export const MAX_CATCH_UP_MS = duration('30d');
/** The most tiers an event may have. */
export const MAX_TIERS = 20;
/**
 * The span of times a schedule may name: the years pacer plans for. Far inside Firestore's range
 * (years 1–9999), so that no due point, lease end or escalation computed from them leaves it.
 */
export const EARLIEST_TIME_MS = Date.parse('2000-01-01T00:00:00Z');
export const LATEST_TIME_MS = Date.parse('2100-01-01T00:00:00Z');
/** Labels, as Google Cloud limits them. */
export const MAX_LABELS = 64;
const LABEL_KEY = /^[a-z][a-z0-9_-]{0,62}$/;
const LABEL_VALUE = /^[a-z0-9_-]{0,63}$/;
/** Headers: how many, and how long a value may be. */
export const MAX_HEADERS = 50;
export const MAX_HEADER_VALUE_LENGTH = 8_192;
/** The longest target URL. */
export const MAX_URL_LENGTH = 2_048;
/** The shortest catch-up window for a cron schedule. */
export const MIN_CATCH_UP_MS = duration('1m');
/**
 * The longest run a schedule may ask for when its sync runs inside the push request (the
 * default `runner: "request"`): 2nd gen event functions stop at 540 s, and a push
 * subscription's ack deadline, which is also its request timeout, cannot pass 600 s.
 */
export const MAX_RUN_SECONDS = 540;
/**
 * The longest run of one `runner: "job"` call: 24 hours. (A Cloud Run job task may run up to
 * {@link MAX_TASK_TIMEOUT_SECONDS}; the rest leaves room for its start and its retries.)
 */
export const MAX_JOB_RUN_SECONDS = 86_400;
/** The longest task timeout Cloud Run allows: 168 hours. */
export const MAX_TASK_TIMEOUT_SECONDS = 7 * 24 * 3_600;
/** Where a sync runs: inside the push request, or in a Cloud Run job execution of its own. */
export const RUNNERS = ['request', 'job'] as const;
export type Runner = (typeof RUNNERS)[number];
/** The largest payload, as JSON, that a schedule may carry to its target. */
export const PAYLOAD_LIMIT_BYTES = 100 * 1024;
/** Secrets reach a target only through variables with this prefix in the worker's environment. */
export const SECRET_ENV_PREFIX = 'PACER_SECRET_';

export const EVENT_DEFAULTS = {
  tiers: [
    { before: duration('4h'), every: duration('1m') },
    { before: duration('24h'), every: duration('5m') },
  ],
  otherwise: duration('60m'),
  after: duration('1h'),
} as const;
export const CRON_DEFAULTS = { timezone: 'UTC', catchUpWithin: duration('1h') } as const;

// ---------------------------------------------------------------------------------------------
// Field schemas. Each one reports its own failure in words; the generic type errors are worded
// by `describeIssue` below.

interface DurationRule {
  /** Smallest accepted value in ms (inclusive). */
  min: number;
  /** Largest accepted value in ms (inclusive). */
  max: number;
}

/** A duration string such as `5m`, read into milliseconds. */
function durationField({ min, max }: DurationRule) {
  return z.string().transform((text, ctx) => {
    const parsed = parseDuration(text);
    if (!parsed.ok) {
      ctx.addIssue({
        code: 'custom',
        message:
          parsed.reason === 'negative'
            ? `"${text}" is negative; durations are positive (${DURATION_HINT})`
            : `"${text}" is not a duration (${DURATION_HINT})`,
      });
      return z.NEVER;
    }
    if (parsed.ms < min) {
      ctx.addIssue({
        code: 'custom',
        message: `"${text}" is too short (at least ${formatDuration(min)})`,
      });
      return z.NEVER;
    }
    if (parsed.ms > max) {
      ctx.addIssue({
        code: 'custom',
        message: `"${text}" is too long (at most ${formatDuration(max)})`,
      });
      return z.NEVER;
    }
    return parsed.ms;
  });
}

/** A time as ISO-8601, or its ms when even that cannot be written. */
function showMs(ms: number): string {
  const date = new Date(ms);
  return Number.isNaN(date.getTime()) ? `${ms} ms` : date.toISOString();
}

/** A point in time (Timestamp, Date or ISO-8601 string with offset), read into ms. */
const timeField = z.unknown().transform((value, ctx) => {
  if (value === undefined || value === null) {
    ctx.addIssue({ code: 'custom', message: 'is required' });
    return z.NEVER;
  }
  const parsed = parseTime(value);
  if (parsed.ok && (parsed.ms < EARLIEST_TIME_MS || parsed.ms >= LATEST_TIME_MS)) {
    ctx.addIssue({
      code: 'custom',
      message: `${typeof value === 'string' ? show(value) : showMs(parsed.ms)} is outside the years pacer plans for (2000 to 2099)`,
    });
    return z.NEVER;
  }
  if (parsed.ok) return parsed.ms;
  const message =
    parsed.reason === 'no_offset'
      ? `${show(value)} has no UTC offset (${TIME_HINT})`
      : parsed.reason === 'wrong_type'
        ? `expected a time, got ${show(value)} (${TIME_HINT})`
        : `${show(value)} is not a time (${TIME_HINT})`;
  ctx.addIssue({ code: 'custom', message });
  return z.NEVER;
});

const cronExpressionField = z.string().superRefine((expression, ctx) => {
  const fields = expression.trim().split(/\s+/);
  if (!expression.trim().startsWith('@') && fields.length !== 5) {
    ctx.addIssue({
      code: 'custom',
      message: `"${expression}" is not a cron expression: it needs 5 fields (minute hour day-of-month month day-of-week), got ${fields.length}`,
    });
    return;
  }
  const problem = cronProblem(expression);
  if (problem !== null) {
    ctx.addIssue({
      code: 'custom',
      message: `"${expression}" is not a cron expression (${problem})`,
    });
  }
});

/** Why cron-parser refuses `expression`, or `null`; remembered (parsing is costly). */
const cronProblem = remembered((expression): string | null => {
  try {
    // next() also catches expressions that parse but never fire, such as `0 0 30 2 *`.
    CronExpressionParser.parse(expression, { tz: 'UTC' }).next();
    return null;
  } catch (error) {
    return error instanceof Error ? error.message : String(error);
  }
});

const timeZoneField = z.string().refine(isTimeZone, {
  error: (issue) =>
    `${show(issue.input)} is not an IANA time zone (e.g. UTC, Europe/Berlin, America/New_York)`,
});

const laneField = z.enum(LANES, {
  error: (issue) => `${show(issue.input)} is not a lane (use ${LANES.join(', ')})`,
});

// ---------------------------------------------------------------------------------------------
// Cadences.

/** The shortest `jitter` a cron schedule may ask for. */
export const MIN_JITTER_MS = duration('1s');
/** How many runs of a cron expression `jitter` is checked against, and from when. */
const JITTER_SAMPLE = 64;
const JITTER_SAMPLE_FROM = Date.parse('2026-01-01T00:00:00Z');

/** `spread` of an event or interval: `true` (the default) places its points by its id. */
const spreadField = z.boolean().optional();

/** `jitter` is for cron only: an event or interval is spread instead. */
const jitterRefused = z
  .unknown()
  .optional()
  .refine((value) => value === undefined, {
    error:
      'only a cron cadence takes jitter; an event or interval is spread by default (see spread)',
  });

const tierSchema = z.strictObject({
  before: durationField({ min: 1, max: MAX_EVERY_MS }),
  every: durationField({ min: MIN_EVERY_MS, max: MAX_EVERY_MS }),
});

const eventCadenceSchema = z
  .strictObject({
    kind: z.literal('event'),
    startsAt: timeField,
    tiers: z.array(tierSchema).max(MAX_TIERS).optional(),
    otherwise: durationField({ min: MIN_EVERY_MS, max: MAX_EVERY_MS }).optional(),
    after: durationField({ min: 0, max: MAX_AFTER_MS }).optional(),
    spread: spreadField,
    jitter: jitterRefused,
  })
  .superRefine((cadence, ctx) => {
    const seen = new Map<number, number>();
    cadence.tiers?.forEach((tier, index) => {
      const earlier = seen.get(tier.before);
      if (earlier !== undefined) {
        ctx.addIssue({
          code: 'custom',
          path: ['tiers', index, 'before'],
          message: `"${formatDuration(tier.before)}" repeats tiers[${earlier}].before`,
        });
      }
      seen.set(tier.before, index);
    });
  })
  .transform((cadence) => ({
    kind: cadence.kind,
    startsAt: cadence.startsAt,
    // Closest tier first: the engine looks tiers up in this order.
    tiers: [...(cadence.tiers ?? EVENT_DEFAULTS.tiers)].sort((a, b) => a.before - b.before),
    otherwise: cadence.otherwise ?? EVENT_DEFAULTS.otherwise,
    after: cadence.after ?? EVENT_DEFAULTS.after,
    spread: cadence.spread ?? true,
  }));

const intervalCadenceSchema = z
  .strictObject({
    kind: z.literal('interval'),
    every: durationField({ min: MIN_EVERY_MS, max: MAX_EVERY_MS }),
    startAt: timeField.optional(),
    endAt: timeField.optional(),
    spread: spreadField,
    jitter: jitterRefused,
  })
  .superRefine((cadence, ctx) => {
    if (
      cadence.startAt !== undefined &&
      cadence.endAt !== undefined &&
      cadence.endAt <= cadence.startAt
    ) {
      ctx.addIssue({ code: 'custom', path: ['endAt'], message: 'must be after cadence.startAt' });
    }
  })
  .transform((cadence) => ({
    kind: cadence.kind,
    every: cadence.every,
    ...(cadence.startAt === undefined ? {} : { startAt: cadence.startAt }),
    ...(cadence.endAt === undefined ? {} : { endAt: cadence.endAt }),
    spread: cadence.spread ?? true,
  }));

const cronCadenceSchema = z
  .strictObject({
    kind: z.literal('cron'),
    expression: cronExpressionField,
    timezone: timeZoneField.optional(),
    // Every run is found a few seconds late (sub-ticks, a late tick): a shorter window would
    // skip every run.
    catchUpWithin: durationField({ min: MIN_CATCH_UP_MS, max: MAX_CATCH_UP_MS }).optional(),
    jitter: durationField({ min: MIN_JITTER_MS, max: MAX_EVERY_MS }).optional(),
    spread: z
      .unknown()
      .optional()
      .refine((value) => value === undefined, {
        error:
          'a cron schedule keeps its exact times and is not spread; ask for jitter (e.g. "30s") to move them',
      }),
  })
  .superRefine((cadence, ctx) => {
    if (cadence.jitter === undefined) return;
    const gap = cronShortestGap(
      `${cadence.timezone ?? CRON_DEFAULTS.timezone}\n${cadence.expression.trim()}`,
    );
    if (gap !== null && cadence.jitter >= gap) {
      ctx.addIssue({
        code: 'custom',
        path: ['jitter'],
        message: `"${formatDuration(cadence.jitter)}" is not shorter than the shortest gap between the expression's runs (${formatDuration(gap)})`,
      });
    }
  })
  .transform((cadence) => ({
    kind: cadence.kind,
    expression: cadence.expression.trim(),
    timezone: cadence.timezone ?? CRON_DEFAULTS.timezone,
    catchUpWithin: cadence.catchUpWithin ?? CRON_DEFAULTS.catchUpWithin,
    ...(cadence.jitter === undefined ? {} : { jitter: cadence.jitter }),
  }));

/**
 * The shortest gap between consecutive runs of a cron expression in a time zone (key:
 * `zone\nexpression`), over its first {@link JITTER_SAMPLE} runs from 2026; `null` when the
 * expression or zone cannot be read (their own fields report that).
 */
const cronShortestGap = remembered((key): number | null => {
  const [timezone = 'UTC', expression = ''] = key.split('\n');
  try {
    const runs = CronExpressionParser.parse(expression, {
      tz: timezone,
      currentDate: new Date(JITTER_SAMPLE_FROM),
    });
    let previous = runs.next().getTime();
    let shortest = Infinity;
    for (let i = 1; i < JITTER_SAMPLE && runs.hasNext(); i += 1) {
      const next = runs.next().getTime();
      shortest = Math.min(shortest, next - previous);
      previous = next;
    }
    return Number.isFinite(shortest) ? shortest : null;
  } catch {
    // The expression field words what is wrong with it.
    return null;
  }
});

const cadenceSchema = z.discriminatedUnion('kind', [
  eventCadenceSchema,
  intervalCadenceSchema,
  cronCadenceSchema,
]);

// ---------------------------------------------------------------------------------------------
// Targets.

/** RFC 9110 token: a header name. */
const HEADER_NAME = /^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/;
/**
 * RFC 9110 field value: visible ASCII, space, tab and Latin-1 (`obs-text`) — never CR, LF, NUL
 * or another control character, never a character Node cannot send (above U+00FF).
 */
const HEADER_VALUE = /^[\t\x20-\x7e\x80-\xff]*$/;
/** Headers pacer sets itself on every request: a schedule may not set them. */
const PACER_HEADERS = new Set([
  'host',
  'content-type',
  'content-length',
  'user-agent',
  'x-pacer-schedule-id',
  'x-pacer-lease-id',
]);
/**
 * Framing and hop-by-hop headers (RFC 9110 §7.6.1, §6.6): they describe one connection, not the
 * request; set by hand they break the framing Node writes, or smuggle a second request.
 */
const HOP_BY_HOP_HEADERS = new Set([
  'connection',
  'transfer-encoding',
  'te',
  'trailer',
  'upgrade',
  'expect',
  'keep-alive',
  'proxy-connection',
  'proxy-authorization',
]);
const SECRET_ENV_NAME = new RegExp(`^${SECRET_ENV_PREFIX}[A-Z0-9_]+$`);

const headerValueSchema = z.union(
  [
    z
      .string()
      .max(MAX_HEADER_VALUE_LENGTH)
      .refine((value) => HEADER_VALUE.test(value), {
        error:
          'holds a character a header cannot carry (a line break, NUL, another control character, or one above U+00FF)',
      }),
    z.strictObject({
      secretEnv: z.string().regex(SECRET_ENV_NAME, {
        error: (issue) =>
          `${show(issue.input)} is not a secret variable name (it must start with ${SECRET_ENV_PREFIX}, e.g. ${SECRET_ENV_PREFIX}API_TOKEN)`,
      }),
    }),
  ],
  {
    error: (issue) =>
      `expected a header value or { secretEnv: "${SECRET_ENV_PREFIX}..." }, got ${show(issue.input)}`,
  },
);

/** The methods an http target may be called with; POST unless the schedule says otherwise. */
export const HTTP_METHODS = ['POST', 'PUT', 'PATCH'] as const;
export type HttpMethod = (typeof HTTP_METHODS)[number];

const httpTargetSchema = z.strictObject({
  type: z.literal('http'),
  method: z
    .enum(HTTP_METHODS, {
      error: (issue) =>
        `${show(issue.input)} is not a method pacer calls a target with (use ${HTTP_METHODS.join(', ')})`,
    })
    .optional(),
  url: z
    .string()
    .max(MAX_URL_LENGTH)
    .superRefine((url, ctx) => {
      let parsed: URL;
      try {
        parsed = new URL(url);
      } catch {
        ctx.addIssue({ code: 'custom', message: `"${url}" is not a URL` });
        return;
      }
      if (parsed.protocol !== 'http:' && parsed.protocol !== 'https:') {
        ctx.addIssue({ code: 'custom', message: `"${url}" is not an http or https URL` });
      }
      if (parsed.username !== '' || parsed.password !== '') {
        ctx.addIssue({
          code: 'custom',
          message: 'must not carry credentials; put them in a header with secretEnv',
        });
      }
    }),
  headers: z
    .record(z.string(), headerValueSchema)
    .superRefine((headers, ctx) => {
      if (Object.keys(headers).length > MAX_HEADERS) {
        ctx.addIssue({ code: 'custom', message: `has more than ${MAX_HEADERS} headers` });
      }
      for (const name of Object.keys(headers)) {
        if (!HEADER_NAME.test(name)) {
          ctx.addIssue({ code: 'custom', path: [name], message: 'is not a valid header name' });
        } else if (PACER_HEADERS.has(name.toLowerCase())) {
          ctx.addIssue({ code: 'custom', path: [name], message: 'is set by pacer itself' });
        } else if (HOP_BY_HOP_HEADERS.has(name.toLowerCase())) {
          ctx.addIssue({
            code: 'custom',
            path: [name],
            message: 'is a framing or hop-by-hop header, which a schedule may not set',
          });
        }
      }
    })
    .optional(),
});

const handlerTargetSchema = z.strictObject({
  type: z.literal('handler'),
  name: z.string().min(1),
});

const targetSchema = z.discriminatedUnion('type', [httpTargetSchema, handlerTargetSchema]);

// ---------------------------------------------------------------------------------------------
// The schedule.

const payloadSchema = z.record(z.string(), z.unknown()).superRefine((payload, ctx) => {
  const notJson = firstNonJson(payload, []);
  if (notJson !== null) {
    ctx.addIssue({
      code: 'custom',
      path: notJson.path,
      message: `${notJson.what} cannot be sent as JSON`,
    });
    return;
  }
  const bytes = Buffer.byteLength(JSON.stringify(payload), 'utf8');
  if (bytes > PAYLOAD_LIMIT_BYTES) {
    ctx.addIssue({
      code: 'custom',
      message: `is ${bytes.toLocaleString('en')} bytes as JSON; the limit is ${PAYLOAD_LIMIT_BYTES.toLocaleString('en')}`,
    });
  }
});

/**
 * The first value under `value` that JSON cannot carry as it is (a Firestore reference,
 * timestamp, geo point or bytes; a number that is not finite), with its path; `null` if none.
 */
function firstNonJson(
  value: unknown,
  path: (string | number)[],
): { path: (string | number)[]; what: string } | null {
  if (value === null || typeof value === 'string' || typeof value === 'boolean') return null;
  if (typeof value === 'number') {
    return Number.isFinite(value) ? null : { path, what: String(value) };
  }
  if (Array.isArray(value)) {
    for (const [index, item] of value.entries()) {
      const found = firstNonJson(item, [...path, index]);
      if (found !== null) return found;
    }
    return null;
  }
  if (isPlainMap(value)) {
    for (const [key, item] of Object.entries(value)) {
      const found = firstNonJson(item, [...path, key]);
      if (found !== null) return found;
    }
    return null;
  }
  return { path, what: describeValue(value) };
}

function isPlainMap(value: unknown): value is Record<string, unknown> {
  if (typeof value !== 'object' || value === null) return false;
  const prototype = Object.getPrototypeOf(value) as unknown;
  return prototype === Object.prototype || prototype === null;
}

/** The most consecutive dead letters `pauseAfterFailures` may wait for. */
export const MAX_PAUSE_AFTER_FAILURES = 1_000;

const specSchema = z.strictObject({
  // Optional: wherever a name is shown, the schedule's id stands in for a missing one.
  name: z.string().trim().min(1).max(200).optional(),
  enabled: z.boolean().optional(),
  cadence: cadenceSchema,
  target: targetSchema,
  lane: laneField.optional(),
  runner: z.enum(RUNNERS).optional(),
  maxRunSeconds: z.int().min(1).max(MAX_JOB_RUN_SECONDS).optional(),
  /** Pause the schedule after this many consecutive dead letters (until it is resumed). */
  pauseAfterFailures: z.int().min(1).max(MAX_PAUSE_AFTER_FAILURES).optional(),
  payload: payloadSchema.optional(),
  labels: z
    .record(z.string(), z.string())
    .superRefine((labels, ctx) => {
      const entries = Object.entries(labels);
      if (entries.length > MAX_LABELS) {
        ctx.addIssue({ code: 'custom', message: `has more than ${MAX_LABELS} labels` });
      }
      for (const [key, value] of entries) {
        if (!LABEL_KEY.test(key)) {
          ctx.addIssue({
            code: 'custom',
            path: [key],
            message:
              'is not a label key (lowercase letters, digits, _ and -, starting with a letter, at most 63)',
          });
        } else if (!LABEL_VALUE.test(value)) {
          ctx.addIssue({
            code: 'custom',
            path: [key],
            message: `${show(value)} is not a label value (lowercase letters, digits, _ and -, at most 63)`,
          });
        }
      }
    })
    .optional(),
  rateLimitKey: z
    .string()
    .regex(RATE_LIMIT_KEY, {
      error: (issue) => `${show(issue.input)} is not a rate limit key (${RATE_LIMIT_KEY_HINT})`,
    })
    .optional(),
});

/** The operator fields pacer knows; anything else in a schedule document is reported. */
export const SPEC_FIELDS = Object.keys(specSchema.shape) as readonly string[];
/** The map pacer owns inside every schedule document. */
export const STATE_FIELD = 'state';

type ParsedSpec = z.output<typeof specSchema>;
type ParsedCadence = ParsedSpec['cadence'];
/**
 * A cadence as the engine reads it: the parsed fields, with `spread` turned into the schedule's
 * `phase` (see spread.ts). Without `phase` its points are the exact grid's (`spread: false`, a
 * cron without `jitter`, or a document validated without its id).
 */
type Placed<C> = C extends unknown ? Omit<C, 'spread'> & { phase?: number } : never;
export type Cadence = Placed<ParsedCadence>;
export type EventCadence = Extract<Cadence, { kind: 'event' }>;
export type IntervalCadence = Extract<Cadence, { kind: 'interval' }>;
export type CronCadence = Extract<Cadence, { kind: 'cron' }>;
export type Target = ParsedSpec['target'];
export type HttpTarget = Extract<Target, { type: 'http' }>;

/** A validated schedule, defaults filled in, times and durations in milliseconds. */
export interface ScheduleSpec extends Omit<ParsedSpec, 'enabled' | 'cadence'> {
  enabled: boolean;
  cadence: Cadence;
}

export type Validation = { ok: true; spec: ScheduleSpec } | { ok: false; problems: string[] };

/**
 * What a schedule is checked against besides its own fields: the handlers that exist, and the
 * hosts each secret may be sent to.
 */
export interface ValidationContext {
  handlers: ReadonlySet<string>;
  secretHosts: SecretBindings;
}

/**
 * The deployed code's: the handlers registered in functions/worker/handlers/index.ts, no secret
 * bindings (see {@link validationFor} for a deployment's own).
 */
export const DEPLOYED: ValidationContext = {
  handlers: new Set(Object.keys(HANDLERS)),
  secretHosts: new Map(),
};

/** The context of a deployment: the registered handlers and its `PACER_SECRET_HOSTS`. */
export function validationFor(settings: {
  secretHosts: Readonly<Record<string, readonly string[]>>;
}): ValidationContext {
  return {
    handlers: DEPLOYED.handlers,
    secretHosts: new Map(Object.entries(settings.secretHosts)),
  };
}

/**
 * Validates the operator fields of a schedule document. pacer's own `state` map is ignored;
 * every other unknown field is a problem, and so is a handler that is not registered. Problems
 * come sorted by field path, one per line, as `path: what is wrong`. Never throws, whatever the
 * document holds.
 *
 * `id` is the schedule's id: it places the points of a spread cadence (see spread.ts). Without
 * it (a document checked before it has one) the cadence keeps its exact grid points.
 */
export function validateSchedule(
  document: unknown,
  context: ValidationContext = DEPLOYED,
  id?: string,
): Validation {
  if (typeof document !== 'object' || document === null || Array.isArray(document)) {
    return { ok: false, problems: [`(document): expected a map of fields, got ${show(document)}`] };
  }
  try {
    const operatorFields = Object.fromEntries(
      Object.entries(document).filter(([key]) => key !== STATE_FIELD),
    );
    const result = specSchema.safeParse(operatorFields, {
      reportInput: true,
      error: describeIssue,
    });
    if (!result.success) return { ok: false, problems: formatIssues(result.error.issues) };
    const problems = [
      ...runTimeProblems(result.data.runner, result.data.maxRunSeconds),
      ...contextProblems(result.data.target, context),
    ];
    if (problems.length > 0) return { ok: false, problems };
    return {
      ok: true,
      spec: {
        ...result.data,
        cadence: placed(result.data.cadence, id),
        enabled: result.data.enabled ?? true,
      },
    };
  } catch (error) {
    // Nothing a document holds should get here; if something does, it is the document's
    // problem, said in a line, never a crash of whoever validates it.
    return { ok: false, problems: [`(document): cannot be read (${String(error).slice(0, 200)})`] };
  }
}

/**
 * The parsed cadence as the engine reads it: `spread` becomes the id's phase (an event or
 * interval unless `spread: false`; a cron only with `jitter`), or goes.
 */
function placed(cadence: ParsedCadence, id: string | undefined): Cadence {
  if (cadence.kind === 'cron') {
    return id !== undefined && cadence.jitter !== undefined
      ? { ...cadence, phase: spreadPhase(id) }
      : cadence;
  }
  const { spread, ...rest } = cadence;
  return spread && id !== undefined ? { ...rest, phase: spreadPhase(id) } : rest;
}

/** A run time beyond what the schedule's runner can hold. */
function runTimeProblems(runner: Runner | undefined, maxRunSeconds: number | undefined): string[] {
  if (maxRunSeconds === undefined || (runner ?? 'request') === 'job') return [];
  if (maxRunSeconds <= MAX_RUN_SECONDS) return [];
  return [
    `maxRunSeconds: ${maxRunSeconds} is too big for a sync inside the push request (at most ${MAX_RUN_SECONDS}); set runner: "job" to run it in a Cloud Run job (up to ${MAX_JOB_RUN_SECONDS})`,
  ];
}

/** What a valid target gets wrong against the context: an unknown handler, a misbound secret. */
function contextProblems(target: Target, context: ValidationContext): string[] {
  if (target.type === 'handler') {
    if (context.handlers.has(target.name)) return [];
    const known = [...context.handlers].sort().join(', ') || 'none';
    return [`target.name: ${show(target.name)} is not a registered handler (known: ${known})`];
  }
  const host = new URL(target.url).hostname.replace(/^\[|\]$/g, '');
  return Object.entries(target.headers ?? {}).flatMap(([name, value]) => {
    if (typeof value === 'string') return [];
    const refusal = secretRefusal(value.secretEnv, host, context.secretHosts);
    return refusal === null ? [] : [`${formatPath(['target', 'headers', name])}: ${refusal}`];
  });
}

// ---------------------------------------------------------------------------------------------
// Wording.

/** Turns zod issues into `path: message` lines, one per problem. */
export function formatIssues(issues: readonly z.core.$ZodIssue[]): string[] {
  const lines = issues.flatMap((issue) => {
    if (issue.code === 'unrecognized_keys') {
      return issue.keys.map((key) => `${formatPath([...issue.path, key])}: unknown field`);
    }
    return [`${formatPath(issue.path)}: ${issue.message}`];
  });
  return [...new Set(lines)].sort();
}

const DISCRIMINATOR_NOUN: Record<string, string> = {
  kind: 'cadence kind',
  type: 'target type',
};

/**
 * pacer's wording for zod's generic issues, given to zod as the per-parse error map: a field's
 * own message (durations, times, lanes) takes precedence over it.
 */
function describeIssue(issue: z.core.$ZodRawIssue): string | undefined {
  switch (issue.code) {
    case 'invalid_type':
      return issue.input === undefined
        ? 'is required'
        : `expected ${EXPECTED[issue.expected] ?? issue.expected}, got ${show(issue.input)}`;
    case 'invalid_union': {
      if (issue.discriminator !== undefined) {
        const value = (issue.input as Record<string, unknown> | undefined)?.[issue.discriminator];
        const options = (issue as { options?: readonly unknown[] }).options ?? [];
        const choices = options.map(String).join(', ');
        if (value === undefined) return `is required (one of ${choices})`;
        const noun = DISCRIMINATOR_NOUN[issue.discriminator] ?? issue.discriminator;
        return `${show(value)} is not a ${noun} (use ${choices})`;
      }
      return undefined;
    }
    case 'invalid_value':
      return `${show(issue.input)} is not allowed (use ${issue.values.map(String).join(', ')})`;
    case 'too_small':
      if (issue.origin === 'string' && issue.minimum === 1) return 'must not be empty';
      if (issue.origin === 'string') return `must be at least ${issue.minimum} characters`;
      return `${show(issue.input)} is too small (at least ${issue.minimum})`;
    case 'too_big':
      if (issue.origin === 'string') return `must be at most ${issue.maximum} characters`;
      return `${show(issue.input)} is too large (at most ${issue.maximum})`;
    default:
      return undefined; // zod's own message
  }
}

const EXPECTED: Record<string, string> = {
  string: 'a string',
  number: 'a number',
  int: 'a whole number',
  boolean: 'true or false',
  object: 'a map',
  record: 'a map',
  array: 'a list',
};

/** `['cadence', 'tiers', 1, 'every']` → `cadence.tiers[1].every`. */
export function formatPath(path: readonly PropertyKey[]): string {
  if (path.length === 0) return '(document)';
  return path
    .map((part, index) => {
      if (typeof part === 'number') return `[${part}]`;
      const key = String(part);
      if (/^[A-Za-z_$][\w$]*$/.test(key)) return index === 0 ? key : `.${key}`;
      return `[${JSON.stringify(key)}]`;
    })
    .join('');
}

/** A short rendering of a bad value for a message: `"5 min"`, `42`, `a list`. */
function show(value: unknown): string {
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'a list';
  if (typeof value === 'object' && !isPlainMap(value)) return describeValue(value);
  switch (typeof value) {
    case 'string':
      return JSON.stringify(value.length > 60 ? `${value.slice(0, 57)}...` : value);
    case 'number':
    case 'boolean':
    case 'bigint':
      return String(value);
    case 'undefined':
      return 'nothing';
    case 'object':
      return 'a map';
    default:
      return typeof value;
  }
}

/** What a value that is not plain JSON is, in words: `a document reference`, `bytes`. */
export function describeValue(value: unknown): string {
  if (value instanceof Uint8Array) return 'bytes';
  if (value instanceof Date) return 'a date';
  if (typeof value !== 'object' || value === null) return show(value);
  const fields = value as Record<string, unknown>;
  if (typeof fields.toMillis === 'function') return 'a timestamp';
  if (typeof fields.path === 'string' && 'firestore' in fields) return 'a document reference';
  if (typeof fields.latitude === 'number' && typeof fields.longitude === 'number') {
    return 'a geo point';
  }
  if (typeof fields.toArray === 'function') return 'a vector';
  return `a ${value.constructor.name || 'value'}`;
}
