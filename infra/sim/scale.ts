/**
 * Scaling a scenario for the capacity runs (docs/performance.md, "Scaling"): the same shape
 * with `scale` times the schedules and the capacity that serves them, planned by `shards`
 * planners, over the first `hours` of the window. Applied to the scenario's JSON before it is
 * validated, so a scaled scenario is checked like any other, and drawn from the same seed.
 */

export interface ScenarioScaling {
  /** Each generated group's count, the lanes' workers and the shared limit, times this. */
  scale?: number;
  /** `PACER_SHARDS` for pacer: that many planners, one per shard. */
  shards?: number;
  /** Ends the window this many hours after its start (a shorter run of a big population). */
  hours?: number;
}

/** `raw` (a scenario's JSON, `extends` resolved) scaled as asked. Pure. */
export function scaleScenario(
  raw: Readonly<Record<string, unknown>>,
  scaling: ScenarioScaling,
): Record<string, unknown> {
  const scaled: Record<string, unknown> = { ...raw };
  const factor = scaling.scale ?? 1;
  if (factor !== 1) {
    if (Array.isArray(raw.generate)) {
      scaled.generate = raw.generate.map((group: unknown) =>
        isRecord(group) && typeof group.count === 'number'
          ? { ...group, count: group.count * factor }
          : group,
      );
    }
    if (isRecord(raw.workers)) {
      scaled.workers = Object.fromEntries(
        Object.entries(raw.workers).map(([lane, workers]) => [
          lane,
          typeof workers === 'number' ? workers * factor : workers,
        ]),
      );
    }
    if (typeof raw.sharedLimit === 'number') scaled.sharedLimit = raw.sharedLimit * factor;
  }
  if (scaling.shards !== undefined) {
    const pacer = isRecord(raw.pacer) ? raw.pacer : {};
    const settings = isRecord(pacer.settings) ? pacer.settings : {};
    scaled.pacer = { ...pacer, settings: { ...settings, PACER_SHARDS: scaling.shards } };
  }
  if (scaling.hours !== undefined && typeof raw.start === 'string') {
    const start = Date.parse(raw.start);
    if (Number.isFinite(start)) {
      scaled.end = new Date(start + scaling.hours * 3_600_000).toISOString();
    }
  }
  return scaled;
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}
