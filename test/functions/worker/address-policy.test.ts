/**
 * Which addresses an http target may reach (issue 13, "Why" 7), judged as pure decisions, and
 * applied by the http syncer to what a stub resolver answers — no request ever leaves the
 * machine: a refused address is refused before a socket opens.
 */
import type { LookupAddress } from 'node:dns';
import { describe, expect, it } from 'vitest';
import { PacerError, isRetryable } from '../../../functions/errors.js';
import { createLogger } from '../../../functions/log.js';
import {
  embeddedIPv4,
  judgeAddress,
  parseNetworks,
} from '../../../functions/worker/address-policy.js';
import type { SyncContext } from '../../../functions/worker/context.js';
import { syncHttp, type Resolver } from '../../../functions/worker/http-target.js';
import ipaddr from 'ipaddr.js';

describe('judgeAddress', () => {
  it.each([
    // address, allowlist, verdict ('allowed' or the reason)
    ['93.184.215.14', [], 'allowed'],
    ['2606:4700::1111', [], 'allowed'],
    ['127.0.0.1', [], 'loopback'],
    ['10.0.0.1', [], 'private'],
    ['172.16.5.4', [], 'private'],
    ['192.168.1.20', [], 'private'],
    ['100.64.0.1', [], 'carrierGradeNat'],
    ['0.0.0.0', [], 'unspecified'],
    ['169.254.1.1', [], 'linkLocal'],
    ['::1', [], 'loopback'],
    ['::', [], 'unspecified'],
    ['fe80::1', [], 'linkLocal'],
    ['fc00::1', [], 'uniqueLocal'],
    ['fd12:3456::1', [], 'uniqueLocal'],
    ['ff02::1', [], 'multicast'],
    // IPv4 carried in IPv6: judged by the IPv4 address.
    ['::ffff:127.0.0.1', [], 'loopback'],
    ['::ffff:10.1.2.3', [], 'private'],
    ['::7f00:1', [], 'loopback'],
    ['::a9fe:a9fe', [], 'a metadata server'],
    ['::ffff:a9fe:a9fe', [], 'a metadata server'],
    ['64:ff9b::a9fe:a9fe', [], 'a metadata server'],
    ['64:ff9b::7f00:1', [], 'loopback'],
    ['64:ff9b:1::a00:1', [], 'private'],
    ['2002:7f00:1::', [], 'loopback'],
    ['2002:a9fe:a9fe::1', [], 'a metadata server'],
    ['2001:0:4136:e378:8000:63bf:80ff:fffe', [], 'loopback'], // Teredo, client 127.0.0.1
    ['64:ff9b::5db8:d70e', [], 'allowed'], // NAT64 of a public address
    // IPv6 outside global unicast 2000::/3 is not public.
    ['100::1', [], 'discard'],
    ['2a00:1450::1', [], 'allowed'],
    ['4000::1', [], 'outside 2000::/3'],
    // Allowed networks open what they name, and nothing else.
    ['127.0.0.1', ['127.0.0.0/8'], 'allowed'],
    ['::7f00:1', ['127.0.0.0/8'], 'allowed'],
    ['10.0.0.1', ['127.0.0.0/8'], 'private'],
    ['fd12::1', ['fd00::/8'], 'allowed'],
    // The metadata server, whatever the allowlist says.
    ['169.254.169.254', ['0.0.0.0/0'], 'a metadata server'],
    ['169.254.169.254', ['169.254.0.0/16'], 'a metadata server'],
    ['169.254.169.254', ['169.254.169.254/32'], 'a metadata server'],
    ['::ffff:169.254.169.254', ['0.0.0.0/0', '::/0'], 'a metadata server'],
    ['::a9fe:a9fe', ['::/0', '0.0.0.0/0'], 'a metadata server'],
    ['fd00:ec2::254', ['::/0'], 'a metadata server'],
    ['169.254.170.2', ['169.254.0.0/16'], 'a metadata server'],
    ['169.254.1.1', ['169.254.0.0/16'], 'allowed'],
    // Zone ids and brackets are read, not trusted.
    ['[fe80::1%eth0]', [], 'linkLocal'],
    ['not-an-address', ['0.0.0.0/0'], 'not an IP address'],
  ])('%s with allowlist %j: %s', (address, allow, expected) => {
    const verdict = judgeAddress(address, parseNetworks(allow));
    expect(verdict.allowed ? 'allowed' : verdict.why).toBe(expected);
  });

  it('reads the IPv4 address every translation form carries', () => {
    const carried = (text: string) => embeddedIPv4(ipaddr.IPv6.parse(text))?.toString() ?? null;
    expect(carried('::ffff:1.2.3.4')).toBe('1.2.3.4');
    expect(carried('::102:304')).toBe('1.2.3.4');
    expect(carried('64:ff9b::102:304')).toBe('1.2.3.4');
    expect(carried('2002:102:304::')).toBe('1.2.3.4');
    expect(carried('2001:0:1:2:3:4:fefd:fcfb')).toBe('1.2.3.4');
    expect(carried('::1')).toBeNull();
    expect(carried('::')).toBeNull();
    expect(carried('2606:4700::1111')).toBeNull();
  });
});

function context(): SyncContext {
  return {
    scheduleId: 's',
    leaseId: 'lease-1',
    dueAt: Date.parse('2026-06-20T08:29:00Z'),
    lane: 'high',
    attempt: 1,
    payload: {},
    signal: AbortSignal.timeout(5_000),
    logger: createLogger({ level: 'silent', pretty: false, service: 'test' }),
  };
}

/** A resolver that answers from a table and records what it was asked. */
function stubResolver(answers: Record<string, string[]>): Resolver & { asked: string[] } {
  const asked: string[] = [];
  const resolve = (
    hostname: string,
    callback: (error: NodeJS.ErrnoException | null, addresses: LookupAddress[]) => void,
  ) => {
    asked.push(hostname);
    const addresses = (answers[hostname] ?? []).map((address) => ({
      address,
      family: address.includes(':') ? 6 : 4,
    }));
    queueMicrotask(() => {
      callback(null, addresses);
    });
  };
  return Object.assign(resolve, { asked });
}

async function refusal(promise: Promise<unknown>): Promise<PacerError> {
  try {
    await promise;
  } catch (error) {
    if (error instanceof PacerError) return error;
    throw error;
  }
  throw new Error('expected the sync to be refused');
}

describe('the http syncer refuses before it connects', () => {
  it.each([
    ['http://[::7f00:1]:9/sync', '::7f00:1 → 127.0.0.1 (loopback)', []],
    ['http://[::a9fe:a9fe]/latest', '169.254.169.254 (a metadata server)', []],
    ['http://[::ffff:a9fe:a9fe]/', '169.254.169.254 (a metadata server)', ['0.0.0.0/0']],
    [
      'http://169.254.169.254/computeMetadata/v1/',
      '169.254.169.254 (a metadata server)',
      ['169.254.0.0/16'],
    ],
    ['http://[64:ff9b::a00:1]/', '10.0.0.1 (private)', []],
  ])('an IP literal: %s', async (url, what, allow) => {
    const resolver = stubResolver({});
    const error = await refusal(
      syncHttp({ type: 'http', url }, context(), {
        allowNetworks: allow,
        env: {},
        lookup: resolver,
      }),
    );
    expect(error.code).toBe('target_forbidden');
    expect(error.message).toContain(`resolves to ${what.split(' → ').at(-1) ?? what}`);
    expect(isRetryable(error)).toBe(false);
    expect(resolver.asked).toEqual([]);
  });

  it.each([
    ['metadata.google.internal', ['169.254.169.254'], ['0.0.0.0/0'], 'a metadata server'],
    ['rebind.example', ['::a9fe:a9fe'], ['::/0'], 'a metadata server'],
    ['loop.example', ['::7f00:1'], [], 'loopback'],
    // One forbidden address among public ones refuses the lot (no picking the bad one later).
    ['mixed.example', ['93.184.215.14', '10.0.0.7'], [], 'private'],
    ['v6.example', ['fd00::5'], [], 'uniqueLocal'],
  ])('a name resolving to a forbidden address: %s → %j', async (host, addresses, allow, why) => {
    const resolver = stubResolver({ [host]: addresses });
    const error = await refusal(
      syncHttp({ type: 'http', url: `http://${host}/sync` }, context(), {
        allowNetworks: allow,
        env: {},
        lookup: resolver,
      }),
    );
    expect(error.code).toBe('target_forbidden');
    expect(error.message).toContain(`(${why}), which is not allowed`);
    expect(resolver.asked).toEqual([host]);
  });

  it('says how to allow a private network, but never offers to allow the metadata server', async () => {
    const privateRefusal = await refusal(
      syncHttp({ type: 'http', url: 'http://[::ffff:10.0.0.1]/' }, context(), {
        allowNetworks: [],
        env: {},
        lookup: stubResolver({}),
      }),
    );
    expect(privateRefusal.message).toBe(
      'target http://[::ffff:a00:1] resolves to 10.0.0.1 (private), which is not allowed; allow its network with PACER_ALLOW_TARGET_NETWORKS if that is intended',
    );
    const metadataRefusal = await refusal(
      syncHttp({ type: 'http', url: 'http://169.254.169.254/' }, context(), {
        allowNetworks: ['0.0.0.0/0'],
        env: {},
        lookup: stubResolver({}),
      }),
    );
    expect(metadataRefusal.message).toBe(
      'target http://169.254.169.254 resolves to 169.254.169.254 (a metadata server), which is not allowed',
    );
  });
});
