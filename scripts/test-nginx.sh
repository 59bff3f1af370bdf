#!/usr/bin/env bash
# Makes sure Debian's nginx is installed for the nginx end-to-end test
# (services/darwin/e2e/nginx_test.go) and scripts/run-distributed.sh. The test
# starts its own nginx process on a rendered config; nothing is started here.
# Idempotent; progress goes to stderr.
set -euo pipefail
if [ -x /usr/sbin/nginx ]; then
	exit 0
fi
SUDO=""
[ "$(id -u)" -eq 0 ] || SUDO="sudo"
echo "test-nginx: installing nginx" >&2
$SUDO apt-get update -qq >&2
DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq nginx >&2
