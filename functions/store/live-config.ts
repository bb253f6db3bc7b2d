/**
 * Live settings in `pacer/config`, laid over the environment's settings. An invalid document
 * is reported and the last good settings stay in force.
 */
import { applyOverrides, type Settings } from '../config.js';
import type { PlannerStore } from './port.js';

export type LiveSettings =
  | { kind: 'unchanged'; settings: Settings }
  | { kind: 'applied'; settings: Settings }
  | { kind: 'invalid'; settings: Settings; problems: string[] };

/**
 * Keeps the settings a process plans with: the environment's, overridden by `pacer/config`
 * when that is valid. One per process, so the last good settings survive a bad edit.
 */
export class LiveConfig {
  private lastGood: Settings;
  private lastRaw = '';

  constructor(private readonly base: Settings) {
    this.lastGood = base;
  }

  /** Reads `pacer/config` and returns the settings to use now. */
  async refresh(store: Pick<PlannerStore, 'readLiveConfig'>): Promise<LiveSettings> {
    const overrides = await store.readLiveConfig();
    const raw = JSON.stringify(overrides);
    if (raw === this.lastRaw) return { kind: 'unchanged', settings: this.lastGood };
    this.lastRaw = raw;
    const result = applyOverrides(this.base, overrides);
    if (!result.ok) return { kind: 'invalid', settings: this.lastGood, problems: result.problems };
    this.lastGood = result.settings;
    return { kind: 'applied', settings: result.settings };
  }
}
