/**
 * Publishing dispatch messages to the lane topics, batched. Each message gets its own outcome,
 * so the planner can release exactly the claims whose message did not go out.
 */
import { randomBytes } from 'node:crypto';
import type { PubSub, Topic } from '@google-cloud/pubsub';
import type { PerLane } from '../config.js';
import type { Lane } from '../schedule/lane.js';
import { encodeMessage, type DispatchMessage } from './message.js';
import type { DispatchBus, PublishOutcome } from './port.js';

export type { PublishOutcome };

export interface BusOptions {
  /** Topic per lane (from the topology). */
  topics: PerLane<string>;
  /** How long one publish may take, retries included, before it counts as failed. */
  timeoutMs: number;
}

/** The dispatch bus on Pub/Sub: one topic per lane. */
export class PubSubBus implements DispatchBus {
  private readonly topics = new Map<Lane, Topic>();

  constructor(
    private readonly pubsub: PubSub,
    private readonly options: BusOptions,
  ) {}

  /**
   * Publishes each message to its lane's topic. `traceparent` (W3C) is the caller's trace; each
   * message carries it with a span of its own.
   */
  async publish(
    messages: readonly DispatchMessage[],
    traceparent?: string,
  ): Promise<PublishOutcome[]> {
    const traceId = /^00-([\da-f]{32})-/.exec(traceparent ?? '')?.[1];
    return Promise.all(
      messages.map(async (message): Promise<PublishOutcome> => {
        const span = traceId ? `00-${traceId}-${randomBytes(8).toString('hex')}-01` : undefined;
        try {
          const messageId = await this.topic(message.lane).publishMessage(
            encodeMessage(message, span),
          );
          return { ok: true, message, messageId };
        } catch (error) {
          return { ok: false, message, error };
        }
      }),
    );
  }

  /** Sends what is batched and stops the publishers. */
  async close(): Promise<void> {
    await Promise.all([...this.topics.values()].map((topic) => topic.flush()));
  }

  private topic(lane: Lane): Topic {
    let topic = this.topics.get(lane);
    if (topic === undefined) {
      topic = this.pubsub.topic(this.options.topics[lane], {
        batching: { maxMessages: 100, maxMilliseconds: 10 },
        gaxOpts: { timeout: this.options.timeoutMs },
      });
      this.topics.set(lane, topic);
    }
    return topic;
  }
}
