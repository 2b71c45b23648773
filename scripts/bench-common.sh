# Sourced by scripts/bench-*.sh: the build they run and the servers they use.
#   STOCKBOOM_BUILD=release (default) | debug   which build of stockboom and stockboom-sim runs
#   STOCKBOOM_SWIFT_FLAGS="-Xswiftc …"           extra flags of that build (`make test`'s -enable-testing)
#   RESULTS=DIR                                  where result files go (default benchmarks/results)
#   DATABASE_URL and REDIS_URL already set       those servers are used (and left alone), as `make test` does
build="${STOCKBOOM_BUILD:-release}"
results="${RESULTS:-benchmarks/results}"
mkdir -p "$results" var
sb=".build/$build/stockboom"
sim=".build/$build/stockboom-sim"

bench_build() {  # both programs: the benchmarks are in stockboom-sim, the processes they start are stockboom
    # shellcheck disable=SC2086 # the flags are words
    swift build -c "$build" ${STOCKBOOM_SWIFT_FLAGS:-} --product stockboom >/dev/null
    # shellcheck disable=SC2086
    swift build -c "$build" ${STOCKBOOM_SWIFT_FLAGS:-} --product stockboom-sim >/dev/null
}

# Throwaway PostgreSQL/Redis unless the caller gave servers; `bench_services stop` also stops them on exit
# when this script started them.
bench_services() {
    if [ -n "${DATABASE_URL:-}" ] && [ -n "${REDIS_URL:-}" ]; then
        export DATABASE_URL REDIS_URL
        return
    fi
    scripts/services.sh start >/dev/null
    eval "$(scripts/services.sh env)"
    export DATABASE_URL REDIS_URL
    if [ "${1:-}" = stop ]; then trap 'scripts/services.sh stop' EXIT; fi
}

# The corpus of EVENTS events (generated once, kept in var/).
bench_corpus() {
    local events="$1"
    corpus="var/bench-corpus-$events.jsonl"
    [ -f "$corpus" ] || "$sim" bench corpus --events "$events" --seed 7 > "$corpus"
}
