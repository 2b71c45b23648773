#!/usr/bin/env bash
# Builds the compose stack's images on a host without an image registry: a Debian bookworm base image from
# debootstrap (docker import), the services from Debian packages (docker/local/Dockerfile), and stockboom
# from the binary built here (docker/Dockerfile with BINARY_IMAGE; a Debian 12 host). Prints the env-file
# lines that name them. Images that exist are kept (delete them to rebuild): `scripts/docker-images.sh`.
#   SB_DOCKER_DIR  where the base root file system is kept (default var/docker)
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
dir="${SB_DOCKER_DIR:-var/docker}"
mkdir -p "$dir"
# BuildKit builds only the stages an image needs (no Swift image is pulled). A docker CLI without the buildx
# plugin refuses DOCKER_BUILDKIT=1; Debian's docker.io CLI (/usr/bin/docker) has BuildKit built in.
builder=docker
if ! docker buildx version >/dev/null 2>&1 && [ -x /usr/bin/docker ]; then builder=/usr/bin/docker; fi
docker_build() { DOCKER_BUILDKIT=1 "$builder" build --network host -q "$@" >/dev/null; }
exists() { docker image inspect "$1" >/dev/null 2>&1; }

base=stockboom-local/base:bookworm
if ! exists "$base"; then
    echo "docker-images: debootstrap bookworm (minbase)" >&2
    rm -rf "$dir/rootfs"
    debootstrap --variant=minbase bookworm "$dir/rootfs" http://deb.debian.org/debian >"$dir/debootstrap.log" 2>&1 \
        || { echo "docker-images: debootstrap failed (see $dir/debootstrap.log)" >&2; exit 1; }
    tar -C "$dir/rootfs" -c . | docker import - "$base" >/dev/null
    rm -rf "$dir/rootfs"
fi

service() {  # name, packages, program
    local image="stockboom-local/$1:bookworm"
    if ! exists "$image"; then
        echo "docker-images: $image ($2)" >&2
        docker_build -f docker/local/Dockerfile --build-arg BASE_IMAGE="$base" --build-arg PACKAGES="$2" \
            --build-arg PROGRAM="$3" -t "$image" docker/local
    fi
}
service postgres "postgresql-15 postgresql-client-15" /usr/local/bin/postgres-entrypoint.sh
service redis "redis-server redis-tools" ""
service prometheus "prometheus" /usr/bin/prometheus
service alertmanager "prometheus-alertmanager" /usr/bin/prometheus-alertmanager
service postgres-exporter "prometheus-postgres-exporter" /usr/bin/prometheus-postgres-exporter
service redis-exporter "prometheus-redis-exporter" /usr/bin/prometheus-redis-exporter
service node-exporter "prometheus-node-exporter" /usr/bin/prometheus-node-exporter
service nats "nats-server" /usr/sbin/nats-server

# stockboom: the release binary built here, with the Swift runtime libraries it links.
scripts/assets.sh >&2
echo "docker-images: stockboom (swift build -c release)" >&2
swift build -c release --product stockboom >&2
binary="$(swift build -c release --show-bin-path)/stockboom"
staging="$(mktemp -d)"
trap 'rm -rf "$staging"' EXIT
mkdir -p "$staging/out/lib"
cp "$binary" "$staging/out/stockboom"
ldd "$binary" | awk '$3 ~ /^\/opt\/swift\// { print $3 }' | xargs -r -I{} cp {} "$staging/out/lib/"
printf 'FROM scratch\nCOPY out /out\n' >"$staging/Dockerfile"
docker_build -t stockboom-local/binary:latest "$staging"
docker_build -f docker/Dockerfile --build-arg RUNTIME_IMAGE="$base" --build-arg BINARY_IMAGE=stockboom-local/binary:latest \
    --target runtime -t stockboom-local/stockboom:latest .

cat <<LINES
STOCKBOOM_IMAGE=stockboom-local/stockboom:latest
POSTGRES_IMAGE=stockboom-local/postgres:bookworm
REDIS_IMAGE=stockboom-local/redis:bookworm
NATS_IMAGE=stockboom-local/nats:bookworm
PROMETHEUS_IMAGE=stockboom-local/prometheus:bookworm
ALERTMANAGER_IMAGE=stockboom-local/alertmanager:bookworm
POSTGRES_EXPORTER_IMAGE=stockboom-local/postgres-exporter:bookworm
REDIS_EXPORTER_IMAGE=stockboom-local/redis-exporter:bookworm
NODE_EXPORTER_IMAGE=stockboom-local/node-exporter:bookworm
LINES
