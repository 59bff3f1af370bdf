#!/usr/bin/env bash
# Builds the service images without a Docker daemon: static binaries into .cache/images/bin/, then one
# docker-save tarball per service into .cache/images/<name>.tar (load with `docker load -i`), plus all three
# in the OCI image layout .cache/images/oci/. Prints each image's size.
#
# Environment: TAG (default dev), REGISTRY_PREFIX (default darwin/), GOARCH (default the host's),
# IMAGE_SOURCE (org.opencontainers.image.source), SOURCE_DATE_EPOCH (default: the HEAD commit time, or 0).
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
OUT=$ROOT/.cache/images
BIN=$OUT/bin
GO=${GO:-go}
TAG=${TAG:-dev}
PREFIX=${REGISTRY_PREFIX:-darwin/}
SOURCE=${IMAGE_SOURCE:-https://github.com/darwinml/darwin}

VERSION=$(git describe --tags --always --dirty 2>/dev/null || echo dev)
REVISION=$(git rev-parse HEAD 2>/dev/null || true)
if [ -z "${SOURCE_DATE_EPOCH:-}" ]; then
	SOURCE_DATE_EPOCH=$(git log -1 --format=%ct 2>/dev/null || echo 0)
fi
export SOURCE_DATE_EPOCH

mkdir -p "$BIN"
rm -rf "$OUT/oci"
echo "building static binaries into $BIN (version $VERSION)"
CGO_ENABLED=0 GOOS=linux "$GO" build -trimpath -buildvcs=false -ldflags '-s -w' -o "$BIN/" \
	./services/compute/cmd/compute ./services/cluster-manager/cmd/cluster-manager ./services/darwin/cmd/darwin \
	./services/mlflow/cmd/mlflow ./services/ml-serve/cmd/ml-serve ./services/artifact-builder/cmd/artifact-builder \
	./services/feature-store/cmd/feature-store
"$GO" build -o "$BIN/imagebuild" ./tools/cmd/imagebuild

# name  ports  args...
image() {
	local name=$1 ports=$2
	shift 2
	local flags=()
	for p in $ports; do flags+=(-port "$p"); done
	for a in "$@"; do flags+=(-arg "$a"); done
	"$BIN/imagebuild" -binary "$BIN/$name" -name "$PREFIX$name" -tag "$TAG" \
		-entrypoint "/usr/local/bin/$name" -healthcheck healthcheck "${flags[@]}" \
		-version "$VERSION" -revision "$REVISION" -source "$SOURCE" \
		-o "$OUT/$name.tar" -oci-layout "$OUT/oci" >/dev/null
	local size bin
	size=$(stat -c %s "$OUT/$name.tar")
	bin=$(stat -c %s "$BIN/$name")
	printf '%-28s %5d KiB tarball (gzip layers; binary %d KiB)  %s\n' \
		"$PREFIX$name:$TAG" $((size / 1024)) $((bin / 1024)) "$OUT/$name.tar"
}

image compute "8000 9092"
image cluster-manager "8080 9091"
image mlflow "5000"
image ml-serve "8000"
image artifact-builder "8000"
image feature-store "8080"
image darwin "8080" up --http-addr 0.0.0.0:8080
