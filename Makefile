# brisk: `make run` serves the seeded API on 127.0.0.1:8080, `make test` runs every test.
# Settings come from BRISK_* environment variables (see README.md), e.g.
#   BRISK_DIRECT_DATABASE_URL=postgres://root@127.0.0.1:5432/scratch make seed SCALE=0.1

SHELL := /bin/bash
CARGO ?= cargo
SCALE ?= 1
WORKERS ?= $(shell nproc)
BRISK := target/release/brisk

.PHONY: contract-cluster doctor nginx promtool test-redis-cluster services build migrate seed run cluster reload stop test test-cluster faults lint bench bench-compare check-budget browser
PROCS ?= 2

## services: PostgreSQL, Redis and PgBouncer up (installed from Debian's packages if missing); REDIS=cluster also starts a local Redis Cluster (3 masters, 3 replicas on 127.0.0.1:7001-7006)
services:
	scripts/services.sh
	if [ "$(REDIS)" = cluster ]; then scripts/redis-cluster.sh start; fi

## test-redis-cluster: the kit's cache, limiter and process-registry suites on a local Redis Cluster (scripts/redis-cluster.sh)
test-redis-cluster: services
	scripts/redis-cluster.sh start
	BRISK_TEST_REDIS_CLUSTER=$$(scripts/redis-cluster.sh seeds) $(CARGO) test -p brisk-kit --lib -- cache:: ratelimit:: peers::

## build: the release binary
build:
	$(CARGO) build --release

## migrate: create the database if missing and run pending migrations (direct connection)
migrate: services build
	$(BRISK) migrate

## seed: the standard data set at scale SCALE (default 1); refuses a non-empty database
seed: migrate
	$(BRISK) seed --scale $(SCALE)

## run: services, migrate, seed an empty database, then serve with WORKERS workers (default: nproc)
## (its pid in run/brisk.pid, for `make stop` and `make cluster`)
run: migrate
	$(BRISK) seed --if-empty --scale $(SCALE)
	@mkdir -p run && echo $$$$ >run/brisk.pid && exec $(BRISK) serve --workers $(WORKERS)

## cluster: PROCS brisk processes (default 2) of WORKERS workers (default 1) on 127.0.0.1:8081..
## behind nginx on 127.0.0.1:8080 (scripts/cluster.sh; stops `make run`'s server first)
cluster: migrate
	$(BRISK) seed --if-empty --scale $(SCALE)
	PROCS=$(PROCS) WORKERS=$(if $(filter-out file,$(origin WORKERS)),$(WORKERS),1) scripts/cluster.sh start

## reload: rolling restart of the cluster, one process at a time, no failed request
reload:
	scripts/cluster.sh reload

## stop: stops the cluster, its nginx and `make run`'s server
stop:
	scripts/cluster.sh stop

## browser: Debian's chromium for the headless test of the live page (once; idempotent)
browser:
	scripts/ensure-chromium.sh

## promtool: Debian's promtool for the test that checks /metrics (once; its server is not left running)
promtool:
	scripts/ensure-promtool.sh

## nginx: Debian's nginx for the tests with a proxy in front of brisk (once; idempotent)
nginx:
	scripts/ensure-nginx.sh

## test: every test against the real services (through PgBouncer), the browser, promtool and nginx tests included
test: services browser promtool nginx
	scripts/test.sh

## test-cluster: the real-process tests through nginx (tests/cluster; installs nginx and chromium if missing);
## REDIS=cluster runs them with the processes on the local Redis Cluster, its master-failover test included (.ci/run calls both)
test-cluster: services
	REDIS=$(REDIS) scripts/test-cluster.sh

## contract-cluster: schemathesis against 2 processes behind nginx, the operations endpoints left out (private listener; .ci/run calls it)
contract-cluster: services
	CONTRACT=1 scripts/test-cluster.sh

## faults: the fault suite (real processes under load, scripts/faults.sh builds the release test binary with the fault-injection feature); report in target/faults/report.md
faults: services
	scripts/faults.sh

## lint: formatting and clippy, warnings as errors
lint:
	$(CARGO) fmt --all -- --check
	$(CARGO) clippy --workspace --all-targets -- -D warnings

## bench: the load benchmark and its report (scripts/bench.sh): W1-W7 as make run serves, the access log's cost,
## nginx/pgbench ceilings, the cluster row and the doctor's cost check; BENCH_ONLY/BENCH_SKIP="part ..." for a short run
bench: services
	scripts/bench.sh

## doctor: `brisk doctor` against the server on 127.0.0.1:8080 (make run's); DOCTOR_ARGS adds flags (e.g. --ops URL... --json);
## its HTTP caching probe uses the seeded demo key of tenant 1 unless BRISK_DOCTOR_API_KEY names another
doctor: build
	BRISK_DOCTOR_API_KEY="$${BRISK_DOCTOR_API_KEY:-demo-key-1}" $(BRISK) doctor $(DOCTOR_ARGS)

## check-budget: pool_size × processes against PgBouncer and PostgreSQL's max_connections
check-budget: build
	$(BRISK) check-budget

## bench-compare: W1-W7 on the build of BEFORE (a git revision) and this tree, alternated over BENCH_ROUNDS rounds; target/bench-compare/compare.md
bench-compare: services
	BEFORE=$(BEFORE) scripts/bench-compare.sh
