/**
 * Schedules as an operator hands them to the CLI: a JSON or YAML file (one schedule, a list, or
 * several YAML documents) or command-line flags. Everything here is pure: it turns text and
 * flags into documents ready to write, each validated with `validateSchedule`, or into the
 * complete list of problems, each starting with its field path.
 *
 * The document written is what the operator wrote (durations as `15m`, times as given), minus
 * `id`, which names the Firestore document instead.
 */
import { parseAllDocuments } from 'yaml';
import {
  DEPLOYED,
  validateSchedule,
  STATE_FIELD,
  type ScheduleSpec,
  type ValidationContext,
} from '../schedule/spec.js';
import { UsageError } from './errors.js';

/** A schedule ready to write: its document id, its operator fields, and what they mean. */
export interface ScheduleInput {
  id: string;
  document: Record<string, unknown>;
  spec: ScheduleSpec;
}

export type InputResult =
  { ok: true; schedules: ScheduleInput[] } | { ok: false; problems: string[] };

export type FileFormat = 'json' | 'yaml';

/** `.json` files are JSON; anything else (`.yaml`, `.yml`, stdin) is YAML, which reads JSON too. */
export function formatOf(path: string): FileFormat {
  return path.toLowerCase().endsWith('.json') ? 'json' : 'yaml';
}

/**
 * Parses a schedule file's text. A JSON file holds one value; a YAML file may hold several
 * documents (`---`), read as one list. Syntax errors are bad input, named with their position.
 */
export function parseScheduleText(text: string, format: FileFormat, source: string): unknown {
  if (format === 'json') {
    try {
      return JSON.parse(text) as unknown;
    } catch (error) {
      throw new UsageError(`${source} is not valid JSON: ${(error as SyntaxError).message}`);
    }
  }
  const documents = parseAllDocuments(text);
  if (!Array.isArray(documents)) return null; // an empty stream: no documents at all
  const errors = documents.flatMap((document) => document.errors);
  if (errors.length > 0) {
    throw new UsageError(
      `${source} is not valid YAML`,
      errors.map((error) => error.message.split('\n')[0] ?? error.message),
    );
  }
  const values = documents.map((document) => document.toJS() as unknown);
  return values.length === 1 ? values[0] : values;
}

/**
 * The schedules in a parsed file: a map is one schedule, a list is several. Each needs an `id`
 * (in the file, or `--id` for a single schedule), no `state` (pacer's own), and valid operator
 * fields. In a list, each problem's path starts with the schedule's index: `[1].cadence.every`.
 */
export function schedulesFromValue(
  value: unknown,
  options: { id?: string; validation?: ValidationContext } = {},
): InputResult {
  const validation = options.validation ?? DEPLOYED;
  if (value === null || value === undefined) {
    return { ok: false, problems: ['(document): the file holds no schedule'] };
  }
  if (!Array.isArray(value)) return collect([checkSchedule(value, options.id, '', validation)]);
  if (options.id !== undefined) {
    return { ok: false, problems: ['--id: names one schedule, but the file holds a list'] };
  }
  if (value.length === 0) return { ok: false, problems: ['(document): the list is empty'] };
  const checked = value.map((item, index) =>
    checkSchedule(item, undefined, `[${index}]`, validation),
  );
  const firstIndex = new Map<string, number>();
  const duplicates = checked.flatMap((result, index) => {
    const id = result.id;
    if (id === null) return [];
    const earlier = firstIndex.get(id);
    if (earlier === undefined) {
      firstIndex.set(id, index);
      return [];
    }
    return [`[${index}].id: "${id}" repeats [${earlier}].id`];
  });
  return collect(checked, duplicates);
}

/** Flags of `pacer schedules add` that describe a schedule, as commander hands them over. */
export interface ScheduleFlags {
  id?: string;
  name?: string;
  every?: string;
  startAt?: string;
  endAt?: string;
  cron?: string;
  timezone?: string;
  catchUpWithin?: string;
  eventStartsAt?: string;
  tier?: string[];
  otherwise?: string;
  after?: string;
  url?: string;
  method?: string;
  header?: string[];
  secretHeader?: string[];
  handler?: string;
  lane?: string;
  runner?: string;
  maxRunSeconds?: string;
  payload?: string;
  label?: string[];
  disabled?: boolean;
  pauseAfterFailures?: string;
  jitter?: string;
}

/** Which flags belong to which cadence kind or target type. */
const CADENCE_FLAGS = {
  interval: { flag: '--every', extras: ['startAt', 'endAt'] },
  cron: { flag: '--cron', extras: ['timezone', 'catchUpWithin', 'jitter'] },
  event: { flag: '--event-starts-at', extras: ['tier', 'otherwise', 'after'] },
} as const;
const TARGET_FLAGS = {
  http: { flag: '--url', extras: ['header', 'secretHeader', 'method'] },
  handler: { flag: '--handler', extras: [] },
} as const;

/**
 * A schedule from flags. Choosing the cadence kind and the target type is the flags' job
 * (exactly one of `--every`, `--cron`, `--event-starts-at`; one of `--url`, `--handler`), and a
 * mistake there is reported in flag terms; the values themselves are validated as if written in
 * a file, and reported by field path.
 */
export function scheduleFromFlags(
  flags: ScheduleFlags,
  validation: ValidationContext = DEPLOYED,
): InputResult {
  const problems: string[] = [];
  const cadenceKinds = chosen({
    interval: flags.every,
    cron: flags.cron,
    event: flags.eventStartsAt,
  });
  const targetTypes = chosen({ http: flags.url, handler: flags.handler });
  problems.push(...choiceProblems('cadence', cadenceKinds, CADENCE_FLAGS, flags));
  problems.push(...choiceProblems('target', targetTypes, TARGET_FLAGS, flags));

  const document: Record<string, unknown> = {};
  if (flags.name !== undefined) document.name = flags.name;
  if (flags.disabled === true) document.enabled = false;

  const cadenceKind = cadenceKinds.length === 1 ? cadenceKinds[0] : undefined;
  if (cadenceKind === 'interval') {
    document.cadence = defined({
      kind: 'interval',
      every: flags.every,
      startAt: flags.startAt,
      endAt: flags.endAt,
    });
  } else if (cadenceKind === 'cron') {
    document.cadence = defined({
      kind: 'cron',
      expression: flags.cron,
      timezone: flags.timezone,
      catchUpWithin: flags.catchUpWithin,
      jitter: flags.jitter,
    });
  } else if (cadenceKind === 'event') {
    const tiers = (flags.tier ?? []).map((text) => {
      const [before, every, ...rest] = text.split(':');
      if (before === undefined || every === undefined || rest.length > 0) {
        problems.push(`--tier: "${text}" is not BEFORE:EVERY (e.g. --tier 4h:1m)`);
      }
      return { before, every };
    });
    document.cadence = defined({
      kind: 'event',
      startsAt: flags.eventStartsAt,
      tiers: tiers.length > 0 ? tiers : undefined,
      otherwise: flags.otherwise,
      after: flags.after,
    });
  }

  const targetType = targetTypes.length === 1 ? targetTypes[0] : undefined;
  if (targetType === 'http') {
    const headers: Record<string, unknown> = {};
    for (const [name, value] of pairs('--header', flags.header, problems)) headers[name] = value;
    for (const [name, variable] of pairs('--secret-header', flags.secretHeader, problems)) {
      headers[name] = { secretEnv: variable };
    }
    document.target = defined({
      type: 'http',
      url: flags.url,
      method: flags.method,
      headers: Object.keys(headers).length > 0 ? headers : undefined,
    });
  } else if (targetType === 'handler') {
    document.target = { type: 'handler', name: flags.handler };
  }

  if (flags.lane !== undefined) document.lane = flags.lane;
  if (flags.runner !== undefined) document.runner = flags.runner;
  if (flags.maxRunSeconds !== undefined) {
    // A whole number becomes a number; anything else is left for validation to word.
    document.maxRunSeconds = /^\d+$/.test(flags.maxRunSeconds)
      ? Number(flags.maxRunSeconds)
      : flags.maxRunSeconds;
  }
  if (flags.pauseAfterFailures !== undefined) {
    // As with maxRunSeconds: validation words what is not a whole number in range.
    document.pauseAfterFailures = /^\d+$/.test(flags.pauseAfterFailures)
      ? Number(flags.pauseAfterFailures)
      : flags.pauseAfterFailures;
  }
  if (flags.payload !== undefined) {
    try {
      document.payload = JSON.parse(flags.payload) as unknown;
    } catch (error) {
      problems.push(`--payload: not JSON (${(error as SyntaxError).message})`);
    }
  }
  const labels = pairs('--label', flags.label, problems);
  if (labels.length > 0) document.labels = Object.fromEntries(labels);

  const checked = checkSchedule({ ...document, id: flags.id }, undefined, '', validation);
  // Without a cadence (or target) chosen, validation would only repeat that it is missing.
  const unchosen = [
    ...(cadenceKind === undefined ? ['cadence'] : []),
    ...(targetType === undefined ? ['target'] : []),
  ];
  const fieldProblems = checked.problems.filter(
    (problem) => !unchosen.some((field) => new RegExp(`^${field}[.:\\[]`).test(problem)),
  );
  if (problems.length > 0 || fieldProblems.length > 0) {
    return { ok: false, problems: [...problems, ...fieldProblems] };
  }
  return collect([checked]);
}

interface Checked {
  id: string | null;
  input: ScheduleInput | null;
  problems: string[];
}

function checkSchedule(
  value: unknown,
  idOption: string | undefined,
  prefix: string,
  context: ValidationContext,
): Checked {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    return {
      id: null,
      input: null,
      problems: [`${prefix || '(document)'}: expected a schedule (a map of fields)`],
    };
  }
  const { id: idField, [STATE_FIELD]: state, ...document } = value as Record<string, unknown>;
  const problems: string[] = [];
  const at = (path: string) => (prefix === '' ? path : `${prefix}.${path}`);

  let id: string | null = null;
  if (idOption !== undefined && idField !== undefined && idField !== idOption) {
    problems.push(
      `${at('id')}: the file says ${JSON.stringify(idField)} but --id says "${idOption}"`,
    );
  } else {
    const candidate = idOption ?? idField;
    const idProblem = checkId(candidate);
    if (idProblem === null) id = candidate as string;
    else problems.push(`${at('id')}: ${idProblem}`);
  }
  if (state !== undefined) {
    problems.push(`${at(STATE_FIELD)}: belongs to pacer and cannot be written; remove it`);
  }
  const validation = validateSchedule(document, context, id ?? undefined);
  if (!validation.ok)
    problems.push(...validation.problems.map((problem) => within(prefix, problem)));
  return {
    id,
    input:
      id !== null && validation.ok && problems.length === 0
        ? { id, document, spec: validation.spec }
        : null,
    problems,
  };
}

/** Why `id` cannot name a schedule document, or `null` if it can (Firestore's rules for ids). */
export function checkId(id: unknown): string | null {
  if (id === undefined || id === null) return 'is required (give --id, or an id in the file)';
  if (typeof id !== 'string') return `expected a string, got ${JSON.stringify(id)} (quote it)`;
  if (id === '') return 'must not be empty';
  if (id.includes('/')) return `"${id}" must not contain "/"`;
  if (id === '.' || id === '..') return `"${id}" is not allowed`;
  if (/^__.*__$/.test(id)) return `"${id}" is reserved (ids may not start and end with __)`;
  if (Buffer.byteLength(id, 'utf8') > 1_500) return 'is longer than 1500 bytes';
  return null;
}

/** A validation problem of the schedule at `prefix` (`[2]`), with its path made whole. */
function within(prefix: string, problem: string): string {
  if (prefix === '') return problem;
  if (problem.startsWith('(document)')) return `${prefix}${problem.slice('(document)'.length)}`;
  return problem.startsWith('[') ? `${prefix}${problem}` : `${prefix}.${problem}`;
}

function collect(checked: readonly Checked[], extra: readonly string[] = []): InputResult {
  const problems = [...checked.flatMap((result) => result.problems), ...extra];
  if (problems.length > 0) return { ok: false, problems };
  return { ok: true, schedules: checked.flatMap((result) => (result.input ? [result.input] : [])) };
}

function chosen<K extends string>(options: Record<K, string | undefined>): K[] {
  return (Object.keys(options) as K[]).filter((key) => options[key] !== undefined);
}

function choiceProblems<K extends string>(
  what: string,
  kinds: readonly K[],
  table: Record<K, { flag: string; extras: readonly (keyof ScheduleFlags)[] }>,
  flags: ScheduleFlags,
): string[] {
  const all = Object.values<{ flag: string }>(table).map((entry) => entry.flag);
  const [kind] = kinds;
  if (kind === undefined) return [`${what}: give one of ${all.join(', ')}`];
  if (kinds.length > 1) {
    return [`${what}: ${kinds.map((each) => table[each].flag).join(' and ')} cannot be combined`];
  }
  return (Object.keys(table) as K[])
    .filter((other) => other !== kind)
    .flatMap((other) =>
      table[other].extras
        .filter((extra) => flags[extra] !== undefined)
        .map(
          (extra) =>
            `${flagName(extra)}: only goes with ${table[other].flag}, not ${table[kind].flag}`,
        ),
    );
}

/** `catchUpWithin` → `--catch-up-within`. */
function flagName(key: string): string {
  return `--${key.replace(/[A-Z]/g, (letter) => `-${letter.toLowerCase()}`)}`;
}

/** `name=value` flags as pairs; a value without `=` is a problem. */
function pairs(
  flag: string,
  values: readonly string[] | undefined,
  problems: string[],
): [string, string][] {
  return (values ?? []).flatMap((text): [string, string][] => {
    const split = text.indexOf('=');
    if (split <= 0) {
      problems.push(`${flag}: "${text}" is not NAME=VALUE`);
      return [];
    }
    return [[text.slice(0, split), text.slice(split + 1)]];
  });
}

/** The object without its `undefined` entries, so validation never sees an unset flag. */
function defined(object: Record<string, unknown>): Record<string, unknown> {
  return Object.fromEntries(Object.entries(object).filter(([, value]) => value !== undefined));
}
