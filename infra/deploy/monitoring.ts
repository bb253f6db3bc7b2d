/**
 * What the monitoring part does with each log-based metric and alert policy, decided from one
 * `list` of each kind (instead of a `describe` per metric and a `list` plus a `describe` per
 * policy: every gcloud command costs a Python start). Pure: the files and the listings in, one
 * action per file out.
 */
import { containsAll, policyWithChannels } from './resources.js';

/** A log-based metric or alert policy file: its path, its name (or displayName), its body. */
export interface MonitoringFile {
  file: string;
  name: string;
  body: Record<string, unknown>;
}

export interface MetricAction {
  action: 'create' | 'update' | 'unchanged';
  file: string;
  name: string;
}

/**
 * Each metric file's action against the metrics listed (`logging metrics list --format=json`;
 * null in a dry run: everything is created). A listed metric is left alone when it holds
 * everything its file says (server-set fields and defaults left out don't count).
 */
export function metricActions(
  files: readonly MonitoringFile[],
  listed: readonly Record<string, unknown>[] | null,
): MetricAction[] {
  return files.map(({ file, name, body }) => {
    const current = (listed ?? []).find((metric) => metric.name === name);
    if (current === undefined) return { action: 'create', file, name };
    return { action: containsAll(current, body) ? 'unchanged' : 'update', file, name };
  });
}

export type PolicyAction =
  | { action: 'create'; name: string; policy: Record<string, unknown> }
  | { action: 'update'; name: string; existing: string; policy: Record<string, unknown> }
  | { action: 'unchanged'; name: string; existing: string }
  | { action: 'duplicate'; name: string; count: number };

/**
 * Each alert policy file's action against the policies listed (`alpha monitoring policies
 * list --format=json`; null in a dry run), known by displayName: created when none has it,
 * updated when the one that has it differs (keeping its notification channels unless
 * `channels` are given), left alone when equal; more than one with the name is for the
 * operator to sort out.
 */
export function policyActions(
  files: readonly MonitoringFile[],
  listed: readonly Record<string, unknown>[] | null,
  channels: readonly string[],
): PolicyAction[] {
  return files.map(({ name, body }) => {
    const matching = (listed ?? []).filter((policy) => policy.displayName === name);
    if (matching.length > 1) return { action: 'duplicate', name, count: matching.length };
    const [current] = matching;
    if (current === undefined) {
      return { action: 'create', name, policy: policyWithChannels(body, channels, null) };
    }
    const existing = typeof current.name === 'string' ? current.name : '';
    const policy = policyWithChannels(body, channels, current);
    return containsAll(current, policy)
      ? { action: 'unchanged', name, existing }
      : { action: 'update', name, existing, policy };
  });
}
