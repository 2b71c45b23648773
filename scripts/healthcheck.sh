#!/usr/bin/env bash
# The hourly health check (scripts/stockboom.cron, or the stockboom-healthcheck.timer of scripts/systemd):
# restarts the api only when a restart can help — it does not answer /health at all (hung, crashed, not
# listening), or it answers that its log writer stopped (a failed write or fsync: the api refuses commands
# until restarted). When it answers 503 because PostgreSQL or Redis is down, or a read model is stuck, or the
# log's disk is full, a restart cannot fix it: it says so and exits 1 (cron mails it), restarting nothing.
#
#   HEALTH_URL        default http://localhost:3001/health (from the host: the detailed answer)
#   RESTART_COMMAND   default `systemctl restart stockboom-api`
#                     (Docker: "docker compose -f docker/docker-compose.yml --env-file .env.production restart api")
#   HEALTH_TIMEOUT    seconds to wait for the answer (default 10)
set -uo pipefail
url="${HEALTH_URL:-http://localhost:3001/health}"
restart="${RESTART_COMMAND:-systemctl restart stockboom-api}"
stamp() { date -u +%FT%TZ; }
body="$(curl -sS -m "${HEALTH_TIMEOUT:-10}" -w '\n%{http_code}' "$url" 2>&1)"
status="$(printf '%s' "$body" | tail -n 1)"
answer="$(printf '%s' "$body" | sed '$d')"
verdict="$(printf '%s' "$answer" | python3 -c '
import json, sys
try:
    report = json.load(sys.stdin)
except Exception:
    print("restart the api answered something that is not its health report"); sys.exit()
if report.get("status") == "ok":
    print("ok")
elif isinstance(report.get("log"), dict) and report["log"].get("writable") is False:
    print("restart its log writer stopped: " + str(report["log"].get("error")))
else:
    print("leave not the api itself: failing " + ", ".join(report.get("failing", ["?"])))
' 2>/dev/null || echo "restart no answer")"
case "$status:$verdict" in
    200:ok) exit 0 ;;
    000:*) verdict="restart no answer ($(printf '%s' "$answer" | head -1))" ;;
esac
case "$verdict" in
    restart*)
        echo "$(stamp) healthcheck: the api is unhealthy (${verdict#restart }): $restart"
        eval "$restart"
        ;;
    *)
        echo "$(stamp) healthcheck: HTTP $status, ${verdict#leave }; a restart of the api cannot fix that, not restarting" >&2
        exit 1
        ;;
esac
