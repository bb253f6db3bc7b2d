/**
 * The loopback guard refuses and records what would leave loopback, and lets loopback through.
 * Checked without sending anything anywhere: each case runs in a fresh Node process whose
 * `net.Socket.prototype.connect` and `dns.lookup` are replaced by stubs *before* the guard is
 * loaded, so a call the guard lets through lands in a stub, never on the network.
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { GUARD_MODULE, readGuardLog } from './loopback.js';

const dir = mkdtempSync(join(tmpdir(), 'loopback-guard-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

interface Outcome {
  /** What reached the stubs (`connect host:port`, `lookup name`). */
  passed: string[];
  /** Error codes the calls ended with. */
  errors: string[];
  /** The guard's records. */
  recorded: string[];
}

/** Runs `calls` (JS using `net` and `dns`) under the guard, in a process of its own. */
function underGuard(calls: string, label: string): Outcome {
  const log = join(dir, `${label}.log`);
  const script = `
    const net = require('node:net');
    const dns = require('node:dns');
    const passed = [];
    const errors = [];
    net.Socket.prototype.connect = function (...args) {
      const o = Array.isArray(args[0]) ? args[0][0] : args[0];
      if (typeof o === 'object' && typeof o.lookup === 'function') {
        // As Node does with a caller's own lookup: resolve first, connect to what it answered.
        o.lookup(o.host, {}, (error, address) => {
          if (error) process.nextTick(() => this.emit('error', error));
          else passed.push('connect ' + o.host + ':' + o.port + ' at ' + address);
        });
        return this;
      }
      passed.push(typeof o === 'object' ? 'connect ' + (o.host ?? 'localhost') + ':' + o.port : 'connect ' + args.join(':'));
      return this;
    };
    dns.lookup = (host, ...rest) => { passed.push('lookup ' + host); rest.at(-1)(null, '127.0.0.1', 4); };
    dns.promises.lookup = async (host) => { passed.push('lookup ' + host); return { address: '127.0.0.1', family: 4 }; };
    require(${JSON.stringify(GUARD_MODULE)});
    (async () => {
      ${calls}
      await new Promise((resolve) => setTimeout(resolve, 50));
      process.stdout.write(JSON.stringify({ passed, errors }));
    })();
  `;
  const run = spawnSync(process.execPath, ['-e', script], {
    env: { PATH: process.env.PATH, LOOPBACK_GUARD_LOG: log },
    encoding: 'utf8',
  });
  expect(run.stderr).toBe('');
  const { passed, errors } = JSON.parse(run.stdout) as Omit<Outcome, 'recorded'>;
  return { passed, errors, recorded: readGuardLog(log).map((e) => `${e.kind} ${e.target}`) };
}

const onError = `.on('error', (e) => errors.push(e.code))`;

describe('the loopback guard', () => {
  it.each([
    ['127.0.0.1', 9],
    ['127.4.5.6', 9],
    ['::1', 9],
    ['::ffff:127.0.0.1', 9],
    ['localhost', 9],
    ['api.localhost', 9],
  ])('lets a connect to %s through', (host, port) => {
    const outcome = underGuard(
      `net.connect({ host: '${host}', port: ${port} })${onError};`,
      `ok-${host}`,
    );
    expect(outcome).toEqual({ passed: [`connect ${host}:${port}`], errors: [], recorded: [] });
  });

  it.each([
    ['169.254.169.254', 80],
    ['metadata.google.internal.', 80],
    ['10.0.0.1', 443],
    ['192.0.2.1', 443],
    ['::ffff:10.0.0.1', 443],
    ['fd00::1', 443],
    ['example.test', 443],
  ])('refuses and records a connect to %s, which never reaches the socket', (host, port) => {
    const outcome = underGuard(
      `net.connect({ host: '${host}', port: ${port} })${onError};`,
      `no-${host}`,
    );
    expect(outcome).toEqual({
      passed: [],
      errors: ['ECONNREFUSED'],
      recorded: [`connect ${host}:${port}`],
    });
  });

  it('checks every way a connect is called: (port, host), an options object, net.createConnection, http', () => {
    const outcome = underGuard(
      `
      new net.Socket().connect(80, '169.254.169.254')${onError};
      new net.Socket().connect({ port: 80, host: '169.254.169.254' })${onError};
      net.createConnection(80, 'metadata.google.internal')${onError};
      require('node:http').get('http://169.254.169.254/computeMetadata/v1/')${onError};
      new net.Socket().connect(8080)${onError};
      `,
      'forms',
    );
    expect(outcome.passed).toEqual(['connect 8080']);
    expect(outcome.errors).toEqual([
      'ECONNREFUSED',
      'ECONNREFUSED',
      'ECONNREFUSED',
      'ECONNREFUSED',
    ]);
    expect(outcome.recorded).toEqual([
      'connect 169.254.169.254:80',
      'connect 169.254.169.254:80',
      'connect metadata.google.internal:80',
      'connect 169.254.169.254:80',
    ]);
  });

  it("lets a caller's own lookup resolve a name, and refuses what it answers beyond loopback", () => {
    const lookupAnswering = (address: string) =>
      `(name, options, callback) => callback(null, '${address}', ${address.includes(':') ? 6 : 4})`;
    const outcome = underGuard(
      `
      net.connect({ host: 'target.test', port: 80, lookup: ${lookupAnswering('127.0.0.1')} })${onError};
      net.connect({ host: 'rebind.test', port: 80, lookup: ${lookupAnswering('169.254.169.254')} })${onError};
      net.connect({ host: 'v6.test', port: 80, lookup: ${lookupAnswering('::a9fe:a9fe')} })${onError};
      net.connect({ host: 'refused.test', port: 80, lookup: (n, o, cb) => cb(Object.assign(new Error('no'), { code: 'EFORBIDDEN' })) })${onError};
      `,
      'own-lookup',
    );
    expect(outcome.passed).toEqual(['connect target.test:80 at 127.0.0.1']);
    expect(outcome.errors).toEqual(['ECONNREFUSED', 'ECONNREFUSED', 'EFORBIDDEN']);
    expect(outcome.recorded).toEqual([
      'connect rebind.test (169.254.169.254, from its own lookup)',
      'connect v6.test (::a9fe:a9fe, from its own lookup)',
    ]);
  });

  it('refuses and records a DNS lookup of any name but localhost, callback and promise alike', () => {
    const outcome = underGuard(
      `
      dns.lookup('localhost', () => {});
      dns.lookup('metadata.google.internal', (e) => errors.push(e.code));
      await dns.promises.lookup('localhost');
      await dns.promises.lookup('oauth2.googleapis.com').catch((e) => errors.push(e.code));
      dns.resolve4('example.test', (e) => errors.push(e.code));
      `,
      'dns',
    );
    expect(outcome.passed).toEqual(['lookup localhost', 'lookup localhost']);
    expect(outcome.errors).toEqual(['ENOTFOUND', 'ENOTFOUND', 'ENOTFOUND']);
    expect(outcome.recorded).toEqual([
      'lookup metadata.google.internal',
      'lookup oauth2.googleapis.com',
      'lookup example.test',
    ]);
  });

  it('is installed in the processes of this test run', () => {
    expect((globalThis as Record<symbol, unknown>)[Symbol.for('pacer.loopbackGuard')]).toBe(true);
    expect(process.env.NODE_OPTIONS).toContain(GUARD_MODULE);
  });
});
