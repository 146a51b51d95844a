#!/usr/bin/env bash
# N brisk processes behind nginx on one host (docs/DEPLOY.md).
#   scripts/cluster.sh start    # `make cluster PROCS=N WORKERS=M`
#   scripts/cluster.sh reload   # `make reload`: rolling restart, one process at a time
#   scripts/cluster.sh stop     # `make stop`: the cluster, its nginx, `make run`'s server
# Process i (1..N) serves the API on 127.0.0.1:808i and its operations endpoints on
# 127.0.0.1:909i; nginx listens on 127.0.0.1:8080. Pids, logs, the shared secret and
# nginx's files are under run/cluster/ (CLUSTER_RUN).
#
# `reload` works on whatever processes have a brisk-*.pid file in CLUSTER_RUN: each is
# restarted with its own command line and environment (read from /proc), so the
# cluster tests point it at their own processes (CLUSTER_RUN, CLUSTER_PUBLIC).
#
# Another cluster beside `make cluster`'s (schemathesis through nginx does this):
# CLUSTER_RUN (its directory), CLUSTER_PORT (nginx's port; process i on
# CLUSTER_PORT+i) and CLUSTER_OPS_PORT (process i's operations endpoints on
# CLUSTER_OPS_PORT+i); the processes read every other setting from BRISK_* variables.
# Such a cluster leaves `make run`'s server alone.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
RUN="${CLUSTER_RUN:-$ROOT/run/cluster}"
BRISK="${BRISK:-$ROOT/target/release/brisk}"
PROCS="${PROCS:-2}"
WORKERS="${WORKERS:-1}"
PUBLIC_PORT="${CLUSTER_PORT:-8080}"
OPS_PORT="${CLUSTER_OPS_PORT:-9090}"
# nginx's address, through which `reload` checks a restarted process gets traffic.
PUBLIC="${CLUSTER_PUBLIC:-127.0.0.1:$PUBLIC_PORT}"
DEADLINE_SECS="${CLUSTER_DEADLINE_SECS:-60}"
# `make run`'s server records its pid here (Makefile).
RUN_PID="$ROOT/run/brisk.pid"

log() { echo "cluster: $*"; }
die() { echo "cluster: $*" >&2; exit 1; }

port_open() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

# shellcheck source=lib/nginx.sh
source "$ROOT/scripts/lib/nginx.sh"


# True while pid $1 runs (a zombie has exited: a test harness reaps its children late).
alive() {
    local state
    state="$(awk '{print $3}' "/proc/$1/stat" 2>/dev/null)" || return 1
    [ -n "$state" ] && [ "$state" != Z ]
}

# Polls `$@` until it succeeds; dies naming $1 after DEADLINE_SECS.
wait_for() {
    local what="$1"
    shift
    local deadline=$((SECONDS + DEADLINE_SECS))
    until "$@"; do
        [ "$SECONDS" -lt "$deadline" ] || die "$what: not within ${DEADLINE_SECS}s"
        sleep 0.1
    done
}

not_alive() { ! alive "$1"; }

# SIGTERMs pid $1 and waits for its exit (the drain takes at most the shutdown timeout).
stop_pid() {
    alive "$1" || return 0
    kill -TERM "$1" 2>/dev/null || return 0
    wait_for "pid $1 to exit after SIGTERM" not_alive "$1"
}

# `make run`'s server, if it runs (not for a cluster of another directory).
stop_run_server() {
    [ -z "${CLUSTER_RUN:-}" ] || return 0
    [ -f "$RUN_PID" ] || return 0
    local pid
    pid="$(cat "$RUN_PID")"
    if alive "$pid" && [ "$(cat "/proc/$pid/comm")" = brisk ]; then
        log "stopping make run's server (pid $pid)"
        stop_pid "$pid"
    fi
    rm -f "$RUN_PID"
}

# The cursor-signing secret every process shares, generated once.
ensure_secret() {
    if [ ! -s "$RUN/secret" ]; then
        (umask 077 && od -An -tx1 -N32 /dev/urandom | tr -d ' \n' >"$RUN/secret")
        log "generated the shared secret in $RUN/secret"
    fi
}

# The operations port of a process, from its command line (`--admin-bind ADDR`).
admin_port() {
    tr '\0' '\n' <"/proc/$1/cmdline" | grep -A1 -x -- --admin-bind | tail -n 1 | sed 's/.*://'
}

ready() { [ "$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$1/ready")" = 200 ]; }

# API requests the process on operations port $1 has answered since it started.
answered() {
    curl -s "http://127.0.0.1:$1/metrics" |
        awk '/^brisk_http_requests_total/ { n += $NF } END { print n + 0 }'
}

# True once nginx has routed a request to the process on operations port $1: nothing
# else talks to its API listener, so its first answered request came through nginx.
routed() {
    [ "$(answered "$1")" -gt 0 ] && return 0
    curl -s -o /dev/null "http://$PUBLIC/health" || true
    [ "$(answered "$1")" -gt 0 ]
}

# Starts process $1 with `serve` flags $2..., detached, its log appended to brisk-$1.log.
spawn() {
    local i="$1"
    shift
    setsid nohup "$@" >>"$RUN/brisk-$i.log" 2>&1 </dev/null &
    echo $! >"$RUN/brisk-$i.pid"
}

cmd_start() {
    mkdir -p "$RUN"
    [ -x "$BRISK" ] || die "$BRISK missing (make build)"
    if compgen -G "$RUN/brisk-*.pid" >/dev/null; then
        for f in "$RUN"/brisk-*.pid; do
            alive "$(cat "$f")" && die "the cluster already runs (make stop, or make reload)"
        done
    fi
    stop_run_server
    if port_open "$PUBLIC_PORT"; then
        die "127.0.0.1:$PUBLIC_PORT is taken by another program ($(ss -ltnpH "sport = :$PUBLIC_PORT" | grep -o 'users:.*' || echo unknown)): stop it first"
    fi
    ensure_nginx
    ensure_secret
    # In the environment, not on the command line (ps shows that to every user).
    BRISK_SECRET="$(cat "$RUN/secret")"
    export BRISK_SECRET
    # Passes or refuses with its arithmetic before anything starts.
    "$BRISK" check-budget --processes "$PROCS"
    rm -f "$RUN"/brisk-*.pid
    local i upstreams=""
    for i in $(seq 1 "$PROCS"); do
        spawn "$i" "$BRISK" serve --bind "127.0.0.1:$((PUBLIC_PORT + i))" \
            --admin-bind "127.0.0.1:$((OPS_PORT + i))" --workers "$WORKERS" \
            --processes "$PROCS" --trusted-hops 1
        upstreams+="server 127.0.0.1:$((PUBLIC_PORT + i)) max_fails=0; "
    done
    for i in $(seq 1 "$PROCS"); do
        wait_for "process $i ready (see $RUN/brisk-$i.log)" ready "$((OPS_PORT + i))"
    done
    start_nginx "$upstreams"
    log "ready: http://127.0.0.1:$PUBLIC_PORT through nginx to $PROCS processes" \
        "(127.0.0.1:$((PUBLIC_PORT + 1))..$((PUBLIC_PORT + PROCS)), operations on" \
        "127.0.0.1:$((OPS_PORT + 1))..$((OPS_PORT + PROCS))); logs and pids in $RUN"
}

# Renders deploy/nginx.conf with server lines $1 and starts nginx on :$PUBLIC_PORT.
start_nginx() {
    local prefix="$RUN/nginx"
    mkdir -p "$prefix/tmp" "$prefix/logs"
    sed -e "s#@PREFIX@#$prefix#g" -e "s#@LISTEN@#127.0.0.1:$PUBLIC_PORT#" \
        -e "s#@UPSTREAMS@#$1#" "$ROOT/deploy/nginx.conf" >"$prefix/nginx.conf"
    nginx -t -q -p "$prefix" -c "$prefix/nginx.conf" ||
        die "nginx refused $prefix/nginx.conf"
    nginx -p "$prefix" -c "$prefix/nginx.conf"
    wait_for "nginx on 127.0.0.1:$PUBLIC_PORT" port_open "$PUBLIC_PORT"
    log "nginx on 127.0.0.1:$PUBLIC_PORT (config $prefix/nginx.conf, logs $prefix)"
}

# Restarts the process of pid file $1: SIGTERM, wait for its exit, start it again
# with the same command line and environment, wait until it is ready and nginx
# routes to it.
restart_one() {
    local file="$1" i pid admin cmd=() env=()
    i="$(basename "$file" .pid)"
    i="${i#brisk-}"
    pid="$(cat "$file")"
    alive "$pid" || die "process $i (pid $pid) is not running"
    admin="$(admin_port "$pid")"
    [ -n "$admin" ] || die "process $i has no --admin-bind: nothing to probe"
    mapfile -d '' -t cmd <"/proc/$pid/cmdline"
    mapfile -d '' -t env <"/proc/$pid/environ"
    local cwd
    cwd="$(readlink "/proc/$pid/cwd")"
    local start=$SECONDS
    stop_pid "$pid"
    (cd "$cwd" && spawn "$i" env -i "${env[@]}" "${cmd[@]}")
    wait_for "process $i ready again (see $RUN/brisk-$i.log)" ready "$admin"
    wait_for "nginx to route to process $i" routed "$admin"
    log "process $i restarted (pid $(cat "$file")) in $((SECONDS - start)) s"
}

cmd_reload() {
    compgen -G "$RUN/brisk-*.pid" >/dev/null || die "no cluster runs (make cluster)"
    local f
    for f in "$RUN"/brisk-*.pid; do
        restart_one "$f"
    done
    log "reload done"
}

cmd_stop() {
    local f
    if compgen -G "$RUN/brisk-*.pid" >/dev/null; then
        for f in "$RUN"/brisk-*.pid; do
            stop_pid "$(cat "$f")" &
        done
        wait
        rm -f "$RUN"/brisk-*.pid
        log "brisk processes stopped"
    fi
    if [ -f "$RUN/nginx/nginx.pid" ]; then
        local pid
        pid="$(cat "$RUN/nginx/nginx.pid")"
        if alive "$pid"; then
            kill -QUIT "$pid"
            wait_for "nginx to exit" not_alive "$pid"
            log "nginx stopped"
        fi
    fi
    stop_run_server
}

case "${1:-}" in
start) cmd_start ;;
reload) cmd_reload ;;
stop) cmd_stop ;;
*) die "usage: $0 start|reload|stop" ;;
esac
