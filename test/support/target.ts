/**
 * A sync target for tests: an HTTP server on loopback whose answer per path the test scripts,
 * counting every request it receives.
 */
import { once } from 'node:events';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';

export interface Hit {
  path: string;
  /** The HTTP method it was called with. */
  method: string;
  body: Record<string, unknown>;
  at: number;
  /** Whether the client went away before the answer (aborted, killed). */
  aborted: boolean;
  /** When the exchange ended (answered, or the client went away); `null` while it lasts. */
  closedAt: number | null;
}

/** What to answer to the n-th request (0-based) on a path. */
export type Behaviour = (n: number) => {
  status?: number;
  delayMs?: number;
  onArrive?: () => void;
  /** Headers of the answer besides its content type (`Retry-After`, say). */
  headers?: Record<string, string>;
};

export class TestTarget {
  readonly hits: Hit[] = [];
  private readonly behaviours = new Map<string, Behaviour>();
  private server: http.Server | undefined;
  private base = '';

  async start(): Promise<this> {
    this.server = http.createServer((request, response) => {
      let raw = '';
      request.on('data', (chunk: Buffer) => (raw += chunk.toString()));
      request.on('end', () => {
        const path = request.url ?? '/';
        const n = this.hits.filter((hit) => hit.path === path).length;
        const hit: Hit = {
          path,
          method: request.method ?? 'GET',
          body: JSON.parse(raw || '{}') as Record<string, unknown>,
          at: Date.now(),
          aborted: false,
          closedAt: null,
        };
        this.hits.push(hit);
        response.on('close', () => {
          hit.closedAt = Date.now();
          if (!response.writableFinished) hit.aborted = true;
        });
        const behaviour = this.behaviours.get(path)?.(n) ?? {};
        behaviour.onArrive?.();
        setTimeout(() => {
          if (response.destroyed) return;
          response.writeHead(behaviour.status ?? 200, {
            'content-type': 'text/plain',
            ...behaviour.headers,
          });
          response.end(`answer ${behaviour.status ?? 200}`);
        }, behaviour.delayMs ?? 0);
      });
    });
    this.server.listen(0, '127.0.0.1');
    await once(this.server, 'listening');
    this.base = `http://127.0.0.1:${(this.server.address() as AddressInfo).port}`;
    return this;
  }

  /** Scripts the answers on `path` and returns its URL. */
  on(path: string, behaviour: Behaviour = () => ({})): string {
    this.behaviours.set(path, behaviour);
    return `${this.base}${path}`;
  }

  /** The URL of `path`, keeping whatever answers are scripted for it. */
  url(path: string): string {
    return `${this.base}${path}`;
  }

  count(path: string): number {
    return this.hits.filter((hit) => hit.path === path).length;
  }

  async waitForHits(path: string, count: number, timeoutMs = 30_000): Promise<Hit[]> {
    const deadline = Date.now() + timeoutMs;
    while (Date.now() < deadline) {
      const hits = this.hits.filter((hit) => hit.path === path);
      if (hits.length >= count) return hits;
      await sleep(50);
    }
    throw new Error(
      `expected ${count} requests on ${path}, got ${this.count(path)} in ${timeoutMs} ms`,
    );
  }

  async stop(): Promise<void> {
    this.server?.closeAllConnections();
    await new Promise((resolve) => this.server?.close(resolve));
  }
}
