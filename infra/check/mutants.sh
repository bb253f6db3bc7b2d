#!/usr/bin/env bash
# Re-introduces each defect in infra/check/mutants/*.sed into a copy of the repository and runs
# the protocol checker on it: each must be caught within SEEDS histories (2,000 by default).
# Exits 1 if a mutant survives. Slow (a build and up to SEEDS histories per mutant): not part of
# npm test; run it after changing the protocol or the checker.
set -euo pipefail
cd "$(dirname "$0")/../.."
seeds=${1:-2000}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
survived=0
for mutant in infra/check/mutants/*.sed; do
  name=$(basename "$mutant" .sed)
  copy="$work/$name"
  mkdir -p "$copy"
  cp -r functions infra package.json tsconfig.json tsconfig.build.json "$copy/"
  ln -s "$PWD/node_modules" "$copy/node_modules"
  before=$(sha1sum "$copy/functions/protocol/decisions.ts")
  sed -i -f "$mutant" "$copy/functions/protocol/decisions.ts"
  if [ "$before" = "$(sha1sum "$copy/functions/protocol/decisions.ts")" ]; then
    echo "$name: the mutant no longer applies (the code it edits changed); update $mutant" >&2
    exit 2
  fi
  (cd "$copy" && npx tsc -p tsconfig.build.json)
  started=$(date +%s)
  if output=$(cd "$copy" && node dist/infra/check/cli.js --seeds "$seeds" 2>&1); then
    echo "$name: SURVIVED $seeds histories"
    survived=1
  else
    found=$(printf '%s\n' "$output" | grep -m 1 '^invariant violated' || true)
    echo "$name: caught in $(($(date +%s) - started)) s — $(printf '%s\n' "$output" | tail -n 1)"
    echo "  $found"
  fi
done
exit "$survived"
