/**
 * The deploy contract: infra/deploy.sh run for real (gcloud, curl, the pacer CLI) against a
 * stateful fake of Google's APIs on loopback (test/support/google-fake.ts), from an empty
 * project: the first deploy leaves exactly the topology, a second one changes nothing, a drifted
 * resource is put back alone, `--only` parts run alone, and `--destroy` removes what was
 * created. Part of `npm test`: the tests share one fake project in the order a project lives
 * (first deploy, second deploy, drift, destroy). Its cost is gcloud's (each command a Python
 * start); see docs/operations.md, "Testing the deploy".
 */
import { mkdtempSync, readdirSync, readFileSync } from 'node:fs';
import { availableParallelism, tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parse as parseYaml } from 'yaml';
import { defaultSettings } from '../../../functions/config.js';
import { describeTopology } from '../../../functions/topology.js';
import { deployPlan } from '../../../infra/deploy/plan.js';
import { startGoogleFake, type FakeRequest, type GoogleFake } from '../../support/google-fake.js';
import { standInKeyFile } from '../../support/stand-in.js';
import { REPO, runDeploy, type DeployRun } from './support.js';

const PROJECT = 'pacer-contract';
const REGION = 'europe-west1';
const DASHBOARDS = join(REPO, 'test/infra/deploy/fixtures/dashboards');
const plan = deployPlan(describeTopology(defaultSettings()));
const MINUTES = 60_000;

let fake: GoogleFake;
let env: Record<string, string>;

function deploy(args: readonly string[], on: GoogleFake = fake): Promise<DeployRun> {
  return runDeploy(['--skip-build', '--project', PROJECT, '--region', REGION, ...args], {
    ...(on === fake ? env : envFor(on)),
  });
}

function envFor(target: GoogleFake): Record<string, string> {
  return {
    ...target.env(mkdtempSync(join(tmpdir(), 'pacer-gcloud-'))),
    GOOGLE_APPLICATION_CREDENTIALS: standInKeyFile(
      'deploy',
      'deployer@stand-in.iam.gserviceaccount.com',
    ),
    PACER_DASHBOARDS_DIR: DASHBOARDS,
    // Short pauses between tries: what the fake makes the deploy wait for is seconds here.
    PACER_DEPLOY_POLL_SECONDS: '2',
    PACER_DEPLOY_WAIT_SECONDS: '120',
    // gcloud's time here is CPU (a Python start), not the network: no more at once than cores.
    PACER_DEPLOY_PARALLEL: String(Math.min(4, availableParallelism())),
  };
}

const changes = (requests: readonly FakeRequest[]) =>
  requests.map((r) => `${r.method} ${r.api} ${r.path}`);

/** Runs `action`, then returns the mutating requests it made. */
async function mutatingDuring(action: () => Promise<DeployRun>): Promise<string[]> {
  const before = fake.mutating().length;
  const run = await action();
  expect(run.stderr.slice(-2000), run.stdout.slice(-3000)).not.toMatch(/^deploy: /m);
  expect(run.code).toBe(0);
  return changes(fake.mutating().slice(before));
}

const names = (record: Record<string, unknown>) => Object.keys(record).sort();
const yamlNames = (dir: string, key: string) =>
  readdirSync(join(REPO, dir))
    .filter((file) => file.endsWith('.yaml'))
    .map(
      (file) =>
        (parseYaml(readFileSync(join(REPO, dir, file), 'utf8')) as Record<string, string>)[key],
    )
    .sort();

beforeAll(async () => {
  // A new log-based metric stays unknown to alert policies for 30 s (Google: up to 10
  // minutes), and the first policy to name a metric is refused however long the deploy took to
  // reach it: the deploy's wait is tested on a busy machine too.
  fake = await startGoogleFake({ projectId: PROJECT, metricDelayMs: 30_000 });
  env = envFor(fake);
});
afterAll(() => fake.close());

describe('infra/deploy.sh against a fake of Google Cloud', () => {
  it(
    'deploys an empty project in one run, leaving exactly the topology',
    async () => {
      const started = Date.now();
      const run = await deploy([]);
      console.info(
        `first deploy: ${((Date.now() - started) / 1000).toFixed(0)} s, ${fake.requests.length} requests`,
      );
      expect(run.stderr.slice(-3000)).not.toMatch(/^deploy: /m);
      expect(run.code).toBe(0);
      expect(fake.escapes).toEqual([]);

      const p = `projects/${PROJECT}`;
      const short = (record: Record<string, unknown>) =>
        names(record).map((n) => n.split('/').pop());
      expect(short(fake.list('iam', /serviceAccounts\//)).sort()).toEqual(
        [
          ...plan.serviceAccounts.map((sa) => `${sa.id}@${PROJECT}.iam.gserviceaccount.com`),
          `pacer-build@${PROJECT}.iam.gserviceaccount.com`,
        ].sort(),
      );
      const functions = fake.list('cloudfunctions');
      expect(short(functions).sort()).toEqual(plan.functions.map((fn) => fn.name).sort());
      for (const fn of Object.values(functions)) {
        expect((fn.buildConfig as Record<string, unknown>).serviceAccount).toBe(
          `${p}/serviceAccounts/pacer-build@${PROJECT}.iam.gserviceaccount.com`,
        );
        expect((fn.labels as Record<string, string>)['pacer-source']).toMatch(/^[0-9a-f]{40}$/);
      }
      // Each function's service: the invoker binding, for its invoker alone.
      for (const fn of plan.functions) {
        const policy = fake.policies.get(`run ${p}/locations/${REGION}/services/${fn.name}`);
        expect(policy?.bindings).toEqual([
          { role: 'roles/run.invoker', members: [expect.stringMatching(/^serviceAccount:pacer-/)] },
        ]);
      }
      expect(short(fake.list('pubsub', /\/topics\//)).sort()).toEqual(
        plan.topics.map((t) => t.name).sort(),
      );
      const subscriptions = fake.list('pubsub', /\/subscriptions\//);
      expect(short(subscriptions).sort()).toEqual(plan.subscriptions.map((s) => s.name).sort());
      for (const sub of plan.subscriptions) {
        expect(subscriptions[`${p}/subscriptions/${sub.name}`]?.ackDeadlineSeconds).toBe(
          sub.ackDeadlineSeconds,
        );
      }
      expect(names(fake.list('firestore', /^projects\/[^/]+\/databases\/[^/]+$/))).toEqual([
        `${p}/databases/(default)`,
      ]);
      const indexFile = JSON.parse(
        readFileSync(join(REPO, 'infra/firestore.indexes.json'), 'utf8'),
      ) as {
        indexes: unknown[];
        fieldOverrides: { collectionGroup: string; fieldPath: string; indexes?: unknown[] }[];
      };
      expect(names(fake.list('firestore', /\/indexes\//))).toHaveLength(indexFile.indexes.length);
      // Every field override's field, its single-field indexes off (the exemptions).
      const fields = fake.list('firestore', /\/fields\//);
      for (const override of indexFile.fieldOverrides) {
        const field = `${p}/databases/(default)/collectionGroups/${override.collectionGroup}/fields/${override.fieldPath}`;
        expect(fields[field]?.indexConfig, field).toEqual({ indexes: [] });
      }
      const release = fake.resources.get(`firebaserules ${p}/releases/cloud.firestore`);
      const ruleset = fake.resources.get(`firebaserules ${String(release?.rulesetName)}`);
      expect(JSON.stringify(ruleset?.source)).toContain(
        JSON.stringify(readFileSync(join(REPO, 'infra/firestore.rules'), 'utf8')).slice(1, 40),
      );
      expect(names(fake.list('cloudscheduler'))).toEqual([
        `${p}/locations/${REGION}/jobs/pacer-tick`,
      ]);
      expect(names(fake.list('run', /\/jobs\//))).toEqual([
        `namespaces/${PROJECT}/jobs/${plan.job.name}`,
      ]);
      expect(short(fake.list('logging')).sort()).toEqual(
        yamlNames('infra/monitoring/metrics', 'name'),
      );
      expect(
        Object.values(fake.list('monitoring', /alertPolicies/))
          .map((x) => x.displayName)
          .sort(),
      ).toEqual(yamlNames('infra/monitoring/policies', 'displayName'));
      expect(
        Object.values(fake.list('monitoring', /dashboards/)).map((x) => x.displayName),
      ).toEqual(['pacer contract test']);
      // What only waiting gets through: a metric too young for its alert policy was refused.
      expect(fake.refusals.filter((r) => r.startsWith('metric '))).not.toEqual([]);
      expect(fake.refusals.filter((r) => r.startsWith('build '))).toEqual([]);
    },
    10 * MINUTES,
  );

  it(
    'changes nothing on a second run, reading each kind of resource with one list',
    async () => {
      const started = Date.now();
      const before = fake.requests.length;
      expect(await mutatingDuring(() => deploy([]))).toEqual([]);
      console.info(`second deploy: ${((Date.now() - started) / 1000).toFixed(0)} s`);
      expect(fake.escapes).toEqual([]);
      const reads = fake.requests.slice(before).filter((r) => r.method === 'GET');
      const count = (api: string, path: string | RegExp) =>
        reads.filter(
          (r) => r.api === api && (typeof path === 'string' ? r.path === path : path.test(r.path)),
        ).length;
      const p = `/projects/${PROJECT}`;
      for (const [api, kind, one] of [
        ['logging', `/v2${p}/metrics`, /\/metrics\/[^/]+$/],
        ['monitoring', `/v3${p}/alertPolicies`, /\/alertPolicies\/[^/]+$/],
        ['pubsub', `/v1${p}/topics`, /\/topics\/[^/:]+$/],
        ['pubsub', `/v1${p}/subscriptions`, /\/subscriptions\/[^/:]+$/],
        ['cloudfunctions', `/v2${p}/locations/${REGION}/functions`, /\/functions\/[^/:]+$/],
      ] as const) {
        expect(count(api, kind), kind).toBe(1);
        expect(count(api, one), `${kind}/...`).toBe(0);
      }
    },
    5 * MINUTES,
  );

  it(
    'puts back a drifted ack deadline and alert threshold, and touches nothing else',
    async () => {
      const sub = fake.resources.get(
        `pubsub projects/${PROJECT}/subscriptions/${plan.subscriptions[1]?.name ?? ''}`,
      );
      if (!sub) throw new Error('no subscription');
      sub.ackDeadlineSeconds = 17;
      const [policyName, policy] =
        Object.entries(fake.list('monitoring', /alertPolicies/))[0] ?? [];
      if (!policy) throw new Error('no alert policy');
      const conditions = policy.conditions as {
        conditionThreshold?: { thresholdValue?: number };
      }[];
      const threshold = conditions.find((c) => c.conditionThreshold)?.conditionThreshold;
      if (!threshold) throw new Error('no threshold');
      const wanted = threshold.thresholdValue;
      threshold.thresholdValue = 12345;

      expect(await mutatingDuring(() => deploy(['--only', 'pubsub,monitoring']))).toEqual([
        `PATCH pubsub /v1/projects/${PROJECT}/subscriptions/${plan.subscriptions[1]?.name ?? ''}`,
        `PATCH monitoring /v3/${policyName ?? ''}`,
      ]);
      const patched = fake.resources.get(
        `pubsub projects/${PROJECT}/subscriptions/${plan.subscriptions[1]?.name ?? ''}`,
      );
      expect(patched?.ackDeadlineSeconds).toBe(plan.subscriptions[1]?.ackDeadlineSeconds);
      const after = fake.resources.get(`monitoring ${policyName ?? ''}`);
      expect(JSON.stringify(after)).not.toContain('12345');
      expect(wanted === undefined || JSON.stringify(after).includes(String(wanted))).toBe(true);
    },
    5 * MINUTES,
  );

  it(
    'runs each --only part on its own',
    async () => {
      // The cheap parts (the others run alone in the tests around: pubsub and monitoring above,
      // firestore in --destroy below).
      for (const part of ['apis', 'pubsub-iam', 'tick']) {
        const before = fake.mutating().length;
        const run = await deploy(['--only', part]);
        expect(run.code, `${part}: ${run.stderr.slice(-1000)}`).toBe(0);
        expect(changes(fake.mutating().slice(before))).toEqual([]);
        expect(run.stdout).toContain(`--- ${part}`);
        for (const other of [
          'apis',
          'accounts',
          'firestore',
          'functions',
          'jobs',
          'pubsub',
          'tick',
          'monitoring',
        ]) {
          if (other !== part && !(part === 'pubsub-iam' && other === 'pubsub')) {
            expect(run.stdout).not.toContain(`--- ${other}:`);
          }
        }
      }
    },
    5 * MINUTES,
  );

  it(
    'says what is missing when --only pubsub runs before the functions exist',
    async () => {
      const empty = await startGoogleFake({ projectId: PROJECT });
      try {
        const run = await deploy(['--only', 'pubsub'], empty);
        expect(run.code).toBe(1);
        expect(run.stderr).toContain(
          'function recordDeadLetter is not deployed in europe-west1: run the functions part first',
        );
      } finally {
        await empty.close();
      }
    },
    2 * MINUTES,
  );

  it(
    'deletes with --destroy every planner shard’s tick job, pacer-tick-K, and no other job',
    async () => {
      const shards = await startGoogleFake({ projectId: PROJECT });
      try {
        const jobs = `projects/${PROJECT}/locations/${REGION}/jobs`;
        const mine = ['pacer-tick', 'pacer-tick-1', 'pacer-tick-2', 'pacer-tick-15'];
        const others = ['pacer-tick-x', 'pacer-tick-01', 'pacer-tick-0', 'other-tick-1'];
        for (const id of [...mine, ...others]) {
          shards.resources.set(`cloudscheduler ${jobs}/${id}`, {
            name: `${jobs}/${id}`,
            schedule: '* * * * *',
            state: 1,
          });
        }
        // Another region's: not listed in this one, never deleted.
        const elsewhere = `projects/${PROJECT}/locations/us-central1/jobs/pacer-tick-1`;
        shards.resources.set(`cloudscheduler ${elsewhere}`, { name: elsewhere, state: 1 });

        const run = await deploy(['--destroy', '--only', 'tick'], shards);

        expect(run.stderr.slice(-2000)).not.toMatch(/^deploy: /m);
        expect(run.code).toBe(0);
        expect(names(shards.list('cloudscheduler'))).toEqual(
          [...others.map((id) => `${jobs}/${id}`), elsewhere].sort(),
        );
        const deletes = shards
          .mutating()
          .map((r) => `${r.method} ${r.path.split('/').pop() ?? ''}`);
        expect(deletes.sort()).toEqual(mine.map((id) => `DELETE ${id}`).sort());
      } finally {
        await shards.close();
      }
    },
    2 * MINUTES,
  );

  it(
    'prints a --destroy --dry-run and sends nothing',
    async () => {
      const before = fake.requests.length;
      const run = await deploy(['--destroy', '--dry-run']);
      expect(run.code).toBe(0);
      expect(fake.requests.length).toBe(before);
      const lines = run.stdout.split('\n').filter((line) => line.includes(' delete '));
      const order = (pattern: RegExp) => lines.findIndex((line) => pattern.test(line));
      expect(order(/scheduler jobs delete/)).toBeGreaterThanOrEqual(0);
      expect(order(/scheduler jobs delete/)).toBeLessThan(order(/pubsub subscriptions delete/));
      expect(order(/policies delete/)).toBeLessThan(order(/logging metrics delete/));
      expect(order(/pubsub subscriptions delete/)).toBeLessThan(order(/pubsub topics delete/));
      expect(order(/functions delete/)).toBeLessThan(order(/service-accounts delete/));
      expect(order(/firestore databases delete/)).toBe(-1);
    },
    2 * MINUTES,
  );

  it(
    'removes everything it created with --destroy, leaving Firestore unless --delete-data',
    async () => {
      const run = await deploy(['--destroy']);
      expect(run.stderr.slice(-2000)).not.toMatch(/^deploy: /m);
      expect(run.code).toBe(0);
      for (const api of ['cloudfunctions', 'pubsub', 'logging', 'cloudscheduler']) {
        expect(names(fake.list(api)), api).toEqual([]);
      }
      expect(names(fake.list('monitoring'))).toEqual([]);
      expect(names(fake.list('run', /\/jobs\//))).toEqual([]);
      expect(names(fake.list('iam'))).toEqual([]);
      const policy = fake.policies.get(`cloudresourcemanager projects/${PROJECT}`);
      expect(JSON.stringify(policy ?? {})).not.toMatch(/pacer-/);
      expect(names(fake.list('firestore', /^projects\/[^/]+\/databases\/[^/]+$/))).toHaveLength(1);

      const data = await deploy(['--destroy', '--delete-data', '--only', 'firestore']);
      expect(data.code).toBe(0);
      expect(names(fake.list('firestore'))).toEqual([]);
      expect(fake.escapes).toEqual([]);
    },
    5 * MINUTES,
  );
});
