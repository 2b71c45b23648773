#!/usr/bin/env bash
# make test-docker: the compose stack started for real, a short trading session through it, then every command
# block of docs/runbook.md marked `<!-- docker-test -->` run verbatim (with the runbook's own `dc` alias).
# Not part of `make test` (building the images and starting the stack take minutes; see RELIABILITY.md for a
# run's output). Needs root (dockerd) on a Debian 12 host; installs docker.io, debootstrap and docker-compose.
#
# On a host without an image registry the images come from scripts/docker-images.sh (Debian packages and the
# binary built here); Grafana has no Debian package, so it is not started (its files are checked statically by
# OperationsTests). `docker compose` is Debian's docker-compose v1 behind a CLI plugin shim when the docker
# CLI has no Compose v2. The stack uses .env.production at the repository root, as the runbook does: the test
# writes one (and removes it) and refuses to run if one exists.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
root="$(pwd)"
work="$root/var/docker"
mkdir -p "$work"
log() { printf 'test-docker: %s\n' "$*"; }
fail() { printf 'test-docker: FAIL %s\n' "$*" >&2; exit 1; }

# --- the machine: packages, dockerd, docker compose ---------------------------------------------------------
missing=()
for package in docker.io debootstrap docker-compose curl python3; do
    dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q "install ok installed" || missing+=("$package")
done
if [ ${#missing[@]} -gt 0 ]; then
    log "installing ${missing[*]}"
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
if ! docker info >/dev/null 2>&1; then
    log "starting dockerd (vfs storage)"
    nohup dockerd --storage-driver=vfs >"$work/dockerd.log" 2>&1 &
    for _ in $(seq 1 60); do docker info >/dev/null 2>&1 && break; sleep 1; done
    docker info >/dev/null 2>&1 || fail "dockerd did not start (see $work/dockerd.log)"
fi
if ! docker compose version >/dev/null 2>&1; then
    mkdir -p "$HOME/.docker/cli-plugins"
    install -m 0755 scripts/docker-compose-plugin.sh "$HOME/.docker/cli-plugins/docker-compose"
    log "docker compose = $(docker compose version | head -1) (Compose v1 behind scripts/docker-compose-plugin.sh)"
fi

# --- images and the env file -----------------------------------------------------------------------------------
[ ! -e .env.production ] || fail ".env.production exists: this test writes its own; move yours away first"
log "images (scripts/docker-images.sh)"
scripts/docker-images.sh >"$work/images.env"
{
    echo "COMPOSE_PROJECT_NAME=stockboom"
    echo "POSTGRES_PASSWORD=$(openssl rand -hex 16)"
    echo "REDIS_PASSWORD=$(openssl rand -hex 24)"
    echo "JWT_SECRET=$(openssl rand -base64 48 | tr -d '\n')"
    echo "STOCKBOOM_SECRETS_KEY=$(openssl rand -base64 32)"
    echo "STOCKBOOM_WORKER_TOKEN=$(openssl rand -hex 32)"
    echo "BCRYPT_COST=10"
    # No mail server on this host: notifications and alerts are recorded as undelivered (AlertDeliveryTests
    # checks delivery with a real sink).
    echo "SMTP_HOST=mail.invalid"
    echo "ALERT_EMAIL_TO=ops@example.com"
    cat "$work/images.env"
} >.env.production
chmod 600 .env.production
services=(postgres redis api worker prometheus alertmanager postgres-exporter redis-exporter node-exporter)
cleanup() {
    local status=$?
    if [ "${KEEP_STACK:-0}" != 1 ]; then
        docker compose -f docker/docker-compose.yml --env-file .env.production --profile replicated down -v --remove-orphans >/dev/null 2>&1 || true
        rm -f .env.production
        rm -rf backups
    fi
    exit $status
}
trap cleanup EXIT

# The runbook's alias, taken from the runbook.
alias_line="$(grep -m1 "^alias dc=" docs/runbook.md)" || fail "docs/runbook.md has no dc alias"
log "runbook: $alias_line"
cat >"$work/runbook-env.sh" <<SHELL
shopt -s expand_aliases
$alias_line
cd "$root"
SHELL
# (An alias takes effect on the lines after its definition: a newline, not a semicolon.)
dc() { bash -c "source '$work/runbook-env.sh'"$'\n'"dc $*"; }

# --- up, healthy ---------------------------------------------------------------------------------------------
log "up: ${services[*]} (grafana: no Debian package, not started here)"
started=$(date +%s)
dc up -d "${services[@]}" >"$work/up.log" 2>&1 || { cat "$work/up.log"; fail "dc up"; }
health() { docker inspect --format '{{if .State.Health}}{{.State.Health.Status}}{{else}}{{.State.Status}}{{end}}' "$(dc ps -q "$1")" 2>/dev/null; }
for service in postgres redis api worker prometheus alertmanager; do
    for _ in $(seq 1 180); do [ "$(health "$service")" = healthy ] && break; sleep 1; done
    [ "$(health "$service")" = healthy ] || { dc logs --tail=50 "$service"; fail "$service is $(health "$service")"; }
done
log "healthy: postgres redis api worker prometheus alertmanager after $(( $(date +%s) - started )) s"

# --- a short trading session through the stack -------------------------------------------------------------
api=http://127.0.0.1:3001
# The listing (stockboom stocks import, through the api's internal route with the worker token).
printf 'code,name,market,previousClose\n005930,삼성전자,KOSPI,55000\n000660,SK하이닉스,KOSPI,180000\n' \
    | dc exec api stockboom stocks import - >"$work/import.log" 2>&1 || { cat "$work/import.log"; fail "stocks import"; }
log "listing: $(tail -1 "$work/import.log")"
json() { python3 -c "import json,sys; print(json.load(sys.stdin)$1)"; }
token="$(curl -fsS -X POST "$api/api/auth/register" -H 'Content-Type: application/json' \
    -d '{"email":"docker-test@example.com","password":"correct horse battery"}' | json "['token']")"
account="$(curl -fsS -X POST "$api/api/broker-accounts" -H "Authorization: Bearer $token" -H 'Content-Type: application/json' \
    -d '{"broker":"SIMULATED","accountNumber":"5012345678","initialCash":50000000}' | json "['id']")"
for i in 1 2 3; do
    curl -fsS -X POST "$api/api/orders" -H "Authorization: Bearer $token" -H 'Content-Type: application/json' \
        -H "Idempotency-Key: docker-$i" \
        -d "{\"brokerAccountId\":\"$account\",\"stockId\":\"005930\",\"side\":\"BUY\",\"type\":\"MARKET\",\"quantity\":$i}" >/dev/null
done
orders="$(curl -fsS "$api/api/orders" -H "Authorization: Bearer $token")"
count="$(printf '%s' "$orders" | json "['items'].__len__()")"
[ "$count" = 3 ] || fail "3 orders placed, $count listed: $orders"
summary="$(printf '%s' "$orders" | python3 -c '
import json, sys
print(", ".join((o["id"] + " " + o["status"] + " " + (o.get("failureReason") or "")).strip() for o in json.load(sys.stdin)["items"]))')"
log "trading: 3 orders placed for $account: $summary (KRX hours: 09:00-15:30 KST on trading days)"

# What the runbook's examples name: a second person (erased in section 9) and a KIS account of the first
# (its app key replaced in section 16). Creating a KIS account does not call KIS.
person="$(curl -fsS -X POST "$api/api/auth/register" -H 'Content-Type: application/json' \
    -d '{"email":"erase-me@example.com","password":"another long password"}' | json "['token']")"
person_id="$(curl -fsS "$api/api/auth/me" -H "Authorization: Bearer $person" | json "['id']")"
kis_account="$(curl -fsS -X POST "$api/api/broker-accounts" -H "Authorization: Bearer $token" -H 'Content-Type: application/json' \
    -d '{"broker":"KIS_PAPER","accountNumber":"50123456-01","appKey":"docker-test-key","appSecret":"docker-test-secret"}' | json "['id']")"
[ "$person_id" = user-0000000002 ] && [ "$kis_account" = acc-0000000002 ] \
    || fail "the runbook's example ids are user-0000000002 and acc-0000000002; this stack made $person_id and $kis_account"
log "runbook's examples: $person_id (erase-me@example.com), KIS account $kis_account"

# --- Prometheus scrapes every target, alerts go to Alertmanager ------------------------------------------------
for _ in $(seq 1 60); do
    targets="$(curl -fsS 'http://127.0.0.1:9090/api/v1/targets?state=active' || true)"
    down="$(printf '%s' "$targets" | python3 -c 'import json,sys; t=json.load(sys.stdin)["data"]["activeTargets"]; print(" ".join(sorted(x["labels"]["job"] for x in t if x["health"]!="up" and x["labels"]["job"]!="api-replica")))' 2>/dev/null || echo "?")"
    [ -z "$down" ] && break
    sleep 2
done
[ -z "$down" ] || fail "Prometheus targets not up: $down"
log "prometheus: api, worker, postgres, redis, node scraped (up); alertmanagers: $(curl -fsS http://127.0.0.1:9090/api/v1/alertmanagers | json "['data']['activeAlertmanagers'].__len__()")"

# --- the runbook's command blocks, verbatim ----------------------------------------------------------------
# Three kinds of marked block: `docker-test` (the single-node stack, in the file's order), then
# `docker-test-replicated-setup` (going replicated) and `docker-test-replicated` (the replicated profile).
extract() {
    python3 - "$root/docs/runbook.md" "$1" <<'PY'
import re, sys
text, kind = open(sys.argv[1]).read(), sys.argv[2]
for marker, note, fence, block in re.findall(r"<!-- (docker-test(?:-replicated(?:-setup)?)?)(?: ([^>]*))? -->\s*\n```(sh|sql)\n(.*?)```", text, re.S):
    if marker != kind:
        continue
    print(f"# --- block: {note.strip() or 'runbook'}")
    if fence == "sql":
        # The block's first line names how to run it (`-- dc exec postgres psql …`): the statements go to its input.
        command = block.splitlines()[0].removeprefix("-- ").strip()
        print(f"{command} -v ON_ERROR_STOP=1 <<'SQL'\n{block.rstrip()}\nSQL")
    else:
        print(block.rstrip("\n"))
PY
}
# A procedure starts on a running stack: the block before may have restarted the worker (its port opens a
# moment after the container starts).
worker_ready() {
    for _ in $(seq 1 60); do
        dc exec -T worker curl -s -o /dev/null -m 5 http://127.0.0.1:3005/health </dev/null >/dev/null 2>&1 && return
        sleep 1
    done
    fail "the worker does not answer on :3005 before a runbook block"
}
# Each block runs with a fresh session of the test's user (a rotation of the JWT key ends the older ones).
signin() {
    local answer
    for _ in $(seq 1 60); do  # the block before may have restarted the api
        answer="$(curl -fsS -X POST "$api/api/auth/login" -H 'Content-Type: application/json' \
            -d '{"email":"docker-test@example.com","password":"correct horse battery"}' 2>/dev/null)" \
            && { printf '%s' "$answer" | json "['token']"; return; }
        sleep 1
    done
    fail "cannot sign in before a runbook block"
}
status=0
run_blocks() {
    local kind="$1" file="$work/runbook-$1.sh" count
    extract "$kind" >"$file"
    count="$(grep -c '^# --- block' "$file" || true)"
    [ "$count" -gt 0 ] || fail "docs/runbook.md marks no block with <!-- $kind -->"
    log "runbook: $count blocks marked $kind"
    blocks=$((blocks + count))
    while IFS= read -r -d $'\x1e' block; do
        [ -n "${block//[$'\n ']/}" ] || continue
        title="$(printf '%s\n' "$block" | head -1)"
        log "${title#\# --- }"
        worker_ready
        if TOKEN="$(signin)" NEW_APP_KEY="docker-test-key-2" NEW_APP_SECRET="docker-test-secret-2" \
            bash -c "source '$work/runbook-env.sh'"$'\n'"set -eo pipefail"$'\n'"$(printf '%s\n' "$block" | tail -n +2)" >"$work/block.log" 2>&1 </dev/null; then
            sed 's/^/    | /' "$work/block.log" | tail -n 12
        else
            sed 's/^/    | /' "$work/block.log" | tail -n 30
            log "FAILED: ${title#\# --- block: }"
            status=1
        fi
    done < <(awk '/^# --- block/ && NR > 1 { printf "\x1e" } { print } END { printf "\x1e" }' "$file")
}
blocks=0
run_blocks docker-test
[ "$status" = 0 ] || fail "a runbook block failed"

# What the blocks did, checked: the person is erased, the account's new key is sealed under the rotated key.
erased="$(echo "SELECT email FROM users WHERE id = '$person_id'" | dc exec -T postgres psql -U postgres -d stockboom -At)"
[ "$erased" = "(erased)" ] || fail "section 9 did not erase $person_id: users.email is '$erased'"
log "checked: $person_id reads (erased); the rotations left the api and the worker healthy"

# --- the replicated profile: three NATS nodes, api and api-2 ------------------------------------------------
run_blocks docker-test-replicated-setup
[ "$status" = 0 ] || fail "going replicated failed"
run_blocks docker-test-replicated
[ "$status" = 0 ] || fail "a replicated runbook block failed"
for _ in $(seq 1 30); do
    heads="$(for p in 3001 3002; do curl -sS "http://127.0.0.1:$p/health" | json "['replication']['head']"; done | sort -u | wc -l)"
    [ "$heads" = 1 ] && break
    sleep 1
done
[ "$heads" = 1 ] || fail "api and api-2 report different heads"
log "replicated: api and api-2 at the same head"
log "ok: the stack ran a trading session and every marked runbook block ($blocks) in $(( $(date +%s) - started )) s"
