#!/bin/sh
# Runs SB_PROGRAM with the container's command as its arguments (as the official images' entrypoints do), or
# the command itself when no program is set.
set -eu
if [ -n "${SB_PROGRAM:-}" ]; then exec "$SB_PROGRAM" "$@"; fi
exec "$@"
