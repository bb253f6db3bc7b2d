/**
 * .ci/install-tools decides what a CI machine or a Cloud Build step lacks, on stand-ins for the
 * tools it looks for (java, gcloud and its emulators, apt): the emulators Google ships now need
 * Java 21; where Debian has none, Java 17 and the gcloud release pacer's tests ran on with it.
 */
import { spawnSync } from 'node:child_process';
import {
  chmodSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  rmSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';

const SCRIPT = new URL('../.ci/install-tools', import.meta.url).pathname;
const TESTED = /^TESTED_GCLOUD_VERSION=(\S+)$/m.exec(readFileSync(SCRIPT, 'utf8'))?.[1];

interface Machine {
  /** `java -version`'s major, or null for no Java. */
  java: number | null;
  /** gcloud installed, and with which emulators. */
  gcloud: false | { firestore: boolean; pubsub: boolean };
  /** Whether apt has a candidate for openjdk-21-jre-headless (Debian 13: yes; 12: no). */
  java21InApt: boolean;
}

let dirs: string[] = [];
afterEach(() => {
  for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
  dirs = [];
});

function script(path: string, text: string): void {
  writeFileSync(path, `#!/bin/bash\n${text}\n`);
  chmodSync(path, 0o755);
}

/** Runs install-tools --emulators on a stand-in machine; returns what it asked apt to install. */
function install(machine: Machine): {
  status: number | null;
  apt: string[];
  installed: string[];
  out: string;
} {
  const root = mkdtempSync(join(tmpdir(), 'install-tools-'));
  dirs.push(root);
  const bin = join(root, 'bin');
  mkdirSync(bin);
  // Only the few system tools the script itself uses; everything it looks for is a stand-in.
  for (const tool of ['bash', 'dirname', 'readlink', 'sed', 'grep']) {
    const found = spawnSync('bash', ['-c', `command -v ${tool}`], { encoding: 'utf8' });
    symlinkSync(found.stdout.trim(), join(bin, tool));
  }
  const log = join(root, 'apt.log');
  script(join(bin, 'id'), 'echo 0');
  script(join(bin, 'shellcheck'), 'exit 0');
  script(join(bin, 'curl'), 'exit 0');
  script(join(bin, 'apt-get'), `echo "$*" >>${log}`);
  script(
    join(bin, 'apt-cache'),
    `if [ "$2" = openjdk-21-jre-headless ] && [ ${machine.java21InApt ? 1 : 0} = 0 ]; then echo '  Candidate: (none)'; else echo '  Candidate: 1.0'; fi`,
  );
  if (machine.java !== null) {
    script(join(bin, 'java'), `echo 'openjdk version "${machine.java}.0.5" 2025-04-15' >&2`);
  }
  if (machine.gcloud) {
    const sdk = join(root, 'sdk');
    mkdirSync(join(sdk, 'bin'), { recursive: true });
    script(join(sdk, 'bin', 'gcloud'), 'exit 0');
    symlinkSync(join(sdk, 'bin', 'gcloud'), join(bin, 'gcloud'));
    if (machine.gcloud.firestore) {
      mkdirSync(join(sdk, 'platform/cloud-firestore-emulator'), { recursive: true });
      writeFileSync(
        join(sdk, 'platform/cloud-firestore-emulator/cloud-firestore-emulator.jar'),
        '',
      );
    }
    if (machine.gcloud.pubsub) {
      mkdirSync(join(sdk, 'platform/pubsub-emulator/bin'), { recursive: true });
      script(join(sdk, 'platform/pubsub-emulator/bin/cloud-pubsub-emulator'), 'exit 0');
    }
  }
  const run = spawnSync(join(bin, 'bash'), [SCRIPT, '--emulators'], {
    env: { PATH: bin },
    encoding: 'utf8',
  });
  let lines: string[] = [];
  try {
    lines = readFileSync(log, 'utf8').trim().split('\n');
  } catch {
    // apt-get never ran: nothing to install.
  }
  const installLine = lines.find((line) => line.startsWith('install ')) ?? '';
  const installed = installLine
    .split(' ')
    .filter((word) => word !== '' && word !== 'install' && !word.startsWith('-'));
  return {
    status: run.status,
    apt: lines,
    installed: installed.sort(),
    out: run.stdout + run.stderr,
  };
}

describe('.ci/install-tools --emulators', () => {
  it('pins a gcloud release', () => {
    expect(TESTED).toMatch(/^\d+\.\d+\.\d+-0$/);
  });

  it('installs nothing where the emulators already run (on the Java they have)', () => {
    const result = install({
      java: 17,
      gcloud: { firestore: true, pubsub: true },
      java21InApt: false,
    });
    expect(result.status).toBe(0);
    expect(result.apt).toEqual([]);
  });

  it('on a fresh Debian 13 (Cloud Build’s node:22-trixie): the current emulators and Java 21', () => {
    const result = install({ java: null, gcloud: false, java21InApt: true });
    expect(result.status, result.out).toBe(0);
    expect(result.installed).toEqual([
      'google-cloud-cli',
      'google-cloud-cli-firestore-emulator',
      'google-cloud-cli-pubsub-emulator',
      'openjdk-21-jre-headless',
    ]);
  });

  it('on a fresh Debian 12 (no Java 21): Java 17 and the emulators pinned to the tested release', () => {
    const result = install({ java: null, gcloud: false, java21InApt: false });
    expect(result.status, result.out).toBe(0);
    expect(result.installed).toEqual([
      `google-cloud-cli-firestore-emulator=${TESTED}`,
      `google-cloud-cli-pubsub-emulator=${TESTED}`,
      `google-cloud-cli=${TESTED}`,
      'openjdk-17-jre-headless',
    ]);
  });

  it('adds Java 21 next to an older Java when it installs the emulators', () => {
    const result = install({
      java: 17,
      gcloud: { firestore: false, pubsub: true },
      java21InApt: true,
    });
    expect(result.installed).toEqual([
      'google-cloud-cli-firestore-emulator',
      'openjdk-21-jre-headless',
    ]);
  });

  it('installs only the emulators where Java 21 is there', () => {
    const result = install({
      java: 21,
      gcloud: { firestore: false, pubsub: false },
      java21InApt: true,
    });
    expect(result.installed).toEqual([
      'google-cloud-cli-firestore-emulator',
      'google-cloud-cli-pubsub-emulator',
    ]);
  });
});
