#!/usr/bin/env bash
# Installs what StockBoom needs, only when some of it is missing (quiet otherwise).
#   scripts/setup.sh           the build and the demo: C libraries, PostgreSQL, Redis, the SMTP sink (aiosmtpd)
#   scripts/setup.sh --bench   and the benchmarks' tools and peers (wrk, lz4, bc)
#   scripts/setup.sh --test    and the test suite's real parts and reference tools (Chromium, Korean fonts for its screenshots, Prometheus, Alertmanager,
#                              TA-Lib, schemathesis, websocket-client, check-jsonschema)
set -euo pipefail
mode="${1:-demo}"
packages=(liblz4-dev libhiredis-dev libpq-dev libnats-dev pkg-config postgresql redis-server python3 python3-pip procps curl openssl)
case "$mode" in
    demo) ;;
    --bench) packages+=(lz4 bc wrk nats-server) ;;
    --test) packages+=(lz4 bc wrk chromium fonts-noto-cjk prometheus prometheus-alertmanager nats-server) ;;
    *) echo "usage: scripts/setup.sh [--bench|--test]" >&2; exit 2 ;;
esac
missing=()
for package in "${packages[@]}"; do
    dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q "install ok installed" || missing+=("$package")
done
if [ ${#missing[@]} -gt 0 ]; then
    echo "setup: installing ${missing[*]}"
    sudo=""
    [ "$(id -u)" -ne 0 ] && sudo="sudo"
    $sudo apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
# aiosmtpd (PyPI) is the SMTP sink the demo and the worker tests deliver to (scripts/services.sh).
if ! python3 -c "import aiosmtpd" >/dev/null 2>&1; then
    echo "setup: installing aiosmtpd (PyPI), the SMTP sink"
    python3 -m pip install --quiet --disable-pip-version-check "aiosmtpd==1.4.6" 2>&1 | grep -v "WARNING: Running pip as the 'root' user" || true
    python3 -c "import aiosmtpd" || { echo "setup: aiosmtpd could not be installed" >&2; exit 1; }
fi
# The dashboard's chart and /docs' Swagger UI: front-end files from PyPI wheels into .assets/ (scripts/assets.sh).
scripts/assets.sh
if [ "$mode" = --test ]; then
    # TA-Lib (PyPI) is the independent reference the indicator tests compare against; its wheel ships the C library.
    if ! python3 -c "import talib" >/dev/null 2>&1; then
        echo "setup: installing TA-Lib (PyPI) for the indicator reference tests"
        python3 -m pip install --quiet --disable-pip-version-check "TA-Lib==0.6.8" "numpy<3" 2>&1 | grep -v "WARNING: Running pip as the 'root' user" || true
        python3 -c "import talib" || { echo "setup: TA-Lib could not be installed" >&2; exit 1; }
    fi
    # schemathesis (PyPI) tests the API against its OpenAPI document (GatewayTests).
    if ! command -v schemathesis >/dev/null 2>&1; then
        echo "setup: installing schemathesis (PyPI) for the API contract test"
        python3 -m pip install --quiet --disable-pip-version-check "schemathesis==4.32.5" 2>&1 | grep -v "WARNING: Running pip as the 'root' user" || true
        command -v schemathesis >/dev/null 2>&1 || hash -r
        command -v schemathesis >/dev/null 2>&1 || { echo "setup: schemathesis could not be installed" >&2; exit 1; }
    fi
    # websocket-client (PyPI) lets the dashboard test drive headless Chromium over the DevTools protocol.
    if ! python3 -c "import websocket" >/dev/null 2>&1; then
        echo "setup: installing websocket-client (PyPI) for the browser test"
        python3 -m pip install --quiet --disable-pip-version-check "websocket-client==1.8.0" 2>&1 | grep -v "WARNING: Running pip as the 'root' user" || true
        python3 -c "import websocket" || { echo "setup: websocket-client could not be installed" >&2; exit 1; }
    fi
    # check-jsonschema (PyPI) validates docker/docker-compose.yml against the compose specification (OperationsTests).
    if ! command -v check-jsonschema >/dev/null 2>&1; then
        echo "setup: installing check-jsonschema (PyPI) for the compose file test"
        python3 -m pip install --quiet --disable-pip-version-check "check-jsonschema==0.39.0" 2>&1 | grep -v "WARNING: Running pip as the 'root' user" || true
        hash -r
        command -v check-jsonschema >/dev/null 2>&1 || { echo "setup: check-jsonschema could not be installed" >&2; exit 1; }
    fi
fi
if ! command -v swift >/dev/null 2>&1; then
    echo "setup: swift is not on PATH (Swift 6.3 expected, e.g. /opt/swift/usr/bin)" >&2
    exit 1
fi
