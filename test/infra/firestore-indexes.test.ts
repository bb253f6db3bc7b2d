/**
 * The Firestore emulator does not enforce composite indexes; Firestore does. This test holds
 * every query the code builds against infra/firestore.indexes.json, so a query without its
 * index fails here rather than in production.
 */
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join, relative } from 'node:path';
import { Firestore } from '@google-cloud/firestore';
import { describe, expect, it } from 'vitest';
import { QUERY_BUILDERS, SHARDED_QUERY_BUILDERS } from '../../functions/store/queries.js';
import { RUN_EXPIRE_FIELD } from '../../functions/store/state.js';
import { RUNS } from '../../functions/store/state.js';

interface IndexField {
  fieldPath: string;
  order?: 'ASCENDING' | 'DESCENDING';
}
interface IndexFile {
  indexes: { collectionGroup: string; queryScope: string; fields: IndexField[] }[];
}

const indexFile = JSON.parse(
  readFileSync(new URL('../../infra/firestore.indexes.json', import.meta.url), 'utf8'),
) as IndexFile;

interface Shape {
  collection: string;
  equalities: string[];
  /** Fields the index must order by, in order, with their direction. */
  ordered: IndexField[];
}

/** The index shape a query needs, from its wire form (`structuredQuery`). */
function shapeOf(query: { toProto(): unknown }): Shape {
  const { structuredQuery } = query.toProto() as {
    structuredQuery: {
      from: { collectionId: string }[];
      where?: {
        fieldFilter?: FieldFilter;
        compositeFilter?: { filters: { fieldFilter?: FieldFilter }[] };
      };
      orderBy?: { field: { fieldPath: string }; direction: 'ASCENDING' | 'DESCENDING' }[];
    };
  };
  interface FieldFilter {
    field: { fieldPath: string };
    op: string;
  }
  const filters = structuredQuery.where?.compositeFilter
    ? structuredQuery.where.compositeFilter.filters.flatMap((f) =>
        f.fieldFilter ? [f.fieldFilter] : [],
      )
    : structuredQuery.where?.fieldFilter
      ? [structuredQuery.where.fieldFilter]
      : [];
  const equalities = filters
    .filter((f) => ['EQUAL', 'ARRAY_CONTAINS', 'IN'].includes(f.op))
    .map((f) => f.field.fieldPath);
  const ranges = filters
    .filter((f) => !['EQUAL', 'ARRAY_CONTAINS', 'IN'].includes(f.op))
    .map((f) => f.field.fieldPath);
  const ordered: IndexField[] = (structuredQuery.orderBy ?? []).map((o) => ({
    fieldPath: o.field.fieldPath,
    order: o.direction,
  }));
  // An inequality field not ordered explicitly is ordered ascending first.
  for (const field of ranges.reverse()) {
    if (!ordered.some((o) => o.fieldPath === field))
      ordered.unshift({ fieldPath: field, order: 'ASCENDING' });
  }
  return { collection: structuredQuery.from[0]?.collectionId ?? '', equalities, ordered };
}

/** Whether Firestore can serve the shape without a composite index. */
function servedBySingleFieldIndexes(shape: Shape): boolean {
  return (
    shape.ordered.length === 0 || (shape.equalities.length === 0 && shape.ordered.length === 1)
  );
}

function hasIndex(shape: Shape): boolean {
  return indexFile.indexes.some((index) => {
    if (index.collectionGroup !== shape.collection || index.queryScope !== 'COLLECTION')
      return false;
    const head = index.fields.slice(0, shape.equalities.length).map((f) => f.fieldPath);
    const tail = index.fields.slice(shape.equalities.length);
    const sameOrder = (reverse: boolean) =>
      tail.length === shape.ordered.length &&
      tail.every(
        (field, i) =>
          field.fieldPath === shape.ordered[i]?.fieldPath &&
          (field.order === shape.ordered[i].order) !== reverse,
      );
    return (
      head.length === shape.equalities.length &&
      shape.equalities.every((field) => head.includes(field)) &&
      (sameOrder(false) || sameOrder(true))
    );
  });
}

describe('composite indexes', () => {
  // Building a query needs no server.
  const db = new Firestore({ projectId: 'index-check' });

  it.each(Object.entries({ ...QUERY_BUILDERS, ...SHARDED_QUERY_BUILDERS }))(
    '%s has the index it needs',
    (_name, build) => {
      const shape = shapeOf(build(db) as unknown as { toProto(): unknown });
      expect(servedBySingleFieldIndexes(shape) || hasIndex(shape), JSON.stringify(shape)).toBe(
        true,
      );
    },
  );

  it('notices a query whose index is missing', () => {
    const query = db.collection('schedules').where('state.health', '==', 'failing').orderBy('name');
    expect(hasIndex(shapeOf(query as unknown as { toProto(): unknown }))).toBe(false);
  });

  it('no code outside functions/store/queries.ts builds a query', () => {
    const root = new URL('../../functions', import.meta.url).pathname;
    const files: string[] = [];
    const walk = (dir: string) => {
      for (const entry of readdirSync(dir)) {
        const path = join(dir, entry);
        if (statSync(path).isDirectory()) walk(path);
        else if (path.endsWith('.ts')) files.push(path);
      }
    };
    walk(root);
    const offenders = files
      .filter((file) => relative(root, file) !== join('store', 'queries.ts'))
      .filter((file) => /\.(where|orderBy)\(/.test(readFileSync(file, 'utf8')))
      .map((file) => relative(root, file));
    expect(offenders).toEqual([]);
  });
});

describe('run history TTL', () => {
  it('the TTL field override names the field the worker writes, on the runs collection group, unindexed', () => {
    const overrides = (
      indexFile as unknown as {
        fieldOverrides: {
          collectionGroup: string;
          fieldPath: string;
          ttl?: boolean;
          indexes: unknown[];
        }[];
      }
    ).fieldOverrides;
    expect(overrides).toContainEqual({
      collectionGroup: RUNS,
      fieldPath: RUN_EXPIRE_FIELD,
      ttl: true,
      indexes: [],
    });
  });
});
