/**
 * What the loopback stand-ins for Google APIs without an emulator (Cloud Scheduler, Cloud Run)
 * share: an HTTP server on a free loopback port that speaks JSON with Google's error format,
 * and a throwaway service-account key for the client that calls it.
 */
import { generateKeyPairSync } from 'node:crypto';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/** One request as the stand-in received it. */
export interface StandInRequest {
  method: string;
  url: URL;
  body: Record<string, unknown> | null;
  authorization: string | undefined;
}

export function reply(response: ServerResponse, status: number, body: unknown): void {
  response.writeHead(status, { 'content-type': 'application/json' });
  response.end(JSON.stringify(body));
}

/** An error in Google's format: `{ error: { code, message, status } }`. */
export function replyError(
  response: ServerResponse,
  status: number,
  code: string,
  message: string,
): void {
  reply(response, status, { error: { code: status, message, status: code } });
}

async function readBody(request: IncomingMessage): Promise<Record<string, unknown> | null> {
  let text = '';
  for await (const chunk of request) text += (chunk as Buffer).toString();
  return text === '' ? null : (JSON.parse(text) as Record<string, unknown>);
}

/**
 * Serves `handle` on a free loopback port: `endpoint` is `http://127.0.0.1:PORT`. A handler
 * that throws answers 500 INTERNAL.
 */
export async function serveStandIn(
  handle: (request: StandInRequest, response: ServerResponse) => void,
): Promise<{ endpoint: string; close: () => Promise<void> }> {
  const server = createServer((request, response) => {
    void (async () => {
      const body = await readBody(request);
      handle(
        {
          method: request.method ?? '',
          url: new URL(request.url ?? '/', 'http://stand-in'),
          body,
          authorization: request.headers.authorization,
        },
        response,
      );
    })().catch((failure: unknown) => {
      replyError(response, 500, 'INTERNAL', String(failure));
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    endpoint: `http://127.0.0.1:${port}`,
    close: () =>
      new Promise<void>((resolve, reject) => {
        server.close((failure) => {
          if (failure) reject(failure);
          else resolve();
        });
      }),
  };
}

/**
 * A throwaway service-account key for a Google client pointed at a stand-in: the client signs
 * its own JWT with it (no token exchange, no network), so it runs with no real credentials.
 * Written to a fresh temporary directory.
 */
export function standInKeyFile(name: string, clientEmail: string): string {
  const { privateKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
  const file = join(mkdtempSync(join(tmpdir(), `pacer-${name}-`)), 'key.json');
  writeFileSync(
    file,
    JSON.stringify({
      type: 'service_account',
      project_id: 'stand-in',
      private_key_id: 'stand-in',
      private_key: privateKey.export({ type: 'pkcs8', format: 'pem' }),
      client_email: clientEmail,
      client_id: '1',
      // Never called: the client signs its own JWT for Google APIs.
      token_uri: 'http://127.0.0.1:9/token',
    }),
  );
  return file;
}
