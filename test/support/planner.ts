/**
 * A planner for tests: the real tick's dependencies on a test project, with a clock the test
 * moves (for the planner's own pacing: its decisions take Firestore's time) and logs it can read
 * back.
 */
import { randomUUID } from 'node:crypto';
import { PubSubBus } from '../../functions/bus/publisher.js';
import { defaultSettings, type Settings } from '../../functions/config.js';
import { perLane } from '../../functions/planner/plan.js';
import type { TickDeps } from '../../functions/planner/tick.js';
import { FirestoreStore } from '../../functions/store/firestore.js';
import { LiveConfig } from '../../functions/store/live-config.js';
import { describeTopology } from '../../functions/topology.js';
import type { TestProject } from './emulators.js';
import { capturingLogger, type FakeClock } from './fixtures.js';

export function testPlanner(
  project: TestProject,
  clock: FakeClock,
  overrides: Partial<Settings> = {},
) {
  const settings: Settings = { ...defaultSettings(), ...overrides };
  const topology = describeTopology(settings);
  const topics = perLane((lane) => topology.lanes[lane].topic);
  const { logger, lines } = capturingLogger('planTick');
  const deps: TickDeps = {
    store: new FirestoreStore(project.firestore),
    bus: new PubSubBus(project.pubsub, {
      topics,
      timeoutMs: settings.publishTimeoutSeconds * 1_000,
    }),
    config: new LiveConfig(settings),
    logger,
    clock: clock.asClock(),
    newId: randomUUID,
    holder: `test-${randomUUID().slice(0, 8)}`,
  };
  return { deps, lines, settings, topics };
}
