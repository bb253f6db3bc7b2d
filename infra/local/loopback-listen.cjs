// @ts-check
/**
 * Preloaded (`node --require`) into the function servers the local stack and the tests start:
 * functions-framework has no option for the address it listens on and listens on every
 * interface, which would let anyone on the network POST to the planner or a worker. Here every
 * server that would listen on all interfaces (no host, `0.0.0.0` or `::`) listens on 127.0.0.1
 * instead; a server given another address keeps it.
 *
 * CommonJS on purpose: `--require` loads it before functions-framework and pacer's ESM code.
 */
'use strict';

const net = require('node:net');

const LOOPBACK = '127.0.0.1';
const installed = Symbol.for('pacer.loopbackListen');

/**
 * True for a host that means every interface.
 * @param {unknown} host
 */
function isAnyAddress(host) {
  return host === undefined || host === null || host === '' || host === '0.0.0.0' || host === '::';
}

/**
 * The arguments of `server.listen(...)` with an all-interfaces host made loopback. Listening on
 * a path or a handle is left alone.
 * @param {unknown[]} args
 * @returns {unknown[]}
 */
function onLoopback(args) {
  const [first, second, ...rest] = args;
  if (first !== null && typeof first === 'object') {
    const options = /** @type {Record<string, unknown>} */ (first);
    // A path, a file descriptor or a handle: not a TCP address.
    if (typeof options.path === 'string' || 'fd' in options || '_handle' in options) return args;
    return isAnyAddress(options.host) ? [{ ...options, host: LOOPBACK }, ...args.slice(1)] : args;
  }
  // listen() and listen(callback): any free port.
  if (first === undefined || typeof first === 'function') {
    return [0, LOOPBACK, ...args.filter((arg) => arg !== undefined)];
  }
  const isPort = typeof first === 'number' || (typeof first === 'string' && /^\d+$/.test(first));
  if (!isPort) return args; // a pipe path
  // listen(port), listen(port, host, ...)
  if (second === undefined || second === null || typeof second === 'string') {
    return isAnyAddress(second) ? [first, LOOPBACK, ...rest] : args;
  }
  // listen(port, callback), listen(port, backlog, callback)
  return [first, LOOPBACK, second, ...rest];
}

const registry = /** @type {Record<symbol, boolean>} */ (/** @type {unknown} */ (globalThis));
if (!registry[installed]) {
  registry[installed] = true;
  const prototype = /** @type {{ listen: (...args: unknown[]) => unknown }} */ (
    /** @type {unknown} */ (net.Server.prototype)
  );
  const listen = prototype.listen;
  prototype.listen = function listenOnLoopback(...args) {
    return Reflect.apply(listen, this, onLoopback(args));
  };
}

module.exports = { onLoopback };
