# Sourced by the operations scripts: how to run `stockboom`.
#   STOCKBOOM   the command (default: `stockboom` on PATH, else this checkout's release or debug build).
#               In Docker: STOCKBOOM="docker compose -f docker/docker-compose.yml exec -T api stockboom"
if [ -z "${STOCKBOOM:-}" ]; then
    here="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
    if command -v stockboom >/dev/null 2>&1; then STOCKBOOM=stockboom
    elif [ -x "$here/.build/release/stockboom" ]; then STOCKBOOM="$here/.build/release/stockboom"
    elif [ -x "$here/.build/debug/stockboom" ]; then STOCKBOOM="$here/.build/debug/stockboom"
    else echo "stockboom not found: build it (swift build -c release) or set STOCKBOOM" >&2; exit 1
    fi
fi
