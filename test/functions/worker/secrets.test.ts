/**
 * Secrets (issue 13, "Why" 6): bound to the hosts they are meant for, and never stored or logged.
 * The end-to-end cases run the real worker and dead-letter recorder on the in-memory store and
 * bus against a target on loopback that echoes the request back.
 */
import { once } from 'node:events';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { MemoryDeadLetterBus, MemoryPubSub } from '../../../functions/bus/memory.js';
import { encodeMessage } from '../../../functions/bus/message.js';
import { systemClock } from '../../../functions/clock.js';
import { defaultSettings, loadSettings } from '../../../functions/config.js';
import { recordDeadLetter } from '../../../functions/deadletter/record.js';
import { claim, specHash } from '../../../functions/protocol/decisions.js';
import { EMPTY_STATE } from '../../../functions/protocol/state.js';
import { iso } from '../../../functions/schedule/time.js';
import { MemoryStore } from '../../../functions/store/memory.js';
import { describeTopology } from '../../../functions/topology.js';
import { handleDelivery } from '../../../functions/worker/deliver.js';
import {
  hostMatches,
  parseSecretBindings,
  redactSecrets,
  secretRefusal,
} from '../../../functions/worker/secrets.js';
import { capturingLogger } from '../../support/fixtures.js';

describe('PACER_SECRET_HOSTS', () => {
  it.each([
    ['', {}],
    ['none', {}],
    ['PACER_SECRET_CRM:api.crm.example', { PACER_SECRET_CRM: ['api.crm.example'] }],
    [
      ' PACER_SECRET_CRM : api.crm.example , *.crm.example ; PACER_SECRET_ERP:erp.example;',
      { PACER_SECRET_CRM: ['api.crm.example', '*.crm.example'], PACER_SECRET_ERP: ['erp.example'] },
    ],
    ['PACER_SECRET_CRM:API.CRM.example', { PACER_SECRET_CRM: ['api.crm.example'] }],
  ])('reads %j', (text, expected) => {
    const parsed = parseSecretBindings(text);
    expect(parsed.ok && Object.fromEntries(parsed.bindings)).toEqual(expected);
  });

  it.each([
    ['CRM_TOKEN:api.crm.example', '"CRM_TOKEN" is not a secret variable name (PACER_SECRET_…)'],
    [
      'PACER_SECRET_CRM:',
      'PACER_SECRET_CRM: "" is not a host pattern (api.example.com or *.example.com)',
    ],
    [
      'PACER_SECRET_CRM:https://api.crm.example',
      'PACER_SECRET_CRM: "https://api.crm.example" is not a host pattern (api.example.com or *.example.com)',
    ],
    [
      'PACER_SECRET_CRM:*.*.example',
      'PACER_SECRET_CRM: "*.*.example" is not a host pattern (api.example.com or *.example.com)',
    ],
  ])('refuses %j: %s', (text, problem) => {
    expect(parseSecretBindings(text)).toEqual({ ok: false, problem });
  });

  it('is a setting with a clear error', () => {
    expect(() => loadSettings({ PACER_SECRET_HOSTS: 'CRM:x' })).toThrow(/PACER_SECRET_HOSTS/);
    expect(
      loadSettings({ PACER_SECRET_HOSTS: 'PACER_SECRET_CRM:*.crm.example' }).secretHosts,
    ).toEqual({ PACER_SECRET_CRM: ['*.crm.example'] });
  });

  it.each([
    ['api.crm.example', 'api.crm.example', true],
    ['API.CRM.EXAMPLE.', 'api.crm.example', true],
    ['evil-api.crm.example', 'api.crm.example', false],
    ['a.crm.example', '*.crm.example', true],
    ['a.b.crm.example', '*.crm.example', true],
    ['crm.example', '*.crm.example', false],
    ['evilcrm.example', '*.crm.example', false],
    ['crm.example.evil.test', '*.crm.example', false],
  ])('host %s against %s: %s', (host, pattern, matches) => {
    expect(hostMatches(host, pattern)).toBe(matches);
  });

  it('lets an unbound secret go anywhere, a bound one only where it is bound', () => {
    const bindings = new Map([['PACER_SECRET_CRM', ['api.crm.example']]]);
    expect(secretRefusal('PACER_SECRET_OTHER', 'anywhere.example', bindings)).toBeNull();
    expect(secretRefusal('PACER_SECRET_CRM', 'api.crm.example', bindings)).toBeNull();
    expect(secretRefusal('PACER_SECRET_CRM', 'collector.example', bindings)).toBe(
      'PACER_SECRET_CRM may only be sent to api.crm.example (PACER_SECRET_HOSTS), not collector.example',
    );
  });
});

describe('redactSecrets', () => {
  const env = {
    PACER_SECRET_CRM: 'Bearer tok/en+"quoted"',
    PACER_SECRET_SHORT: 'abc',
    NOT_A_SECRET: 'visible-value',
  };
  it.each([
    ['as sent', 'got Bearer tok/en+"quoted" back', 'got [redacted:PACER_SECRET_CRM] back'],
    [
      'inside JSON',
      '{"authorization":"Bearer tok/en+\\"quoted\\""}',
      '{"authorization":"[redacted:PACER_SECRET_CRM]"}',
    ],
    ['URL-encoded', 'echo=Bearer%20tok%2Fen%2B%22quoted%22', 'echo=[redacted:PACER_SECRET_CRM]'],
    [
      'twice',
      'Bearer tok/en+"quoted" Bearer tok/en+"quoted"',
      '[redacted:PACER_SECRET_CRM] [redacted:PACER_SECRET_CRM]',
    ],
    ['not a secret variable', 'visible-value', 'visible-value'],
    ['too short to redact safely', 'abc abc', 'abc abc'],
  ])('%s', (_what, text, expected) => {
    expect(redactSecrets(text, env)).toBe(expected);
  });
});

// ---------------------------------------------------------------------------------------------
// The worker, end to end on the in-memory store and bus.

const SECRET = `s3cret-${randomUUID()}`;
let base = '';
/** Echoes the request's authorization header back, with the status the path names. */
const echo = http.createServer((request, response) => {
  request.resume();
  request.on('end', () => {
    const status = Number((request.url ?? '/200').slice(1));
    response.writeHead(status, { 'content-type': 'application/json' });
    // Long enough that the 200-character snippet would cut a secret placed at its end.
    response.end(
      JSON.stringify({ padding: 'p'.repeat(150), seen: request.headers.authorization ?? null }),
    );
  });
});
beforeAll(async () => {
  echo.listen(0, '127.0.0.1');
  await once(echo, 'listening');
  base = `http://127.0.0.1:${(echo.address() as AddressInfo).port}`;
});
afterAll(() => {
  echo.close();
});

async function deliverTo(status: number) {
  const settings = { ...defaultSettings(), maxAttempts: 3 };
  const topology = describeTopology(settings);
  const store = new MemoryStore({ now: Date.now });
  const document = {
    name: 'echo',
    cadence: { kind: 'interval', every: '1m' },
    target: {
      type: 'http',
      url: `${base}/${status}`,
      headers: { authorization: { secretEnv: 'PACER_SECRET_CRM' } },
    },
  };
  store.put('echo', document, {
    ...EMPTY_STATE,
    status: 'active',
    lane: 'high',
    nextDueAt: Date.now() - 1_000,
    specHash: specHash(document),
  });
  const lease = await store.transact('echo', (subject, now) =>
    claim(
      subject ?? (null as never),
      { leaseId: 'lease-1', graceMs: 60_000, thresholds: settings.laneThresholds },
      now,
    ),
  );
  if (lease.kind !== 'claimed') throw new Error(`not claimed: ${lease.kind}`);
  const { logger, lines } = capturingLogger('worker');
  const pubsub = new MemoryPubSub({
    now: Date.now,
    after: (ms, action) => void setTimeout(action, ms),
  });
  const recorded: Promise<unknown>[] = [];
  pubsub.subscribe(
    topology.deadLetter.topic,
    {
      name: topology.deadLetter.subscription,
      concurrency: 1,
      retry: topology.deadLetter.retry,
      ackDeadlineMs: 60_000,
      deliveryLatencyMs: 0,
      deadLetter: null,
    },
    (event) => {
      const done = recordDeadLetter({ store, settings, logger, clock: systemClock }, event);
      recorded.push(done);
      return done;
    },
  );
  const message = encodeMessage({
    v: 1,
    scheduleId: 'echo',
    leaseId: lease.lease.id,
    dueAt: iso(lease.lease.dueAt),
    lane: 'high',
  });
  const event = {
    id: 'e1',
    data: {
      message: {
        data: message.data.toString('base64'),
        attributes: message.attributes,
        messageId: 'm1',
      },
    },
  };
  const outcome = await handleDelivery(
    {
      store,
      deadLetters: new MemoryDeadLetterBus(pubsub, topology.deadLetter.topic),
      settings,
      topology,
      logger,
      clock: systemClock,
      newId: randomUUID,
      syncer: {
        allowNetworks: ['127.0.0.0/8'],
        env: { PACER_SECRET_CRM: SECRET },
        secretHosts: new Map([['PACER_SECRET_CRM', ['127.0.0.1']]]),
      },
      jobs: {
        launch: () => Promise.reject(new Error('no runner: "job" schedule here')),
      },
    },
    'high',
    event,
  ).catch((error: unknown) => error);
  await new Promise((resolve) => setTimeout(resolve, 20));
  await Promise.all(recorded);
  return { outcome, store, lines };
}

describe('a target that echoes the secret back', () => {
  it('in a 401: the dead letter, state, run history and logs carry the redaction, never the secret', async () => {
    const { outcome, store, lines } = await deliverTo(401);
    expect(outcome).toBe('dead_lettered');
    const state = store.peek('echo')?.state;
    expect(state?.lastError?.code).toBe('target_rejected');
    expect(state?.lastError?.message).toContain('[redacted:PACER_SECRET_CRM]');
    const letters = store.deadLetters();
    expect(letters).toHaveLength(1);
    expect(letters[0]?.record.lastError?.message).toContain('[redacted:PACER_SECRET_CRM]');
    const everything = JSON.stringify({
      state,
      runs: store.runRecords('echo'),
      letters,
      lines,
    });
    expect(everything).not.toContain(SECRET);
    // Nor any part of it long enough to matter (a snippet cut through it).
    expect(everything).not.toContain(SECRET.slice(0, 12));
  });

  it('in a 500: the retried failure, its state and its log carry the redaction, never the secret', async () => {
    const { outcome, store, lines } = await deliverTo(500);
    expect(outcome).toBeInstanceOf(Error);
    expect((outcome as Error).message).toContain('[redacted:PACER_SECRET_CRM]');
    expect((outcome as Error).message).not.toContain(SECRET);
    const state = store.peek('echo')?.state;
    expect(state?.lastError?.message).toContain('[redacted:PACER_SECRET_CRM]');
    expect(JSON.stringify({ state, lines })).not.toContain(SECRET.slice(0, 12));
  });

  it('to a host the binding does not allow: refused before anything is sent, permanently', async () => {
    const settings = defaultSettings();
    const { syncHttp } = await import('../../../functions/worker/http-target.js');
    const error = await syncHttp(
      {
        type: 'http',
        url: `${base.replace('127.0.0.1', 'localhost')}/200`,
        headers: { authorization: { secretEnv: 'PACER_SECRET_CRM' } },
      },
      {
        scheduleId: 'echo',
        leaseId: 'l',
        dueAt: Date.now(),
        lane: 'high',
        attempt: 1,
        payload: {},
        signal: AbortSignal.timeout(5_000),
        logger: capturingLogger().logger,
      },
      {
        allowNetworks: ['127.0.0.0/8'],
        env: { PACER_SECRET_CRM: SECRET },
        secretHosts: new Map([['PACER_SECRET_CRM', ['127.0.0.1']]]),
      },
    ).catch((e: unknown) => e);
    expect(error).toMatchObject({
      code: 'target_secret_forbidden',
      message:
        'target.headers.authorization: PACER_SECRET_CRM may only be sent to 127.0.0.1 (PACER_SECRET_HOSTS), not localhost',
    });
    expect(settings.maxAttempts).toBeGreaterThan(0);
  });
});
