#!/usr/bin/env bash
# The guide's daily data cleanup (cron: 0 4 * * *), through `stockboom db cleanup`: old 1m candles, read
# notifications and cancelled trades leave the PostgreSQL read models. The event log keeps everything, so
# nothing is lost: `projections rebuild --keep-everything` brings the rows back.
#
#   DATABASE_URL, STOCKBOOM_LOG_DIR as for every command; CANDLE_DAYS (365), NOTIFICATION_DAYS (90),
#   CANCELLED_TRADE_DAYS (180) as in the guide.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/stockboom-cli.sh"
echo "$(date -u +%FT%TZ) cleanup of the read models"
$STOCKBOOM db cleanup --dir "${STOCKBOOM_LOG_DIR:-var/eventlog}" \
    --candle-days "${CANDLE_DAYS:-365}" --notification-days "${NOTIFICATION_DAYS:-90}" --cancelled-trade-days "${CANCELLED_TRADE_DAYS:-180}"
