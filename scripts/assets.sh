#!/usr/bin/env bash
# The dashboard's third-party front-end files, from PyPI wheels (pinned by hash), into .assets/vendor/
# (not in the repository: nothing third-party is committed). The gateway serves that folder at
# /assets/vendor/ (STOCKBOOM_ASSETS_DIR points elsewhere; the Docker image carries a copy).
#   lightweight-charts 2.1  TradingView Lightweight Charts v4.1.3 (Apache-2.0) — the dashboard's chart
#   swagger-ui-bundle 1.1.0 Swagger UI 4.15.5 (Apache-2.0) — /docs
# Quiet when the files are there already. Usage: scripts/assets.sh [DIR] (default: .assets in the checkout)
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
target="${1:-.assets}"
vendor="$target/vendor"
if [ -s "$vendor/lightweight-charts.js" ] && [ -s "$vendor/swagger-ui/swagger-ui-bundle.js" ]; then exit 0; fi
echo "setup: fetching the dashboard's chart and Swagger UI (PyPI wheels) into $vendor"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
cat >"$work/requirements.txt" <<'REQ'
lightweight-charts==2.1 --hash=sha256:4c5598fd57ac7569c3fed733727e2033190ca2f6e2460223d27e0926be7bff4f
swagger-ui-bundle==1.1.0 --hash=sha256:f7526f7bb99923e10594c54247265839bec97e96b0438561ac86faf40d40dd57
REQ
python3 -m pip download --quiet --disable-pip-version-check --no-deps --only-binary=:all: --require-hashes \
    -r "$work/requirements.txt" -d "$work/wheels"
python3 - "$work/wheels" "$vendor.new" <<'PY'
import os, sys, zipfile
wheels, out = sys.argv[1], sys.argv[2]
os.makedirs(os.path.join(out, "swagger-ui"), exist_ok=True)
wanted = {
    "lightweight_charts/js/lightweight-charts.js": "lightweight-charts.js",
    "lightweight_charts-2.1.dist-info/LICENSE": "lightweight-charts-wheel.LICENSE",
    "swagger_ui_bundle/vendor/swagger-ui-4.15.5/swagger-ui-bundle.js": "swagger-ui/swagger-ui-bundle.js",
    "swagger_ui_bundle/vendor/swagger-ui-4.15.5/swagger-ui.css": "swagger-ui/swagger-ui.css",
    "swagger_ui_bundle-1.1.0.dist-info/LICENSE": "swagger-ui/LICENSE",
}
for name in os.listdir(wheels):
    with zipfile.ZipFile(os.path.join(wheels, name)) as wheel:
        for member in wheel.namelist():
            if member in wanted:
                with open(os.path.join(out, wanted.pop(member)), "wb") as f:
                    f.write(wheel.read(member))
if wanted:
    sys.exit(f"assets: not in the wheels: {sorted(wanted)}")
PY
rm -rf "$vendor"
mkdir -p "$target"
mv "$vendor.new" "$vendor"
