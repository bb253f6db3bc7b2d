/**
 * pacer's settings: one table of every setting with its environment variable, default and
 * validator. `loadSettings(env)` reads them once (at cold start); a bad value fails at once
 * with the variable's name. Settings marked `live` may also be overridden at run time by the
 * `pacer/config` document (the planner re-reads it every tick).
 */
import ipaddr from 'ipaddr.js';
import { z } from 'zod';
import { PacerError } from './errors.js';
import { RUN_HISTORIES, type RunHistory } from './protocol/state.js';
import { DURATION_HINT, formatDuration, parseDuration } from './schedule/duration.js';
import type { Lane, LaneThresholds } from './schedule/lane.js';
import { parseSecretBindings } from './worker/secrets.js';
import type { KeyLimit } from './ratelimit/bucket.js';
import { formatRateLimits, parseRateLimits } from './ratelimit/limits.js';
import { MAX_SHARDS } from './schedule/shard.js';

export type PerLane<T> = Record<Lane, T>;

export interface Settings {
  /** Google Cloud project (GOOGLE_CLOUD_PROJECT, or GCLOUD_PROJECT). */
  projectId: string | undefined;
  /** Most schedules dispatched per lane per sub-tick. */
  caps: PerLane<number>;
  /** Most schedules in flight (leased) per lane: the lane's worker capacity. */
  inFlightBudget: PerLane<number>;
  /** Most schedules in flight across lanes (a downstream provider's limit); null: no limit. */
  totalInFlightBudget: number | null;
  /** In-flight slots each lane keeps under the total budget, so no lane starves. */
  reserved: PerLane<number>;
  /** How long a dispatched message may wait for a worker before its schedule is due again. */
  dispatchGraceSeconds: number;
  /** How long one publish may take, retries included, before its claim is released. */
  publishTimeoutSeconds: number;
  /** A running sync's lease length; the worker renews it every third of this. */
  leaseSeconds: number;
  /** How long run history (`schedules/{id}/runs`) is kept before Firestore's TTL deletes it. */
  runHistoryDays: number;
  /** Which runs get a record in `schedules/{id}/runs`: `all`, or `failures` (see RUN_HISTORIES). */
  runHistory: RunHistory;
  /** Networks (CIDR) that http targets may resolve into although private, loopback or link-local. */
  allowTargetNetworks: string[];
  /** Secret variable → the host patterns it may be sent to (`PACER_SECRET_HOSTS`). */
  secretHosts: Record<string, string[]>;
  /** Interval thresholds for lanes: at most `high` → high, at most `medium` → medium. */
  laneThresholds: LaneThresholds;
  /** Seconds between sub-ticks within one planner invocation. */
  subTickSeconds: number;
  /** A sub-tick also claims points due this far ahead; their workers start them on time. */
  dispatchAheadSeconds: number;
  /** While due points wait for in-flight room, the planner looks again this often (0: never). */
  refillSeconds: number;
  /** Sub-ticks start while less than this has passed since the tick began; also the `alert.tick_slow` budget. */
  tickBudgetSeconds: number;
  /** A schedule's run time when it sets no `maxRunSeconds`. */
  defaultMaxRunSeconds: number;
  /** Delivery attempts before a message is dead-lettered. */
  maxAttempts: number;
  /** Long syncs (`runner: "job"`): where they run and how long their start may take. */
  jobs: {
    /** `cloud-run` (the Cloud Run Admin API) or `local` (a child process: the local stack, tests). */
    launcher: JobLauncherKind;
    /** The Cloud Run job's name. */
    name: string;
    /** The Cloud Run job's region; empty: not set (the `cloud-run` launcher then refuses). */
    region: string;
    /** The lease a hand-off takes, covering the execution's start until its first renewal. */
    startSeconds: number;
  };
  alerts: {
    /** `alert.high_deferred` when more high-lane items than this wait in one sub-tick. */
    highDeferred: number;
    /** `alert.backlog` when more items than this are due across lanes. */
    backlog: number;
  };
  log: {
    level: LogLevel;
    /** Human-readable logs (needs the dev dependency pino-pretty); never in production. */
    pretty: boolean;
  };
  /** Per provider key (a schedule's `rateLimitKey`): calls per minute and hour, and in flight. */
  rateLimits: Record<string, KeyLimit>;
  /** Planners, each planning its own shard of the schedules (functions/schedule/shard.ts). */
  shards: number;
}

export const JOB_LAUNCHERS = ['cloud-run', 'local'] as const;
export type JobLauncherKind = (typeof JOB_LAUNCHERS)[number];

export const LOG_LEVELS = ['trace', 'debug', 'info', 'warn', 'error', 'fatal', 'silent'] as const;
export type LogLevel = (typeof LOG_LEVELS)[number];

/** One setting: where it lives in {@link Settings}, its variable, its default and its check. */
export interface SettingDefinition {
  path: string;
  env: string;
  default: unknown;
  /** What a good value looks like, for errors and the README. */
  expects: string;
  /** What the setting does, for the README. */
  doc: string;
  /** May `pacer/config` override it while running? */
  live: boolean;
  parse: (raw: unknown) => { ok: true; value: unknown } | { ok: false };
  /** A value as an operator writes it (durations as `1m`). */
  show: (value: unknown) => string;
}

const showPlain = (value: unknown): string => {
  if (typeof value === 'string') return value;
  if (typeof value === 'number' || typeof value === 'boolean') return String(value);
  return JSON.stringify(value);
};

const wholeNumber = (min: number, max: number) => ({
  expects: `a whole number from ${min} to ${max}`,
  show: showPlain,
  parse: fromZod(z.coerce.number().int().min(min).max(max)),
});

/** Seconds from `min` to `max`, to the tenth (`0.5`, `2`): periods shorter than a second. */
const tenthsOfSeconds = (min: number, max: number) => ({
  expects: `a number of seconds from ${min} to ${max}, to the tenth`,
  show: showPlain,
  parse: fromZod(
    z.coerce
      .number()
      .min(min)
      .max(max)
      .refine((value) => Math.abs(value * 10 - Math.round(value * 10)) < 1e-9),
  ),
});

const durationMs = (min: string) => ({
  expects: `a duration of at least ${min} (${DURATION_HINT})`,
  show: (value: unknown) => formatDuration(value as number),
  parse: (raw: unknown) => {
    if (typeof raw !== 'string') return { ok: false } as const;
    const parsed = parseDuration(raw.trim());
    const minimum = parseDuration(min);
    return parsed.ok && minimum.ok && parsed.ms >= minimum.ms
      ? ({ ok: true, value: parsed.ms } as const)
      : ({ ok: false } as const);
  },
});

const optionalWholeNumber = (min: number, max: number) => {
  const number = wholeNumber(min, max);
  return {
    expects: `a whole number from ${min} to ${max}, or none`,
    show: (value: unknown) => (value === null ? 'none' : showPlain(value)),
    parse: (raw: unknown) =>
      raw === null || (typeof raw === 'string' && raw.trim().toLowerCase() === 'none')
        ? ({ ok: true, value: null } as const)
        : number.parse(raw),
  };
};

const cidrList = {
  expects: 'comma-separated CIDR ranges such as 127.0.0.0/8,10.0.0.0/8, or none',
  show: (value: unknown) =>
    (value as string[]).length === 0 ? 'none' : (value as string[]).join(','),
  parse: (raw: unknown) => {
    const entries = Array.isArray(raw) ? raw : typeof raw === 'string' ? raw.split(',') : null;
    if (entries === null) return { ok: false } as const;
    const ranges = entries
      .map((entry) => String(entry).trim())
      .filter((entry) => entry !== '' && entry !== 'none');
    return ranges.every((range) => ipaddr.isValidCIDR(range))
      ? ({ ok: true, value: ranges } as const)
      : ({ ok: false } as const);
  },
};

const secretBindings = {
  expects: 'NAME:host,*.domain;NAME:host — secret variables and the hosts they may go to, or none',
  show: (value: unknown) => {
    const entries = Object.entries(value as Record<string, string[]>);
    return entries.length === 0
      ? 'none'
      : entries.map(([name, hosts]) => `${name}:${hosts.join(',')}`).join(';');
  },
  parse: (raw: unknown) => {
    if (typeof raw !== 'string') return { ok: false } as const;
    const parsed = parseSecretBindings(raw);
    return parsed.ok
      ? ({ ok: true, value: Object.fromEntries(parsed.bindings) } as const)
      : ({ ok: false } as const);
  },
};

const flag = {
  expects: 'true or false',
  show: showPlain,
  parse: fromZod(z.union([z.boolean(), z.stringbool()])),
};

const text = (pattern: RegExp, expects: string) => ({
  expects,
  show: showPlain,
  parse: fromZod(z.string().regex(pattern)),
});

/** Text that may be left unset (`none`: the empty string). */
const optionalText = (pattern: RegExp, expects: string) => ({
  expects: `${expects}, or none`,
  show: (value: unknown) => (value === '' ? 'none' : showPlain(value)),
  parse: (raw: unknown) =>
    typeof raw === 'string' && raw.trim().toLowerCase() === 'none'
      ? ({ ok: true, value: '' } as const)
      : fromZod(z.string().regex(pattern))(raw),
});

const rateLimitList = {
  expects: 'KEY:perMinute=N,perHour=N,burst=N,concurrency=N;KEY2:… (any of them), or none',
  show: (value: unknown) => formatRateLimits(value as Record<string, KeyLimit>),
  parse: (raw: unknown) => {
    if (typeof raw !== 'string') return { ok: false } as const;
    const parsed = parseRateLimits(raw);
    return parsed.ok ? ({ ok: true, value: parsed.limits } as const) : ({ ok: false } as const);
  },
};

const oneOf = (values: readonly string[]) => ({
  expects: `one of ${values.join(', ')}`,
  show: showPlain,
  parse: fromZod(z.enum(values as [string, ...string[]])),
});

function fromZod(schema: z.ZodType) {
  return (raw: unknown) => {
    const result = schema.safeParse(typeof raw === 'string' ? raw.trim() : raw);
    return result.success ? ({ ok: true, value: result.data } as const) : ({ ok: false } as const);
  };
}

/** Every setting pacer reads. The README's settings table is generated from this list. */
export const SETTINGS: readonly SettingDefinition[] = [
  {
    path: 'caps.high',
    doc: 'Most high-lane schedules dispatched per sub-tick.',
    env: 'PACER_CAP_HIGH',
    default: 50,
    live: true,
    ...wholeNumber(0, 10_000),
  },
  {
    path: 'caps.medium',
    doc: 'Most medium-lane schedules dispatched per sub-tick.',
    env: 'PACER_CAP_MEDIUM',
    default: 20,
    live: true,
    ...wholeNumber(0, 10_000),
  },
  {
    path: 'caps.low',
    doc: 'Most low-lane schedules dispatched per sub-tick.',
    env: 'PACER_CAP_LOW',
    default: 10,
    live: true,
    ...wholeNumber(0, 10_000),
  },
  {
    path: 'inFlightBudget.high',
    doc: "Most high-lane schedules in flight at once: the high workers' capacity.",
    env: 'PACER_INFLIGHT_HIGH',
    default: 100,
    live: true,
    ...wholeNumber(0, 100_000),
  },
  {
    path: 'inFlightBudget.medium',
    doc: 'Most medium-lane schedules in flight at once.',
    env: 'PACER_INFLIGHT_MEDIUM',
    default: 50,
    live: true,
    ...wholeNumber(0, 100_000),
  },
  {
    path: 'inFlightBudget.low',
    doc: 'Most low-lane schedules in flight at once.',
    env: 'PACER_INFLIGHT_LOW',
    default: 20,
    live: true,
    ...wholeNumber(0, 100_000),
  },
  {
    path: 'totalInFlightBudget',
    doc: "Most schedules in flight across all lanes (a downstream provider's limit); high lane first.",
    env: 'PACER_INFLIGHT_TOTAL',
    default: null,
    live: true,
    ...optionalWholeNumber(1, 100_000),
  },
  {
    path: 'reserved.high',
    doc: 'In-flight slots the high lane keeps under the total budget when it has work.',
    env: 'PACER_RESERVED_HIGH',
    default: 1,
    live: true,
    ...wholeNumber(0, 100_000),
  },
  {
    path: 'reserved.medium',
    doc: 'In-flight slots the medium lane keeps under the total budget, so it is never starved.',
    env: 'PACER_RESERVED_MEDIUM',
    default: 1,
    live: true,
    ...wholeNumber(0, 100_000),
  },
  {
    path: 'reserved.low',
    doc: 'In-flight slots the low lane keeps under the total budget, so it is never starved.',
    env: 'PACER_RESERVED_LOW',
    default: 1,
    live: true,
    ...wholeNumber(0, 100_000),
  },
  {
    path: 'dispatchGraceSeconds',
    doc: 'How long a dispatched message may wait for a worker before its schedule is due again.',
    env: 'PACER_DISPATCH_GRACE_SECONDS',
    default: 120,
    live: false,
    ...wholeNumber(10, 3_600),
  },
  {
    path: 'publishTimeoutSeconds',
    doc: 'How long publishing one dispatch may take, retries included, before its claim is released.',
    env: 'PACER_PUBLISH_TIMEOUT_SECONDS',
    default: 10,
    live: false,
    ...wholeNumber(1, 120),
  },
  {
    path: 'leaseSeconds',
    doc: 'Lease length of a running sync; the worker renews it every third of this, so a sync may run longer.',
    env: 'PACER_LEASE_SECONDS',
    default: 60,
    live: false,
    ...wholeNumber(3, 600),
  },
  {
    path: 'runHistoryDays',
    doc: "Days run history (`schedules/{id}/runs`) is kept before Firestore's TTL policy deletes it.",
    env: 'PACER_RUN_HISTORY_DAYS',
    default: 30,
    live: false,
    ...wholeNumber(1, 3_650),
  },
  {
    path: 'runHistory',
    doc: "Which runs get a record in `schedules/{id}/runs`: `all`, or `failures` — a planned run that succeeds at its first attempt then gets none (it is in the logs, `sync.completed`, and the schedule's `last*` fields), so a sync costs 3 writes instead of 5; a backfill then refuses a window its schedule's history has gaps in (`state.unrecordedFrom` to `state.unrecordedUntil`).",
    env: 'PACER_RUN_HISTORY',
    default: 'all',
    live: true,
    ...oneOf(RUN_HISTORIES),
  },
  {
    path: 'allowTargetNetworks',
    doc: 'Networks http targets may resolve into although private, loopback, link-local or outside public IPv6 (refused otherwise). Metadata addresses are refused whatever this says.',
    env: 'PACER_ALLOW_TARGET_NETWORKS',
    default: [],
    live: false,
    ...cidrList,
  },
  {
    path: 'secretHosts',
    doc: 'Binds secrets to the hosts they may be sent to (`*.example.com` for subdomains): a schedule that sends a bound secret elsewhere is invalid, and workers refuse to send it. An unbound secret may go anywhere.',
    env: 'PACER_SECRET_HOSTS',
    default: {},
    live: false,
    ...secretBindings,
  },
  {
    path: 'laneThresholds.highMaxIntervalMs',
    doc: 'A schedule whose interval in force is at most this goes in the high lane.',
    env: 'PACER_LANE_HIGH_MAX_INTERVAL',
    default: 60_000,
    live: false,
    ...durationMs('10s'),
  },
  {
    path: 'laneThresholds.mediumMaxIntervalMs',
    doc: 'At most this (and above the high threshold): medium lane; longer: low.',
    env: 'PACER_LANE_MEDIUM_MAX_INTERVAL',
    default: 300_000,
    live: false,
    ...durationMs('10s'),
  },
  {
    path: 'subTickSeconds',
    doc: 'Seconds between sub-ticks within one planner invocation.',
    env: 'PACER_SUBTICK_SECONDS',
    default: 10,
    live: true,
    ...wholeNumber(1, 60),
  },
  {
    path: 'dispatchAheadSeconds',
    doc: 'A sub-tick also claims points due within this many seconds (before the next sub-tick, at the defaults) and publishes them at once; the worker starts each at its point, never before. 0: only points already due.',
    env: 'PACER_DISPATCH_AHEAD_SECONDS',
    default: 10,
    live: true,
    ...wholeNumber(0, 30),
  },
  {
    path: 'refillSeconds',
    doc: 'While points already due wait for in-flight room (a lane budget or the total), the planner runs a refill sub-tick this often between sub-ticks, so a slot a finished sync frees is taken within about this long (a refill that finds no room in flight reads no more than the in-flight counts). 0: only at sub-ticks.',
    env: 'PACER_REFILL_SECONDS',
    default: 0.5,
    live: true,
    ...tenthsOfSeconds(0, 60),
  },
  {
    path: 'tickBudgetSeconds',
    doc: 'Sub-ticks start while less than this has passed since the tick began (at the defaults: :00 to :50, so a due schedule waits at most one sub-tick); a tick running more than one sub-tick past it raises `alert.tick_slow`. Not live: the planner’s timeout and lease follow it.',
    env: 'PACER_TICK_BUDGET_SECONDS',
    default: 55,
    live: false,
    ...wholeNumber(1, 3_000),
  },
  {
    path: 'defaultMaxRunSeconds',
    doc: 'Run time of a sync whose schedule sets no `maxRunSeconds`.',
    env: 'PACER_DEFAULT_MAX_RUN_SECONDS',
    default: 300,
    live: false,
    ...wholeNumber(1, 540),
  },
  {
    path: 'maxAttempts',
    doc: 'Delivery attempts before a message is dead-lettered.',
    env: 'PACER_MAX_ATTEMPTS',
    default: 5,
    live: false,
    ...wholeNumber(1, 100),
  },
  {
    path: 'jobs.launcher',
    doc: 'How a `runner: "job"` sync is started: `cloud-run` (an execution of the Cloud Run job, through the Cloud Run Admin API) or `local` (a child process of the worker, as the local stack and the tests run it).',
    env: 'PACER_JOB_LAUNCHER',
    default: 'cloud-run',
    live: false,
    ...oneOf(JOB_LAUNCHERS),
  },
  {
    path: 'jobs.name',
    doc: 'The Cloud Run job that runs `runner: "job"` syncs (created by `infra/deploy.sh`).',
    env: 'PACER_JOB_NAME',
    default: 'pacer-long-sync',
    live: false,
    ...text(
      /^[a-z]([a-z0-9-]{0,47}[a-z0-9])?$/,
      'a Cloud Run job name (lowercase letters, digits and -, at most 49)',
    ),
  },
  {
    path: 'jobs.region',
    doc: 'The Cloud Run job\'s region, needed to start `runner: "job"` syncs on Cloud Run; `infra/deploy.sh` sets it to the deploy\'s region.',
    env: 'PACER_JOB_REGION',
    default: '',
    live: false,
    ...optionalText(/^[a-z]+-[a-z]+[0-9]+$/, 'a Google Cloud region such as europe-west1'),
  },
  {
    path: 'jobs.startSeconds',
    doc: 'The lease a worker takes when it hands a `runner: "job"` sync to a job execution: long enough for the execution to start and renew it. If it does not, the lease lapses and the planner dispatches again.',
    env: 'PACER_JOB_START_SECONDS',
    default: 300,
    live: false,
    ...wholeNumber(10, 3_600),
  },
  {
    path: 'alerts.highDeferred',
    doc: '`alert.high_deferred` when more high-lane schedules than this wait in one sub-tick.',
    env: 'PACER_ALERT_HIGH_DEFERRED',
    default: 10,
    live: true,
    ...wholeNumber(0, 1_000_000),
  },
  {
    path: 'alerts.backlog',
    doc: '`alert.backlog` when more schedules than this are due across lanes.',
    env: 'PACER_ALERT_BACKLOG',
    default: 1_000,
    live: true,
    ...wholeNumber(0, 100_000_000),
  },
  {
    path: 'log.level',
    doc: 'Log level.',
    env: 'PACER_LOG_LEVEL',
    default: 'info',
    live: false,
    ...oneOf(LOG_LEVELS),
  },
  {
    path: 'log.pretty',
    doc: 'Human-readable logs for a terminal (needs the dev dependency pino-pretty).',
    env: 'PACER_LOG_PRETTY',
    default: false,
    live: false,
    ...flag,
  },
  {
    path: 'rateLimits',
    doc: "Per provider key (a schedule's `rateLimitKey`): calls per minute and hour (token buckets: no sliding minute or hour sees more) and in flight; high lane first. See docs/schedules.md.",
    env: 'PACER_RATE_LIMITS',
    default: {},
    live: true,
    ...rateLimitList,
  },
  {
    path: 'shards',
    doc: 'Planners, each planning its own shard of the schedules, one tick job each; in-flight budgets are split between them, caps are per planner. Raise it from 1 only after `pacer schedules reconcile --all`. See docs/performance.md, “Scaling”. Not live.',
    env: 'PACER_SHARDS',
    default: 1,
    live: false,
    ...wholeNumber(1, MAX_SHARDS),
  },
];

export type Env = Readonly<Record<string, string | undefined>>;

/**
 * Reads every setting from `env` (normally `process.env`), with defaults for what is unset or
 * empty. Throws a {@link PacerError} `invalid_config` naming each bad variable.
 */
export function loadSettings(env: Env): Settings {
  const settings = defaultSettings();
  const problems: string[] = [];
  for (const definition of SETTINGS) {
    const raw = env[definition.env];
    if (raw === undefined || raw.trim() === '') continue;
    const parsed = definition.parse(raw);
    if (parsed.ok) setPath(settings, definition.path, parsed.value);
    else
      problems.push(
        `${definition.env}: expected ${definition.expects}, got ${JSON.stringify(raw)}`,
      );
  }
  problems.push(...crossCheck(settings, (definition) => definition.env));
  if (problems.length > 0) {
    throw new PacerError('invalid_config', `invalid settings:\n  ${problems.join('\n  ')}`, {
      problems,
    });
  }
  settings.projectId = nonEmpty(env.GOOGLE_CLOUD_PROJECT) ?? nonEmpty(env.GCLOUD_PROJECT);
  return settings;
}

/**
 * Applies live overrides (the `pacer/config` document) on top of `base`. Only `live` settings
 * may be overridden, under their path (`{ caps: { high: 80 } }`). Returns the new settings or
 * the list of problems; the caller keeps its last good settings when there are problems.
 */
export function applyOverrides(
  base: Settings,
  overrides: unknown,
): { ok: true; settings: Settings } | { ok: false; problems: string[] } {
  if (typeof overrides !== 'object' || overrides === null || Array.isArray(overrides)) {
    return { ok: false, problems: ['(document): expected a map of settings'] };
  }
  const settings = structuredClone(base);
  const problems: string[] = [];
  const known = new Set<string>();
  for (const definition of SETTINGS) {
    const raw = getPath(overrides, definition.path);
    if (raw === undefined) continue;
    known.add(definition.path);
    if (!definition.live) {
      problems.push(`${definition.path}: cannot be changed live; set ${definition.env} instead`);
      continue;
    }
    const parsed = definition.parse(raw);
    if (parsed.ok) setPath(settings, definition.path, parsed.value);
    else
      problems.push(
        `${definition.path}: expected ${definition.expects}, got ${JSON.stringify(raw)}`,
      );
  }
  for (const path of leafPaths(overrides)) {
    if (!known.has(path)) problems.push(`${path}: unknown setting`);
  }
  problems.push(...crossCheck(settings, (definition) => definition.path));
  return problems.length > 0 ? { ok: false, problems } : { ok: true, settings };
}

/** The settings with every default, before the environment is read. */
export function defaultSettings(): Settings {
  const settings = { projectId: undefined } as unknown as Settings;
  for (const definition of SETTINGS) setPath(settings, definition.path, definition.default);
  return settings;
}

function crossCheck(settings: Settings, name: (definition: SettingDefinition) => string): string[] {
  const problems: string[] = [];
  const named = (path: string) => {
    const definition = SETTINGS.find((candidate) => candidate.path === path);
    if (definition === undefined) throw new Error(`no setting at ${path}`);
    return name(definition);
  };
  if (settings.laneThresholds.mediumMaxIntervalMs < settings.laneThresholds.highMaxIntervalMs) {
    problems.push(
      `${named('laneThresholds.mediumMaxIntervalMs')}: must not be shorter than ${named('laneThresholds.highMaxIntervalMs')}`,
    );
  }
  const reservedTotal = settings.reserved.high + settings.reserved.medium + settings.reserved.low;
  if (settings.totalInFlightBudget !== null && reservedTotal > settings.totalInFlightBudget) {
    problems.push(
      `${named('totalInFlightBudget')}: must be at least the reserved slots together (${reservedTotal})`,
    );
  }
  for (const path of ['inFlightBudget.high', 'inFlightBudget.medium', 'inFlightBudget.low']) {
    const budget = getPath(settings, path) as number;
    if (settings.shards > 1 && budget > 0 && budget < settings.shards) {
      // A shard whose share is 0 could never dispatch its schedules of that lane.
      problems.push(`${named('shards')}: must not exceed ${named(path)} (${budget})`);
    }
  }
  if (settings.subTickSeconds > settings.tickBudgetSeconds) {
    problems.push(`${named('subTickSeconds')}: must not exceed ${named('tickBudgetSeconds')}`);
  }
  return problems;
}

function nonEmpty(value: string | undefined): string | undefined {
  return value === undefined || value.trim() === '' ? undefined : value.trim();
}

function getPath(object: unknown, path: string): unknown {
  let current: unknown = object;
  for (const key of path.split('.')) {
    if (typeof current !== 'object' || current === null) return undefined;
    current = (current as Record<string, unknown>)[key];
  }
  return current;
}

function setPath(object: object, path: string, value: unknown): void {
  const keys = path.split('.');
  const last = keys.pop() ?? path;
  let current = object as Record<string, unknown>;
  for (const key of keys) {
    current[key] ??= {};
    current = current[key] as Record<string, unknown>;
  }
  current[last] = value;
}

function leafPaths(object: object, prefix = ''): string[] {
  return Object.entries(object as Record<string, unknown>).flatMap(([key, value]) =>
    typeof value === 'object' && value !== null && !Array.isArray(value)
      ? leafPaths(value, `${prefix}${key}.`)
      : [`${prefix}${key}`],
  );
}
