#!/bin/sh
# `docker compose` for a host whose docker CLI has no Compose v2 plugin but Debian's docker-compose (v1.29):
# installed by scripts/test-docker.sh as ~/.docker/cli-plugins/docker-compose, it answers the CLI's plugin
# handshake and runs docker-compose with the same arguments. Like Compose v2 (and unlike v1), `exec` and `run`
# allocate no TTY when standard input is not one, so the runbook's commands run unchanged from a script.
set -eu
if [ "${1:-}" = docker-cli-plugin-metadata ]; then
    printf '{"SchemaVersion":"0.1.0","Vendor":"Debian docker-compose","Version":"%s","ShortDescription":"docker-compose v1 as docker compose"}\n' \
        "$(docker-compose version --short 2>/dev/null || echo unknown)"
    exit 0
fi
[ "${1:-}" = compose ] && shift
# Find the subcommand: skip the global options (and the values of those that take one).
i=0
subcommand=""
skip_value=0
for argument in "$@"; do
    i=$((i + 1))
    if [ "$skip_value" = 1 ]; then skip_value=0; continue; fi
    case "$argument" in
        -f | --file | -p | --project-name | --env-file | --profile | --project-directory | -H | --host | --context | -c) skip_value=1 ;;
        -*) ;;
        *) subcommand="$argument"; break ;;
    esac
done
has_t=0
for argument in "$@"; do [ "$argument" = -T ] && has_t=1; done
if { [ "$subcommand" = exec ] || [ "$subcommand" = run ]; } && [ ! -t 0 ] && [ "$has_t" = 0 ]; then
    # Insert -T right after the subcommand.
    n=0
    for argument in "$@"; do
        n=$((n + 1))
        if [ "$n" = "$i" ]; then set -- "$@" "$argument" -T; else set -- "$@" "$argument"; fi
    done
    shift "$n"
fi
exec docker-compose "$@"
