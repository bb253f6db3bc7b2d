/**
 * cloudbuild.yaml runs CI's own checks (.ci/run, so `npm test` and the shell lint) and then the
 * deploy, on a maintained Node image whose Debian has the Java the emulators need, and refers only
 * to scripts, options and substitutions that exist: a renamed script breaks this test, not a
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
  it('runs what CI runs, then deploys', () => {
    expect(config.steps.map((step) => step.id)).toEqual(['ci', 'deploy']);
    expect(textOf(config.steps[0]!)).toBe('bash .ci/run');
    const ci = readFileSync(new URL('.ci/run', root), 'utf8');
    // .ci/run installs the tools (the emulators and their Java among them), installs the
    // packages, lints the shell scripts and runs the README's test command, which builds dist/
    // for the deploy's --skip-build.
    const commands = ci.split('\n').filter((line) => /^(bash|npm) /.test(line));
    expect(commands).toEqual([
      'bash .ci/install-tools --emulators',
      'npm ci --no-audit --no-fund',
      'npm run lint:sh',
      'npm test',
    ]);
    expect(scripts.test).toMatch(
      /^npm run typecheck && npm run lint:js && npm run build && vitest run$/,
    );
  });

  it('runs every step on Node 22 on Debian 13 (node:20 is past its end of life)', () => {
    for (const step of config.steps) expect(step.name, step.id).toBe('node:22-trixie');
    // Debian 13 has openjdk-21-jre-headless, which install-tools picks for the current emulators.
    expect(readFileSync(new URL('.ci/install-tools', root), 'utf8')).toContain(
      'openjdk-21-jre-headless',
    );
  });

  it('runs only repository scripts that exist', () => {
    const files = [...all.matchAll(/bash ((?:\.ci|infra)\/[\w./-]+)/g)].map((match) => match[1]!);
    expect(new Set(files)).toEqual(new Set(['.ci/run', '.ci/install-tools', 'infra/deploy.sh']));
    for (const file of files) expect(existsSync(new URL(file, root)), file).toBe(true);
    expect(scripts['gcp-build']).toBe('npm run build');
  });

  it('deploys what it built with the options from its substitutions', () => {
    const deploy = config.steps.find((step) => step.id === 'deploy')!;
    expect(textOf(deploy)).toContain('bash .ci/install-tools --gcloud');
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
