import { describe, expect, it } from 'vitest';
import {
  LaneSubscription,
  redeliveryDelayMs,
  type Delivery,
  type DispatchMessage,
  type PushAnswer,
} from '../../../infra/sim/bus.js';
import { VirtualClock } from '../../../infra/sim/clock.js';
import { mulberry32 } from '../../../infra/sim/random.js';

const retry = { minimumBackoffSeconds: 10, maximumBackoffSeconds: 60 };
const message = (scheduleId: string): DispatchMessage => ({
  v: 1,
  scheduleId,
  leaseId: `lease-${scheduleId}`,
  dueAt: 0,
  lane: 'high',
});

function subscription(
  concurrency: number,
  handler: (delivery: Delivery, answer: (answer: PushAnswer) => void, clock: VirtualClock) => void,
) {
  const clock = new VirtualClock(0);
  const lane = new LaneSubscription(
    clock,
    mulberry32(1),
    { lane: 'high', concurrency, retry, deliveryLatencyMs: 50, duplicateRate: 0 },
    (delivery, answer) => {
      handler(delivery, answer, clock);
    },
  );
  return { clock, lane };
}

describe('the in-memory lane subscription', () => {
  it('redelivers the message of a worker that crashed, after the backoff, until it is acked', () => {
    const seen: { at: number; attempt: number }[] = [];
    const { clock, lane } = subscription(1, (delivery, answer, clock) => {
      seen.push({ at: clock.now(), attempt: delivery.deliveryAttempt });
      // The first two deliveries crash their worker 3 s in; the third succeeds.
      clock.after(3_000, () => {
        answer(delivery.deliveryAttempt < 3 ? 'nack' : 'ack');
      });
    });
    lane.publish(message('a'));
    clock.runUntil(600_000);

    expect(seen).toEqual([
      { at: 50, attempt: 1 },
      { at: 50 + 3_000 + 10_000, attempt: 2 },
      { at: 50 + 3_000 + 10_000 + 3_000 + 20_000, attempt: 3 },
    ]);
    expect(lane.deliveries).toBe(3);
  });

  it('never has more deliveries in progress than the lane has workers', () => {
    let running = 0;
    let most = 0;
    const { clock, lane } = subscription(2, (_delivery, answer, clock) => {
      running += 1;
      most = Math.max(most, running);
      clock.after(1_000, () => {
        running -= 1;
        answer('ack');
      });
    });
    for (const id of ['a', 'b', 'c', 'd', 'e']) lane.publish(message(id));
    clock.runUntil(60_000);
    expect(most).toBe(2);
    expect(lane.deliveries).toBe(5);
    expect(lane.backlog()).toBe(0);
  });

  it('backs off exponentially from the minimum to the maximum', () => {
    expect([1, 2, 3, 4, 5].map((attempt) => redeliveryDelayMs(retry, attempt))).toEqual([
      10_000, 20_000, 40_000, 60_000, 60_000,
    ]);
  });
});
