/**
 * The source hash infra/deploy.sh labels each function with (`pacer-source`), so that a second
 * deploy skips a function whose sources and settings are unchanged instead of uploading and
 * building a new revision of it. The sources are what the build compiles: package.json, the
 * lock file, tsconfig*.json and the TypeScript under functions/ and infra/ (not the monitoring
 * files or deploy.sh, which no function runs); the settings are the deploy command's flags,
 * given as EXTRA.
 */
import { createHash } from 'node:crypto';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join, relative } from 'node:path';

const TOP_FILES = ['package.json', 'package-lock.json', 'tsconfig.json', 'tsconfig.build.json'];
const TREES = ['functions', 'infra'];

function filesUnder(root: string, dir: string): string[] {
  const out: string[] = [];
  for (const entry of readdirSync(join(root, dir), { withFileTypes: true })) {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) {
      if (entry.name !== 'node_modules') out.push(...filesUnder(root, path));
    } else if (entry.isFile()) out.push(path);
  }
  return out;
}

/** 40 hex digits (a valid label value) of SHA-256 over the sources under `root` and `extra`. */
export function sourceHash(root: string, extra: readonly string[]): string {
  const hash = createHash('sha256');
  const files = [
    ...TOP_FILES.filter((file) => {
      try {
        return statSync(join(root, file)).isFile();
      } catch {
        return false;
      }
    }),
    ...TREES.flatMap((tree) => filesUnder(root, tree)).filter((file) => file.endsWith('.ts')),
  ]
    .map((file) => relative(root, join(root, file)).replace(/\\/g, '/'))
    .sort();
  for (const file of files) {
    hash.update(`${file}\0`);
    hash.update(readFileSync(join(root, file)));
    hash.update('\0');
  }
  for (const item of extra) hash.update(`${item}\0`);
  return hash.digest('hex').slice(0, 40);
}
