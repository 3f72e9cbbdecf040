# Sourced by deploy/sanitize-and-fuzz.sh and deploy/thread-sanitizer.sh (set `stage` first):
# the check for the clang tools both stages need, and the per-step timings each prints when it
# ends, so that CI logs show where the minutes go.

require_clang_tools() {
    local tool
    for tool in clang-14 clang++-14 python3; do
        if ! command -v "$tool" >/dev/null; then
            echo "$stage: $tool is missing; run deploy/install-deps.sh --test (it installs clang-14 and libclang-rt-14-dev)" >&2
            exit 1
        fi
    done
}

declare -a timings=()
step_start=0
begin() {
    echo "==> $stage: $1"
    step_start=$SECONDS
}
end() {
    timings+=("$(printf '%-34s %5d s' "$1" "$((SECONDS - step_start))")")
}
report_timings() {
    echo "==> $stage timings:"
    local t
    for t in "${timings[@]}"; do echo "    $t"; done
}
trap report_timings EXIT
