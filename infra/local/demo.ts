/**
 * The demo schedules the local stack seeds: something in every lane, a cron and an interval,
 * one target that always fails (to show dead-lettering) and one invalid document (to show
 * validation). Written like an operator would, then reconciled by the trigger.
 */
import type { Firestore } from '@google-cloud/firestore';
import { SCHEDULES } from '../../functions/store/state.js';

const MINUTE = 60_000;

/** The demo documents, keyed by schedule id. */
export function demoSchedules(
  now: number,
  targetUrl: string,
): Record<string, Record<string, unknown>> {
  const at = (ms: number) => new Date(now + ms).toISOString();
  // The default tiers, plus a final approach every 20 seconds, so the demo moves visibly.
  const raceTiers = [
    { before: '30m', every: '20s' },
    { before: '4h', every: '1m' },
    { before: '24h', every: '5m' },
  ];
  const http = (name: string) => ({ type: 'http', url: `${targetUrl}/sync/${name}` });
  return {
    'race-in-10-minutes': {
      name: 'City 10k: participant list (starts in 10 minutes)',
      cadence: { kind: 'event', startsAt: at(10 * MINUTE), tiers: raceTiers, after: '30m' },
      target: http('race-in-10-minutes'),
      payload: { raceId: 1001 },
      labels: { demo: 'true' },
    },
    'race-in-25-minutes': {
      name: 'Harbour 5k: participant list (starts in 25 minutes)',
      cadence: { kind: 'event', startsAt: at(25 * MINUTE), tiers: raceTiers, after: '30m' },
      target: http('race-in-25-minutes'),
      payload: { raceId: 1002 },
      labels: { demo: 'true' },
    },
    'race-in-3-hours': {
      name: 'Trail half marathon (starts in 3 hours)',
      cadence: { kind: 'event', startsAt: at(3 * 60 * MINUTE), tiers: raceTiers },
      target: http('race-in-3-hours'),
      payload: { raceId: 1003 },
      labels: { demo: 'true' },
    },
    'race-in-10-hours': {
      name: 'Night relay (starts in 10 hours)',
      cadence: { kind: 'event', startsAt: at(10 * 60 * MINUTE) },
      target: http('race-in-10-hours'),
      payload: { raceId: 1004 },
      labels: { demo: 'true' },
    },
    'race-next-week': {
      name: 'Spring marathon (next week)',
      cadence: { kind: 'event', startsAt: at(7 * 24 * 60 * MINUTE) },
      target: http('race-next-week'),
      payload: { raceId: 1005 },
      labels: { demo: 'true' },
    },
    'nightly-export': {
      name: 'Nightly results export (02:00 Berlin)',
      cadence: {
        kind: 'cron',
        expression: '0 2 * * *',
        timezone: 'Europe/Berlin',
        catchUpWithin: '2h',
      },
      target: http('nightly-export'),
      labels: { demo: 'true' },
    },
    'every-minute': {
      name: 'Club rankings (every minute)',
      cadence: { kind: 'interval', every: '1m' },
      target: { type: 'handler', name: 'example.echo' },
      payload: { league: 'north' },
      labels: { demo: 'true' },
    },
    'full-export': {
      name: 'Full results export: a 3-minute sync, run by a job execution',
      cadence: { kind: 'interval', every: '30m' },
      target: { type: 'http', url: `${targetUrl}/slow/full-export` },
      runner: 'job',
      maxRunSeconds: 600,
      labels: { demo: 'true' },
    },
    'always-fails': {
      name: 'A target that always answers 500',
      cadence: { kind: 'interval', every: '1h' },
      target: { type: 'http', url: `${targetUrl}/always-fails` },
      labels: { demo: 'true' },
    },
    'broken-schedule': {
      name: 'An invalid document, to show validation',
      cadence: { kind: 'interval', every: '5 min' },
      target: { type: 'http', url: `${targetUrl}/sync/broken` },
      colour: 'red',
    },
  };
}

/** Writes the demo schedules (replacing earlier ones of the same ids). */
export async function seedDemo(db: Firestore, now: number, targetUrl: string): Promise<string[]> {
  const documents = demoSchedules(now, targetUrl);
  const batch = db.batch();
  for (const [id, fields] of Object.entries(documents))
    batch.set(db.collection(SCHEDULES).doc(id), fields);
  await batch.commit();
  return Object.keys(documents);
}
