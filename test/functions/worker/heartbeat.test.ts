/**
 * The heartbeat: one renewal at a time, and a check on every tick even while a renewal hangs
 * (where the worker notices that its lease lapsed without a confirmed renewal).
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { describe, expect, it } from 'vitest';
import { startHeartbeat } from '../../../functions/worker/heartbeat.js';

describe('startHeartbeat', () => {
  it('never runs two beats at once, and checks on every tick while a beat hangs', async () => {
    let beats = 0;
    let checks = 0;
    let release: () => void = () => undefined;
    const hanging = new Promise<void>((resolve) => {
      release = resolve;
    });
    const heartbeat = startHeartbeat(
      10,
      async () => {
        beats++;
        await hanging;
      },
      () => undefined,
      () => {
        checks++;
      },
    );
    await sleep(200);
    expect(beats).toBe(1);
    expect(checks).toBeGreaterThanOrEqual(3);

    release();
    await sleep(100);
    expect(beats).toBeGreaterThan(1);
    await heartbeat.stop();
  });

  it('reports a failed beat and beats again on the next tick', async () => {
    const errors: unknown[] = [];
    let beats = 0;
    const heartbeat = startHeartbeat(
      10,
      () => {
        beats++;
        return beats === 1 ? Promise.reject(new Error('unavailable')) : Promise.resolve();
      },
      (error) => errors.push(error),
    );
    await sleep(80);
    await heartbeat.stop();
    expect(errors).toEqual([new Error('unavailable')]);
    expect(beats).toBeGreaterThan(1);
  });

  it('stop waits for the beat in progress, and nothing runs after it', async () => {
    let finished = false;
    let beats = 0;
    let checks = 0;
    const heartbeat = startHeartbeat(
      10,
      async () => {
        beats++;
        await sleep(50);
        finished = true;
      },
      () => undefined,
      () => {
        checks++;
      },
    );
    await sleep(20);
    await heartbeat.stop();
    expect(finished).toBe(true);
    const after = { beats, checks };
    await sleep(50);
    expect({ beats, checks }).toEqual(after);
  });
});
