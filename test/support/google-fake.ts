/**
 * A stateful fake of the Google Cloud APIs infra/deploy.sh touches, on loopback, for the deploy
 * contract tests (test/infra/deploy/contract.int.test.ts). It answers the way Google does where
 * the deploy depends on it:
 *
 * - resources are kept (create, get, list, patch, delete); a missing one is a 404 in Google's
 *   JSON error format (`{ error: { code, message, status: 'NOT_FOUND' } }`);
 * - long-running operations are not done at the first poll (`operationPolls`);
 * - a new Firestore database stays NOT_FOUND until its create operation is done;
 * - an alert policy naming a log-based metric younger than `metricDelayMs` is refused with
 *   Cloud Monitoring's 404 ("If a metric was created recently, it could take up to 10
 *   minutes to become available"); with a delay, the first policy to name a metric is refused
 *   however long the client took to get there (a busy machine must not make the wait untested);
 * - a build service account that is not `projects/P/serviceAccounts/EMAIL` is refused;
 * - fields at their defaults are left out of what is returned (proto3 JSON: `0`, `false`, `""`,
 *   `[]`, a label's `valueType: STRING`);
 * - every request is recorded (method, API, path) so a test can count the mutating ones.
 *
 * How it is reached: gcloud through `CLOUDSDK_API_ENDPOINT_OVERRIDES_<API>` set to
 * `http://127.0.0.1:PORT/<api>/` (gcloud appends the version path, so the first path segment
 * names the API), and through gcloud's own proxy setting (`CLOUDSDK_PROXY_*`) pointed at the
 * same port: Cloud Run's client prefixes the region to the host (`r-127.0.0.1`), which only a
 * proxy can take, and any request to a Google host that has no override arrives here as a
 * `CONNECT` that is refused and recorded in `escapes` (a test asserts there are none). Clients
 * that are not gcloud use the deploy's endpoint settings: `PACER_FIREBASERULES_ENDPOINT` (the
 * Rules API, curl) and `PACER_SCHEDULER_ENDPOINT` (the pacer CLI's Cloud Scheduler client, at
 * the root of this server).
 */
import { createHash } from 'node:crypto';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

/** One request as the fake received it. */
export interface FakeRequest {
  method: string;
  /** The API (the override's path prefix), e.g. `pubsub`; `cloudscheduler` at the root. */
  api: string;
  /** The path after the API prefix, without the query, e.g. `/v1/projects/p/topics/t`. */
  path: string;
  query: Record<string, string>;
}

export interface FakeOptions {
  projectId: string;
  projectNumber?: string;
  /** Polls of an operation that answer `done: false` before it is done. Default 1. */
  operationPolls?: number;
  /** How long an operation's work takes when nobody polls it. Default 1000. */
  operationMs?: number;
  /**
   * How long a new log-based metric is unknown to alert policies. Default 0. When set, the first
   * alert policy that names a metric is refused whatever the metric's age.
   */
  metricDelayMs?: number;
}

type Json = Record<string, unknown>;

/** Every API the deploy reaches through gcloud (each gets an endpoint override). */
export const GCLOUD_APIS = [
  'artifactregistry',
  'cloudbuild',
  'cloudfunctions',
  'cloudresourcemanager',
  'cloudscheduler',
  'eventarc',
  'firestore',
  'iam',
  'iamcredentials',
  'logging',
  'monitoring',
  'pubsub',
  'run',
  'secretmanager',
  'serviceusage',
  'storage',
] as const;

class HttpError extends Error {
  constructor(
    readonly code: number,
    readonly status: string,
    message: string,
  ) {
    super(message);
  }
}
const notFound = (what: string) => new HttpError(404, 'NOT_FOUND', `${what} not found.`);

/** Proto3 JSON leaves fields at their defaults out: so does the fake. */
export function omitDefaults(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(omitDefaults);
  if (typeof value !== 'object' || value === null) return value;
  const out: Json = {};
  for (const [key, item] of Object.entries(value as Json)) {
    if (item === 0 || item === false || item === '' || item === null) continue;
    if (Array.isArray(item) && item.length === 0) continue;
    if (key === 'valueType' && item === 'STRING') continue;
    out[key] = omitDefaults(item);
  }
  return out;
}

const MUTATING = new Set(['POST', 'PUT', 'PATCH', 'DELETE']);
/** Requests that change nothing although they are POSTs. */
const READ_VERBS = /:(getIamPolicy|generateUploadUrl|testIamPermissions)$/;

export interface GoogleFake {
  endpoint: string;
  port: number;
  projectId: string;
  projectNumber: string;
  /** Resources by API and full name, e.g. `pubsub projects/p/topics/t`. */
  resources: Map<string, Json>;
  /** IAM policies by API and resource name. */
  policies: Map<string, Json>;
  /** Enabled services. */
  services: Set<string>;
  /** Uploaded source archives by object name. */
  uploads: Map<string, Buffer>;
  requests: FakeRequest[];
  /** Connections that would have left loopback (CONNECT or a non-loopback absolute URL). */
  escapes: string[];
  /** What the fake refused as Google would (a young metric, a malformed build account). */
  refusals: string[];
  options: Required<FakeOptions>;
  /** Requests that change something (creates, updates, deletes, setIamPolicy, enable...). */
  mutating(): FakeRequest[];
  /** Resources of one API whose name matches `pattern`, by name. */
  list(api: string, pattern?: RegExp): Record<string, Json>;
  /** The environment for gcloud, curl and the pacer CLI to reach only this fake. */
  env(configDir: string): Record<string, string>;
  close(): Promise<void>;
}

async function readBody(request: IncomingMessage): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const chunk of request) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks);
}

const LOOPBACK_HOST = /^(127\.\d+\.\d+\.\d+|\[::1\]|localhost|[a-z0-9-]+-127\.0\.0\.1)(:\d+)?$/;

export async function startGoogleFake(options: FakeOptions): Promise<GoogleFake> {
  const opts: Required<FakeOptions> = {
    projectNumber: '123456789012',
    operationPolls: 1,
    operationMs: 1000,
    metricDelayMs: 0,
    ...options,
  };
  const { projectId, projectNumber } = opts;
  const resources = new Map<string, Json>();
  const policies = new Map<string, Json>();
  const services = new Set<string>();
  const uploads = new Map<string, Buffer>();
  const requests: FakeRequest[] = [];
  const escapes: string[] = [];
  const refusals: string[] = [];
  const created = new Map<string, number>();
  let sequence = 0;
  let port = 0;
  const base = () => `http://127.0.0.1:${port}`;

  const key = (api: string, name: string) => `${api} ${name}`;
  const get = (api: string, name: string, what = name): Json => {
    const found = resources.get(key(api, name));
    if (!found) throw notFound(what);
    return found;
  };
  const put = (api: string, name: string, value: Json) => {
    if (!resources.has(key(api, name))) created.set(key(api, name), Date.now());
    resources.set(key(api, name), value);
  };
  const remove = (api: string, name: string, what = name) => {
    if (!resources.delete(key(api, name))) throw notFound(what);
    policies.delete(key(api, name));
  };
  const listUnder = (api: string, parent: string, kind: string): Json[] =>
    [...resources.entries()]
      .filter(([k]) => {
        if (!k.startsWith(`${api} ${parent}/${kind}/`)) return false;
        return !k.slice(`${api} ${parent}/${kind}/`.length).includes('/');
      })
      .map(([, value]) => value);
  const project = (p: string) => {
    if (p !== projectId && p !== projectNumber) throw notFound(`Project ${p}`);
  };
  const stamp = () => new Date().toISOString();
  const etag = (value: unknown) =>
    createHash('sha1').update(JSON.stringify(value)).digest('base64').slice(0, 12);

  // Long-running operations: done after `operationPolls` polls; `finish` runs once, when done.
  const operations = new Map<
    string,
    { polls: number; finish: () => Json | undefined; result?: Json; metadata: Json }
  >();
  const operation = (name: string, finish: () => Json | undefined, metadata: Json = {}): Json => {
    const op: { polls: number; finish: () => Json | undefined; result?: Json; metadata: Json } = {
      polls: 0,
      finish,
      metadata,
    };
    operations.set(name, op);
    // Google finishes the work whether or not anyone polls.
    setTimeout(() => {
      op.result ??= op.finish() ?? {};
    }, opts.operationMs).unref();
    if (opts.operationPolls <= 0) return pollOperation(name);
    return { name, metadata, done: false };
  };
  const pollOperation = (name: string): Json => {
    const op = operations.get(name);
    if (!op) throw notFound(`Operation ${name}`);
    if (op.polls++ < opts.operationPolls) return { name, metadata: op.metadata, done: false };
    op.result ??= op.finish() ?? {};
    return { name, metadata: op.metadata, done: true, response: op.result };
  };
  const opName = (prefix: string) => `${prefix}operations/op-${++sequence}`;

  // IAM: get answers an empty policy for an existing resource; set replaces it.
  const iam = (api: string, name: string, verb: string, body: Json | null): Json => {
    const k = key(api, name);
    if (verb === 'getIamPolicy') {
      return policies.get(k) ?? { version: 1, etag: 'ACAB' };
    }
    const policy = { ...((body?.policy as Json | undefined) ?? {}) };
    // As IAM: a write based on an older read is refused, and so is a condition in a policy
    // that is not version 3.
    const current = policies.get(k) ?? { etag: 'ACAB' };
    // An etag is bytes: gcloud sends back the base64 it read in its URL-safe alphabet.
    const bytes = (tag: unknown) => Buffer.from(String(tag), 'base64').toString('hex');
    if (policy.etag !== undefined && bytes(policy.etag) !== bytes(current.etag)) {
      throw new HttpError(
        409,
        'ABORTED',
        'There were concurrent policy changes. Please retry the whole read-modify-write with exponential backoff.',
      );
    }
    const bindings = (policy.bindings as Json[] | undefined) ?? [];
    if (bindings.some((binding) => binding.condition !== undefined) && policy.version !== 3) {
      throw new HttpError(
        400,
        'INVALID_ARGUMENT',
        'Invalid policy: a policy with conditions must be of version 3.',
      );
    }
    policy.etag = etag(policy);
    policies.set(k, omitDefaults(policy) as Json);
    return policies.get(k) ?? {};
  };

  type Handler = (
    method: string,
    path: string,
    query: URLSearchParams,
    body: Json | null,
    raw: Buffer,
  ) => Json | undefined;

  // -------------------------------------------------------------------------------------------
  // The APIs

  const serviceUsage: Handler = (method, path, _query, body) => {
    let m = /^\/v1\/projects\/([^/]+)\/services(?::batchEnable)?$/.exec(path);
    if (m && method === 'GET') {
      project(m[1] ?? '');
      return {
        services: [...services].sort().map((s) => ({
          name: `projects/${projectNumber}/services/${s}`,
          config: { name: s },
          state: 'ENABLED',
        })),
      };
    }
    if (m && method === 'POST') {
      project(m[1] ?? '');
      const ids = (body?.serviceIds as string[] | undefined) ?? [];
      return operation(opName(''), () => {
        for (const id of ids) services.add(id);
        return {};
      });
    }
    m = /^\/v1\/projects\/([^/]+)\/services\/([^/:]+)$/.exec(path);
    if (m && method === 'GET') {
      const id = m[2] ?? '';
      return {
        name: `projects/${projectNumber}/services/${id}`,
        config: { name: id },
        state: services.has(id) ? 'ENABLED' : 'DISABLED',
      };
    }
    m = /^\/v1\/projects\/([^/]+)\/services\/([^/:]+):(enable|disable)$/.exec(path);
    if (m && method === 'POST') {
      const id = m[2] ?? '';
      return operation(opName(''), () => {
        if (m?.[3] === 'enable') services.add(id);
        else services.delete(id);
        return {};
      });
    }
    m = /^\/v1beta1\/projects\/([^/]+)\/services\/([^/:]+):generateServiceIdentity$/.exec(path);
    if (m && method === 'POST') {
      // Done at once, as Google answers it; the agent gets its service-agent role.
      const service = (m[2] ?? '').split('.')[0] ?? '';
      const email = `service-${projectNumber}@gcp-sa-${service}.iam.gserviceaccount.com`;
      const k = key('cloudresourcemanager', `projects/${projectId}`);
      const policy = policies.get(k) ?? { version: 1 };
      const bindings = [...((policy.bindings as Json[] | undefined) ?? [])];
      const role = `roles/${service}.serviceAgent`;
      if (!bindings.some((b) => b.role === role)) {
        bindings.push({ role, members: [`serviceAccount:${email}`] });
        policies.set(k, { ...policy, bindings, etag: etag(bindings) });
      }
      return {
        name: opName(''),
        done: true,
        response: {
          '@type': 'type.googleapis.com/google.api.serviceusage.v1beta1.ServiceIdentity',
          email,
          uniqueId: '4242',
        },
      };
    }
    m = /^\/v1(?:beta1)?\/(operations\/[^/]+)$/.exec(path);
    if (m && method === 'GET') return pollOperation(m[1] ?? '');
    return undefined;
  };

  const resourceManager: Handler = (method, path, _query, body) => {
    const m = /^\/v[13]\/projects\/([^/:]+)(?::(getIamPolicy|setIamPolicy))?$/.exec(path);
    if (!m) return undefined;
    project(m[1] ?? '');
    if (m[2] !== undefined && method === 'POST') {
      return iam('cloudresourcemanager', `projects/${projectId}`, m[2], body);
    }
    if (method === 'GET') {
      return {
        projectId,
        projectNumber,
        name: projectId,
        lifecycleState: 'ACTIVE',
      };
    }
    return undefined;
  };

  const iamApi: Handler = (method, path, query, body) => {
    let m = /^\/v1\/projects\/([^/]+)\/serviceAccounts$/.exec(path);
    if (m && method === 'GET') {
      project(m[1] ?? '');
      return {
        accounts: listUnder('iam', `projects/${projectId}`, 'serviceAccounts').map(
          (a) => omitDefaults(a) as Json,
        ),
      };
    }
    if (m && method === 'POST') {
      project(m[1] ?? '');
      const id = text(body?.accountId);
      const email = `${id}@${projectId}.iam.gserviceaccount.com`;
      const name = `projects/${projectId}/serviceAccounts/${email}`;
      if (resources.has(key('iam', name))) {
        throw new HttpError(409, 'ALREADY_EXISTS', `Service account ${id} already exists.`);
      }
      const account = {
        name,
        projectId,
        uniqueId: String(100000 + ++sequence),
        email,
        displayName: (body?.serviceAccount as Json | undefined)?.displayName ?? '',
        oauth2ClientId: String(sequence),
      };
      put('iam', name, account);
      return omitDefaults(account) as Json;
    }
    m = /^\/v1\/projects\/[^/]+\/serviceAccounts\/([^/:]+)(?::(getIamPolicy|setIamPolicy))?$/.exec(
      path,
    );
    if (m) {
      const name = `projects/${projectId}/serviceAccounts/${m[1] ?? ''}`;
      const account = get('iam', name, `Service account ${m[1] ?? ''}`);
      if (m[2] !== undefined) return iam('iam', name, m[2], body);
      if (method === 'GET') return omitDefaults(account) as Json;
      if (method === 'DELETE') {
        remove('iam', name);
        return {};
      }
    }
    if (path === '/v1/permissions:queryTestablePermissions' && method === 'POST') {
      return {
        permissions: ['run.jobs.run', 'run.jobs.runWithOverrides', 'run.jobs.get'].map((name) => ({
          name,
          stage: 'GA',
          customRolesSupportLevel: 'SUPPORTED',
        })),
      };
    }
    m = /^\/v1\/projects\/([^/]+)\/roles$/.exec(path);
    if (m && method === 'POST') {
      const id = text(body?.roleId);
      const name = `projects/${projectId}/roles/${id}`;
      if (resources.has(key('iam', name))) {
        throw new HttpError(
          409,
          'ALREADY_EXISTS',
          `A role named ${id} in projects/${projectId} already exists.`,
        );
      }
      const role = { ...((body?.role as Json | undefined) ?? {}), name, etag: etag(body) };
      put('iam', name, role);
      return omitDefaults(role) as Json;
    }
    m = /^\/v1\/projects\/[^/]+\/roles\/([^/:]+)(?::(undelete))?$/.exec(path);
    if (m) {
      const name = `projects/${projectId}/roles/${m[1] ?? ''}`;
      const role = get('iam', name, `Role ${name}`);
      if (method === 'GET') return omitDefaults(role) as Json;
      if (method === 'PATCH') {
        const mask = (query.get('updateMask') ?? 'title,description,includedPermissions,stage')
          .split(',')
          .filter(Boolean);
        for (const field of mask) role[field] = body?.[field];
        role.etag = etag(role);
        return omitDefaults(role) as Json;
      }
      if (method === 'DELETE') {
        remove('iam', name);
        return omitDefaults({ ...role, deleted: true }) as Json;
      }
    }
    return undefined;
  };

  // Firestore: databases, indexes, field overrides. A database being created is NOT_FOUND.
  const firestore: Handler = (method, path, query, body) => {
    let m = /^\/v1\/projects\/([^/]+)\/databases$/.exec(path);
    if (m && method === 'POST') {
      project(m[1] ?? '');
      const id = query.get('databaseId') ?? '(default)';
      const name = `projects/${projectId}/databases/${id}`;
      if (resources.has(key('firestore', name)) || pendingDatabases.has(name)) {
        throw new HttpError(
          409,
          'ALREADY_EXISTS',
          `Database already exists. Please use another database_id`,
        );
      }
      const database = { ...body, name, uid: `uid-${++sequence}`, createTime: stamp() };
      pendingDatabases.add(name);
      return operation(
        opName(`projects/${projectId}/databases/${id}/`),
        () => {
          pendingDatabases.delete(name);
          put('firestore', name, database);
          return { '@type': 'type.googleapis.com/google.firestore.admin.v1.Database', ...database };
        },
        { '@type': 'type.googleapis.com/google.firestore.admin.v1.CreateDatabaseMetadata' },
      );
    }
    m = /^\/v1\/(projects\/[^/]+\/databases\/[^/]+)$/.exec(path);
    if (m) {
      const name = m[1] ?? '';
      const database = get('firestore', name, `Project '${projectId}' or database`);
      if (method === 'GET') return omitDefaults(database) as Json;
      if (method === 'DELETE') {
        for (const k of [...resources.keys()]) {
          if (k.startsWith(`firestore ${name}/`)) resources.delete(k);
        }
        remove('firestore', name);
        return operation(opName(`${name}/`), () => ({}));
      }
    }
    m = /^\/v1\/(projects\/[^/]+\/databases\/[^/]+)\/operations\/[^/]+$/.exec(path);
    if (m && method === 'GET') return pollOperation(path.replace(/^\/v1\//, ''));
    m = /^\/v1\/(projects\/[^/]+\/databases\/[^/]+)\/collectionGroups\/([^/]+)\/indexes$/.exec(
      path,
    );
    if (m) {
      const database = m[1] ?? '';
      get('firestore', database, `Database ${database}`);
      if (method === 'GET') {
        const all = [...resources.entries()]
          .filter(
            ([k]) =>
              k.startsWith(`firestore ${database}/collectionGroups/`) && k.includes('/indexes/'),
          )
          .map(([, value]) => omitDefaults(value) as Json);
        return { indexes: all };
      }
      if (method === 'POST') {
        const name = `${database}/collectionGroups/${m[2] ?? ''}/indexes/idx-${++sequence}`;
        const fields = [...((body?.fields as Json[] | undefined) ?? [])];
        const last = fields.at(-1);
        fields.push({ fieldPath: '__name__', order: last?.order ?? 'ASCENDING' });
        const index = { ...body, name, fields, state: 'CREATING' };
        put('firestore', name, index);
        return operation(opName(`${database}/`), () => {
          index.state = 'READY';
          return {};
        });
      }
    }
    m =
      /^\/v1\/(projects\/[^/]+\/databases\/[^/]+)\/collectionGroups\/([^/]+)\/indexes\/([^/]+)$/.exec(
        path,
      );
    if (m && method === 'DELETE') {
      remove('firestore', path.replace(/^\/v1\//, ''));
      return {};
    }
    m =
      /^\/v1\/(projects\/[^/]+\/databases\/[^/]+)\/collectionGroups\/([^/]+)\/fields\/([^/]+)$/.exec(
        path,
      );
    if (m) {
      const database = m[1] ?? '';
      get('firestore', database, `Database ${database}`);
      const name = path.replace(/^\/v1\//, '');
      const field = resources.get(key('firestore', name)) ?? {
        name,
        indexConfig: {
          usesAncestorConfig: true,
          indexes: [
            {
              queryScope: 'COLLECTION',
              fields: [{ fieldPath: m[3], order: 'ASCENDING' }],
              state: 'READY',
            },
          ],
        },
      };
      if (method === 'GET') {
        if (!resources.has(key('firestore', name)) && m[3] !== '*') {
          // Firestore answers a field without an override with the ancestor's settings.
          return omitDefaults(field) as Json;
        }
        return omitDefaults(field) as Json;
      }
      if (method === 'PATCH') {
        const mask = (query.get('updateMask') ?? '').split(',').filter(Boolean);
        const next: Json = { ...field };
        for (const part of mask) {
          if (part === 'indexConfig') {
            const indexes =
              ((body?.indexConfig as Json | undefined)?.indexes as unknown[] | undefined) ?? [];
            next.indexConfig = { indexes };
          }
          if (part === 'ttlConfig') {
            next.ttlConfig = body?.ttlConfig ? { state: 'CREATING' } : undefined;
          }
        }
        put('firestore', name, next);
        return operation(opName(`${database}/`), () => {
          if ((next.ttlConfig as Json | undefined)?.state === 'CREATING') {
            next.ttlConfig = { state: 'ACTIVE' };
          }
          return {};
        });
      }
    }
    return undefined;
  };
  const pendingDatabases = new Set<string>();

  // Firebase Rules (curl).
  const rules: Handler = (method, path, _query, body) => {
    let m = /^\/v1\/projects\/([^/]+)\/rulesets$/.exec(path);
    if (m && method === 'POST') {
      project(m[1] ?? '');
      const name = `projects/${projectId}/rulesets/rs-${++sequence}`;
      const ruleset = { ...body, name, createTime: stamp() };
      put('firebaserules', name, ruleset);
      return ruleset;
    }
    m = /^\/v1\/(projects\/[^/]+\/rulesets\/[^/]+)$/.exec(path);
    if (m && method === 'GET') return get('firebaserules', m[1] ?? '', `Ruleset ${m[1] ?? ''}`);
    if (m && method === 'DELETE') {
      remove('firebaserules', m[1] ?? '');
      return {};
    }
    m = /^\/v1\/projects\/([^/]+)\/releases$/.exec(path);
    if (m && method === 'POST') {
      const name = text(body?.name);
      if (resources.has(key('firebaserules', name))) {
        throw new HttpError(409, 'ALREADY_EXISTS', `Resource already exists: ${name}`);
      }
      get('firebaserules', text(body?.rulesetName), 'Ruleset');
      const release = { ...body, createTime: stamp(), updateTime: stamp() };
      put('firebaserules', name, release);
      return release;
    }
    m = /^\/v1\/(projects\/[^/]+\/releases\/[^/]+)$/.exec(path);
    if (m) {
      const name = m[1] ?? '';
      const release = get('firebaserules', name, `Release ${name}`);
      if (method === 'GET') return release;
      if (method === 'PATCH') {
        const next = {
          ...release,
          ...((body?.release as Json | undefined) ?? {}),
          updateTime: stamp(),
        };
        put('firebaserules', name, next);
        return next;
      }
      if (method === 'DELETE') {
        remove('firebaserules', name);
        return {};
      }
    }
    return undefined;
  };

  const BUILD_SA = /^projects\/[^/]+\/serviceAccounts\/[^/@]+@[^/]+$/;

  // Cloud Functions v2, with source uploads to a loopback URL this fake serves.
  const functions: Handler = (method, path, query, body) => {
    let m = /^\/v2\/(projects\/[^/]+\/locations\/[^/]+)\/functions:generateUploadUrl$/.exec(path);
    if (m && method === 'POST') {
      const object = `fn-source-${++sequence}.zip`;
      return {
        uploadUrl: `${base()}/upload/${object}`,
        storageSource: { bucket: `gcf-v2-uploads-${projectNumber}`, object },
      };
    }
    m = /^\/v2\/(projects\/[^/]+\/locations\/[^/]+)\/functions$/.exec(path);
    if (m && method === 'GET') {
      return {
        functions: listUnder('cloudfunctions', m[1] ?? '', 'functions').map(
          (f) => omitDefaults(f) as Json,
        ),
      };
    }
    if (m && method === 'POST') {
      const name = `${m[1] ?? ''}/functions/${query.get('functionId') ?? ''}`;
      if (resources.has(key('cloudfunctions', name))) {
        throw new HttpError(409, 'ALREADY_EXISTS', `Function ${name} already exists`);
      }
      checkFunction(body);
      const fn = materialise(name, body ?? {});
      return operation(
        opName(`${m[1] ?? ''}/`),
        () => {
          put('cloudfunctions', name, fn);
          return fn;
        },
        {
          '@type': 'type.googleapis.com/google.cloud.functions.v2.OperationMetadata',
          target: name,
        },
      );
    }
    m =
      /^\/v2\/(projects\/[^/]+\/locations\/[^/]+\/functions\/[^/:]+)(?::(getIamPolicy|setIamPolicy))?$/.exec(
        path,
      );
    if (m) {
      const name = m[1] ?? '';
      const fn = get('cloudfunctions', name, `Resource '${name}'`);
      if (m[2] !== undefined) return iam('cloudfunctions', name, m[2], body);
      if (method === 'GET') return omitDefaults(fn) as Json;
      if (method === 'PATCH') {
        checkFunction(body);
        const next = materialise(name, body ?? {});
        return operation(
          opName(name.replace(/functions\/[^/]+$/, '')),
          () => {
            put('cloudfunctions', name, next);
            return next;
          },
          { target: name },
        );
      }
      if (method === 'DELETE') {
        return operation(
          opName(name.replace(/functions\/[^/]+$/, '')),
          () => {
            remove('cloudfunctions', name);
            const service = `projects/${projectId}/locations/${name.split('/')[3] ?? ''}/services/${name.split('/').pop() ?? ''}`;
            policies.delete(key('run', service));
            return {};
          },
          { target: name },
        );
      }
    }
    m = /^\/v2\/(projects\/[^/]+\/locations\/[^/]+\/operations\/[^/]+)$/.exec(path);
    if (m && method === 'GET') return pollOperation(m[1] ?? '');
    // `gcloud functions list --regions` asks the v1 API for the locations and gen 1 functions
    // (none here), then v2 for the gen 2 ones.
    m = /^\/v1\/projects\/([^/]+)\/locations$/.exec(path);
    if (m && method === 'GET') {
      return {
        locations: ['europe-west1', 'us-central1'].map((id) => ({
          name: `projects/${projectId}/locations/${id}`,
          locationId: id,
        })),
      };
    }
    m = /^\/v1\/projects\/[^/]+\/locations\/[^/]+\/functions$/.exec(path);
    if (m && method === 'GET') return { functions: [] };
    m = /^\/v2\/projects\/[^/]+\/locations(?:\/[^/]+\/runtimes)?$/.exec(path);
    if (m && method === 'GET')
      return { locations: [], runtimes: [{ name: 'nodejs22', stage: 'GA', environment: 'GEN_2' }] };
    return undefined;
  };
  const checkFunction = (body: Json | null) => {
    const account = (body?.buildConfig as Json | undefined)?.serviceAccount;
    if (account !== undefined && (typeof account !== 'string' || !BUILD_SA.test(account))) {
      refusals.push(`build service account ${JSON.stringify(account)}`);
      throw new HttpError(
        400,
        'INVALID_ARGUMENT',
        `Invalid build service account: ${JSON.stringify(account)}. Expected projects/{project}/serviceAccounts/{email}`,
      );
    }
    const object = ((body?.buildConfig as Json | undefined)?.source as Json | undefined)
      ?.storageSource as Json | undefined;
    if (object && !uploads.has(String(object.object))) {
      throw new HttpError(
        400,
        'INVALID_ARGUMENT',
        `source object ${String(object.object)} was not uploaded`,
      );
    }
  };
  const materialise = (name: string, body: Json): Json => {
    const id = name.split('/').pop() ?? '';
    const region = name.split('/')[3] ?? '';
    const serviceConfig = { ...((body.serviceConfig as Json | undefined) ?? {}) };
    serviceConfig.uri = `https://${id}-${projectNumber}.${region}.run.app`;
    serviceConfig.service = `projects/${projectId}/locations/${region}/services/${id}`;
    return {
      ...body,
      name,
      state: 'ACTIVE',
      environment: 'GEN_2',
      updateTime: stamp(),
      serviceConfig,
    };
  };

  // Cloud Run: the functions' services (IAM only) and the long-sync job (v1 namespaces API).
  const run: Handler = (method, path, _query, body) => {
    let m =
      /^\/v[12]\/(projects\/[^/]+\/locations\/[^/]+\/services\/[^/:]+):(getIamPolicy|setIamPolicy)$/.exec(
        path,
      );
    if (m) {
      const service = m[1] ?? '';
      const fn = service.replace('/services/', '/functions/');
      get('cloudfunctions', fn, `Service ${service}`);
      return iam('run', service, m[2] ?? '', body);
    }
    m = /^\/v[12]\/(projects\/[^/]+\/locations\/[^/]+\/services\/[^/:]+)$/.exec(path);
    if (m && method === 'GET') {
      const service = m[1] ?? '';
      const fn = get(
        'cloudfunctions',
        service.replace('/services/', '/functions/'),
        `Service ${service}`,
      );
      return { name: service, uri: (fn.serviceConfig as Json).uri };
    }
    m = /^\/apis\/run\.googleapis\.com\/v1\/namespaces\/([^/]+)\/jobs$/.exec(path);
    if (m && method === 'POST') {
      const id = text((body?.metadata as Json | undefined)?.name);
      const name = `namespaces/${m[1] ?? ''}/jobs/${id}`;
      if (resources.has(key('run', name)))
        throw new HttpError(409, 'ALREADY_EXISTS', `Resource '${id}' already exists.`);
      const job = runJob(body ?? {}, 1);
      put('run', name, job);
      return job;
    }
    m = /^\/apis\/run\.googleapis\.com\/v1\/namespaces\/([^/]+)\/jobs\/([^/:]+)$/.exec(path);
    if (m) {
      const name = `namespaces/${m[1] ?? ''}/jobs/${m[2] ?? ''}`;
      const job = get('run', name, `Resource '${m[2] ?? ''}' of kind 'JOB'`);
      if (method === 'GET') return job;
      if (method === 'PUT') {
        const generation = Number((job.metadata as Json).generation ?? 1) + 1;
        const next = runJob(body ?? {}, generation);
        put('run', name, next);
        return next;
      }
      if (method === 'DELETE') {
        remove('run', name);
        return { status: 'Success' };
      }
    }
    m =
      /^\/v[12]\/projects\/([^/]+)\/locations\/([^/]+)\/jobs\/([^/:]+):(getIamPolicy|setIamPolicy)$/.exec(
        path,
      );
    if (m) {
      const name = `namespaces/${m[1] ?? ''}/jobs/${m[3] ?? ''}`;
      get('run', name, `Resource '${m[3] ?? ''}' of kind 'JOB'`);
      return iam('run', name, m[4] ?? '', body);
    }
    return undefined;
  };
  const runJob = (body: Json, generation: number): Json => {
    const metadata = {
      ...((body.metadata as Json | undefined) ?? {}),
      generation,
      uid: `job-${++sequence}`,
    };
    return {
      ...body,
      apiVersion: 'run.googleapis.com/v1',
      kind: 'Job',
      metadata,
      status: {
        observedGeneration: generation,
        conditions: [{ type: 'Ready', status: 'True' }],
      },
    };
  };

  // Pub/Sub.
  const pubsub: Handler = (method, path, _query, body) => {
    const listed = /^\/v1\/projects\/([^/]+)\/(topics|subscriptions)$/.exec(path);
    if (listed && method === 'GET') {
      project(listed[1] ?? '');
      const kind = listed[2] ?? '';
      return {
        [kind]: listUnder('pubsub', `projects/${projectId}`, kind).map((x) => omitDefaults(x)),
      };
    }
    const m =
      /^\/v1\/projects\/([^/]+)\/(topics|subscriptions)\/([^/:]+)(?::(getIamPolicy|setIamPolicy))?$/.exec(
        path,
      );
    if (m) {
      project(m[1] ?? '');
      const name = `projects/${projectId}/${m[2] ?? ''}/${m[3] ?? ''}`;
      const what = `Resource not found (resource=${m[3] ?? ''}).`;
      if (m[4] !== undefined) {
        if (!resources.has(key('pubsub', name))) throw new HttpError(404, 'NOT_FOUND', what);
        return iam('pubsub', name, m[4], body);
      }
      if (method === 'GET') {
        const found = resources.get(key('pubsub', name));
        if (!found) throw new HttpError(404, 'NOT_FOUND', what);
        return omitDefaults(found) as Json;
      }
      if (method === 'PUT') {
        if (resources.has(key('pubsub', name))) {
          throw new HttpError(409, 'ALREADY_EXISTS', 'Resource already exists in the project');
        }
        if (m[2] === 'subscriptions' && !resources.has(key('pubsub', text(body?.topic)))) {
          throw new HttpError(
            404,
            'NOT_FOUND',
            `Resource not found (resource=${text(body?.topic)}).`,
          );
        }
        const value = {
          ackDeadlineSeconds: m[2] === 'subscriptions' ? 10 : undefined,
          ...body,
          name,
        };
        put('pubsub', name, value);
        return omitDefaults(value) as Json;
      }
      if (method === 'PATCH') {
        const found = resources.get(key('pubsub', name));
        if (!found) throw new HttpError(404, 'NOT_FOUND', what);
        const update = ((body?.subscription ?? body?.topic) as Json | undefined) ?? {};
        const mask = text(body?.updateMask).split(',').filter(Boolean);
        const next: Json = { ...found };
        for (const field of mask) {
          const [head = '', ...rest] = field.split('.');
          if (rest.length === 0) next[head] = update[head];
          else {
            next[head] = { ...(next[head] ?? {}) };
            setPath(next[head] as Json, rest, getPath(update[head], rest));
          }
        }
        put('pubsub', name, next);
        return omitDefaults(next) as Json;
      }
      if (method === 'DELETE') {
        remove('pubsub', name, what);
        return {};
      }
    }
    return undefined;
  };

  // Cloud Logging: log-based metrics.
  const logging: Handler = (method, path, _query, body) => {
    let m = /^\/v2\/projects\/([^/]+)\/metrics$/.exec(path);
    if (m && method === 'POST') {
      project(m[1] ?? '');
      const id = text(body?.name);
      const name = `projects/${projectId}/metrics/${id}`;
      if (resources.has(key('logging', name)))
        throw new HttpError(409, 'ALREADY_EXISTS', `Metric ${id} already exists.`);
      const metric = { ...body, createTime: stamp(), updateTime: stamp() };
      put('logging', name, metric);
      return omitDefaults(metric) as Json;
    }
    if (m && method === 'GET') {
      return {
        metrics: listUnder('logging', `projects/${projectId}`, 'metrics').map(
          (x) => omitDefaults(x) as Json,
        ),
      };
    }
    m = /^\/v2\/projects\/([^/]+)\/metrics\/([^/]+)$/.exec(path);
    if (m) {
      const id = decodeURIComponent(m[2] ?? '');
      const name = `projects/${projectId}/metrics/${id}`;
      const metric = get('logging', name, `Metric ${id}`);
      if (method === 'GET') return omitDefaults(metric) as Json;
      if (method === 'PUT') {
        const next = { ...body, name: id, createTime: metric.createTime, updateTime: stamp() };
        resources.set(key('logging', name), next);
        return omitDefaults(next) as Json;
      }
      if (method === 'DELETE') {
        remove('logging', name);
        return {};
      }
    }
    return undefined;
  };

  // Cloud Monitoring: alert policies (v3) and dashboards (v1).
  const USER_METRIC = /logging\.googleapis\.com\/user\/([A-Za-z0-9_./-]+)/g;
  let youngRefused = false;
  const checkMetrics = (policy: Json) => {
    for (const match of JSON.stringify(policy).matchAll(USER_METRIC)) {
      const id = match[1] ?? '';
      const k = key('logging', `projects/${projectId}/metrics/${id}`);
      const born = created.get(k);
      const young =
        born !== undefined &&
        opts.metricDelayMs > 0 &&
        (Date.now() - born < opts.metricDelayMs || !youngRefused);
      if (!resources.has(k) || born === undefined || young) {
        if (young) youngRefused = true;
        refusals.push(`metric ${id}`);
        throw new HttpError(
          404,
          'NOT_FOUND',
          `Cannot find metric(s) that match type = "logging.googleapis.com/user/${id}". If a metric was created recently, it could take up to 10 minutes to become available. Please try again soon.`,
        );
      }
    }
  };
  const monitoring: Handler = (method, path, query, body) => {
    let m = /^\/v3\/projects\/([^/]+)\/alertPolicies$/.exec(path);
    if (m && method === 'GET') {
      project(m[1] ?? '');
      let all = listUnder('monitoring', `projects/${projectId}`, 'alertPolicies');
      const filter = /displayName\s*=\s*"([^"]*)"/.exec(query.get('filter') ?? '');
      if (filter) all = all.filter((p) => p.displayName === filter[1]);
      return { alertPolicies: all.map((p) => omitDefaults(p) as Json), totalSize: all.length };
    }
    if (m && method === 'POST') {
      project(m[1] ?? '');
      checkMetrics(body ?? {});
      const name = `projects/${projectId}/alertPolicies/${1000 + ++sequence}`;
      const conditions = ((body?.conditions as Json[] | undefined) ?? []).map((c, i) => ({
        ...c,
        name: `${name}/conditions/${2000 + i}`,
      }));
      const policy = { ...body, name, conditions, creationRecord: { mutateTime: stamp() } };
      put('monitoring', name, policy);
      return omitDefaults(policy) as Json;
    }
    m = /^\/v3\/(projects\/[^/]+\/alertPolicies\/[^/]+)$/.exec(path);
    if (m) {
      const name = m[1] ?? '';
      const policy = get('monitoring', name, `Alert policy ${name}`);
      if (method === 'GET') return omitDefaults(policy) as Json;
      if (method === 'PATCH') {
        checkMetrics(body ?? {});
        const next = { ...policy, ...body, name };
        put('monitoring', name, next);
        return omitDefaults(next) as Json;
      }
      if (method === 'DELETE') {
        remove('monitoring', name);
        return {};
      }
    }
    m = /^\/v1\/projects\/([^/]+)\/dashboards$/.exec(path);
    if (m && method === 'GET') {
      project(m[1] ?? '');
      return {
        dashboards: listUnder('monitoring', `projects/${projectId}`, 'dashboards').map(
          (d) => omitDefaults(d) as Json,
        ),
      };
    }
    if (m && method === 'POST') {
      project(m[1] ?? '');
      const given = text(body?.name);
      const id = given === '' ? `dash-${++sequence}` : (given.split('/').pop() ?? '');
      const name = `projects/${projectNumber}/dashboards/${id}`;
      if (resources.has(key('monitoring', `projects/${projectId}/dashboards/${id}`))) {
        throw new HttpError(409, 'ALREADY_EXISTS', `Dashboard ${id} already exists.`);
      }
      const dashboard = { ...body, name, etag: etag(body) };
      put('monitoring', `projects/${projectId}/dashboards/${id}`, dashboard);
      return omitDefaults(dashboard) as Json;
    }
    m = /^\/v1\/projects\/([^/]+)\/dashboards\/([^/]+)$/.exec(path);
    if (m) {
      const k = `projects/${projectId}/dashboards/${m[2] ?? ''}`;
      const dashboard = get('monitoring', k, `Dashboard ${m[2] ?? ''}`);
      if (method === 'GET') return omitDefaults(dashboard) as Json;
      if (method === 'PATCH') {
        if (body?.etag !== undefined && body.etag !== dashboard.etag) {
          throw new HttpError(409, 'ABORTED', 'etag mismatch');
        }
        const next = { ...body, name: dashboard.name, etag: etag(body) };
        put('monitoring', k, next);
        return omitDefaults(next) as Json;
      }
      if (method === 'DELETE') {
        remove('monitoring', k);
        return {};
      }
    }
    return undefined;
  };

  // Cloud Scheduler: the pacer CLI's REST client (enums as numbers) and gcloud.
  const scheduler: Handler = (method, path, query, body) => {
    const intEnums = (query.get('$alt') ?? '').includes('enum-encoding=int');
    const out = (job: Json): Json => {
      const copy = { ...job };
      if (!intEnums) copy.state = job.state === 2 ? 'PAUSED' : 'ENABLED';
      return omitDefaults(copy) as Json;
    };
    let m = /^\/v1\/(projects\/[^/]+\/locations\/[^/]+)\/jobs$/.exec(path);
    if (m && method === 'POST') {
      const name = text(body?.name);
      if (!name.startsWith(`${m[1] ?? ''}/jobs/`))
        throw new HttpError(400, 'INVALID_ARGUMENT', `job name ${name} not under the parent`);
      if (resources.has(key('cloudscheduler', name)))
        throw new HttpError(409, 'ALREADY_EXISTS', 'Job already exists.');
      const job = { ...body, name, state: 1, userUpdateTime: stamp() };
      put('cloudscheduler', name, job);
      return out(job);
    }
    if (m && method === 'GET')
      return { jobs: listUnder('cloudscheduler', m[1] ?? '', 'jobs').map(out) };
    m = /^\/v1\/(projects\/[^/]+\/locations\/[^/]+\/jobs\/[^/:]+)(?::(pause|resume))?$/.exec(path);
    if (m) {
      const name = m[1] ?? '';
      const job = get('cloudscheduler', name, 'Job');
      if (m[2] !== undefined && method === 'POST') {
        job.state = m[2] === 'pause' ? 2 : 1;
        return out(job);
      }
      if (method === 'GET') return out(job);
      if (method === 'PATCH') {
        const mask = (query.get('updateMask') ?? '').split(',').filter(Boolean);
        if (mask.length === 0) throw new HttpError(400, 'INVALID_ARGUMENT', 'no update mask');
        for (const field of mask) {
          const camel = field.replace(/_([a-z])/g, (_x, l: string) => l.toUpperCase());
          job[camel] = body?.[camel];
        }
        job.userUpdateTime = stamp();
        return out(job);
      }
      if (method === 'DELETE') {
        remove('cloudscheduler', name);
        return {};
      }
    }
    return undefined;
  };

  // What `gcloud run jobs deploy --source` goes through: an Artifact Registry repository, the
  // sources uploaded to a Cloud Storage bucket, a Cloud Build build (done at the second poll).
  const artifactRegistry: Handler = (method, path, query, body) => {
    let m = /^\/v1\/(projects\/[^/]+\/locations\/[^/]+)\/repositories$/.exec(path);
    if (m && method === 'POST') {
      const name = `${m[1] ?? ''}/repositories/${query.get('repositoryId') ?? ''}`;
      if (resources.has(key('artifactregistry', name)))
        throw new HttpError(409, 'ALREADY_EXISTS', `the repository already exists`);
      const repository = { ...body, name, createTime: stamp() };
      return operation(opName(`${m[1] ?? ''}/`), () => {
        put('artifactregistry', name, repository);
        return repository;
      });
    }
    m = /^\/v1\/(projects\/[^/]+\/locations\/[^/]+\/repositories\/[^/]+)$/.exec(path);
    if (m && method === 'GET') return get('artifactregistry', m[1] ?? '', `Requested entity`);
    if (m && method === 'DELETE') {
      remove('artifactregistry', m[1] ?? '');
      return operation(opName('projects/x/locations/x/'), () => ({}));
    }
    m = /^\/v1\/(projects\/[^/]+\/locations\/[^/]+\/operations\/[^/]+)$/.exec(path);
    if (m && method === 'GET') return pollOperation(m[1] ?? '');
    return undefined;
  };
  const storage: Handler = (method, path, query, body, raw) => {
    const object = /^(?:\/upload)?(?:\/storage\/v1)?\/b\/([^/]+)\/o$/.exec(path);
    if (object && method === 'POST') {
      const name = query.get('name') ?? (text(body?.name) || `object-${++sequence}`);
      const media = multipartMedia(raw);
      uploads.set(name, media);
      const stored = {
        kind: 'storage#object',
        name,
        bucket: object[1],
        generation: String(++sequence),
        size: String(media.length),
        md5Hash: createHash('md5').update(media).digest('base64'),
      };
      put('storage', `b/${object[1] ?? ''}/o/${name}`, stored);
      return stored;
    }
    let m = /^(?:\/storage\/v1)?\/b\/([^/]+)$/.exec(path);
    if (m && method === 'GET') {
      const bucket = resources.get(key('storage', `b/${m[1] ?? ''}`));
      if (!bucket) throw new HttpError(404, 'NOT_FOUND', 'The specified bucket does not exist.');
      return bucket;
    }
    m = /^(?:\/storage\/v1)?\/b$/.exec(path);
    if (m && method === 'POST') {
      const name = text(body?.name);
      const bucket = { kind: 'storage#bucket', id: name, name, projectNumber, location: 'US' };
      put('storage', `b/${name}`, bucket);
      return bucket;
    }
    if (m && method === 'GET') {
      const items = [...resources.entries()]
        .filter(([k]) => /^storage b\/[^/]+$/.test(k))
        .map(([, bucket]) => bucket);
      return { kind: 'storage#buckets', items };
    }
    return undefined;
  };
  const cloudBuild: Handler = (method, path, _query, body) => {
    let m = /^\/v1\/(projects\/[^/]+(?:\/locations\/[^/]+)?)\/builds$/.exec(path);
    if (m && method === 'POST') {
      const id = `build-${++sequence}`;
      const name = `${m[1] ?? ''}/builds/${id}`;
      const build: Json = {
        ...body,
        id,
        name,
        projectId,
        status: 'QUEUED',
        createTime: stamp(),
        logUrl: `${base()}/logs/${id}`,
      };
      put('cloudbuild', name, build);
      // gcloud polls the operation named after the build.
      return operation(
        `${m[1] ?? ''}/operations/${id}`,
        () => {
          build.status = 'SUCCESS';
          build.results = {
            images: [
              {
                name: (body?.images as string[] | undefined)?.[0] ?? '',
                digest: 'sha256:0',
              },
            ],
          };
          return build;
        },
        {
          '@type': 'type.googleapis.com/google.devtools.cloudbuild.v1.BuildOperationMetadata',
          build,
        },
      );
    }
    m = /^\/v1\/(projects\/[^/]+(?:\/locations\/[^/]+)?)\/builds\/([^/:]+)$/.exec(path);
    if (m && method === 'GET') {
      const found = [...resources.entries()].find(
        ([k]) => k.startsWith('cloudbuild ') && k.endsWith(`/builds/${m?.[2] ?? ''}`),
      );
      if (!found) throw notFound('Build');
      return found[1];
    }
    m = /^\/v1\/((?:projects\/[^/]+\/locations\/[^/]+\/)?operations\/[^/]+)$/.exec(path);
    if (m && method === 'GET') return pollOperation(m[1] ?? '');
    return undefined;
  };

  const HANDLERS: Record<string, Handler> = {
    serviceusage: serviceUsage,
    cloudresourcemanager: resourceManager,
    iam: iamApi,
    firestore,
    firebaserules: rules,
    cloudfunctions: functions,
    run,
    pubsub,
    logging,
    monitoring,
    cloudscheduler: scheduler,
    artifactregistry: artifactRegistry,
    storage,
    cloudbuild: cloudBuild,
  };

  const server = createServer((request, response) => {
    void (async () => {
      const raw = await readBody(request);
      const target = request.url ?? '/';
      let url: URL;
      // A proxied request (absolute URL). Cloud Run's host is `REGION-127.0.0.1`, which WHATWG
      // URL parsing refuses (it ends like an IPv4 address): split it by hand.
      const absolute = /^https?:\/\/([^/?#]+)(.*)$/.exec(target);
      if (absolute) {
        const host = absolute[1] ?? '';
        if (!LOOPBACK_HOST.test(host)) {
          escapes.push(`${request.method ?? ''} ${target}`);
          return fail(
            response,
            new HttpError(403, 'PERMISSION_DENIED', `fake: no way out to ${host}`),
          );
        }
        url = new URL(absolute[2] === '' ? '/' : (absolute[2] ?? '/'), 'http://127.0.0.1');
      } else {
        url = new URL(target, 'http://127.0.0.1');
      }
      const segments = url.pathname.split('/');
      let api = segments[1] ?? '';
      let path = `/${segments.slice(2).join('/')}`;
      if (api === 'upload' && request.method === 'PUT') {
        uploads.set(segments[2] ?? '', raw);
        requests.push({ method: 'PUT', api: 'upload', path, query: {} });
        response.writeHead(200);
        response.end();
        return;
      }
      if (api === 'upload' && segments[2] === 'storage') {
        // Cloud Storage media uploads keep their own root path.
        api = 'storage';
        path = url.pathname;
      } else if (!(api in HANDLERS)) {
        // The pacer CLI's Scheduler client has no path prefix.
        api = 'cloudscheduler';
        path = url.pathname;
      }
      path = decodeURIComponent(path);
      requests.push({
        method: request.method ?? '',
        api,
        path,
        query: Object.fromEntries(url.searchParams),
      });
      let body: Json | null = null;
      if (raw.length > 0) {
        try {
          body = JSON.parse(raw.toString()) as Json;
        } catch {
          body = null;
        }
      }
      const answer = HANDLERS[api]?.(request.method ?? '', path, url.searchParams, body, raw);
      if (answer === undefined) {
        throw new HttpError(
          404,
          'NOT_FOUND',
          `fake: no route for ${request.method ?? ''} ${api} ${path}`,
        );
      }
      response.writeHead(200, { 'content-type': 'application/json' });
      response.end(JSON.stringify(answer));
    })().catch((failure: unknown) => fail(response, failure));
  });
  server.on('connect', (request, socket) => {
    escapes.push(`CONNECT ${request.url ?? ''}`);
    socket.end('HTTP/1.1 403 Forbidden\r\n\r\n');
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  port = (server.address() as AddressInfo).port;

  const fake: GoogleFake = {
    endpoint: base(),
    port,
    projectId,
    projectNumber,
    resources,
    policies,
    services,
    uploads,
    requests,
    escapes,
    refusals,
    options: opts,
    mutating: () =>
      requests.filter(
        (r) =>
          MUTATING.has(r.method) &&
          !READ_VERBS.test(r.path) &&
          !(r.api === 'cloudresourcemanager' && r.path.endsWith(':getIamPolicy')),
      ),
    list: (api, pattern) =>
      Object.fromEntries(
        [...resources.entries()]
          .filter(
            ([k]) => k.startsWith(`${api} `) && (pattern?.test(k.slice(api.length + 1)) ?? true),
          )
          .map(([k, value]) => [k.slice(api.length + 1), value]),
      ),
    env: (configDir) => ({
      CLOUDSDK_CONFIG: configDir,
      CLOUDSDK_AUTH_DISABLE_CREDENTIALS: 'true',
      CLOUDSDK_CORE_DISABLE_USAGE_REPORTING: 'true',
      CLOUDSDK_COMPONENT_MANAGER_DISABLE_UPDATE_CHECK: 'true',
      // No look for a metadata server (on a Google Cloud machine it would answer).
      CLOUDSDK_CORE_CHECK_GCE_METADATA: 'false',
      CLOUDSDK_CORE_DISABLE_PROMPTS: '1',
      CLOUDSDK_PROXY_TYPE: 'http',
      CLOUDSDK_PROXY_ADDRESS: '127.0.0.1',
      CLOUDSDK_PROXY_PORT: String(port),
      ...Object.fromEntries(
        GCLOUD_APIS.map((api) => [
          `CLOUDSDK_API_ENDPOINT_OVERRIDES_${api.toUpperCase()}`,
          `${base()}/${api}/`,
        ]),
      ),
      PACER_FIREBASERULES_ENDPOINT: `${base()}/firebaserules/`,
      PACER_SCHEDULER_ENDPOINT: base(),
    }),
    close: () =>
      new Promise<void>((resolve, reject) => {
        server.closeAllConnections();
        server.close((failure) => (failure ? reject(failure) : resolve()));
      }),
  };
  return fake;
}

function fail(response: ServerResponse, failure: unknown): void {
  const error =
    failure instanceof HttpError ? failure : new HttpError(500, 'INTERNAL', String(failure));
  response.writeHead(error.code, { 'content-type': 'application/json' });
  response.end(
    JSON.stringify({ error: { code: error.code, message: error.message, status: error.status } }),
  );
}

function getPath(value: unknown, path: readonly string[]): unknown {
  let current = value;
  for (const part of path) current = (current as Json | undefined)?.[part];
  return current;
}
function setPath(target: Json, path: readonly string[], value: unknown): void {
  let current = target;
  for (const part of path.slice(0, -1)) {
    current[part] = { ...(current[part] ?? {}) };
    current = current[part] as Json;
  }
  const last = path.at(-1) ?? '';
  // eslint-disable-next-line @typescript-eslint/no-dynamic-delete -- a field mask's path
  if (value === undefined) delete current[last];
  else current[last] = value;
}

/** The media part of a multipart/related upload (metadata first, then the bytes). */
function multipartMedia(raw: Buffer): Buffer {
  const firstLine = raw.indexOf('\n');
  if (!raw.subarray(0, 2).equals(Buffer.from('--')) || firstLine < 0) return raw;
  const boundary = raw.subarray(0, raw[firstLine - 1] === 13 ? firstLine - 1 : firstLine);
  const second = raw.indexOf(boundary, firstLine);
  if (second < 0) return raw;
  const crlf = raw.indexOf('\r\n\r\n', second);
  const lf = raw.indexOf('\n\n', second);
  const start = lf >= 0 && (crlf < 0 || lf < crlf) ? lf + 2 : crlf + 4;
  let end = raw.lastIndexOf(boundary);
  if (end <= start) end = raw.length;
  if (raw[end - 1] === 10) end--;
  if (raw[end - 1] === 13) end--;
  return raw.subarray(start, end);
}

/** A JSON field as a string ('' when it is not one). */
function text(value: unknown): string {
  return typeof value === 'string' ? value : '';
}
