#!/usr/bin/env bash
# One command for a newcomer: install what is missing, build (Release), and start the service
# on 127.0.0.1:8080 with the bundled rule set and the embedded feedback store
# (var/feedback.sqlite3). Extra arguments go to `magnesium-cds serve`.
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
"$root/deploy/install-deps.sh"
build_dir="${CDS_BUILD_DIR:-$root/build/release}"
cmake -S "$root" -B "$build_dir" -DCMAKE_BUILD_TYPE=Release -DCDS_BUILD_TESTS=OFF >/dev/null
cmake --build "$build_dir" --target magnesium-cds -j"$(nproc)"
mkdir -p "$root/var"
exec "$build_dir/service/magnesium-cds" serve --listen 127.0.0.1:8080 --feedback-db "$root/var/feedback.sqlite3" "$@"
