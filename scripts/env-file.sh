#!/usr/bin/env bash
# Reads and edits the deployment's env file (the runbook's rotations and replication steps):
#
#   scripts/env-file.sh get NAME           print NAME's value (exit 1 when it is not set)
#   scripts/env-file.sh set NAME VALUE     set NAME (replacing its line, or appending one)
#   scripts/env-file.sh unset NAME         remove NAME's line
#
# The file is ENV_FILE, else .env.production in the current directory. It stays mode 0600, and it is rewritten
# through a temporary file in the same directory and renamed, so a failure never leaves half a file. Values
# are written as they are (Compose reads NAME=VALUE lines literally): a value with a newline is refused.
set -euo pipefail
file="${ENV_FILE:-.env.production}"
usage() { sed -n '2,9p' "$0" | sed 's/^# \{0,1\}//' >&2; exit 2; }
[ $# -ge 2 ] || usage
action="$1" name="$2"
[[ "$name" =~ ^[A-Za-z_][A-Za-z0-9_]*$ ]] || { echo "env-file: '$name' is not a variable name" >&2; exit 2; }
[ -f "$file" ] || { echo "env-file: $file does not exist (set ENV_FILE)" >&2; exit 1; }

case "$action" in
get)
    [ $# -eq 2 ] || usage
    line="$(grep -m1 "^$name=" "$file")" || { echo "env-file: $name is not set in $file" >&2; exit 1; }
    printf '%s\n' "${line#*=}"
    ;;
set | unset)
    if [ "$action" = set ]; then
        [ $# -eq 3 ] || usage
        value="$3"
        case "$value" in *$'\n'* | *$'\r'*) echo "env-file: a value for $name must be one line" >&2; exit 2 ;; esac
    else
        [ $# -eq 2 ] || usage
    fi
    temporary="$(mktemp "$(dirname "$file")/.env-file.XXXXXX")"
    trap 'rm -f "$temporary"' EXIT
    chmod 600 "$temporary"
    grep -v "^$name=" "$file" >"$temporary" || true
    [ "$action" = unset ] || printf '%s=%s\n' "$name" "$value" >>"$temporary"
    mv "$temporary" "$file"
    trap - EXIT
    ;;
*) usage ;;
esac
