#!/usr/bin/env bash
# One command: install what is missing, build, and run every test.
#  1. Release build with warnings-as-errors, all CTest suites (unit, scenario, FHIR validators,
#     end-to-end over HTTP, FHIR-server integration, JWT, serve.sh and `cmake --install`, and
#     repo_self_contained: nothing outside the repository is needed, nothing generated is tracked).
#  2. When clang is available: one clang ASan+UBSan build shared by the test suite and the
#     libFuzzer harnesses, each fuzzer run for a bounded time (CDS_FUZZ_SECONDS, default 60).
#  3. A clang ThreadSanitizer build of the server and its threaded suites (service, auth,
#     FHIR client, every e2e test): deploy/thread-sanitizer.sh, about 2.5 min on 2 cores.
# CDS_QUICK=1 skips steps 2 and 3 (for a fast local loop).
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
"$root/deploy/install-deps.sh" --test
jobs=$(nproc)

# npm test dependencies (FHIR validators, the loopback FHIR server), from committed lockfiles.
for lock in "$root"/tests/*/package-lock.json; do
    [[ -e "$lock" ]] || continue
    dir=$(dirname "$lock")
    if [[ ! -d "$dir/node_modules" || "$lock" -nt "$dir/node_modules" ]]; then
        (cd "$dir" && npm ci --no-audit --no-fund --loglevel=error)
    fi
done

release_dir="${CDS_BUILD_DIR:-$root/build/test-release}"
cmake -S "$root" -B "$release_dir" -DCMAKE_BUILD_TYPE=Release -DCDS_WERROR=ON >/dev/null
cmake --build "$release_dir" -j"$jobs"
(cd "$release_dir" && ctest --output-on-failure -j"$jobs" --timeout 600)

if [[ "${CDS_QUICK:-0}" != 1 && -x "$root/deploy/sanitize-and-fuzz.sh" ]]; then
    "$root/deploy/sanitize-and-fuzz.sh"
fi
if [[ "${CDS_QUICK:-0}" != 1 && -x "$root/deploy/thread-sanitizer.sh" ]]; then
    "$root/deploy/thread-sanitizer.sh"
fi
