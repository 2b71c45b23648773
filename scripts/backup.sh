#!/usr/bin/env bash
# Daily backup of the event log (the system's source of truth), for cron:
#   0 2 * * * /path/to/stockboom/scripts/backup.sh >> /var/log/stockboom-backup.log 2>&1
#
# Online and incremental: only sealed segments the repository lacks are copied, plus the open segment up to
# the committed offset and the newest snapshot; the backup is verified right after it is written, and only
# the newest KEEP backups are kept. The PostgreSQL read models and Redis queues need no backup: `backup
# restore` rebuilds them from the log. Credentials (sealed KIS keys, password hashes) live only in PostgreSQL:
# scripts/backup-postgres.sh keeps them (pg_dump, as the operator guide does).
#
#   STOCKBOOM_LOG_DIR     the log (default ./var/eventlog)
#   STOCKBOOM_BACKUP_DIR  the backup repository (default ./var/backups)
#   KEEP                  backups to keep (default 30)
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/stockboom-cli.sh"
log_dir="${STOCKBOOM_LOG_DIR:-var/eventlog}"
repository="${STOCKBOOM_BACKUP_DIR:-var/backups}"
keep="${KEEP:-30}"
echo "$(date -u +%FT%TZ) backup of $log_dir into $repository (keeping $keep)"
$STOCKBOOM backup create --dir "$log_dir" --to "$repository" --keep "$keep"
newest="$($STOCKBOOM backup list --from "$repository" --json | python3 -c 'import json,sys; print(json.load(sys.stdin)[-1]["id"])')"
$STOCKBOOM backup verify --from "$repository" --backup "$newest"
