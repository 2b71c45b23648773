#!/usr/bin/env bash
# The main job on a fresh machine: packages, build, a simulated trading day end to end.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
scripts/setup.sh
swift build --product stockboom
.build/debug/stockboom demo "$@"
