# Sourced by scripts/bench.sh: the cluster row. W1 and W3 through nginx (deploy/nginx.conf,
# as `make cluster` runs it: 1 nginx worker, upstream keep-alive, its access log on) in
# front of 2 brisk processes of 1 worker each (`--processes 2 --trusted-hops 1`, one
# shared secret, make run's log configuration), then the same workloads against one
# process of 2 workers direct (variants "cluster-nginx" and "cluster-direct").
# Ports: nginx on BENCH_PORT+20, the processes on BENCH_PORT+21 and +22, never 8080-8082.

CLUSTER_PORT=$((PORT + 20))
CLUSTER_DIR="$(realpath -m "$OUT")/cluster"
CLUSTER_PIDS=""
CLUSTER_NGINX_PID=""

stop_cluster_row() {
  local p
  if [[ -n "$CLUSTER_NGINX_PID" ]] && kill -0 "$CLUSTER_NGINX_PID" 2>/dev/null; then
    kill -QUIT "$CLUSTER_NGINX_PID"
  fi
  for p in $CLUSTER_PIDS; do
    kill -TERM "$p" 2>/dev/null || true
  done
  for p in $CLUSTER_PIDS; do
    wait "$p" 2>/dev/null || true
  done
  local deadline=$((SECONDS + 20))
  while [[ -n "$CLUSTER_NGINX_PID" ]] && kill -0 "$CLUSTER_NGINX_PID" 2>/dev/null && ((SECONDS < deadline)); do
    sleep 0.1
  done
  CLUSTER_PIDS=""
  CLUSTER_NGINX_PID=""
  CPU_PIDS=""
}

# start_cluster_row BIN: the 2 processes, then nginx in front of them.
start_cluster_row() {
  local bin=$1 i upstreams="" prefix="$CLUSTER_DIR/nginx"
  ensure_nginx
  mkdir -p "$prefix/tmp"
  # One secret for both processes (cursors signed by one are read by the other).
  local secret
  secret=$(od -An -tx1 -N32 /dev/urandom | tr -d ' \n')
  for i in 1 2; do
    BRISK_SECRET=$secret spawn_brisk "$bin" $((CLUSTER_PORT + i)) 1 "$OUT/brisk.log" --processes 2 --trusted-hops 1
    CLUSTER_PIDS="$CLUSTER_PIDS $SPAWNED"
    upstreams+="server 127.0.0.1:$((CLUSTER_PORT + i)) max_fails=0; "
  done
  sed -e "s#@PREFIX@#$prefix#g" -e "s#@LISTEN@#127.0.0.1:$CLUSTER_PORT#" \
    -e "s#@UPSTREAMS@#$upstreams#" deploy/nginx.conf >"$prefix/nginx.conf"
  # The CPU of the whole row: both processes, nginx's master and its worker.
  CPU_PIDS="$CLUSTER_PIDS"
  start_nginx "$prefix" "$CLUSTER_PORT"
  CLUSTER_NGINX_PID=$NGINX_PID
}

# cluster_row BIN: the whole part.
cluster_row() {
  local bin=$1
  rm -rf "$CLUSTER_DIR"
  start_cluster_row "$bin"
  TARGET="http://127.0.0.1:$CLUSTER_PORT" RUN_DURATION=$EXTRA_DURATION \
    run W1 "GET /api/catalog" W1 1 cluster-nginx
  TARGET="http://127.0.0.1:$CLUSTER_PORT" RUN_DURATION=$EXTRA_DURATION \
    run W3 "GET /api/orders?page=1..20&per_page=50" W3 1 cluster-nginx
  # nginx's access log of the row: its size is part of the proxy's cost, not kept.
  stop_cluster_row
  rm -f "$CLUSTER_DIR/nginx/access.log"
  start_brisk "$bin" 2
  RUN_DURATION=$EXTRA_DURATION run W1 "GET /api/catalog" W1 2 cluster-direct
  RUN_DURATION=$EXTRA_DURATION run W3 "GET /api/orders?page=1..20&per_page=50" W3 2 cluster-direct
  stop_brisk
}
