/**
 * The in-memory bus (the simulator's and the protocol checker's) against the bus port's
 * contract, and the Pub/Sub semantics it models: redelivery with backoff, flow control, the
 * ack deadline and the dead-letter policy. Time is a virtual clock.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { describe, expect, it } from 'vitest';
import {
  MemoryDeadLetterBus,
  MemoryDispatchBus,
  MemoryPubSub,
  redeliveryDelayMs,
  type PushEvent,
  type SubscriptionOptions,
} from '../../../functions/bus/memory.js';
import { VirtualClock } from '../../../infra/sim/clock.js';
import { describeBusConformance, type Arrived, type BusHarness } from './conformance.js';

function memoryHarness(): Promise<BusHarness> {
  const pubsub = new MemoryPubSub({
    now: Date.now,
    after: (ms, action) => void setTimeout(action, ms),
  });
  const topics = { high: 'h', medium: 'm', low: 'l', deadLetter: 'dl' };
  const arrived: Arrived[] = [];
  for (const topic of Object.values(topics)) {
    pubsub.subscribe(topic, { ...OPTIONS, name: `${topic}-sub` }, (event) => {
      const { message } = event.data;
      arrived.push({
        topic,
        data: Buffer.from(message.data, 'base64'),
        attributes: message.attributes,
      });
      return Promise.resolve();
    });
  }
  return Promise.resolve({
    dispatch: new MemoryDispatchBus(pubsub, topics),
    deadLetters: new MemoryDeadLetterBus(pubsub, topics.deadLetter),
    topics,
    async arrived(count) {
      const deadline = Date.now() + 5_000;
      while (arrived.length < count && Date.now() < deadline) await sleep(5);
      return arrived;
    },
    close: () => Promise.resolve(),
  });
}

const OPTIONS: SubscriptionOptions = {
  name: 'sub',
  concurrency: 10,
  retry: { minimumBackoffSeconds: 10, maximumBackoffSeconds: 60 },
  ackDeadlineMs: 600_000,
  deliveryLatencyMs: 50,
  deadLetter: null,
};

describeBusConformance('memory', memoryHarness);

/** A virtual-time bus with one subscription on `t` answered by `handler`. */
function virtualBus(
  options: Partial<SubscriptionOptions>,
  handler: (event: PushEvent, attempt: number, clock: VirtualClock) => Promise<unknown>,
) {
  const clock = new VirtualClock(0);
  const pubsub = new MemoryPubSub({
    now: () => clock.now(),
    after: (ms, action) => void clock.after(ms, action),
  });
  pubsub.subscribe('t', { ...OPTIONS, ...options }, (event, { attempt }) =>
    handler(event, attempt, clock),
  );
  return { clock, pubsub };
}

describe('the memory bus as Pub/Sub', () => {
  it('redelivers a failed push after the backoff, doubling up to its maximum, until it succeeds', async () => {
    const seen: { at: number; attempt: number }[] = [];
    const { clock, pubsub } = virtualBus({}, async (_event, attempt, clock) => {
      seen.push({ at: clock.now(), attempt });
      await clock.sleep(3_000);
      if (attempt < 4) throw new Error('the worker failed');
    });
    await pubsub.publish('t', { data: Buffer.from('x'), attributes: {} });
    await clock.run(600_000);
    expect(seen).toEqual([
      { at: 50, attempt: 1 },
      { at: 50 + 3_000 + 10_000 + 50, attempt: 2 },
      { at: 50 + 2 * 3_000 + 10_000 + 20_000 + 2 * 50, attempt: 3 },
      { at: 50 + 3 * 3_000 + 10_000 + 20_000 + 40_000 + 3 * 50, attempt: 4 },
    ]);
    expect(redeliveryDelayMs(OPTIONS.retry, 5)).toBe(60_000);
  });

  it('never has more pushes in progress than the subscriber takes at once', async () => {
    let running = 0;
    let most = 0;
    const { clock, pubsub } = virtualBus({ concurrency: 3 }, async (_event, _attempt, clock) => {
      running++;
      most = Math.max(most, running);
      await clock.sleep(1_000);
      running--;
    });
    for (let i = 0; i < 10; i++)
      await pubsub.publish('t', { data: Buffer.from(`${i}`), attributes: {} });
    await clock.run(60_000);
    expect(most).toBe(3);
    expect(pubsub.pushes('sub')).toBe(10);
  });

  it('counts a push unanswered within the ack deadline as failed, and dead-letters after the policy', async () => {
    const letters: PushEvent[] = [];
    const { clock, pubsub } = virtualBus(
      { ackDeadlineMs: 5_000, deadLetter: { topic: 'dl', maxDeliveryAttempts: 3 } },
      (_event, _attempt, clock) => clock.sleep(60_000),
    );
    pubsub.subscribe('dl', { ...OPTIONS, name: 'dl-sub' }, (event) => {
      letters.push(event);
      return Promise.resolve();
    });
    await pubsub.publish('t', { data: Buffer.from('slow'), attributes: { lane: 'high' } });
    await clock.run(3_600_000);
    expect(letters).toHaveLength(1);
    expect(letters[0]?.data.message.attributes).toMatchObject({
      lane: 'high',
      CloudPubSubDeadLetterSourceDeliveryCount: '3',
      CloudPubSubDeadLetterSourceSubscription: 'sub',
    });
  });
});
