import { describe, expect, it } from 'vitest';
import { defaultSettings } from '../../../functions/config.js';
import { LANES } from '../../../functions/schedule/lane.js';
import { describeTopology } from '../../../functions/topology.js';
import { applyTopology } from '../../../infra/local/topology.js';
import { useTestProject } from '../../support/emulators.js';

const project = useTestProject('topology');

describe('applying the topology', () => {
  it('creates the topics and push subscriptions it describes, and applying it again changes nothing', async () => {
    const topology = describeTopology(defaultSettings());
    const targets = {
      projectId: project.projectId,
      endpoint: (name: string) => `http://127.0.0.1:9000/${name}`,
    };
    await applyTopology(project.pubsub, topology, targets);
    await applyTopology(project.pubsub, topology, targets);

    const [topics] = await project.pubsub.getTopics();
    expect(topics.map((topic) => topic.name.split('/').pop()).sort()).toEqual([
      'pacer-dead-letter',
      'pacer-high',
      'pacer-low',
      'pacer-medium',
    ]);
    for (const topic of topics) {
      const [metadata] = await topic.getMetadata();
      expect(Number(metadata.messageRetentionDuration?.seconds)).toBe(7 * 24 * 3600);
    }
    for (const lane of LANES) {
      const resources = topology.lanes[lane];
      const [metadata] = await project.pubsub.subscription(resources.subscription).getMetadata();
      expect(metadata.topic).toBe(`projects/${project.projectId}/topics/${resources.topic}`);
      expect(metadata.pushConfig?.pushEndpoint).toBe(
        `http://127.0.0.1:9000/${resources.functionName}/projects/${project.projectId}/topics/${resources.topic}`,
      );
      expect(metadata.ackDeadlineSeconds).toBe(topology.ackDeadlineSeconds);
      expect(Number(metadata.retryPolicy?.minimumBackoff?.seconds)).toBe(
        resources.retry.minimumBackoffSeconds,
      );
      expect(Number(metadata.retryPolicy?.maximumBackoff?.seconds)).toBe(
        resources.retry.maximumBackoffSeconds,
      );
      expect(metadata.deadLetterPolicy).toMatchObject({
        deadLetterTopic: `projects/${project.projectId}/topics/pacer-dead-letter`,
        maxDeliveryAttempts: topology.maxDeliveryAttempts,
      });
    }
    const [deadLetter] = await project.pubsub
      .subscription(topology.deadLetter.subscription)
      .getMetadata();
    expect(deadLetter.pushConfig?.pushEndpoint).toContain('/recordDeadLetter/projects/');
    expect(deadLetter.deadLetterPolicy).toBeFalsy();
  });

  it('brings a subscription that drifted back to the description', async () => {
    const topology = describeTopology(defaultSettings());
    const targets = { projectId: project.projectId, endpoint: () => 'http://127.0.0.1:9001' };
    await applyTopology(project.pubsub, topology, targets);
    await project.pubsub
      .subscription(topology.lanes.high.subscription)
      .setMetadata({ ackDeadlineSeconds: 10 });

    await applyTopology(project.pubsub, topology, targets);
    const [metadata] = await project.pubsub
      .subscription(topology.lanes.high.subscription)
      .getMetadata();
    expect(metadata.ackDeadlineSeconds).toBe(topology.ackDeadlineSeconds);
  });
});
