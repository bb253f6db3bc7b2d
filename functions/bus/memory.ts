/**
 * Pub/Sub in memory, for the simulator and the protocol checker, with the semantics pacer relies
 * on: topics and push subscriptions; at-least-once delivery (a message is delivered until its
 * push is answered with success, and may be delivered twice); redelivery of a failed push after
 * the subscription's exponential backoff; a push unanswered within the ack deadline counts as
 * failed; flow control (no more pushes in progress than the subscriber can take); and the
 * dead-letter policy (after `maxDeliveryAttempts` the message goes to the dead-letter topic with
 * Pub/Sub's `CloudPubSubDeadLetterSource*` attributes).
 *
 * Time is a {@link Scheduler}'s (the virtual clock); how a publish reaches the topic is a
 * {@link BusLink}'s (at once by default; the checker delays, fails or duplicates it).
 */
import type { PerLane } from '../config.js';
import type { RetryPolicy } from '../topology.js';
import { DeadLetterPublisher, type DeadLetterNote } from './dead-letter.js';
import { encodeMessage, type DispatchMessage } from './message.js';
import type { DeadLetterBus, DispatchBus, PublishOutcome } from './port.js';

/** Runs actions later on some clock. */
export interface Scheduler {
  now(): number;
  after(ms: number, action: () => void): void;
}

/** A message as published. */
export interface MemoryMessage {
  data: Buffer;
  attributes: Record<string, string>;
}

/** A push delivery, as functions-framework hands it to a CloudEvent function. */
export interface PushEvent {
  id: string;
  data: {
    message: {
      data: string;
      attributes: Record<string, string>;
      messageId: string;
      publishTime: string;
    };
    subscription: string;
  };
}

/** The subscriber: resolves to succeed (ack), rejects to fail (redelivery with backoff). */
export type PushHandler = (event: PushEvent, delivery: { attempt: number }) => Promise<unknown>;

export interface SubscriptionOptions {
  name: string;
  /** Pushes in progress at once. */
  concurrency: number;
  retry: RetryPolicy;
  ackDeadlineMs: number;
  /** Time from publish (or redelivery) to the push. */
  deliveryLatencyMs: number;
  /** The dead-letter policy: after this many failed deliveries, to `deadLetterTopic`. */
  deadLetter: { topic: string; maxDeliveryAttempts: number } | null;
}

/**
 * How a publish reaches its topic: `deliver` is called once per copy that gets there. The link
 * may resolve without delivering (lost), reject (the publisher sees a failure, though a copy may
 * still get there), or deliver twice.
 */
export interface BusLink {
  send(topic: string, deliver: () => void): Promise<void>;
}

export const DIRECT_BUS_LINK: BusLink = {
  send: (_topic, deliver) => Promise.resolve().then(deliver),
};

/**
 * The delay before redelivering a message whose `attempt`-th push failed: exponential from the
 * policy's minimum, doubling per attempt, capped at its maximum.
 */
export function redeliveryDelayMs(retry: RetryPolicy, attempt: number): number {
  const seconds = retry.minimumBackoffSeconds * 2 ** Math.max(0, attempt - 1);
  return Math.min(retry.maximumBackoffSeconds, seconds) * 1_000;
}

interface Pending {
  messageId: string;
  message: MemoryMessage;
  publishTime: number;
  /** Pushes so far. */
  attempt: number;
}

class Subscription {
  /** Pushes made, redeliveries included. */
  pushes = 0;
  private inProgress = 0;
  private readonly waiting: Pending[] = [];

  constructor(
    private readonly pubsub: MemoryPubSub,
    readonly options: SubscriptionOptions,
    private readonly handler: PushHandler,
  ) {}

  arrive(pending: Pending): void {
    this.pubsub.scheduler.after(this.options.deliveryLatencyMs, () => {
      this.waiting.push(pending);
      this.pump();
    });
  }

  backlog(): number {
    return this.waiting.length;
  }

  private pump(): void {
    while (this.inProgress < this.options.concurrency) {
      const pending = this.waiting.shift();
      if (pending === undefined) return;
      this.push(pending);
    }
  }

  private push(pending: Pending): void {
    this.inProgress++;
    this.pushes++;
    const attempt = pending.attempt + 1;
    let answered = false;
    const answer = (ok: boolean) => {
      if (answered) return;
      answered = true;
      if (!ok) this.failed({ ...pending, attempt });
    };
    this.pubsub.scheduler.after(this.options.ackDeadlineMs, () => {
      answer(false);
    });
    const event: PushEvent = {
      id: pending.messageId,
      data: {
        message: {
          data: pending.message.data.toString('base64'),
          attributes: { ...pending.message.attributes },
          messageId: pending.messageId,
          publishTime: new Date(pending.publishTime).toISOString(),
        },
        subscription: this.options.name,
      },
    };
    let settled: Promise<unknown>;
    try {
      settled = this.handler(event, { attempt });
    } catch (error) {
      settled = Promise.reject(error instanceof Error ? error : new Error(String(error)));
    }
    settled
      .then(
        () => {
          answer(true);
        },
        () => {
          answer(false);
        },
      )
      .finally(() => {
        this.inProgress--;
        this.pump();
      });
  }

  private failed(pending: Pending): void {
    const policy = this.options.deadLetter;
    if (policy !== null && pending.attempt >= policy.maxDeliveryAttempts) {
      this.pubsub.forward(policy.topic, {
        data: pending.message.data,
        attributes: {
          ...pending.message.attributes,
          CloudPubSubDeadLetterSourceDeliveryCount: String(pending.attempt),
          CloudPubSubDeadLetterSourceSubscription: this.options.name,
          CloudPubSubDeadLetterSourceTopicPublishTime: new Date(pending.publishTime).toISOString(),
        },
      });
      return;
    }
    this.pubsub.scheduler.after(redeliveryDelayMs(this.options.retry, pending.attempt), () => {
      this.arrive(pending);
    });
  }
}

export class MemoryPubSub {
  /** Messages that reached a topic (copies included). */
  published = 0;
  private nextId = 1;
  private readonly subscriptions = new Map<string, Subscription[]>();

  constructor(
    readonly scheduler: Scheduler,
    private readonly link: BusLink = DIRECT_BUS_LINK,
  ) {}

  subscribe(topic: string, options: SubscriptionOptions, handler: PushHandler): void {
    const list = this.subscriptions.get(topic) ?? [];
    list.push(new Subscription(this, options, handler));
    this.subscriptions.set(topic, list);
  }

  /** Publishes through the link; resolves with the message id once the topic has it. */
  async publish(topic: string, message: MemoryMessage): Promise<string> {
    const messageId = `m${this.nextId++}`;
    await this.link.send(topic, () => {
      this.deliver(topic, messageId, message);
    });
    return messageId;
  }

  /** A message moved by Pub/Sub itself (dead-letter forwarding): no link in between. */
  forward(topic: string, message: MemoryMessage): void {
    this.deliver(topic, `m${this.nextId++}`, message);
  }

  /** Pushes made to a subscription so far. */
  pushes(name: string): number {
    let total = 0;
    for (const list of this.subscriptions.values()) {
      for (const subscription of list)
        if (subscription.options.name === name) total += subscription.pushes;
    }
    return total;
  }

  private deliver(topic: string, messageId: string, message: MemoryMessage): void {
    this.published++;
    const publishTime = this.scheduler.now();
    for (const subscription of this.subscriptions.get(topic) ?? []) {
      subscription.arrive({ messageId, message, publishTime, attempt: 0 });
    }
  }
}

/** The dispatch bus on memory topics, one per lane. */
export class MemoryDispatchBus implements DispatchBus {
  constructor(
    private readonly pubsub: MemoryPubSub,
    private readonly topics: PerLane<string>,
  ) {}

  publish(messages: readonly DispatchMessage[]): Promise<PublishOutcome[]> {
    return Promise.all(
      messages.map(async (message): Promise<PublishOutcome> => {
        try {
          const messageId = await this.pubsub.publish(
            this.topics[message.lane],
            encodeMessage(message),
          );
          return { ok: true, message, messageId };
        } catch (error) {
          return { ok: false, message, error };
        }
      }),
    );
  }
}

/** The dead-letter bus on a memory topic, with the attributes the Pub/Sub one writes. */
export class MemoryDeadLetterBus implements DeadLetterBus {
  constructor(
    private readonly pubsub: MemoryPubSub,
    private readonly topic: string,
  ) {}

  publish(
    original: { data: Buffer; attributes: Record<string, string> },
    note: DeadLetterNote,
  ): Promise<string> {
    const { data, attributes } = DeadLetterPublisher.messageFor(original, note);
    return this.pubsub.publish(this.topic, { data, attributes });
  }
}
