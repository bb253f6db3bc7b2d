/**
 * Pub/Sub helpers for tests: lane topics with pull subscriptions whose messages the test can
 * collect and count.
 */
import type { Message, PubSub, Subscription } from '@google-cloud/pubsub';
import { setTimeout as sleep } from 'node:timers/promises';
import type { PerLane } from '../../functions/config.js';
import { decodeMessage, type DispatchMessage } from '../../functions/bus/message.js';
import { LANES, type Lane } from '../../functions/schedule/lane.js';

export interface Received {
  lane: Lane;
  message: DispatchMessage;
  attributes: Record<string, string>;
}

/** Creates the lane topics and a pull subscription on each, and collects what arrives. */
export async function laneTopicsWithCollector(pubsub: PubSub, topics: PerLane<string>) {
  const subscriptions: Subscription[] = [];
  const received: Received[] = [];
  for (const lane of LANES) {
    const [topic] = await pubsub.createTopic(topics[lane]);
    const [subscription] = await topic.createSubscription(`${topics[lane]}-test-pull`, {
      ackDeadlineSeconds: 60,
    });
    subscription.on('message', (message: Message) => {
      const decoded = decodeMessage(message.data);
      if (!decoded.ok) throw new Error(`undecodable message on ${topics[lane]}: ${decoded.reason}`);
      received.push({ lane, message: decoded.message, attributes: message.attributes });
      message.ack();
    });
    subscriptions.push(subscription);
  }
  return {
    received,
    /** Waits until at least `count` messages arrived and no more came for `quietMs`. */
    async settle(count: number, timeoutMs = 20_000, quietMs = 500): Promise<Received[]> {
      const deadline = Date.now() + timeoutMs;
      let seen = -1;
      let quietSince = Date.now();
      while (Date.now() < deadline) {
        if (received.length !== seen) {
          seen = received.length;
          quietSince = Date.now();
        } else if (received.length >= count && Date.now() - quietSince >= quietMs) {
          return received;
        }
        await sleep(50);
      }
      throw new Error(`expected ${count} messages, got ${received.length} within ${timeoutMs} ms`);
    },
    async close(): Promise<void> {
      await Promise.all(subscriptions.map((subscription) => subscription.close()));
    },
  };
}
