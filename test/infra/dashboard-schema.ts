/**
 * The shape of a Cloud Monitoring dashboard (Dashboard API v1, `projects.dashboards`) as far as
 * pacer's dashboards use it, and the checks that tie a dashboard to the log-based metrics the
 * deploy creates. Strict: a field the API does not know, a widget kind this schema does not
 * describe, an enum value the API does not have, or a tile outside its grid is a problem here,
 * not a 400 on the first deploy.
 */
import { z } from 'zod';

/** Aggregation.Aligner, every value the API accepts. */
export const ALIGNERS = [
  'ALIGN_NONE',
  'ALIGN_DELTA',
  'ALIGN_RATE',
  'ALIGN_INTERPOLATE',
  'ALIGN_NEXT_OLDER',
  'ALIGN_MIN',
  'ALIGN_MAX',
  'ALIGN_MEAN',
  'ALIGN_COUNT',
  'ALIGN_SUM',
  'ALIGN_STDDEV',
  'ALIGN_COUNT_TRUE',
  'ALIGN_COUNT_FALSE',
  'ALIGN_FRACTION_TRUE',
  'ALIGN_PERCENTILE_99',
  'ALIGN_PERCENTILE_95',
  'ALIGN_PERCENTILE_50',
  'ALIGN_PERCENTILE_05',
  'ALIGN_PERCENT_CHANGE',
] as const;

/** Aggregation.Reducer, every value the API accepts. */
export const REDUCERS = [
  'REDUCE_NONE',
  'REDUCE_MEAN',
  'REDUCE_MIN',
  'REDUCE_MAX',
  'REDUCE_SUM',
  'REDUCE_STDDEV',
  'REDUCE_COUNT',
  'REDUCE_COUNT_TRUE',
  'REDUCE_COUNT_FALSE',
  'REDUCE_FRACTION_TRUE',
  'REDUCE_PERCENTILE_99',
  'REDUCE_PERCENTILE_95',
  'REDUCE_PERCENTILE_50',
  'REDUCE_PERCENTILE_05',
] as const;

/**
 * The aligners that turn a DELTA series of a value type into numbers a line can plot
 * (the Aligner reference: ALIGN_MAX, ALIGN_RATE... take numeric values only; the percentiles
 * take distributions only; ALIGN_SUM of a distribution is a distribution again, a heatmap).
 */
export const PLOTTABLE_ALIGNERS: Record<'INT64' | 'DOUBLE' | 'DISTRIBUTION', readonly string[]> = {
  INT64: [
    'ALIGN_DELTA',
    'ALIGN_RATE',
    'ALIGN_MIN',
    'ALIGN_MAX',
    'ALIGN_MEAN',
    'ALIGN_COUNT',
    'ALIGN_SUM',
  ],
  DOUBLE: [
    'ALIGN_DELTA',
    'ALIGN_RATE',
    'ALIGN_MIN',
    'ALIGN_MAX',
    'ALIGN_MEAN',
    'ALIGN_COUNT',
    'ALIGN_SUM',
  ],
  DISTRIBUTION: [
    'ALIGN_MEAN',
    'ALIGN_PERCENTILE_99',
    'ALIGN_PERCENTILE_95',
    'ALIGN_PERCENTILE_50',
    'ALIGN_PERCENTILE_05',
  ],
};

/** A protobuf Duration in JSON: seconds with an `s`. */
const Duration = z.string().regex(/^\d+(\.\d{1,9})?s$/, 'a duration like "60s"');

const Aggregation = z
  .strictObject({
    alignmentPeriod: Duration.optional(),
    perSeriesAligner: z.enum(ALIGNERS).optional(),
    crossSeriesReducer: z.enum(REDUCERS).optional(),
    groupByFields: z.array(z.string().min(1)).optional(),
  })
  .refine(
    (aggregation) =>
      aggregation.crossSeriesReducer === undefined ||
      aggregation.crossSeriesReducer === 'REDUCE_NONE' ||
      (aggregation.alignmentPeriod !== undefined &&
        aggregation.perSeriesAligner !== undefined &&
        aggregation.perSeriesAligner !== 'ALIGN_NONE'),
    'a crossSeriesReducer needs a perSeriesAligner (not ALIGN_NONE) and an alignmentPeriod',
  );

/** Only the filter form of a query: the metric it names can then be checked. */
const TimeSeriesQuery = z.strictObject({
  timeSeriesFilter: z.strictObject({
    filter: z.string().min(1),
    aggregation: Aggregation.optional(),
    secondaryAggregation: Aggregation.optional(),
  }),
  unitOverride: z.string().optional(),
  outputFullDuration: z.boolean().optional(),
});

const TargetAxis = z.enum(['TARGET_AXIS_UNSPECIFIED', 'Y1', 'Y2']);

const DataSet = z.strictObject({
  timeSeriesQuery: TimeSeriesQuery,
  plotType: z
    .enum(['PLOT_TYPE_UNSPECIFIED', 'LINE', 'STACKED_AREA', 'STACKED_BAR', 'HEATMAP'])
    .optional(),
  legendTemplate: z.string().optional(),
  minAlignmentPeriod: Duration.optional(),
  targetAxis: TargetAxis.optional(),
});

const Threshold = z.strictObject({
  label: z.string().optional(),
  value: z.number(),
  color: z.enum(['COLOR_UNSPECIFIED', 'YELLOW', 'RED']).optional(),
  direction: z.enum(['DIRECTION_UNSPECIFIED', 'ABOVE', 'BELOW']).optional(),
  targetAxis: TargetAxis.optional(),
});

const Axis = z.strictObject({
  label: z.string().optional(),
  scale: z.enum(['SCALE_UNSPECIFIED', 'LINEAR', 'LOG10']).optional(),
});

const XyChart = z.strictObject({
  dataSets: z.array(DataSet).min(1),
  timeshiftDuration: Duration.optional(),
  thresholds: z.array(Threshold).optional(),
  xAxis: Axis.optional(),
  yAxis: Axis.optional(),
  y2Axis: Axis.optional(),
  chartOptions: z
    .strictObject({ mode: z.enum(['MODE_UNSPECIFIED', 'COLOR', 'X_RAY', 'STATS']) })
    .optional(),
});

const Text = z.strictObject({
  content: z.string().min(1),
  format: z.enum(['FORMAT_UNSPECIFIED', 'MARKDOWN', 'RAW']).optional(),
});

/** The widget kinds this schema describes in full; a widget has exactly one. */
export const WIDGET_KINDS = ['xyChart', 'text', 'blank'] as const;

const Widget = z
  .strictObject({
    title: z.string().optional(),
    id: z.string().optional(),
    xyChart: XyChart.optional(),
    text: Text.optional(),
    blank: z.strictObject({}).optional(),
  })
  .refine(
    (widget) => WIDGET_KINDS.filter((kind) => widget[kind] !== undefined).length === 1,
    `a widget has exactly one of ${WIDGET_KINDS.join(', ')}`,
  );

const GridPosition = z.number().int().nonnegative();
const GridSize = z.number().int().min(1);

const Tile = z.strictObject({
  // Zero positions may be left out (proto3 JSON omits them).
  xPos: GridPosition.optional(),
  yPos: GridPosition.optional(),
  width: GridSize,
  height: GridSize,
  widget: Widget,
});

type TileShape = z.infer<typeof Tile>;

/** Two tiles overlap when their rectangles share a grid block. */
function overlaps(a: TileShape, b: TileShape): boolean {
  const [ax, ay, bx, by] = [a.xPos ?? 0, a.yPos ?? 0, b.xPos ?? 0, b.yPos ?? 0];
  return ax < bx + b.width && bx < ax + a.width && ay < by + b.height && by < ay + a.height;
}

const MosaicLayout = z
  .strictObject({
    columns: z.union([z.literal(12), z.literal(48)]),
    tiles: z.array(Tile).min(1),
  })
  .superRefine((layout, context) => {
    layout.tiles.forEach((tile, i) => {
      const name = tile.widget.title ?? `tile ${i}`;
      if ((tile.xPos ?? 0) + tile.width > layout.columns) {
        context.addIssue({
          code: 'custom',
          path: ['tiles', i],
          message: `"${name}" reaches column ${(tile.xPos ?? 0) + tile.width}, past the grid's ${layout.columns}`,
        });
      }
      layout.tiles.slice(0, i).forEach((other, j) => {
        if (overlaps(tile, other)) {
          context.addIssue({
            code: 'custom',
            path: ['tiles', i],
            message: `"${name}" overlaps "${other.widget.title ?? `tile ${j}`}"`,
          });
        }
      });
    });
  });

/**
 * A dashboard as `gcloud monitoring dashboards create --config-from-file` takes it: no `name` or
 * `etag` (the project gives those), a mosaic layout.
 */
export const Dashboard = z.strictObject({
  displayName: z.string().min(1),
  mosaicLayout: MosaicLayout,
  labels: z.record(z.string(), z.string()).optional(),
});
export type Dashboard = z.infer<typeof Dashboard>;

/** A log-based metric file of infra/monitoring/metrics, the fields the checks read. */
export interface LogMetric {
  name: string;
  filter: string;
  metricDescriptor: {
    metricKind: string;
    valueType: 'INT64' | 'DOUBLE' | 'DISTRIBUTION';
    labels?: { key: string }[];
  };
  labelExtractors?: Record<string, string>;
  valueExtractor?: string;
}

/** One data set's query, with the chart it is in. */
export interface ChartQuery {
  chart: string;
  legend: string | undefined;
  filter: string;
  aggregation: z.infer<typeof Aggregation> | undefined;
}

/** Every time-series query of the dashboard. */
export function queriesOf(dashboard: Dashboard): ChartQuery[] {
  return dashboard.mosaicLayout.tiles.flatMap((tile) =>
    (tile.widget.xyChart?.dataSets ?? []).map((set) => ({
      chart: tile.widget.title ?? '(untitled)',
      legend: set.legendTemplate,
      filter: set.timeSeriesQuery.timeSeriesFilter.filter,
      aggregation: set.timeSeriesQuery.timeSeriesFilter.aggregation,
    })),
  );
}

/** What a chart filter says, or why it is not a filter on one of pacer's log-based metrics. */
export type ParsedFilter =
  | { ok: true; metric: string; resourceType: string | undefined; labels: Record<string, string> }
  | { ok: false; problem: string };

/**
 * Parses `metric.type="logging.googleapis.com/user/NAME"` followed by ` AND ` clauses, each
 * `resource.type="..."` or `metric.label.KEY="..."`: the only filters pacer's charts use.
 */
export function parseFilter(filter: string): ParsedFilter {
  const [first, ...rest] = filter.split(' AND ');
  const metric = /^metric\.type="logging\.googleapis\.com\/user\/([a-z][a-z0-9_]*)"$/.exec(
    first ?? '',
  )?.[1];
  if (metric === undefined) {
    return {
      ok: false,
      problem: `"${filter}" does not start with metric.type="logging.googleapis.com/user/NAME"`,
    };
  }
  let resourceType: string | undefined;
  const labels: Record<string, string> = {};
  for (const clause of rest) {
    const resource = /^resource\.type="([a-z_]+)"$/.exec(clause);
    const label = /^metric\.label\.([a-z_]+)="([^"]*)"$/.exec(clause);
    if (resource) resourceType = resource[1];
    else if (label) labels[label[1]!] = label[2]!;
    else
      return {
        ok: false,
        problem: `"${clause}" in "${filter}" is not a clause pacer's charts use`,
      };
  }
  return { ok: true, metric, resourceType, labels };
}

/**
 * Ties the dashboard to the deployed log-based metrics; returns every problem found (none: the
 * dashboard only names metrics that exist, by labels they extract, with aligners that fit them).
 */
export function dashboardProblems(dashboard: Dashboard, metrics: readonly LogMetric[]): string[] {
  const byName = new Map(metrics.map((metric) => [metric.name, metric]));
  const problems: string[] = [];
  for (const query of queriesOf(dashboard)) {
    const where = `"${query.chart}" (${query.legend ?? 'no legend'})`;
    const parsed = parseFilter(query.filter);
    if (!parsed.ok) {
      problems.push(`${where}: ${parsed.problem}`);
      continue;
    }
    const metric = byName.get(parsed.metric);
    if (metric === undefined) {
      problems.push(`${where}: ${parsed.metric} is not in infra/monitoring/metrics`);
      continue;
    }
    const extracted = new Set(Object.keys(metric.labelExtractors ?? {}));
    const grouped = new Set<string>();
    for (const field of query.aggregation?.groupByFields ?? []) {
      const key = /^metric\.label\.([a-z_]+)$/.exec(field)?.[1];
      if (key === undefined) problems.push(`${where}: groups by ${field}, not metric.label.KEY`);
      else if (!extracted.has(key)) {
        problems.push(`${where}: groups by ${field}, which ${metric.name} does not extract`);
      } else grouped.add(key);
    }
    for (const key of Object.keys(parsed.labels)) {
      if (!extracted.has(key)) {
        problems.push(
          `${where}: filters on metric.label.${key}, which ${metric.name} does not extract`,
        );
      }
    }
    for (const [, key] of (query.legend ?? '').matchAll(/\$\{metric\.labels\.([a-z_]+)\}/g)) {
      if (!grouped.has(key!)) {
        problems.push(
          `${where}: the legend shows metric.labels.${key!}, which it does not group by`,
        );
      }
    }
    if (
      parsed.resourceType !== undefined &&
      !metric.filter.includes(`resource.type="${parsed.resourceType}"`)
    ) {
      problems.push(`${where}: ${metric.name} has no points on ${parsed.resourceType}`);
    }
    const reducer = query.aggregation?.crossSeriesReducer;
    if (reducer !== undefined && /_(TRUE|FALSE)$/.test(reducer)) {
      problems.push(`${where}: ${reducer} reduces booleans; pacer's metrics are numbers`);
    }
    const aligner = query.aggregation?.perSeriesAligner;
    const plottable = PLOTTABLE_ALIGNERS[metric.metricDescriptor.valueType];
    if (aligner === undefined || !plottable.includes(aligner)) {
      problems.push(
        `${where}: ${aligner ?? 'no aligner'} does not plot a ${metric.metricDescriptor.valueType} metric (${plottable.join(', ')})`,
      );
    }
  }
  return problems;
}
