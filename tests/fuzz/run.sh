#!/bin/sh
# run.sh: runs one libFuzzer target over SEED_DIR and then fuzzes for
# SECONDS, growing CORPUS_DIR ("-" for a temporary folder, so the committed
# seeds are never touched). The target's own options come from
# tests/fuzz/NAME.options (NAME = binary name without "fuzz_"); crash inputs
# are kept as fuzz-crash-NAME-* in the current folder. Leak detection is on.
# Used by the fuzz-smoke tests (meson) and scripts/fuzz.
# usage: run.sh TARGET_BINARY CORPUS_DIR SEED_DIR SECONDS [libFuzzer options...]
set -eu
bin=$1 corpus=$2 seeds=$3 secs=$4
shift 4
here=$(cd "$(dirname "$0")" && pwd)
name=$(basename "$bin" | sed 's/^fuzz_//')
bin=$(cd "$(dirname "$bin")" && pwd)/$(basename "$bin")
[ -n "$(ls -A "$seeds" 2>/dev/null)" ] || { echo "run.sh: $seeds: no seeds" >&2; exit 1; }
# scratch: the target's TMPDIR (pathlist's sandbox tree); fast: where inputs
# are written to files for subjects that read a path (tmpfs when there is one)
scratch=$(mktemp -d "${TMPDIR:-/tmp}/ovx-fuzz-$name.XXXXXX")
fast=$scratch
if [ -w /dev/shm ]; then fast=$(mktemp -d /dev/shm/ovx-fuzz-$name.XXXXXX); fi

log=$scratch.log
trap 'rm -rf "$scratch" "$fast" "$log"' EXIT
if [ "$corpus" = - ]; then
    corpus=$scratch/corpus
fi
mkdir -p "$corpus"
# absolute: a target may chdir (pathlist works inside its sandbox)
corpus=$(cd "$corpus" && pwd) seeds=$(cd "$seeds" && pwd)
opts=$(sed -e 's/#.*//' -e "s|@DIR@|$here|g" "$here/$name.options")
export ASAN_OPTIONS="detect_leaks=1:abort_on_error=1:${OVX_FUZZ_ASAN_OPTIONS:-}"
export UBSAN_OPTIONS="halt_on_error=1:print_stacktrace=1"
rc=0
# shellcheck disable=SC2086 # opts holds one option per word
TMPDIR=$scratch OVX_FUZZ_TMPDIR=$fast "$bin" -max_total_time="$secs" -timeout=20 -rss_limit_mb=2560 -print_final_stats=1 \
    -artifact_prefix="$PWD/fuzz-crash-$name-" $opts "$@" "$corpus" "$seeds" >"$log" 2>&1 || rc=$?
grep -E "^#[0-9]+.*(INITED|DONE)|stat::number_of_executed_units|stat::peak_rss|ERROR|SUMMARY|Test unit written" \
    "$log" || true
if [ "$rc" != 0 ]; then
    tail -n 80 "$log"
    echo "run.sh: fuzz_$name failed (exit $rc)" >&2
    exit 1
fi
