#!/usr/bin/env bash
# The operator guide's PostgreSQL backup, kept working (cron: 0 2 * * *). It matters for what exists only in
# PostgreSQL: user_credentials, broker_credentials and broker_tokens (sealed with STOCKBOOM_SECRETS_KEY).
# Everything else in the database is a read model of the event log (scripts/backup.sh; `backup restore`).
#
#   BACKUP_DIR     where the dumps go (default /backups/postgres, as in the guide)
#   DATABASE_URL   bare metal: pg_dump connects here; unset: `docker compose exec postgres pg_dump`
#   COMPOSE_ENV_FILE  Docker: the stack's env file (default .env.production, from the repository root)
#   RETAIN_DAYS    dumps older than this are deleted (default 30)
set -euo pipefail
backup_dir="${BACKUP_DIR:-/backups/postgres}"
date="$(date +%Y%m%d_%H%M%S)"
mkdir -p "$backup_dir"
if [ -n "${DATABASE_URL:-}" ]; then
    pg_dump "$DATABASE_URL" | gzip > "$backup_dir/stockboom_$date.sql.gz"
else
    # The compose file requires its secrets: the env file it was started with (COMPOSE_ENV_FILE).
    docker compose -f "$(dirname "${BASH_SOURCE[0]}")/../docker/docker-compose.yml" --env-file "${COMPOSE_ENV_FILE:-.env.production}" \
        exec -T postgres pg_dump -U "${POSTGRES_USER:-postgres}" "${POSTGRES_DB:-stockboom}" | gzip > "$backup_dir/stockboom_$date.sql.gz"
fi
find "$backup_dir" -name "*.sql.gz" -mtime +"${RETAIN_DAYS:-30}" -delete
echo "Backup completed: stockboom_$date.sql.gz"
