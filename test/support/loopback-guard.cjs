// @ts-check
/**
 * The loopback guard: preloaded with `node --require` into every Node process of a test run
 * (vitest and its workers, the CLI, function servers and the local stack they spawn), it refuses
 * any TCP connect and any DNS lookup that would leave 127.0.0.0/8 and ::1, and records each one.
 *
 * pacer's tests, benchmarks and local stack talk to the emulators on loopback and to nothing
 * else. A Google client that still looks for the GCP metadata server (169.254.169.254,
 * `metadata.google.internal`), or any other stray request, is refused here at once and written
 * as one JSON line to the file named by `LOOPBACK_GUARD_LOG`; the test run's teardown fails when
 * that file is not empty. Without `LOOPBACK_GUARD_LOG` the attempts are refused and printed to
 * stderr.
 *
 * CommonJS on purpose: `--require` loads it before any module of the process, ESM or not.
 */
'use strict';

const dns = require('node:dns');
const fs = require('node:fs');
const net = require('node:net');

const installed = Symbol.for('pacer.loopbackGuard');

/**
 * True for an address on loopback: 127.0.0.0/8, ::1, and IPv4-mapped 127.x (`::ffff:127.0.0.1`).
 * @param {string} address
 */
function isLoopbackAddress(address) {
  const bare = address.replace(/^\[|\]$/g, '').toLowerCase();
  const version = net.isIP(bare);
  if (version === 4) return bare.startsWith('127.');
  if (version === 6) {
    if (bare === '::1' || bare === '0:0:0:0:0:0:0:1') return true;
    const mapped = /^(?:0{0,4}:){0,5}:?ffff:(\d+\.\d+\.\d+\.\d+)$/.exec(bare);
    return mapped?.[1]?.startsWith('127.') ?? false;
  }
  return false;
}

/**
 * True for a name that only ever resolves to loopback (RFC 6761: `localhost` and its subdomains).
 * @param {string} host
 */
function isLoopbackName(host) {
  const name = host.toLowerCase().replace(/\.$/, '');
  return name === 'localhost' || name.endsWith('.localhost');
}

/** @param {string} host */
function isLoopbackHost(host) {
  return isLoopbackAddress(host) || isLoopbackName(host);
}

/**
 * Writes one attempt down and returns the error the caller gets.
 * @param {'connect' | 'lookup'} kind
 * @param {string} target
 * @param {string} code
 */
function refuse(kind, target, code) {
  const entry = {
    pid: process.pid,
    kind,
    target,
    process: process.argv.slice(1, 3).join(' '),
    stack: (new Error().stack ?? '')
      .split('\n')
      .slice(3, 60)
      .map((line) => line.trim()),
  };
  const log = process.env.LOOPBACK_GUARD_LOG;
  if (log) fs.appendFileSync(log, `${JSON.stringify(entry)}\n`);
  else process.stderr.write(`loopback guard: refused ${kind} to ${target}\n`);
  /** @type {NodeJS.ErrnoException} */
  const error = new Error(
    `loopback guard: refused ${kind} to ${target}: only 127.0.0.0/8 and ::1 are reachable in tests`,
  );
  error.code = code;
  return error;
}

/**
 * Where a `socket.connect(...)` call goes: a pipe path, or a host (default `localhost`).
 * @param {unknown[]} args
 * @returns {{ path: string } | { host: string, port: unknown }}
 */
function connectTarget(args) {
  // net.connect() hands the socket its arguments already normalised, as one array.
  const first = /** @type {unknown} */ (Array.isArray(args[0]) ? args[0][0] : args[0]);
  if (first !== null && typeof first === 'object') {
    const options = /** @type {{ path?: string, host?: string, port?: unknown }} */ (first);
    if (typeof options.path === 'string') return { path: options.path };
    return { host: options.host ?? 'localhost', port: options.port };
  }
  if (typeof first === 'string' && !/^\d+$/.test(first)) return { path: first };
  return { host: typeof args[1] === 'string' ? args[1] : 'localhost', port: first };
}

/** @typedef {(this: unknown, ...args: unknown[]) => unknown} AnyFunction */

/**
 * The connect arguments, with the caller's own `lookup` wrapped so that only loopback answers get
 * through (anything else is refused and recorded); `null` when the caller passed no lookup.
 * @param {unknown[]} args
 * @returns {unknown[] | null}
 */
function ownLookup(args) {
  const normalised = Array.isArray(args[0]);
  const list = /** @type {unknown[]} */ (normalised ? args[0] : args);
  const options = /** @type {Record<string, unknown> | null} */ (
    list[0] !== null && typeof list[0] === 'object' ? list[0] : null
  );
  if (options === null || typeof options.lookup !== 'function') return null;
  const lookup = /** @type {AnyFunction} */ (options.lookup);
  const host = String(options.host);
  /** @type {(this: unknown, name: unknown, lookupOptions: unknown, callback: unknown) => void} */
  const checked = function checkedLookup(name, lookupOptions, callback) {
    const answer = /** @type {(...values: unknown[]) => void} */ (callback);
    Reflect.apply(lookup, this, [
      name,
      lookupOptions,
      /** @type {(error: unknown, address: unknown, family?: unknown) => void} */
      (error, address, family) => {
        if (error) {
          answer(error, address, family);
          return;
        }
        /** @type {unknown[]} */
        const entries = Array.isArray(address) ? address : [address];
        const addresses = entries.map((entry) =>
          typeof entry === 'object' && entry !== null && 'address' in entry
            ? String(entry.address)
            : String(entry),
        );
        const away = addresses.find((candidate) => !isLoopbackAddress(candidate));
        if (away !== undefined) {
          answer(refuse('connect', `${host} (${away}, from its own lookup)`, 'ECONNREFUSED'));
          return;
        }
        answer(null, address, family);
      },
    ]);
  };
  // In place: net.connect() marks its normalised argument list, and a copy would lose the mark.
  list[0] = { ...options, lookup: checked };
  return args;
}

/**
 * Wraps a callback-style resolver function of `dns`: non-loopback names get ENOTFOUND.
 * @param {AnyFunction} original
 * @returns {AnyFunction}
 */
function guardCallback(original) {
  return function guardedResolve(...args) {
    const host = String(args[0]);
    if (isLoopbackHost(host)) return Reflect.apply(original, this, args);
    const error = refuse('lookup', host, 'ENOTFOUND');
    const callback = args[args.length - 1];
    if (typeof callback === 'function') {
      process.nextTick(() => {
        Reflect.apply(callback, null, [error]);
      });
    }
    return undefined;
  };
}

/**
 * The same for a promise-style one.
 * @param {AnyFunction} original
 * @returns {AnyFunction}
 */
function guardPromise(original) {
  return function guardedResolve(...args) {
    const host = String(args[0]);
    if (isLoopbackHost(host)) return Reflect.apply(original, this, args);
    return Promise.reject(refuse('lookup', host, 'ENOTFOUND'));
  };
}

/**
 * Replaces each function named in `names` on `target` by `wrap(it)`.
 * @param {object} target
 * @param {readonly string[]} names
 * @param {(original: AnyFunction) => AnyFunction} wrap
 */
function wrapEach(target, names, wrap) {
  const table = /** @type {Record<string, unknown>} */ (target);
  for (const name of names) {
    const original = table[name];
    if (typeof original === 'function') table[name] = wrap(/** @type {AnyFunction} */ (original));
  }
}

function install() {
  const registry = /** @type {Record<symbol, boolean>} */ (/** @type {unknown} */ (globalThis));
  if (registry[installed]) return;
  registry[installed] = true;

  const prototype = /** @type {Record<string, unknown>} */ (
    /** @type {unknown} */ (net.Socket.prototype)
  );
  const connect = /** @type {AnyFunction} */ (prototype.connect);
  /** @type {(this: import('node:net').Socket, ...args: unknown[]) => unknown} */
  function guardedConnect(...args) {
    const target = connectTarget(args);
    const withLookup = ownLookup(args);
    if ('host' in target && !isLoopbackHost(target.host) && withLookup !== null) {
      // The caller resolves the name itself (pacer's http syncer does, to refuse addresses
      // before it connects; tests give it a stub): let it, and check what it answers instead.
      return Reflect.apply(connect, this, withLookup);
    }
    if ('host' in target && !isLoopbackHost(target.host)) {
      const error = refuse('connect', `${target.host}:${String(target.port)}`, 'ECONNREFUSED');
      process.nextTick(() => this.destroy(error));
      return this;
    }
    return Reflect.apply(connect, this, args);
  }
  prototype.connect = guardedConnect;

  const resolvers = [
    'lookup',
    'resolve',
    'resolve4',
    'resolve6',
    'resolveAny',
    'resolveCname',
    'resolveMx',
    'resolveNs',
    'resolveSrv',
    'resolveTxt',
  ];
  wrapEach(dns, resolvers, guardCallback);
  wrapEach(dns.Resolver.prototype, resolvers, guardCallback);
  wrapEach(dns.promises, resolvers, guardPromise);
  wrapEach(dns.promises.Resolver.prototype, resolvers, guardPromise);
}

install();

module.exports = { isLoopbackAddress, isLoopbackHost, connectTarget };
