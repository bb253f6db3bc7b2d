/**
 * cloudbuild.yaml runs the checks and the deploy in the right order, and refers only to
 * scripts, npm scripts and substitutions that exist: a renamed script breaks this test, not a
 * production build.
 */
import { existsSync, readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { parse } from 'yaml';

const root = new URL('../', import.meta.url);
const config = parse(readFileSync(new URL('cloudbuild.yaml', root), 'utf8')) as {
  substitutions: Record<string, string>;
  steps: { id: string; name: string; entrypoint: string; args: string[]; env?: string[] }[];
  timeout: string;
};
const scripts = (
  JSON.parse(readFileSync(new URL('package.json', root), 'utf8')) as {
    scripts: Record<string, string>;
  }
).scripts;

/** What a step runs, as one shell text (`npm ci` or the bash -c script). */
function textOf(step: (typeof config.steps)[number]): string {
  return step.entrypoint === 'bash'
    ? step.args.slice(1).join('\n')
    : [step.entrypoint, ...step.args].join(' ');
}
const all = config.steps.map(textOf).join('\n');

describe('cloudbuild.yaml', () => {
  it('installs, lints, type-checks, tests, builds, then deploys', () => {
    expect(config.steps.map((step) => step.id)).toEqual([
      'install',
      'lint',
      'typecheck',
      'test',
      'build',
      'deploy',
    ]);
    expect(textOf(config.steps[0]!)).toBe('npm ci --no-audit --no-fund');
  });

  it('runs only npm scripts that exist', () => {
    const used = [...all.matchAll(/npm run (?:-s )?([\w:-]+)/g)].map((match) => match[1]!);
    expect(used).toEqual(['lint', 'typecheck', 'test:unit', 'test:integration', 'build']);
    for (const name of used) expect(Object.keys(scripts)).toContain(name);
    // lint includes shellcheck; the functions build in the cloud through gcp-build.
    expect(scripts.lint).toContain('lint:sh');
    expect(scripts['gcp-build']).toBe('npm run build');
  });

  it('runs only repository scripts that exist', () => {
    const files = [...all.matchAll(/bash ((?:\.ci|infra)\/[\w./-]+)/g)].map((match) => match[1]!);
    expect(new Set(files)).toEqual(new Set(['.ci/install-tools', 'infra/deploy.sh']));
    for (const file of files) expect(existsSync(new URL(file, root)), file).toBe(true);
  });

  it('tests on the emulators, then deploys what it built with the options from its substitutions', () => {
    expect(textOf(config.steps.find((step) => step.id === 'test')!)).toContain(
      'install-tools --emulators',
    );
    const deploy = config.steps.find((step) => step.id === 'deploy')!;
    expect(textOf(deploy)).toContain('--skip-build');
    const help = readFileSync(new URL('infra/deploy.sh', root), 'utf8');
    for (const option of textOf(deploy).match(/--[a-z-]+/g) ?? []) {
      if (option === '--gcloud') continue; // install-tools'
      expect(help, option).toContain(`  ${option}`);
    }
    expect(deploy.env).toContain('PACER_PROJECT=$PROJECT_ID');
  });

  it('declares every substitution it uses, and uses every one it declares', () => {
    const used = new Set(
      [...JSON.stringify(config.steps).matchAll(/\$\{?(_[A-Z_]+)/g)].map((match) => match[1]!),
    );
    expect(used).toEqual(new Set(Object.keys(config.substitutions)));
    expect(config.substitutions._DEPLOY).toBe('true');
  });
});
