# The FHIR-fallback stage of tests/bench/run.sh (sourced by it; uses its variables and functions:
# repo, here, out, work, now, threads, log_level, duration_s, nginx_bin, free_port,
# exec_service, run_wrk, proc_kib; sets fallback_pid, strace_pid, fhir_state so that run.sh's trap
# stops them).
#
# Issue 6's target: "FHIR-fallback path against a loopback FHIR server: parallel queries,
# p99 <= 50 ms". The EHR sends no prefetch, only fhirServer + fhirAuthorization, and the service
# must query the FHIR server for each prefetch key before it can answer.
#
#  1. the loopback FHIR server of the integration tests (tests/fhir_server/start.sh: Medplum's
#     FHIR router and in-memory repository on Node.js 20), seeded with the order-sign-50 patient
#     (requests/fhir-seed/: Patient, 50 Observations, 20 MedicationRequests);
#  2. a second `magnesium-cds serve` with --fhir-allow for that server (and for the replay below);
#  3. check: the prefetched order-sign-50 and its fetch-only twin give the same cards; the FHIR
#     server's log gives the queries of one call and whether they carried the token;
#  4. the FHIR server's own latency for each of those queries, alone and one after the other;
#  5. one call's query timeline under strace (sent / answered per query, in flight at once);
#  6. wrk at --fhir-connections on the fetch-only twin (the service's default 2000 ms fetch
#     deadline), with the service's answer statuses per run and the FHIR queries per call;
#  7. the same wrk runs against a replay of the FHIR server's answers by nginx (the recorded
#     bodies, served as static files): the fallback path with a FHIR server at the machine's
#     floor, so the service's own share of the latency is visible.
# Writes $out/fhir_fallback.json (fhir_fallback.py summarise) for report.py.

fhir_skip() {
    echo "== FHIR-fallback stage skipped: $1"
    python3 "$here/fhir_fallback.py" summarise --out "$fhir_file" --set skipped "$(python3 -c 'import json,sys; print(json.dumps(sys.argv[1]))' "$1")"
}

# fallback_call BODY URL OUT -> prints the HTTP status; the response body in OUT
fallback_call() {
    curl -s -o "$3" -w '%{http_code}' -X POST -H 'Content-Type: application/json' --data-binary "@$1" "$2"
}

# The service's answers by status since the log was last emptied (log level info: one line per
# request ending in "STATUS N.NNNms").
fallback_statuses() {
    python3 - "$1" <<'EOF'
import collections, json, re, sys
counts = collections.Counter()
for line in open(sys.argv[1], encoding="utf-8", errors="replace"):
    m = re.search(r"POST \S+ (\d{3}) [\d.]+ms", line)
    if m:
        counts[m.group(1)] += 1
print(json.dumps(dict(sorted(counts.items()))))
EOF
}

# Wait (at most 60 s) until the FHIR server has worked off what the last run left queued: its
# request log stops growing for 2 s.
fhir_drain() {
    local log="$fhir_state/requests.log" before after
    for _ in $(seq 30); do
        before="$(stat -c %s "$log" 2>/dev/null || echo 0)"
        sleep 2
        after="$(stat -c %s "$log" 2>/dev/null || echo 0)"
        [[ $before == "$after" ]] && return 0
    done
}

run_fhir_fallback_stage() {
    local ff="$work/fhir-fallback" server_dir="$repo/tests/fhir_server" fhir_load_start
    mkdir -p "$ff"
    fhir_load_start="$(cut -d' ' -f1-3 /proc/loadavg)"
    echo "== FHIR-fallback stage: order-sign-50 with no prefetch, fetched from the loopback FHIR server (load $fhir_load_start)"
    command -v node >/dev/null || { fhir_skip "node (Node.js 20) is not installed"; return 0; }
    if [[ ! -d $server_dir/node_modules/@medplum/fhir-router ]]; then
        echo "   npm ci in tests/fhir_server (from its lockfile)"
        if ! (cd "$server_dir" && npm ci --no-audit --no-fund --loglevel=error); then
            fhir_skip "npm ci in tests/fhir_server failed"
            return 0
        fi
    fi
    fhir_state="$ff/fhir_server_state"
    if ! "$server_dir/start.sh" "$fhir_state" "$out/requests/fhir-seed" >"$ff/start.out" 2>&1; then
        cat "$ff/start.out" >&2
        fhir_skip "the FHIR test server did not start"
        return 0
    fi
    local fhir_port token base replay_port
    fhir_port="$(cat "$fhir_state/port")"
    token="$(cat "$fhir_state/token")"
    base="http://127.0.0.1:$fhir_port/fhir"
    replay_port="$(free_port)"
    echo "   FHIR server $base (pid $(cat "$fhir_state/pid"), $(sed -n 's/.*"seeded":\([0-9]*\).*/\1/p' "$fhir_state/ready") resources)"

    # The fallback service: the same binary, fetching allowed from the FHIR server and the replay.
    local args=(serve --listen 127.0.0.1:0 --log-level "$log_level" --now "$now"
                --fhir-allow "$base" --fhir-allow "http://127.0.0.1:$replay_port/fhir")
    ((threads > 0)) && args+=(--threads "$threads")
    (exec_service "${args[@]}") >"$ff/service.out" 2>>"$ff/service.log" &
    fallback_pid=$!
    for _ in $(seq 100); do
        grep -q '^listening on' "$ff/service.out" 2>/dev/null && break
        kill -0 "$fallback_pid" 2>/dev/null || { cat "$ff/service.log" >&2; fhir_skip "the fallback service did not start"; return 0; }
        sleep 0.1
    done
    local service_base service_port url
    service_base="$(sed -n 's/^listening on //p' "$ff/service.out" | head -1)"
    service_port="${service_base##*:}"
    url="$service_base/cds-services/magnesium-order-sign"
    echo "   fallback service $service_base (pid $fallback_pid, --fhir-allow $base, fetch deadline 2000 ms (default))"

    # 3. Check: same cards; the queries of one call.
    local twin_src="$out/requests/order-sign-50.fetch.json" status
    python3 "$here/fhir_fallback.py" twin --in "$twin_src" --out "$ff/check.json" --fhir-server "$base/bench-check" --token "$token"
    status="$(fallback_call "$out/requests/order-sign-50.json" "$url" "$ff/prefetched.out")"
    [[ $status == 200 ]] || { head -c 400 "$ff/prefetched.out" >&2; fhir_skip "the prefetched order-sign-50 got HTTP $status"; return 0; }
    local t0 t1
    t0="$(date +%s%N)"
    status="$(fallback_call "$ff/check.json" "$url" "$ff/fetched.out")"
    t1="$(date +%s%N)"
    if [[ $status != 200 ]]; then
        head -c 600 "$ff/fetched.out" >&2; echo >&2
        fhir_skip "the fetch-only twin got HTTP $status"
        return 0
    fi
    python3 "$here/fhir_fallback.py" compare "$ff/prefetched.out" "$ff/fetched.out" >"$ff/compare.json" || true
    python3 "$here/fhir_fallback.py" log-count --log "$fhir_state/requests.log" --tag bench-check >"$ff/queries.json"
    python3 - "$ff/compare.json" "$ff/queries.json" "$(((t1 - t0) / 1000))" >"$ff/check-summary.json" <<'EOF'
import json, sys
c, q = json.load(open(sys.argv[1])), json.load(open(sys.argv[2]))
c.update(queries_per_call=q["queries"], authorization=q["authorization"], resources=q["resources"],
         first_call_ms=int(sys.argv[3]) / 1000.0)
print(json.dumps(c))
EOF
    python3 - "$ff/check-summary.json" <<'EOF'
import json, sys
c = json.load(open(sys.argv[1]))
print("   check: fetch-only twin -> 200, %d card(s), %s the prefetched request's (%s); %d FHIR queries "
      "(%s), Authorization %s; first call %.0f ms"
      % (c["cards_fetched"], "the same cards as" if c["same_cards"] else "NOT the same cards as",
         "; ".join(c["summaries"]), c["queries_per_call"], ", ".join(c["resources"]),
         "/".join(c["authorization"]), c["first_call_ms"]))
for d in c.get("first_differences", []):
    print("     " + d)
EOF

    # 4. The FHIR server's own latency per search (the same URLs, one at a time).
    python3 "$here/fhir_fallback.py" search-latency --port "$fhir_port" --log "$fhir_state/requests.log" \
        --tag bench-check --token "$token" --iterations 10 --out "$ff/search.json"

    # 7 (set-up). Record the FHIR server's answers for the replay.
    local replay_dir="$ff/replay"
    mkdir -p "$replay_dir/www"
    python3 - "$fhir_port" "$fhir_state/requests.log" "$replay_dir" "$token" <<'EOF'
import http.client, json, sys
port, log, out, token = int(sys.argv[1]), sys.argv[2], sys.argv[3], sys.argv[4]
urls = []
for line in open(log, encoding="utf-8"):
    u = json.loads(line)["url"]
    if "/bench-check/" in u and u not in urls:
        urls.append(u)
conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
entries = []
for i, u in enumerate(urls):
    conn.request("GET", u, headers={"Accept": "application/fhir+json", "Authorization": "Bearer " + token})
    r = conn.getresponse()
    body = r.read()
    name = "/q%d" % i
    with open(out + "/www" + name, "wb") as f:
        f.write(body)
    entries.append('        "%s" "%s";' % (u.replace("\\", "\\\\").replace('"', '\\"'), name))
with open(out + "/map.conf", "w") as f:
    f.write("\n".join(entries) + "\n")
EOF
    # Run as root, nginx's workers run as nobody: they must be able to reach and read the files.
    chmod 711 "$work" "$ff" "$replay_dir"
    chmod -R a+rX "$replay_dir/www"
    cat >"$replay_dir/nginx.conf" <<EOF
# Replay of the FHIR server's recorded answers for the bench-check call: a FHIR server at the
# machine's floor, so the fallback path's own cost shows.
worker_processes 1;
daemon off;
pid $replay_dir/nginx.pid;
error_log $replay_dir/error.log warn;
events { worker_connections 4096; }
http {
    access_log off;
    client_body_temp_path $replay_dir/body;
    proxy_temp_path $replay_dir/proxy;
    fastcgi_temp_path $replay_dir/fastcgi;
    uwsgi_temp_path $replay_dir/uwsgi;
    scgi_temp_path $replay_dir/scgi;
    keepalive_requests 100000000;
    keepalive_timeout 60s;
    types { }
    default_type application/fhir+json;
    map_hash_bucket_size 2048;  # the keys are whole request URIs, up to ~1 KB
    map \$request_uri \$replay_file {
        default "";
$(cat "$replay_dir/map.conf")
    }
    server {
        listen 127.0.0.1:$replay_port;
        root $replay_dir/www;
        location / {
            if (\$replay_file = "") { return 404; }
            rewrite ^ \$replay_file break;
        }
    }
}
EOF
    local replay_pid=""
    "$nginx_bin" -p "$replay_dir" -e "$replay_dir/error.log" -c "$replay_dir/nginx.conf" &
    replay_pid=$!
    nginx_pid="$replay_pid"  # run.sh's trap stops it
    local replay_ok=0
    python3 "$here/fhir_fallback.py" twin --in "$twin_src" --out "$ff/replay.json" \
        --fhir-server "http://127.0.0.1:$replay_port/fhir/bench-check" --token "$token"
    for _ in $(seq 50); do
        curl -s -o /dev/null "http://127.0.0.1:$replay_port/" && break
        sleep 0.1
    done
    status="$(fallback_call "$ff/replay.json" "$url" "$ff/replayed.out")"
    if [[ $status == 200 ]] && python3 "$here/fhir_fallback.py" compare "$ff/prefetched.out" "$ff/replayed.out" >/dev/null; then
        replay_ok=1
        echo "   replay: nginx on 127.0.0.1:$replay_port serves the $(wc -l <"$replay_dir/map.conf") recorded answers; fetch-only twin against it -> 200, same cards"
    else
        echo "   replay: the fetch-only twin against the replay got HTTP $status$([[ $status == 200 ]] && echo ' but other cards'); replay runs skipped:"
        head -c 400 "$ff/replayed.out"; echo
        tail -3 "$replay_dir/error.log" 2>/dev/null || true
    fi

    # 5. One call's query timeline (strace slows every syscall: the shape, not the speed).
    if command -v strace >/dev/null; then
        python3 "$here/fhir_fallback.py" twin --in "$twin_src" --out "$ff/trace.json" --fhir-server "$base/bench-trace" --token "$token"
        strace -f -tt -yy -e trace=connect,read,readv,write,writev,sendmsg,sendto,recvmsg,recvfrom \
            -p "$fallback_pid" -o "$ff/strace.txt" 2>/dev/null &
        strace_pid=$!
        sleep 1
        fallback_call "$ff/trace.json" "$url" "$ff/traced.out" >/dev/null
        sleep 0.3
        kill "$strace_pid" 2>/dev/null || true
        wait "$strace_pid" 2>/dev/null || true
        strace_pid=""
        python3 "$here/fhir_fallback.py" timeline --strace "$ff/strace.txt" --fhir-port "$fhir_port" \
            --service-port "$service_port" --out "$ff/timeline.json"
    else
        echo '{"measured": false, "reason": "strace is not installed"}' >"$ff/timeline.json"
        echo "   timeline: strace is not installed (Debian package strace); skipped"
    fi

    # 6, 7. wrk against the fallback service: loopback FHIR server, then the replay.
    : >"$ff/runs.jsonl"
    local c sources="medplum"
    ((replay_ok)) && sources="medplum replay"
    for source in $sources; do
        for c in $fhir_connections; do
            local body="$ff/wrk-$source-c$c.json" tag="bench-wrk-c$c"
            if [[ $source == medplum ]]; then
                python3 "$here/fhir_fallback.py" twin --in "$twin_src" --out "$body" --fhir-server "$base/$tag" --token "$token"
            else
                cp "$ff/replay.json" "$body"
            fi
            fhir_drain  # the FHIR server works off what an earlier run left queued
            : >"$ff/service.log"
            run_wrk_dest="$ff/runs.jsonl" run_wrk fhir-fallback "$url" "$body" "$c" "$duration_s" "order-sign-50-fetch-$source"
            local statuses queries=0
            statuses="$(fallback_statuses "$ff/service.log")"
            [[ $source == medplum ]] && queries="$(grep -c "/$tag/" "$fhir_state/requests.log" || true)"
            python3 - "$ff/runs.jsonl" "$source" "$statuses" "$queries" <<'EOF'
import json, sys
path = sys.argv[1]
lines = open(path, encoding="utf-8").read().splitlines()
last = json.loads(lines[-1])
last.update(fhir_source=sys.argv[2], service_statuses=json.loads(sys.argv[3]),
            fhir_queries_received=int(sys.argv[4]) if sys.argv[2] == "medplum" else None)
lines[-1] = json.dumps(last)
open(path, "w", encoding="utf-8").write("\n".join(lines) + "\n")
print("      %s c=%d: p50 %.1f ms, p99 %.1f ms, service answers %s%s" % (
    sys.argv[2], last["connections"], last["latency_us"]["p50"] / 1000, last["latency_us"]["p99"] / 1000,
    last["service_statuses"], ", FHIR server received %d queries" % last["fhir_queries_received"]
    if last["fhir_queries_received"] is not None else ""))
EOF
        done
    done

    "$server_dir/stop.sh" "$fhir_state" >/dev/null 2>&1 || true
    # shellcheck disable=SC2086  # empty pids drop out
    stop_processes $replay_pid $fallback_pid
    fallback_pid="" nginx_pid=""

    python3 "$here/fhir_fallback.py" summarise --out "$fhir_file" --runs "$ff/runs.jsonl" \
        --part check="$ff/check-summary.json" --part fhir_server_search="$ff/search.json" \
        --part timeline="$ff/timeline.json" \
        --set fhir_server "$(python3 -c 'import json,sys; print(json.dumps(sys.argv[1]))' \
              "tests/fhir_server/server.mjs (Medplum @medplum/fhir-router 4.5.2, in-memory repository, Node.js $(node --version)), one process, with --state-dir (a log line per request)")" \
        --set fetch_deadline_ms 2000 \
        --set loadavg_start "\"$fhir_load_start\"" --set loadavg_end "\"$(cut -d' ' -f1-3 /proc/loadavg)\"" \
        --set replay "$(python3 -c 'import json,sys; print(json.dumps(sys.argv[1]))' \
              "$( ((replay_ok)) && echo "nginx, 1 worker, serving the recorded answers of the check call as static files" || echo "not run")")"
}
