#!/usr/bin/env bash
# Installs Debian's chromium for the headless browser test, once: a no-op when a
# chromium binary is already on PATH (or BRISK_CHROMIUM points at one).
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
log() { echo "ensure-chromium: $*" >&2; }
die() { echo "ensure-chromium: $*" >&2; exit 1; }
if [[ -n "${BRISK_CHROMIUM:-}" && -x "${BRISK_CHROMIUM}" ]]; then exit 0; fi
for bin in chromium chromium-browser; do
  if command -v "$bin" >/dev/null 2>&1; then exit 0; fi
done
# shellcheck source=lib/apt.sh
source "$ROOT/scripts/lib/apt.sh"
apt_install chromium fonts-dejavu-core
command -v chromium >/dev/null
