/**
 * Per-file access to the emulators started by the global setup. Each test file gets its own
 * project id, so files never see each other's documents, topics or subscriptions.
 */
import { randomBytes } from 'node:crypto';
import type { Firestore } from '@google-cloud/firestore';
import type { PubSub } from '@google-cloud/pubsub';
import { afterAll, inject } from 'vitest';
import { createFirestore, createPubSub } from '../../functions/clients.js';
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

/** Clients for a new project on the shared emulators; closed after the file's tests. */
export function useTestProject(label: string): TestProject {
  const projectId = uniqueProjectId(label);
  const env = { ...inject('emulatorEnv'), GOOGLE_CLOUD_PROJECT: projectId };
  const project: TestProject = {
    projectId,
    env,
    firestore: createFirestore(env, projectId),
    pubsub: createPubSub(env, projectId),
  };
  afterAll(async () => {
    await Promise.all([project.firestore.terminate(), project.pubsub.close()]);
  });
  return project;
}
