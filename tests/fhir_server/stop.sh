#!/usr/bin/env bash
# CTest fixture clean-up: stops the FHIR test server that start.sh STATE_DIR started.
set -euo pipefail
state=$1
[[ -f "$state/pid" ]] || exit 0
pid=$(cat "$state/pid")
if kill -0 "$pid" 2>/dev/null; then
    kill "$pid"
    for _ in $(seq 1 50); do
        kill -0 "$pid" 2>/dev/null || break
        sleep 0.1
    done
    kill -0 "$pid" 2>/dev/null && kill -9 "$pid"
fi
rm -f "$state/pid"
