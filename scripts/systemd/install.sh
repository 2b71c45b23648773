#!/usr/bin/env bash
# Installs StockBoom as systemd services on a host without Docker (run as root from the checkout, after
# `swift build -c release --product stockboom`):
#   the binary to /usr/local/bin, the holidays to /etc/stockboom, the units, the health check and its timer;
#   a system user `stockboom`; /etc/stockboom/stockboom.env from .env.example when missing (fill it in).
# Then: systemctl enable --now stockboom-api stockboom-worker stockboom-healthcheck.timer
#   SYSTEMD_DIR  where the units go (default /etc/systemd/system); DESTDIR prefixes every path (packaging, tests)
#   STOCKBOOM_BINARY  the binary to install (default the release build's)
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/../.."
root="${DESTDIR:-}"
units="$root${SYSTEMD_DIR:-/etc/systemd/system}"
binary="${STOCKBOOM_BINARY:-$(swift build -c release --show-bin-path 2>/dev/null)/stockboom}"
[ -x "$binary" ] || { echo "install: build first: swift build -c release --product stockboom" >&2; exit 1; }
install -D -m 0755 "$binary" "$root/usr/local/bin/stockboom"
install -D -m 0755 scripts/healthcheck.sh "$root/usr/local/lib/stockboom/healthcheck.sh"
install -D -m 0644 config/krx-holidays.txt "$root/etc/stockboom/krx-holidays.txt"
for unit in stockboom-api.service stockboom-worker.service stockboom-healthcheck.service stockboom-healthcheck.timer; do
    install -D -m 0644 "scripts/systemd/$unit" "$units/$unit"
done
if [ ! -e "$root/etc/stockboom/stockboom.env" ]; then
    install -D -m 0600 .env.example "$root/etc/stockboom/stockboom.env"
    echo "install: fill in $root/etc/stockboom/stockboom.env (secrets: JWT_SECRET, STOCKBOOM_SECRETS_KEY, STOCKBOOM_WORKER_TOKEN)"
fi
if [ -z "$root" ]; then
    id stockboom >/dev/null 2>&1 || useradd --system --home-dir /var/lib/stockboom --shell /usr/sbin/nologin stockboom
    chown root:stockboom /etc/stockboom/stockboom.env
    chmod 0640 /etc/stockboom/stockboom.env
    systemctl daemon-reload
    echo "install: systemctl enable --now stockboom-api stockboom-worker stockboom-healthcheck.timer"
fi
