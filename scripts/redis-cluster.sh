#!/usr/bin/env bash
# A local Redis Cluster for the cluster suites and `make services REDIS=cluster`:
# 3 masters with one replica each (Debian's redis-server, `redis-cli --cluster
# create --cluster-replicas 1`) on 127.0.0.1:7001-7006, no persistence, data and logs
# under run/redis-cluster/. Idempotent: a cluster that answers `cluster_state:ok` is
# left alone. `scripts/redis-cluster.sh stop` stops it; `seeds` prints its seed URLs;
# `heal` restarts the nodes that are down (a test SIGKILLed a master: the node rejoins
# as a replica of the one promoted in its place) and waits for `cluster_state:ok`.
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

# Every node reports cluster_state:ok, and every replica has synced with its master (a
# replica whose sync never completed refuses to be promoted when its master dies).
healthy() {
  local p
  for p in "${PORTS[@]}"; do
    redis-cli -p "$p" cluster info 2>/dev/null | grep -q 'cluster_state:ok' || return 1
    if redis-cli -p "$p" info replication 2>/dev/null | grep -q '^role:slave'; then
      redis-cli -p "$p" info replication | grep -q '^master_link_status:up' || return 1
    fi
  done
}

stop() {
  for p in "${PORTS[@]}"; do redis-cli -p "$p" shutdown nosave >/dev/null 2>&1 || true; done
  rm -rf "$DIR"
}

# Starts the node on port $1 (its cluster config, if any, is kept in $DIR).
start_node() {
  redis-server --port "$1" --bind 127.0.0.1 --cluster-enabled yes \
    --cluster-config-file "$DIR/nodes-$1.conf" --cluster-node-timeout 2000 \
    --save "" --appendonly no --dir "$DIR" --daemonize yes \
    --logfile "$DIR/redis-$1.log" --pidfile "$DIR/redis-$1.pid"
}

answers() { redis-cli -p "$1" ping 2>/dev/null | grep -q PONG; }

wait_node() {
  local deadline=$((SECONDS + 20))
  until answers "$1"; do
    ((SECONDS < deadline)) || die "node $1 did not start ($DIR/redis-$1.log)"
    sleep 0.1
  done
}

wait_healthy() {
  local deadline=$((SECONDS + 30))
  until healthy; do
    ((SECONDS < deadline)) || die "cluster_state never ok"
    sleep 0.2
  done
}

# Restarts the nodes that are down, from their own cluster config: a killed master
# comes back as a replica of the replica promoted in its place.
heal() {
  local p
  for p in "${PORTS[@]}"; do
    answers "$p" && continue
    [ -f "$DIR/nodes-$p.conf" ] || die "node $p has no cluster config in $DIR: run stop, then start"
    log "restarting node $p"
    start_node "$p"
    wait_node "$p"
  done
  wait_healthy
  log "healthy on ${PORTS[0]}-${PORTS[5]}"
}

start() {
  command -v redis-server >/dev/null || die "redis-server missing (make services installs it)"
  if healthy; then log "up on ${PORTS[0]}-${PORTS[5]}"; return 0; fi
  stop
  mkdir -p "$DIR"
  for p in "${PORTS[@]}"; do start_node "$p"; done
  for p in "${PORTS[@]}"; do wait_node "$p"; done
  local nodes=()
  for p in "${PORTS[@]}"; do nodes+=("127.0.0.1:$p"); done
  redis-cli --cluster create "${nodes[@]}" --cluster-replicas 1 --cluster-yes >"$DIR/create.log" 2>&1 \
    || die "cluster create failed: $DIR/create.log"
  wait_healthy
  log "up on ${PORTS[0]}-${PORTS[5]}: 3 masters, 3 replicas"
}

case "${1:-start}" in
  start) start ;;
  stop) stop ;;
  seeds) seeds ;;
  heal) heal ;;
  *) die "usage: $0 [start|stop|seeds|heal]" ;;
esac
