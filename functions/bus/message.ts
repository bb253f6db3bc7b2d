/**
 * The dispatch message, planner → worker: `{ v: 1, scheduleId, leaseId, dueAt, lane }` as JSON,
 * with routing and trace attributes. It carries identities only; the worker reads everything
 * else from Firestore under the lease.
 */
import { z } from 'zod';
import { LANES, type Lane } from '../schedule/lane.js';

export interface DispatchMessage {
  v: 1;
  scheduleId: string;
  leaseId: string;
  /** The due point served, ISO-8601 UTC. */
  dueAt: string;
  lane: Lane;
}

/**
 * Whether `id` can name a Firestore document: not empty, at most 1,500 bytes, no `/`, not `.`
 * or `..`, not `__…__` (reserved).
 */
export function isDocumentId(id: string): boolean {
  return (
    id.length > 0 &&
    Buffer.byteLength(id) <= 1_500 &&
    !id.includes('/') &&
    id !== '.' &&
    id !== '..' &&
    !/^__.*__$/.test(id)
  );
}

const documentId = (max: number) =>
  z
    .string()
    .min(1)
    .max(max)
    .refine(isDocumentId, { error: 'is not a document id (no "/", not "." or "..", not __…__)' });

export const messageSchema = z.strictObject({
  v: z.literal(1),
  scheduleId: documentId(1_500),
  leaseId: documentId(200),
  dueAt: z.iso.datetime(),
  lane: z.enum(LANES),
});

export function encodeMessage(
  message: DispatchMessage,
  traceparent?: string,
): { data: Buffer; attributes: Record<string, string> } {
  return {
    data: Buffer.from(JSON.stringify(message)),
    attributes: {
      lane: message.lane,
      scheduleId: message.scheduleId,
      leaseId: message.leaseId,
      ...(traceparent ? { traceparent } : {}),
    },
  };
}

export type Decoded = { ok: true; message: DispatchMessage } | { ok: false; reason: string };

/** Reads a dispatch message from a message body (bytes, text or already-parsed JSON). */
export function decodeMessage(body: unknown): Decoded {
  let value: unknown = body;
  if (Buffer.isBuffer(body) || typeof body === 'string') {
    const text = body.toString();
    try {
      value = JSON.parse(text);
    } catch {
      return { ok: false, reason: `body is not JSON: ${JSON.stringify(text.slice(0, 80))}` };
    }
  }
  const result = messageSchema.safeParse(value);
  if (!result.success) {
    const problems = result.error.issues.map(
      (issue) => `${issue.path.join('.') || '(body)'}: ${issue.message}`,
    );
    return { ok: false, reason: `not a pacer dispatch message (${problems.join('; ')})` };
  }
  return { ok: true, message: result.data };
}
