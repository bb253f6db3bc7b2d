/**
 * The http syncer against a real local HTTP server: what it sends, how it classifies answers
 * and failures, and which addresses it refuses.
 */
import { once } from 'node:events';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { PacerError, isRetryable } from '../../../functions/errors.js';
import { createLogger } from '../../../functions/log.js';
import type { HttpTarget } from '../../../functions/schedule/spec.js';
import type { SyncContext } from '../../../functions/worker/context.js';
import { RESPONSE_LIMIT_BYTES, syncHttp } from '../../../functions/worker/http-target.js';

interface Seen {
  path: string;
  headers: http.IncomingHttpHeaders;
  body: unknown;
}
const seen: Seen[] = [];
let base = '';
const server = http.createServer((request, response) => {
  let body = '';
  request.on('data', (chunk: Buffer) => (body += chunk.toString()));
  request.on('end', () => {
    seen.push({ path: request.url ?? '', headers: request.headers, body: JSON.parse(body) });
    const [, kind, value] = (request.url ?? '').split('/');
    if (kind === 'status') {
      response.writeHead(Number(value), { 'content-type': 'text/plain' });
      response.end(`status ${value}`);
    } else if (kind === 'limited') {
      // /limited/STATUS/RETRY-AFTER
      const retryAfter = decodeURIComponent((request.url ?? '').split('/')[3] ?? '');
      response.writeHead(Number(value), {
        'content-type': 'text/plain',
        'retry-after': retryAfter,
      });
      response.end('slow down');
    } else if (kind === 'slow') {
      setTimeout(() => response.end('late'), Number(value));
    } else if (kind === 'big') {
      response.writeHead(200);
      response.end(Buffer.alloc(RESPONSE_LIMIT_BYTES * 4, 'x'));
    } else if (kind === 'reset') {
      request.socket.destroy();
    } else {
      response.end('ok');
    }
  });
});
beforeAll(async () => {
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});
afterAll(() => {
  server.close();
});

const LOOPBACK = ['127.0.0.0/8'];

function context(signal = AbortSignal.timeout(5_000)): SyncContext {
  return {
    scheduleId: 'race-974559',
    leaseId: 'lease-1',
    dueAt: Date.parse('2026-06-20T08:29:00Z'),
    lane: 'high',
    attempt: 2,
    payload: { raceId: 974559 },
    signal,
    logger: createLogger({ level: 'silent', pretty: false, service: 'test' }),
  };
}

function target(path: string, headers?: HttpTarget['headers']): HttpTarget {
  return { type: 'http', url: `${base}${path}`, ...(headers ? { headers } : {}) };
}

async function failure(promise: Promise<unknown>): Promise<PacerError> {
  try {
    await promise;
  } catch (error) {
    if (error instanceof PacerError) return error;
    throw error;
  }
  throw new Error('expected the sync to fail');
}

describe('the http syncer', () => {
  it('POSTs the schedule id, due time, lane, attempt and payload as JSON, with named secret headers', async () => {
    const result = await syncHttp(
      target('/ok', { Authorization: { secretEnv: 'PACER_SECRET_TOKEN' }, 'X-Source': 'pacer' }),
      context(),
      { allowNetworks: LOOPBACK, env: { PACER_SECRET_TOKEN: 'Bearer s3cret' } },
    );
    expect(result).toEqual({ status: 200, responseBytes: 2, truncated: false });
    const request = seen.at(-1);
    expect(request?.body).toEqual({
      scheduleId: 'race-974559',
      dueAt: '2026-06-20T08:29:00.000Z',
      lane: 'high',
      attempt: 2,
      kind: 'planned',
      payload: { raceId: 974559 },
    });
    expect(request?.headers).toMatchObject({
      'content-type': 'application/json',
      authorization: 'Bearer s3cret',
      'x-source': 'pacer',
      'x-pacer-schedule-id': 'race-974559',
      'x-pacer-lease-id': 'lease-1',
    });
  });

  it.each([
    [408, 'target_unavailable', true],
    [429, 'target_unavailable', true],
    [500, 'target_unavailable', true],
    [503, 'target_unavailable', true],
    [400, 'target_rejected', false],
    [404, 'target_rejected', false],
    [301, 'target_rejected', false],
  ] as const)('classifies a %i answer as %s (retryable: %s)', async (status, code, retryable) => {
    const error = await failure(
      syncHttp(target(`/status/${status}`), context(), { allowNetworks: LOOPBACK, env: {} }),
    );
    expect(error.code).toBe(code);
    expect(isRetryable(error)).toBe(retryable);
    expect(error.message).toContain(`answered ${status}: status ${status}`);
  });

  it.each([
    [429, '30'],
    [503, 'Sat, 20 Jun 2026 08:30:00 GMT'],
  ])(
    'classifies a %i with Retry-After as target_rate_limited, keeping the header for the worker',
    async (status, retryAfter) => {
      const error = await failure(
        syncHttp(target(`/limited/${status}/${encodeURIComponent(retryAfter)}`), context(), {
          allowNetworks: LOOPBACK,
          env: {},
        }),
      );
      expect(error.code).toBe('target_rate_limited');
      expect(isRetryable(error)).toBe(true);
      expect(error.details).toMatchObject({ status, retryAfter });
      expect(error.message).toContain(`answered ${status} (Retry-After: ${retryAfter})`);
    },
  );

  it('times out by the run time, retryably', async () => {
    const error = await failure(
      syncHttp(target('/slow/3000'), context(AbortSignal.timeout(200)), {
        allowNetworks: LOOPBACK,
        env: {},
      }),
    );
    expect(error.code).toBe('target_timeout');
    expect(isRetryable(error)).toBe(true);
  });

  it('treats a dropped connection and a refused port as retryable network errors', async () => {
    const reset = await failure(
      syncHttp(target('/reset'), context(), { allowNetworks: LOOPBACK, env: {} }),
    );
    expect(reset.code).toBe('target_network');
    const closed = http.createServer();
    closed.listen(0, '127.0.0.1');
    await once(closed, 'listening');
    const port = (closed.address() as AddressInfo).port;
    closed.close();
    const refused = await failure(
      syncHttp({ type: 'http', url: `http://127.0.0.1:${port}/x` }, context(), {
        allowNetworks: LOOPBACK,
        env: {},
      }),
    );
    expect(refused.code).toBe('target_network');
    expect(refused.message).toContain('ECONNREFUSED');
  });

  it('reads at most the response limit of a large body', async () => {
    const result = await syncHttp(target('/big'), context(), { allowNetworks: LOOPBACK, env: {} });
    expect(result).toMatchObject({ status: 200, truncated: true });
    expect(result.responseBytes).toBeGreaterThan(RESPONSE_LIMIT_BYTES);
  });

  it('passes the lease-lost reason through when the sync is aborted for it', async () => {
    const controller = new AbortController();
    setTimeout(() => controller.abort(new PacerError('lease_lost', 'taken')), 100);
    const error = await failure(
      syncHttp(target('/slow/3000'), context(controller.signal), {
        allowNetworks: LOOPBACK,
        env: {},
      }),
    );
    expect(error.code).toBe('lease_lost');
  });

  it('fails permanently when a secret variable is not set', async () => {
    const error = await failure(
      syncHttp(target('/ok', { Authorization: { secretEnv: 'PACER_SECRET_MISSING' } }), context(), {
        allowNetworks: LOOPBACK,
        env: {},
      }),
    );
    expect(error.code).toBe('target_secret_missing');
    expect(error.message).toBe(
      "target.headers.Authorization: the variable PACER_SECRET_MISSING is not set in the worker's environment",
    );
    expect(isRetryable(error)).toBe(false);
  });
});

describe('refused addresses', () => {
  it.each([
    ['http://169.254.169.254/computeMetadata/v1/', '169.254.169.254 (a metadata server)'],
    ['http://10.0.0.1/sync', '10.0.0.1 (private)'],
    ['http://192.168.1.20/sync', '192.168.1.20 (private)'],
    ['http://[::1]:9/sync', '::1 (loopback)'],
    ['http://[fe80::1]/sync', 'fe80::1 (linkLocal)'],
    ['http://[::ffff:127.0.0.1]/sync', '127.0.0.1 (loopback)'],
  ])('%s is refused by default', async (url, what) => {
    const error = await failure(
      syncHttp({ type: 'http', url }, context(), { allowNetworks: [], env: {} }),
    );
    expect(error.code).toBe('target_forbidden');
    expect(error.message).toContain(`resolves to ${what}, which is not allowed`);
    // The metadata server cannot be allowed, so the message does not offer to.
    expect(error.message.includes('PACER_ALLOW_TARGET_NETWORKS')).toBe(!what.includes('metadata'));
    expect(isRetryable(error)).toBe(false);
  });

  it('a host name that resolves to loopback is refused after the lookup', async () => {
    const port = new URL(base).port;
    const error = await failure(
      syncHttp({ type: 'http', url: `http://localhost:${port}/ok` }, context(), {
        allowNetworks: [],
        env: {},
      }),
    );
    expect(error.code).toBe('target_forbidden');
  });

  it('an allowed network is reached', async () => {
    const port = new URL(base).port;
    const result = await syncHttp({ type: 'http', url: `http://localhost:${port}/ok` }, context(), {
      allowNetworks: ['127.0.0.0/8', '::1/128'],
      env: {},
    });
    expect(result.status).toBe(200);
  });

  it('allowing one private network does not allow another', async () => {
    const error = await failure(
      syncHttp({ type: 'http', url: 'http://10.0.0.1/sync' }, context(), {
        allowNetworks: LOOPBACK,
        env: {},
      }),
    );
    expect(error.code).toBe('target_forbidden');
  });
});
