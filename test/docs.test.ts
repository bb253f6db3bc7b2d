/**
 * The README documents every setting exactly as the code defines it. A failure prints the row
 * to paste.
 */
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { SETTINGS, type SettingDefinition } from '../functions/config.js';
import { validateSchedule } from '../functions/schedule/spec.js';

const readme = readFileSync(new URL('../README.md', import.meta.url), 'utf8');
/** Table rows with the padding Prettier adds around the pipes removed. */
const readmeRows = readme.split('\n').map(normalizeRow);

function normalizeRow(row: string): string {
  return row
    .trim()
    .replace(/\s*\|\s*/g, ' | ')
    .trim();
}

export function settingsRow(setting: SettingDefinition): string {
  const live = setting.live ? `\`${setting.path}\`` : '—';
  return `| \`${setting.env}\` | \`${setting.show(setting.default)}\` | ${setting.expects} | ${live} | ${setting.doc} |`;
}

describe('the README', () => {
  it.each(SETTINGS.map((setting) => [setting.env, settingsRow(setting)]))(
    'documents %s as the code defines it',
    (_env, row) => {
      expect(readmeRows).toContain(normalizeRow(row));
    },
  );

  it('gives the test command', () => {
    expect(readme).toContain('npm test');
  });
});

describe('docs/schedules.md', () => {
  const doc = readFileSync(new URL('../docs/schedules.md', import.meta.url), 'utf8');
  const examples = [...doc.matchAll(/```json\n([\s\S]*?)```/g)].map((match) => match[1] ?? '');

  it('has the three worked examples', () => {
    expect(examples).toHaveLength(3);
  });

  it.each(examples.map((example, i) => [i + 1, example]))(
    'example %i is a valid schedule',
    (_i, example) => {
      expect(validateSchedule(JSON.parse(example))).toMatchObject({ ok: true });
    },
  );
});
