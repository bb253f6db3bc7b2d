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
import {
  hasIndex,
  indexFile,
  servedBySingleFieldIndexes,
  shapeOf,
} from '../support/index-shapes.js';

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
