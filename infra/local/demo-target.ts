/**
 * The local stack's demo sync target: an HTTP server on loopback that counts what it receives.
 * `POST /sync/{name}` answers 200 after a short, varying delay (a real target takes time);
 * `POST /slow/{name}` after 3 minutes (a long sync, run by a job execution);
 * `POST /always-fails` answers 500 (to show retries and dead-lettering); `GET /counts` returns
 * the counts as JSON.
 */
import { once } from 'node:events';
import http from 'node:http';
import type { LogStream } from './log-stream.js';

/** How long a `/slow/…` sync takes: the demo's long sync. */
export const SLOW_SYNC_MS = 3 * 60_000;

export interface DemoTarget {
  url: string;
  counts(): Record<string, number>;
  stop(): Promise<void>;
}

export async function startDemoTarget(port: number, log: LogStream): Promise<DemoTarget> {
  const counts: Record<string, number> = {};
  const server = http.createServer((request, response) => {
    const path = request.url ?? '/';
    if (request.method === 'GET' && path === '/counts') {
      response.writeHead(200, { 'content-type': 'application/json' });
      response.end(JSON.stringify(counts));
      return;
    }
    let body = '';
    request.on('data', (chunk: Buffer) => (body += chunk.toString()));
    request.on('end', () => {
      counts[path] = (counts[path] ?? 0) + 1;
      const sync = parse(body);
      if (path === '/always-fails') {
        report(
          log,
          'WARNING',
          `received ${path} (attempt ${sync.attempt ?? '?'}): answering 500`,
          path,
          counts[path],
        );
        response.writeHead(500);
        response.end('this target always fails');
        return;
      }
      report(
        log,
        'INFO',
        `received ${path} #${counts[path]} for ${sync.scheduleId ?? '?'}, due ${sync.dueAt ?? '?'} (${sync.lane ?? '?'} lane)`,
        path,
        counts[path],
      );
      setTimeout(
        () => {
          if (response.destroyed) return;
          response.writeHead(200, { 'content-type': 'application/json' });
          response.end(JSON.stringify({ ok: true }));
        },
        path.startsWith('/slow/') ? SLOW_SYNC_MS : 100 + Math.floor(Math.random() * 400),
      );
    });
  });
  server.listen(port, '127.0.0.1');
  await once(server, 'listening');
  return {
    url: `http://127.0.0.1:${port}`,
    counts: () => ({ ...counts }),
    stop: async () => {
      server.closeAllConnections();
      await new Promise((resolve) => server.close(resolve));
    },
  };
}

/** One structured line, like the functions' own, so it shows in both output modes. */
function report(
  log: LogStream,
  severity: string,
  message: string,
  path: string,
  count: number,
): void {
  log.line(
    'demo-target',
    JSON.stringify({ severity, message, event: 'target.received', path, count }),
  );
}

function parse(body: string): {
  scheduleId?: string;
  dueAt?: string;
  lane?: string;
  attempt?: number;
} {
  try {
    return JSON.parse(body) as { scheduleId?: string };
  } catch {
    return {}; // not a pacer sync: counted all the same
  }
}
