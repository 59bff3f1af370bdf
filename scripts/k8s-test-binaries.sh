#!/usr/bin/env bash
# Builds (once) the real Kubernetes API server and etcd that the Kubernetes
# integration tests run on loopback, and prints the directory holding them.
# The binaries are cached outside the clone (default ~/.cache/darwin/k8s/<ver>)
# so later runs and CI on the same machine reuse them. A cold kube-apiserver
# build takes ~20 minutes on 2 cores; progress goes to stderr.
#
#   KUBEBUILDER_ASSETS=$(scripts/k8s-test-binaries.sh)
set -euo pipefail
K8S_VERSION=${K8S_VERSION:-1.37.2}
ETCD_VERSION=${ETCD_VERSION:-3.7.3}
cache=${DARWIN_K8S_CACHE:-$HOME/.cache/darwin/k8s/v$K8S_VERSION}
log() { echo "k8s-test-binaries: $*" >&2; }
mkdir -p "$cache"

if [ ! -x "$cache/etcd" ]; then
  work=$(mktemp -d)
  log "building etcd v$ETCD_VERSION from the Go module proxy"
  (cd "$work" && go mod init etcdbuild >/dev/null 2>&1 &&
    GOFLAGS=-mod=mod go get "go.etcd.io/etcd/server/v3@v$ETCD_VERSION" >&2 &&
    go build -o "$cache/etcd.tmp" go.etcd.io/etcd/server/v3 >&2)
  mv "$cache/etcd.tmp" "$cache/etcd"
  rm -rf "$work"
fi

if [ ! -x "$cache/kube-apiserver" ]; then
  work=$(mktemp -d)
  start=$(date +%s)
  log "building kube-apiserver v$K8S_VERSION from the Go module proxy (about 20 minutes cold)"
  cd "$work"
  go mod init apiserverbuild >/dev/null 2>&1
  # k8s.io/kubernetes points its staging modules at ./staging; pin each to the
  # published v0.<minor>.<patch> instead.
  modjson=$(go mod download -json "k8s.io/kubernetes@v$K8S_VERSION")
  gomod=$(printf '%s' "$modjson" | sed -n 's/.*"GoMod": "\(.*\)".*/\1/p')
  staging_version="v0.${K8S_VERSION#*.}"
  {
    echo "require k8s.io/kubernetes v$K8S_VERSION"
    grep -oE '^\s*k8s\.io/[a-z0-9-]+ => \./staging' "$gomod" | awk -v v="$staging_version" '{print "replace " $1 " => " $1 " " v}'
  } >> go.mod
  cat > main.go <<'GO'
package main

import _ "k8s.io/kubernetes/cmd/kube-apiserver/app"

func main() {}
GO
  GOFLAGS=-mod=mod go mod tidy >&2
  go build -o "$cache/kube-apiserver.tmp" k8s.io/kubernetes/cmd/kube-apiserver >&2
  mv "$cache/kube-apiserver.tmp" "$cache/kube-apiserver"
  cd / && rm -rf "$work"
  log "kube-apiserver built in $(( $(date +%s) - start ))s"
fi
echo "$cache"
