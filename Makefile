# The two commands of the README: `make demo` runs the main job, `make test` runs every test.
.PHONY: demo demo-serve test test-docker bench-day bench-backup bench-log bench-engine bench-projections bench-gateway bench-dashboard bench-queue bench-replication bench-failover services-start services-stop build

demo:
	scripts/demo.sh

# The demo's day in the dashboard afterwards (http://127.0.0.1:3001/, minji@example.com / stockboom-demo).
demo-serve:
	scripts/demo.sh --serve

test:
	scripts/test.sh

# The compose stack started for real: a trading session through it and the runbook's marked blocks run as
# written (root, Docker; minutes; not part of `make test`). RELIABILITY.md quotes a run.
test-docker:
	scripts/test-docker.sh

bench-day:
	scripts/bench-day.sh

bench-backup:
	scripts/bench-backup.sh

# Durable appends local vs sync vs async replication (three nats-servers), and follower lag.
bench-replication:
	scripts/bench-replication.sh

# The failover time over 20 SIGKILLs of the primary (long mode of the FailoverTests suite).
bench-failover:
	scripts/bench-failover.sh

bench-engine:
	scripts/bench-engine.sh

bench-projections:
	scripts/bench-projections.sh

bench-queue:
	scripts/bench-queue.sh

bench-gateway:
	scripts/bench-gateway.sh

# The dashboard's first paint with the demo's day loaded, in headless Chromium (BENCHMARKS.md).
bench-dashboard:
	scripts/bench-dashboard.sh

bench-log:
	scripts/bench-log.sh

build:
	swift build

services-start:
	scripts/services.sh start

services-stop:
	scripts/services.sh stop
