#!/usr/bin/env bash
# One command for a newcomer: install what is missing, build (Release), and start the service
# on 127.0.0.1:8080 with the bundled rule set and the embedded feedback store
# (var/feedback.sqlite3). Arguments go to `magnesium-cds serve`; the defaults and the
# MAGNESIUM_CDS_* environment variables only fill flags the arguments do not give
# (deploy/serve-arguments.bash), e.g.
#   ./deploy/serve.sh --listen 0.0.0.0:9090 --rules my-rules.json
#   MAGNESIUM_CDS_LISTEN=127.0.0.1:9090 MAGNESIUM_CDS_FEEDBACK_DB=/srv/mg/feedback.sqlite3 ./deploy/serve.sh
# CDS_SERVE_BINARY=PATH serves with that binary, skipping the install and build steps.
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
# shellcheck source=serve-arguments.bash
source "$root/deploy/serve-arguments.bash"
serve_arguments "$root" "$@"

binary=${CDS_SERVE_BINARY:-}
if [[ -z $binary ]]; then
    "$root/deploy/install-deps.sh"
    build_dir="${CDS_BUILD_DIR:-$root/build/release}"
    cmake -S "$root" -B "$build_dir" -DCMAKE_BUILD_TYPE=Release -DCDS_BUILD_TESTS=OFF >/dev/null
    cmake --build "$build_dir" --target magnesium-cds -j"$(nproc)"
    binary="$build_dir/service/magnesium-cds"
fi
[[ -n $serve_default_store_dir ]] && mkdir -p "$serve_default_store_dir"
export_serve_malloc_tunables
exec "$binary" serve "${serve_args[@]}"
