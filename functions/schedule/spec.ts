/**
 * The operator-written part of a schedule document (`schedules/{id}` minus pacer's `state`),
 * its schema and its validation. Validation turns whatever an operator wrote (console edit,
 * CLI, their own code) into a {@link ScheduleSpec} with defaults filled in, or into a list of
 * problems, each naming the field path and what was wrong with it.
 */
import { CronExpressionParser } from 'cron-parser';
import { z } from 'zod';
import { DURATION_HINT, duration, formatDuration, parseDuration } from './duration.js';
import { LANES } from './lane.js';
import { TIME_HINT, isTimeZone, parseTime } from './time.js';

/** The shortest interval a cadence may ask for: the planner cannot serve finer than this. */
export const MIN_EVERY_MS = duration('10s');
/** The shortest catch-up window for a cron schedule. */
export const MIN_CATCH_UP_MS = duration('1m');
/** The longest run a schedule may ask for (2nd gen event functions stop at 540 s). */
export const MAX_RUN_SECONDS = 540;
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
}

/** A duration string such as `5m`, read into milliseconds. */
function durationField({ min }: DurationRule) {
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
    return parsed.ms;
  });
}

/** A point in time (Timestamp, Date or ISO-8601 string with offset), read into ms. */
const timeField = z.unknown().transform((value, ctx) => {
  if (value === undefined || value === null) {
    ctx.addIssue({ code: 'custom', message: 'is required' });
    return z.NEVER;
  }
  const parsed = parseTime(value);
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
  try {
    // next() also catches expressions that parse but never fire, such as `0 0 30 2 *`.
    CronExpressionParser.parse(expression, { tz: 'UTC' }).next();
  } catch (error) {
    ctx.addIssue({
      code: 'custom',
      message: `"${expression}" is not a cron expression (${(error as Error).message})`,
    });
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

const tierSchema = z.strictObject({
  before: durationField({ min: 1 }),
  every: durationField({ min: MIN_EVERY_MS }),
});

const eventCadenceSchema = z
  .strictObject({
    kind: z.literal('event'),
    startsAt: timeField,
    tiers: z.array(tierSchema).optional(),
    otherwise: durationField({ min: MIN_EVERY_MS }).optional(),
    after: durationField({ min: 0 }).optional(),
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
  }));

const intervalCadenceSchema = z
  .strictObject({
    kind: z.literal('interval'),
    every: durationField({ min: MIN_EVERY_MS }),
    startAt: timeField.optional(),
    endAt: timeField.optional(),
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
  }));

const cronCadenceSchema = z
  .strictObject({
    kind: z.literal('cron'),
    expression: cronExpressionField,
    timezone: timeZoneField.optional(),
    // Every run is found a few seconds late (sub-ticks, a late tick): a shorter window would
    // skip every run.
    catchUpWithin: durationField({ min: MIN_CATCH_UP_MS }).optional(),
  })
  .transform((cadence) => ({
    kind: cadence.kind,
    expression: cadence.expression.trim(),
    timezone: cadence.timezone ?? CRON_DEFAULTS.timezone,
    catchUpWithin: cadence.catchUpWithin ?? CRON_DEFAULTS.catchUpWithin,
  }));

const cadenceSchema = z.discriminatedUnion('kind', [
  eventCadenceSchema,
  intervalCadenceSchema,
  cronCadenceSchema,
]);

// ---------------------------------------------------------------------------------------------
// Targets.

const HEADER_NAME = /^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/;
const RESERVED_HEADERS = new Set(['host', 'content-type', 'content-length', 'connection']);
const SECRET_ENV_NAME = new RegExp(`^${SECRET_ENV_PREFIX}[A-Z0-9_]+$`);

const headerValueSchema = z.union(
  [
    z.string(),
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

const httpTargetSchema = z.strictObject({
  type: z.literal('http'),
  url: z.string().superRefine((url, ctx) => {
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
      for (const name of Object.keys(headers)) {
        if (!HEADER_NAME.test(name)) {
          ctx.addIssue({ code: 'custom', path: [name], message: 'is not a valid header name' });
        } else if (RESERVED_HEADERS.has(name.toLowerCase())) {
          ctx.addIssue({ code: 'custom', path: [name], message: 'is set by pacer itself' });
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
  let bytes: number;
  try {
    bytes = Buffer.byteLength(JSON.stringify(payload), 'utf8');
  } catch (error) {
    ctx.addIssue({
      code: 'custom',
      message: `cannot be sent as JSON (${(error as Error).message})`,
    });
    return;
  }
  if (bytes > PAYLOAD_LIMIT_BYTES) {
    ctx.addIssue({
      code: 'custom',
      message: `is ${bytes.toLocaleString('en')} bytes as JSON; the limit is ${PAYLOAD_LIMIT_BYTES.toLocaleString('en')}`,
    });
  }
});

const specSchema = z.strictObject({
  name: z.string().trim().min(1).max(200),
  enabled: z.boolean().optional(),
  cadence: cadenceSchema,
  target: targetSchema,
  lane: laneField.optional(),
  maxRunSeconds: z.int().min(1).max(MAX_RUN_SECONDS).optional(),
  payload: payloadSchema.optional(),
  labels: z.record(z.string().min(1).max(63), z.string().max(256)).optional(),
});

/** The operator fields pacer knows; anything else in a schedule document is reported. */
export const SPEC_FIELDS = Object.keys(specSchema.shape) as readonly string[];
/** The map pacer owns inside every schedule document. */
export const STATE_FIELD = 'state';

type ParsedSpec = z.output<typeof specSchema>;
export type Cadence = ParsedSpec['cadence'];
export type EventCadence = Extract<Cadence, { kind: 'event' }>;
export type IntervalCadence = Extract<Cadence, { kind: 'interval' }>;
export type CronCadence = Extract<Cadence, { kind: 'cron' }>;
export type Target = ParsedSpec['target'];
export type HttpTarget = Extract<Target, { type: 'http' }>;

/** A validated schedule, defaults filled in, times and durations in milliseconds. */
export interface ScheduleSpec extends Omit<ParsedSpec, 'enabled'> {
  enabled: boolean;
}

export type Validation = { ok: true; spec: ScheduleSpec } | { ok: false; problems: string[] };

/**
 * Validates the operator fields of a schedule document. pacer's own `state` map is ignored;
 * every other unknown field is a problem. Problems come sorted by field path, one per line,
 * as `path: what is wrong`.
 */
export function validateSchedule(document: unknown): Validation {
  if (typeof document !== 'object' || document === null || Array.isArray(document)) {
    return { ok: false, problems: [`(document): expected a map of fields, got ${show(document)}`] };
  }
  const operatorFields = Object.fromEntries(
    Object.entries(document).filter(([key]) => key !== STATE_FIELD),
  );
  const result = specSchema.safeParse(operatorFields, { reportInput: true, error: describeIssue });
  if (result.success) {
    return { ok: true, spec: { ...result.data, enabled: result.data.enabled ?? true } };
  }
  return { ok: false, problems: formatIssues(result.error.issues) };
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
