#!/usr/bin/env bash
# Formats every tracked C++ file with the project's .clang-format (clang-format 14, as on
# Debian 12; deploy/check-format.sh is the check CI runs).
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$root"
source "$root/deploy/clang-format-tool.sh"
git ls-files -z '*.cpp' '*.hpp' | xargs -0 "$formatter" -i
