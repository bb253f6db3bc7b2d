/**
 * A throwaway service-account key for a Google client pointed at a loopback stand-in: the
 * client signs its own JWT with it (no token exchange, no network), so it runs with no real
 * credentials. Written to a fresh temporary directory.
 */
import { generateKeyPairSync } from 'node:crypto';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/** The key file's path, for GOOGLE_APPLICATION_CREDENTIALS. */
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
