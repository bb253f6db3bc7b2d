/**
 * Recording a dead letter: `deadLetters/{id}` written once (the lease id for a pacer message,
 * so one dead letter per failed lease), the lease released if it is still the one that failed,
 * the schedule marked failing, `deadletter.recorded` logged at ERROR.
 *
 * The dead-letter subscription has no way out, so nothing a message holds may make this fail:
 * a message that is not pacer's is recorded under a safe id; one that cannot be recorded at all
 * is logged at ERROR (`deadletter.unrecordable`) and acked. Only a failing store (which a retry
 * may cure) makes it throw.
 */
import { createHash } from 'node:crypto';
import { originalAttributes, readDeadLetterNote } from '../bus/dead-letter.js';
import { decodeMessage, isDocumentId } from '../bus/message.js';
import { pushedOrRaw } from '../bus/push.js';
import type { Clock } from '../clock.js';
import type { Settings } from '../config.js';
import { errorMessage, isContentError } from '../errors.js';
import type { Logger } from '../log.js';
import { logPausedByFailures } from './paused.js';
import { release } from '../protocol/decisions.js';
import type { DeadLetterRecord, DeadLetterStore, ScheduleStore } from '../store/port.js';

export interface DeadLetterDeps {
  store: ScheduleStore & DeadLetterStore;
  settings: Settings;
  logger: Logger;
  clock: Clock;
}

/** Most of the original message's data kept in the record. */
const DATA_LIMIT = 10_000;
/** Most of the original message's attributes kept (Pub/Sub allows 100 of up to 1 KiB each). */
const ATTRIBUTE_LIMIT = 1_024;

export async function recordDeadLetter(
  deps: DeadLetterDeps,
  event: { id?: string; data?: unknown },
): Promise<'recorded' | 'already_recorded' | 'unrecordable'> {
  const now = deps.clock.now();
  const pushed = pushedOrRaw(event);
  const note = readDeadLetterNote(pushed.attributes);
  const decoded = decodeMessage(pushed.data);
  const message = decoded.ok ? decoded.message : null;
  const id = message?.leaseId ?? `message-${safeId(note.sourceMessageId ?? pushed.messageId)}`;
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
  try {
    // Release first, record second: if the release fails, the redelivery finds nothing
    // recorded yet and still logs deadletter.recorded (the ERROR line alerts key on).
    let released: string | null = null;
    if (message) {
      const error = lastError && {
        code: lastError.code ?? 'unexpected',
        message: lastError.message ?? '',
      };
      try {
        released = await deps.store.transact(message.scheduleId, (subject, storeNow) =>
          release(
            subject,
            {
              leaseId: message.leaseId,
              attemptId: note.attemptId ?? undefined,
              reason: note.reason,
              error,
              thresholds: deps.settings.laneThresholds,
              expireAt: storeNow + deps.settings.runHistoryDays * 86_400_000,
            },
            storeNow,
          ),
        );
      } catch (releaseError) {
        if (!isContentError(releaseError)) throw releaseError;
        // The schedule cannot take the release (its lease lapses on its own): the letter is
        // still recorded, which is what an operator needs to see.
        log.error(
          { event: 'schedule.error', scheduleId: message.scheduleId, err: releaseError },
          `the lease of schedule ${message.scheduleId} cannot be released: ${errorMessage(releaseError)}`,
        );
      }
    }
    const record: DeadLetterRecord = {
      reason: note.reason,
      scheduleId: message?.scheduleId ?? null,
      leaseId: message?.leaseId ?? null,
      lane: message?.lane ?? null,
      dueAt: message ? Date.parse(message.dueAt) : null,
      attempts: note.attempts !== null && Number.isFinite(note.attempts) ? note.attempts : null,
      lastError,
      sourceSubscription: note.sourceSubscription,
      message: {
        data: pushed.data.toString('utf8').slice(0, DATA_LIMIT),
        attributes: capped(originalAttributes(pushed.attributes)),
      },
      recordedAt: now,
    };
    if (message && released === 'paused_by_failures') {
      logPausedByFailures(log, message.scheduleId);
    }
    const created = await deps.store.createDeadLetter(id, record);
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
  } catch (error) {
    if (!isContentError(error)) throw error;
    log.error(
      { event: 'deadletter.unrecordable', err: error, messageId: pushed.messageId },
      `dead letter ${id} cannot be recorded (${errorMessage(error)}); acked, not retried`,
    );
    return 'unrecordable';
  }
}

/** `id` if it can name a document (and is short), else its hash. */
function safeId(id: string): string {
  return isDocumentId(id) && id.length <= 200
    ? id
    : createHash('sha256').update(id).digest('hex').slice(0, 40);
}

/** The attributes, each value cut to {@link ATTRIBUTE_LIMIT} characters. */
function capped(attributes: Record<string, string>): Record<string, string> {
  return Object.fromEntries(
    Object.entries(attributes).map(([key, value]) => [
      key.slice(0, 256),
      value.slice(0, ATTRIBUTE_LIMIT),
    ]),
  );
}
