#!/usr/bin/env bash
# Installs the Debian packages the model runtime (runtimes/serve) needs:
# python3 with scikit-learn, numpy, pandas and PyYAML. Idempotent: does nothing
# when they are all installed. Prints nothing on success; on failure prints the
# apt output to stderr and exits non-zero.
#
# Use Debian's interpreter (/usr/bin/python3) with these packages: a pyenv or
# venv python3 earlier on PATH does not see them.
set -euo pipefail

packages=(python3 python3-sklearn python3-numpy python3-pandas python3-yaml)

missing=()
for p in "${packages[@]}"; do
	status=$(dpkg-query -W -f='${Status}' "$p" 2>/dev/null || true)
	if [[ "$status" != "install ok installed" ]]; then
		missing+=("$p")
	fi
done

if ((${#missing[@]} > 0)); then
	sudo=()
	if [[ $(id -u) -ne 0 ]]; then
		if ! command -v sudo >/dev/null 2>&1; then
			echo "python-deps: need root (or sudo) to install: ${missing[*]}" >&2
			exit 1
		fi
		sudo=(sudo -n)
	fi
	log=$(mktemp)
	trap 'rm -f "$log"' EXIT
	export DEBIAN_FRONTEND=noninteractive
	install() {
		"${sudo[@]}" apt-get install -y --no-install-recommends "${missing[@]}" >>"$log" 2>&1
	}
	# Try with the current package lists first; refresh them only if that fails.
	if ! install; then
		if ! { "${sudo[@]}" apt-get update >>"$log" 2>&1 && install; }; then
			echo "python-deps: apt-get install ${missing[*]} failed:" >&2
			cat "$log" >&2
			exit 1
		fi
	fi
fi

if ! err=$(/usr/bin/python3 -c 'import sklearn, numpy, pandas, yaml' 2>&1); then
	echo "python-deps: /usr/bin/python3 cannot import the runtime's packages:" >&2
	echo "$err" >&2
	exit 1
fi
