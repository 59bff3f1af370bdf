#!/usr/bin/env bash
# Runs every Go fuzz target in the workspace for a short time each.
# Usage: scripts/fuzz.sh [duration]   (default 10s per target)
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
fuzztime=${1:-10s}
grep -rl --include='*_test.go' -E '^func Fuzz[A-Za-z0-9_]+\(f \*testing\.F\)' pkg services | sort | while read -r file; do
  dir=$(dirname "$file")
  for target in $(grep -oE '^func Fuzz[A-Za-z0-9_]+' "$file" | sed 's/^func //'); do
    echo "== $dir $target ($fuzztime)"
    go test "./$dir" -run '^$' -fuzz "^${target}\$" -fuzztime "$fuzztime"
  done
done
