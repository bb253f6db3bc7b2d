/**
 * The Pub/Sub part of infra/deploy.sh, run for real: the gcloud CLI against the Pub/Sub
 * emulator (API endpoint override, no credentials), twice in a row. The topics and
 * subscriptions are then read back with the Node client: retention, ack deadline, push
 * endpoint and OIDC identity, retry policy and dead-letter policy, the same as the local
 * stack's applyTopology creates from the same description.
 */
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { PubSub } from '@google-cloud/pubsub';
import { beforeAll, describe, expect, it } from 'vitest';
import { defaultSettings } from '../../../functions/config.js';
import { LANES } from '../../../functions/schedule/lane.js';
import { describeTopology, serviceAccountEmail } from '../../../functions/topology.js';
import { applyTopology } from '../../../infra/local/topology.js';
import { useProjects } from '../../support/emulators.js';
import { commandsOf, runDeploy, type DeployRun } from './support.js';

const openProject = useProjects();
const topology = describeTopology(defaultSettings());
const BASE = 'http://127.0.0.1:9000';

/** Runs deploy.sh's pubsub part with gcloud pointed at the emulator. */
function deployPubSub(projectId: string, pubsubHost: string) {
  return runDeploy(
    ['--only', 'pubsub', '--skip-build', '--project', projectId, '--push-endpoint-base', BASE],
    {
      CLOUDSDK_CONFIG: mkdtempSync(join(tmpdir(), 'pacer-gcloud-')),
      CLOUDSDK_AUTH_DISABLE_CREDENTIALS: 'true',
      CLOUDSDK_API_ENDPOINT_OVERRIDES_PUBSUB: `http://${pubsubHost}/`,
      CLOUDSDK_CORE_DISABLE_USAGE_REPORTING: 'true',
      CLOUDSDK_COMPONENT_MANAGER_DISABLE_UPDATE_CHECK: 'true',
    },
  );
}

interface SubscriptionShape {
  topic: string | null | undefined;
  pushEndpoint: string | null | undefined;
  oidc: {
    serviceAccountEmail: string | null | undefined;
    audience: string | null | undefined;
  } | null;
  ackDeadlineSeconds: number | null | undefined;
  minimumBackoffSeconds: number;
  maximumBackoffSeconds: number;
  deadLetterPolicy: {
    deadLetterTopic: string | null | undefined;
    maxDeliveryAttempts: number | null | undefined;
  } | null;
  retentionSeconds: number;
}

/** Topics and subscriptions of a project as the Node client reads them, the project id as P. */
async function readBack(
  pubsub: PubSub,
  projectId: string,
): Promise<{
  topics: Record<string, { retentionSeconds: number }>;
  subscriptions: Record<string, SubscriptionShape>;
}> {
  const relative = (value: string | null | undefined) => value?.replaceAll(projectId, 'P');
  const shortName = (name: string) => name.split('/').pop() ?? name;
  const topics: Record<string, { retentionSeconds: number }> = {};
  for (const topic of (await pubsub.getTopics())[0]) {
    const [metadata] = await topic.getMetadata();
    topics[shortName(topic.name)] = {
      retentionSeconds: Number(metadata.messageRetentionDuration?.seconds),
    };
  }
  const subscriptions: Record<string, SubscriptionShape> = {};
  for (const subscription of (await pubsub.getSubscriptions())[0]) {
    const [m] = await subscription.getMetadata();
    const oidc = m.pushConfig?.oidcToken;
    subscriptions[shortName(subscription.name)] = {
      topic: relative(m.topic),
      pushEndpoint: relative(m.pushConfig?.pushEndpoint),
      oidc: oidc
        ? { serviceAccountEmail: relative(oidc.serviceAccountEmail), audience: oidc.audience }
        : null,
      ackDeadlineSeconds: m.ackDeadlineSeconds,
      minimumBackoffSeconds: Number(m.retryPolicy?.minimumBackoff?.seconds),
      maximumBackoffSeconds: Number(m.retryPolicy?.maximumBackoff?.seconds),
      deadLetterPolicy: m.deadLetterPolicy
        ? {
            deadLetterTopic: relative(m.deadLetterPolicy.deadLetterTopic),
            maxDeliveryAttempts: m.deadLetterPolicy.maxDeliveryAttempts,
          }
        : null,
      retentionSeconds: Number(m.messageRetentionDuration?.seconds),
    };
  }
  return { topics, subscriptions };
}

/** The emulator's host:port, given to every test project by the global setup. */
function pubsubHost(env: Readonly<Record<string, string | undefined>>): string {
  const host = env.PUBSUB_EMULATOR_HOST;
  if (host === undefined) throw new Error('PUBSUB_EMULATOR_HOST is not set');
  return host;
}

describe('deploy.sh --only pubsub, with gcloud against the Pub/Sub emulator', () => {
  const project = openProject('deploy-pubsub');
  const host = pubsubHost(project.env);
  let first: DeployRun;
  let second: DeployRun;

  beforeAll(async () => {
    first = await deployPubSub(project.projectId, host);
    second = await deployPubSub(project.projectId, host);
  }, 120_000);

  it('creates every topic and subscription, and a second run changes nothing', () => {
    expect(first.stderr).not.toContain('ERROR');
    expect(first.code).toBe(0);
    expect(first.stdout).toContain('# done: 8 changing commands run');

    expect(second.code).toBe(0);
    expect(second.stdout).toContain('# done: 0 changing commands run');
    // Reads only: one list of the topics, one of the subscriptions.
    expect(commandsOf(second.stdout).map((c) => c.slice(1, 4).join(' '))).toEqual([
      'pubsub topics list',
      'pubsub subscriptions list',
    ]);
    expect(second.stdout.match(/ unchanged$/gm)).toHaveLength(8);
  });

  it('gives the topics 7-day retention and the subscriptions their push, OIDC, ack deadline, retry and dead-letter settings', async () => {
    const { topics, subscriptions } = await readBack(project.pubsub, project.projectId);
    expect(Object.keys(topics).sort()).toEqual([
      'pacer-dead-letter',
      'pacer-high',
      'pacer-low',
      'pacer-medium',
    ]);
    for (const topic of Object.values(topics)) {
      expect(topic.retentionSeconds).toBe(7 * 24 * 3600);
    }
    const push = serviceAccountEmail('push', 'P');
    for (const lane of LANES) {
      const resources = topology.lanes[lane];
      expect(subscriptions[resources.subscription]).toEqual({
        topic: `projects/P/topics/${resources.topic}`,
        pushEndpoint: `${BASE}/${resources.functionName}/projects/P/topics/${resources.topic}`,
        oidc: { serviceAccountEmail: push, audience: `${BASE}/${resources.functionName}` },
        ackDeadlineSeconds: 600,
        minimumBackoffSeconds: resources.retry.minimumBackoffSeconds,
        maximumBackoffSeconds: resources.retry.maximumBackoffSeconds,
        deadLetterPolicy: {
          deadLetterTopic: 'projects/P/topics/pacer-dead-letter',
          maxDeliveryAttempts: topology.maxDeliveryAttempts,
        },
        retentionSeconds: 7 * 24 * 3600,
      });
    }
    expect(subscriptions['pacer-dead-letter-push']).toEqual({
      topic: 'projects/P/topics/pacer-dead-letter',
      pushEndpoint: `${BASE}/recordDeadLetter/projects/P/topics/pacer-dead-letter`,
      oidc: { serviceAccountEmail: push, audience: `${BASE}/recordDeadLetter` },
      ackDeadlineSeconds: 60,
      minimumBackoffSeconds: 10,
      maximumBackoffSeconds: 600,
      deadLetterPolicy: null,
      retentionSeconds: 7 * 24 * 3600,
    });
  });

  it('creates what the local stack creates with the Node client from the same description', async () => {
    const deployed = await readBack(project.pubsub, project.projectId);
    const local = openProject('deploy-local');
    await applyTopology(local.pubsub, topology, {
      projectId: local.projectId,
      endpoint: (name) => `${BASE}/${name}`,
      oidc: { serviceAccountEmail: serviceAccountEmail('push', local.projectId) },
    });
    const mirrored = await readBack(local.pubsub, local.projectId);
    expect(mirrored.topics).toEqual(deployed.topics);
    expect(Object.keys(mirrored.subscriptions).sort()).toEqual(
      Object.keys(deployed.subscriptions).sort(),
    );
    for (const [name, subscription] of Object.entries(mirrored.subscriptions)) {
      // applyTopology leaves the audience to Pub/Sub's default (the endpoint); deploy.sh sets
      // the function's URL, which is what Cloud Run checks.
      expect({ ...subscription, oidc: subscription.oidc?.serviceAccountEmail }).toEqual({
        ...deployed.subscriptions[name],
        oidc: deployed.subscriptions[name]?.oidc?.serviceAccountEmail,
      });
    }
  });

  // Last: it changes the project the tests above read.
  it('brings what drifted back to the description, and only that', async () => {
    await project.pubsub.subscription('pacer-medium-push').setMetadata({
      ackDeadlineSeconds: 10,
      retryPolicy: { minimumBackoff: { seconds: 1 }, maximumBackoff: { seconds: 2 } },
    });
    await project.pubsub.topic('pacer-low').setMetadata({
      messageRetentionDuration: { seconds: 3600 },
    });

    const again = await deployPubSub(project.projectId, host);

    expect(again.code).toBe(0);
    const changed = commandsOf(again.stdout).filter((c) => !c.includes('list'));
    expect(changed.map((c) => c.slice(1, 5).join(' '))).toEqual([
      'pubsub topics update pacer-low',
      'pubsub subscriptions update pacer-medium-push',
    ]);
    const { topics, subscriptions } = await readBack(project.pubsub, project.projectId);
    expect(topics['pacer-low']?.retentionSeconds).toBe(7 * 24 * 3600);
    expect(subscriptions['pacer-medium-push']).toMatchObject({
      ackDeadlineSeconds: 600,
      minimumBackoffSeconds: 10,
      maximumBackoffSeconds: 300,
    });
  }, 120_000);
});
