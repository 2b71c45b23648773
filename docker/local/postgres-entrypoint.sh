#!/bin/sh
# What docker-compose.yml relies on of the official postgres image's entrypoint, for Debian's postgresql-15:
# on first start, initdb in PGDATA with POSTGRES_USER/POSTGRES_PASSWORD (scram), the database POSTGRES_DB,
# and the *.sql of /docker-entrypoint-initdb.d; then `postgres` with the container's arguments
# (`postgres -c …`), listening on every address of the container's network.
set -eu
PGDATA="${PGDATA:-/var/lib/postgresql/data}"
export PGDATA
bin=/usr/lib/postgresql/15/bin
user="${POSTGRES_USER:-postgres}"
database="${POSTGRES_DB:-$user}"
: "${POSTGRES_PASSWORD:?POSTGRES_PASSWORD must be set}"
if [ "$(id -u)" = 0 ]; then
    mkdir -p "$PGDATA" /var/run/postgresql
    chown -R postgres:postgres "$PGDATA" /var/run/postgresql
    chmod 700 "$PGDATA"
    exec setpriv --reuid=postgres --regid=postgres --init-groups "$0" "$@"
fi
if [ ! -s "$PGDATA/PG_VERSION" ]; then
    password_file="$(mktemp)"
    printf '%s\n' "$POSTGRES_PASSWORD" >"$password_file"
    "$bin/initdb" -D "$PGDATA" -U "$user" --pwfile="$password_file" --auth-local=trust --auth-host=scram-sha-256 >/dev/null
    rm -f "$password_file"
    printf "listen_addresses = '*'\n" >>"$PGDATA/postgresql.conf"
    printf 'host all all all scram-sha-256\n' >>"$PGDATA/pg_hba.conf"
    "$bin/pg_ctl" -D "$PGDATA" -o "-c listen_addresses=''" -w start >/dev/null
    if [ "$database" != postgres ]; then "$bin/createdb" -U "$user" "$database" 2>/dev/null || true; fi
    for script in /docker-entrypoint-initdb.d/*.sql; do
        [ -e "$script" ] || continue
        psql -v ON_ERROR_STOP=1 -U "$user" -d "$database" -f "$script"
    done
    "$bin/pg_ctl" -D "$PGDATA" -m fast -w stop >/dev/null
fi
[ "${1:-}" = postgres ] && shift
exec "$bin/postgres" -D "$PGDATA" "$@"
