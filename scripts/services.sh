#!/usr/bin/env bash
# Throwaway PostgreSQL, Redis and an SMTP sink on loopback for the demo and the tests.
#
#   scripts/services.sh start    start all three (idempotent); prints nothing else on success
#   scripts/services.sh stop     stop all three
#   scripts/services.sh status   say what runs
#   scripts/services.sh env      print `export DATABASE_URL=… REDIS_URL=… SMTP_HOST=… SMTP_PORT=…` for eval
#
# Ports: SB_PG_PORT (default 25432), SB_REDIS_PORT (default 26379), SB_SMTP_PORT (default 22525) — below the
# kernel's ephemeral range (32768–60999 here): the old defaults (55432, …) lay inside it, and an outgoing
# connection of any program that happened to get local port 55432 made PostgreSQL's start fail. The SMTP
# sink (aiosmtpd from PyPI) keeps every message it receives since it started as a file in var/services/mail/new/
# (a start empties it: a benchmark day adds ~3,000 files, and a Maildir of 170,000 made every delivery slower). Data lives under var/services/
# (PostgreSQL's unix socket too), unless the project path is not traversable by the `postgres` user,
# in which case PostgreSQL's files go under /tmp. Nothing here touches a system-wide server.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
base="$root/var/services"
pg_port="${SB_PG_PORT:-25432}"
redis_port="${SB_REDIS_PORT:-26379}"
smtp_port="${SB_SMTP_PORT:-22525}"
pg_bin="$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -1)"
mkdir -p "$base"

as_postgres() {
    if [ "$(id -u)" -eq 0 ]; then
        su postgres -s /bin/sh -c "$*"
    else
        sh -c "$*"
    fi
}

pg_base() {
    if [ "$(id -u)" -eq 0 ] && ! su postgres -s /bin/sh -c "test -x '$base'" 2>/dev/null; then
        echo "/tmp/stockboom-services-$(echo "$root" | md5sum | cut -c1-8)"
    else
        echo "$base"
    fi
}

pg_start() {
    local dir data socket
    dir="$(pg_base)/pg"
    data="$dir/data"
    socket="$dir/socket"
    mkdir -p "$dir" "$socket"
    [ "$(id -u)" -eq 0 ] && chown -R postgres "$dir"
    if [ ! -f "$data/PG_VERSION" ]; then
        as_postgres "'$pg_bin/initdb' -D '$data' -U postgres --auth=trust -E UTF8 --locale=C.UTF-8 >'$dir/initdb.log' 2>&1"
    fi
    if ! as_postgres "'$pg_bin/pg_ctl' -D '$data' status" >/dev/null 2>&1; then
        if "$pg_bin/pg_isready" -h 127.0.0.1 -p "$pg_port" -q 2>/dev/null; then
            echo "services: port $pg_port is already used by another PostgreSQL (not this project's); set SB_PG_PORT to another port" >&2
            exit 1
        fi
        as_postgres "'$pg_bin/pg_ctl' -D '$data' -l '$dir/server.log' -w -t 60 \
            -o \"-p $pg_port -k '$socket' -c listen_addresses=127.0.0.1 -c max_connections=200 -c shared_preload_libraries=pg_stat_statements\" start" >/dev/null
    fi
    if ! "$pg_bin/psql" -h 127.0.0.1 -p "$pg_port" -U postgres -Atc "SELECT 1 FROM pg_database WHERE datname='stockboom'" postgres | grep -q 1; then
        "$pg_bin/createdb" -h 127.0.0.1 -p "$pg_port" -U postgres stockboom
    fi
}

pg_stop() {
    local data
    data="$(pg_base)/pg/data"
    if [ -f "$data/PG_VERSION" ]; then
        as_postgres "'$pg_bin/pg_ctl' -D '$data' -m fast -w stop" >/dev/null 2>&1 || true
    fi
}

# Redis requires a password, also here: a random one per checkout, kept in var/services/redis/password (0600).
# `scripts/services.sh env` exports it in REDIS_URL and as REDISCLI_AUTH (which redis-cli reads).
redis_password() {
    mkdir -p "$base/redis"
    if [ ! -s "$base/redis/password" ]; then
        (umask 077; od -An -N24 -tx1 /dev/urandom | tr -d ' \n' >"$base/redis/password")
    fi
    cat "$base/redis/password"
}
export REDISCLI_AUTH="$(redis_password)"

redis_start() {
    mkdir -p "$base/redis"
    if redis-cli -p "$redis_port" ping >/dev/null 2>&1; then
        if [ -f "$base/redis/redis.pid" ] && kill -0 "$(cat "$base/redis/redis.pid")" 2>/dev/null; then return; fi
        echo "services: port $redis_port is already used by another Redis (not this project's); set SB_REDIS_PORT to another port" >&2
        exit 1
    fi
    redis-server --port "$redis_port" --bind 127.0.0.1 --requirepass "$REDISCLI_AUTH" --databases 64 --dir "$base/redis" --daemonize yes \
        --pidfile "$base/redis/redis.pid" --logfile "$base/redis/redis.log" --save "" --appendonly no >/dev/null
    for _ in $(seq 1 50); do
        redis-cli -p "$redis_port" ping >/dev/null 2>&1 && return
        sleep 0.1
    done
    echo "services: redis-server did not answer on port $redis_port (see $base/redis/redis.log)" >&2
    exit 1
}

redis_stop() {
    redis-cli -p "$redis_port" shutdown nosave >/dev/null 2>&1 || true
}

smtp_start() {
    mkdir -p "$base/mail/tmp" "$base/mail/new" "$base/mail/cur"  # a Maildir
    if [ -f "$base/smtp.pid" ] && kill -0 "$(cat "$base/smtp.pid")" 2>/dev/null; then return; fi
    if (exec 3<>"/dev/tcp/127.0.0.1/$smtp_port") 2>/dev/null; then
        echo "services: port $smtp_port is already used (not this project's SMTP sink); set SB_SMTP_PORT to another port" >&2
        exit 1
    fi
    find "$base/mail/new" "$base/mail/cur" "$base/mail/tmp" -type f -delete
    nohup python3 -m aiosmtpd -n -l "127.0.0.1:$smtp_port" -c aiosmtpd.handlers.Mailbox "$base/mail" >"$base/smtp.log" 2>&1 &
    echo $! >"$base/smtp.pid"
    for _ in $(seq 1 50); do
        (exec 3<>"/dev/tcp/127.0.0.1/$smtp_port") 2>/dev/null && return
        sleep 0.1
    done
    echo "services: the SMTP sink did not listen on port $smtp_port (see $base/smtp.log)" >&2
    exit 1
}

smtp_stop() {
    # aiosmtpd ignores SIGTERM while serving: SIGKILL (it holds nothing that needs a clean stop).
    if [ -f "$base/smtp.pid" ]; then kill -9 "$(cat "$base/smtp.pid")" 2>/dev/null || true; rm -f "$base/smtp.pid"; fi
}

case "${1:-}" in
    start) pg_start; redis_start; smtp_start ;;
    stop) smtp_stop; redis_stop; pg_stop ;;
    status)
        as_postgres "'$pg_bin/pg_ctl' -D '$(pg_base)/pg/data' status" >/dev/null 2>&1 && echo "postgresql: running on 127.0.0.1:$pg_port" || echo "postgresql: stopped"
        redis-cli -p "$redis_port" ping >/dev/null 2>&1 && echo "redis: running on 127.0.0.1:$redis_port" || echo "redis: stopped"
        { [ -f "$base/smtp.pid" ] && kill -0 "$(cat "$base/smtp.pid")" 2>/dev/null; } && echo "smtp sink: running on 127.0.0.1:$smtp_port, mail in $base/mail/new" || echo "smtp sink: stopped"
        ;;
    env)
        echo "export DATABASE_URL=postgresql://postgres@127.0.0.1:$pg_port/stockboom"
        echo "export REDIS_URL=redis://:$REDISCLI_AUTH@127.0.0.1:$redis_port REDISCLI_AUTH=$REDISCLI_AUTH"
        echo "export SMTP_HOST=127.0.0.1 SMTP_PORT=$smtp_port"
        ;;
    *) echo "usage: $0 start|stop|status|env" >&2; exit 2 ;;
esac
