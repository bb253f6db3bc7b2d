import { describe, expect, it } from 'vitest';
import { defaultSettings, loadSettings } from '../../functions/config.js';
import { LANES } from '../../functions/schedule/lane.js';
import { MAX_RUN_SECONDS } from '../../functions/schedule/spec.js';
import {
  describeTopology,
  SERVICE_ACCOUNTS,
  serviceAccountEmail,
} from '../../functions/topology.js';

describe('the topology', () => {
  const topology = describeTopology(defaultSettings());

  it('keeps messages 7 days', () => {
    expect(topology.retentionSeconds).toBe(7 * 24 * 3600);
  });

  it('waits for an answer at least as long as the longest sync may run, and no longer than Pub/Sub allows', () => {
    expect(topology.workerTimeoutSeconds).toBeGreaterThan(MAX_RUN_SECONDS);
    expect(topology.ackDeadlineSeconds).toBeGreaterThanOrEqual(topology.workerTimeoutSeconds);
    expect(topology.ackDeadlineSeconds).toBeLessThanOrEqual(600);
  });

  it('has one topic, push subscription and worker function per lane, and a dead-letter path', () => {
    expect(LANES.map((lane) => topology.lanes[lane].topic)).toEqual([
      'pacer-high',
      'pacer-medium',
      'pacer-low',
    ]);
    expect(LANES.map((lane) => topology.lanes[lane].functionName)).toEqual([
      'syncHigh',
      'syncMedium',
      'syncLow',
    ]);
    expect(topology.deadLetter).toMatchObject({
      topic: 'pacer-dead-letter',
      functionName: 'recordDeadLetter',
    });
  });

  it('retries the high lane soonest and the low lane latest', () => {
    const { high, medium, low } = topology.lanes;
    expect(high.retry.maximumBackoffSeconds).toBeLessThan(medium.retry.maximumBackoffSeconds);
    expect(medium.retry.maximumBackoffSeconds).toBeLessThanOrEqual(low.retry.maximumBackoffSeconds);
  });

  it('sets Pub/Sub’s delivery limit above pacer’s attempt limit, within what Pub/Sub accepts', () => {
    for (const attempts of ['1', '5', '60', '100']) {
      const limit = describeTopology(
        loadSettings({ PACER_MAX_ATTEMPTS: attempts }),
      ).maxDeliveryAttempts;
      expect(limit).toBeGreaterThan(Math.min(Number(attempts), 95));
      expect(limit).toBeGreaterThanOrEqual(5);
      expect(limit).toBeLessThanOrEqual(100);
    }
  });

  it('sizes each lane’s instances to its in-flight budget', () => {
    const sized = describeTopology(
      loadSettings({ PACER_INFLIGHT_HIGH: '95', PACER_INFLIGHT_LOW: '5' }),
    );
    expect(sized.lanes.high.maxInstances * sized.lanes.high.concurrency).toBeGreaterThanOrEqual(95);
    expect(sized.lanes.low.maxInstances).toBe(1);
  });
});

describe('the deployment in the topology', () => {
  const topology = describeTopology(defaultSettings());

  it('gives Cloud Scheduler longer than the planner may run, within what Cloud Scheduler accepts', () => {
    expect(topology.tickJob.attemptDeadlineSeconds).toBeGreaterThan(
      topology.planner.timeoutSeconds,
    );
    const slow = describeTopology(loadSettings({ PACER_TICK_BUDGET_SECONDS: '3000' }));
    expect(slow.tickJob.attemptDeadlineSeconds).toBeLessThanOrEqual(1_800);
  });

  it('ticks every minute, with one retry that lands before the next tick', () => {
    expect(topology.tickJob.schedule).toBe('* * * * *');
    expect(topology.tickJob.retry.retryCount).toBe(1);
    expect(topology.tickJob.retry.minBackoffSeconds).toBeLessThan(60);
  });

  it('answers a dead letter within its ack deadline', () => {
    expect(topology.deadLetter.timeoutSeconds).toBeLessThanOrEqual(
      topology.deadLetter.ackDeadlineSeconds,
    );
  });

  it('gives every instance that serves more than one request at once a whole CPU', () => {
    const concurrent = [
      ...LANES.map((lane) => topology.lanes[lane].concurrency),
      topology.deadLetter.concurrency,
      topology.reconciler.concurrency,
    ];
    expect(concurrent.some((concurrency) => concurrency > 1)).toBe(true);
    expect(Number(topology.instance.cpu)).toBeGreaterThanOrEqual(1);
  });

  it('names service accounts Google Cloud accepts (6-30 lowercase letters, digits, hyphens)', () => {
    for (const id of Object.values(SERVICE_ACCOUNTS)) {
      expect(id).toMatch(/^[a-z][a-z0-9-]{4,28}[a-z0-9]$/);
    }
    expect(serviceAccountEmail('push', 'my-project')).toBe(
      'pacer-push@my-project.iam.gserviceaccount.com',
    );
  });
});
