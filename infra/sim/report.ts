/**
 * The simulator's report for people: the scenario, its demand against the capacity, and the
 * strategies side by side, as Markdown tables (they read well in a terminal and paste into
 * docs as they are). Pure: returns text.
 */
import { LANES, type Lane } from '../../functions/schedule/lane.js';
import { iso } from '../../functions/schedule/time.js';
import type { LaneResult, ScheduleRun, StrategyResult } from './measure.js';
import type { SimSchedule } from './population.js';
import type { SimulationReport } from './simulate.js';

/** The whole report: scenario, demand, per-lane results, totals, outages, cost. */
export function formatReport(report: SimulationReport): string {
  return [
    formatScenario(report),
    formatLanes(report.strategies),
    formatTotals(report.strategies),
    formatOutages(report),
    formatPacerNotes(report.strategies),
  ]
    .filter((section) => section !== '')
    .join('\n\n');
}

function formatScenario({ scenario, load }: SimulationReport): string {
  const groups = Object.entries(scenario.groups)
    .map(([group, count]) => `${group} ${count.toLocaleString('en')}`)
    .join(', ');
  const failures = scenario.failures;
  const failureText =
    failures.retryable + failures.permanent + failures.crash + failures.duplicateDelivery === 0
      ? 'none'
      : [
          `retryable ${percent(failures.retryable)}`,
          `permanent ${percent(failures.permanent)}`,
          `worker crash ${percent(failures.crash)}`,
          `duplicate delivery ${percent(failures.duplicateDelivery)}`,
        ].join(', ');
  const outages =
    scenario.outages.length === 0
      ? 'none'
      : scenario.outages.map((outage) => `${outage.from} → ${outage.to}`).join(', ');
  const demand = LANES.map(
    (lane) => `${lane} ${load.lanes[lane].meanPerMinute} / ${load.lanes[lane].peakPerMinute}`,
  ).join(', ');
  const lines = [
    `Scenario ${scenario.name}${scenario.description === '' ? '' : ` — ${scenario.description}`}`,
    `Window ${scenario.start} → ${scenario.end} (warm-up ${duration(scenario.warmUpMs)}), seed ${scenario.seed}`,
    `Schedules ${scenario.schedules.toLocaleString('en')}: ${groups}`,
    `Workers high ${scenario.workers.high}, medium ${scenario.workers.medium}, low ${scenario.workers.low}; shared limit ${scenario.sharedLimit ?? 'none'}; sync duration ${scenario.syncDuration} (mean ${duration(load.meanSyncMs)})`,
    `Failures: ${failureText}. Planner outages: ${outages}. Sub-tick ${scenario.subTickSeconds}s.`,
    `Demand in syncs/min (mean / peak ${load.bucketMinutes}-minute bucket): ${demand}; all lanes ${load.total.meanPerMinute} / ${load.total.peakPerMinute} (least ${load.total.minPerMinute})`,
  ];
  if (load.capacityPerMinute !== null) {
    lines.push(
      `Capacity at the shared limit: ${load.capacityPerMinute} syncs/min. The high lane's peak needs ${percent(load.highPeakShareOfLimit ?? 0)} of the limit; all lanes need at least ${load.totalMinTimesLimit}× the limit.`,
    );
  }
  return lines.join('\n');
}

function formatLanes(strategies: readonly StrategyResult[]): string {
  const rows = LANES.flatMap((lane) =>
    strategies.map((result) => laneRow(lane, result.strategy, result.lanes[lane])),
  );
  return table(
    [
      'lane',
      'strategy',
      'expected',
      'synced',
      'coverage',
      'late p50',
      'p95',
      'p99',
      'max',
      'deferred (sub-ticks)',
      'dead letters',
    ],
    rows,
  );
}

function laneRow(lane: Lane, strategy: string, result: LaneResult): string[] {
  const late = result.lateness;
  return [
    lane,
    strategy,
    count(result.expected),
    count(result.syncs),
    result.coverage === null ? '—' : percent(result.coverage),
    late === null ? '—' : duration(late.p50),
    late === null ? '—' : duration(late.p95),
    late === null ? '—' : duration(late.p99),
    late === null ? '—' : duration(late.max),
    result.deferred === null
      ? '—'
      : `${count(result.deferred)} (${count(result.deferringSubTicks ?? 0)}/${count(result.demandSubTicks ?? 0)})`,
    result.deadLetters === null ? '—' : count(result.deadLetters),
  ];
}

function formatTotals(strategies: readonly StrategyResult[]): string {
  return table(
    [
      'strategy',
      'coverage',
      'synced',
      'attempts',
      'failed: retryable / timeout / permanent / crash / aborted / rejected',
      'duplicates',
      'dead letters',
    ],
    strategies.map((result) => {
      const o = result.total.outcomes;
      return [
        result.strategy,
        result.total.coverage === null ? '—' : percent(result.total.coverage),
        count(result.total.syncs),
        count(result.total.attempts),
        [o.retryable, o.timeout, o.permanent, o.crash, o.aborted, o.rejected]
          .map(count)
          .join(' / '),
        count(result.duplicates),
        result.deadLetters === null ? '—' : count(result.deadLetters),
      ];
    }),
  );
}

function formatOutages(report: SimulationReport): string {
  const first = report.strategies[0];
  if (first === undefined || first.outages.length === 0) return '';
  const rows = report.strategies.flatMap((result) =>
    result.outages.map((outage) => [
      `${iso(outage.from)} → ${iso(outage.to)}`,
      result.strategy,
      outage.highRecoveryMs === null ? 'never' : duration(outage.highRecoveryMs),
      outage.highCoverageFromTenMinutes === null ? '—' : percent(outage.highCoverageFromTenMinutes),
    ]),
  );
  return `Planner outages: how soon after the planner's return every high-lane due point was covered again\n\n${table(
    ['outage', 'strategy', 'high lane fully covered again after', 'high coverage from +10 min'],
    rows,
  )}`;
}

function formatPacerNotes(strategies: readonly StrategyResult[]): string {
  const pacer = strategies.find((result) => result.strategy === 'pacer');
  if (pacer?.planner == null || pacer.costPerSync === null) return '';
  const planner = pacer.planner;
  const cost = pacer.costPerSync;
  const reserve = LANES.map((lane) => {
    const counts = planner.lanes[lane];
    const held =
      counts.demandSubTicks === 0 ? '—' : percent(1 - counts.belowReserve / counts.demandSubTicks);
    return `${lane} ${held}`;
  }).join(', ');
  const share = LANES.map((lane) => `${lane} ${percent(pacer.lanes[lane].slotShare ?? 0)}`).join(
    ', ',
  );
  return [
    `pacer: ${count(planner.ticks)} ticks, ${count(planner.subTicks)} sub-ticks; claims refused by a changed document ${count(planner.conflicts)}; stale deliveries acked ${count(planner.staleAcks)}, duplicates acked ${count(planner.duplicateAcks)}; cron runs skipped ${count(planner.skippedCronRuns)}${planner.escalated > 0 ? `; escalated on a tier change ${count(planner.escalated)}` : ''}.`,
    `pacer reserve held (sub-ticks with demand that left the lane at least its reserved slots in flight): ${reserve}.`,
    pacer.lanes.high.slotShare === null
      ? ''
      : `pacer share of the shared limit's slot-time used by each lane: ${share}.`,
    `pacer cost per successful sync: ${cost.firestoreReads} Firestore reads, ${cost.firestoreWrites} writes, ${cost.messagesPublished} messages published, ${cost.deliveries} push deliveries, ${cost.invocations} function invocations.`,
  ]
    .filter((line) => line !== '')
    .join('\n');
}

/** One schedule under each strategy: coverage, missed due points, and its calls. */
export function formatScheduleDetail(
  schedule: SimSchedule,
  runs: readonly ScheduleRun[],
  attemptsShown = 40,
): string {
  const cadence = schedule.spec.cadence;
  const what =
    cadence.kind === 'event'
      ? `event starting ${iso(cadence.startsAt)}`
      : cadence.kind === 'interval'
        ? `interval every ${duration(cadence.every)}`
        : `cron "${cadence.expression}" (${cadence.timezone})`;
  const sections = [
    `Schedule ${schedule.id}${schedule.group === null ? '' : ` (group ${schedule.group})`}: ${what}, created ${iso(schedule.createdAt)}${schedule.spec.lane === undefined ? '' : `, lane ${schedule.spec.lane}`}`,
    table(
      ['strategy', 'expected', 'covered', 'missed', 'calls', 'dead letters'],
      runs.map((run) => [
        run.strategy,
        count(run.expected),
        count(run.covered),
        count(run.missed.length),
        count(run.attempts.length),
        run.deadLetters === null ? '—' : count(run.deadLetters.length),
      ]),
    ),
  ];
  for (const run of runs) {
    const missed =
      run.missedRuns.length === 0
        ? 'none'
        : run.missedRuns
            .map((span) =>
              span.count === 1
                ? clock(span.from)
                : `${clock(span.from)} – ${clock(span.to)} (${span.count})`,
            )
            .join(', ');
    const shown = run.attempts.slice(0, attemptsShown);
    const rest = run.attempts.length - shown.length;
    sections.push(
      [
        `${run.strategy}: missed due points: ${missed}`,
        '',
        table(
          ['due', 'lane', 'started', 'late', 'took', 'outcome', 'attempt'],
          shown.map((attempt) => [
            iso(attempt.dueAt),
            attempt.lane,
            iso(attempt.start),
            duration(attempt.latenessMs),
            duration(attempt.end - attempt.start),
            attempt.outcome,
            String(attempt.attempt),
          ]),
        ),
        rest > 0 ? `… and ${count(rest)} more calls (--json lists them all)` : '',
      ]
        .filter((line, index) => index < 3 || line !== '')
        .join('\n'),
    );
  }
  return sections.join('\n\n');
}

// ---------------------------------------------------------------------------------------------
// Formatting.

/** A Markdown table with aligned columns. */
export function table(header: readonly string[], rows: readonly (readonly string[])[]): string {
  const widths = header.map((title, column) =>
    Math.max(title.length, ...rows.map((row) => (row[column] ?? '').length)),
  );
  const line = (cells: readonly string[]) =>
    `| ${cells.map((cell, column) => cell.padEnd(widths[column] ?? 0)).join(' | ')} |`;
  return [
    line(header),
    `| ${widths.map((width) => '-'.repeat(width)).join(' | ')} |`,
    ...rows.map(line),
  ].join('\n');
}

/** `0.99934` → `99.93%`. */
export function percent(share: number): string {
  return `${(Math.floor(share * 10_000) / 100).toFixed(2)}%`;
}

/** A duration for people: `850ms`, `16.2s`, `9m 02s`, `3h 28m`. */
export function duration(ms: number): string {
  const sign = ms < 0 ? '-' : '';
  const value = Math.abs(ms);
  if (value < 1_000) return `${sign}${Math.round(value)}ms`;
  if (value < 60_000) return `${sign}${(value / 1_000).toFixed(1)}s`;
  if (value < 3_600_000) {
    const seconds = Math.round(value / 1_000);
    return `${sign}${Math.floor(seconds / 60)}m ${String(seconds % 60).padStart(2, '0')}s`;
  }
  const minutes = Math.round(value / 60_000);
  return `${sign}${Math.floor(minutes / 60)}h ${String(minutes % 60).padStart(2, '0')}m`;
}

function count(value: number): string {
  return value.toLocaleString('en');
}

/** `2026-06-20T07:01:00.000Z` → `06-20 07:01:00`. */
function clock(ms: number): string {
  return iso(ms).slice(5, 19).replace('T', ' ');
}
