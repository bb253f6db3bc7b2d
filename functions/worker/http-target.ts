/**
 * The `http` syncer: sends `{ scheduleId, dueAt, lane, attempt, kind, payload }` as JSON to the
 * schedule's URL (POST, or the target's `method`: PUT or PATCH) and classifies the answer. 2xx
 * is success; network errors, timeouts, 408, 429 and 5xx are retryable; any other status is
 * permanent. Targets that resolve to private, loopback, link-local or metadata addresses are
 * refused unless their network is allowed
 * (`PACER_ALLOW_TARGET_NETWORKS`), checked on the address actually connected to.
 */
import { lookup as dnsLookup, type LookupAddress, type LookupOptions } from 'node:dns';
import http from 'node:http';
import https from 'node:https';
import { isIP } from 'node:net';
import type { Env } from '../config.js';
import { PacerError } from '../errors.js';
import { isRateLimitStatus } from '../ratelimit/retry-after.js';
import type { HttpTarget } from '../schedule/spec.js';
import { iso } from '../schedule/time.js';
import { judgeAddress, parseNetworks, type Cidr } from './address-policy.js';
import type { SyncContext, SyncResult } from './context.js';
import { redactSecrets, secretRefusal, type SecretBindings } from './secrets.js';

/** Most of a response body pacer reads (and keeps a snippet of); the rest is discarded. */
export const RESPONSE_LIMIT_BYTES = 64 * 1024;

export interface HttpSyncOptions {
  /** CIDR ranges targets may resolve into although not public. */
  allowNetworks: readonly string[];
  /** Where `secretEnv` header values are read from (the worker's environment). */
  env: Env;
  /** Secret variable → the host patterns it may be sent to (`PACER_SECRET_HOSTS`). */
  secretHosts?: SecretBindings;
  /** Resolves host names; DNS by default (tests pass a stub). */
  lookup?: Resolver;
}

/** The part of `dns.lookup` pacer uses: every address of a name. */
export type Resolver = (
  hostname: string,
  callback: (error: NodeJS.ErrnoException | null, addresses: LookupAddress[]) => void,
) => void;

const DNS: Resolver = (hostname, callback) => {
  dnsLookup(hostname, { all: true }, callback);
};

/** Runs one sync against an http target. */
export async function syncHttp(
  target: HttpTarget,
  context: SyncContext,
  options: HttpSyncOptions,
): Promise<SyncResult> {
  const url = new URL(target.url);
  const allowed = parseNetworks(options.allowNetworks);
  const literal = url.hostname.replace(/^\[|\]$/g, '');
  // Node connects to an IP literal without a lookup, so check it here.
  if (isIP(literal)) checkAddress(literal, url, allowed);
  const body = Buffer.from(
    JSON.stringify({
      scheduleId: context.scheduleId,
      dueAt: iso(context.dueAt),
      lane: context.lane,
      attempt: context.attempt,
      // Which point this call serves and why: `manual` and `backfill` are an operator's.
      kind: context.kind ?? 'planned',
      payload: context.payload,
    }),
  );
  const headers: Record<string, string> = {
    ...resolveHeaders(target, options.env, url, options.secretHosts ?? new Map()),
    'content-type': 'application/json',
    'content-length': String(body.length),
    'user-agent': 'pacer',
    'x-pacer-schedule-id': context.scheduleId,
    'x-pacer-lease-id': context.leaseId,
  };
  const client = url.protocol === 'https:' ? https : http;

  return new Promise<SyncResult>((resolve, reject) => {
    const request = client.request(url, {
      method: target.method ?? 'POST',
      headers,
      signal: context.signal,
      lookup: guardedLookup(url, allowed, options.lookup ?? DNS),
    });
    request.on('error', (error) => {
      reject(classifyError(error, context.signal, url));
    });
    request.on('response', (response) => {
      const chunks: Buffer[] = [];
      let received = 0;
      let truncated = false;
      response.on('data', (chunk: Buffer) => {
        if (received < RESPONSE_LIMIT_BYTES) {
          chunks.push(chunk.subarray(0, RESPONSE_LIMIT_BYTES - received));
        }
        received += chunk.length;
        if (received > RESPONSE_LIMIT_BYTES && !truncated) {
          truncated = true;
          response.destroy(); // read enough: never buffer a large body
        }
      });
      const settle = () => {
        const status = response.statusCode ?? 0;
        // Redacted before it is cut: a cut could leave part of a secret no redaction finds.
        const snippet = redactSecrets(Buffer.concat(chunks).toString('utf8'), options.env).slice(
          0,
          200,
        );
        const detail = { status, responseBytes: received, truncated };
        if (status >= 200 && status < 300) {
          resolve(detail);
          return;
        }
        const retryable = status === 408 || status === 429 || status >= 500;
        const retryAfter = response.headers['retry-after'];
        // A 429 or 503 saying when to come back: the worker blocks the schedule's provider key
        // until then and retries without counting the attempt (functions/worker/deliver.ts).
        const rateLimited = isRateLimitStatus(status) && typeof retryAfter === 'string';
        reject(
          new PacerError(
            rateLimited
              ? 'target_rate_limited'
              : retryable
                ? 'target_unavailable'
                : 'target_rejected',
            `${url.origin}${url.pathname} answered ${status}${rateLimited ? ` (Retry-After: ${retryAfter})` : ''}${snippet ? `: ${snippet}` : ''}`,
            { ...detail, snippet, ...(rateLimited ? { retryAfter } : {}) },
          ),
        );
      };
      response.on('end', settle);
      response.on('close', () => {
        if (truncated) settle();
        else if (!response.complete) {
          reject(classifyError(new Error('the response ended early'), context.signal, url));
        }
      });
      response.on('error', (error) => {
        if (!truncated) reject(classifyError(error, context.signal, url));
      });
    });
    request.end(body);
  });
}

/**
 * Header values, with `{ secretEnv }` read from the worker's environment — refused for a host a
 * binding does not allow, whatever the schedule's validation said when it was written.
 */
function resolveHeaders(
  target: HttpTarget,
  env: Env,
  url: URL,
  bindings: SecretBindings,
): Record<string, string> {
  const headers: Record<string, string> = {};
  for (const [name, value] of Object.entries(target.headers ?? {})) {
    if (typeof value === 'string') {
      headers[name] = value;
      continue;
    }
    const refusal = secretRefusal(value.secretEnv, url.hostname, bindings);
    if (refusal !== null) {
      throw new PacerError('target_secret_forbidden', `target.headers.${name}: ${refusal}`, {
        header: name,
        variable: value.secretEnv,
      });
    }
    const secret = env[value.secretEnv];
    if (secret === undefined || secret === '') {
      throw new PacerError(
        'target_secret_missing',
        `target.headers.${name}: the variable ${value.secretEnv} is not set in the worker's environment`,
        { header: name, variable: value.secretEnv },
      );
    }
    headers[name] = secret;
  }
  return headers;
}

/** Refuses an address that is not public unicast, unless its network is allowed. */
function checkAddress(address: string, url: URL, allowed: readonly Cidr[]): void {
  const verdict = judgeAddress(address, allowed);
  if (verdict.allowed) return;
  throw new PacerError(
    'target_forbidden',
    `target ${url.origin} resolves to ${verdict.address} (${verdict.why}), which is not allowed` +
      (verdict.why === 'a metadata server'
        ? ''
        : '; allow its network with PACER_ALLOW_TARGET_NETWORKS if that is intended'),
    { address: verdict.address, range: verdict.why },
  );
}

/** A DNS lookup that refuses forbidden addresses at connect time (no rebinding gap). */
export function guardedLookup(url: URL, allowed: readonly Cidr[], resolve: Resolver) {
  return (
    hostname: string,
    options: LookupOptions,
    callback: (
      error: NodeJS.ErrnoException | null,
      address: string | LookupAddress[],
      family?: number,
    ) => void,
  ): void => {
    resolve(hostname, (error, addresses) => {
      if (error) {
        callback(error, []);
        return;
      }
      try {
        for (const { address } of addresses) checkAddress(address, url, allowed);
      } catch (refusal) {
        callback(refusal as NodeJS.ErrnoException, []);
        return;
      }
      if (options.all) callback(null, addresses);
      else callback(null, addresses[0]?.address ?? '', addresses[0]?.family ?? 4);
    });
  };
}

/** Turns a request failure into a coded error: timeout, lease lost, refused, or network. */
function classifyError(error: unknown, signal: AbortSignal, url: URL): Error {
  if (error instanceof PacerError) return error;
  if (signal.aborted) {
    const reason: unknown = signal.reason;
    if (reason instanceof PacerError) return reason;
    return new PacerError(
      'target_timeout',
      `${url.origin}${url.pathname} did not answer in time`,
      {},
      { cause: error },
    );
  }
  const code = (error as NodeJS.ErrnoException).code;
  return new PacerError(
    'target_network',
    `${url.origin}${url.pathname} could not be reached: ${code ?? (error as Error).message}`,
    { errno: code },
    { cause: error },
  );
}
