#!/usr/bin/env bash
# Runs schemathesis (PyPI) against a running server's /openapi.json with a bearer token.
# Usage: run.sh BASE_URL TOKEN   — exit status is schemathesis's (0: no failures).
set -euo pipefail
base="$1"; token="$2"
config="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)/schemathesis.toml"
cd "$(mktemp -d)"  # schemathesis writes its cache beside itself
exec schemathesis --config-file "$config" run "$base/openapi.json" -H "Authorization: Bearer $token" --max-examples "${ST_MAX_EXAMPLES:-6}" --seed "${ST_SEED:-20261128}" --no-color
