/**
 * An in-memory stand-in for a lane's Pub/Sub topic and push subscription, with the semantics
 * pacer relies on: at-least-once delivery (a message is delivered until it is acked; a
 * published message may, rarely, be delivered twice), redelivery of a nacked message after the
 * subscription's exponential backoff, and flow control: no more deliveries in progress than
 * the lane's workers can take at once (further messages wait their turn, as push requests to a
 * function at its instance limit are retried until one is free).
 */
import type { Lane } from '../../functions/schedule/lane.js';
import type { RetryPolicy } from '../../functions/topology.js';
import type { VirtualClock } from './clock.js';
import type { Rng } from './random.js';
import { itemAt } from './arrays.js';

/** The dispatch message, as pacer publishes it. */
export interface DispatchMessage {
  v: 1;
  scheduleId: string;
  leaseId: string;
  dueAt: number;
  lane: Lane;
}

/** One delivery of a message to a worker. */
export interface Delivery {
  message: DispatchMessage;
  /** Pub/Sub's delivery attempt for this copy of the message, from 1. */
  deliveryAttempt: number;
}

/** How a worker answers a push: ack (done, whatever the outcome) or nack (redeliver). */
export type PushAnswer = 'ack' | 'nack';

/** A worker: handles a delivery and calls `answer` when it is done (now or later). */
export type PushHandler = (delivery: Delivery, answer: (answer: PushAnswer) => void) => void;

export interface SubscriptionOptions {
  lane: Lane;
  /** Deliveries in progress at once: the lane's worker concurrency. */
  concurrency: number;
  retry: RetryPolicy;
  deliveryLatencyMs: number;
  /** Share of published messages delivered a second time. */
  duplicateRate: number;
}

/**
 * The delay before redelivering a message nacked on its `deliveryAttempt`-th delivery:
 * exponential from the policy's minimum, doubling per attempt, capped at its maximum.
 */
export function redeliveryDelayMs(retry: RetryPolicy, deliveryAttempt: number): number {
  const seconds = retry.minimumBackoffSeconds * 2 ** Math.max(0, deliveryAttempt - 1);
  return Math.min(retry.maximumBackoffSeconds, seconds) * 1_000;
}

export class LaneSubscription {
  /** Deliveries made, redeliveries and duplicates included. */
  deliveries = 0;
  private inProgress = 0;
  private readonly waiting: Delivery[] = [];
  private head = 0;
  private pumping = false;

  constructor(
    private readonly clock: VirtualClock,
    private readonly rng: Rng,
    private readonly options: SubscriptionOptions,
    private readonly handler: PushHandler,
  ) {}

  /** Publishes a message; it reaches a worker after the delivery latency. */
  publish(message: DispatchMessage): void {
    this.clock.after(this.options.deliveryLatencyMs, () => {
      this.arrive({ message, deliveryAttempt: 1 });
    });
    if (this.options.duplicateRate > 0 && this.rng() < this.options.duplicateRate) {
      // A second copy, up to 10 s later: Pub/Sub's at-least-once delivery.
      this.clock.after(this.options.deliveryLatencyMs + this.rng() * 10_000, () => {
        this.arrive({ message, deliveryAttempt: 1 });
      });
    }
  }

  /** Messages waiting for a free worker. */
  backlog(): number {
    return this.waiting.length - this.head;
  }

  private arrive(delivery: Delivery): void {
    this.waiting.push(delivery);
    this.pump();
  }

  private pump(): void {
    if (this.pumping) return;
    this.pumping = true;
    while (this.inProgress < this.options.concurrency && this.head < this.waiting.length) {
      const delivery = itemAt(this.waiting, this.head);
      this.head += 1;
      if (this.head > 1_024 && this.head * 2 > this.waiting.length) {
        this.waiting.splice(0, this.head);
        this.head = 0;
      }
      this.inProgress += 1;
      this.deliveries += 1;
      let answered = false;
      this.handler(delivery, (answer) => {
        if (answered) throw new Error('a delivery was answered twice');
        answered = true;
        this.inProgress -= 1;
        if (answer === 'nack') {
          const delay = redeliveryDelayMs(this.options.retry, delivery.deliveryAttempt);
          this.clock.after(delay, () => {
            this.arrive({ ...delivery, deliveryAttempt: delivery.deliveryAttempt + 1 });
          });
        }
        this.pump();
      });
    }
    this.pumping = false;
  }
}
