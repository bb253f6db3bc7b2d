/**
 * What the deploy creates comes from the topology: the names and numbers deploy.sh reads are
 * the ones describeTopology gives for the same settings, and the small decisions it leaves to
 * Node (missing indexes, field overrides, comparisons, secrets) are right.
 */
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { defaultSettings, loadSettings } from '../../../functions/config.js';
import { LANES } from '../../../functions/schedule/lane.js';
import { describeTopology, SERVICE_ACCOUNTS } from '../../../functions/topology.js';
import {
  deployPlan,
  functionEnvYaml,
  planFromEnv,
  planLines,
  secretRef,
} from '../../../infra/deploy/plan.js';
import {
  containsAll,
  hasBinding,
  fieldActions,
  indexCreateArgs,
  missingIndexes,
  policyWithChannels,
  rulesetBody,
  rulesetHolds,
  type IndexFile,
} from '../../../infra/deploy/resources.js';

/** The lines as deploy.sh reads them into an associative array. */
function parse(lines: string[]): Map<string, string> {
  return new Map(
    lines.map((line) => {
      const at = line.indexOf('=');
      return [line.slice(0, at), line.slice(at + 1)];
    }),
  );
}

describe('the deploy plan', () => {
  it('carries the topology’s names and numbers, for the settings in the environment', () => {
    const env = {
      PACER_INFLIGHT_HIGH: '200',
      PACER_MAX_ATTEMPTS: '20',
      PACER_TICK_BUDGET_SECONDS: '50',
    };
    const topology = describeTopology(loadSettings(env));
    const plan = parse(planLines(planFromEnv(env)));

    expect(plan.get('retention_seconds')).toBe(String(topology.retentionSeconds));
    expect(plan.get('max_delivery_attempts')).toBe('25');
    expect(plan.get('dead_letter_topic')).toBe(topology.deadLetter.topic);
    expect(plan.get('planner_function')).toBe('planTick');
    expect(plan.get('fn.planTick.timeout')).toBe(String(topology.planner.timeoutSeconds));
    expect(plan.get('fn.planTick.timeout')).toBe('80');
    for (const lane of LANES) {
      const resources = topology.lanes[lane];
      const fn = `fn.${resources.functionName}`;
      expect(plan.get(`${fn}.max_instances`)).toBe(String(resources.maxInstances));
      expect(plan.get(`${fn}.concurrency`)).toBe(String(resources.concurrency));
      expect(plan.get(`${fn}.timeout`)).toBe(String(topology.workerTimeoutSeconds));
      const sub = `sub.${resources.subscription}`;
      expect(plan.get(`${sub}.topic`)).toBe(resources.topic);
      expect(plan.get(`${sub}.function`)).toBe(resources.functionName);
      expect(plan.get(`${sub}.ack_deadline`)).toBe(String(topology.ackDeadlineSeconds));
      expect(plan.get(`${sub}.min_backoff`)).toBe(String(resources.retry.minimumBackoffSeconds));
      expect(plan.get(`${sub}.max_backoff`)).toBe(String(resources.retry.maximumBackoffSeconds));
      expect(plan.get(`${sub}.dead_letter`)).toBe('true');
    }
    expect(plan.get('fn.syncHigh.max_instances')).toBe('20');
    expect(plan.get(`sub.${topology.deadLetter.subscription}.dead_letter`)).toBe('false');
    expect(plan.get(`sub.${topology.deadLetter.subscription}.ack_deadline`)).toBe('60');
  });

  it('gives the planner an instance per shard’s tick, plus one to answer busy', () => {
    expect(parse(planLines(planFromEnv({}))).get('fn.planTick.max_instances')).toBe('2');
    const sharded = parse(planLines(planFromEnv({ PACER_SHARDS: '4' })));
    expect(sharded.get('fn.planTick.max_instances')).toBe('5');
    expect(sharded.get('fn.planTick.concurrency')).toBe('1');
  });

  it('deploys every function once, and lets only its own caller invoke it', () => {
    const topology = describeTopology(defaultSettings());
    const plan = deployPlan(topology);
    const invokers = Object.fromEntries(plan.functions.map((fn) => [fn.name, fn.invoker]));
    expect(invokers).toEqual({
      planTick: 'tick',
      syncHigh: 'push',
      syncMedium: 'push',
      syncLow: 'push',
      recordDeadLetter: 'push',
      reconcileSchedule: 'events',
    });
    // Every push subscription targets a function the push identity may invoke.
    for (const sub of plan.subscriptions) {
      expect(invokers[sub.functionName]).toBe('push');
    }
    expect(plan.functions.find((fn) => fn.trigger === 'firestore')).toMatchObject({
      name: 'reconcileSchedule',
      event: { type: 'google.cloud.firestore.document.v1.written', document: 'schedules/{id}' },
      retry: true,
    });
    expect(plan.functions.filter((fn) => fn.secrets).map((fn) => fn.name)).toEqual([
      'syncHigh',
      'syncMedium',
      'syncLow',
    ]);
  });

  it('grants least privilege: Firestore on pacer’s database only to the functions, eventReceiver to the trigger, nothing to the callers', () => {
    const plan = deployPlan(describeTopology(defaultSettings()));
    const roles = Object.fromEntries(
      plan.serviceAccounts.map((sa) => [
        sa.role,
        { project: sa.projectRoles, database: sa.databaseRoles },
      ]),
    );
    expect(roles).toEqual({
      planner: { project: [], database: ['roles/datastore.user'] },
      worker: { project: [], database: ['roles/datastore.user'] },
      deadLetter: { project: [], database: ['roles/datastore.user'] },
      reconciler: { project: [], database: ['roles/datastore.user'] },
      push: { project: [], database: [] },
      tick: { project: [], database: [] },
      events: { project: ['roles/eventarc.eventReceiver'], database: [] },
      job: { project: [], database: ['roles/datastore.user'] },
    });
    expect(plan.serviceAccounts.map((sa) => sa.id)).toEqual(Object.values(SERVICE_ACCOUNTS));
    // The planner publishes to the lanes; workers and long syncs publish what they give up on.
    expect(Object.fromEntries(plan.topics.map((t) => [t.name, t.publishers]))).toEqual({
      'pacer-dead-letter': ['worker', 'job'],
      'pacer-high': ['planner'],
      'pacer-medium': ['planner'],
      'pacer-low': ['planner'],
    });
    // The dead-letter topic first: the lane subscriptions refer to it.
    expect(plan.topics[0]?.name).toBe('pacer-dead-letter');
  });

  it('runs long syncs in a Cloud Run job only the workers may start, with a custom role of two permissions', () => {
    const plan = planFromEnv({ PACER_JOB_NAME: 'nightly', PACER_JOB_START_SECONDS: '120' });
    expect(plan.job).toEqual({
      name: 'nightly',
      runAs: 'job',
      runner: 'worker',
      runnerRole: {
        id: 'pacerJobRunner',
        title: 'pacer: run the long-sync job with overrides',
        permissions: ['run.jobs.run', 'run.jobs.runWithOverrides'],
      },
      // The most Cloud Run allows; each execution sets its own.
      taskTimeoutSeconds: 604_800,
      command: 'node',
      args: ['dist/functions/job/main.js'],
    });
    expect(planLines(plan)).toEqual(
      expect.arrayContaining([
        'job.name=nightly',
        'job.run_as=job',
        'job.runner=worker',
        'job.runner_role=pacerJobRunner',
        'job.runner_role_permissions=run.jobs.run,run.jobs.runWithOverrides',
        'job.task_timeout=604800',
        'job.args=dist/functions/job/main.js',
      ]),
    );
  });

  it('keeps every function off the internet: internal-only ingress unless --ingress all', () => {
    expect(planFromEnv({}).functions.map((fn) => [fn.name, fn.ingress])).toEqual([
      ['planTick', 'internal-only'],
      ['syncHigh', 'internal-only'],
      ['syncMedium', 'internal-only'],
      ['syncLow', 'internal-only'],
      ['recordDeadLetter', 'internal-only'],
      ['reconcileSchedule', 'internal-only'],
    ]);
    expect(
      planFromEnv({ PACER_DEPLOY_INGRESS: 'all' }).functions.every((fn) => fn.ingress === 'all'),
    ).toBe(true);
    expect(() => planFromEnv({ PACER_DEPLOY_INGRESS: 'public' })).toThrow(
      '--ingress "public": expected internal-only or all',
    );
    expect(planLines(planFromEnv({}))).toContain('fn.syncHigh.ingress=internal-only');
    expect(planLines(planFromEnv({}))).toContain('sa.worker.database_roles=roles/datastore.user');
  });

  it('prints only lines a shell can read back', () => {
    for (const line of planLines(planFromEnv({}))) {
      expect(line).toMatch(/^[a-zA-Z0-9_.-]+=[^\n]*$/);
    }
  });
});

describe('the functions’ environment', () => {
  it('holds the project and the settings set, validated, and nothing else', () => {
    const yaml = functionEnvYaml(
      {
        PACER_CAP_HIGH: ' 80 ',
        PACER_ALLOW_TARGET_NETWORKS: '10.0.0.0/8,192.168.0.0/16',
        PACER_CAP_LOW: '',
        PACER_SECRET_API_TOKEN: 'never deployed as plain text',
        HOME: '/root',
      },
      'pacer-prod',
    );
    expect(yaml).toBe(
      [
        'GOOGLE_CLOUD_PROJECT: "pacer-prod"',
        'PACER_CAP_HIGH: "80"',
        'PACER_ALLOW_TARGET_NETWORKS: "10.0.0.0/8,192.168.0.0/16"',
        '',
      ].join('\n'),
    );
  });

  it('refuses a bad setting, naming it, and pretty logs', () => {
    expect(() => functionEnvYaml({ PACER_CAP_HIGH: 'lots' }, 'p')).toThrow(/PACER_CAP_HIGH/);
    expect(() => functionEnvYaml({ PACER_LOG_PRETTY: 'true' }, 'p')).toThrow(/PACER_LOG_PRETTY/);
  });
});

describe('Firestore indexes and field overrides', () => {
  const file = JSON.parse(
    readFileSync(new URL('../../../infra/firestore.indexes.json', import.meta.url), 'utf8'),
  ) as IndexFile;

  /** An index as Firestore lists it: with its name and `__name__` appended. */
  function listed(index: IndexFile['indexes'][number], id: string) {
    const last = index.fields.at(-1)?.order ?? 'ASCENDING';
    return {
      name: `projects/p/databases/(default)/collectionGroups/${index.collectionGroup}/indexes/${id}`,
      queryScope: index.queryScope,
      fields: [...index.fields, { fieldPath: '__name__', order: last }],
      state: 'READY',
    };
  }

  it('creates every index when none is listed, and none when all are', () => {
    expect(missingIndexes(file, [])).toEqual(file.indexes);
    expect(
      missingIndexes(
        file,
        file.indexes.map((index, i) => listed(index, `i${i}`)),
      ),
    ).toEqual([]);
  });

  it('treats an index on the same fields in another order or direction as missing', () => {
    const [first, ...rest] = file.indexes;
    const reversed = { ...first!, fields: [...first!.fields].reverse() };
    const others = rest.map((index, i) => listed(index, `i${i}`));
    expect(missingIndexes(file, [listed(reversed, 'x'), ...others])).toEqual([first]);
  });

  it('words each index as gcloud flags', () => {
    expect(
      indexCreateArgs({
        collectionGroup: 'deadLetters',
        queryScope: 'COLLECTION',
        fields: [
          { fieldPath: 'replayedAt', order: 'ASCENDING' },
          { fieldPath: 'recordedAt', order: 'DESCENDING' },
        ],
      }),
    ).toEqual([
      '--collection-group=deadLetters',
      '--query-scope=collection',
      '--field-config=field-path=replayedAt,order=ascending',
      '--field-config=field-path=recordedAt,order=descending',
    ]);
  });

  it('exempts the TTL field from indexing and turns TTL on, unless already so', () => {
    const override = file.fieldOverrides?.find((o) => o.fieldPath === 'expireAt');
    expect(override).toMatchObject({ collectionGroup: 'runs', ttl: true, indexes: [] });
    expect(fieldActions(override!, null)).toEqual(['disable-indexes', 'enable-ttl']);
    expect(
      fieldActions(override!, { indexConfig: { usesAncestorConfig: true, indexes: [{}, {}] } }),
    ).toEqual(['disable-indexes', 'enable-ttl']);
    expect(
      fieldActions(override!, { indexConfig: { indexes: [] }, ttlConfig: { state: 'CREATING' } }),
    ).toEqual([]);
    expect(
      fieldActions(override!, { indexConfig: {}, ttlConfig: { state: 'NEEDS_REPAIR' } }),
    ).toEqual(['enable-ttl']);
  });
});

describe('comparing what is deployed with its file', () => {
  it('ignores what the server adds, and sees every difference in what the file says', () => {
    const file = { filter: 'a', metricDescriptor: { valueType: 'INT64' }, labels: ['x'] };
    const described = {
      name: 'm',
      filter: 'a',
      metricDescriptor: { valueType: 'INT64', type: 'logging.googleapis.com/user/m' },
      labels: ['x'],
      createTime: 'now',
    };
    expect(containsAll(described, file)).toBe(true);
    expect(containsAll({ ...described, filter: 'b' }, file)).toBe(false);
    expect(containsAll({ ...described, labels: ['x', 'y'] }, file)).toBe(false);
    expect(containsAll({ ...described, metricDescriptor: {} }, file)).toBe(false);
    // The APIs return some numbers as strings.
    expect(containsAll({ thresholdValue: '2' }, { thresholdValue: 2 })).toBe(true);
  });

  it('takes a field left out as its default, as the APIs leave defaults out (issue 14, item 7)', () => {
    expect(containsAll({}, { thresholdValue: 0 })).toBe(true);
    expect(containsAll({}, { thresholdValue: 1 })).toBe(false);
    expect(containsAll({ thresholdValue: 1 }, { thresholdValue: 0 })).toBe(false);
    const label = { key: 'lane', description: 'd' };
    expect(containsAll({ labels: [label] }, { labels: [{ ...label, valueType: 'STRING' }] })).toBe(
      true,
    );
    expect(containsAll({ labels: [label] }, { labels: [{ ...label, valueType: 'INT64' }] })).toBe(
      false,
    );
    expect(containsAll({}, { enabled: false, tags: [], note: '' })).toBe(true);
  });

  it('finds a binding in an IAM policy, with its condition or without one', () => {
    const member = 'serviceAccount:a@p.iam.gserviceaccount.com';
    const policy = {
      bindings: [
        { role: 'roles/run.invoker', members: ['user:x', member] },
        { role: 'roles/datastore.user', members: [member], condition: { expression: 'e' } },
      ],
    };
    expect(hasBinding(policy, 'roles/run.invoker', member)).toBe(true);
    expect(hasBinding(policy, 'roles/run.invoker', 'user:y')).toBe(false);
    expect(hasBinding(policy, 'roles/datastore.user', member, 'e')).toBe(true);
    expect(hasBinding(policy, 'roles/datastore.user', member)).toBe(false);
    expect(hasBinding(policy, 'roles/datastore.user', member, 'f')).toBe(false);
    expect(hasBinding({}, 'roles/run.invoker', member)).toBe(false);
  });

  it('keeps an alert policy’s notification channels unless new ones are given', () => {
    const policy = { displayName: 'p' };
    const existing = { notificationChannels: ['projects/p/notificationChannels/1'] };
    expect(policyWithChannels(policy, [], existing)).toEqual({ ...policy, ...existing });
    expect(policyWithChannels(policy, ['c2'], existing)).toEqual({
      displayName: 'p',
      notificationChannels: ['c2'],
    });
    expect(policyWithChannels(policy, [], null)).toEqual(policy);
  });

  it('knows a ruleset that holds exactly the rules', () => {
    const rules = "rules_version = '2';\n";
    const ruleset = { name: 'projects/p/rulesets/r1', ...rulesetBody(rules) };
    expect(rulesetHolds(ruleset, rules)).toBe(true);
    expect(rulesetHolds(ruleset, `${rules}// changed\n`)).toBe(false);
    expect(rulesetHolds({}, rules)).toBe(false);
  });
});

describe('secrets for the workers', () => {
  it('maps NAME=SECRET[:VERSION] to a PACER_SECRET_ variable, pinned or latest', () => {
    expect(secretRef('PACER_SECRET_API_TOKEN=api-token:3')).toBe(
      'PACER_SECRET_API_TOKEN=api-token:3',
    );
    expect(secretRef('API_TOKEN=api-token')).toBe('PACER_SECRET_API_TOKEN=api-token:latest');
  });

  it('refuses anything else with an example', () => {
    for (const bad of [
      'api_token=x',
      'API_TOKEN',
      'API_TOKEN=x:0',
      'API_TOKEN=a/b',
      'PACER_SECRET_=x',
    ]) {
      expect(() => secretRef(bad)).toThrow(/NAME=SECRET_ID\[:VERSION\]|variable name is empty/);
    }
  });
});
