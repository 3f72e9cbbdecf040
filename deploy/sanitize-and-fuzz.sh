#!/usr/bin/env bash
# The sanitizer and fuzzing stage of CI, called by deploy/test.sh after the
# Release build and its tests. One clang build is shared by the test suite and the fuzzers:
#
#  1. configure build/sanitize with clang 14, AddressSanitizer + UndefinedBehaviorSanitizer,
#     the libFuzzer harnesses (tests/fuzz) and warnings as errors;
#  2. build everything (keeping going past a failed target, so every error is reported);
#  3. run the whole CTest suite under the sanitizers (leaks included);
#  4. generate seed corpora from fixtures/ into a temporary directory
#     (tests/fuzz/make_seeds.py) and run every fuzzer for CDS_FUZZ_SECONDS (default 60),
#     two at a time, failing on any crash, leak, timeout, out-of-memory or sanitizer report.
#     An input that fails is copied to fixtures/regressions/<harness>/ — commit it, and the
#     CTest test fuzz_regression_<harness> then replays it in every build — and the script
#     fails.
#
# Environment:
#   CDS_FUZZ_SECONDS         seconds per fuzzer (default 60; 0 skips fuzzing)
#   CDS_SANITIZE_BUILD_DIR   build directory (default <repo>/build/sanitize)
#   CDS_SANITIZE_TESTS=0     skip step 3 (a local fuzzing loop)
#   CDS_FUZZ_JOBS            fuzzers run at once (default 2)
#   CDS_SANITIZE_WERROR=OFF  build without -Werror (local use only; CI keeps it ON)
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
build_dir="${CDS_SANITIZE_BUILD_DIR:-$root/build/sanitize}"
fuzz_seconds="${CDS_FUZZ_SECONDS:-60}"
fuzz_jobs="${CDS_FUZZ_JOBS:-2}"
jobs=2

stage=sanitize-and-fuzz
# shellcheck source=stage-steps.sh
source "$root/deploy/stage-steps.sh"
require_clang_tools

# Tests that measure time against a deadline read this to leave out what the slowdown decides.
export CDS_UNDER_SANITIZER=address
export ASAN_OPTIONS="detect_leaks=1:abort_on_error=1"
export UBSAN_OPTIONS="print_stacktrace=1:halt_on_error=1"

begin "configure (clang 14, address;undefined, fuzzers)"
CC=clang-14 CXX=clang++-14 cmake -S "$root" -B "$build_dir" \
    -DCMAKE_BUILD_TYPE=Debug -DCMAKE_CXX_FLAGS_DEBUG="-g -O1" \
    -DCDS_SANITIZE="address;undefined" -DCDS_BUILD_FUZZERS=ON -DCDS_WERROR="${CDS_SANITIZE_WERROR:-ON}" >/dev/null
end "configure"

# A failure does not stop the stage: the build keeps going (make -k), the tests and the
# fuzzers that were built still run, and the script fails at the end — so one CI run reports
# every problem instead of the first.
build_failed=0
tests_failed=0
begin "build"
cmake --build "$build_dir" -j"$jobs" -- -k || build_failed=1
end "build"

if [[ "${CDS_SANITIZE_TESTS:-1}" != 0 ]]; then
    begin "CTest suite under ASan+UBSan"
    (cd "$build_dir" && ctest --output-on-failure -j"$jobs" --timeout 900) || tests_failed=1
    end "ctest"
fi

summarize_failures() {
    if [[ $build_failed -ne 0 ]]; then
        echo "sanitize-and-fuzz: the clang ASan+UBSan build failed (see the compiler output above)" >&2
    fi
    if [[ $tests_failed -ne 0 ]]; then
        echo "sanitize-and-fuzz: the test suite failed under the sanitizers (see the CTest output above)" >&2
    fi
}

if [[ "$fuzz_seconds" == 0 ]]; then
    echo "==> sanitize-and-fuzz: CDS_FUZZ_SECONDS=0, fuzzing skipped"
    summarize_failures
    [[ $build_failed -eq 0 && $tests_failed -eq 0 ]] || exit 1
    exit 0
fi

work=$(mktemp -d "${TMPDIR:-/tmp}/cds-fuzz.XXXXXX")
cleanup() {
    rm -rf "$work"
    report_timings
}
trap cleanup EXIT

begin "seed corpora"
python3 "$root/tests/fuzz/make_seeds.py" --root "$root" --out "$work/seeds"
end "seeds"

harnesses=()
for binary in "$build_dir"/tests/fuzz/fuzz_*; do
    name=$(basename "$binary")
    [[ -x "$binary" && "$name" != fuzz_regression_* ]] || continue
    harnesses+=("${name#fuzz_}")
done
if [[ ${#harnesses[@]} -eq 0 ]]; then
    echo "sanitize-and-fuzz: no fuzzer was built in $build_dir/tests/fuzz" >&2
    exit 1
fi

# Runs one fuzzer; its exit status is libFuzzer's (non-zero on any finding).
run_fuzzer() {
    local harness=$1
    local dict="$root/tests/fuzz/fhir.dict"
    [[ "$harness" == jwt ]] && dict="$root/tests/fuzz/jwt.dict"
    mkdir -p "$work/corpus/$harness" "$work/artifacts/$harness" "$work/seeds/$harness"
    "$build_dir/tests/fuzz/fuzz_$harness" \
        -max_total_time="$fuzz_seconds" -rss_limit_mb=2048 -timeout=10 \
        -dict="$dict" -print_final_stats=1 \
        -artifact_prefix="$work/artifacts/$harness/" \
        "$work/corpus/$harness" "$work/seeds/$harness" >"$work/$harness.log" 2>&1
}

begin "fuzzing (${#harnesses[@]} fuzzers x ${fuzz_seconds} s, $fuzz_jobs at a time)"
declare -A status=()
running=()
for harness in "${harnesses[@]}"; do
    run_fuzzer "$harness" &
    running+=("$!:$harness")
    if [[ ${#running[@]} -ge $fuzz_jobs ]]; then
        entry=${running[0]}
        running=("${running[@]:1}")
        if wait "${entry%%:*}"; then status[${entry#*:}]=0; else status[${entry#*:}]=$?; fi
    fi
done
for entry in "${running[@]}"; do
    if wait "${entry%%:*}"; then status[${entry#*:}]=0; else status[${entry#*:}]=$?; fi
done
end "fuzzing"

failed=0
for harness in "${harnesses[@]}"; do
    log="$work/$harness.log"
    execs=$(grep -o 'stat::number_of_executed_units: *[0-9]*' "$log" | grep -o '[0-9]*$' || echo "?")
    # A sanitizer report is a failure even if the process somehow exited 0.
    if [[ ${status[$harness]} -ne 0 ]] ||
        grep -qE 'ERROR: (AddressSanitizer|LeakSanitizer|libFuzzer)|runtime error:|FUZZ INVARIANT VIOLATED' "$log"; then
        failed=1
        echo "!!! fuzz_$harness FAILED (exit ${status[$harness]}, $execs runs); log tail:" >&2
        tail -n 60 "$log" >&2
        mkdir -p "$root/fixtures/regressions/$harness"
        for artifact in "$work/artifacts/$harness"/*; do
            [[ -f "$artifact" ]] || continue
            cp "$artifact" "$root/fixtures/regressions/$harness/"
            echo "!!! saved $(basename "$artifact") to fixtures/regressions/$harness/ — commit it once fixed" >&2
        done
    else
        echo "fuzz_$harness: no finding in ${fuzz_seconds} s ($execs runs)"
    fi
done
if [[ $failed -ne 0 ]]; then
    echo "sanitize-and-fuzz: fuzzing found problems (see above); reproduce with" >&2
    echo "  $build_dir/tests/fuzz/fuzz_<harness> fixtures/regressions/<harness>/<file>" >&2
fi
summarize_failures
if [[ $failed -ne 0 || $build_failed -ne 0 || $tests_failed -ne 0 ]]; then
    exit 1
fi
echo "==> sanitize-and-fuzz: passed"
