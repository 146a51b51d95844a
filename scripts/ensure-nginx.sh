#!/usr/bin/env bash
# Installs Debian's nginx once (a no-op when it is on PATH) for the tests that put a
# proxy in front of brisk: `make test`'s doctor test of a process behind nginx, and the
# cluster suite. Debian's own instance is stopped and disabled (scripts/lib/nginx.sh).
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
log() { echo "ensure-nginx: $*" >&2; }
die() { echo "ensure-nginx: $*" >&2; exit 1; }
# shellcheck source=lib/nginx.sh
source "$ROOT/scripts/lib/nginx.sh"
ensure_nginx
command -v nginx >/dev/null || die "nginx missing after installing it"
