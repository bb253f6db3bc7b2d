/**
 * A long sync's job execution (`runner: "job"`): the Cloud Run job's container runs this, with the
 * attempt a worker handed off in `PACER_JOB_ATTEMPT` (see ./launcher.ts). It takes the attempt up
 * if it still holds its lease, runs the same syncers as a worker under the same lease renewals,
 * and completes, retries or dead-letters through the same decisions.
 *
 * Exit codes: 0 for every outcome the protocol handled (completed, retrying, lost, paused...);
 * 1 when Firestore or Pub/Sub failed it (the lease lapses and the planner dispatches again);
 * 2 for an attempt it cannot read. The job runs with no task retries: pacer's lease decides
 * what runs again, never Cloud Run.
 */
import { errorMessage } from '../errors.js';
import { runtime } from '../runtime.js';
import { runJobAttempt } from '../worker/deliver.js';
import { workerDepsFor } from '../worker/deps.js';
import { decodeJobAttempt, JOB_ATTEMPT_ENV } from './launcher.js';

/** The service name in the job's logs. */
export const JOB_SERVICE = 'pacer-long-sync';

async function main(): Promise<number> {
  let built: ReturnType<typeof runtime>;
  try {
    built = runtime(JOB_SERVICE);
  } catch (error) {
    // A bad setting: said once, plainly (the logger needs the settings it could not read).
    process.stderr.write(`job execution cannot start: ${errorMessage(error)}\n`);
    return 1;
  }
  const { logger, firestore, pubsub } = built;
  try {
    const deps = workerDepsFor(JOB_SERVICE);
    const decoded = decodeJobAttempt(process.env[JOB_ATTEMPT_ENV]);
    if (!decoded.ok) {
      logger.error(
        { event: 'job.malformed', reason: decoded.reason },
        `job execution without a usable attempt: ${decoded.reason}`,
      );
      return 2;
    }
    const { message, attempt } = decoded.attempt;
    logger.info(
      {
        event: 'job.started',
        scheduleId: message.scheduleId,
        leaseId: message.leaseId,
        attempt,
        pid: process.pid,
      },
      `job execution for ${message.scheduleId} (attempt ${attempt}) started`,
    );
    const outcome = await runJobAttempt(deps, decoded.attempt);
    logger.info(
      { event: 'job.finished', scheduleId: message.scheduleId, leaseId: message.leaseId, outcome },
      `job execution for ${message.scheduleId} finished: ${outcome}`,
    );
    return 0;
  } catch (error) {
    logger.error(
      { event: 'job.failed', err: error },
      `job execution failed: ${errorMessage(error)}; its lease lapses and the planner dispatches again`,
    );
    return 1;
  } finally {
    await Promise.allSettled([firestore.terminate(), pubsub.close()]);
  }
}

process.exitCode = await main();
