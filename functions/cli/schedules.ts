/**
 * `pacer schedules …`: add, list, show, pause, resume, delete and reconcile schedules. Each
 * operation takes a {@link CliContext} and returns plain data (what `--json` prints); the
 * renderers beside them turn that data into text for a terminal.
 *
 * Every write is followed by `reconcileSchedule`, the one place that turns operator fields into
 * pacer's `state`, so a schedule is planned at once even where the reconciler function (the
 * Firestore trigger) is not deployed.
 */
import type { DocumentData, DocumentReference, DocumentSnapshot } from '@google-cloud/firestore';
import { errorMessage } from '../errors.js';
import { reconcileSchedule, type ReconcileOutcome } from '../reconciler/reconcile.js';
import { validateSchedule, validationFor, STATE_FIELD } from '../schedule/spec.js';
import type { Lane } from '../schedule/lane.js';
import {
  scheduleListQuery,
  schedulesByIdQuery,
  scheduleStatesByIdQuery,
  type ScheduleFilter,
} from '../store/queries.js';
import { readState, SCHEDULE_STATES, SCHEDULES } from '../store/state.js';
import { joinOperators, readSchedules } from './schedule-read.js';
import type { CliContext } from './context.js';
import { describeCadence, describeTarget } from './describe.js';
import { OperationError } from './errors.js';
import {
  NONE,
  formatTime,
  formatTimeFrom,
  plural,
  renderFields,
  renderTable,
  type Column,
} from './output.js';
import { isoOrNull, plain } from './plain.js';
import type { ScheduleInput } from './schedule-input.js';
import { describePause, pauseView, type PauseView } from './pause-note.js';
import {
  DEFAULT_UPCOMING,
  renderUpcoming,
  upcomingJson,
  upcomingRuns,
  type UpcomingJson,
} from './upcoming.js';
import { notePause, resumeFields } from '../protocol/pause.js';
import { stateUpdate } from '../store/state.js';

/** One schedule as `list` and the write commands show it. */
export interface ScheduleRow {
  id: string;
  name: string | null;
  enabled: boolean;
  status: string | null;
  lane: Lane | null;
  nextDueAt: string | null;
  /** The lease's id while a run is dispatched or running. */
  inFlight: string | null;
  lastSuccessAt: string | null;
  health: string | null;
  /** Why it is invalid (`status: invalid`). */
  error: string | null;
  /** Who paused it, when and why (`null`: not paused, or paused by hand in the document). */
  pause: PauseView | null;
}

/** A schedule document as a {@link ScheduleRow}. */
export function scheduleRow(id: string, data: DocumentData, now: number): ScheduleRow {
  const state = readState(data);
  return {
    id,
    name: typeof data.name === 'string' ? data.name : null,
    enabled: data.enabled !== false,
    status: state.status,
    lane: state.lane,
    nextDueAt: isoOrNull(state.nextDueAt),
    inFlight: state.lease !== null && state.lease.until > now ? state.lease.id : null,
    lastSuccessAt: isoOrNull(state.lastSuccessAt),
    health: state.health,
    error: state.error,
    pause: pauseView(state.pause),
  };
}

// ---------------------------------------------------------------------------------------------
// add

export interface AddResult {
  schedules: (ScheduleRow & { action: 'created' | 'replaced' })[];
}

/**
 * Writes validated schedules and reconciles each. An id that exists already is refused (and
 * nothing is written) unless `replace` is set; replacing swaps the operator fields and keeps
 * pacer's `state`, so a run in flight keeps its lease and the history of runs stays.
 */
export async function addSchedules(
  context: CliContext,
  inputs: readonly ScheduleInput[],
  options: { replace: boolean },
): Promise<AddResult> {
  const { db } = context;
  const refs = inputs.map((input) => db.collection(SCHEDULES).doc(input.id));
  const existing = new Set(
    (await getAll(context, refs)).filter((snapshot) => snapshot.exists).map((s) => s.id),
  );
  if (existing.size > 0 && !options.replace) {
    throw new OperationError(
      `${plural(existing.size, 'schedule')} already ${existing.size === 1 ? 'exists' : 'exist'}; nothing was written (use --replace to replace the fields and keep the state)`,
      [...existing],
    );
  }

  const fresh = inputs.filter((input) => !existing.has(input.id));
  // A batch is all or nothing, so a clash with a schedule created meanwhile writes nothing.
  for (let start = 0; start < fresh.length; start += BATCH_LIMIT) {
    const batch = db.batch();
    for (const input of fresh.slice(start, start + BATCH_LIMIT)) {
      batch.create(db.collection(SCHEDULES).doc(input.id), input.document);
    }
    await batch.commit();
  }
  for (const input of inputs.filter((candidate) => existing.has(candidate.id))) {
    const ref = db.collection(SCHEDULES).doc(input.id);
    await db.runTransaction(async (transaction) => {
      const snapshot = await transaction.get(ref);
      const state = snapshot.get(STATE_FIELD) as unknown;
      transaction.set(ref, { ...input.document, ...(state === undefined ? {} : { state }) });
    });
  }

  await reconcileEach(
    context,
    inputs.map((input) => input.id),
  );
  const rows = await readRows(context, refs);
  return {
    schedules: rows.map((row) => ({
      ...row,
      action: existing.has(row.id) ? ('replaced' as const) : ('created' as const),
    })),
  };
}

/** Firestore commits at most 500 writes at once. */
const BATCH_LIMIT = 500;

export function renderAdded(result: AddResult, now: number): string {
  return renderTable(
    [
      { header: 'ID', value: (row) => row.id },
      { header: 'ACTION', value: (row) => row.action },
      ...stateColumns(now),
    ],
    result.schedules,
  );
}

// ---------------------------------------------------------------------------------------------
// list

export interface ListResult {
  schedules: ScheduleRow[];
  /** Whether more schedules match than `--limit` let through. */
  more: boolean;
}

/** Schedules matching `filter`, in id order, at most `limit`. */
export async function listSchedules(
  context: CliContext,
  filter: ScheduleFilter,
  limit: number,
): Promise<ListResult> {
  const now = context.clock();
  const filtered =
    filter.status !== undefined || filter.lane !== undefined || filter.failing === true;
  // One more than asked for tells whether there are more.
  if (!filtered) {
    // Every schedule the operator wrote, reconciled or not, each joined with pacer's state.
    const snapshot = await schedulesByIdQuery(context.db)
      .select()
      .limit(limit + 1)
      .get();
    const ids = snapshot.docs.slice(0, limit).map((doc) => doc.id);
    const rows = (await readSchedules(context.db, ids)).flatMap(({ id, data }) =>
      data === null ? [] : [scheduleRow(id, data, now)],
    );
    return { schedules: rows, more: snapshot.size > limit };
  }
  // A filter on pacer's state queries pacer's documents, joined with the operators' by id.
  const snapshot = await scheduleListQuery(context.db, filter)
    .limit(limit + 1)
    .get();
  const joined = await joinOperators(context.db, snapshot.docs.slice(0, limit));
  const rows = joined.flatMap(({ id, data }) =>
    // A schedule the operator deleted (not yet reconciled) is not listed.
    data === null ? [] : [scheduleRow(id, data, now)],
  );
  return { schedules: rows, more: snapshot.size > limit };
}

export function renderList(result: ListResult, now: number): string {
  if (result.schedules.length === 0) return 'no schedules match';
  return renderTable(
    [
      { header: 'ID', value: (row) => row.id },
      // The id stands in for a schedule without a name.
      { header: 'NAME', value: (row) => row.name ?? row.id, maxWidth: 40 },
      ...stateColumns(now),
      { header: 'LAST SUCCESS', value: (row) => formatTime(row.lastSuccessAt) },
      { header: 'HEALTH', value: (row) => row.health ?? NONE },
      // Only when a schedule shown has a pause note, so other listings keep their width.
      ...(result.schedules.some((row) => row.pause !== null)
        ? [
            {
              header: 'PAUSED',
              value: (row: ScheduleRow) =>
                row.pause === null ? NONE : describePause(row.pause, now),
              maxWidth: 100,
            },
          ]
        : []),
    ],
    result.schedules,
  );
}

/** Status (with in flight), lane and next due: what every schedule table shows. */
function stateColumns(now: number): Column<ScheduleRow>[] {
  return [
    {
      header: 'STATUS',
      value: (row) => `${row.status ?? 'unplanned'}${row.inFlight === null ? '' : ' (in flight)'}`,
    },
    { header: 'LANE', value: (row) => row.lane ?? NONE },
    { header: 'NEXT DUE', value: (row) => formatTimeFrom(row.nextDueAt, now) },
  ];
}

// ---------------------------------------------------------------------------------------------
// show

export interface ShowResult {
  id: string;
  /** The operator fields as stored (times as ISO-8601). */
  fields: Record<string, unknown>;
  /** pacer's `state` map as stored, or `null` if it has none yet. */
  state: Record<string, unknown> | null;
  valid: boolean;
  /** Why the fields do not validate, one per line with its path. */
  problems: string[];
  cadence: string | null;
  target: string | null;
  /** Who paused it, when and why (`null`: not paused, or paused by hand in the document). */
  pause: PauseView | null;
  /** The next due points, each with the lane and rule in force at it (none when not planned). */
  upcoming: UpcomingJson[];
}

export async function showSchedule(
  context: CliContext,
  id: string,
  options: { upcoming?: number } = {},
): Promise<ShowResult> {
  const [read] = await readSchedules(context.db, [id]);
  const data = read?.data ?? null;
  if (data === null) throw new OperationError(`no schedule "${id}"`);
  const { [STATE_FIELD]: state, ...fields } = data;
  const validation = validateSchedule(data, validationFor(context.settings), id);
  const planned = readState(data);
  const upcoming = validation.ok
    ? upcomingRuns(
        validation.spec,
        planned,
        context.clock(),
        context.settings.laneThresholds,
        options.upcoming ?? DEFAULT_UPCOMING,
      )
    : [];
  return {
    id,
    fields: plain(fields) as Record<string, unknown>,
    state: state === undefined || state === null ? null : (plain(state) as Record<string, unknown>),
    valid: validation.ok,
    problems: validation.ok ? [] : validation.problems,
    cadence: validation.ok ? describeCadence(validation.spec.cadence) : null,
    target: validation.ok ? describeTarget(validation.spec.target) : null,
    pause: pauseView(planned.pause),
    upcoming: upcoming.map(upcomingJson),
  };
}

export function renderShow(result: ShowResult, now: number): string {
  const lines = [
    renderFields([
      ['id', result.id],
      ['cadence', result.cadence],
      ['target', result.target],
      ['valid', result.valid ? 'yes' : 'no'],
      ['paused', result.pause === null ? null : describePause(result.pause, now)],
    ]),
  ];
  if (!result.valid) lines.push('', 'problems:', ...result.problems.map((p) => `  ${p}`));
  if (result.valid) lines.push('', renderUpcoming(result.upcoming, now));
  lines.push('', 'fields:', indentBlock(yamlish(result.fields)));
  lines.push(
    '',
    'state:',
    result.state === null ? '  (none yet)' : indentBlock(yamlish(result.state)),
  );
  return lines.join('\n');
}

/** A nested value as indented `key: value` lines, keys sorted, scalars as JSON. */
function yamlish(value: Record<string, unknown>): string {
  return Object.entries(value)
    .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
    .map(([key, item]) =>
      typeof item === 'object' &&
      item !== null &&
      !Array.isArray(item) &&
      Object.keys(item).length > 0
        ? `${key}:\n${indentBlock(yamlish(item as Record<string, unknown>))}`
        : `${key}: ${JSON.stringify(item)}`,
    )
    .join('\n');
}

function indentBlock(text: string): string {
  return text
    .split('\n')
    .map((line) => `  ${line}`)
    .join('\n');
}

// ---------------------------------------------------------------------------------------------
// pause, resume

/**
 * Sets `enabled` and reconciles: pausing takes the schedule out of planning, resuming puts it
 * back. A pause leaves a note of who paused it, when (the CLI's clock) and why (`note`); a resume
 * clears the note, and with it a pause pacer made after failures (`pauseAfterFailures`), and
 * starts the count of dead letters in a row again. `enabled` and the note are one write.
 */
export async function setEnabled(
  context: CliContext,
  id: string,
  enabled: boolean,
  note: { by: string; reason: string | null } = { by: 'unknown', reason: null },
): Promise<ScheduleRow> {
  const ref = context.db.collection(SCHEDULES).doc(id);
  const stateRef = context.db.collection(SCHEDULE_STATES).doc(id);
  const validation = validationFor(context.settings);
  await context.db.runTransaction(async (transaction) => {
    const [snapshot, stateSnapshot] = await transaction.getAll(ref, stateRef);
    if (snapshot === undefined) throw new Error('getAll lost a read');
    const fields = existingData(snapshot, id);
    // The note goes to pacer's document (its state); `enabled` to the operator's.
    const data =
      stateSnapshot?.exists === true
        ? { ...fields, state: stateSnapshot.get('state') as unknown }
        : fields;
    const state = readState(data);
    const patch = enabled
      ? { state: resumeFields(state) }
      : notePause(
          { id, data, state, validation: validateSchedule(data, validation, id) },
          note,
          context.clock(),
        ).patch;
    transaction.update(ref, { enabled });
    if (patch !== null && stateSnapshot?.exists === true) {
      transaction.update(stateRef, stateUpdate(patch));
    }
  });
  await reconcileEach(context, [id]);
  const [row] = await readRows(context, [ref]);
  if (row === undefined) throw new OperationError(`schedule "${id}" was deleted meanwhile`);
  return row;
}

export function renderRow(row: ScheduleRow, now: number): string {
  return renderFields([
    ['id', row.id],
    [
      'status',
      `${row.status ?? 'unplanned'}${row.inFlight === null ? '' : ` (in flight, lease ${row.inFlight})`}`,
    ],
    ['lane', row.lane ?? NONE],
    ['next due', formatTimeFrom(row.nextDueAt, now)],
    ['paused', row.pause === null ? null : describePause(row.pause, now)],
    ['error', row.error],
  ]);
}

// ---------------------------------------------------------------------------------------------
// delete

export interface DeleteResult {
  id: string;
  deleted: true;
  /** The lease of a run that was in flight: its worker will find the schedule gone and stop. */
  inFlight: string | null;
}

/** Deletes a schedule and its run history (`runs`). */
export async function deleteSchedule(context: CliContext, id: string): Promise<DeleteResult> {
  const ref = context.db.collection(SCHEDULES).doc(id);
  const [read] = await readSchedules(context.db, [id]);
  const data = read?.data ?? null;
  if (data === null) throw new OperationError(`no schedule "${id}"`);
  const row = scheduleRow(id, data, context.clock());
  await context.db.recursiveDelete(ref);
  // Reconciling deletes pacer's document at once (the trigger would, a moment later).
  await reconcileSchedule(context.store, id, reconcileOptions(context));
  return { id, deleted: true, inFlight: row.inFlight };
}

export function renderDeleted(result: DeleteResult): string {
  return result.inFlight === null
    ? `deleted ${result.id} and its run history`
    : `deleted ${result.id} and its run history; the run in flight (lease ${result.inFlight}) will find it gone and stop`;
}

// ---------------------------------------------------------------------------------------------
// reconcile

export interface ReconcileOneResult {
  id: string;
  outcome: ReconcileOutcome['kind'];
  problems: string[];
  schedule: ScheduleRow;
}

export async function reconcileOne(context: CliContext, id: string): Promise<ReconcileOneResult> {
  const outcome = await reconcileSchedule(context.store, id, reconcileOptions(context));
  if (outcome.kind === 'missing') throw new OperationError(`no schedule "${id}"`);
  const [row] = await readRows(context, [context.db.collection(SCHEDULES).doc(id)]);
  if (row === undefined) throw new OperationError(`schedule "${id}" was deleted meanwhile`);
  return {
    id,
    outcome: outcome.kind,
    problems: outcome.kind === 'invalid' ? outcome.problems : [],
    schedule: row,
  };
}

export function renderReconciledOne(result: ReconcileOneResult, now: number): string {
  const text = `${result.id}: ${result.outcome}\n${renderRow(result.schedule, now)}`;
  return result.problems.length === 0
    ? text
    : `${text}\nproblems:\n${result.problems.map((p) => `  ${p}`).join('\n')}`;
}

/** Outcome counts of `reconcile --all`, with the schedules that need an operator. */
export interface ReconcileAllResult {
  scanned: number;
  outcomes: Record<ReconcileOutcome['kind'], number>;
  /**
   * Schedules this run found invalid, with why (one already marked invalid is `unchanged`;
   * `pacer schedules list --status invalid` lists them all).
   */
  invalid: { id: string; problems: string[] }[];
  /** Schedules whose reconcile failed (a Firestore error), with the error. */
  failed: { id: string; error: string }[];
}

type Attempt =
  | { kind: 'reconciled'; id: string; outcome: ReconcileOutcome }
  | { kind: 'failed'; id: string; error: string };

/** Schedule ids read per page by `reconcile --all`. */
export const RECONCILE_PAGE_SIZE = 200;
/** Schedules reconciled at once within a page. */
const RECONCILE_CONCURRENCY = 8;
/** After this many failures in a row, the cause is not one schedule: stop. */
const MAX_FAILURES_IN_A_ROW = 10;

/**
 * Reconciles every schedule, paging through them by document id (ids only, `pageSize` per
 * page), so a bulk import written while the reconciler was not deployed gets its `state`. A
 * schedule whose reconcile fails is reported and the others go on; ten failures in a row stop
 * the run, since their cause is then not one schedule.
 */
export async function reconcileAll(
  context: CliContext,
  pageSize = RECONCILE_PAGE_SIZE,
): Promise<ReconcileAllResult> {
  const result: ReconcileAllResult = {
    scanned: 0,
    outcomes: {
      scheduled: 0,
      unchanged: 0,
      in_flight: 0,
      paused: 0,
      finished: 0,
      invalid: 0,
      missing: 0,
    },
    invalid: [],
    failed: [],
  };
  let failuresInARow = 0;
  // The operators' schedules first; then pacer's documents whose operator's document is gone
  // (deleted while no trigger ran): reconciling deletes them.
  for (const pass of ['schedules', 'orphans'] as const) {
    let after: string | null = null;
    for (;;) {
      let page = (
        pass === 'schedules' ? schedulesByIdQuery(context.db) : scheduleStatesByIdQuery(context.db)
      )
        .select()
        .limit(pageSize);
      if (after !== null) page = page.startAfter(after);
      const snapshot = await page.get();
      const found = snapshot.docs.map((doc) => doc.id);
      if (found.length === 0) break;
      const ids = pass === 'schedules' ? found : await withoutOperator(context, found);
      const outcomes = await mapLimit(ids, RECONCILE_CONCURRENCY, async (id): Promise<Attempt> => {
        try {
          const outcome = await reconcileSchedule(context.store, id, reconcileOptions(context));
          return { kind: 'reconciled', id, outcome };
        } catch (error) {
          // One schedule's failure is reported with its id; the run goes on with the rest.
          return { kind: 'failed', id, error: errorMessage(error) };
        }
      });
      for (const item of outcomes) {
        result.scanned += 1;
        if (item.kind === 'failed') {
          result.failed.push({ id: item.id, error: item.error });
          failuresInARow += 1;
          continue;
        }
        failuresInARow = 0;
        result.outcomes[item.outcome.kind] += 1;
        if (item.outcome.kind === 'invalid') {
          result.invalid.push({ id: item.id, problems: item.outcome.problems });
        }
      }
      if (failuresInARow >= MAX_FAILURES_IN_A_ROW) {
        const last = result.failed.at(-1);
        throw new OperationError(
          `stopped after ${failuresInARow} failures in a row (${result.scanned} schedules scanned): ${last?.error ?? ''}`,
        );
      }
      context.out.note(`reconciled ${result.scanned} schedules…`);
      after = found.at(-1) ?? null;
      if (found.length < pageSize) break;
    }
  }
  return result;
}

/** The ids among `ids` whose operator's document does not exist (one `getAll`, no fields). */
async function withoutOperator(context: CliContext, ids: readonly string[]): Promise<string[]> {
  const refs = ids.map((id) => context.db.collection(SCHEDULES).doc(id));
  const snapshots = await context.db.getAll(...refs, { fieldMask: [] });
  return snapshots.filter((snapshot) => !snapshot.exists).map((snapshot) => snapshot.id);
}

export function renderReconciledAll(result: ReconcileAllResult): string {
  const counts = renderTable(
    [
      { header: 'OUTCOME', value: ([kind]: [string, number]) => kind },
      { header: 'SCHEDULES', value: ([, count]) => String(count), align: 'right' },
    ],
    [...Object.entries(result.outcomes), ['failed', result.failed.length] as [string, number]],
  );
  const lines = [`scanned ${plural(result.scanned, 'schedule')}`, counts];
  if (result.invalid.length > 0) {
    lines.push('', 'found invalid:');
    for (const { id, problems } of result.invalid) {
      lines.push(`  ${id}`, ...problems.map((problem) => `    ${problem}`));
    }
  }
  if (result.failed.length > 0) {
    lines.push('', 'failed:', ...result.failed.map(({ id, error }) => `  ${id}: ${error}`));
  }
  return lines.join('\n');
}

// ---------------------------------------------------------------------------------------------
// Shared.

/** Reconciling decides at Firestore's time (a transaction's read time), never the CLI's clock. */
function reconcileOptions(context: CliContext) {
  return { thresholds: context.settings.laneThresholds, shards: context.settings.shards };
}

async function reconcileEach(context: CliContext, ids: readonly string[]): Promise<void> {
  await mapLimit(ids, RECONCILE_CONCURRENCY, (id) =>
    reconcileSchedule(context.store, id, reconcileOptions(context)),
  );
}

async function getAll(
  context: CliContext,
  refs: readonly DocumentReference[],
): Promise<DocumentSnapshot[]> {
  return refs.length === 0 ? [] : context.db.getAll(...refs);
}

/** The rows of the schedules that exist, in the order of `refs`. */
async function readRows(
  context: CliContext,
  refs: readonly DocumentReference[],
): Promise<ScheduleRow[]> {
  const now = context.clock();
  const reads = await readSchedules(
    context.db,
    refs.map((ref) => ref.id),
  );
  return reads.flatMap(({ id, data }) => (data === null ? [] : [scheduleRow(id, data, now)]));
}

/** The document's data, or an operation failure naming the schedule that does not exist. */
export function existingData(snapshot: DocumentSnapshot, id: string): DocumentData {
  const data = snapshot.data();
  if (!snapshot.exists || data === undefined) throw new OperationError(`no schedule "${id}"`);
  return data;
}

/** Runs `work` over `items`, at most `limit` at a time, results in the order of `items`. */
export async function mapLimit<T, R>(
  items: readonly T[],
  limit: number,
  work: (item: T) => Promise<R>,
): Promise<R[]> {
  const results = new Array<R>(items.length);
  let next = 0;
  const workers = Array.from({ length: Math.min(limit, items.length) }, async () => {
    while (next < items.length) {
      const index = next++;
      results[index] = await work(items[index] as T);
    }
  });
  await Promise.all(workers);
  return results;
}
