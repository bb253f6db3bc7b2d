/**
 * The bus port: what pacer asks of Pub/Sub. The planner and replays publish dispatch messages
 * to the lane topics; workers publish what they give up on to the dead-letter topic. Pub/Sub
 * (./publisher.ts, ./dead-letter.ts) and memory (./memory.ts, for the simulator and the
 * checker) implement it.
 */
import type { DeadLetterNote } from './dead-letter.js';
import type { DispatchMessage } from './message.js';

export type PublishOutcome =
  | { ok: true; message: DispatchMessage; messageId: string }
  | { ok: false; message: DispatchMessage; error: unknown };

export interface DispatchBus {
  /**
   * Publishes each message to its lane's topic, each with its own outcome. `traceparent` (W3C)
   * is the caller's trace.
   */
  publish(messages: readonly DispatchMessage[], traceparent?: string): Promise<PublishOutcome[]>;
}

export interface DeadLetterBus {
  /** Publishes the original message with pacer's note; resolves with the new message's id. */
  publish(
    original: { data: Buffer; attributes: Record<string, string> },
    note: DeadLetterNote,
  ): Promise<string>;
}
