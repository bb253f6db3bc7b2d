/**
 * Log-based metrics and alerts key on `event` names, so every name the code logs is listed in
 * LOG_EVENTS (and documented from there).
 */
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { LOG_EVENTS } from '../../functions/log.js';

function sources(dir: string): string[] {
  return readdirSync(dir).flatMap((entry) => {
    const path = join(dir, entry);
    return statSync(path).isDirectory() ? sources(path) : path.endsWith('.ts') ? [path] : [];
  });
}

describe('log event names', () => {
  const used = new Set(
    sources(new URL('../../functions', import.meta.url).pathname).flatMap((file) =>
      [...readFileSync(file, 'utf8').matchAll(/event: '([a-z_.]+)'/g)].map(
        (match) => match[1] ?? '',
      ),
    ),
  );

  it('every event the code logs is a listed, stable name', () => {
    expect([...used].filter((event) => !(LOG_EVENTS as readonly string[]).includes(event))).toEqual(
      [],
    );
  });

  it('every listed name is logged somewhere', () => {
    expect(LOG_EVENTS.filter((event) => !used.has(event))).toEqual([]);
  });
});
