/**
 * infra/monitoring holds what deploy.sh gives gcloud: log-based metrics keyed on the stable
 * `event` names pacer logs, and alert policies on those metrics. Every metric an alert refers
 * to is defined, every event a metric filters on is one pacer logs, and every alert points at
 * its section of the runbook.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { LOG_EVENTS } from '../../functions/log.js';
import { LANES } from '../../functions/schedule/lane.js';

const ROOT = new URL('../../', import.meta.url).pathname;
const read = (dir: string) =>
  readdirSync(join(ROOT, dir))
    .filter((file) => file.endsWith('.yaml'))
    .map((file) => ({
      file,
      data: parse(readFileSync(join(ROOT, dir, file), 'utf8')) as Record<string, unknown>,
    }));

interface Metric {
  name: string;
  filter: string;
  metricDescriptor: { metricKind: string; valueType: string };
  valueExtractor?: string;
}
interface Policy {
  displayName: string;
  documentation: { content: string };
  conditions: {
    displayName: string;
    conditionThreshold?: { filter: string };
    conditionAbsent?: { filter: string };
  }[];
}

const metrics = read('infra/monitoring/metrics').map(({ file, data }) => ({
  file,
  metric: data as unknown as Metric,
}));
const policies = read('infra/monitoring/policies').map(({ file, data }) => ({
  file,
  policy: data as unknown as Policy,
}));
const runbook = readFileSync(join(ROOT, 'docs/operations.md'), 'utf8');
const dashboardFilters: string[] = [];
JSON.parse(
  readFileSync(join(ROOT, 'infra/monitoring/dashboards/pacer.json'), 'utf8'),
  (key, value: unknown) => {
    if (key === 'filter' && typeof value === 'string') dashboardFilters.push(value);
    return value;
  },
);

const eventsIn = (filter: string) =>
  [...filter.matchAll(/jsonPayload\.event\s*=\s*"([^"]+)"/g)].map((match) => match[1]);
const metricsIn = (filter: string) =>
  [...filter.matchAll(/metric\.type\s*=\s*"logging\.googleapis\.com\/user\/([^"]+)"/g)].map(
    (match) => match[1],
  );

describe('the log-based metrics', () => {
  it.each(metrics)('$file filters on events pacer logs', ({ file, metric }) => {
    expect(file).toBe(`${metric.name}.yaml`);
    const events = eventsIn(metric.filter);
    expect(events.length).toBeGreaterThan(0);
    for (const event of events) expect(LOG_EVENTS).toContain(event);
  });

  it('count the alert events, the ticks and the dead letters, and measure each lane’s oldest lag', () => {
    const byEvent = (event: string) =>
      metrics.filter(({ metric }) => eventsIn(metric.filter).includes(event)).map((m) => m.metric);
    expect(byEvent('alert.high_deferred')).toHaveLength(1);
    expect(byEvent('alert.tick_slow')).toHaveLength(1);
    expect(byEvent('deadletter.recorded')).toHaveLength(1);
    const lags = byEvent('tick.summary').filter((m) => m.valueExtractor?.includes('.oldestLagMs'));
    expect(lags.map((m) => m.valueExtractor).sort()).toEqual(
      LANES.map((lane) => `EXTRACT(jsonPayload.lanes.${lane}.oldestLagMs)`).sort(),
    );
    for (const lag of lags) expect(lag.metricDescriptor.valueType).toBe('DISTRIBUTION');
  });
});

describe('the alert policies', () => {
  const defined = new Set(metrics.map(({ metric }) => metric.name));

  it.each(policies)('$file alerts only on metrics that are defined', ({ policy }) => {
    expect(policy.conditions.length).toBeGreaterThan(0);
    for (const condition of policy.conditions) {
      const filter = (condition.conditionThreshold ?? condition.conditionAbsent)?.filter ?? '';
      const used = metricsIn(filter);
      expect(used, condition.displayName).toHaveLength(1);
      for (const name of used) expect(defined).toContain(name);
    }
  });

  it.each(policies)('$file points at a section of the runbook that exists', ({ policy }) => {
    const section = /docs\/operations\.md,\s+"([^"]+)"/.exec(policy.documentation.content)?.[1];
    expect(section).toBeDefined();
    expect(runbook).toMatch(new RegExp(`^#+ ${section!}$`, 'm'));
  });

  it('with the dashboard, cover every metric, including a tick that goes missing', () => {
    const used = new Set([
      ...policies.flatMap(({ policy }) =>
        policy.conditions.flatMap((condition) =>
          metricsIn((condition.conditionThreshold ?? condition.conditionAbsent)?.filter ?? ''),
        ),
      ),
      // infra/monitoring/dashboards charts the rest (test/infra/monitoring-dashboard.test.ts).
      ...dashboardFilters.flatMap(metricsIn),
    ]);
    expect([...defined].filter((name) => !used.has(name))).toEqual([]);
    const absent = policies.flatMap(({ policy }) =>
      policy.conditions.filter((condition) => condition.conditionAbsent !== undefined),
    );
    expect(absent.map((condition) => metricsIn(condition.conditionAbsent!.filter))).toEqual([
      ['pacer_ticks'],
    ]);
  });
});
