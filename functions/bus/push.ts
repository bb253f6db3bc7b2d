/**
 * The Pub/Sub message inside a push delivery, as functions-framework hands it to a CloudEvent
 * function: `event.data.message = { data (base64), attributes, messageId, publishTime }`.
 */
export interface PushedMessage {
  data: Buffer;
  attributes: Record<string, string>;
  messageId: string;
}

/** The pushed message, or `null` when the event carries none. */
export function pushedMessage(event: { id?: string; data?: unknown }): PushedMessage | null {
  const message = (event.data as { message?: unknown } | undefined)?.message;
  if (typeof message !== 'object' || message === null) return null;
  const { data, attributes, messageId } = message as {
    data?: unknown;
    attributes?: unknown;
    messageId?: unknown;
  };
  return {
    data: typeof data === 'string' ? Buffer.from(data, 'base64') : Buffer.alloc(0),
    attributes:
      typeof attributes === 'object' && attributes !== null
        ? Object.fromEntries(
            Object.entries(attributes).filter(
              (entry): entry is [string, string] => typeof entry[1] === 'string',
            ),
          )
        : {},
    messageId: typeof messageId === 'string' ? messageId : (event.id ?? 'unknown'),
  };
}

/** The pushed message, or the event's own data as one when it carries none. */
export function pushedOrRaw(event: { id?: string; data?: unknown }): PushedMessage {
  return (
    pushedMessage(event) ?? {
      data: Buffer.from(JSON.stringify(event.data ?? null)),
      attributes: {},
      messageId: event.id ?? 'unknown',
    }
  );
}
