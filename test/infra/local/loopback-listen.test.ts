/**
 * The function servers of the local stack listen on loopback only (issue 13, "Why" 8):
 * functions-framework listens on every interface, and the preload the stack gives it moves any
 * all-interfaces listen to 127.0.0.1. Checked on the argument forms `server.listen` takes, and
 * in a process of its own, on the address a real server ends up bound to (nothing is sent).
 */
import { spawnSync } from 'node:child_process';
import { createRequire } from 'node:module';
import { describe, expect, it } from 'vitest';
import { LOOPBACK_LISTEN } from '../../../infra/local/functions.js';

const { onLoopback } = createRequire(import.meta.url)(LOOPBACK_LISTEN) as {
  onLoopback: (args: unknown[]) => unknown[];
};
const callback = () => undefined;

describe('onLoopback', () => {
  it.each([
    ['listen()', [], [0, '127.0.0.1']],
    ['listen(cb)', [callback], [0, '127.0.0.1', callback]],
    ['listen(port)', [8080], [8080, '127.0.0.1']],
    ['listen("8080")', ['8080'], ['8080', '127.0.0.1']],
    ['listen(port, cb)', [8080, callback], [8080, '127.0.0.1', callback]],
    ['listen(port, backlog, cb)', [8080, 511, callback], [8080, '127.0.0.1', 511, callback]],
    ['listen(port, "0.0.0.0", cb)', [8080, '0.0.0.0', callback], [8080, '127.0.0.1', callback]],
    ['listen(port, "::")', [8080, '::'], [8080, '127.0.0.1']],
    ['listen(port, "::1")', [8080, '::1'], [8080, '::1']],
    ['listen(port, "127.0.0.2")', [8080, '127.0.0.2'], [8080, '127.0.0.2']],
    ['listen({ port })', [{ port: 8080 }], [{ port: 8080, host: '127.0.0.1' }]],
    [
      'listen({ port, host: "0.0.0.0" }, cb)',
      [{ port: 8080, host: '0.0.0.0' }, callback],
      [{ port: 8080, host: '127.0.0.1' }, callback],
    ],
    ['listen({ port, host: "::1" })', [{ port: 8080, host: '::1' }], [{ port: 8080, host: '::1' }]],
    ['listen(pipe path)', ['/tmp/s.sock'], ['/tmp/s.sock']],
    ['listen({ path })', [{ path: '/tmp/s.sock' }], [{ path: '/tmp/s.sock' }]],
  ])('%s', (_form, args, expected) => {
    expect(onLoopback(args)).toEqual(expected);
  });
});

describe('a server under the preload', () => {
  it('is bound to 127.0.0.1, however it was asked to listen', () => {
    const script = `
      const http = require('node:http');
      const forms = [[0], [0, '0.0.0.0'], [0, '::'], [{ port: 0 }], [{ port: 0, host: '::' }]];
      (async () => {
        const bound = [];
        for (const args of forms) {
          const server = http.createServer();
          await new Promise((resolve) => server.listen(...args, resolve));
          bound.push(server.address().address);
          server.close();
        }
        process.stdout.write(JSON.stringify(bound));
      })();
    `;
    const run = spawnSync(process.execPath, ['--require', LOOPBACK_LISTEN, '-e', script], {
      env: { PATH: process.env.PATH },
      encoding: 'utf8',
    });
    expect(run.stderr).toBe('');
    expect(JSON.parse(run.stdout)).toEqual(Array(5).fill('127.0.0.1'));
  });
});
