# brisk developer targets. `make test` needs PostgreSQL (5432), PgBouncer (6432) and
# Redis (6379) running, and installs Debian's chromium for the browser test.

.PHONY: test bench browser

browser:
	scripts/ensure-chromium.sh

test: browser
	cargo test

# Drives a release brisk on the seeded data set with wrk; writes target/bench/report.md.
bench:
	scripts/bench.sh
