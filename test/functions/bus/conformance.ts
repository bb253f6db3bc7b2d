/**
 * The bus port's contract, run against Pub/Sub on the emulator (pubsub.int.test.ts) and memory
 * (memory.test.ts): each dispatch message gets an outcome of its own, in order; what arrives on a
 * lane's topic is the message, encoded as workers decode it, with its routing attributes; a dead
 * letter carries the original message and pacer's note.
 */
import { describe, expect, it } from 'vitest';
import { readDeadLetterNote } from '../../../functions/bus/dead-letter.js';
import { decodeMessage, type DispatchMessage } from '../../../functions/bus/message.js';
import type { DeadLetterBus, DispatchBus } from '../../../functions/bus/port.js';
import type { Lane } from '../../../functions/schedule/lane.js';

export interface Arrived {
  topic: string;
  data: Buffer;
  attributes: Record<string, string>;
}

export interface BusHarness {
  dispatch: DispatchBus;
  deadLetters: DeadLetterBus;
  /** The lane topics and the dead-letter topic, as the buses above use them. */
  topics: Record<Lane | 'deadLetter', string>;
  /** Waits until `count` messages arrived on the topics, and returns them. */
  arrived(count: number): Promise<Arrived[]>;
  close(): Promise<void>;
}

const message = (scheduleId: string, lane: Lane): DispatchMessage => ({
  v: 1,
  scheduleId,
  leaseId: `lease-${scheduleId}`,
  dueAt: '2026-06-20T10:00:00.000Z',
  lane,
});

/** Registers the contract's tests for one adapter; `open` gives fresh topics per test. */
export function describeBusConformance(adapter: string, open: () => Promise<BusHarness>): void {
  describe(`the ${adapter} bus`, () => {
    it("publishes each dispatch message to its lane's topic, with an outcome each, in order", async () => {
      const bus = await open();
      try {
        const sent = [message('a', 'high'), message('b', 'low'), message('c', 'high')];
        const outcomes = await bus.dispatch.publish(sent);
        expect(outcomes.map((o) => [o.ok, o.message.scheduleId])).toEqual([
          [true, 'a'],
          [true, 'b'],
          [true, 'c'],
        ]);
        const ids = outcomes.map((o) => (o.ok ? o.messageId : ''));
        expect(new Set(ids).size).toBe(3);
        const arrived = await bus.arrived(3);
        const byTopic = (topic: string) =>
          arrived
            .filter((m) => m.topic === topic)
            .map((m) => {
              const decoded = decodeMessage(m.data);
              return decoded.ok ? decoded.message.scheduleId : decoded.reason;
            })
            .sort();
        expect(byTopic(bus.topics.high)).toEqual(['a', 'c']);
        expect(byTopic(bus.topics.low)).toEqual(['b']);
        const a = arrived.find((m) => m.attributes.scheduleId === 'a');
        expect(a?.attributes).toMatchObject({ lane: 'high', scheduleId: 'a', leaseId: 'lease-a' });
        expect(decodeMessage(a?.data ?? Buffer.alloc(0))).toEqual({
          ok: true,
          message: message('a', 'high'),
        });
      } finally {
        await bus.close();
      }
    });

    it('publishes a dead letter with the original message and the note readDeadLetterNote reads', async () => {
      const bus = await open();
      try {
        const original = {
          data: Buffer.from(JSON.stringify(message('d', 'medium'))),
          attributes: { lane: 'medium', scheduleId: 'd', leaseId: 'lease-d' },
        };
        const id = await bus.deadLetters.publish(original, {
          reason: 'attempts_exhausted',
          errorCode: 'target_unavailable',
          errorMessage: 'HTTP 503',
          attempts: 5,
          sourceSubscription: 'pacer-medium-push',
          sourceMessageId: 'm-1',
          attemptId: 'a-5',
        });
        expect(typeof id).toBe('string');
        const [letter] = await bus.arrived(1);
        expect(letter?.topic).toBe(bus.topics.deadLetter);
        expect(letter?.data.toString()).toBe(original.data.toString());
        expect(readDeadLetterNote(letter?.attributes ?? {})).toEqual({
          reason: 'attempts_exhausted',
          errorCode: 'target_unavailable',
          errorMessage: 'HTTP 503',
          attempts: 5,
          sourceSubscription: 'pacer-medium-push',
          sourceMessageId: 'm-1',
          attemptId: 'a-5',
        });
      } finally {
        await bus.close();
      }
    });
  });
}
