#!/usr/bin/env bash
# bench/fuzz.sh TARGET SECONDS [RUNS] — fuzzes one input format with libFuzzer under ASan and
# UBSan (tests/fuzz/fuzz_TARGET.cpp; the targets are listed in tests/fuzz/meson.build).
#
#   bench/fuzz.sh safetensors 600          fuzz for ten minutes
#   bench/fuzz.sh safetensors 0 1000000    stop after a million executions instead
#   bench/fuzz.sh list                     the targets
#
# Needs clang-14 and libfuzzer-14-dev (apt-get install -y clang-14 libfuzzer-14-dev). Builds
# build-fuzz/ (clang, -Dfuzz=true, sanitizers) on first use; the corpus grows in
# build-fuzz/corpus/TARGET from the seeds (tests/fuzz/make_seeds.cpp). A finding is written to
# build-fuzz/findings/TARGET/ and the script exits non-zero: commit the input under
# tests/fuzz/regressions/TARGET/ with the fix, and the suite replays it from then on.
# Last line: "fuzz TARGET: N executions in S s, C crashes" (docs/RELIABILITY.md records them).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
build=${VITUNE_FUZZ_BUILD:-$root/build-fuzz}
target=${1:?usage: bench/fuzz.sh TARGET SECONDS [RUNS]}
if [ "$target" = list ]; then
  sed -n "/^fuzz_targets = {/,/^}/p" "$root/tests/fuzz/meson.build" | grep -o "'[a-z_0-9]*'" | tr -d "'"
  exit 0
fi
seconds=${2:?usage: bench/fuzz.sh TARGET SECONDS [RUNS]}
runs=${3:--1}
command -v clang++-14 > /dev/null || { echo "fuzz.sh: needs clang-14 and libfuzzer-14-dev (apt-get install -y clang-14 libfuzzer-14-dev)" >&2; exit 2; }
if [ ! -f "$build/build.ninja" ]; then
  CXX=clang++-14 meson setup "$build" "$root" -Dfuzz=true -Dtests=false -Dbuildtype=debugoptimized \
    -Db_sanitize=address,undefined -Db_lundef=false -Dcpp_args=-fno-sanitize-recover=undefined \
    -Dcuda=disabled -Dmpi=disabled -Dpython=disabled > /tmp/vitune-fuzz-setup.log || { cat /tmp/vitune-fuzz-setup.log; exit 2; }
fi
exe=tests/fuzz/vitune-fuzz-$target
ninja -C "$build" "$exe" tests/fuzz/vitune-fuzz-seeds > /dev/null
corpus=$build/corpus/$target findings=$build/findings/$target seeds=$build/seeds
mkdir -p "$corpus" "$findings"
[ -d "$seeds/$target" ] || "$build/tests/fuzz/vitune-fuzz-seeds" "$seeds" "$root/tests/fixtures" > /dev/null
log=$build/fuzz-$target.log
export OMP_NUM_THREADS=1
[ -d /dev/shm ] && export TMPDIR=/dev/shm  # the targets write their inputs to files: keep them in memory
export ASAN_OPTIONS=detect_leaks=1:allocator_may_return_null=0
export UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1
set +e
# -close_fd_mask=3: the targets' own error lines stay quiet (libFuzzer and the sanitizers still
# report); -malloc_limit_mb: one allocation over 1 GB is a finding (a size taken on trust).
"$build/$exe" "$corpus" "$seeds/$target" -max_total_time="$seconds" -runs="$runs" \
  -rss_limit_mb=3072 -malloc_limit_mb=1024 -timeout=20 -close_fd_mask=3 -print_final_stats=1 \
  -artifact_prefix="$findings/" > "$log" 2>&1
rc=$?
set -e
grep -E "^#[0-9]+ +DONE|ERROR|SUMMARY|Test unit written" "$log" || true
execs=$(grep -o 'stat::number_of_executed_units: *[0-9]*' "$log" | grep -o '[0-9]*$' | tail -1)
secs=$(grep -o 'stat::average_exec_per_sec: *[0-9]*' "$log" | grep -o '[0-9]*$' | tail -1)
crashes=$(find "$findings" -type f | wc -l)
echo "fuzz $target: ${execs:-?} executions (${secs:-?}/s), $crashes finding(s) in $findings, exit $rc"
exit "$rc"
