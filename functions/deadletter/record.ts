/**
 * Recording a dead letter: `deadLetters/{id}` written once (the lease id for a pacer message,
 * so one dead letter per failed lease), the lease released if it is still the one that failed,
 * the schedule marked failing, `deadletter.recorded` logged at ERROR.
 */
import { originalAttributes, readDeadLetterNote } from '../bus/dead-letter.js';
import { decodeMessage } from '../bus/message.js';
import { pushedMessage } from '../bus/push.js';
import type { Clock } from '../clock.js';
import type { Settings } from '../config.js';
import type { Logger } from '../log.js';
import { release } from '../protocol/decisions.js';
import type { DeadLetterStore, ScheduleStore } from '../store/port.js';

export interface DeadLetterDeps {
  store: ScheduleStore & DeadLetterStore;
  settings: Settings;
  logger: Logger;
  clock: Clock;
}

/** Most of the original message's data kept in the record. */
const DATA_LIMIT = 10_000;

export async function recordDeadLetter(
  deps: DeadLetterDeps,
  event: { id?: string; data?: unknown },
): Promise<'recorded' | 'already_recorded'> {
  const now = deps.clock.now();
  const pushed = pushedMessage(event) ?? {
    data: Buffer.from(JSON.stringify(event.data ?? null)),
    attributes: {},
    messageId: event.id ?? 'unknown',
  };
  const note = readDeadLetterNote(pushed.attributes);
  const decoded = decodeMessage(pushed.data);
  const message = decoded.ok ? decoded.message : null;
  const id = message?.leaseId ?? `message-${note.sourceMessageId ?? pushed.messageId}`;
  const lastError =
    note.errorCode !== null || note.errorMessage !== null
      ? { code: note.errorCode, message: note.errorMessage }
      : null;

  const log = deps.logger.child({
    deadLetterId: id,
    ...(message
      ? { scheduleId: message.scheduleId, leaseId: message.leaseId, lane: message.lane }
      : {}),
  });
  // Release first, record second: if the release fails, the redelivery finds nothing recorded
  // yet and still logs deadletter.recorded (the ERROR line alerts key on).
  let released: string | null = null;
  if (message) {
    const error = lastError && {
      code: lastError.code ?? 'unexpected',
      message: lastError.message ?? '',
    };
    released = await deps.store.transact(message.scheduleId, (subject, storeNow) =>
      release(
        subject,
        {
          leaseId: message.leaseId,
          attemptId: note.attemptId ?? undefined,
          reason: note.reason,
          error,
          thresholds: deps.settings.laneThresholds,
        },
        storeNow,
      ),
    );
  }
  const created = await deps.store.createDeadLetter(id, {
    reason: note.reason,
    scheduleId: message?.scheduleId ?? null,
    leaseId: message?.leaseId ?? null,
    lane: message?.lane ?? null,
    dueAt: message ? Date.parse(message.dueAt) : null,
    attempts: note.attempts,
    lastError,
    sourceSubscription: note.sourceSubscription,
    message: {
      data: pushed.data.toString('utf8').slice(0, DATA_LIMIT),
      attributes: originalAttributes(pushed.attributes),
    },
    recordedAt: now,
  });

  if (created === 'exists') {
    log.info({ event: 'deadletter.duplicate' }, `dead letter ${id} was already recorded`);
    return 'already_recorded';
  }
  log.error(
    {
      event: 'deadletter.recorded',
      reason: note.reason,
      attempts: note.attempts,
      code: note.errorCode,
      error: note.errorMessage,
      sourceSubscription: note.sourceSubscription,
      lease: released,
    },
    `dead letter ${id}: ${note.reason}${note.errorMessage ? ` (${note.errorMessage})` : ''}`,
  );
  return 'recorded';
}
