/**
 * What `infra/deploy.sh` creates, derived from the topology (functions/topology.ts) and the
 * Firestore index file, as plain data and as `key=value` lines the script reads. Pure: the
 * script does every call to Google Cloud; this module only decides names, numbers and
 * differences, so that it can be tested without a project.
 */
import { SETTINGS, type Env, loadSettings } from '../../functions/config.js';
import { PacerError } from '../../functions/errors.js';
import { LANES } from '../../functions/schedule/lane.js';
import { MAX_TASK_TIMEOUT_SECONDS, SECRET_ENV_PREFIX } from '../../functions/schedule/spec.js';
import { SCHEDULES } from '../../functions/store/state.js';
import { DeployInputError } from './resources.js';
import {
  describeTopology,
  SERVICE_ACCOUNTS,
  TICK_JOB,
  type ServiceAccountRole,
  type Topology,
} from '../../functions/topology.js';

/** A function as deployed: its trigger, identity, who may invoke it and its size. */
export interface DeployedFunction {
  name: string;
  /** `http`: private HTTP function (push subscriptions, Cloud Scheduler); `firestore`: Eventarc. */
  trigger: 'http' | 'firestore';
  runAs: ServiceAccountRole;
  /** The only identity granted the invoker role on it. */
  invoker: ServiceAccountRole;
  /** Gets the `PACER_SECRET_*` variables from Secret Manager (the workers run the targets). */
  secrets: boolean;
  /** Eventarc redelivers a failed event (the reconciler is idempotent). */
  retry: boolean;
  /**
   * Who may reach it at the network level: `internal-only` (callers inside the project: Cloud
   * Scheduler, Eventarc and Pub/Sub push to the function's own URL; docs/operations.md), on top
   * of the invoker IAM binding.
   */
  ingress: 'internal-only' | 'all';
  /** For a Firestore trigger: the event type and the documents it fires on. */
  event?: { type: string; document: string };
  timeoutSeconds: number;
  concurrency: number;
  maxInstances: number;
}

export interface PushSubscription {
  name: string;
  topic: string;
  functionName: string;
  ackDeadlineSeconds: number;
  minBackoffSeconds: number;
  maxBackoffSeconds: number;
  /** Pub/Sub's own dead-letter policy (to the dead-letter topic); not on that topic's own feed. */
  deadLetter: boolean;
}

/** The Cloud Run job that runs long syncs (`runner: "job"`). */
export interface DeployedJob {
  name: string;
  runAs: ServiceAccountRole;
  /** The only identity that may run it (with overrides): the lane workers. */
  runner: ServiceAccountRole;
  /** A project custom role holding just what starting an execution with overrides needs. */
  runnerRole: { id: string; title: string; permissions: string[] };
  /**
   * The job's default task timeout: the most Cloud Run allows (168 hours). Each execution sets
   * its own from the schedule's run time and the attempts it may make (`runJobRequest`).
   */
  taskTimeoutSeconds: number;
  /** The entry point, run by node in the image built from the same sources as the functions. */
  command: string;
  args: string[];
}

export interface DeployPlan {
  plannerFunction: string;
  retentionSeconds: number;
  maxDeliveryAttempts: number;
  deadLetterTopic: string;
  memory: string;
  cpu: string;
  serviceAccounts: {
    role: ServiceAccountRole;
    id: string;
    displayName: string;
    /** Roles on the project (everything else is granted on single resources). */
    projectRoles: string[];
    /**
     * Firestore roles, granted on the project under an IAM condition that limits them to pacer's
     * database (Firestore has no finer IAM resource than a database).
     */
    databaseRoles: string[];
  }[];
  /** In creation order: the dead-letter topic first, as the lane subscriptions refer to it. */
  topics: { name: string; publishers: ServiceAccountRole[] }[];
  functions: DeployedFunction[];
  job: DeployedJob;
  subscriptions: PushSubscription[];
}

const FIRESTORE_USER = 'roles/datastore.user';

export interface PlanOptions {
  /** The functions' ingress (`--ingress`): internal-only unless told otherwise. */
  ingress?: DeployedFunction['ingress'];
  /** The long-sync job's name (setting `jobs.name`). */
  job?: { name: string };
}

/** What starting an execution of the long-sync job with overrides takes, and nothing more. */
export const JOB_RUNNER_ROLE = {
  id: 'pacerJobRunner',
  title: 'pacer: run the long-sync job with overrides',
  permissions: ['run.jobs.run', 'run.jobs.runWithOverrides'],
};

/** The plan for a topology. Pure. */
export function deployPlan(topology: Topology, options: PlanOptions = {}): DeployPlan {
  const ingress = options.ingress ?? 'internal-only';
  const job = options.job ?? { name: 'pacer-long-sync' };
  const lanes = LANES.map((lane) => topology.lanes[lane]);
  const worker = (lane: (typeof lanes)[number]): DeployedFunction => ({
    name: lane.functionName,
    trigger: 'http',
    runAs: 'worker',
    invoker: 'push',
    secrets: true,
    retry: false,
    ingress,
    timeoutSeconds: topology.workerTimeoutSeconds,
    concurrency: lane.concurrency,
    maxInstances: lane.maxInstances,
  });
  const sized = (sizing: {
    timeoutSeconds: number;
    concurrency: number;
    maxInstances: number;
  }) => ({
    timeoutSeconds: sizing.timeoutSeconds,
    concurrency: sizing.concurrency,
    maxInstances: sizing.maxInstances,
  });
  return {
    plannerFunction: topology.planner.functionName,
    retentionSeconds: topology.retentionSeconds,
    maxDeliveryAttempts: topology.maxDeliveryAttempts,
    deadLetterTopic: topology.deadLetter.topic,
    memory: topology.instance.memory,
    cpu: topology.instance.cpu,
    serviceAccounts: [
      account('planner', `pacer planner (${topology.planner.functionName})`, [], [FIRESTORE_USER]),
      account('worker', 'pacer lane workers', [], [FIRESTORE_USER]),
      account(
        'deadLetter',
        `pacer dead letters (${topology.deadLetter.functionName})`,
        [],
        [FIRESTORE_USER],
      ),
      account(
        'reconciler',
        `pacer reconciler (${topology.reconciler.functionName})`,
        [],
        [FIRESTORE_USER],
      ),
      account('push', 'pacer push subscriptions (OIDC)', []),
      account('tick', 'pacer tick job (OIDC)', []),
      account('events', 'pacer Firestore trigger (Eventarc)', ['roles/eventarc.eventReceiver']),
      account('job', 'pacer long syncs (Cloud Run job)', [], [FIRESTORE_USER]),
    ],
    topics: [
      // Workers and long-sync executions publish what they give up on themselves (malformed,
      // permanent failures).
      { name: topology.deadLetter.topic, publishers: ['worker', 'job'] },
      ...lanes.map((lane) => ({ name: lane.topic, publishers: ['planner' as const] })),
    ],
    functions: [
      {
        name: topology.planner.functionName,
        trigger: 'http',
        runAs: 'planner',
        invoker: 'tick',
        secrets: false,
        retry: false,
        ingress,
        ...sized(topology.planner),
      },
      ...lanes.map(worker),
      {
        name: topology.deadLetter.functionName,
        trigger: 'http',
        runAs: 'deadLetter',
        invoker: 'push',
        secrets: false,
        retry: false,
        ingress,
        ...sized(topology.deadLetter),
      },
      {
        name: topology.reconciler.functionName,
        trigger: 'firestore',
        runAs: 'reconciler',
        invoker: 'events',
        secrets: false,
        retry: true,
        ingress,
        // The reconciler reads the document by the id in the event (reconcileSchedule.ts).
        event: {
          type: 'google.cloud.firestore.document.v1.written',
          document: `${SCHEDULES}/{id}`,
        },
        ...sized(topology.reconciler),
      },
    ],
    job: {
      name: job.name,
      runAs: 'job',
      runner: 'worker',
      runnerRole: JOB_RUNNER_ROLE,
      taskTimeoutSeconds: MAX_TASK_TIMEOUT_SECONDS,
      command: 'node',
      args: ['dist/functions/job/main.js'],
    },
    subscriptions: [
      {
        name: topology.deadLetter.subscription,
        topic: topology.deadLetter.topic,
        functionName: topology.deadLetter.functionName,
        ackDeadlineSeconds: topology.deadLetter.ackDeadlineSeconds,
        minBackoffSeconds: topology.deadLetter.retry.minimumBackoffSeconds,
        maxBackoffSeconds: topology.deadLetter.retry.maximumBackoffSeconds,
        deadLetter: false,
      },
      ...lanes.map((lane) => ({
        name: lane.subscription,
        topic: lane.topic,
        functionName: lane.functionName,
        ackDeadlineSeconds: topology.ackDeadlineSeconds,
        minBackoffSeconds: lane.retry.minimumBackoffSeconds,
        maxBackoffSeconds: lane.retry.maximumBackoffSeconds,
        deadLetter: true,
      })),
    ],
  };
}

function account(
  role: ServiceAccountRole,
  displayName: string,
  projectRoles: string[],
  databaseRoles: string[] = [],
) {
  return { role, id: SERVICE_ACCOUNTS[role], displayName, projectRoles, databaseRoles };
}

/**
 * The plan as `key=value` lines for bash (`declare -A`): lists are space-separated, keys are
 * `kind.name.field`. Values never contain a newline or `=` in the key.
 */
export function planLines(plan: DeployPlan): string[] {
  const lines: [string, string | number | boolean][] = [
    ['planner_function', plan.plannerFunction],
    ['retention_seconds', plan.retentionSeconds],
    ['max_delivery_attempts', plan.maxDeliveryAttempts],
    ['dead_letter_topic', plan.deadLetterTopic],
    ['memory', plan.memory],
    ['cpu', plan.cpu],
    ['service_accounts', plan.serviceAccounts.map((sa) => sa.role).join(' ')],
  ];
  for (const sa of plan.serviceAccounts) {
    lines.push(
      [`sa.${sa.role}.id`, sa.id],
      [`sa.${sa.role}.display_name`, sa.displayName],
      [`sa.${sa.role}.project_roles`, sa.projectRoles.join(' ')],
      [`sa.${sa.role}.database_roles`, sa.databaseRoles.join(' ')],
    );
  }
  lines.push(['topics', plan.topics.map((topic) => topic.name).join(' ')]);
  for (const topic of plan.topics) {
    lines.push([`topic.${topic.name}.publishers`, topic.publishers.join(' ')]);
  }
  lines.push(['functions', plan.functions.map((fn) => fn.name).join(' ')]);
  for (const fn of plan.functions) {
    const key = `fn.${fn.name}`;
    lines.push(
      [`${key}.trigger`, fn.trigger],
      [`${key}.run_as`, fn.runAs],
      [`${key}.invoker`, fn.invoker],
      [`${key}.secrets`, fn.secrets],
      [`${key}.retry`, fn.retry],
      [`${key}.ingress`, fn.ingress],
      [`${key}.timeout`, fn.timeoutSeconds],
      [`${key}.concurrency`, fn.concurrency],
      [`${key}.max_instances`, fn.maxInstances],
    );
    if (fn.event) {
      lines.push([`${key}.event_type`, fn.event.type], [`${key}.document`, fn.event.document]);
    }
  }
  const { job } = plan;
  lines.push(
    ['job.name', job.name],
    ['job.run_as', job.runAs],
    ['job.runner', job.runner],
    ['job.runner_role', job.runnerRole.id],
    ['job.runner_role_title', job.runnerRole.title],
    ['job.runner_role_permissions', job.runnerRole.permissions.join(',')],
    ['job.task_timeout', job.taskTimeoutSeconds],
    ['job.command', job.command],
    ['job.args', job.args.join(',')],
  );
  lines.push(['tick_job', TICK_JOB.name]);
  lines.push(['subscriptions', plan.subscriptions.map((sub) => sub.name).join(' ')]);
  for (const sub of plan.subscriptions) {
    const key = `sub.${sub.name}`;
    lines.push(
      [`${key}.topic`, sub.topic],
      [`${key}.function`, sub.functionName],
      [`${key}.ack_deadline`, sub.ackDeadlineSeconds],
      [`${key}.min_backoff`, sub.minBackoffSeconds],
      [`${key}.max_backoff`, sub.maxBackoffSeconds],
      [`${key}.dead_letter`, sub.deadLetter],
    );
  }
  for (const [key, value] of lines) {
    if (/[\n=]/.test(key) || String(value).includes('\n')) {
      throw new Error(`not a shell-safe line: ${key}=${String(value)}`);
    }
  }
  return lines.map(([key, value]) => `${key}=${String(value)}`);
}

/**
 * The topology for the settings in `env`, as the deployed functions will compute it, with the
 * deploy's own choices (`PACER_DEPLOY_INGRESS`, set by `--ingress`).
 */
export function planFromEnv(env: Env): DeployPlan {
  const given = env.PACER_DEPLOY_INGRESS?.trim();
  const ingress = given === undefined || given === '' ? 'internal-only' : given;
  if (ingress !== 'internal-only' && ingress !== 'all') {
    throw new DeployInputError(
      `--ingress ${JSON.stringify(ingress)}: expected internal-only or all`,
    );
  }
  const settings = loadSettings(env);
  return deployPlan(describeTopology(settings), {
    ingress,
    job: { name: settings.jobs.name },
  });
}

/**
 * The deployed functions' environment, as a YAML map for `gcloud functions deploy
 * --env-vars-file`: the project, and every pacer setting set (non-empty) in `env`, validated
 * as the functions will validate it. Secrets never go here: they come from Secret Manager.
 */
export function functionEnvYaml(env: Env, projectId: string): string {
  loadSettings(env);
  if (env.PACER_LOG_PRETTY !== undefined && /^\s*true\s*$/i.test(env.PACER_LOG_PRETTY)) {
    throw new PacerError(
      'invalid_config',
      'PACER_LOG_PRETTY=true is for a terminal (it needs a dev dependency); unset it for a deploy',
    );
  }
  const entries: [string, string][] = [['GOOGLE_CLOUD_PROJECT', projectId]];
  for (const setting of SETTINGS) {
    const value = env[setting.env];
    if (value !== undefined && value.trim() !== '') entries.push([setting.env, value.trim()]);
  }
  // JSON strings are YAML double-quoted scalars.
  return entries.map(([key, value]) => `${key}: ${JSON.stringify(value)}`).join('\n') + '\n';
}

// ---------------------------------------------------------------------------------------------
// Secrets

/**
 * `NAME=SECRET_ID[:VERSION]` (from `--secret` or a secrets file) → the `--set-secrets` entry
 * `PACER_SECRET_NAME=SECRET_ID:VERSION`. NAME may be given with or without the
 * `PACER_SECRET_` prefix (the only variables a target's `secretEnv` may name); VERSION is a
 * version number or `latest` (the default).
 */
export function secretRef(spec: string): string {
  const match = /^([A-Z][A-Z0-9_]*)=([A-Za-z0-9_-]+)(?::([1-9][0-9]*|latest))?$/.exec(spec.trim());
  if (!match) {
    throw new DeployInputError(
      `--secret ${JSON.stringify(spec)}: expected NAME=SECRET_ID[:VERSION], e.g. ${SECRET_ENV_PREFIX}API_TOKEN=api-token:3`,
    );
  }
  const [, name = '', secret = '', version = 'latest'] = match;
  const variable = name.startsWith(SECRET_ENV_PREFIX) ? name : `${SECRET_ENV_PREFIX}${name}`;
  if (variable === SECRET_ENV_PREFIX) {
    throw new DeployInputError(`--secret ${JSON.stringify(spec)}: the variable name is empty`);
  }
  return `${variable}=${secret}:${version}`;
}
