import { afterAll, describe, expect, it } from 'vitest';
import { perLane } from '../../../functions/planner/plan.js';
import { defaultSettings } from '../../../functions/config.js';
import { describeTopology } from '../../../functions/topology.js';
import { startFunctionServer, type FunctionServer } from '../../../infra/local/functions.js';
import { useTestProject } from '../../support/emulators.js';
import { intervalSpec, seedSchedules } from '../../support/fixtures.js';
import { laneTopicsWithCollector } from '../../support/pubsub.js';

const project = useTestProject('plantick');
const servers: FunctionServer[] = [];
afterAll(async () => {
  await Promise.all(servers.map((server) => server.process.stop()));
});

async function serve(env: Record<string, string>) {
  const lines: string[] = [];
  const server = await startFunctionServer({
    target: 'planTick',
    signatureType: 'http',
    env: { ...project.env, ...env },
    onLine: (line) => lines.push(line),
  });
  servers.push(server);
  return { server, lines };
}

describe('planTick served by functions-framework', () => {
  it('plans on each call, carries the caller’s trace into the messages, and lets only one call plan at a time', async () => {
    const topics = perLane((lane) => describeTopology(defaultSettings()).lanes[lane].topic);
    const collector = await laneTopicsWithCollector(project.pubsub, topics);
    const now = Date.now();
    await seedSchedules(
      project.firestore,
      Array.from({ length: 5 }, (_, i) => ({
        id: `race-${i}`,
        spec: intervalSpec('1m'),
        lane: 'high' as const,
        nextDueAt: now - i * 1_000,
      })),
    );
    // A tick that holds the planner lease longer than the emulator takes to settle two
    // contending transactions (about three seconds), so the second call meets it held.
    const { server, lines } = await serve({
      PACER_SUBTICK_SECONDS: '1',
      PACER_TICK_BUDGET_SECONDS: '6',
    });

    const traceId = '4bf92f3577b34da6a3ce929d0e0e4736';
    const post = () =>
      fetch(`${server.url}/`, {
        method: 'POST',
        headers: { traceparent: `00-${traceId}-00f067aa0ba902b7-01` },
      });
    const responses = await Promise.all([post(), post()]);
    const bodies = (await Promise.all(responses.map((r) => r.json()))) as { outcome: string }[];

    expect(responses.map((r) => r.status)).toEqual([200, 200]);
    expect(bodies.map((b) => b.outcome).sort()).toEqual(['busy', 'completed']);
    const received = await collector.settle(5);
    expect(received.map((r) => r.message.scheduleId).sort()).toEqual([
      'race-0',
      'race-1',
      'race-2',
      'race-3',
      'race-4',
    ]);
    for (const { attributes } of received) {
      expect(attributes.traceparent).toMatch(new RegExp(`^00-${traceId}-[0-9a-f]{16}-01$`));
    }
    // The function logs JSON for Cloud Logging, with the stable event names (the lines may
    // reach us after the responses do).
    const events = () =>
      lines.flatMap((line) => {
        try {
          return [(JSON.parse(line) as { event?: string }).event];
        } catch {
          return [];
        }
      });
    await expect.poll(() => events().filter((e) => e === 'tick.busy')).toHaveLength(1);
    expect(events()).toContain('tick.summary');
    await collector.close();
  });

  it('with PACER_SHARDS=2, plans the shard the call names and refuses a call naming none', async () => {
    const { server } = await serve({
      PACER_SHARDS: '2',
      PACER_SUBTICK_SECONDS: '1',
      PACER_TICK_BUDGET_SECONDS: '1',
    });
    const none = await fetch(`${server.url}/`, { method: 'POST' });
    expect(none.status).toBe(400);
    expect(await none.json()).toEqual({
      outcome: 'failed',
      error: 'shard: required with PACER_SHARDS=2 (0 to 1)',
    });
    const beyond = await fetch(`${server.url}/?shard=2`, { method: 'POST' });
    expect(beyond.status).toBe(400);

    const second = await fetch(`${server.url}/?shard=1`, { method: 'POST' });
    expect(second.status).toBe(200);
    expect(((await second.json()) as { outcome: string }).outcome).toBe('completed');
    const lease = await project.firestore.doc('pacer/planner-1').get();
    expect(lease.exists).toBe(true);
  });

  it('fails with the variable’s name when a setting is bad', async () => {
    const { server, lines } = await serve({ PACER_CAP_HIGH: 'lots' });
    const response = await fetch(`${server.url}/`, { method: 'POST' });
    expect(response.status).toBe(500);
    await expect
      .poll(() => lines.join('\n'))
      .toContain('PACER_CAP_HIGH: expected a whole number from 0 to 10000, got "lots"');
  });
});
