/**
 * `infra/deploy.sh --dry-run`: with no credentials and a project that does not exist, it
 * prints every command a first deploy runs, in order, and runs none. This test reads those
 * commands for the resources and the flags that matter (not byte for byte): retention, ack
 * deadlines, retry backoff, dead-letter policy, OIDC push, private gen 2 functions on nodejs22
 * with their sizes, least-privilege IAM, the tick job, indexes, TTL, rules and monitoring.
 * (It runs the built helper in dist/, hence an integration test: `npm run build` first.)
 */
import { chmodSync, mkdtempSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { defaultSettings, loadSettings } from '../../../functions/config.js';
import { LANES } from '../../../functions/schedule/lane.js';
import { describeTopology } from '../../../functions/topology.js';
import { commandsOf, flag, flags, REPO, runDeploy, type DeployRun } from './support.js';

const PROJECT = 'pacer-dry';
const REGION = 'europe-west1';
const topology = describeTopology(defaultSettings());
const email = (id: string) => `${id}@${PROJECT}.iam.gserviceaccount.com`;
const AGENT = 'service-<PROJECT_NUMBER>@gcp-sa-pubsub.iam.gserviceaccount.com';

/** An environment in which any gcloud or curl that actually ran would be recorded. */
function trap(): { env: Record<string, string>; ran: () => string } {
  const dir = mkdtempSync(join(tmpdir(), 'pacer-dry-run-'));
  const log = join(dir, 'ran.log');
  writeFileSync(log, '');
  for (const tool of ['gcloud', 'curl']) {
    const path = join(dir, tool);
    writeFileSync(path, `#!/bin/sh\necho "${tool} $*" >> '${log}'\nexit 1\n`);
    chmodSync(path, 0o755);
  }
  return {
    env: { PATH: `${dir}:${process.env.PATH ?? ''}`, CLOUDSDK_CONFIG: join(dir, 'gcloud-config') },
    ran: () => readFileSync(log, 'utf8'),
  };
}

async function dryRun(args: string[], env: Record<string, string> = {}) {
  const tools = trap();
  const run = await runDeploy(
    ['--dry-run', '--skip-build', '--project', PROJECT, '--region', REGION, ...args],
    { ...tools.env, ...env },
  );
  return { ...run, commands: commandsOf(run.stdout), ran: tools.ran() };
}

let full: DeployRun & { commands: string[][]; ran: string };
const find = (predicate: (command: string[]) => boolean) => full.commands.filter(predicate);
const gcloud = (...words: string[]) =>
  find((c) => c[0] === 'gcloud' && words.every((word, i) => c[i + 1] === word));
const indexOf = (predicate: (command: string[]) => boolean) => full.commands.findIndex(predicate);

beforeAll(async () => {
  full = await dryRun(['--secret', 'API_TOKEN=api-token:3']);
});

describe('infra/deploy.sh --dry-run', () => {
  it('runs nothing, needs no credentials, and prints only gcloud, the rules API and pacer', () => {
    expect(full.stderr).toBe('');
    expect(full.code).toBe(0);
    expect(full.ran).toBe('');
    expect(full.commands.length).toBeGreaterThan(80);
    for (const command of full.commands) {
      const tool = command[0] === 'node' ? command.slice(0, 2).join(' ') : command[0];
      expect(['gcloud', 'curl', 'node dist/functions/cli/main.js']).toContain(tool);
      expect(flag(command, 'project') ?? PROJECT).toBe(PROJECT);
    }
    expect(full.stdout).toContain('# dry run: nothing was changed');
  });

  it('enables the APIs pacer uses', () => {
    const [enable] = gcloud('services', 'enable');
    for (const api of ['cloudfunctions', 'run', 'cloudbuild', 'eventarc', 'pubsub', 'firestore']) {
      expect(enable).toContain(`${api}.googleapis.com`);
    }
    for (const api of [
      'cloudscheduler',
      'secretmanager',
      'logging',
      'monitoring',
      'firebaserules',
    ]) {
      expect(enable).toContain(`${api}.googleapis.com`);
    }
  });

  it('creates a service account per role, checking first, with only the project roles it needs', () => {
    const created = gcloud('iam', 'service-accounts', 'create').map((c) => c[4]);
    expect(created).toEqual([
      'pacer-planner',
      'pacer-worker',
      'pacer-dead-letter',
      'pacer-reconciler',
      'pacer-push',
      'pacer-tick',
      'pacer-events',
      'pacer-long-sync',
      // Cloud Build builds the functions as this account (issue 14, item 4).
      'pacer-build',
    ]);
    // Listed once, before any is created.
    const check = indexOf((c) => c.slice(0, 4).join(' ') === 'gcloud iam service-accounts list');
    expect(check).toBeGreaterThanOrEqual(0);
    for (const id of created) {
      expect(check).toBeLessThan(indexOf((c) => c.includes('create') && c.includes(id!)));
    }
    // The project's roles: read once, then written once with every binding missing (gcloud's
    // add-iam-policy-binding reads and writes the whole policy for each binding). The write
    // prints each binding it adds; in a dry run all are missing.
    const projectRoles = [...full.stdout.matchAll(/^# {3}\+ (\S+) (\S+)(?: if (.*))?$/gm)].map(
      ([, role, member, condition]) => `${member} ${role} ${condition ?? 'None'}`,
    );
    // Firestore on pacer's database only (an IAM condition: Firestore has no finer resource).
    const databaseOnly = `resource.name == "projects/${PROJECT}/databases/(default)"`;
    expect(projectRoles.sort()).toEqual(
      [
        `serviceAccount:${email('pacer-dead-letter')} roles/datastore.user ${databaseOnly}`,
        `serviceAccount:${email('pacer-events')} roles/eventarc.eventReceiver None`,
        `serviceAccount:${email('pacer-planner')} roles/datastore.user ${databaseOnly}`,
        `serviceAccount:${email('pacer-reconciler')} roles/datastore.user ${databaseOnly}`,
        `serviceAccount:${email('pacer-worker')} roles/datastore.user ${databaseOnly}`,
        `serviceAccount:${email('pacer-long-sync')} roles/datastore.user ${databaseOnly}`,
        `serviceAccount:${email('pacer-build')} roles/cloudbuild.builds.builder None`,
      ].sort(),
    );
    expect(gcloud('projects', 'add-iam-policy-binding')).toEqual([]);
    expect(gcloud('projects', 'get-iam-policy')).toHaveLength(1);
    const [write, ...more] = gcloud('projects', 'set-iam-policy');
    expect(more).toEqual([]);
    expect(write?.[3]).toBe(PROJECT);
    expect(indexOf((c) => c.includes('get-iam-policy'))).toBeLessThan(
      indexOf((c) => c.includes('set-iam-policy')),
    );
    // Before the Pub/Sub agent is created (which changes the project's policy too).
    expect(indexOf((c) => c.includes('set-iam-policy'))).toBeLessThan(
      indexOf((c) => c.slice(0, 4).join(' ') === 'gcloud beta services identity'),
    );
  });

  it('creates the topics with 7-day retention, the dead-letter topic first', () => {
    const topics = gcloud('pubsub', 'topics', 'create');
    expect(topics.map((c) => c[4])).toEqual([
      'pacer-dead-letter',
      'pacer-high',
      'pacer-medium',
      'pacer-low',
    ]);
    for (const topic of topics) {
      expect(flag(topic, 'message-retention-duration')).toBe('604800s');
    }
  });

  it('creates push subscriptions with OIDC, the ack deadline, the lane’s backoff and the dead-letter policy', () => {
    const subscriptions = new Map(
      gcloud('pubsub', 'subscriptions', 'create').map((c) => [c[4], c] as const),
    );
    for (const lane of LANES) {
      const resources = topology.lanes[lane];
      const sub = subscriptions.get(resources.subscription)!;
      const url = `<URL of ${resources.functionName}>`;
      expect(flag(sub, 'topic')).toBe(resources.topic);
      expect(flag(sub, 'push-endpoint')).toBe(
        `${url}/projects/${PROJECT}/topics/${resources.topic}`,
      );
      expect(flag(sub, 'push-auth-service-account')).toBe(email('pacer-push'));
      expect(flag(sub, 'push-auth-token-audience')).toBe(url);
      expect(flag(sub, 'ack-deadline')).toBe('600');
      expect(flag(sub, 'min-retry-delay')).toBe(`${resources.retry.minimumBackoffSeconds}s`);
      expect(flag(sub, 'max-retry-delay')).toBe(`${resources.retry.maximumBackoffSeconds}s`);
      expect(flag(sub, 'dead-letter-topic')).toBe('pacer-dead-letter');
      expect(flag(sub, 'max-delivery-attempts')).toBe(String(topology.maxDeliveryAttempts));
      expect(flag(sub, 'message-retention-duration')).toBe('604800s');
    }
    const deadLetter = subscriptions.get('pacer-dead-letter-push')!;
    expect(flag(deadLetter, 'topic')).toBe('pacer-dead-letter');
    expect(flag(deadLetter, 'push-endpoint')).toBe(
      `<URL of recordDeadLetter>/projects/${PROJECT}/topics/pacer-dead-letter`,
    );
    expect(flag(deadLetter, 'push-auth-service-account')).toBe(email('pacer-push'));
    expect(flag(deadLetter, 'ack-deadline')).toBe('60');
    expect(flag(deadLetter, 'dead-letter-topic')).toBeUndefined();
    // Subscriptions come after the topics they need and the functions they push to.
    const lastTopic = Math.max(
      ...['pacer-dead-letter', 'pacer-high', 'pacer-medium', 'pacer-low'].map((t) =>
        indexOf((c) => c.join(' ').startsWith(`gcloud pubsub topics create ${t}`)),
      ),
    );
    const firstSubscription = indexOf((c) =>
      c.join(' ').startsWith('gcloud pubsub subscriptions create'),
    );
    const lastDeploy = Math.max(
      ...full.commands.map((c, i) => (c.join(' ').startsWith('gcloud functions deploy') ? i : -1)),
    );
    expect(lastTopic).toBeLessThan(firstSubscription);
    expect(lastDeploy).toBeLessThan(firstSubscription);
  });

  it('deploys every function private, gen 2, nodejs22, as its own identity, sized from the topology', () => {
    const deploys = new Map(gcloud('functions', 'deploy').map((c) => [c[3], c] as const));
    expect([...deploys.keys()]).toEqual([
      'planTick',
      'syncHigh',
      'syncMedium',
      'syncLow',
      'recordDeadLetter',
      'reconcileSchedule',
    ]);
    for (const [name, deploy] of deploys) {
      expect(deploy).toContain('--gen2');
      expect(deploy).toContain('--no-allow-unauthenticated');
      expect(flag(deploy, 'runtime')).toBe('nodejs22');
      expect(flag(deploy, 'entry-point')).toBe(name);
      expect(flag(deploy, 'source')).toBe('.');
      // Sources only: Cloud Build compiles them (test/infra/deploy/upload.int.test.ts).
      expect(flag(deploy, 'ignore-file')).toBe('infra/functions.gcloudignore');
      expect(flag(deploy, 'region')).toBe(REGION);
      expect(flag(deploy, 'env-vars-file')).toBeDefined();
      // Off the internet: only Cloud Scheduler, Eventarc and Pub/Sub of the project reach it.
      expect(flag(deploy, 'ingress-settings')).toBe('internal-only');
      // Built as pacer's build account, named as gcloud requires it (issue 14, item 4).
      expect(flag(deploy, 'build-service-account')).toBe(
        `projects/${PROJECT}/serviceAccounts/${email('pacer-build')}`,
      );
      // What a later deploy compares to skip an unchanged function.
      expect(flag(deploy, 'update-labels')).toMatch(/^pacer-source=[0-9a-f]{40}$/);
    }
    expect(full.stdout).not.toContain('--allow-unauthenticated');
    for (const lane of LANES) {
      const resources = topology.lanes[lane];
      const deploy = deploys.get(resources.functionName)!;
      expect(deploy).toContain('--trigger-http');
      expect(flag(deploy, 'service-account')).toBe(email('pacer-worker'));
      expect(flag(deploy, 'timeout')).toBe(`${topology.workerTimeoutSeconds}s`);
      expect(flag(deploy, 'concurrency')).toBe(String(resources.concurrency));
      expect(flag(deploy, 'max-instances')).toBe(String(resources.maxInstances));
      expect(flag(deploy, 'set-secrets')).toBe('PACER_SECRET_API_TOKEN=api-token:3');
    }
    const planner = deploys.get('planTick')!;
    expect(flag(planner, 'service-account')).toBe(email('pacer-planner'));
    expect(flag(planner, 'timeout')).toBe(`${topology.planner.timeoutSeconds}s`);
    expect(flag(planner, 'set-secrets')).toBeUndefined();
    expect(flag(deploys.get('recordDeadLetter')!, 'service-account')).toBe(
      email('pacer-dead-letter'),
    );
    const reconciler = deploys.get('reconcileSchedule')!;
    expect(reconciler).not.toContain('--trigger-http');
    expect(flags(reconciler, 'trigger-event-filters')).toEqual([
      'type=google.cloud.firestore.document.v1.written',
      'database=(default)',
    ]);
    expect(flag(reconciler, 'trigger-event-filters-path-pattern')).toBe('document=schedules/{id}');
    expect(flag(reconciler, 'trigger-location')).toBe(REGION);
    expect(flag(reconciler, 'trigger-service-account')).toBe(email('pacer-events'));
    expect(flag(reconciler, 'service-account')).toBe(email('pacer-reconciler'));
    expect(reconciler).toContain('--retry');
    // Workers and the long-sync job (they call the targets) may read the secret, nobody else.
    const secretBindings = gcloud('secrets', 'add-iam-policy-binding');
    expect(secretBindings.map((c) => [c[3], flag(c, 'member'), flag(c, 'role')])).toEqual([
      [
        'api-token',
        `serviceAccount:${email('pacer-worker')}`,
        'roles/secretmanager.secretAccessor',
      ],
      [
        'api-token',
        `serviceAccount:${email('pacer-long-sync')}`,
        'roles/secretmanager.secretAccessor',
      ],
    ]);
  });

  it('lets each function be invoked by its caller only', () => {
    const invokers = gcloud('functions', 'add-invoker-policy-binding').map(
      (c) => `${c[3]} ${flag(c, 'member')}`,
    );
    expect(invokers).toEqual([
      `planTick serviceAccount:${email('pacer-tick')}`,
      `syncHigh serviceAccount:${email('pacer-push')}`,
      `syncMedium serviceAccount:${email('pacer-push')}`,
      `syncLow serviceAccount:${email('pacer-push')}`,
      `recordDeadLetter serviceAccount:${email('pacer-push')}`,
      `reconcileSchedule serviceAccount:${email('pacer-events')}`,
    ]);
  });

  it('deploys the long-sync job from the same sources, as its own identity, startable by the workers only', () => {
    const [deploy, ...more] = gcloud('run', 'jobs', 'deploy');
    expect(more).toEqual([]);
    if (deploy === undefined) throw new Error('no job deploy');
    expect(deploy[4]).toBe('pacer-long-sync');
    expect(flag(deploy, 'source')).toBe('.');
    expect(flag(deploy, 'command')).toBe('node');
    expect(flag(deploy, 'args')).toBe('dist/functions/job/main.js');
    expect(flag(deploy, 'service-account')).toBe(email('pacer-long-sync'));
    expect(flag(deploy, 'tasks')).toBe('1');
    expect(flag(deploy, 'max-retries')).toBe('0');
    expect(flag(deploy, 'task-timeout')).toBe('604800s');
    expect(flag(deploy, 'set-secrets')).toBe('PACER_SECRET_API_TOKEN=api-token:3');
    // It deploys after the functions (same build) and before the subscriptions feed the workers.
    expect(indexOf((c) => c.slice(0, 4).join(' ') === 'gcloud run jobs deploy')).toBeGreaterThan(
      indexOf((c) => c.slice(0, 3).join(' ') === 'gcloud functions deploy'),
    );
    // A custom role of two permissions, bound on the job alone, to the workers alone.
    const [role] = gcloud('iam', 'roles', 'create');
    expect(role?.[4]).toBe('pacerJobRunner');
    expect(flag(role ?? [], 'permissions')).toBe('run.jobs.run,run.jobs.runWithOverrides');
    const bindings = gcloud('run', 'jobs', 'add-iam-policy-binding');
    expect(bindings.map((c) => [c[4], flag(c, 'member'), flag(c, 'role')])).toEqual([
      [
        'pacer-long-sync',
        `serviceAccount:${email('pacer-worker')}`,
        `projects/${PROJECT}/roles/pacerJobRunner`,
      ],
    ]);
    // The job's account reads the secrets the targets need, as the workers' does.
    expect(gcloud('secrets', 'add-iam-policy-binding').map((c) => flag(c, 'member'))).toEqual([
      `serviceAccount:${email('pacer-worker')}`,
      `serviceAccount:${email('pacer-long-sync')}`,
    ]);
  });

  it('tells the functions and the job which region the job is in', () => {
    const envFile = /^# {3}PACER_JOB_REGION: .*$/m.exec(full.stdout)?.[0];
    expect(envFile).toBe(`#   PACER_JOB_REGION: "${REGION}"`);
  });

  it('grants publishing and what Pub/Sub dead-lettering needs, on the resources themselves', () => {
    const bindings = [
      ...gcloud('pubsub', 'topics', 'add-iam-policy-binding'),
      ...gcloud('pubsub', 'subscriptions', 'add-iam-policy-binding'),
    ].map((c) => `${c[2]} ${c[4]} ${flag(c, 'member')} ${flag(c, 'role')}`);
    expect(bindings.sort()).toEqual(
      [
        `topics pacer-high serviceAccount:${email('pacer-planner')} roles/pubsub.publisher`,
        `topics pacer-medium serviceAccount:${email('pacer-planner')} roles/pubsub.publisher`,
        `topics pacer-low serviceAccount:${email('pacer-planner')} roles/pubsub.publisher`,
        `topics pacer-dead-letter serviceAccount:${email('pacer-worker')} roles/pubsub.publisher`,
        `topics pacer-dead-letter serviceAccount:${email('pacer-long-sync')} roles/pubsub.publisher`,
        `topics pacer-dead-letter serviceAccount:${AGENT} roles/pubsub.publisher`,
        `subscriptions pacer-high-push serviceAccount:${AGENT} roles/pubsub.subscriber`,
        `subscriptions pacer-medium-push serviceAccount:${AGENT} roles/pubsub.subscriber`,
        `subscriptions pacer-low-push serviceAccount:${AGENT} roles/pubsub.subscriber`,
      ].sort(),
    );
    // Pub/Sub's agent mints the OIDC tokens of the push and Eventarc identities, nothing else.
    const tokenCreators = gcloud('iam', 'service-accounts', 'add-iam-policy-binding').map(
      (c) => `${c[4]} ${flag(c, 'member')} ${flag(c, 'role')}`,
    );
    expect(tokenCreators).toEqual([
      `${email('pacer-push')} serviceAccount:${AGENT} roles/iam.serviceAccountTokenCreator`,
      `${email('pacer-events')} serviceAccount:${AGENT} roles/iam.serviceAccountTokenCreator`,
    ]);
  });

  it('creates the composite indexes, the TTL policy and the rules release', () => {
    const indexes = JSON.parse(
      readFileSync(join(REPO, 'infra/firestore.indexes.json'), 'utf8'),
    ) as { indexes: { collectionGroup: string; fields: unknown[] }[] };
    const creates = gcloud('firestore', 'indexes', 'composite', 'create');
    expect(creates.map((c) => flag(c, 'collection-group'))).toEqual(
      indexes.indexes.map((index) => index.collectionGroup),
    );
    expect(creates.map((c) => flags(c, 'field-config').length)).toEqual(
      indexes.indexes.map((index) => index.fields.length),
    );
    expect(gcloud('firestore', 'fields', 'ttls', 'update')).toEqual([
      expect.arrayContaining(['expireAt', '--collection-group=runs', '--enable-ttl']),
    ]);
    const rules = find((c) => c[0] === 'curl').map((c) => `${c[3]} ${c.at(-1)}`);
    const api = `https://firebaserules.googleapis.com/v1/projects/${PROJECT}`;
    expect(rules).toEqual([
      `GET ${api}/releases/cloud.firestore`,
      `POST ${api}/rulesets`,
      `POST ${api}/releases`,
    ]);
  });

  it('ensures the tick job with the planner’s URL and the tick identity', () => {
    const [tick] = find((c) => c.includes('tick-job'));
    expect(tick?.slice(0, 3)).toEqual([
      'node',
      'dist/functions/cli/main.js',
      `--project=${PROJECT}`,
    ]);
    expect(tick).toContain('ensure');
    expect(flag(tick!, 'region')).toBe(REGION);
    expect(flag(tick!, 'planner-url')).toBe('<URL of planTick>');
    expect(flag(tick!, 'service-account')).toBe(email('pacer-tick'));
  });

  it('creates every log-based metric and alert policy in infra/monitoring', () => {
    const dir = join(REPO, 'infra/monitoring');
    const metrics = gcloud('logging', 'metrics', 'create').map((c) => flag(c, 'config-from-file'));
    expect(metrics).toEqual(
      readdirSync(join(dir, 'metrics'))
        .sort()
        .map((file) => `infra/monitoring/metrics/${file}`),
    );
    // Each policy file as JSON, with the notification channels as full names (issue 14, item 5).
    const policies = gcloud('alpha', 'monitoring', 'policies', 'create').map((c) =>
      flag(c, 'policy-from-file')?.split('/').pop(),
    );
    expect(policies).toEqual(
      readdirSync(join(dir, 'policies'))
        .sort()
        .map((file) => file.replace(/\.yaml$/, '.json')),
    );
  });
});

describe('infra/deploy.sh --dry-run, with options', () => {
  it('sizes the deployment from the pacer settings in the environment, and deploys them', async () => {
    const run = await dryRun(['--only', 'functions,pubsub'], {
      PACER_INFLIGHT_HIGH: '300',
      PACER_MAX_ATTEMPTS: '30',
    });
    expect(run.code).toBe(0);
    const sized = describeTopology(
      loadSettings({ PACER_INFLIGHT_HIGH: '300', PACER_MAX_ATTEMPTS: '30' }),
    );
    const high = run.commands.find((c) =>
      c.join(' ').startsWith('gcloud functions deploy syncHigh'),
    )!;
    expect(flag(high, 'max-instances')).toBe(String(sized.lanes.high.maxInstances));
    expect(flag(high, 'max-instances')).toBe('30');
    expect(flag(high, 'set-secrets')).toBeUndefined();
    expect(high).toContain('--clear-secrets');
    const sub = run.commands.find((c) =>
      c.join(' ').includes('subscriptions create pacer-low-push'),
    )!;
    expect(flag(sub, 'max-delivery-attempts')).toBe('35');
    expect(run.stdout).toContain('#   PACER_INFLIGHT_HIGH: "300"');
    expect(run.stdout).toContain('#   PACER_MAX_ATTEMPTS: "30"');
  });

  it('runs only the parts asked for, in the deploy’s order', async () => {
    const run = await dryRun([
      '--only',
      'pubsub',
      '--push-endpoint-base',
      'http://127.0.0.1:9000/',
    ]);
    expect(run.code).toBe(0);
    expect(new Set(run.commands.map((c) => c.slice(0, 3).join(' ')))).toEqual(
      new Set(['gcloud pubsub topics', 'gcloud pubsub subscriptions']),
    );
    const high = run.commands.find((c) =>
      c.join(' ').includes('subscriptions create pacer-high-push'),
    )!;
    expect(flag(high, 'push-endpoint')).toBe(
      `http://127.0.0.1:9000/syncHigh/projects/${PROJECT}/topics/pacer-high`,
    );
    expect(flag(high, 'push-auth-token-audience')).toBe('http://127.0.0.1:9000/syncHigh');
  });

  it('opens the functions to all ingress only when told to (--ingress all)', async () => {
    const run = await dryRun(['--only', 'functions', '--ingress', 'all']);
    expect(run.code).toBe(0);
    const deploys = run.commands.filter((c) => c.join(' ').startsWith('gcloud functions deploy'));
    expect(deploys).toHaveLength(6);
    for (const deploy of deploys) expect(flag(deploy, 'ingress-settings')).toBe('all');
  });

  it.each([
    [['--only', 'pubsub,everything'], /unknown part "everything"/],
    [['--secret', 'api token'], /expected NAME=SECRET_ID\[:VERSION\]/],
    [['--frobnicate'], /unknown option --frobnicate/],
    [['--ingress', 'public'], /--ingress: expected internal-only or all, got "public"/],
  ])('stops with exit 2 on bad usage: %j', async (args, message) => {
    const run = await dryRun(args);
    expect(run.code).toBe(2);
    expect(run.stderr).toMatch(message);
    expect(run.ran).toBe('');
  });

  it.each([
    [
      ['--region', 'r'],
      /^deploy: --region: expected a Google Cloud region such as europe-west1, got "r"$/m,
    ],
    [['--region', 'Europe-West1'], /--region: expected a Google Cloud region such as europe-west1/],
    [
      ['--firestore-location', 'eur 3'],
      /--firestore-location: expected a Firestore location such as europe-west1 or eur3, got "eur 3"/,
    ],
  ])('refuses a bad location with exit 2 before anything prints: %j', async (args, message) => {
    const run = await dryRun(args);
    expect(run.code).toBe(2);
    expect(run.stderr).toMatch(message);
    expect(run.stdout).toBe('');
    expect(run.ran).toBe('');
  });

  it('refuses a bad PACER_JOB_REGION with exit 2 before anything prints', async () => {
    const run = await dryRun(['--only', 'functions'], { PACER_JOB_REGION: 'somewhere' });
    expect(run.code).toBe(2);
    expect(run.stderr).toContain(
      'PACER_JOB_REGION: expected a Google Cloud region such as europe-west1, got "somewhere"',
    );
    expect(run.stdout).toBe('');
  });

  it('stops with exit 2, naming it, on a bad pacer setting', async () => {
    const run = await dryRun(['--only', 'functions'], { PACER_CAP_HIGH: 'lots' });
    expect(run.code).toBe(2);
    expect(run.stderr).toContain('PACER_CAP_HIGH');
  });

  it('needs a project, and a region for the parts that deploy into one', async () => {
    const tools = trap();
    const noProject = await runDeploy(['--dry-run', '--skip-build'], tools.env);
    expect(noProject.code).toBe(2);
    expect(noProject.stderr).toContain('no project');
    const noRegion = await runDeploy(
      ['--dry-run', '--skip-build', '--project', PROJECT],
      tools.env,
    );
    expect(noRegion.code).toBe(2);
    expect(noRegion.stderr).toContain('no region');
    const fromEnv = await runDeploy(['--dry-run', '--skip-build', '--only', 'apis'], {
      ...tools.env,
      GOOGLE_CLOUD_PROJECT: 'from-env',
    });
    expect(fromEnv.code).toBe(0);
    expect(fromEnv.stdout).toContain('--project=from-env');
  });
});
