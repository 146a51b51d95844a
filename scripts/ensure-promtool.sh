#!/usr/bin/env bash
# Installs promtool (Debian's `prometheus` package) for the test that checks /metrics
# with `promtool check metrics`, once: a no-op when promtool is on PATH (or
# BRISK_PROMTOOL points at one). The package also ships the Prometheus server as a
# service; it must not be left running (it would hold :9090), so service starts are
# refused while the package installs and any server it started anyway is stopped.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
log() { echo "ensure-promtool: $*" >&2; }
die() { echo "ensure-promtool: $*" >&2; exit 1; }
if [[ -n "${BRISK_PROMTOOL:-}" && -x "${BRISK_PROMTOOL}" ]]; then exit 0; fi
command -v promtool >/dev/null 2>&1 && exit 0
# shellcheck source=lib/apt.sh
source "$ROOT/scripts/lib/apt.sh"
policy=/usr/sbin/policy-rc.d
added_policy=0
if [[ ! -e "$policy" ]]; then
  # 101: "action forbidden" for every invoke-rc.d call during the install.
  printf '#!/bin/sh\nexit 101\n' | $SUDO tee "$policy" >/dev/null
  $SUDO chmod +x "$policy"
  added_policy=1
fi
apt_install prometheus
((added_policy)) && $SUDO rm -f "$policy"
if command -v systemctl >/dev/null 2>&1 && systemctl is-system-running >/dev/null 2>&1; then
  $SUDO systemctl disable --now prometheus prometheus-node-exporter >/dev/null 2>&1 || true
fi
$SUDO pkill -x prometheus 2>/dev/null || true
$SUDO pkill -x prometheus-node-exporter 2>/dev/null || true
command -v promtool >/dev/null || die "promtool missing after installing prometheus"
