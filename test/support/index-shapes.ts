/**
 * The index shape of a query, and whether infra/firestore.indexes.json serves it: shared by the
 * composite index test and the single-field exemption test (test/infra/firestore-*.test.ts).
 */
import { readFileSync } from 'node:fs';
import type { IndexField, IndexFile } from '../../infra/deploy/resources.js';

// The index file's shapes, as the deploy reads it.
export type { FieldOverride, IndexField, IndexFile } from '../../infra/deploy/resources.js';

export const indexFile = JSON.parse(
  readFileSync(new URL('../../infra/firestore.indexes.json', import.meta.url), 'utf8'),
) as IndexFile;

export interface Shape {
  collection: string;
  equalities: string[];
  /** Fields the index must order by, in order, with their direction. */
  ordered: IndexField[];
}

/** The index shape a query needs, from its wire form (`structuredQuery`). */
export function shapeOf(query: { toProto(): unknown }): Shape {
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
export function servedBySingleFieldIndexes(shape: Shape): boolean {
  return (
    shape.ordered.length === 0 || (shape.equalities.length === 0 && shape.ordered.length === 1)
  );
}

export function hasIndex(shape: Shape, file: IndexFile = indexFile): boolean {
  return file.indexes.some((index) => {
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
