/**
 * Secrets that http targets send in headers (`{ secretEnv: "PACER_SECRET_X" }`): where each may
 * go, and keeping their values out of everything pacer stores or logs.
 *
 * - **Bindings** (`PACER_SECRET_HOSTS`): `PACER_SECRET_X:api.example.com,*.example.org;…` binds a
 *   secret to host patterns. A schedule that sends a bound secret to another host is invalid,
 *   and the worker refuses to send it (`target_secret_forbidden`). A secret with no binding may
 *   go to any host (bind every secret in production).
 * - **Redaction**: every error text a worker records (`state.lastError`, run history, dead
 *   letters) or logs has the value of every `PACER_SECRET_*` variable replaced by
 *   `[redacted:PACER_SECRET_X]`, so a target that echoes the request back cannot leak it.
 */
import type { Env } from '../config.js';

export const SECRET_PREFIX = 'PACER_SECRET_';

/** Secret name → the host patterns it may be sent to. */
export type SecretBindings = ReadonlyMap<string, readonly string[]>;

/** Values shorter than this are not redacted (they would redact ordinary words). */
const SHORTEST_REDACTED = 4;

/**
 * Reads `PACER_SECRET_HOSTS`: `NAME:pattern,pattern;NAME:pattern`. A pattern is a host name
 * (`api.example.com`) or a wildcard for its subdomains (`*.example.com`). `none` or empty: none.
 */
export function parseSecretBindings(
  text: string,
): { ok: true; bindings: Map<string, string[]> } | { ok: false; problem: string } {
  const bindings = new Map<string, string[]>();
  const trimmed = text.trim();
  if (trimmed === '' || trimmed === 'none') return { ok: true, bindings };
  for (const entry of trimmed.split(';')) {
    if (entry.trim() === '') continue;
    const colon = entry.indexOf(':');
    const name = (colon < 0 ? entry : entry.slice(0, colon)).trim();
    const hosts = colon < 0 ? '' : entry.slice(colon + 1).trim();
    if (!new RegExp(`^${SECRET_PREFIX}[A-Z0-9_]+$`).test(name)) {
      return { ok: false, problem: `"${name}" is not a secret variable name (${SECRET_PREFIX}…)` };
    }
    const patterns = hosts
      .split(',')
      .map((host) => host.trim().toLowerCase())
      .filter((host) => host !== '');
    const bad = patterns.find((pattern) => !HOST_PATTERN.test(pattern));
    if (patterns.length === 0 || bad !== undefined) {
      return {
        ok: false,
        problem: `${name}: "${bad ?? hosts}" is not a host pattern (api.example.com or *.example.com)`,
      };
    }
    bindings.set(name, [...(bindings.get(name) ?? []), ...patterns]);
  }
  return { ok: true, bindings };
}

const HOST_PATTERN =
  /^(\*\.)?([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\.)*[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$/;

/** Whether `host` matches `pattern` (exact, or `*.domain` for any subdomain of it). */
export function hostMatches(host: string, pattern: string): boolean {
  const name = host.toLowerCase().replace(/\.$/, '');
  if (pattern.startsWith('*.')) return name.endsWith(pattern.slice(1));
  return name === pattern;
}

/** Why `secret` may not be sent to `host`, or `null` when it may. */
export function secretRefusal(
  secret: string,
  host: string,
  bindings: SecretBindings,
): string | null {
  const patterns = bindings.get(secret);
  if (patterns === undefined || patterns.some((pattern) => hostMatches(host, pattern))) {
    return null;
  }
  return `${secret} may only be sent to ${patterns.join(', ')} (PACER_SECRET_HOSTS), not ${host}`;
}

/** `text` with the value of every secret variable in `env` replaced by its name. */
export function redactSecrets(text: string, env: Env): string {
  let redacted = text;
  for (const [name, value] of Object.entries(env)) {
    if (!name.startsWith(SECRET_PREFIX) || value === undefined) continue;
    if (value.length < SHORTEST_REDACTED) continue;
    // As sent, and as a target may echo it back: inside JSON, or URL-encoded.
    for (const form of new Set([
      value,
      JSON.stringify(value).slice(1, -1),
      encodeURIComponent(value),
    ])) {
      redacted = redacted.split(form).join(`[redacted:${name}]`);
    }
  }
  return redacted;
}
