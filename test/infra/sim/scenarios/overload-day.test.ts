/**
 * Issue 8 acceptance on test/scenarios/overload-day.json: more work than the provider allows.
 */
import { describe, expect, it } from 'vitest';
import { formatReport } from '../../../../infra/sim/report.js';
import { run, strategy } from './shipped.js';

describe('overload day (6,440 races, over twice what the shared limit allows)', async () => {
  const designed = await run('overload-day.json', ['pacer']);
  const pacer = strategy(designed.report.strategies, 'pacer');

  it('is an overload: the high lane needs at most 60% of the limit, all lanes at least twice it', () => {
    expect(designed.report.load.highPeakShareOfLimit).toBeLessThanOrEqual(0.6);
    expect(designed.report.load.totalMinTimesLimit).toBeGreaterThanOrEqual(2);
    expect(designed.report.scenario.schedules).toBe(6_440);
  });

  it('pacer keeps 99.9% of the high lane', () => {
    expect(pacer.lanes.high.coverage).toBeGreaterThanOrEqual(0.999);
  });

  it('pacer puts the deficit on the lower lanes, and the deferrals show in the report', () => {
    expect(pacer.lanes.medium.coverage).toBeLessThan(0.5);
    expect(pacer.lanes.low.coverage).toBeLessThan(pacer.lanes.medium.coverage!);
    expect(pacer.lanes.medium.deferred).toBeGreaterThan(0);
    expect(pacer.lanes.low.deferred).toBeGreaterThan(pacer.lanes.medium.deferred!);
    expect(formatReport(designed.report)).toMatch(
      /^\| low +\| pacer +\|.*\| [\d,]+ \([\d,]+\/[\d,]+\) +\|/m,
    );
  });

  it('pacer keeps the shared limit busy: the lanes together use at least 95% of its slot-time', () => {
    // A slot a finished sync frees waits for the next refill (every 0.5 s) and a delivery.
    const used = (['high', 'medium', 'low'] as const).reduce(
      (sum, lane) => sum + (pacer.lanes[lane].slotShare ?? 0),
      0,
    );
    expect(used).toBeGreaterThanOrEqual(0.95);
  });

  it('pacer starves no lane: each keeps its reserved slots whenever it has work', () => {
    for (const lane of ['high', 'medium', 'low'] as const) {
      const counts = pacer.planner!.lanes[lane];
      expect(pacer.lanes[lane].syncs).toBeGreaterThan(0);
      expect(1 - counts.belowReserve / counts.demandSubTicks).toBeGreaterThanOrEqual(0.999);
    }
  });

  it('races waiting in the medium backlog as their 1-minute tier begins move to the high lane', () => {
    // Without that escalation a race whose last 5-minute point waits behind the medium backlog
    // stays in the medium lane after it needs a sync every minute (coverage 99.2% here).
    expect(pacer.planner!.escalated).toBeGreaterThan(0);
  });
});
