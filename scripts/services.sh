#!/usr/bin/env bash
# Brings up what brisk needs, idempotently (`make services`):
#   PostgreSQL 127.0.0.1:5432, Redis 127.0.0.1:6379, PgBouncer 127.0.0.1:6432,
#   plus libpq-dev (Diesel links libpq) and wrk (benchmarks); PostgreSQL preloads
#   pg_stat_statements (for `brisk doctor`: restarted once when it does not).
# A service that already answers is left alone. What is missing is installed
# from Debian's packages and started with its data and logs under run/.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
RUN="$ROOT/run"
DEADLINE_SECS="${SERVICES_DEADLINE_SECS:-30}"
# Other ports only to try this script beside running services; the data of
# a non-default port goes to run/<service>-<port>.
PG_PORT="${SERVICES_POSTGRES_PORT:-5432}"
REDIS_PORT="${SERVICES_REDIS_PORT:-6379}"
PGB_PORT="${SERVICES_PGBOUNCER_PORT:-6432}"

log() { echo "services: $*"; }
die() { echo "services: $*" >&2; exit 1; }

# True when something accepts TCP connections on 127.0.0.1:$1.
port_open() {
    (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null
}

# Polls `$@` until it succeeds or the deadline passes.
wait_for() {
    local what="$1"
    shift
    local deadline=$((SECONDS + DEADLINE_SECS))
    until "$@"; do
        if [ "$SECONDS" -ge "$deadline" ]; then
            die "$what did not come up within ${DEADLINE_SECS}s"
        fi
        sleep 0.2
    done
}

# shellcheck source=lib/apt.sh
source "$ROOT/scripts/lib/apt.sh"

# Runs a command as the postgres system user (initdb, pg_ctl and PgBouncer
# refuse to run as root).
as_postgres() {
    if [ "$(id -un)" = postgres ]; then
        "$@"
    elif [ "$(id -u)" -eq 0 ]; then
        runuser -u postgres -- "$@"
    else
        sudo -u postgres -- "$@"
    fi
}

pg_bin() {
    local dir
    dir="$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1)"
    [ -n "$dir" ] || die "no PostgreSQL server binaries under /usr/lib/postgresql"
    echo "$dir"
}

ensure_postgres() {
    if port_open "$PG_PORT"; then
        log "PostgreSQL is up on 127.0.0.1:$PG_PORT"
        return 0
    fi
    apt_install postgresql
    local bin data="$RUN/postgres" socket="$RUN/postgres-socket"
    if [ "$PG_PORT" != 5432 ]; then
        data="$RUN/postgres-$PG_PORT"
        socket="$RUN/postgres-socket-$PG_PORT"
    fi
    bin="$(pg_bin)"
    $SUDO mkdir -p "$data" "$socket"
    $SUDO chown postgres: "$data" "$socket"
    $SUDO chmod 700 "$data"
    if [ ! -f "$data/PG_VERSION" ]; then
        log "initdb $data (trust authentication, local development only)"
        as_postgres "$bin/initdb" -D "$data" -U postgres --auth=trust --encoding=UTF8 \
            --locale=C.UTF-8 >/dev/null
    fi
    log "starting PostgreSQL from $data"
    as_postgres "$bin/pg_ctl" -D "$data" -l "$data/postgres.log" -w -t "$DEADLINE_SECS" \
        -o "-c listen_addresses=127.0.0.1 -p $PG_PORT -c unix_socket_directories=$socket -c max_connections=100" \
        start >/dev/null
    wait_for "PostgreSQL" port_open "$PG_PORT"
    # brisk connects as root (the default URLs); create the role and its
    # database once.
    local psql_pg=(psql -h 127.0.0.1 -p "$PG_PORT" -U postgres -d postgres -qAt)
    if [ "$("${psql_pg[@]}" -c "SELECT 1 FROM pg_roles WHERE rolname = 'root'")" != 1 ]; then
        "${psql_pg[@]}" -c "CREATE ROLE root SUPERUSER LOGIN"
    fi
    if [ "$("${psql_pg[@]}" -c "SELECT 1 FROM pg_database WHERE datname = 'root'")" != 1 ]; then
        "${psql_pg[@]}" -c "CREATE DATABASE root OWNER root"
    fi
}

# psql as a superuser of the running PostgreSQL (root, which brisk uses, else
# postgres): one value per line, no headers.
psql_admin() {
    psql -h 127.0.0.1 -p "$PG_PORT" -U root -d postgres -qAtX "$@" 2>/dev/null \
        || psql -h 127.0.0.1 -p "$PG_PORT" -U postgres -d postgres -qAtX "$@"
}

pg_accepts() {
    psql_admin -c "SELECT 1" >/dev/null 2>&1
}

# `brisk doctor` reads the top statements from pg_stat_statements, which only
# works when the library is preloaded. When `shared_preload_libraries` lacks it
# (once per machine), add it with ALTER SYSTEM (keeping what is there) and
# restart: through pg_ctlcluster when Debian's cluster tools own the data
# directory, else with pg_ctl (which reuses the server's own options). A restart
# drops every connection, so it happens only when the setting is missing. The
# extension itself (CREATE EXTENSION) is made by the doctor in the database it
# checks: it needs a superuser, which the application's role need not be.
ensure_pg_stat_statements() {
    local libs
    libs="$(psql_admin -c "SHOW shared_preload_libraries")"
    case ",${libs// /}," in
    *,pg_stat_statements,*)
        log "PostgreSQL preloads pg_stat_statements"
        return 0
        ;;
    esac
    local data cluster
    data="$(psql_admin -c "SHOW data_directory")"
    log "adding pg_stat_statements to shared_preload_libraries (was '${libs}') and restarting PostgreSQL"
    psql_admin -c "ALTER SYSTEM SET shared_preload_libraries = '${libs:+$libs,}pg_stat_statements'"
    cluster="$(pg_lsclusters --no-header 2>/dev/null | awk -v d="$data" '$6 == d { print $1, $2 }')"
    if [ -n "$cluster" ]; then
        # shellcheck disable=SC2086 # "<version> <name>"
        $SUDO pg_ctlcluster --skip-systemctl-redirect $cluster restart
    else
        as_postgres "$(pg_bin)/pg_ctl" -D "$data" -w -t "$DEADLINE_SECS" restart >/dev/null
    fi
    wait_for "PostgreSQL (after the restart)" pg_accepts
    libs="$(psql_admin -c "SHOW shared_preload_libraries")"
    case ",${libs// /}," in
    *,pg_stat_statements,*) log "PostgreSQL preloads pg_stat_statements" ;;
    *) die "PostgreSQL restarted without pg_stat_statements (shared_preload_libraries = '$libs')" ;;
    esac
}

ensure_redis() {
    if port_open "$REDIS_PORT"; then
        log "Redis is up on 127.0.0.1:$REDIS_PORT"
        return 0
    fi
    apt_install redis-server
    local dir="$RUN/redis"
    [ "$REDIS_PORT" = 6379 ] || dir="$RUN/redis-$REDIS_PORT"
    mkdir -p "$dir"
    log "starting Redis with data in $dir"
    redis-server --daemonize yes --bind 127.0.0.1 --port "$REDIS_PORT" --dir "$dir" \
        --logfile "$dir/redis.log" --pidfile "$dir/redis.pid"
    wait_for "Redis" port_open "$REDIS_PORT"
}

# PgBouncer answers when a query through it reaches PostgreSQL.
pgbouncer_answers() {
    psql "postgres://root@127.0.0.1:$PGB_PORT/postgres?connect_timeout=2" -qAtc "SELECT 1" \
        >/dev/null 2>&1
}

ensure_pgbouncer() {
    if port_open "$PGB_PORT"; then
        log "PgBouncer is up on 127.0.0.1:$PGB_PORT"
        return 0
    fi
    local before=("${INSTALLED[@]}")
    apt_install pgbouncer
    if [ "${#INSTALLED[@]}" -gt "${#before[@]}" ]; then
        # Debian may start its own instance (/etc/pgbouncer) on install: ours
        # replaces it.
        $SUDO service pgbouncer stop >/dev/null 2>&1 || true
    fi
    local dir="$RUN/pgbouncer"
    [ "$PGB_PORT" = 6432 ] || dir="$RUN/pgbouncer-$PGB_PORT"
    # The config with absolute paths, owned by postgres: PgBouncer runs as
    # that user and must read it and the auth file, and write its log and pid.
    local tmp
    tmp="$(mktemp)"
    sed -e "s#= run/pgbouncer/#= $dir/#" -e "s#= deploy/#= $dir/#" \
        -e "s#^listen_port = .*#listen_port = $PGB_PORT#" \
        -e "s#^\\* = host=127.0.0.1 port=5432#* = host=127.0.0.1 port=$PG_PORT#" \
        "$ROOT/deploy/pgbouncer.ini" >"$tmp"
    $SUDO install -d -o postgres -g postgres "$dir"
    $SUDO install -o postgres -g postgres -m 0644 "$tmp" "$dir/pgbouncer.ini"
    $SUDO install -o postgres -g postgres -m 0644 "$ROOT/deploy/userlist.txt" "$dir/userlist.txt"
    rm -f "$tmp"
    $SUDO rm -f "$dir/pgbouncer.pid"
    log "starting PgBouncer (session mode) from $dir/pgbouncer.ini"
    as_postgres pgbouncer -d "$dir/pgbouncer.ini"
    wait_for "PgBouncer" port_open "$PGB_PORT"
    wait_for "PgBouncer (query through it)" pgbouncer_answers
}

mkdir -p "$RUN"
apt_install libpq-dev wrk
# psql is used below to check PgBouncer and to set up a fresh cluster.
command -v psql >/dev/null || apt_install postgresql-client
ensure_postgres
ensure_pg_stat_statements
ensure_redis
ensure_pgbouncer
log "ready: PostgreSQL 127.0.0.1:$PG_PORT, PgBouncer 127.0.0.1:$PGB_PORT, Redis 127.0.0.1:$REDIS_PORT"
