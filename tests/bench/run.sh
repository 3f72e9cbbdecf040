#!/usr/bin/env bash
# The magnesium-cds benchmark, one command:
#
#   tests/bench/run.sh [--duration 10s] [--build-dir DIR] [--connections "1 16 64"]
#                      [--requests "patient-view-1 order-sign-50 order-sign-500"]
#                      [--soak [SECONDS]] [--soak-only] [--no-micro] [--threads N]
#                      [--service-log-level info] [--io-model per-thread|shared]
#                      [--wait-idle [LOAD]] [--out DIR] [--no-fhir-fallback | --fhir-fallback-only] [--fhir-connections "1 16"]
#                      [--no-malloc-tunables] [--repeat N]
#                      [--stage-floors | --stage-floors-only] [--stage-connections N]
#
# 1. builds the Release binary and the in-process micro-benchmark in build/bench (unless
#    --build-dir names an existing build of magnesium-cds);
# 2. generates the request bodies (generate_requests.py, dates relative to now);
# 3. starts `magnesium-cds serve` (with deploy/serve.sh's allocator setting, GLIBC_TUNABLES;
#    --no-malloc-tunables leaves glibc's defaults) and nginx (the machine's floor: `return 200`
#    with a fixed JSON body, same POST bodies) on free 127.0.0.1 ports;
# 4. drives both with wrk (wrk.lua) at each connection count for each request size,
#    nginx then the service back to back so that both see the same machine load (--repeat N:
#    N such pairs per cell, reported as medians);
# 5. records requests/s, p50/p99 latency, the service/floor ratio, the service's CPU time per
#    request (/proc/PID/stat) and its peak RSS (VmHWM, reset before each run through
#    /proc/PID/clear_refs);
# 6. runs evaluate_bench (in-process stage costs) and, with --soak, 60 s at 64 connections
#    sampling RSS;
# 7. FHIR-fallback stage (on by default; --no-fhir-fallback skips it, --fhir-fallback-only runs
#    only it): the loopback FHIR test server of the integration tests (tests/fhir_server,
#    Node.js 20; `npm ci` from its lockfile when node_modules is missing) seeded with the
#    order-sign-50 patient, a second `serve --fhir-allow` instance, the fetch-only twin of
#    order-sign-50 checked once against the prefetched request (same cards), the FHIR server's
#    own latency per search, one call's query timeline (strace, when installed), then wrk at
#    --fhir-connections (fhir_fallback.py, fhir_fallback.json);
# 8. with --stage-floors (--stage-floors-only: only it): stage floors (stage_floors_stage.sh),
#    the same server built with -DCDS_BENCH_STAGE_STOPS=ON answering right after receiving the
#    body, after tokenizing it, after reading it, and after the whole call, beside nginx, at
#    --stage-connections (default 16);
# 9. prints the table and the targets, and writes results.json (report.py).
#
# Not a CI test: it passes or fails nothing; it prints figures. Everything binds 127.0.0.1
# and every process it starts is stopped on exit. Needs wrk and nginx (Debian packages
# wrk, nginx-light: deploy/install-deps.sh --bench).
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
repo="$(cd "$here/../.." && pwd)"
# shellcheck source=../../deploy/serve-arguments.bash
source "$repo/deploy/serve-arguments.bash"

duration=10s
build_dir=""
connections="1 16 64"
requests="patient-view-1 order-sign-50 order-sign-500"
soak=0
soak_only=0
micro=1
threads=0
log_level=info
io_model=per-thread  # the service's default
out="$repo/build/bench/results"
wait_idle=""
fhir_fallback=1
malloc_tunables=1
fhir_fallback_only=0
fhir_connections="1 16"
repeat=1
stage_floors=0
stage_floors_only=0
stage_connections=16

usage() { sed -n '2,11p' "$0" | sed 's/^# \{0,1\}//' >&2; exit 2; }
while (($#)); do
    case "$1" in
        --duration) duration="$2"; shift 2 ;;
        --build-dir) build_dir="$2"; shift 2 ;;
        --connections) connections="$2"; shift 2 ;;
        --requests) requests="$2"; shift 2 ;;
        --soak) soak=60; if [[ ${2:-} =~ ^[0-9]+$ ]]; then soak="$2"; shift; fi; shift ;;
        --soak-only) soak_only=1; [[ $soak -eq 0 ]] && soak=60; shift ;;
        --no-micro) micro=0; shift ;;
        --threads) threads="$2"; shift 2 ;;
        --service-log-level) log_level="$2"; shift 2 ;;
        --io-model) io_model="$2"; shift 2 ;;
        --out) out="$2"; shift 2 ;;
        --wait-idle) wait_idle=1.0; if [[ ${2:-} =~ ^[0-9.]+$ ]]; then wait_idle="$2"; shift; fi; shift ;;
        --no-fhir-fallback) fhir_fallback=0; shift ;;
        --fhir-fallback-only) fhir_fallback=1; fhir_fallback_only=1; micro=0; shift ;;
        --fhir-connections) fhir_connections="$2"; shift 2 ;;
        --no-malloc-tunables) malloc_tunables=0; shift ;;
        --repeat) repeat="$2"; shift 2 ;;
        --stage-floors) stage_floors=1; shift ;;
        --stage-floors-only) stage_floors=1; stage_floors_only=1; micro=0; fhir_fallback=0; shift ;;
        --stage-connections) stage_connections="$2"; shift 2 ;;
        -h|--help) usage ;;
        *) echo "run.sh: unknown argument $1" >&2; usage ;;
    esac
done
[[ $duration =~ ^[0-9]+s$ ]] || { echo "run.sh: --duration must be seconds, e.g. 10s" >&2; exit 2; }
duration_s=${duration%s}
((duration_s >= 1 && duration_s <= 300)) || { echo "run.sh: --duration between 1s and 300s" >&2; exit 2; }
((soak <= 600)) || { echo "run.sh: --soak at most 600 seconds" >&2; exit 2; }
[[ $repeat =~ ^[0-9]+$ ]] && ((repeat >= 1 && repeat <= 10)) ||
    { echo "run.sh: --repeat between 1 and 10" >&2; exit 2; }
((soak_only + fhir_fallback_only + stage_floors_only <= 1)) ||
    { echo "run.sh: --soak-only, --fhir-fallback-only and --stage-floors-only exclude each other" >&2; exit 2; }
[[ $stage_connections =~ ^[0-9]+$ ]] && ((stage_connections >= 1 && stage_connections <= 256)) ||
    { echo "run.sh: --stage-connections between 1 and 256" >&2; exit 2; }

for tool in wrk nginx cmake python3 curl; do
    if ! command -v "$tool" >/dev/null && [[ ! -x /usr/sbin/$tool ]]; then
        echo "run.sh: $tool is missing; install with: deploy/install-deps.sh --bench (Debian: wrk nginx-light)" >&2
        exit 1
    fi
done
nginx_bin="$(command -v nginx || echo /usr/sbin/nginx)"

# --- build ---------------------------------------------------------------------------
bench_build="$repo/build/bench"
if [[ -z $build_dir ]]; then
    echo "== building Release magnesium-cds and evaluate_bench in $bench_build"
    cmake -S "$here" -B "$bench_build" -DCMAKE_BUILD_TYPE=Release >/dev/null
    targets=(magnesium-cds)
    ((micro)) && targets+=(evaluate_bench)
    cmake --build "$bench_build" --target "${targets[@]}" -j "$(nproc)" 2>&1 | grep -E 'error|warning|Linking' || true
    binary="$bench_build/magnesium-cds/service/magnesium-cds"
    micro_binary="$bench_build/evaluate_bench"
else
    build_dir="$(cd "$build_dir" && pwd)"
    binary=""
    for candidate in "$build_dir/service/magnesium-cds" "$build_dir/magnesium-cds/service/magnesium-cds"; do
        [[ -x $candidate ]] && binary="$candidate" && break
    done
    [[ -n $binary ]] || { echo "run.sh: no magnesium-cds binary under $build_dir" >&2; exit 1; }
    build_type="$(sed -n 's/^CMAKE_BUILD_TYPE:[A-Z]*=//p' "$build_dir/CMakeCache.txt" 2>/dev/null || true)"
    [[ $build_type == Release ]] || echo "run.sh: WARNING: $build_dir is a '${build_type:-unknown}' build, not Release; figures are not representative" >&2
    micro_binary=""
    for candidate in "$build_dir/tests/bench/evaluate_bench" "$build_dir/evaluate_bench"; do
        [[ -x $candidate ]] && micro_binary="$candidate" && break
    done
fi
[[ -x $binary ]] || { echo "run.sh: the build did not produce $binary" >&2; exit 1; }

# --- work directory, request bodies ----------------------------------------------------
mkdir -p "$out"
work="$(mktemp -d "${TMPDIR:-/tmp}/cds-bench.XXXXXX")"
service_pid=""
nginx_pid=""
fallback_pid=""
strace_pid=""
fhir_state=""
cleanup() {
    local pid
    for pid in $strace_pid $service_pid $nginx_pid $fallback_pid; do
        if kill -0 "$pid" 2>/dev/null; then
            kill -TERM "$pid" 2>/dev/null || true
            for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
            kill -KILL "$pid" 2>/dev/null || true
        fi
    done
    if [[ -n $fhir_state && -f $fhir_state/pid ]]; then
        "$repo/tests/fhir_server/stop.sh" "$fhir_state" >/dev/null 2>&1 || true
    fi
    wait 2>/dev/null || true
    rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

now="$(date -u +%Y-%m-%dT%H:%M:00Z)"
python3 "$here/generate_requests.py" --out "$out/requests" --now "$now"

# --- servers -----------------------------------------------------------------------------
free_port() {
    python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()'
}

# Replaces the (sub)shell with `magnesium-cds ARGS...`, run with the allocator setting
# deploy/serve.sh uses (serve-arguments.bash) unless --no-malloc-tunables.
exec_service() {
    ((malloc_tunables)) && export_serve_malloc_tunables
    exec "$binary" "$@"
}

start_service() {
    local log="$work/service.log"
    # A server started before (the stage floors start one per stage) left its address here.
    rm -f "$work/service.out"
    local args=(serve --listen 127.0.0.1:0 --log-level "$log_level" --io-model "$io_model")
    ((threads > 0)) && args+=(--threads "$threads")
    (exec_service "${args[@]}") >"$work/service.out" 2>>"$log" &
    service_pid=$!
    for _ in $(seq 100); do
        if grep -q '^listening on' "$work/service.out" 2>/dev/null; then break; fi
        kill -0 "$service_pid" 2>/dev/null || { echo "run.sh: the service did not start:" >&2; cat "$log" >&2; exit 1; }
        sleep 0.1
    done
    service_url="$(sed -n 's/^listening on //p' "$work/service.out" | head -1)"
    [[ -n $service_url ]] || { echo "run.sh: the service printed no address" >&2; exit 1; }
}

start_nginx() {
    local port
    port="$(free_port)"
    mkdir -p "$work/nginx"
    cat >"$work/nginx/nginx.conf" <<EOF
# The floor: answer every POST with a fixed JSON body, nothing else. Same machine, same bodies.
worker_processes $(nproc);
daemon off;
pid $work/nginx/nginx.pid;
error_log $work/nginx/error.log warn;
events { worker_connections 4096; }
http {
    access_log off;
    client_body_temp_path $work/nginx/body;
    proxy_temp_path $work/nginx/proxy;
    fastcgi_temp_path $work/nginx/fastcgi;
    uwsgi_temp_path $work/nginx/uwsgi;
    scgi_temp_path $work/nginx/scgi;
    # Bodies up to the service's limit are received whole, in memory (no temp file).
    client_max_body_size 8m;
    client_body_buffer_size 8m;
    keepalive_requests 100000000;
    keepalive_timeout 60s;
    server {
        listen 127.0.0.1:$port;
        location / {
            default_type application/json;
            return 200 '{"cards":[]}';
        }
    }
}
EOF
    "$nginx_bin" -p "$work/nginx" -e "$work/nginx/error.log" -c "$work/nginx/nginx.conf" &
    nginx_pid=$!
    nginx_url="http://127.0.0.1:$port"
    for _ in $(seq 50); do
        curl -s -o /dev/null -X POST "$nginx_url/" && return 0
        kill -0 "$nginx_pid" 2>/dev/null || { echo "run.sh: nginx did not start:" >&2; cat "$work/nginx/error.log" >&2; exit 1; }
        sleep 0.1
    done
    echo "run.sh: nginx does not answer on $nginx_url" >&2
    exit 1
}

service_path_for() {  # request name -> service id from the bundled rule set
    case "$1" in
        patient-view*) echo magnesium-patient-view ;;
        order-select*) echo magnesium-order-select ;;
        order-sign*) echo magnesium-order-sign ;;
    esac
}

proc_kib() { sed -n "s/^$2:[[:space:]]*\([0-9]*\) kB/\1/p" "/proc/$1/status" 2>/dev/null || echo 0; }
# The CPU time a process (all its threads) has used so far, in clock ticks: "user system"
# (/proc/PID/stat fields 14 and 15, counted after the command name, which may hold spaces).
proc_cpu_ticks() { sed 's/^.*) //' "/proc/$1/stat" 2>/dev/null | awk '{print $12 + 0, $13 + 0}' || echo "0 0"; }
clock_ticks="$(getconf CLK_TCK)"

runs="$out/runs.jsonl"
: >"$runs"
run_repeat=1  # which of the --repeat pairs run_wrk is recording

# run_wrk TARGET URL BODY CONNECTIONS SECONDS NAME -> appends one JSON line to $runs (or to
# $run_wrk_dest). TARGET service or fhir-fallback: the service whose RSS is sampled.
run_wrk() {
    local target="$1" url="$2" body="$3" conns="$4" seconds="$5" name="$6"
    local wrk_threads=2
    ((conns < 2)) && wrk_threads=1
    local dest="${run_wrk_dest:-$runs}"
    local pid=""
    [[ $target == service ]] && pid="$service_pid"
    [[ $target == fhir-fallback ]] && pid="$fallback_pid"
    local hwm_before=0 cpu_before="" cpu_after=""
    if [[ -n $pid ]]; then
        echo 5 >"/proc/$pid/clear_refs" 2>/dev/null || true   # reset VmHWM to the current RSS
        hwm_before="$(proc_kib "$pid" VmHWM)"
        cpu_before="$(proc_cpu_ticks "$pid")"
    fi
    local line
    line="$(BENCH_BODY="$body" timeout $((seconds + 30)) wrk -t "$wrk_threads" -c "$conns" -d "${seconds}s" \
                --timeout 10s -s "$here/wrk.lua" "$url" | sed -n 's/^BENCH_JSON //p')"
    [[ -n $line ]] || { echo "run.sh: wrk produced no result for $target $name c=$conns" >&2; return 1; }
    local hwm=0 rss=0
    if [[ -n $pid ]]; then
        cpu_after="$(proc_cpu_ticks "$pid")"
        hwm="$(proc_kib "$pid" VmHWM)"
        rss="$(proc_kib "$pid" VmRSS)"
    fi
    [[ $target == service ]] && : >"$work/service.log"  # per-request log lines: keep the disk out of it
    python3 - "$line" "$target" "$name" "$conns" "$seconds" "$hwm" "$rss" "$hwm_before" \
        "$cpu_before" "$cpu_after" "$clock_ticks" "$run_repeat" "${run_wrk_stage:-}" >>"$dest" <<'EOF'
import json, sys
r = json.loads(sys.argv[1])
r.update(target=sys.argv[2], request=sys.argv[3], connections=int(sys.argv[4]), seconds=int(sys.argv[5]),
         vmhwm_kib=int(sys.argv[6]), vmrss_kib=int(sys.argv[7]), vmhwm_before_kib=int(sys.argv[8]),
         repeat=int(sys.argv[12]))
if sys.argv[13]:
    r["stage"] = sys.argv[13]  # the stage-floors stage (stage_floors_stage.sh)
r["requests_per_s"] = r["requests"] / (r["duration_us"] / 1e6)
# The process's CPU time over the run (None for a target whose process is not watched).
if sys.argv[9] and sys.argv[10]:
    (user0, system0), (user1, system1) = ([int(t) for t in a.split()] for a in sys.argv[9:11])
    ticks = int(sys.argv[11])
    # A process that is gone at the end reads as 0 0: nothing is recorded then.
    if user1 >= user0 and system1 >= system0 and (user1, system1) != (0, 0):
        r["cpu_user_s"] = (user1 - user0) / ticks
        r["cpu_system_s"] = (system1 - system0) / ticks
print(json.dumps(r))
EOF
    printf '  %-8s %-16s c=%-3s %10.0f req/s\n' "$target" "$name" "$conns" \
        "$(tail -1 "$dest" | python3 -c 'import json,sys; print(json.load(sys.stdin)["requests_per_s"])')"
}

# The machine is shared: optionally wait (at most 10 minutes) for the 1-minute load to drop.
if [[ -n $wait_idle ]]; then
    for _ in $(seq 120); do
        python3 -c 'import os,sys; sys.exit(0 if os.getloadavg()[0] < float(sys.argv[1]) else 1)' "$wait_idle" && break
        echo "   waiting for load < $wait_idle (now $(cut -d' ' -f1 /proc/loadavg))"
        sleep 5
    done
fi
echo "== machine: $(nproc) CPUs, $(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -1); load: $(cut -d' ' -f1-3 /proc/loadavg)"
load_start="$(cut -d' ' -f1-3 /proc/loadavg)"
if ((fhir_fallback_only)); then
    requests=""
else
    start_service
    start_nginx
    echo "== service $service_url (pid $service_pid, threads ${threads/#0/default}), nginx $nginx_url (pid $nginx_pid)"
    echo "   service RSS at start: $(proc_kib "$service_pid" VmRSS) KiB"
fi

# Sanity: every request must be answered 200 with cards, or the figures mean nothing.
for name in $requests; do
    body="$out/requests/$name.json"
    url="$service_url/cds-services/$(service_path_for "$name")"
    status="$(curl -s -o "$work/check.json" -w '%{http_code}' -X POST -H 'Content-Type: application/json' \
              --data-binary "@$body" "$url")"
    if [[ $status != 200 ]]; then
        echo "run.sh: the service answers $status to $name:" >&2
        head -c 600 "$work/check.json" >&2; echo >&2
        exit 1
    fi
    cards="$(python3 -c 'import json,sys; print(len(json.load(open(sys.argv[1]))["cards"]))' "$work/check.json")"
    echo "   $name: $(stat -c %s "$body") bytes -> 200, $cards card(s), $(stat -c %s "$work/check.json") bytes"
done

if ((!soak_only && !fhir_fallback_only && !stage_floors_only)); then
    total=$(($(wc -w <<<"$requests") * ($(wc -w <<<"$connections") * 2 * repeat * duration_s + 4)))
    echo "== wrk matrix: ${duration} per run, ${repeat} pair(s) of runs per cell, about ${total}s in all"
    for name in $requests; do
        body="$out/requests/$name.json"
        path="/cds-services/$(service_path_for "$name")"
        # Warm-up (not recorded): page in code, fill allocator caches, open keep-alive paths.
        BENCH_BODY="$body" wrk -t 2 -c 16 -d 2s -s "$here/wrk.lua" "$service_url$path" >/dev/null
        BENCH_BODY="$body" wrk -t 2 -c 16 -d 2s -s "$here/wrk.lua" "$nginx_url$path" >/dev/null
        for c in $connections; do
            # --repeat: nginx and the service back to back, that many times; report.py takes
            # the median of each figure over the pairs (and the spread of the ratio).
            for ((run_repeat = 1; run_repeat <= repeat; run_repeat++)); do
                run_wrk nginx "$nginx_url$path" "$body" "$c" "$duration_s" "$name"
                run_wrk service "$service_url$path" "$body" "$c" "$duration_s" "$name"
            done
            run_repeat=1
        done
    done
fi
peak_hwm_all=0
[[ -n $service_pid ]] && peak_hwm_all="$(proc_kib "$service_pid" VmHWM)"

soak_file="$out/soak.json"
rm -f "$soak_file"
if ((soak > 0 && !fhir_fallback_only && !stage_floors_only)); then
    name=order-sign-50
    body="$out/requests/$name.json"
    echo "== soak: ${soak}s at 64 connections on $name, RSS sampled every 5 s"
    samples="$work/soak_samples"
    : >"$samples"
    echo "0 $(proc_kib "$service_pid" VmRSS)" >>"$samples"
    BENCH_BODY="$body" timeout $((soak + 30)) wrk -t 2 -c 64 -d "${soak}s" --timeout 10s -s "$here/wrk.lua" \
        "$service_url/cds-services/magnesium-order-sign" >"$work/soak_wrk.txt" &
    wrk_pid=$!
    for ((t = 5; t <= soak; t += 5)); do
        sleep 5
        echo "$t $(proc_kib "$service_pid" VmRSS)" >>"$samples"
        : >"$work/service.log"
    done
    wait "$wrk_pid" || true
    sleep 1
    echo "end $(proc_kib "$service_pid" VmRSS)" >>"$samples"
    python3 - "$samples" "$(sed -n 's/^BENCH_JSON //p' "$work/soak_wrk.txt")" "$(proc_kib "$service_pid" VmHWM)" \
        "$soak" >"$soak_file" <<'EOF'
import json, sys
samples = [line.split() for line in open(sys.argv[1]) if line.strip()]
rss = [{"t": s[0], "vmrss_kib": int(s[1])} for s in samples]
wrk = json.loads(sys.argv[2]) if sys.argv[2] else {}
print(json.dumps({"seconds": int(sys.argv[4]), "connections": 64, "request": "order-sign-50",
                  "rss_samples": rss, "rss_start_kib": rss[0]["vmrss_kib"],
                  "rss_after_first_5s_kib": rss[1]["vmrss_kib"] if len(rss) > 2 else None,
                  "rss_end_kib": rss[-1]["vmrss_kib"], "vmhwm_kib": int(sys.argv[3]), "wrk": wrk}))
EOF
    echo "   RSS start $(head -1 "$samples" | cut -d' ' -f2) KiB, end $(tail -1 "$samples" | cut -d' ' -f2) KiB"
fi

# TERM, up to 10 s to exit, then KILL; also used by the FHIR-fallback stage.
stop_processes() {
    local pid
    for pid in "$@"; do kill -TERM "$pid" 2>/dev/null || true; done
    for pid in "$@"; do
        for _ in $(seq 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
        kill -KILL "$pid" 2>/dev/null || true
        wait "$pid" 2>/dev/null || true
    done
}

# Stop the servers before the next stage so it has the CPUs to itself.
cleanup_servers() {
    # shellcheck disable=SC2086  # empty pids drop out
    stop_processes $service_pid $nginx_pid
    service_pid="" nginx_pid=""
}
cleanup_servers

stage_file="$out/stage_floors.jsonl"
rm -f "$stage_file"
if ((stage_floors && !soak_only && !fhir_fallback_only)); then
    # shellcheck source=stage_floors_stage.sh
    source "$here/stage_floors_stage.sh"
    run_stage_floors_stage || echo "run.sh: the stage-floors stage stopped (see above)" >&2
fi

fhir_file="$out/fhir_fallback.json"
rm -f "$fhir_file"
if ((fhir_fallback && !soak_only)); then
    # shellcheck source=fhir_fallback_stage.sh
    source "$here/fhir_fallback_stage.sh"
    run_fhir_fallback_stage
fi
load_end="$(cut -d' ' -f1-3 /proc/loadavg)"

micro_file="$out/micro.json"
rm -f "$micro_file"
if ((micro)) && ((!soak_only)); then
    if [[ -n $micro_binary && -x $micro_binary ]]; then
        echo "== in-process stage costs (evaluate_bench)"
        micro_args=()
        for name in $requests; do micro_args+=("$name=$out/requests/$name.json"); done
        # The nginx floor of each request (at 16 connections, or the most measured) for the
        # parse ceiling printed next to it.
        while read -r floor; do
            [[ -n $floor ]] && micro_args+=(--floor "$floor")
        done < <(python3 - "$runs" <<'EOF'
import json, statistics, sys
# Per request: the runs at the preferred connection count (16, else the most), then their
# median (--repeat measures a cell more than once).
runs = {}
for line in open(sys.argv[1], encoding="utf-8"):
    if not line.strip():
        continue
    r = json.loads(line)
    if r.get("target") != "nginx":
        continue
    runs.setdefault(r["request"], []).append(r)
for name, rs in runs.items():
    rank = max((r["connections"] == 16, r["connections"]) for r in rs)
    chosen = [r["requests_per_s"] for r in rs if (r["connections"] == 16, r["connections"]) == rank]
    print("%s=%.0f" % (name, statistics.median(chosen)))
EOF
)
        "$micro_binary" --now "$now" --min-time 2 --json "$micro_file" "${micro_args[@]}"
    else
        echo "== evaluate_bench not built (build it with -DCDS_BUILD_BENCH=ON); in-process figures skipped"
    fi
fi

python3 "$here/report.py" --runs "$runs" --micro "$micro_file" --soak "$soak_file" \
    --binary "$binary" --duration "$duration_s" --load-start "$load_start" --load-end "$load_end" \
    --peak-hwm "$peak_hwm_all" --threads "$threads" --log-level "$log_level" --io-model "$io_model" --fhir-fallback "$fhir_file" \
    --stage-floors "$stage_file" \
    --malloc-tunables "$( ((malloc_tunables)) && echo "$serve_malloc_tunables" || echo "glibc defaults")" \
    --out "$out/results.json"
