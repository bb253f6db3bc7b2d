/**
 * The Pub/Sub buses on the emulator against the bus port's contract (./conformance.ts), the
 * same one the in-memory bus passes.
 */
import type { Message } from '@google-cloud/pubsub';
import { setTimeout as sleep } from 'node:timers/promises';
import { DeadLetterPublisher } from '../../../functions/bus/dead-letter.js';
import { PubSubBus } from '../../../functions/bus/publisher.js';
import { useProjects } from '../../support/emulators.js';
import { describeBusConformance, type Arrived, type BusHarness } from './conformance.js';

const projects = useProjects();

async function pubsubHarness(): Promise<BusHarness> {
  const { pubsub } = projects('bus');
  const topics = {
    high: 'pacer-high',
    medium: 'pacer-medium',
    low: 'pacer-low',
    deadLetter: 'pacer-dead-letter',
  };
  const arrived: Arrived[] = [];
  const subscriptions = await Promise.all(
    Object.values(topics).map(async (name) => {
      const [topic] = await pubsub.createTopic(name);
      const [subscription] = await topic.createSubscription(`${name}-conformance`);
      subscription.on('message', (message: Message) => {
        arrived.push({ topic: name, data: message.data, attributes: message.attributes });
        message.ack();
      });
      return subscription;
    }),
  );
  const dispatch = new PubSubBus(pubsub, { topics, timeoutMs: 10_000 });
  return {
    dispatch,
    deadLetters: new DeadLetterPublisher(pubsub, topics.deadLetter, 10_000),
    topics,
    async arrived(count) {
      const deadline = Date.now() + 20_000;
      while (arrived.length < count && Date.now() < deadline) await sleep(50);
      return arrived;
    },
    async close() {
      await dispatch.close();
      await Promise.all(subscriptions.map((subscription) => subscription.close()));
    },
  };
}

describeBusConformance('Pub/Sub', pubsubHarness);
