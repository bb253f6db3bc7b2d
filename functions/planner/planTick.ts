/**
 * `planTick`: the planner's HTTP entry point, called every minute by Cloud Scheduler (and by
 * the local stack's stand-in). Answers 200 with what the tick did, or with `busy` when another
 * planner holds the lease; 500 when the tick failed.
 */
import { randomUUID } from 'node:crypto';
import { http } from '@google-cloud/functions-framework';
import { PubSubBus } from '../bus/publisher.js';
import { systemClock } from '../clock.js';
import { validationFor } from '../schedule/spec.js';
import { FirestoreStore } from '../store/firestore.js';
import { FirestoreRateLimits } from '../ratelimit/store.js';
import { perLane } from './plan.js';
import { LiveConfig } from '../store/live-config.js';
import { traceFields, traceparentFrom } from '../log.js';
import { runtime } from '../runtime.js';
import { runTick, type TickDeps } from './tick.js';
import { parseShard, type Shard } from '../schedule/shard.js';

const depsByShard = new Map<number, TickDeps>();

function tickDeps(shard: Shard): TickDeps {
  let deps = depsByShard.get(shard.index);
  if (deps === undefined) {
    const { settings, firestore, pubsub, logger, topology, holder } = runtime('planTick');
    deps = {
      store: new FirestoreStore(firestore, validationFor(settings), shard),
      shard,
      bus: new PubSubBus(pubsub, {
        topics: perLane((lane) => topology.lanes[lane].topic),
        timeoutMs: settings.publishTimeoutSeconds * 1_000,
      }),
      config: new LiveConfig(settings),
      logger,
      clock: systemClock,
      newId: randomUUID,
      holder,
      rateLimits: new FirestoreRateLimits(firestore),
    };
    depsByShard.set(shard.index, deps);
  }
  return deps;
}

http('planTick', async (request, response) => {
  // Which shard this call plans: `?shard=K` (one Cloud Scheduler job per shard), or the body's
  // `shard`; none with PACER_SHARDS=1.
  const body: unknown = request.body;
  const named =
    request.query.shard ??
    (typeof body === 'object' && body !== null ? (body as { shard?: unknown }).shard : undefined);
  const parsed = parseShard(named, runtime('planTick').settings.shards);
  if (!parsed.ok) {
    runtime('planTick').logger.error(
      { event: 'tick.failed', shard: named ?? null },
      `the tick was not run: ${parsed.message}`,
    );
    response.status(400).json({ outcome: 'failed', error: parsed.message });
    return;
  }
  const base = tickDeps(parsed.shard);
  const traceparent = traceparentFrom({
    traceparent: request.get('traceparent'),
    cloudTraceContext: request.get('x-cloud-trace-context'),
  });
  const logger = base.logger.child(
    traceFields(traceparent, runtime('planTick').settings.projectId),
  );
  const tick = { ...base, logger };
  try {
    const result = await runTick(tick, traceparent ? { traceparent } : {});
    // Every sub-tick failed: nothing was planned, and Cloud Scheduler should record a failure.
    const failed = result.outcome === 'completed' && result.subTicks.length === 0;
    response.status(failed ? 500 : 200).json(result);
  } catch (error) {
    logger.error(
      { event: 'tick.failed', err: error },
      `the tick failed: ${(error as Error).message}`,
    );
    response.status(500).json({ outcome: 'failed', error: (error as Error).message });
  }
});
