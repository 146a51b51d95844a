#!/usr/bin/env bash
# A local Redis Cluster for the cluster suites and `make services REDIS=cluster`:
# 3 masters with one replica each (Debian's redis-server, `redis-cli --cluster
# create --cluster-replicas 1`) on 127.0.0.1:7001-7006, no persistence, data and logs
# under run/redis-cluster/. Idempotent: a cluster that answers `cluster_state:ok` is
# left alone, whichever checkout started it. `scripts/redis-cluster.sh stop` stops it;
# `seeds` prints its seed URLs; `heal` restarts the nodes that are down (a test
# SIGKILLed a master: the node rejoins as a replica of the one promoted in its place)
# from the directory the running nodes use, replaces a node whose config is gone, and
# waits for `cluster_state:ok`.
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

# Starts the node on port $1 in directory $2 (default $DIR), where its cluster config
# (nodes-$1.conf), if any, is kept.
start_node() {
  local dir="${2:-$DIR}"
  redis-server --port "$1" --bind 127.0.0.1 --cluster-enabled yes \
    --cluster-config-file "$dir/nodes-$1.conf" --cluster-node-timeout 2000 \
    --save "" --appendonly no --dir "$dir" --daemonize yes \
    --logfile "$dir/redis-$1.log" --pidfile "$dir/redis-$1.pid"
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

# The directory the running nodes were started in (`CONFIG GET dir` of the first
# that answers): $DIR, or another checkout's run/redis-cluster/ when the cluster was
# started from there (a worktree finds it healthy and leaves it alone).
live_dir() {
  local p
  for p in "${PORTS[@]}"; do
    answers "$p" || continue
    redis-cli -p "$p" config get dir | sed -n 2p
    return 0
  done
  return 1
}

# The id of the node the live ones know at port $1 (marked failed while it is down).
known_id() {
  local p
  for p in "${PORTS[@]}"; do
    answers "$p" || continue
    redis-cli -p "$p" cluster nodes | awk -v a="127.0.0.1:$1@" 'index($2, a) == 1 { print $1; exit }'
    return 0
  done
}

# Node $1 is down and its cluster config is gone (its directory was removed): a new
# node takes its port, the others forget the old one, and it joins as a replica of
# a master that lacks one (`redis-cli --cluster add-node --cluster-slave`).
replace_node() {
  local port="$1" old live p
  old="$(known_id "$port")"
  mkdir -p "$DIR"
  rm -f "$DIR/nodes-$port.conf"
  log "node $port has no cluster config left: replacing it (new node in $DIR)"
  start_node "$port" "$DIR"
  wait_node "$port"
  for p in "${PORTS[@]}"; do
    [ "$p" != "$port" ] && answers "$p" || continue
    live="$p"
    [ -n "$old" ] && redis-cli -p "$p" cluster forget "$old" >/dev/null 2>&1 || true
  done
  [ -n "${live:-}" ] || die "no node left to join"
  redis-cli --cluster add-node "127.0.0.1:$port" "127.0.0.1:$live" --cluster-slave \
    >"$DIR/add-node-$port.log" 2>&1 || die "node $port did not join: $DIR/add-node-$port.log"
}

# True within 10 s once a node that answers reports cluster_state:ok.
live_cluster_ok() {
  local p deadline=$((SECONDS + 10))
  while ((SECONDS < deadline)); do
    for p in "${PORTS[@]}"; do
      redis-cli -p "$p" cluster info 2>/dev/null | grep -q 'cluster_state:ok' && return 0
    done
    sleep 0.2
  done
  return 1
}

# Stops whatever runs and creates the cluster again, in $DIR.
recreate() {
  log "$1: creating the cluster afresh"
  stop
  start
}

# Restarts the nodes that are down, from their own cluster config (in the directory
# the live nodes run in, whichever checkout started them): a killed master comes back
# as a replica of the replica promoted in its place. A node whose config is gone is
# replaced, if the others form a cluster to join. Otherwise (no node up, their
# directory removed, no cluster left) the cluster is created afresh.
heal() {
  local p dir missing=()
  dir="$(live_dir)" || { recreate "no node answers"; return; }
  # A node that cannot save its config exits: nothing to heal in place.
  [ -d "$dir" ] || { recreate "the nodes ran in $dir, which is gone"; return; }
  for p in "${PORTS[@]}"; do
    answers "$p" && continue
    if [ -f "$dir/nodes-$p.conf" ]; then
      log "restarting node $p (config in $dir)"
      start_node "$p" "$dir"
      wait_node "$p"
    else
      missing+=("$p")
    fi
  done
  if ((${#missing[@]})); then
    live_cluster_ok || { recreate "nodes ${missing[*]} have no config and no cluster is left"; return; }
    for p in "${missing[@]}"; do replace_node "$p"; done
  fi
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
