/**
 * Recent tick summaries in `pacer/stats`, for `pacer status`. Only the planner writes it, under
 * its lease, so a plain read at the start of a tick and a write per sub-tick are safe.
 */
import type { Firestore } from '@google-cloud/firestore';
import { STATS_DOC } from './state.js';

/** How many sub-tick summaries `pacer/stats` keeps (about ten minutes at the defaults). */
export const RECENT_SUMMARIES = 60;

export async function readRecentSummaries<T>(db: Firestore): Promise<T[]> {
  const snapshot = await db.doc(STATS_DOC).get();
  const recent = snapshot.get('recent') as unknown;
  return Array.isArray(recent) ? (recent as T[]) : [];
}

/** Appends a summary and keeps the newest {@link RECENT_SUMMARIES}. Returns the new list. */
export async function appendSummary<T extends object>(
  db: Firestore,
  recent: readonly T[],
  summary: T,
): Promise<T[]> {
  const next = [...recent, summary].slice(-RECENT_SUMMARIES);
  await db.doc(STATS_DOC).set({ recent: next, updatedAt: new Date() });
  return next;
}
