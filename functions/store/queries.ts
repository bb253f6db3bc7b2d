/**
 * Every query pacer runs, built here and nowhere else. The protocol's queries run on pacer's own
 * documents (`scheduleStates`: the `state` map, and the operator's fields as last reconciled
 * under `spec`); listing and paging the operator's schedules and their runs on `schedules`.
 * Built here and nowhere else, so that a test can hold each query
 * shape against `infra/firestore.indexes.json` (the emulator does not enforce indexes; Firestore
 * does). Code elsewhere calls these builders; a test fails on `.where(` / `.orderBy(` outside
 * this file.
 */
import { FieldPath, type Firestore, type Query } from '@google-cloud/firestore';
import { ESCALATING_LANES, LANES, type Lane } from '../schedule/lane.js';
import { servedShards, type Shard } from '../schedule/shard.js';
import {
  BACKFILLS,
  DEAD_LETTERS,
  RUNS,
  SCHEDULE_STATES,
  SCHEDULES,
  SPEC_FIELD,
  timestamp,
} from './state.js';

/** Due schedules of a lane, most overdue first. */
export function dueQuery(db: Firestore, lane: Lane, now: number): Query {
  return db
    .collection(SCHEDULE_STATES)
    .where('state.lane', '==', lane)
    .where('state.nextDueAt', '<=', timestamp(now))
    .orderBy('state.nextDueAt', 'asc');
}

/**
 * Due schedules of every lane, most overdue first: one query where each lane's would mostly come
 * back empty (each query is billed one read at least). `in` on the lane uses each lane's
 * `(state.lane, state.nextDueAt)` index.
 */
export function dueQueryAllLanes(db: Firestore, now: number): Query {
  return db
    .collection(SCHEDULE_STATES)
    .where('state.lane', 'in', [...LANES])
    .where('state.nextDueAt', '<=', timestamp(now))
    .orderBy('state.nextDueAt', 'asc');
}

/**
 * Schedules that have become more urgent while they waited, in every lane that escalates at
 * once (one query, billed at least one read, rather than one per lane), most overdue first.
 * The lane filter keeps the lane's composite index serving it: `state.escalatesAt` has no
 * single-field index (infra/firestore.indexes.json).
 */
export function escalationQuery(db: Firestore, now: number): Query {
  return db
    .collection(SCHEDULE_STATES)
    .where('state.lane', 'in', ESCALATING_LANES)
    .where('state.escalatesAt', '<=', timestamp(now))
    .orderBy('state.escalatesAt', 'asc');
}

/** Schedules of a lane whose lease has not lapsed: dispatched or running. */
export function inFlightQuery(db: Firestore, lane: Lane, now: number): Query {
  return db
    .collection(SCHEDULE_STATES)
    .where('state.lane', '==', lane)
    .where('state.lease.until', '>', timestamp(now));
}

/** Schedules whose last runs failed. */
export function failingQuery(db: Firestore): Query {
  return db.collection(SCHEDULE_STATES).where('state.health', '==', 'failing');
}

/** Schedules whose syncs run in a job execution (`runner: "job"`): few, so read whole. */
export function longSyncsQuery(db: Firestore): Query {
  return db.collection(SCHEDULE_STATES).where(`${SPEC_FIELD}.runner`, '==', 'job');
}

/** Schedules by status (invalid, paused, finished, active). */
export function statusQuery(db: Firestore, status: string): Query {
  return db.collection(SCHEDULE_STATES).where('state.status', '==', status);
}

/** Dead letters, newest first. */
export function deadLettersQuery(db: Firestore): Query {
  return db.collection(DEAD_LETTERS).orderBy('recordedAt', 'desc');
}

/** Dead letters not yet replayed. */
export function openDeadLettersQuery(db: Firestore): Query {
  return db.collection(DEAD_LETTERS).where('replayedAt', '==', null);
}

/** Every schedule in document-id order, for paging through all of them (`reconcile --all`). */
export function schedulesByIdQuery(db: Firestore): Query {
  return db.collection(SCHEDULES).orderBy(FieldPath.documentId());
}

/** pacer's documents in id order (`reconcile --all` looks for those whose operator's is gone). */
export function scheduleStatesByIdQuery(db: Firestore): Query {
  return db.collection(SCHEDULE_STATES).orderBy(FieldPath.documentId());
}

/** What `pacer schedules list` can filter on; all filters are equalities. */
export interface ScheduleFilter {
  status?: string;
  lane?: Lane;
  /** Only schedules whose last runs failed, those paused by failures included. */
  failing?: boolean;
}

/**
 * The healths of a failing schedule for `--failing`: `failing`, and `paused_by_failures`, the
 * most failing of all (pacer paused it after `pauseAfterFailures` dead letters in a row).
 */
export const FAILING_HEALTHS = ['failing', 'paused_by_failures'] as const;

/**
 * Schedules matching every filter given, in document-id order. Equality filters alone are
 * served by merging single-field indexes, so no composite index is needed.
 */
export function scheduleListQuery(db: Firestore, filter: ScheduleFilter): Query {
  let query: Query = db.collection(SCHEDULE_STATES);
  if (filter.status !== undefined) query = query.where('state.status', '==', filter.status);
  if (filter.lane !== undefined) query = query.where('state.lane', '==', filter.lane);
  // `in` is a disjunction of equalities: still served by merging single-field indexes.
  if (filter.failing === true) query = query.where('state.health', 'in', FAILING_HEALTHS);
  return query;
}

/** A schedule's run history (`schedules/{id}/runs`), latest due point first. */
export function runsQuery(db: Firestore, scheduleId: string): Query {
  return db.collection(SCHEDULES).doc(scheduleId).collection(RUNS).orderBy('dueAt', 'desc');
}

/** Dead letters not yet replayed, newest first. */
export function openDeadLettersByRecencyQuery(db: Firestore): Query {
  return db.collection(DEAD_LETTERS).where('replayedAt', '==', null).orderBy('recordedAt', 'desc');
}

/** Open dead letters recorded at or after `since`, newest first (`dead-letters replay --all`). */
export function openDeadLettersSinceQuery(db: Firestore, since: number): Query {
  return openDeadLettersByRecencyQuery(db).where('recordedAt', '>=', timestamp(since));
}

/** Schedules pacer paused after failures (`health: paused_by_failures`). */
export function pausedByFailuresQuery(db: Firestore): Query {
  return db.collection(SCHEDULE_STATES).where('state.health', '==', 'paused_by_failures');
}

/** A schedule's backfills still running (`schedules/{id}/backfills`). */
export function runningBackfillsQuery(db: Firestore, scheduleId: string): Query {
  return db
    .collection(SCHEDULES)
    .doc(scheduleId)
    .collection(BACKFILLS)
    .where('status', '==', 'running');
}

/** A schedule's runs for due points in `[from, to]` (`schedules/{id}/runs`). */
export function runsBetweenQuery(
  db: Firestore,
  scheduleId: string,
  from: number,
  to: number,
): Query {
  return db
    .collection(SCHEDULES)
    .doc(scheduleId)
    .collection(RUNS)
    .where('dueAt', '>=', timestamp(from))
    .where('dueAt', '<=', timestamp(to));
}

/** Every builder, with example arguments: the index test runs each one. */
export const QUERY_BUILDERS: Record<string, (db: Firestore) => Query> = {
  dueQuery: (db) => dueQuery(db, 'high', 0),
  dueQueryAllLanes: (db) => dueQueryAllLanes(db, 0),
  inFlightQuery: (db) => inFlightQuery(db, 'high', 0),
  escalationQuery: (db) => escalationQuery(db, 0),
  failingQuery,
  statusQuery: (db) => statusQuery(db, 'invalid'),
  deadLettersQuery,
  openDeadLettersQuery,
  schedulesByIdQuery,
  scheduleStatesByIdQuery,
  scheduleListQuery: (db) =>
    scheduleListQuery(db, { status: 'active', lane: 'high', failing: true }),
  runsQuery: (db) => runsQuery(db, 'example'),
  openDeadLettersByRecencyQuery,
  openDeadLettersSinceQuery: (db) => openDeadLettersSinceQuery(db, 0),
  pausedByFailuresQuery,
  runningBackfillsQuery: (db) => runningBackfillsQuery(db, 'example'),
  runsBetweenQuery: (db) => runsBetweenQuery(db, 'example', 0, 1),
  inFlightByKeyQuery: (db) => inFlightByKeyQuery(db, 'provider', 0),
  longSyncsQuery,
};

/**
 * Documents read, as Firestore bills them: one per document a query returns (at least one per
 * query), one per 1,000 index entries an aggregation counts (at least one).
 */
export class ReadMeter {
  documents = 0;

  query(returned: number): void {
    this.documents += Math.max(1, returned);
  }

  aggregation(counted: number): void {
    this.documents += Math.max(1, Math.ceil(counted / 1_000));
  }

  document(): void {
    this.documents += 1;
  }
}

/** Schedules of a provider key whose lease has not lapsed (a key's calls in flight). */
export function inFlightByKeyQuery(db: Firestore, key: string, now: number): Query {
  return db
    .collection(SCHEDULE_STATES)
    .where(`${SPEC_FIELD}.rateLimitKey`, '==', key)
    .where('state.lease.until', '>', timestamp(now));
}

/**
 * `query` narrowed to the schedules planner `shard` serves (`state.shard in [...]`); with one
 * shard, `query` itself. Indexed by `state.lane`, `state.shard`, then the range field.
 */
export function inShard(query: Query, shard: Shard): Query {
  const served = servedShards(shard);
  return served === null ? query : query.where('state.shard', 'in', served);
}

/** The sharded shapes of the planner's queries: the index test runs each one. */
export const SHARDED_QUERY_BUILDERS: Record<string, (db: Firestore) => Query> = {
  dueQueryInShard: (db) => inShard(dueQuery(db, 'high', 0), { index: 1, count: 2 }),
  inFlightQueryInShard: (db) => inShard(inFlightQuery(db, 'high', 0), { index: 1, count: 2 }),
  escalationQueryInShard: (db) => inShard(escalationQuery(db, 0), { index: 1, count: 2 }),
};
