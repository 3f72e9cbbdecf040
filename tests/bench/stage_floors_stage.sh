# The stage-floors stage of tests/bench/run.sh (sourced by it; uses its variables repo, here,
# out, work, requests, repeat, duration_s, stage_connections, nginx_url, service_url and its
# functions start_nginx, start_service, stop_processes, run_wrk (with run_wrk_dest and
# run_wrk_stage), service_path_for; shadows `binary` for start_service; sets service_pid,
# nginx_pid and run_repeat as run.sh's own stages do, so that its trap stops what this started).
# A server that does not start ends run.sh (start_service, start_nginx); any other failure
# stops only this stage, with its reason (stage_floors_fail).
#
# Where a request's time goes, on the server itself: the same magnesium-cds, built with
# -DCDS_BENCH_STAGE_STOPS=ON (build/bench-stages), answers {"cards":[]} right after one stage
# of a hook call (service/include/cds/service/http/bench_stage_stops.hpp):
#   received   the body received and the call routed, nothing of the body read;
#   tokenized  the whole body through the request tokenizer, keeping nothing;
#   read       prepare_cds_call: the request read into the hook context and the snapshot;
#   full       the whole call, as the product answers it.
# For each request, at --stage-connections (default 16), --repeat times: nginx's floor, then
# the four stages back to back, each on a fresh server with 2 s of warm-up. Writes
# $out/stage_floors.jsonl (run_wrk's lines, with "stage"); report.py prints the table.

# Stops what the stage started and says why; run.sh then carries on with its next stage.
stage_floors_fail() {
    echo "run.sh: stage floors: $1" >&2
    # shellcheck disable=SC2086  # empty pids drop out
    stop_processes $service_pid $nginx_pid
    service_pid="" nginx_pid="" run_repeat=1
    unset CDS_BENCH_STOP_AFTER
    return 1
}

run_stage_floors_stage() {
    local stage_build="$repo/build/bench-stages"
    echo "== stage floors: magnesium-cds with -DCDS_BENCH_STAGE_STOPS=ON in $stage_build"
    if ! cmake -S "$here" -B "$stage_build" -DCMAKE_BUILD_TYPE=Release -DCDS_BENCH_STAGE_STOPS=ON \
            >"$work/stage_build.log" 2>&1 ||
       ! cmake --build "$stage_build" --target magnesium-cds -j "$(nproc)" >>"$work/stage_build.log" 2>&1; then
        grep -E 'error' "$work/stage_build.log" | head -20 >&2
        stage_floors_fail "the build failed"
        return 1
    fi
    local binary="$stage_build/magnesium-cds/service/magnesium-cds"  # start_service runs it
    local dest="$out/stage_floors.jsonl"
    : >"$dest"
    local wrk_threads=2
    ((stage_connections < 2)) && wrk_threads=1
    start_nginx
    local name body path stage status answer
    for name in $requests; do
        body="$out/requests/$name.json"
        path="/cds-services/$(service_path_for "$name")"
        BENCH_BODY="$body" wrk -t "$wrk_threads" -c "$stage_connections" -d 2s -s "$here/wrk.lua" \
            "$nginx_url$path" >/dev/null
        for ((run_repeat = 1; run_repeat <= repeat; run_repeat++)); do
            run_wrk_dest="$dest" run_wrk_stage=floor \
                run_wrk nginx "$nginx_url$path" "$body" "$stage_connections" "$duration_s" "$name" ||
                { stage_floors_fail "no floor run for $name"; return 1; }
            for stage in received tokenized read full; do
                if [[ $stage == full ]]; then
                    unset CDS_BENCH_STOP_AFTER
                else
                    export CDS_BENCH_STOP_AFTER="$stage"
                fi
                start_service
                unset CDS_BENCH_STOP_AFTER
                # The stop must have taken effect (and the whole call must not look stopped):
                # otherwise the table would label four whole calls as stages.
                status="$(curl -s -o "$work/stage_check.json" -w '%{http_code}' -X POST \
                          -H 'Content-Type: application/json' --data-binary "@$body" "$service_url$path")"
                answer="$(head -c 64 "$work/stage_check.json")"
                if [[ $status != 200 ]] ||
                   { [[ $stage == full ]] && [[ $answer == '{"cards":[]}' ]]; } ||
                   { [[ $stage != full ]] && [[ $answer != '{"cards":[]}' ]]; }; then
                    stage_floors_fail "the $stage stage answers $status to $name: $answer"
                    return 1
                fi
                BENCH_BODY="$body" wrk -t "$wrk_threads" -c "$stage_connections" -d 2s -s "$here/wrk.lua" \
                    "$service_url$path" >/dev/null
                run_wrk_dest="$dest" run_wrk_stage="$stage" \
                    run_wrk service "$service_url$path" "$body" "$stage_connections" "$duration_s" "$name" ||
                    { stage_floors_fail "no $stage run for $name"; return 1; }
                stop_processes "$service_pid"
                service_pid=""
            done
        done
        run_repeat=1
    done
    stop_processes "$nginx_pid"
    nginx_pid=""
}
