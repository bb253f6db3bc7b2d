/**
 * Where a provider key's buckets live between ticks: `rateLimits/{key}`. The planner saves the
 * tokens (at most once per key per sub-tick: a document sustains about one write a second); a
 * worker that meets a `Retry-After` blocks the key (one transaction that only ever moves the
 * block later). The two write different fields, so neither undoes the other.
 *
 * A port with two adapters, Firestore and memory (the simulator, the checker, unit tests).
 */
import type { Firestore } from '@google-cloud/firestore';
import { FieldValue } from '@google-cloud/firestore';
import { liveLease } from '../protocol/state.js';
import type { MemoryStore } from '../store/memory.js';
import { inFlightByKeyQuery, type ReadMeter } from '../store/queries.js';
import { millis, timestamp } from '../store/state.js';
import { available, take, type Bucket, type KeyLimit } from './bucket.js';
import { bucketOf } from './gate.js';

/** How many of `count` tokens a saved key can give at `now`, and its bucket after. */
function takeFrom(
  saved: SavedKey | null,
  limit: KeyLimit,
  count: number,
  now: number,
): { taken: number; bucket: Bucket } {
  // Blocks are the gate's business; tokens are taken as the bucket stands.
  const bucket = bucketOf(limit, saved?.tokens ?? null, null, now);
  const taken = Math.min(count, available(bucket, limit, now));
  return { taken, bucket: take(bucket, limit, now, taken) };
}

export const RATE_LIMITS = 'rateLimits';

/** Who blocked a key, for `pacer status` and the logs. */
export interface BlockCause {
  scheduleId: string;
  status: number;
  at: number;
}

/** A key as saved: its buckets (`null` fields: never saved by a planner) and its block. */
export interface SavedKey {
  tokens: Pick<Bucket, 'minute' | 'hour' | 'refilledAt'> | null;
  blockedUntil: number | null;
  blockedBy: BlockCause | null;
}

export interface RateLimitStore {
  /** The saved state of each of `keys` that has one. */
  readKeys(keys: readonly string[], meter: ReadMeter): Promise<Map<string, SavedKey>>;
  /** Every saved key (`pacer status`). */
  listKeys(): Promise<Map<string, SavedKey>>;
  /** Saves the planner's tokens, one write per key; never touches a block. */
  saveTokens(
    tokens: ReadonlyMap<string, Pick<Bucket, 'minute' | 'hour' | 'refilledAt'>>,
  ): Promise<void>;
  /**
   * Takes up to `count` tokens of `key` at `now` from its saved buckets, in one transaction (so
   * two planners — one whose lease lapsed mid-sub-tick — never spend the same token); answers
   * how many it took and the buckets after.
   */
  takeTokens(
    key: string,
    limit: KeyLimit,
    count: number,
    now: number,
  ): Promise<{ taken: number; bucket: Bucket }>;
  /** Blocks `key` until `until` unless it is blocked longer already; the block in force after. */
  block(key: string, until: number, cause: BlockCause): Promise<number>;
  /** How many schedules of `key` hold a lease that has not lapsed at `now`. */
  countInFlight(key: string, now: number, meter: ReadMeter): Promise<number>;
}

export class FirestoreRateLimits implements RateLimitStore {
  constructor(private readonly db: Firestore) {}

  async readKeys(keys: readonly string[], meter: ReadMeter): Promise<Map<string, SavedKey>> {
    const found = new Map<string, SavedKey>();
    if (keys.length === 0) return found;
    const snapshots = await this.db.getAll(
      ...keys.map((key) => this.db.collection(RATE_LIMITS).doc(key)),
    );
    for (const snapshot of snapshots) {
      meter.document();
      if (snapshot.exists) found.set(snapshot.id, savedKey(snapshot.data() ?? {}));
    }
    return found;
  }

  async listKeys(): Promise<Map<string, SavedKey>> {
    const snapshot = await this.db.collection(RATE_LIMITS).get();
    return new Map(snapshot.docs.map((doc) => [doc.id, savedKey(doc.data())]));
  }

  async saveTokens(
    tokens: ReadonlyMap<string, Pick<Bucket, 'minute' | 'hour' | 'refilledAt'>>,
  ): Promise<void> {
    if (tokens.size === 0) return;
    const batch = this.db.batch();
    for (const [key, bucket] of tokens) {
      batch.set(
        this.db.collection(RATE_LIMITS).doc(key),
        {
          tokens: { minute: bucket.minute, hour: bucket.hour },
          refilledAt: timestamp(bucket.refilledAt),
          updatedAt: FieldValue.serverTimestamp(),
        },
        { merge: true },
      );
    }
    await batch.commit();
  }

  takeTokens(
    key: string,
    limit: KeyLimit,
    count: number,
    now: number,
  ): Promise<{ taken: number; bucket: Bucket }> {
    const ref = this.db.collection(RATE_LIMITS).doc(key);
    return this.db.runTransaction(async (transaction) => {
      const snapshot = await transaction.get(ref);
      const result = takeFrom(
        snapshot.exists ? savedKey(snapshot.data() ?? {}) : null,
        limit,
        count,
        now,
      );
      transaction.set(
        ref,
        {
          tokens: { minute: result.bucket.minute, hour: result.bucket.hour },
          refilledAt: timestamp(result.bucket.refilledAt),
          updatedAt: FieldValue.serverTimestamp(),
        },
        { merge: true },
      );
      return result;
    });
  }

  block(key: string, until: number, cause: BlockCause): Promise<number> {
    const ref = this.db.collection(RATE_LIMITS).doc(key);
    return this.db.runTransaction(async (transaction) => {
      const snapshot = await transaction.get(ref);
      const current = millis(snapshot.get('blockedUntil'));
      if (current !== null && current >= until) return current;
      transaction.set(
        ref,
        {
          blockedUntil: timestamp(until),
          blockedBy: { ...cause, at: timestamp(cause.at) },
        },
        { merge: true },
      );
      return until;
    });
  }

  async countInFlight(key: string, now: number, meter: ReadMeter): Promise<number> {
    const snapshot = await inFlightByKeyQuery(this.db, key, now).count().get();
    const count = snapshot.data().count;
    meter.aggregation(count);
    return count;
  }
}

function savedKey(data: Record<string, unknown>): SavedKey {
  const tokens = data.tokens as { minute?: unknown; hour?: unknown } | undefined;
  const refilledAt = millis(data.refilledAt);
  const blockedBy = data.blockedBy as Record<string, unknown> | undefined;
  return {
    tokens:
      tokens !== undefined &&
      typeof tokens.minute === 'number' &&
      typeof tokens.hour === 'number' &&
      refilledAt !== null
        ? { minute: tokens.minute, hour: tokens.hour, refilledAt }
        : null,
    blockedUntil: millis(data.blockedUntil),
    blockedBy:
      blockedBy !== undefined &&
      typeof blockedBy.scheduleId === 'string' &&
      typeof blockedBy.status === 'number'
        ? {
            scheduleId: blockedBy.scheduleId,
            status: blockedBy.status,
            at: millis(blockedBy.at) ?? 0,
          }
        : null,
  };
}

/** The same in memory, beside a {@link MemoryStore} (whose schedules it counts). */
export class MemoryRateLimits implements RateLimitStore {
  readonly keys = new Map<string, SavedKey>();
  /** Writes per key, as Firestore would bill them (the simulator's cost line, the tests). */
  readonly writes = new Map<string, number>();
  /** Called when a block is recorded (the protocol checker watches them). */
  private readonly blockListeners: ((key: string, until: number) => void)[] = [];

  constructor(private readonly schedules: MemoryStore) {}

  readKeys(keys: readonly string[], meter: ReadMeter): Promise<Map<string, SavedKey>> {
    const found = new Map<string, SavedKey>();
    for (const key of keys) {
      meter.document();
      const saved = this.keys.get(key);
      if (saved !== undefined) found.set(key, structuredClone(saved));
    }
    return Promise.resolve(found);
  }

  listKeys(): Promise<Map<string, SavedKey>> {
    return Promise.resolve(structuredClone(this.keys));
  }

  saveTokens(
    tokens: ReadonlyMap<string, Pick<Bucket, 'minute' | 'hour' | 'refilledAt'>>,
  ): Promise<void> {
    for (const [key, bucket] of tokens) {
      const saved = this.keys.get(key) ?? { tokens: null, blockedUntil: null, blockedBy: null };
      this.keys.set(key, {
        ...saved,
        tokens: { minute: bucket.minute, hour: bucket.hour, refilledAt: bucket.refilledAt },
      });
      this.writes.set(key, (this.writes.get(key) ?? 0) + 1);
    }
    return Promise.resolve();
  }

  takeTokens(
    key: string,
    limit: KeyLimit,
    count: number,
    now: number,
  ): Promise<{ taken: number; bucket: Bucket }> {
    const saved = this.keys.get(key) ?? null;
    const result = takeFrom(saved, limit, count, now);
    this.keys.set(key, {
      tokens: {
        minute: result.bucket.minute,
        hour: result.bucket.hour,
        refilledAt: result.bucket.refilledAt,
      },
      blockedUntil: saved?.blockedUntil ?? null,
      blockedBy: saved?.blockedBy ?? null,
    });
    this.writes.set(key, (this.writes.get(key) ?? 0) + 1);
    return Promise.resolve(result);
  }

  block(key: string, until: number, cause: BlockCause): Promise<number> {
    const saved = this.keys.get(key) ?? { tokens: null, blockedUntil: null, blockedBy: null };
    if (saved.blockedUntil !== null && saved.blockedUntil >= until) {
      return Promise.resolve(saved.blockedUntil);
    }
    this.keys.set(key, { ...saved, blockedUntil: until, blockedBy: cause });
    this.writes.set(key, (this.writes.get(key) ?? 0) + 1);
    for (const listener of this.blockListeners) listener(key, until);
    return Promise.resolve(until);
  }

  onBlock(listener: (key: string, until: number) => void): void {
    this.blockListeners.push(listener);
  }

  countInFlight(key: string, now: number, meter: ReadMeter): Promise<number> {
    let count = 0;
    for (const id of this.schedules.ids()) {
      const schedule = this.schedules.peek(id);
      if (!schedule?.validation.ok) continue;
      if (schedule.validation.spec.rateLimitKey !== key) continue;
      if (liveLease(schedule.state, now) !== null) count++;
    }
    meter.aggregation(count);
    return Promise.resolve(count);
  }
}
