#!/usr/bin/env bash
# A local Redis Cluster for the cluster suites and `make services REDIS=cluster`:
# 3 masters with one replica each (Debian's redis-server, `redis-cli --cluster
# create --cluster-replicas 1`) on 127.0.0.1:7001-7006, no persistence, data and logs
# under run/redis-cluster/. Idempotent: a cluster that answers `cluster_state:ok` is
# left alone. `scripts/redis-cluster.sh stop` stops it; `seeds` prints its seed URLs.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
DIR="$ROOT/run/redis-cluster"
BASE=${REDIS_CLUSTER_BASE_PORT:-7001}
PORTS=()
for i in 0 1 2 3 4 5; do PORTS+=($((BASE + i))); done
log() { echo "redis-cluster: $*" >&2; }
die() { echo "redis-cluster: $*" >&2; exit 1; }

seeds() {
  local out=()
  for p in "${PORTS[@]:0:3}"; do out+=("redis://127.0.0.1:$p"); done
  (IFS=,; echo "${out[*]}")
}

healthy() {
  for p in "${PORTS[@]}"; do
    redis-cli -p "$p" cluster info 2>/dev/null | grep -q 'cluster_state:ok' || return 1
  done
}

stop() {
  for p in "${PORTS[@]}"; do redis-cli -p "$p" shutdown nosave >/dev/null 2>&1 || true; done
  rm -rf "$DIR"
}

start() {
  command -v redis-server >/dev/null || die "redis-server missing (make services installs it)"
  if healthy; then log "up on ${PORTS[0]}-${PORTS[5]}"; return 0; fi
  stop
  mkdir -p "$DIR"
  for p in "${PORTS[@]}"; do
    redis-server --port "$p" --bind 127.0.0.1 --cluster-enabled yes \
      --cluster-config-file "$DIR/nodes-$p.conf" --cluster-node-timeout 2000 \
      --save "" --appendonly no --dir "$DIR" --daemonize yes \
      --logfile "$DIR/redis-$p.log" --pidfile "$DIR/redis-$p.pid"
  done
  for p in "${PORTS[@]}"; do
    local deadline=$((SECONDS + 20))
    until redis-cli -p "$p" ping 2>/dev/null | grep -q PONG; do
      ((SECONDS < deadline)) || die "node $p did not start ($DIR/redis-$p.log)"
      sleep 0.1
    done
  done
  local nodes=()
  for p in "${PORTS[@]}"; do nodes+=("127.0.0.1:$p"); done
  redis-cli --cluster create "${nodes[@]}" --cluster-replicas 1 --cluster-yes >"$DIR/create.log" 2>&1 \
    || die "cluster create failed: $DIR/create.log"
  local deadline=$((SECONDS + 30))
  until healthy; do
    ((SECONDS < deadline)) || die "cluster_state never ok"
    sleep 0.2
  done
  log "up on ${PORTS[0]}-${PORTS[5]}: 3 masters, 3 replicas"
}

case "${1:-start}" in
  start) start ;;
  stop) stop ;;
  seeds) seeds ;;
  *) die "usage: $0 [start|stop|seeds]" ;;
esac
