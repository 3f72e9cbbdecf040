#!/usr/bin/env bash
# The ThreadSanitizer stage of CI, called by deploy/test.sh after the ASan+UBSan and fuzzing
# stage. The server is multi-threaded (both --io-model values, the batched log writer thread,
# the FHIR client's connection pool, the JWT replay cache and JWKS refresh, the SQLite feedback
# store), so the suites that run those concurrently run once more under TSan:
#
#  1. configure build/tsan with clang 14, -fsanitize=thread, RelWithDebInfo, warnings as errors;
#  2. build the server and the unit tests of the threaded parts (not the pure fhir/rules
#     suites: single-threaded, and checked by the ASan+UBSan stage);
#  3. run service_tests, feedback_store_tests, auth_tests, fhir_client_* and every e2e_* test.
#     A report in a unit test makes it exit 66; a report in any `serve` or `evaluate` process
#     an e2e test starts fails that test (tests/e2e/CMakeLists.txt, e2e_support.py).
#
# Suppressions: deploy/tsan.supp (each entry must say why it is benign).
#
# Environment:
#   CDS_TSAN_BUILD_DIR       build directory (default <repo>/build/tsan)
#   CDS_TSAN_WERROR=OFF      build without -Werror (local use only; CI keeps it ON)
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
build_dir="${CDS_TSAN_BUILD_DIR:-$root/build/tsan}"
jobs=2

stage=thread-sanitizer
# shellcheck source=stage-steps.sh
source "$root/deploy/stage-steps.sh"
require_clang_tools

# second_deadlock_stack: a lock-order report shows where both locks were taken.
export TSAN_OPTIONS="suppressions=$root/deploy/tsan.supp:second_deadlock_stack=1${TSAN_OPTIONS:+:$TSAN_OPTIONS}"

begin "configure (clang 14, thread)"
CC=clang-14 CXX=clang++-14 cmake -S "$root" -B "$build_dir" -DCMAKE_BUILD_TYPE=RelWithDebInfo \
    -DCDS_SANITIZE=thread -DCDS_WERROR="${CDS_TSAN_WERROR:-ON}" >/dev/null
end "configure"

begin "build"
cmake --build "$build_dir" -j"$jobs" --target magnesium-cds service_tests feedback_store_tests auth_tests \
    fhir_client_tests fhir_client_integration_tests
end "build"

# The fixtures' set-up and clean-up tests (token minting, the loopback FHIR server) are named
# too, although CTest would add them by itself.
begin "CTest (threaded suites) under TSan"
# Tests that measure time against a deadline read this to leave out what the slowdown decides.
export CDS_UNDER_SANITIZER=thread
tests_failed=0
(cd "$build_dir" && ctest --output-on-failure -j"$jobs" --timeout 900 \
    -R '^(service_tests|feedback_store_tests|auth_tests|auth_mint_tokens|fhir_client_.*|fhir_server_.*|e2e_.*)$') ||
    tests_failed=1
end "ctest"

if [[ $tests_failed -ne 0 ]]; then
    echo "thread-sanitizer: a test failed under ThreadSanitizer (see the CTest output above)" >&2
    exit 1
fi
echo "==> thread-sanitizer: passed"
