/**
 * Dead letters on the dead-letter topic. The worker publishes a message it gives up on (the
 * original data and attributes) with pacer's reason and last error as attributes; Pub/Sub's
 * own dead-letter policy forwards messages that keep failing delivery, with its
 * `CloudPubSubDeadLetterSource*` attributes. {@link readDeadLetterNote} reads either.
 */
import type { PubSub, Topic } from '@google-cloud/pubsub';
import type { DeadLetterBus } from './port.js';

export type DeadLetterReason =
  /** The body is not a pacer dispatch message. */
  | 'malformed'
  /** The target answered in a way retrying will not fix (other 4xx, bad target, unknown handler). */
  | 'permanent_failure'
  /** Retryable failures until pacer's attempt limit. */
  | 'attempts_exhausted'
  /** Pub/Sub's delivery limit (the worker crashed or never answered). */
  | 'delivery_limit';

export interface DeadLetterNote {
  reason: DeadLetterReason;
  errorCode: string | null;
  errorMessage: string | null;
  attempts: number | null;
  sourceSubscription: string | null;
  sourceMessageId: string | null;
  /** The worker's attempt that gave up, if one was running: the release is fenced on it. */
  attemptId?: string | null;
}

/** Pub/Sub caps attribute values at 1,024 bytes. */
const ATTRIBUTE_LIMIT = 1_000;

export class DeadLetterPublisher implements DeadLetterBus {
  private topicHandle: Topic | undefined;

  constructor(
    private readonly pubsub: PubSub,
    private readonly topicName: string,
    private readonly timeoutMs: number,
  ) {}

  /** Publishes the original message with the note; resolves with the dead letter's message id. */
  async publish(
    original: { data: Buffer; attributes: Record<string, string> },
    note: DeadLetterNote,
  ): Promise<string> {
    this.topicHandle ??= this.pubsub.topic(this.topicName, {
      batching: { maxMessages: 1 },
      gaxOpts: { timeout: this.timeoutMs },
    });
    return this.topicHandle.publishMessage(DeadLetterPublisher.messageFor(original, note));
  }

  /** The dead letter's message: the original data and attributes, with pacer's note added. */
  static messageFor(
    original: { data: Buffer; attributes: Record<string, string> },
    note: DeadLetterNote,
  ): { data: Buffer; attributes: Record<string, string> } {
    const attributes: Record<string, string> = { ...original.attributes, pacerReason: note.reason };
    if (note.errorCode) attributes.pacerErrorCode = note.errorCode;
    if (note.errorMessage) attributes.pacerErrorMessage = truncate(note.errorMessage);
    if (note.attempts !== null) attributes.pacerAttempts = String(note.attempts);
    if (note.sourceSubscription) attributes.pacerSourceSubscription = note.sourceSubscription;
    if (note.sourceMessageId) attributes.pacerSourceMessageId = note.sourceMessageId;
    if (note.attemptId) attributes.pacerAttemptId = note.attemptId;
    // Pub/Sub refuses a message with no data; keep the original bytes or say there were none.
    const data = original.data.length > 0 ? original.data : Buffer.from('(empty)');
    return { data, attributes };
  }
}

/** Reads why a message on the dead-letter topic is there. */
export function readDeadLetterNote(attributes: Readonly<Record<string, string>>): DeadLetterNote {
  const pubsubCount = attributes.CloudPubSubDeadLetterSourceDeliveryCount;
  const reason = attributes.pacerReason as DeadLetterReason | undefined;
  return {
    reason: reason ?? 'delivery_limit',
    errorCode: attributes.pacerErrorCode ?? null,
    errorMessage: attributes.pacerErrorMessage ?? null,
    attempts:
      attributes.pacerAttempts !== undefined
        ? Number(attributes.pacerAttempts)
        : pubsubCount !== undefined
          ? Number(pubsubCount)
          : null,
    sourceSubscription:
      attributes.pacerSourceSubscription ??
      attributes.CloudPubSubDeadLetterSourceSubscription ??
      null,
    sourceMessageId: attributes.pacerSourceMessageId ?? null,
    attemptId: attributes.pacerAttemptId ?? null,
  };
}

/** The original message's attributes, without the dead-letter bookkeeping. */
export function originalAttributes(
  attributes: Readonly<Record<string, string>>,
): Record<string, string> {
  return Object.fromEntries(
    Object.entries(attributes).filter(
      ([key]) => !key.startsWith('pacer') && !key.startsWith('CloudPubSubDeadLetter'),
    ),
  );
}

function truncate(text: string): string {
  return Buffer.byteLength(text) <= ATTRIBUTE_LIMIT
    ? text
    : `${Buffer.from(text)
        .subarray(0, ATTRIBUTE_LIMIT - 3)
        .toString()}...`;
}
