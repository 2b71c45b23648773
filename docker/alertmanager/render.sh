#!/bin/sh
# render.sh TEMPLATE OUTPUT [COMMAND ARGS...]: writes TEMPLATE with each ${NAME} replaced by the environment's
# NAME (single quotes doubled, as YAML's quoted strings need), then runs COMMAND if given (exec).
# POSIX sh and awk only: it runs in the Alertmanager image (busybox) and on the host alike.
set -eu
[ $# -ge 2 ] || { echo "usage: render.sh TEMPLATE OUTPUT [COMMAND ARGS...]" >&2; exit 2; }
template="$1"
output="$2"
shift 2
: "${SMTP_PORT:=587}" "${SMTP_FROM:=stockboom@localhost}" "${SMTP_USER:=}" "${SMTP_PASS:=}"
: "${SMTP_REQUIRE_TLS:=true}" "${ALERT_GROUP_WAIT:=30s}" "${ALERT_GROUP_INTERVAL:=5m}" "${ALERT_REPEAT_INTERVAL:=4h}"
export SMTP_PORT SMTP_FROM SMTP_USER SMTP_PASS SMTP_REQUIRE_TLS ALERT_GROUP_WAIT ALERT_GROUP_INTERVAL ALERT_REPEAT_INTERVAL
for required in SMTP_HOST ALERT_EMAIL_TO; do
    eval "value=\${$required:-}"
    if [ -z "$value" ]; then
        echo "render.sh: $required must be set (alerts are sent by e-mail)" >&2
        exit 78
    fi
done
awk '{
    line = $0; out = ""
    while (match(line, /\$\{[A-Z_][A-Z0-9_]*\}/)) {
        name = substr(line, RSTART + 2, RLENGTH - 3)
        if (!(name in ENVIRON)) { print "render.sh: " name " is not set" > "/dev/stderr"; exit 78 }
        value = ENVIRON[name]; gsub(/\047/, "\047\047", value)
        out = out substr(line, 1, RSTART - 1) value
        line = substr(line, RSTART + RLENGTH)
    }
    print out line
}' "$template" >"$output.tmp"
mv "$output.tmp" "$output"
[ $# -eq 0 ] || exec "$@"
