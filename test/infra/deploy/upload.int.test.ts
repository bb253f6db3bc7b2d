/**
 * What `gcloud functions deploy --source=.` uploads, decided by gcloud's own matcher
 * (`gcloud meta list-files-for-upload`, offline) on infra/functions.gcloudignore: the sources
 * Cloud Build compiles with the gcp-build script, never a local dist/ (such as the one
 * `npm start` leaves) or local node_modules. Also checks that the functions' entry point is
 * what that build produces.
 */
import { execFile } from 'node:child_process';
import { copyFileSync, mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';
import { REPO } from './support.js';

const run = promisify(execFile);

/** The files gcloud would upload from a tree of `files` with `ignoreFile` as .gcloudignore. */
async function uploaded(ignoreFile: string, files: readonly string[]): Promise<string[]> {
  const dir = mkdtempSync(join(tmpdir(), 'pacer-upload-'));
  for (const file of files) {
    mkdirSync(dirname(join(dir, file)), { recursive: true });
    writeFileSync(join(dir, file), '');
  }
  copyFileSync(join(REPO, ignoreFile), join(dir, '.gcloudignore'));
  const { stdout } = await run('gcloud', ['meta', 'list-files-for-upload', dir], {
    env: {
      ...process.env,
      CLOUDSDK_CONFIG: mkdtempSync(join(tmpdir(), 'pacer-gcloud-')),
      CLOUDSDK_CORE_DISABLE_PROMPTS: '1',
    },
  });
  return stdout
    .split('\n')
    .filter(Boolean)
    .map((line) => line.replace(/\\/g, '/'))
    .sort();
}

const TREE = [
  'package.json',
  'package-lock.json',
  'tsconfig.json',
  'tsconfig.build.json',
  'functions/index.ts',
  'functions/cli/main.ts',
  'infra/deploy.sh',
  'infra/local/stack.ts',
  'infra/functions.gcloudignore',
  'dist/functions/index.js',
  'node_modules/pino/index.js',
  'test/functions/topology.test.ts',
  'docs/operations.md',
  '.ci/run',
  '.pacer/local.env',
  '.git/HEAD',
  'cloudbuild.yaml',
  'README.md',
];

describe('the functions’ upload', () => {
  it('holds the sources the cloud build compiles, and no local build or modules', async () => {
    expect(await uploaded('infra/functions.gcloudignore', TREE)).toEqual(
      [
        'README.md',
        'functions/cli/main.ts',
        'functions/index.ts',
        'infra/deploy.sh',
        'infra/functions.gcloudignore',
        'infra/local/stack.ts',
        'package-lock.json',
        'package.json',
        'tsconfig.build.json',
        'tsconfig.json',
      ].sort(),
    );
  });

  it('is built in the cloud into the entry point functions-framework loads', () => {
    const pkg = JSON.parse(readFileSync(join(REPO, 'package.json'), 'utf8')) as {
      main: string;
      scripts: Record<string, string>;
    };
    const build = JSON.parse(
      readFileSync(join(REPO, 'tsconfig.build.json'), 'utf8').replace(/^\s*\/\/.*$/gm, ''),
    ) as { include: string[] };
    // The buildpack runs gcp-build after `npm ci` (devDependencies, so tsc, installed).
    expect(pkg.scripts['gcp-build']).toBe('npm run build');
    expect(pkg.scripts.build).toBe('tsc -p tsconfig.build.json');
    expect(build.include).toEqual(['functions', 'infra']);
    expect(pkg.main).toBe('dist/functions/index.js');
  });
});

describe('the Cloud Build upload', () => {
  it('holds everything the checks need, without local modules or builds', async () => {
    const files = await uploaded('.gcloudignore', TREE);
    expect(files).toContain('test/functions/topology.test.ts');
    expect(files).toContain('.ci/run');
    expect(files).toContain('cloudbuild.yaml');
    expect(files.filter((file) => /^(dist|node_modules|\.pacer|\.git)\//.test(file))).toEqual([]);
  });
});
