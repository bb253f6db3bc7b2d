import type { Timestamp } from '@google-cloud/firestore';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import {
  existsSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { describe, expect, it } from 'vitest';
import { checkPrerequisites } from '../../../infra/local/emulators.js';
import { processGroupAlive } from '../../../infra/local/supervise.js';
import { liveGroupMembers } from '../../../infra/local/watchdog.js';
import { useTestProject } from '../../support/emulators.js';

const project = useTestProject('harness');

describe('the emulators started by the harness', () => {
  it('store and read back a Firestore document', async () => {
    const ref = project.firestore.doc('schedules/harness-check');
    await ref.set({ name: 'harness check', at: new Date('2026-06-20T08:30:00Z') });
    const snapshot = await ref.get();
    expect(snapshot.get('name')).toBe('harness check');
    expect((snapshot.get('at') as Timestamp).toMillis()).toBe(Date.parse('2026-06-20T08:30:00Z'));
  });

  it('carry a message from a Pub/Sub topic to a subscription', async () => {
    const [topic] = await project.pubsub.createTopic('harness-check');
    const [subscription] = await topic.createSubscription('harness-check-sub');
    const received = new Promise<{ data: string; attributes: Record<string, string> }>(
      (resolve, reject) => {
        subscription.on('error', reject);
        subscription.on('message', (message) => {
          message.ack();
          resolve({ data: message.data.toString(), attributes: message.attributes });
        });
      },
    );
    await topic.publishMessage({ json: { v: 1, hello: 'pacer' }, attributes: { lane: 'high' } });
    await expect(received).resolves.toEqual({
      data: JSON.stringify({ v: 1, hello: 'pacer' }),
      attributes: { lane: 'high' },
    });
    await subscription.close();
  });

  it('keep each test project apart', async () => {
    const other = useTestProjectNow();
    await other.firestore.doc('schedules/only-here').set({ name: 'x' });
    expect((await project.firestore.doc('schedules/only-here').get()).exists).toBe(false);
    await other.firestore.terminate();
    await other.pubsub.close();
  });
});

describe('missing prerequisites', () => {
  it('names gcloud, the emulator packages and Java when nothing is on PATH', () => {
    const empty = mkdtempSync(join(tmpdir(), 'pacer-path-'));
    expect(() => checkPrerequisites(['firestore', 'pubsub'], { PATH: empty })).toThrow(
      /gcloud \(the Google Cloud CLI\) is not on PATH\. Install it with: sudo apt-get install google-cloud-cli google-cloud-cli-firestore-emulator google-cloud-cli-pubsub-emulator[\s\S]*java is not on PATH.*openjdk-17-jre-headless/,
    );
  });

  it('names each emulator component that gcloud lacks', () => {
    // A gcloud install with no emulator components, and a Java.
    const root = mkdtempSync(join(tmpdir(), 'pacer-sdk-'));
    mkdirSync(join(root, 'sdk', 'bin'), { recursive: true });
    mkdirSync(join(root, 'path'));
    writeFileSync(join(root, 'sdk', 'bin', 'gcloud'), '#!/bin/sh\n', { mode: 0o755 });
    symlinkSync(join(root, 'sdk', 'bin', 'gcloud'), join(root, 'path', 'gcloud'));
    writeFileSync(join(root, 'path', 'java'), '#!/bin/sh\n', { mode: 0o755 });

    let message = '';
    try {
      checkPrerequisites(['firestore', 'pubsub'], { PATH: join(root, 'path') });
    } catch (error) {
      message = (error as Error).message;
    }
    expect(message).toContain(
      'the Firestore emulator is not installed (looked for ' +
        join(root, 'sdk', 'platform/cloud-firestore-emulator/cloud-firestore-emulator.jar') +
        '). Install it with: sudo apt-get install google-cloud-cli-firestore-emulator',
    );
    expect(message).toContain('sudo apt-get install google-cloud-cli-pubsub-emulator');
    expect(message).not.toContain('java');
  });

  it('passes on this machine, which has them all', () => {
    expect(() => checkPrerequisites(['firestore', 'pubsub'])).not.toThrow();
  });
});

describe('an interrupted run leaves no emulator behind', () => {
  const built = resolve('dist/infra/local/emulators.js');

  /** Starts a Node process that starts a Pub/Sub emulator and reports its process group. */
  async function parentWithEmulator() {
    expect(existsSync(built), `${built} is missing: run npm run build first`).toBe(true);
    const script = `
      const { startEmulators } = await import(${JSON.stringify(built)});
      const running = await startEmulators({ kinds: ['pubsub'], env: { PATH: process.env.PATH } });
      console.log(JSON.stringify(running.emulators.map((e) => e.pgid)));
      setInterval(() => {}, 60_000);
    `;
    const parent = spawn(process.execPath, ['--input-type=module', '-e', script], {
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    const [line] = (await once(parent.stdout, 'data')) as [Buffer];
    const [pgid] = JSON.parse(line.toString()) as [number];
    // The group holds the gcloud wrapper and its Java child.
    expect(liveGroupMembers(pgid).length).toBeGreaterThanOrEqual(2);
    return { parent, pgid };
  }

  async function gone(pgid: number, withinMs: number): Promise<boolean> {
    const deadline = Date.now() + withinMs;
    while (Date.now() < deadline) {
      if (!processGroupAlive(pgid)) return true;
      await sleep(100);
    }
    return false;
  }

  it.each(['SIGINT', 'SIGKILL'] as const)(
    'when the parent gets %s, its emulator group is gone within seconds',
    async (signal) => {
      const { parent, pgid } = await parentWithEmulator();
      const members = liveGroupMembers(pgid);
      parent.kill(signal);
      await once(parent, 'exit');
      expect(await gone(pgid, 10_000)).toBe(true);
      expect(members.filter((pid) => isAlive(pid))).toEqual([]);
    },
  );
});

/** Alive and not a zombie (a zombie has exited; only its table entry is left). */
function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
  } catch {
    return false;
  }
  return !readFileSync(`/proc/${pid}/stat`, 'utf8').includes(') Z ');
}

function useTestProjectNow() {
  // A second project for the isolation check, outside the file's lifecycle hooks.
  return useTestProject('harness-other');
}
