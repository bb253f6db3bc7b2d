/**
 * Single-field index exemptions (`fieldOverrides` with `"indexes": []` in
 * infra/firestore.indexes.json): Firestore allows about 500 writes a second to a collection
 * whose documents hold a sequentially increasing indexed field, and pacer moves its timestamps
 * forward on every claim, start, renewal and completion (docs/performance.md, "Scaling"). An
 * exempted field has no single-field index at all (composite indexes are not affected), so no
 * query may need one: this test works out which single-field indexes every query pacer builds
 * needs, and fails on an exemption that takes one away.
 */
import { readFileSync } from 'node:fs';
import { Firestore, type Query } from '@google-cloud/firestore';
import { describe, expect, it } from 'vitest';
import * as queries from '../../functions/store/queries.js';
import { QUERY_BUILDERS, SHARDED_QUERY_BUILDERS } from '../../functions/store/queries.js';
import { fieldActions } from '../../infra/deploy/resources.js';
import {
  hasIndex,
  indexFile,
  servedBySingleFieldIndexes,
  shapeOf,
  type IndexFile,
  type Shape,
} from '../support/index-shapes.js';

// Building a query needs no server.
const db = new Firestore({ projectId: 'exemption-check' });
const BUILDERS = { ...QUERY_BUILDERS, ...SHARDED_QUERY_BUILDERS };

/** `collection field` of each single-field index `shape` needs: none when a composite serves it. */
function singleFieldIndexesNeeded(shape: Shape, file: IndexFile): string[] {
  if (hasIndex(shape, file) || !servedBySingleFieldIndexes(shape)) return [];
  return [...shape.equalities, ...shape.ordered.map((field) => field.fieldPath)]
    .filter((field) => field !== '__name__')
    .map((field) => `${shape.collection} ${field}`);
}

/** `collection path` of each exemption: the field, and every subfield of a map, unindexed. */
function exemptions(file: IndexFile): string[] {
  return (file.fieldOverrides ?? [])
    .filter((override) => Array.isArray(override.indexes) && override.indexes.length === 0)
    .map((override) => `${override.collectionGroup} ${override.fieldPath}`);
}

/** Each query that needs a single-field index an exemption takes away, with the field. */
function violations(
  file: IndexFile,
  builders: Record<string, (db: Firestore) => Query> = BUILDERS,
): string[] {
  const exempt = exemptions(file);
  return Object.entries(builders).flatMap(([name, build]) =>
    singleFieldIndexesNeeded(shapeOf(build(db) as unknown as { toProto(): unknown }), file)
      .filter((needed) => exempt.some((path) => needed === path || needed.startsWith(`${path}.`)))
      .map((needed) => `${name} needs ${needed}`),
  );
}

const withExemption = (collectionGroup: string, fieldPath: string): IndexFile => ({
  ...indexFile,
  fieldOverrides: [
    ...(indexFile.fieldOverrides ?? []),
    { collectionGroup, fieldPath, indexes: [] },
  ],
});

describe('single-field index exemptions', () => {
  it('take away no single-field index a query needs', () => {
    expect(violations(indexFile)).toEqual([]);
  });

  it('exempt the scheduleStates timestamps every claim, start, renewal and completion moves forward', () => {
    expect(exemptions(indexFile)).toEqual(
      expect.arrayContaining([
        'scheduleStates state.nextDueAt',
        'scheduleStates state.escalatesAt',
        // The lease map: until, dueAt, owedSince, dispatchedAt, startedAt, renewedAt.
        'scheduleStates state.lease',
        'scheduleStates state.dueAt',
        'scheduleStates state.lastRunAt',
        'scheduleStates state.lastSuccessAt',
      ]),
    );
  });

  it.each([
    // [collection group, exempted field, a query that needs its single-field index]
    ['scheduleStates', 'state.health', 'failingQuery needs scheduleStates state.health'],
    ['scheduleStates', 'state.status', 'statusQuery needs scheduleStates state.status'],
    ['scheduleStates', 'state.lane', 'scheduleListQuery needs scheduleStates state.lane'],
    ['scheduleStates', 'spec', 'longSyncsQuery needs scheduleStates spec.runner'],
    ['deadLetters', 'recordedAt', 'deadLettersQuery needs deadLetters recordedAt'],
    ['runs', 'dueAt', 'runsQuery needs runs dueAt'],
  ])('notices an exemption of %s %s that a query needs', (group, field, violation) => {
    expect(violations(withExemption(group, field))).toContain(violation);
  });

  it('let a composite index serve a range on an exempted field, but not a range on it alone', () => {
    expect(violations(withExemption('scheduleStates', 'state.escalatesAt'))).toEqual([]);
    expect(
      violations(withExemption('scheduleStates', 'state.escalatesAt'), {
        escalationsAnyLane: (db) =>
          db.collection('scheduleStates').where('state.escalatesAt', '<=', 0),
      }),
    ).toEqual(['escalationsAnyLane needs scheduleStates state.escalatesAt']);
  });

  it('hold every query functions/store/queries.ts exports', () => {
    const exported = Object.keys(queries).filter((name) => name.endsWith('Query'));
    const held = Object.keys(BUILDERS).map((name) => name.replace(/InShard$/, ''));
    expect(exported.filter((name) => !held.includes(name))).toEqual([]);
  });

  it('are deployed by infra/deploy.sh as gcloud firestore indexes fields update --disable-indexes, once', () => {
    for (const override of indexFile.fieldOverrides ?? []) {
      if (override.collectionGroup !== 'scheduleStates') continue;
      // A field still indexed (inheriting the defaults): turn its indexes off; no TTL here.
      expect(fieldActions(override, null), override.fieldPath).toEqual(['disable-indexes']);
      expect(
        fieldActions(override, { indexConfig: { usesAncestorConfig: true, indexes: [{}] } }),
      ).toEqual(['disable-indexes']);
      // Already exempt: nothing to do.
      expect(fieldActions(override, { indexConfig: { indexes: [] } })).toEqual([]);
    }
    const deploy = readFileSync(new URL('../../infra/deploy.sh', import.meta.url), 'utf8');
    expect(deploy).toContain('disable-indexes)');
    expect(deploy).toMatch(
      /gcloud firestore indexes fields update "\$field"[^\n]*\\\n[^\n]*--disable-indexes/,
    );
  });
});
