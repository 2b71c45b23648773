#!/usr/bin/env bash
# A throwaway three-node NATS JetStream cluster on loopback (Debian's nats-server), for the benchmarks, the
# runbook's rehearsals and a local replicated installation.
#   scripts/nats-cluster.sh start [BASE_PORT]   nodes on BASE_PORT+1..3 (default 14220), routes on +101..103
#   scripts/nats-cluster.sh env                 prints NATS_URL=... for eval
#   scripts/nats-cluster.sh kill N | start-node N | stop
# Store and logs: var/nats/ (NATS_DIR). The cluster is named stockboom-local.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
dir="${NATS_DIR:-var/nats}"
base_file="$dir/base-port"
command -v nats-server >/dev/null || { echo "nats-server is not installed: scripts/setup.sh --test" >&2; exit 1; }

base() { cat "$base_file" 2>/dev/null || echo 14220; }

start_node() {
    local node="$1" base; base="$(base)"
    mkdir -p "$dir/store-$node"
    cat > "$dir/n$node.conf" <<CONF
server_name: n$node
listen: 127.0.0.1:$((base + node))
jetstream { store_dir: "$PWD/$dir/store-$node", max_memory_store: 64MB, max_file_store: 8GB }
cluster {
  name: stockboom-local
  listen: 127.0.0.1:$((base + 100 + node))
  routes: [nats-route://127.0.0.1:$((base + 101)), nats-route://127.0.0.1:$((base + 102)), nats-route://127.0.0.1:$((base + 103))]
}
CONF
    nats-server -c "$dir/n$node.conf" >> "$dir/n$node.log" 2>&1 &
    echo $! > "$dir/n$node.pid"
}

kill_node() {
    local pidfile="$dir/n$1.pid"
    [ -f "$pidfile" ] && kill -9 "$(cat "$pidfile")" 2>/dev/null || true
    rm -f "$pidfile"
}

case "${1:-}" in
    start)
        mkdir -p "$dir"
        echo "${2:-14220}" > "$base_file"
        for node in 1 2 3; do start_node "$node"; done
        sleep 1
        echo "NATS cluster up: $(base) + 1..3 (store $dir)" >&2
        ;;
    env) b="$(base)"; echo "NATS_URL=nats://127.0.0.1:$((b + 1)),nats://127.0.0.1:$((b + 2)),nats://127.0.0.1:$((b + 3))" ;;
    kill) kill_node "$2" ;;
    start-node) start_node "$2" ;;
    stop) for node in 1 2 3; do kill_node "$node"; done; rm -rf "$dir" ;;
    *) echo "usage: scripts/nats-cluster.sh start [BASE_PORT] | env | kill N | start-node N | stop" >&2; exit 2 ;;
esac
