/**
 * infra/monitoring/dashboards/pacer.json is a Dashboard API v1 dashboard the deploy creates with
 * gcloud. It must be what the API accepts (./dashboard-schema.ts), chart only log-based metrics
 * the deploy creates (infra/monitoring/metrics), by labels those metrics extract, and show what
 * an operator reads it for: per lane due, dispatched, deferred, in flight and oldest lag; syncs
 * by outcome; dead letters; the planner's pace.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import type { LaneSummary } from '../../functions/planner/tick.js';
import { LANES } from '../../functions/schedule/lane.js';
import {
  Dashboard,
  dashboardProblems,
  parseFilter,
  queriesOf,
  type LogMetric,
} from './dashboard-schema.js';

const ROOT = new URL('../../', import.meta.url).pathname;
const DASHBOARDS = join(ROOT, 'infra/monitoring/dashboards');
const METRICS = join(ROOT, 'infra/monitoring/metrics');

const metrics: LogMetric[] = readdirSync(METRICS)
  .filter((file) => file.endsWith('.yaml'))
  .map((file) => parse(readFileSync(join(METRICS, file), 'utf8')) as LogMetric);
const files = readdirSync(DASHBOARDS).filter((file) => file.endsWith('.json'));
const raw = JSON.parse(readFileSync(join(DASHBOARDS, 'pacer.json'), 'utf8')) as unknown;
// A file the schema refuses fails the first test below, not the import: the other tests still say
// what they find in it.
const parsed = Dashboard.safeParse(raw);
const dashboard = parsed.success ? parsed.data : (raw as Dashboard);

/**
 * The metric of each per-lane number the planner logs in tick.summary (`lanes.<lane>.<field>`),
 * as `pacer_<measure>_<lane>`. Typed against LaneSummary: a field added to the summary does not
 * compile here until it has its metric.
 */
const LANE_MEASURES = {
  due: 'due',
  dispatched: 'dispatched',
  deferred: 'deferred',
  inFlight: 'in_flight',
  oldestLagMs: 'oldest_lag',
} as const satisfies Record<keyof LaneSummary, string>;

const chartOf = (title: string) => {
  const tile = dashboard.mosaicLayout.tiles.find((t) => t.widget.title === title);
  expect(tile, title).toBeDefined();
  return tile!.widget.xyChart!;
};
type Tile = Dashboard['mosaicLayout']['tiles'][number];
/** The metric each data set of a tile charts, in order. */
const metricsIn = (tile: Tile) =>
  (tile.widget.xyChart?.dataSets ?? []).map((set) => {
    const parsed = parseFilter(set.timeSeriesQuery.timeSeriesFilter.filter);
    return parsed.ok ? parsed.metric : parsed.problem;
  });
const metricsOf = (title: string) => {
  chartOf(title);
  return metricsIn(dashboard.mosaicLayout.tiles.find((t) => t.widget.title === title)!);
};

describe('the dashboards', () => {
  it.each(files)('%s is in the Dashboard API’s shape', (file) => {
    const text = readFileSync(join(DASHBOARDS, file), 'utf8');
    const result = Dashboard.safeParse(JSON.parse(text));
    expect(result.success ? [] : result.error.issues).toEqual([]);
  });

  it.each(files)(
    '%s charts only deployed metrics, by labels they extract, with aligners that plot them',
    (file) => {
      const result = Dashboard.safeParse(JSON.parse(readFileSync(join(DASHBOARDS, file), 'utf8')));
      expect(result.success && dashboardProblems(result.data, metrics)).toEqual([]);
    },
  );

  it('include pacer.json, with distinct display names', () => {
    expect(files).toContain('pacer.json');
    expect(parsed.success).toBe(true);
    const names = files.map(
      (file) => (JSON.parse(readFileSync(join(DASHBOARDS, file), 'utf8')) as Dashboard).displayName,
    );
    expect(new Set(names).size).toBe(files.length);
  });

  it('show due, dispatched, deferred, in flight and oldest lag for every lane', () => {
    for (const measure of Object.values(LANE_MEASURES)) {
      const chart = dashboard.mosaicLayout.tiles.find(
        (tile) => metricsIn(tile)[0] === `pacer_${measure}_high`,
      );
      expect(chart, measure).toBeDefined();
      const sets = chart!.widget.xyChart!.dataSets;
      expect(sets.map((set) => set.legendTemplate)).toEqual([...LANES]);
      expect(metricsOf(chart!.widget.title!)).toEqual(
        LANES.map((lane) => `pacer_${measure}_${lane}`),
      );
    }
  });

  it('show syncs by outcome, dead letters by reason, and the planner’s sub-ticks', () => {
    expect(new Set(metricsOf('Syncs per minute, by outcome'))).toEqual(new Set(['pacer_syncs']));
    const outcomes = queriesOf(dashboard)
      .filter((query) => query.chart === 'Syncs per minute, by outcome')
      .map((query) => {
        const parsed = parseFilter(query.filter);
        return parsed.ok ? `${parsed.resourceType} ${JSON.stringify(parsed.labels)}` : '';
      });
    // Workers and long syncs' job executions, each completed, retried and given up.
    expect(new Set(outcomes).size).toBe(6);
    expect(metricsOf('Dead letters per minute, by reason')).toEqual(['pacer_dead_letters']);
    expect(metricsOf('Sub-tick duration')).toEqual([
      'pacer_subtick_duration',
      'pacer_subtick_duration',
    ]);
    expect(metricsOf('Sub-ticks per minute')).toEqual(['pacer_ticks', 'pacer_tick_slow']);
  });

  it('draw the oldest-lag alert thresholds the alert policy uses', () => {
    const policy = parse(
      readFileSync(join(ROOT, 'infra/monitoring/policies/oldest-lag.yaml'), 'utf8'),
    ) as { conditions: { conditionThreshold: { thresholdValue: number } }[] };
    const alerting = policy.conditions.map((c) => c.conditionThreshold.thresholdValue);
    const drawn = (chartOf('Oldest lag (p99), by lane').thresholds ?? []).map((t) => t.value);
    expect(drawn.sort((a, b) => a - b)).toEqual(alerting.sort((a, b) => a - b));
  });

  it('has every chart explained in docs/operations.md, "Dashboard"', () => {
    const runbook = readFileSync(join(ROOT, 'docs/operations.md'), 'utf8');
    const section = /^## Dashboard$([\s\S]*?)^## /m.exec(runbook)?.[1] ?? '';
    expect(section).not.toBe('');
    for (const tile of dashboard.mosaicLayout.tiles) {
      if (tile.widget.xyChart)
        expect(section, tile.widget.title).toContain(`**${tile.widget.title}**`);
    }
  });
});

describe('the metrics behind the dashboard', () => {
  it.each(Object.entries(LANE_MEASURES))(
    'lanes.<lane>.%s has one distribution metric per lane, the same but for the lane',
    (field, measure) => {
      const [high, ...others] = LANES.map((lane) => {
        const metric = metrics.find((m) => m.name === `pacer_${measure}_${lane}`);
        expect(metric, `pacer_${measure}_${lane}`).toBeDefined();
        expect(metric!.valueExtractor).toBe(`EXTRACT(jsonPayload.lanes.${lane}.${field})`);
        expect(metric!.metricDescriptor.valueType).toBe('DISTRIBUTION');
        expect(metric!.filter).toContain('jsonPayload.event="tick.summary"');
        return readFileSync(join(METRICS, `pacer_${measure}_${lane}.yaml`), 'utf8');
      });
      for (const [i, text] of others.entries()) {
        expect(text.replaceAll(LANES[i + 1]!, 'high')).toBe(high);
      }
    },
  );

  it.each(metrics.map((metric) => [metric.name, metric] as const))(
    '%s declares exactly the labels it extracts',
    (_name, metric) => {
      const declared = (metric.metricDescriptor.labels ?? []).map((label) => label.key).sort();
      expect(Object.keys(metric.labelExtractors ?? {}).sort()).toEqual(declared);
    },
  );
});

describe('the checks fail on a broken copy', () => {
  const copy = () => structuredClone(raw) as Dashboard;
  const firstSet = (d: Dashboard) => d.mosaicLayout.tiles[1]!.widget.xyChart!.dataSets[0]!;
  const syncsSet = (d: Dashboard) =>
    d.mosaicLayout.tiles.find((t) => t.widget.title === 'Syncs per minute, by outcome')!.widget
      .xyChart!.dataSets[0]!;
  const problemsOf = (broken: Dashboard): string[] => {
    const parsed = Dashboard.safeParse(broken);
    if (!parsed.success) return parsed.error.issues.map((issue) => issue.message);
    return dashboardProblems(parsed.data, metrics);
  };

  it.each<[string, (d: Dashboard) => void, RegExp]>([
    ['overlapping tiles', (d) => Object.assign(d.mosaicLayout.tiles[2]!, { xPos: 10 }), /overlaps/],
    [
      'a tile past the grid',
      (d) => Object.assign(d.mosaicLayout.tiles[2]!, { width: 30 }),
      /past the grid's 48/,
    ],
    ['a grid of 24 columns', (d) => Object.assign(d.mosaicLayout, { columns: 24 }), /./],
    [
      'a widget kind the schema does not describe',
      (d) => Object.assign(d.mosaicLayout.tiles[0]!.widget, { scorecard: {} }),
      /scorecard|exactly one/,
    ],
    [
      'a widget with no kind',
      (d) => {
        delete d.mosaicLayout.tiles[0]!.widget.text;
      },
      /exactly one/,
    ],
    [
      'an aligner the API does not have',
      (d) =>
        Object.assign(firstSet(d).timeSeriesQuery.timeSeriesFilter.aggregation!, {
          perSeriesAligner: 'ALIGN_AVERAGE',
        }),
      /./,
    ],
    [
      'a reducer without an aligner',
      (d) => {
        delete firstSet(d).timeSeriesQuery.timeSeriesFilter.aggregation!.perSeriesAligner;
      },
      /crossSeriesReducer needs/,
    ],
    [
      'a distribution metric aligned with ALIGN_MAX',
      (d) =>
        Object.assign(firstSet(d).timeSeriesQuery.timeSeriesFilter.aggregation!, {
          perSeriesAligner: 'ALIGN_MAX',
        }),
      /ALIGN_MAX does not plot a DISTRIBUTION/,
    ],
    [
      'a reducer of booleans',
      (d) =>
        Object.assign(firstSet(d).timeSeriesQuery.timeSeriesFilter.aggregation!, {
          crossSeriesReducer: 'REDUCE_FRACTION_TRUE',
        }),
      /REDUCE_FRACTION_TRUE reduces booleans/,
    ],
    [
      'a metric that is not deployed',
      (d) => {
        const filter = firstSet(d).timeSeriesQuery.timeSeriesFilter;
        filter.filter = filter.filter.replace('pacer_due_high', 'pacer_due_urgent');
      },
      /pacer_due_urgent is not in infra\/monitoring\/metrics/,
    ],
    [
      'a filter on another kind of metric',
      (d) => {
        firstSet(d).timeSeriesQuery.timeSeriesFilter.filter =
          'metric.type="run.googleapis.com/request_count"';
      },
      /does not start with/,
    ],
    [
      'grouping by a label the metric does not extract',
      (d) => {
        syncsSet(d).timeSeriesQuery.timeSeriesFilter.aggregation!.groupByFields = [
          'metric.label.reason',
        ];
      },
      /groups by metric.label.reason, which pacer_syncs does not extract/,
    ],
    [
      'a legend showing a label it does not group by',
      (d) => {
        syncsSet(d).legendTemplate = '${metric.labels.lane}';
      },
      /does not group by/,
    ],
    [
      'a resource type the metric has no points on',
      (d) => {
        const filter = firstSet(d).timeSeriesQuery.timeSeriesFilter;
        filter.filter = filter.filter.replace('cloud_run_revision', 'cloud_run_job');
      },
      /has no points on cloud_run_job/,
    ],
    [
      'a name (the project gives it)',
      (d) => Object.assign(d, { name: 'projects/p/dashboards/x' }),
      /./,
    ],
    [
      'a threshold colour the API does not have (only YELLOW and RED)',
      (d) => {
        const chart = d.mosaicLayout.tiles.find((t) => t.widget.xyChart?.thresholds)!;
        chart.widget.xyChart!.thresholds![0]!.color = 'ORANGE' as 'RED';
      },
      /ORANGE|Invalid option/,
    ],
    [
      'a misspelt field',
      (d) => Object.assign(firstSet(d), { legendTemplates: 'x' }),
      /legendTemplates/,
    ],
  ])('%s', (_what, breakIt, expected) => {
    const broken = copy();
    breakIt(broken);
    const problems = problemsOf(broken);
    expect(problems.length).toBeGreaterThan(0);
    expect(problems.join('\n')).toMatch(expected);
  });
});
