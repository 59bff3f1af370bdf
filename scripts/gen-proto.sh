#!/usr/bin/env bash
# Regenerates the Go code for every proto under proto/darwin. Works offline:
# protoc comes from Debian (installed here if missing), the Go plugins are
# pinned as tools in proto/go.mod and built from the module cache.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
if ! command -v protoc >/dev/null 2>&1; then
  echo "installing protobuf-compiler (Debian)..." >&2
  apt-get update -qq && apt-get install -y -qq protobuf-compiler >/dev/null
fi
bin="$root/.cache/bin"
mkdir -p "$bin"
(cd proto && go build -o "$bin/protoc-gen-go" google.golang.org/protobuf/cmd/protoc-gen-go \
  && go build -o "$bin/protoc-gen-go-grpc" google.golang.org/grpc/cmd/protoc-gen-go-grpc)
cd proto
find darwin -name '*.pb.go' -delete
protoc -I . \
  --plugin=protoc-gen-go="$bin/protoc-gen-go" --go_out=. --go_opt=paths=source_relative \
  --plugin=protoc-gen-go-grpc="$bin/protoc-gen-go-grpc" --go-grpc_out=. --go-grpc_opt=paths=source_relative \
  $(find darwin -name '*.proto' | sort)
echo "generated: $(find darwin -name '*.pb.go' | sort | tr '\n' ' ')"
