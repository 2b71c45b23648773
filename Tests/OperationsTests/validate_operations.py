#!/usr/bin/env python3
"""Validates the operations files of the repository (docker/, .env.example) against real validators.

    validate_operations.py REPO_ROOT METRICS_FILE [WORKER_METRICS_FILE]

METRICS_FILE is a /metrics scrape of a running `stockboom serve`, WORKER_METRICS_FILE one of `stockboom worker`'s
port: every metric the alert rules and the Grafana dashboard use must be served (or come from an exporter of
docker-compose.yml). Prints one line per check and
exits 1 if any failed.
"""
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile

import yaml

root, metrics_file = sys.argv[1], sys.argv[2]
metrics_files = sys.argv[2:]
failures = []


def check(condition, what):
    print(("ok   " if condition else "FAIL ") + what)
    if not condition:
        failures.append(what)


def run(arguments, cwd=None):
    result = subprocess.run(arguments, cwd=cwd, capture_output=True, text=True)
    return result.returncode, result.stdout + result.stderr


docker = os.path.join(root, "docker")

# --- docker-compose.yml: the compose specification's JSON schema, then what the guide needs ---------------
compose_path = os.path.join(docker, "docker-compose.yml")
code, output = run(["check-jsonschema", "--builtin-schema", "vendor.compose-spec", compose_path])
check(code == 0, "docker-compose.yml follows the compose specification schema" + ("" if code == 0 else ": " + output))
compose = yaml.safe_load(open(compose_path))
services = compose.get("services", {})
for name in ["postgres", "redis", "api", "worker", "prometheus", "grafana", "alertmanager"]:
    check(name in services, f"compose has the guide's service {name}")
    check("healthcheck" in services.get(name, {}), f"service {name} has a healthcheck")
check(services["api"].get("ports") == ["3001:3001", "3003:3003"], "api publishes 3001 and the queue board's 3003 as the guide says")
check(services["api"].get("environment", {}).get("STOCKBOOM_BOARD_PORT") == "3003", "the api serves the queue board on 3003")
check(services["grafana"].get("ports") == ["3004:3000"], "grafana publishes 3004 as the guide says")
# Issue 17, finding 3: Redis had no password and both data stores were published on every interface.
for name in ["postgres", "redis", "prometheus", "alertmanager"]:
    ports = services[name].get("ports", [])
    check(bool(ports) and all(str(p).startswith("127.0.0.1:") for p in ports), f"{name} is published on the host's loopback only ({ports})")
check("--requirepass" in services["redis"].get("command", []), "redis requires a password (--requirepass)")
check(services["redis"].get("environment", {}).get("REDISCLI_AUTH") == "${REDIS_PASSWORD}", "redis-cli inside the container authenticates (REDISCLI_AUTH)")
for name, service in services.items():
    url = (service.get("environment") or {}).get("REDIS_URL") if isinstance(service.get("environment"), dict) else None
    if url is not None:
        check(url.startswith("redis://:${REDIS_PASSWORD}@"), f"{name}'s REDIS_URL carries the password")
api_volumes = services["api"].get("volumes", [])
check(any(v.startswith("stockboom_data:/var/lib/stockboom") for v in api_volumes), "the api keeps the event log in a named volume")
check("stockboom_data" in compose.get("volumes", {}), "the log volume is declared")
for name, service in services.items():
    for volume in service.get("volumes", []):
        source = volume.split(":")[0]
        if source.startswith("./"):
            check(os.path.exists(os.path.join(docker, source)), f"{name} mounts {source}, which exists")
    build = service.get("build")
    if build:
        dockerfile = os.path.join(docker, build["context"], build["dockerfile"])
        check(os.path.exists(dockerfile), f"{name} builds from {build['dockerfile']}, which exists")
compose_variables = set(re.findall(r"\$\{([A-Z_][A-Z0-9_]*)", open(compose_path).read()))

# --- Dockerfile: multi-stage, release build, runtime without the toolchain -----------------------------------
dockerfile = open(os.path.join(docker, "Dockerfile")).read()
stages = re.findall(r"^FROM\s+(\S+)(?:\s+AS\s+(\S+))?", dockerfile, re.M)
check(len(stages) >= 2, f"Dockerfile is multi-stage ({len(stages)} stages)")
check("swift build -c release" in dockerfile, "Dockerfile builds the release binary")
arguments = dict(re.findall(r"^ARG\s+([A-Z_]+)=(\S+)", dockerfile, re.M))
check(arguments.get("SWIFT_IMAGE", "").startswith("swift:") and arguments.get("RUNTIME_IMAGE", "").startswith("debian:"),
      f"the base images are build arguments, the official ones by default ({arguments})")
check(arguments.get("BINARY_IMAGE") == "build" and re.search(r"^FROM \$\{BINARY_IMAGE\} AS binary", dockerfile, re.M) is not None,
      "the binary comes from the build stage by default (BINARY_IMAGE=build)")
check(re.search(r"^COPY --from=binary /out/stockboom ", dockerfile, re.M) is not None, "the runtime stage copies only the binary (and its runtime libraries)")
check(stages[-1][0] == "${RUNTIME_IMAGE}", "the runtime stage is not the Swift toolchain image")
runtime = dockerfile.split("AS runtime")[-1]
packages = open(os.path.join(docker, "runtime-packages.txt")).read() if "runtime-packages.txt" in runtime else runtime
for library in ["liblz4", "libhiredis", "libpq5", "libnats"]:
    check(library in packages, f"the runtime stage installs {library}")
check("# syntax=" not in dockerfile, "no syntax directive (BuildKit would fetch a frontend image from a registry)")
command = services["postgres"].get("command", [])
check("shared_preload_libraries=pg_stat_statements" in command, "PostgreSQL loads pg_stat_statements (the guide's slow-query SQL)")
check(any("CREATE EXTENSION IF NOT EXISTS pg_stat_statements" in open(os.path.join(docker, "postgres", "init", name)).read()
          for name in os.listdir(os.path.join(docker, "postgres", "init"))), "the extension is created on first start")
check(services["redis-exporter"].get("environment", {}).get("REDIS_PASSWORD") == "${REDIS_PASSWORD}", "the Redis exporter has the password")
for name, service in services.items():
    image = service.get("image", "")
    check(image.startswith("${") and ":-" in image, f"service {name}'s image is a variable with the official default ({image})")

# --- Prometheus: promtool on the configuration, the rules and the rules' unit tests --------------------------
staging = tempfile.mkdtemp()
try:
    for name in ["prometheus.yml", "alerts.yml", "alerts_test.yml"]:
        shutil.copy(os.path.join(docker, "prometheus", name), staging)
    config = open(os.path.join(staging, "prometheus.yml")).read().replace("/etc/prometheus/alerts.yml", "alerts.yml")
    open(os.path.join(staging, "prometheus.yml"), "w").write(config)
    code, output = run(["promtool", "check", "config", "prometheus.yml"], cwd=staging)
    check(code == 0, "promtool check config prometheus.yml" + ("" if code == 0 else ": " + output))
    code, output = run(["promtool", "check", "rules", "alerts.yml"], cwd=staging)
    check(code == 0, "promtool check rules alerts.yml" + ("" if code == 0 else ": " + output))
    code, output = run(["promtool", "test", "rules", "alerts_test.yml"], cwd=staging)
    check(code == 0, "promtool test rules alerts_test.yml (the alerts fire when they should)" + ("" if code == 0 else ": " + output))
finally:
    shutil.rmtree(staging)
prometheus = yaml.safe_load(open(os.path.join(docker, "prometheus", "prometheus.yml")))
jobs = {job["job_name"]: job for job in prometheus["scrape_configs"]}
check(jobs.get("api", {}).get("static_configs", [{}])[0].get("targets") == ["api:3001"], "Prometheus scrapes api:3001/metrics")
check(jobs.get("worker", {}).get("static_configs", [{}])[0].get("targets") == ["worker:3005"], "Prometheus scrapes the worker's port (worker:3005)")
worker_environment = services["worker"].get("environment", {})
check(str(worker_environment.get("STOCKBOOM_WORKER_PORT")) == "3005", "the worker listens on 3005 in compose")
check("3005/health" in " ".join(services["worker"]["healthcheck"]["test"]), "the worker's health check asks its /health (hung, not only Redis down)")
managers = [t for m in prometheus.get("alerting", {}).get("alertmanagers", []) for c in m.get("static_configs", []) for t in c.get("targets", [])]
check(managers == ["alertmanager:9093"], f"Prometheus sends alerts to the compose Alertmanager ({managers})")

# --- Alertmanager: the template renders and amtool accepts it -----------------------------------------------
staging = tempfile.mkdtemp()
try:
    rendered = os.path.join(staging, "alertmanager.yml")
    sample = dict(os.environ, SMTP_HOST="smtp.example.com", SMTP_PORT="587", ALERT_EMAIL_TO="ops@example.com", SMTP_PASS="it's $ecret")
    bare = {k: v for k, v in sample.items() if k != "SMTP_HOST"}
    result = subprocess.run(["sh", os.path.join(docker, "alertmanager", "render.sh"), os.path.join(docker, "alertmanager", "alertmanager.yml"), rendered], env=bare, capture_output=True, text=True)
    check(result.returncode == 78 and "SMTP_HOST" in result.stderr, "render.sh refuses to render without SMTP_HOST (exit 78, says why)")
    result = subprocess.run(["sh", os.path.join(docker, "alertmanager", "render.sh"), os.path.join(docker, "alertmanager", "alertmanager.yml"), rendered], env=sample, capture_output=True, text=True)
    check(result.returncode == 0, "render.sh renders the Alertmanager template" + ("" if result.returncode == 0 else ": " + result.stderr))
    code, output = run(["amtool", "check-config", rendered])
    check(code == 0, "amtool check-config alertmanager.yml (rendered)" + ("" if code == 0 else ": " + output))
    manager = yaml.safe_load(open(rendered))
    check(manager["global"]["smtp_auth_password"] == "it's $ecret", "a password with a quote and a dollar survives rendering")
    emails = [e for r in manager["receivers"] for e in r.get("email_configs", [])]
    check(len(emails) > 0 and all(e.get("send_resolved") for e in emails), "alerts go by e-mail, resolved notices too")
finally:
    shutil.rmtree(staging)
for job, target in [("postgres", "postgres-exporter"), ("redis", "redis-exporter"), ("node", "node-exporter")]:
    host = jobs[job]["static_configs"][0]["targets"][0].split(":")[0]
    check(host in services, f"scrape job {job} targets {host}, a service of the compose file")
rules = yaml.safe_load(open(os.path.join(docker, "prometheus", "alerts.yml")))
alerts = {rule["alert"]: rule for group in rules["groups"] for rule in group["rules"]}
for name in ["HighAPILatency", "HighQueueSize", "LowDatabaseConnections", "ProjectionLagHigh", "LogFsyncSlow", "LogDiskAlmostFull",
             "APILatencyAboveTarget", "DatabaseConnectionsHigh", "RedisClientsHigh", "ProcessCPUHigh", "ProcessMemoryHigh",
             "WorkerDown", "WorkerHung"]:
    check(name in alerts, f"alert rule {name}")
# Every alert rule has a promtool case that expects it to fire.
tests = yaml.safe_load(open(os.path.join(docker, "prometheus", "alerts_test.yml")))
fired = {case["alertname"] for group in tests["tests"] for case in group.get("alert_rule_test", []) if case.get("exp_alerts")}
for name in alerts:
    check(name in fired, f"alerts_test.yml has a case in which {name} fires")
thresholds = [rule for group in rules["groups"] if group["name"] == "stockboom-thresholds" for rule in group["rules"]]

runbook = open(os.path.join(root, "docs", "runbook.md")).read()
anchors = {re.sub(r"[^a-z0-9 -]", "", heading.lower()).strip().replace(" ", "-") for heading in re.findall(r"^## (.+)$", runbook, re.M)}
for name, rule in alerts.items():
    link = rule.get("annotations", {}).get("runbook", "")
    if link:
        check(link.split("#")[-1] in anchors, f"alert {name} links a section of docs/runbook.md ({link})")

# --- Grafana: provisioning and the dashboard -------------------------------------------------------------
datasources = yaml.safe_load(open(os.path.join(docker, "grafana", "provisioning", "datasources", "prometheus.yml")))
uids = {source["uid"] for source in datasources["datasources"]}
check(any(source["url"] == "http://prometheus:9090" for source in datasources["datasources"]), "the Grafana data source is the compose Prometheus")
providers = yaml.safe_load(open(os.path.join(docker, "grafana", "provisioning", "dashboards", "stockboom.yml")))
dashboard_path = providers["providers"][0]["options"]["path"]
mounted = [v for v in services["grafana"]["volumes"] if v.split(":")[1] == dashboard_path]
check(len(mounted) == 1, f"the dashboard provider's path {dashboard_path} is mounted into grafana")
dashboard = json.load(open(os.path.join(docker, "grafana", "dashboards", "stockboom.json")))
check(bool(dashboard.get("uid")) and bool(dashboard.get("title")), "the dashboard has a uid and a title")
panels = dashboard.get("panels", [])
ids = [panel.get("id") for panel in panels]
check(len(ids) == len(set(ids)) and all(isinstance(i, int) for i in ids), "panel ids are unique integers")
expressions = []
for panel in panels:
    check(panel.get("datasource", {}).get("uid") in uids, f"panel '{panel.get('title')}' uses the provisioned data source")
    grid = panel.get("gridPos", {})
    check(all(k in grid for k in "hwxy") and grid["x"] + grid["w"] <= 24, f"panel '{panel.get('title')}' has a valid grid position")
    targets = panel.get("targets", [])
    check(len(targets) > 0 and all(t.get("expr") and t.get("refId") for t in targets), f"panel '{panel.get('title')}' has queries")
    expressions += [t["expr"] for t in targets]
# Each threshold rule of the guide has a panel that draws the same metric with a threshold at the rule's limit.
for rule in thresholds:
    limit = re.search(r">=?\s*([0-9.e]+)\s*$", rule["expr"])
    metrics = set(re.findall(r"[a-z_]+_(?:bucket|percent|bytes|clients|active|consumers|total)\b", rule["expr"]))
    if not limit or not metrics:
        continue  # WorkerDown: `up`, no panel of its own
    value = float(limit.group(1))
    drawn = [panel for panel in panels if any(m in t.get("expr", "") for t in panel.get("targets", []) for m in metrics)
             and any(step.get("value") is not None and abs(float(step["value"]) - value) <= max(1e-9, value * 1e-9)
                     for step in panel.get("fieldConfig", {}).get("defaults", {}).get("thresholds", {}).get("steps", []))]
    check(len(drawn) > 0, f"a Grafana panel draws {rule['alert']}'s {sorted(metrics)} with a threshold at {value:g}")
for topic, metric in [("request latency", "http_request_duration_seconds_bucket"), ("queue sizes", "bullmq_queue_waiting_count"),
                      ("projection lag", "stockboom_projection_lag_events"), ("append rate", "stockboom_log_records_total"),
                      ("fsync latency", "stockboom_log_fsync_seconds_max"), ("orders by status", "stockboom_orders")]:
    check(any(metric in e for e in expressions), f"the dashboard shows {topic} ({metric})")

# --- every metric used is served ---------------------------------------------------------------------------
served = set()
for path in metrics_files:
    for line in open(path):
        if line and not line.startswith("#"):
            served.add(re.split(r"[{\s]", line, 1)[0])
check(len(served) > 10, f"the /metrics scrape has {len(served)} series names")
functions = {"histogram_quantile", "sum", "by", "rate", "max", "min", "avg", "le", "irate", "increase", "count", "without", "on", "and", "or", "unless", "humanize"}
used = set()
for expression in expressions + [rule["expr"] for rule in alerts.values()]:
    stripped = re.sub(r"\{[^}]*\}|\[[^\]]*\]|\"[^\"]*\"|\b\d+(\.\d+)?(e\d+)?\b", "", expression)
    for name in re.findall(r"[a-zA-Z_:][a-zA-Z0-9_:]*", stripped):
        if name not in functions and not re.fullmatch(r"\d+", name):
            used.add(name)
# The replication gauges exist only on a replicated node (STOCKBOOM_REPLICATION; the scraped serve is a single
# node): they must at least be the names GatewayMetrics.swift registers.
gateway_metrics = open(os.path.join(root, "Sources", "Gateway", "GatewayMetrics.swift")).read()
replicated_only = set(re.findall(r'"(stockboom_replication_[a-z_]+)"', gateway_metrics))
check(len(replicated_only) >= 5, f"GatewayMetrics.swift registers the replication gauges ({sorted(replicated_only)})")
for name in sorted(used):
    if name == "up":
        continue  # Prometheus's own series for every scrape job
    by_labels = name in {"projection", "queue", "route", "status", "state", "le", "instance", "job", "path", "code", "outcome"}
    check(by_labels or name in served or name in replicated_only, f"metric {name} is served by /metrics")

# --- .env.example lists every variable -------------------------------------------------------------------
example = open(os.path.join(root, ".env.example")).read()
listed = set(re.findall(r"^([A-Z_][A-Z0-9_]*)=", example, re.M))
read = set()
for directory, _, files in os.walk(os.path.join(root, "Sources")):
    for name in files:
        if name.endswith(".swift"):
            read |= set(re.findall(r'environment\??\["([A-Z_][A-Z0-9_]*)"\]', open(os.path.join(directory, name)).read()))
for directory, _, files in os.walk(os.path.join(root, "scripts")):
    for script in files:
        read |= set(re.findall(r"\$\{(SB_[A-Z_]+)", open(os.path.join(directory, script)).read()))
read.discard("SWIFT_BACKTRACE")
for variable in sorted(read | compose_variables):
    check(variable in listed, f".env.example lists {variable}")
previous = ""
for line in example.splitlines():
    match = re.match(r"^([A-Z_][A-Z0-9_]*)=", line)
    if match:
        check(previous.startswith("#"), f".env.example explains {match.group(1)} in a comment")
    else:
        previous = line

print(f"{len(failures)} failure(s)")
sys.exit(1 if failures else 0)
