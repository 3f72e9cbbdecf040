#!/usr/bin/env bash
# Fails when a tracked C++ file differs from what the project's .clang-format gives
# (deploy/format.sh rewrites them). Debian 12's clang-format 14 is the reference: other
# versions lay out some constructs differently, so the check refuses to run with another.
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$root"
source "$root/deploy/clang-format-tool.sh"
mapfile -t files < <(git ls-files '*.cpp' '*.hpp')
report=$(mktemp)
trap 'rm -f "$report"' EXIT
if ! "$formatter" --dry-run --Werror "${files[@]}" 2>"$report"; then
    grep -E '^[^ ].*(warning|error):' "$report" | cut -d: -f1 | sort -u | sed 's/^/not formatted: /' >&2
    echo "check-format: run deploy/format.sh to format them" >&2
    exit 1
fi
echo "check-format: ${#files[@]} files formatted"
