/**
 * Per-file access to the emulators started by the global setup. Each test file gets its own
 * project id, so files never see each other's documents, topics or subscriptions.
 */
import { randomBytes } from 'node:crypto';
import type { Firestore } from '@google-cloud/firestore';
import type { PubSub } from '@google-cloud/pubsub';
import { afterAll, inject } from 'vitest';
import { createFirestore, createPubSub, emulatorProcessEnv } from '../../functions/clients.js';
import type { Env } from '../../functions/config.js';

export interface TestProject {
  projectId: string;
  /** Host variables plus GOOGLE_CLOUD_PROJECT, for clients and for child processes. */
  env: Env & Record<string, string>;
  firestore: Firestore;
  pubsub: PubSub;
}

/** A fresh project id: lowercase, 6–30 characters, unique per call. */
export function uniqueProjectId(label: string): string {
  const slug = label
    .toLowerCase()
    .replace(/[^a-z0-9]+/g, '-')
    .slice(0, 16)
    .replace(/-+$/, '');
  return `t-${slug}-${randomBytes(4).toString('hex')}`;
}

/** Clients for a new project on the shared emulators; the caller closes them. */
export function openProject(label: string, hosts = inject('emulatorEnv')): TestProject {
  const projectId = uniqueProjectId(label);
  const env = emulatorProcessEnv({ ...hosts, GOOGLE_CLOUD_PROJECT: projectId });
  return {
    projectId,
    env,
    firestore: createFirestore(env, projectId),
    pubsub: createPubSub(env, projectId),
  };
}

/** New clients for the same project, as another instance of a function would have. */
export function reconnect(project: TestProject): TestProject {
  return {
    ...project,
    firestore: createFirestore(project.env, project.projectId),
    pubsub: createPubSub(project.env, project.projectId),
  };
}

export async function closeProject(project: TestProject): Promise<void> {
  await Promise.all([project.firestore.terminate(), project.pubsub.close()]);
}

/** Clients for a new project on the shared emulators; closed after the file's tests. */
export function useTestProject(label: string): TestProject {
  const project = openProject(label);
  afterAll(() => closeProject(project));
  return project;
}

/**
 * A factory for fresh projects inside tests (each test its own data and topics), all closed
 * after the file's tests. Call it at the top of the file.
 */
export function useProjects(): (label: string) => TestProject {
  const opened: TestProject[] = [];
  afterAll(async () => {
    await Promise.all(opened.map(closeProject));
  });
  return (label) => {
    const project = openProject(label);
    opened.push(project);
    return project;
  };
}
