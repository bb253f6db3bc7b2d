/**
 * Creates pacer's Pub/Sub resources from the topology description with the Node client: the
 * lane topics (7-day retention), their push subscriptions (ack deadline, retry backoff,
 * dead-letter policy) and the dead-letter topic with its own push subscription. Idempotent:
 * what exists is updated to match. Used by the tests and the local stack; the deploy creates
 * the same resources with gcloud from the same description.
 */
import type { PubSub } from '@google-cloud/pubsub';
import { LANES } from '../../functions/schedule/lane.js';
import type { RetryPolicy, Topology } from '../../functions/topology.js';

export interface PushTargets {
  projectId: string;
  /** Base URL of the server that runs `functionName`, e.g. `http://127.0.0.1:8081`. */
  endpoint(functionName: string): string;
  /** OIDC identity the push requests carry (deployed functions are private). */
  oidc?: { serviceAccountEmail: string; audience?: string };
}

/**
 * The push endpoint for a topic: functions-framework derives the CloudEvent's `source` from a
 * `/projects/P/topics/T` path.
 */
export function pushEndpoint(base: string, projectId: string, topic: string): string {
  return `${base.replace(/\/$/, '')}/projects/${projectId}/topics/${topic}`;
}

export async function applyTopology(
  pubsub: PubSub,
  topology: Topology,
  targets: PushTargets,
): Promise<void> {
  const retention = { seconds: topology.retentionSeconds };
  const deadLetterTopic = `projects/${targets.projectId}/topics/${topology.deadLetter.topic}`;
  await ensureTopic(pubsub, topology.deadLetter.topic, retention);
  await ensureSubscription(pubsub, topology.deadLetter.topic, topology.deadLetter.subscription, {
    pushConfig: pushConfig(targets, topology.deadLetter.functionName, topology.deadLetter.topic),
    ackDeadlineSeconds: topology.deadLetter.ackDeadlineSeconds,
    retryPolicy: retryPolicy(topology.deadLetter.retry),
    messageRetentionDuration: retention,
  });
  for (const lane of LANES) {
    const resources = topology.lanes[lane];
    await ensureTopic(pubsub, resources.topic, retention);
    await ensureSubscription(pubsub, resources.topic, resources.subscription, {
      pushConfig: pushConfig(targets, resources.functionName, resources.topic),
      ackDeadlineSeconds: topology.ackDeadlineSeconds,
      retryPolicy: retryPolicy(resources.retry),
      deadLetterPolicy: { deadLetterTopic, maxDeliveryAttempts: topology.maxDeliveryAttempts },
      messageRetentionDuration: retention,
    });
  }
}

interface SubscriptionSettings {
  pushConfig: {
    pushEndpoint: string;
    oidcToken?: { serviceAccountEmail: string; audience?: string };
  };
  ackDeadlineSeconds: number;
  retryPolicy: { minimumBackoff: { seconds: number }; maximumBackoff: { seconds: number } };
  deadLetterPolicy?: { deadLetterTopic: string; maxDeliveryAttempts: number };
  messageRetentionDuration: { seconds: number };
}

function pushConfig(targets: PushTargets, functionName: string, topic: string) {
  return {
    pushEndpoint: pushEndpoint(targets.endpoint(functionName), targets.projectId, topic),
    ...(targets.oidc ? { oidcToken: targets.oidc } : {}),
  };
}

function retryPolicy(retry: RetryPolicy) {
  return {
    minimumBackoff: { seconds: retry.minimumBackoffSeconds },
    maximumBackoff: { seconds: retry.maximumBackoffSeconds },
  };
}

const ALREADY_EXISTS = 6;

async function ensureTopic(pubsub: PubSub, name: string, retention: { seconds: number }) {
  try {
    await pubsub.createTopic({ name, messageRetentionDuration: retention });
  } catch (error) {
    if ((error as { code?: unknown }).code !== ALREADY_EXISTS) throw error;
    await pubsub.topic(name).setMetadata({ messageRetentionDuration: retention });
  }
}

async function ensureSubscription(
  pubsub: PubSub,
  topic: string,
  name: string,
  settings: SubscriptionSettings,
) {
  try {
    await pubsub.topic(topic).createSubscription(name, settings);
  } catch (error) {
    if ((error as { code?: unknown }).code !== ALREADY_EXISTS) throw error;
    const subscription = pubsub.subscription(name);
    await subscription.modifyPushConfig(settings.pushConfig);
    await subscription.setMetadata({
      ackDeadlineSeconds: settings.ackDeadlineSeconds,
      retryPolicy: settings.retryPolicy,
      messageRetentionDuration: settings.messageRetentionDuration,
      ...(settings.deadLetterPolicy ? { deadLetterPolicy: settings.deadLetterPolicy } : {}),
    });
  }
}
