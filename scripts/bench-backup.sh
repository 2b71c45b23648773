#!/usr/bin/env bash
# The backup benchmark of BENCHMARKS.md: a log of the generated corpus (EVENTS, default 2,000,000, in 64 MiB
# segments), a full backup, an incremental one after another 10 % of events, verify, a full restore and a
# point-in-time restore into the middle of a frame. Times from `date +%s.%N` around each release command.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
events="${EVENTS:-2000000}"
source scripts/bench-common.sh
scripts/setup.sh --bench
bench_build
bin="$sb"
bench_corpus "$events"
work="var/bench-backup"
rm -rf "$work" && mkdir -p "$work"
more=$((events / 10))
head -n "$more" "$corpus" > "$work/more.jsonl"
timed() {  # label, command...
    local label="$1"; shift
    local start end
    start=$(date +%s.%N)
    "$@" > "$work/last.out"
    end=$(date +%s.%N)
    printf '%-34s %8.2f s   %s\n' "$label" "$(echo "$end - $start" | bc)" "$(grep -E 'backup |copied|restored|ok' "$work/last.out" | head -2 | tr '\n' ' ' | cut -c1-150)"
}
$bin log append --dir "$work/log" --batch 1000 < "$corpus" > /dev/null
echo "log: $($bin log inspect --dir "$work/log" --json | python3 -c 'import json,sys; d=json.load(sys.stdin); print(d["records"], "records,", round(d["segmentBytes"]/2**20,1), "MiB in", len(d["segments"]), "segments")')"
timed "backup create (first, full)" $bin backup create --dir "$work/log" --to "$work/repo"
$bin log append --dir "$work/log" --batch 1000 < "$work/more.jsonl" > /dev/null
timed "backup create (incremental, +10%)" $bin backup create --dir "$work/log" --to "$work/repo"
timed "backup verify (newest)" $bin backup verify --from "$work/repo" --backup "$($bin backup list --from "$work/repo" --json | python3 -c 'import json,sys; print(json.load(sys.stdin)[-1]["id"])')"
timed "backup restore (whole log)" $bin backup restore --from "$work/repo" --to "$work/restored" --log-only
cut=$((events / 2 + 7))
timed "backup restore --to-offset $cut" $bin backup restore --from "$work/repo" --to "$work/pitr" --to-offset "$cut" --log-only
du -sh "$work/repo" | sed 's/^/repository on disk: /'
rm -rf "$work"
