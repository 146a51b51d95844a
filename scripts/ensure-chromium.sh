#!/usr/bin/env bash
# Installs Debian's chromium for the headless browser test, once: a no-op when a
# chromium binary is already on PATH (or BRISK_CHROMIUM points at one).
set -euo pipefail
if [[ -n "${BRISK_CHROMIUM:-}" && -x "${BRISK_CHROMIUM}" ]]; then exit 0; fi
for bin in chromium chromium-browser; do
  if command -v "$bin" >/dev/null 2>&1; then exit 0; fi
done
echo "ensure-chromium: installing Debian's chromium (headless browser test)" >&2
export DEBIAN_FRONTEND=noninteractive
SUDO=""
if [[ "$(id -u)" != "0" ]]; then SUDO="sudo"; fi
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends chromium fonts-dejavu-core >/dev/null
command -v chromium >/dev/null
