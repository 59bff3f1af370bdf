#!/usr/bin/env bash
# Fails when the committed generated code differs from a fresh generation.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
snap=$(mktemp -d)
trap 'rm -rf "$snap"' EXIT
cp -r proto "$snap/before"
bash scripts/gen-proto.sh >/dev/null
if ! diff -r "$snap/before" proto >/dev/null; then
  echo "check-proto: generated code is out of date; run 'make proto' and commit:" >&2
  diff -r "$snap/before" proto | head -40 >&2
  exit 1
fi
echo "check-proto: generated code matches the .proto files"
