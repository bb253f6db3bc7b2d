/**
 * The scenario file: what the simulator simulates. A scenario names a window of time, the
 * schedules (written inline as pacer documents, or generated from a distribution), the
 * capacity that serves them (workers per lane, a provider's shared limit, how long a sync
 * takes) and what goes wrong (failures, worker crashes, planner outages). `docs/simulator.md`
 * documents every field.
 *
 * {@link parseScenario} is pure: it turns the JSON of one file (after `extends` is resolved)
 * into a typed {@link Scenario} with times and durations in milliseconds, or into a list of
 * problems, each naming its field path, in pacer's wording.
 */
import type { KeyLimit } from '../../functions/ratelimit/bucket.js';
import type { ProviderRateLimit } from './target.js';
import { z } from 'zod';
import { SETTINGS, loadSettings, type PerLane, type Settings } from '../../functions/config.js';
import { PacerError } from '../../functions/errors.js';
import { LANES, type Lane } from '../../functions/schedule/lane.js';
import { formatIssues, formatPath } from '../../functions/schedule/spec.js';
import { TIME_HINT, parseTime } from '../../functions/schedule/time.js';

/** How long a sync takes, as a distribution the simulator draws from. */
export type DurationDistribution =
  | { distribution: 'fixed'; valueMs: number }
  | { distribution: 'uniform'; minMs: number; maxMs: number }
  | { distribution: 'log-normal'; medianMs: number; p99Ms: number };

/** Where generated event start times fall. Times are ms since the epoch. */
export type TimeDistribution =
  | { distribution: 'uniform'; from: number; to: number; roundToMs: number | null }
  | { distribution: 'even'; from: number; to: number; roundToMs: number | null }
  | {
      distribution: 'normal';
      mean: number;
      sdMs: number;
      from: number;
      to: number;
      roundToMs: number | null;
    };

/** A schedule written out in the scenario: a pacer schedule document and its id. */
export interface InlineSchedule {
  id: string;
  /** The operator fields of `schedules/{id}`, as an operator writes them (validated later). */
  document: Record<string, unknown>;
}

/** `count` schedules made from one template; events get `startsAt` from a distribution. */
export interface ScheduleGroup {
  /** Ids are `<id>-<n>`, numbered from 1 and zero-padded. */
  id: string;
  count: number;
  /** A pacer cadence (as written in a document); an event's `startsAt` comes from `startsAt`. */
  cadence: Record<string, unknown>;
  startsAt: TimeDistribution | null;
  lane: Lane | null;
  maxRunSeconds: number | null;
}

/** Shares of sync attempts that fail in each way (each from 0 to 1, together at most 1). */
export interface FailureRates {
  /** The target answers 5xx/429/timeout: the worker throws and Pub/Sub redelivers. */
  retryable: number;
  /** The target answers another 4xx: dead-lettered at once. */
  permanent: number;
  /** The worker instance dies mid-sync: no answer, Pub/Sub redelivers. */
  crash: number;
  /** Pub/Sub delivers a published message twice (at-least-once delivery). */
  duplicateDelivery: number;
}

/** A span in which the planner does not run (no ticks); `to` is when it returns. */
export interface Outage {
  from: number;
  to: number;
}

/** How pacer itself is set up in the simulation. */
export interface PacerModel {
  /**
   * pacer's settings, as the environment would give them, with the in-flight budgets taken
   * from the scenario: each lane's from its worker concurrency, the total from `sharedLimit`.
   */
  settings: Settings;
  /**
   * One store operation's round trip (a read, a query, a transaction's read or commit, a
   * write): pacer's real code does its own I/O, each call taking this long.
   */
  storeLatencyMs: number;
  /** Time between a publish and the push delivery to a worker. */
  deliveryLatencyMs: number;
  /** Cloud Scheduler fires each minute's tick up to this late (uniformly). */
  tickJitterMs: number;
}

/** A validated scenario; times in ms since the epoch, durations in ms. */
export interface Scenario {
  name: string;
  description: string;
  seed: number;
  /** The measured window: `[start, end)`. */
  start: number;
  end: number;
  /** Schedules exist (and are served) from `start - warmUpMs`; only the window is measured. */
  warmUpMs: number;
  schedules: InlineSchedule[];
  generate: ScheduleGroup[];
  /** How many syncs each lane's workers run at once. */
  workers: PerLane<number>;
  /** A provider's limit on concurrent syncs across lanes; `null` for none. */
  sharedLimit: number | null;
  /**
   * A provider's limit on calls per minute and hour (`null`: none): calls beyond it are refused
   * with 429 and `Retry-After`. Every schedule then names the key {@link PROVIDER_KEY}, and pacer
   * gets a matching budget unless `pacer.settings` sets `PACER_RATE_LIMITS` itself.
   */
  rateLimit: ProviderRateLimit | null;
  syncDuration: DurationDistribution;
  failures: FailureRates;
  outages: Outage[];
  pacer: PacerModel;
}

export type ScenarioParse = { ok: true; scenario: Scenario } | { ok: false; problems: string[] };

/** Settings the scenario fixes itself, so they may not be given in `pacer.settings`. */
const DERIVED_SETTINGS: Record<string, string> = {
  PACER_INFLIGHT_HIGH: 'workers.high',
  PACER_INFLIGHT_MEDIUM: 'workers.medium',
  PACER_INFLIGHT_LOW: 'workers.low',
  PACER_INFLIGHT_TOTAL: 'sharedLimit',
};

/** The key every schedule of a scenario with a `rateLimit` names. */
export const PROVIDER_KEY = 'provider';

export const SIM_DURATION_HINT = 'use 250ms, 90s, 5m, 4h, 1d';
const UNIT_MS = { ms: 1, s: 1_000, m: 60_000, h: 3_600_000, d: 86_400_000 } as const;

/**
 * A duration in the simulator's grammar: pacer's (`90s`, `5m`, `4h`, `1d`) plus milliseconds
 * (`250ms`), because latencies are shorter than a second.
 */
export function parseSimDuration(text: string): number | null {
  const match = /^(\d{1,9})(ms|s|m|h|d)$/.exec(text);
  if (!match) return null;
  const [, amount, unit] = match as unknown as [string, string, keyof typeof UNIT_MS];
  return Number(amount) * UNIT_MS[unit];
}

// ---------------------------------------------------------------------------------------------
// Field schemas.

const durationField = (min: number) =>
  z.string().transform((text, ctx) => {
    const ms = parseSimDuration(text);
    if (ms === null) {
      ctx.addIssue({
        code: 'custom',
        message: `"${text}" is not a duration (${SIM_DURATION_HINT})`,
      });
      return z.NEVER;
    }
    if (ms < min) {
      ctx.addIssue({ code: 'custom', message: `"${text}" is too short (at least ${min} ms)` });
      return z.NEVER;
    }
    return ms;
  });

const timeField = z.string().transform((text, ctx) => {
  const parsed = parseTime(text);
  if (parsed.ok) return parsed.ms;
  ctx.addIssue({
    code: 'custom',
    message:
      parsed.reason === 'no_offset'
        ? `"${text}" has no UTC offset (${TIME_HINT})`
        : `"${text}" is not a time (${TIME_HINT})`,
  });
  return z.NEVER;
});

const share = z.number().min(0).max(1);
const roundTo = durationField(1).optional();

const timeDistributionSchema = z.discriminatedUnion('distribution', [
  z.strictObject({
    distribution: z.literal('uniform'),
    from: timeField,
    to: timeField,
    roundTo,
  }),
  z.strictObject({
    distribution: z.literal('even'),
    from: timeField,
    to: timeField,
    roundTo,
  }),
  z.strictObject({
    distribution: z.literal('normal'),
    mean: timeField,
    sd: durationField(1),
    from: timeField,
    to: timeField,
    roundTo,
  }),
]);

const durationDistributionSchema = z.discriminatedUnion('distribution', [
  z.strictObject({ distribution: z.literal('fixed'), value: durationField(1) }),
  z.strictObject({
    distribution: z.literal('uniform'),
    min: durationField(1),
    max: durationField(1),
  }),
  z.strictObject({
    distribution: z.literal('log-normal'),
    median: durationField(1),
    p99: durationField(1),
  }),
]);

const laneField = z.enum(LANES);
const document = z.record(z.string(), z.unknown());

const scenarioSchema = z.strictObject({
  name: z.string().min(1),
  description: z.string().optional(),
  seed: z.int().min(0).max(4_294_967_295).optional(),
  start: timeField,
  end: timeField,
  warmUp: durationField(0).optional(),
  schedules: z.array(document.and(z.object({ id: z.string().min(1) }))).optional(),
  generate: z
    .array(
      z.strictObject({
        id: z.string().regex(/^[A-Za-z0-9_.-]+$/, { error: 'may only use A-Z a-z 0-9 _ . -' }),
        count: z.int().min(1).max(1_000_000),
        cadence: document,
        startsAt: timeDistributionSchema.optional(),
        lane: laneField.optional(),
        maxRunSeconds: z.int().min(1).optional(),
      }),
    )
    .optional(),
  workers: z.strictObject({
    high: z.int().min(1),
    medium: z.int().min(1),
    low: z.int().min(1),
  }),
  sharedLimit: z.int().min(1).nullable().optional(),
  rateLimit: z
    .strictObject({
      perMinute: z.int().min(2).optional(),
      perHour: z.int().min(2).optional(),
    })
    .refine((limit) => limit.perMinute !== undefined || limit.perHour !== undefined, {
      error: 'needs perMinute, perHour or both',
    })
    .optional(),
  syncDuration: durationDistributionSchema,
  failures: z
    .strictObject({
      retryable: share.optional(),
      permanent: share.optional(),
      crash: share.optional(),
      duplicateDelivery: share.optional(),
    })
    .optional(),
  outages: z.array(z.strictObject({ from: timeField, to: timeField })).optional(),
  pacer: z
    .strictObject({
      settings: z.record(z.string(), z.union([z.string(), z.number(), z.boolean()])).optional(),
      storeLatency: durationField(0).optional(),
      deliveryLatency: durationField(0).optional(),
      tickJitter: durationField(0).optional(),
    })
    .optional(),
});

type RawScenario = z.output<typeof scenarioSchema>;

/** Defaults for what a scenario leaves out (see docs/simulator.md). */
export const SCENARIO_DEFAULTS = {
  seed: 1,
  warmUpMs: 0,
  storeLatencyMs: 20,
  deliveryLatencyMs: 50,
  tickJitterMs: 2_000,
} as const;

/**
 * Validates a scenario (the JSON of one file, `extends` already resolved). Problems come
 * sorted, one per line, as `path: what is wrong`.
 */
export function parseScenario(raw: unknown): ScenarioParse {
  const result = scenarioSchema.safeParse(raw, { reportInput: true, error: describeIssue });
  if (!result.success) return { ok: false, problems: formatIssues(result.error.issues) };
  const parsed = result.data;
  const problems = crossCheck(parsed);
  const settings = pacerSettings(parsed, problems);
  if (problems.length > 0 || settings === null) return { ok: false, problems: problems.sort() };

  const failures = parsed.failures ?? {};
  return {
    ok: true,
    scenario: {
      name: parsed.name,
      description: parsed.description ?? '',
      seed: parsed.seed ?? SCENARIO_DEFAULTS.seed,
      start: parsed.start,
      end: parsed.end,
      warmUpMs: parsed.warmUp ?? SCENARIO_DEFAULTS.warmUpMs,
      schedules: (parsed.schedules ?? []).map(({ id, ...rest }) => ({ id, document: rest })),
      generate: (parsed.generate ?? []).map((group) => ({
        id: group.id,
        count: group.count,
        cadence: group.cadence,
        startsAt: group.startsAt === undefined ? null : timeDistribution(group.startsAt),
        lane: group.lane ?? null,
        maxRunSeconds: group.maxRunSeconds ?? null,
      })),
      workers: parsed.workers,
      sharedLimit: parsed.sharedLimit ?? null,
      rateLimit:
        parsed.rateLimit === undefined
          ? null
          : {
              perMinute: parsed.rateLimit.perMinute ?? null,
              perHour: parsed.rateLimit.perHour ?? null,
            },
      syncDuration: durationDistribution(parsed.syncDuration),
      failures: {
        retryable: failures.retryable ?? 0,
        permanent: failures.permanent ?? 0,
        crash: failures.crash ?? 0,
        duplicateDelivery: failures.duplicateDelivery ?? 0,
      },
      outages: [...(parsed.outages ?? [])].sort((a, b) => a.from - b.from),
      pacer: {
        settings,
        storeLatencyMs: parsed.pacer?.storeLatency ?? SCENARIO_DEFAULTS.storeLatencyMs,
        deliveryLatencyMs: parsed.pacer?.deliveryLatency ?? SCENARIO_DEFAULTS.deliveryLatencyMs,
        tickJitterMs: parsed.pacer?.tickJitter ?? SCENARIO_DEFAULTS.tickJitterMs,
      },
    },
  };
}

/** The mean of a sync-duration distribution, in ms. */
export function meanDuration(distribution: DurationDistribution): number {
  switch (distribution.distribution) {
    case 'fixed':
      return distribution.valueMs;
    case 'uniform':
      return (distribution.minMs + distribution.maxMs) / 2;
    case 'log-normal': {
      const mu = Math.log(distribution.medianMs);
      const sigma = (Math.log(distribution.p99Ms) - mu) / 2.326_347_874;
      return Math.exp(mu + (sigma * sigma) / 2);
    }
  }
}

/** A duration distribution in words: `uniform 15s–20s`. */
export function describeDuration(distribution: DurationDistribution): string {
  const s = (ms: number) => (ms % 1_000 === 0 ? `${ms / 1_000}s` : `${ms}ms`);
  switch (distribution.distribution) {
    case 'fixed':
      return `fixed ${s(distribution.valueMs)}`;
    case 'uniform':
      return `uniform ${s(distribution.minMs)}–${s(distribution.maxMs)}`;
    case 'log-normal':
      return `log-normal, median ${s(distribution.medianMs)}, p99 ${s(distribution.p99Ms)}`;
  }
}

// ---------------------------------------------------------------------------------------------

function crossCheck(parsed: RawScenario): string[] {
  const problems: string[] = [];
  if (parsed.end <= parsed.start) problems.push('end: must be after start');
  parsed.outages?.forEach((outage, index) => {
    if (outage.to <= outage.from) problems.push(`outages[${index}].to: must be after from`);
  });
  const outages = [...(parsed.outages ?? [])].sort((a, b) => a.from - b.from);
  for (let i = 1; i < outages.length; i++) {
    const previous = outages[i - 1];
    const current = outages[i];
    if (previous && current && current.from < previous.to) {
      problems.push('outages: must not overlap');
      break;
    }
  }
  const failures = parsed.failures ?? {};
  if ((failures.retryable ?? 0) + (failures.permanent ?? 0) + (failures.crash ?? 0) > 1) {
    problems.push('failures: retryable + permanent + crash must be at most 1');
  }
  const duration = parsed.syncDuration;
  if (duration.distribution === 'uniform' && duration.max < duration.min) {
    problems.push('syncDuration.max: must not be less than min');
  }
  if (duration.distribution === 'log-normal' && duration.p99 < duration.median) {
    problems.push('syncDuration.p99: must not be less than median');
  }
  const ids = new Map<string, string>();
  const claimId = (id: string, path: string) => {
    const earlier = ids.get(id);
    if (earlier !== undefined) problems.push(`${path}: "${id}" is also used by ${earlier}`);
    else ids.set(id, path);
  };
  parsed.schedules?.forEach((schedule, index) => {
    claimId(schedule.id, `schedules[${index}].id`);
  });
  parsed.generate?.forEach((group, index) => {
    claimId(group.id, `generate[${index}].id`);
    const isEvent = group.cadence.kind === 'event';
    if (isEvent && group.startsAt === undefined) {
      problems.push(`generate[${index}].startsAt: is required for event cadences`);
    }
    if (!isEvent && group.startsAt !== undefined) {
      problems.push(`generate[${index}].startsAt: only event cadences take a start time`);
    }
    if (isEvent && 'startsAt' in group.cadence) {
      problems.push(`generate[${index}].cadence.startsAt: comes from generate[${index}].startsAt`);
    }
    const startsAt = group.startsAt;
    if (startsAt !== undefined && startsAt.to <= startsAt.from) {
      problems.push(`generate[${index}].startsAt.to: must be after from`);
    }
  });
  return problems;
}

/** pacer's settings for the scenario, read the way a deployment reads its environment. */
function pacerSettings(parsed: RawScenario, problems: string[]): Settings | null {
  const given = parsed.pacer?.settings ?? {};
  const known = new Set(SETTINGS.map((setting) => setting.env));
  const env: Record<string, string> = {};
  for (const [name, value] of Object.entries(given)) {
    const path = formatPath(['pacer', 'settings', name]);
    const derived = DERIVED_SETTINGS[name];
    if (derived !== undefined) problems.push(`${path}: comes from ${derived}`);
    else if (!known.has(name)) problems.push(`${path}: unknown setting`);
    else env[name] = String(value);
  }
  let settings: Settings;
  try {
    settings = loadSettings(env);
  } catch (error) {
    if (!(error instanceof PacerError) || error.code !== 'invalid_config') throw error;
    const listed = (error.details.problems ?? []) as string[];
    for (const problem of listed) problems.push(`pacer.settings.${problem}`);
    return null;
  }
  if (parsed.rateLimit !== undefined && given.PACER_RATE_LIMITS === undefined) {
    settings.rateLimits = {
      [PROVIDER_KEY]: matchingBudget(
        {
          perMinute: parsed.rateLimit.perMinute ?? null,
          perHour: parsed.rateLimit.perHour ?? null,
        },
        settings.subTickSeconds,
      ),
    };
  }
  settings.inFlightBudget = { ...parsed.workers };
  settings.totalInFlightBudget = parsed.sharedLimit ?? null;
  const reserved = LANES.reduce((sum, lane) => sum + settings.reserved[lane], 0);
  if (settings.totalInFlightBudget !== null && reserved > settings.totalInFlightBudget) {
    problems.push(
      `sharedLimit: must be at least pacer's reserved slots together (${reserved}, PACER_RESERVED_*)`,
    );
  }
  return settings;
}

/**
 * pacer's budget for a provider's limit: the same rates, and the smallest burst that still lets
 * a sub-tick take what its bucket refilled since the last one (so the whole rate is usable).
 */
export function matchingBudget(limit: ProviderRateLimit, subTickSeconds: number): KeyLimit {
  const perSubTick = (rate: number | null, windowSeconds: number) =>
    rate === null ? 1 : Math.ceil((rate * subTickSeconds) / windowSeconds) + 1;
  const rates = [limit.perMinute, limit.perHour].filter((rate): rate is number => rate !== null);
  const burst = Math.min(
    Math.max(perSubTick(limit.perMinute, 60), perSubTick(limit.perHour, 3_600)),
    Math.min(...rates) - 1,
  );
  return {
    perMinute: limit.perMinute,
    perHour: limit.perHour,
    burst: Math.max(1, burst),
    concurrency: null,
  };
}

function timeDistribution(
  raw: NonNullable<RawScenario['generate']>[number]['startsAt'] & object,
): TimeDistribution {
  const roundToMs = raw.roundTo ?? null;
  switch (raw.distribution) {
    case 'uniform':
    case 'even':
      return { distribution: raw.distribution, from: raw.from, to: raw.to, roundToMs };
    case 'normal':
      return {
        distribution: 'normal',
        mean: raw.mean,
        sdMs: raw.sd,
        from: raw.from,
        to: raw.to,
        roundToMs,
      };
  }
}

function durationDistribution(raw: RawScenario['syncDuration']): DurationDistribution {
  switch (raw.distribution) {
    case 'fixed':
      return { distribution: 'fixed', valueMs: raw.value };
    case 'uniform':
      return { distribution: 'uniform', minMs: raw.min, maxMs: raw.max };
    case 'log-normal':
      return { distribution: 'log-normal', medianMs: raw.median, p99Ms: raw.p99 };
  }
}

/** Wording for zod's generic issues; field schemas word their own. */
function describeIssue(issue: z.core.$ZodRawIssue): string | undefined {
  switch (issue.code) {
    case 'invalid_type':
      return issue.input === undefined
        ? 'is required'
        : `expected ${issue.expected === 'int' ? 'a whole number' : `a ${issue.expected}`}, got ${showValue(issue.input)}`;
    case 'invalid_union':
      if (issue.discriminator !== undefined) {
        const options = (issue as { options?: readonly unknown[] }).options ?? [];
        return `is not a known ${issue.discriminator} (use ${options.map(String).join(', ')})`;
      }
      return undefined;
    case 'invalid_value':
      return `${JSON.stringify(issue.input)} is not allowed (use ${issue.values.map(String).join(', ')})`;
    case 'too_small':
      return `${JSON.stringify(issue.input)} is too small (at least ${issue.minimum})`;
    case 'too_big':
      return `${JSON.stringify(issue.input)} is too large (at most ${issue.maximum})`;
    default:
      return undefined;
  }
}

/** A bad value in a message: JSON where it has one, its type otherwise. */
function showValue(value: unknown): string {
  const json = JSON.stringify(value) as string | undefined;
  return json ?? typeof value;
}
