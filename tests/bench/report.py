#!/usr/bin/env python3
"""Turns the benchmark's raw results (run.sh) into the table, the targets and
results.json. Python 3 standard library only."""

import argparse
import datetime as dt
import json
import os
import platform
import statistics
import sys


def cpu_model():
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def load_json(path):
    if path and os.path.exists(path) and os.path.getsize(path) > 0:
        with open(path, encoding="utf-8") as f:
            return json.load(f)
    return None


def ms(us):
    return us / 1000.0


def cpu_us_per_request(run):
    """The process's CPU time (user + system) over a wrk run, per request, in µs; None when
    the run did not record it (older runs.jsonl) or answered nothing."""
    if "cpu_user_s" not in run or not run["requests"]:
        return None
    return (run["cpu_user_s"] + run["cpu_system_s"]) * 1e6 / run["requests"]


def cpu_system_share(run):
    """The share of that CPU time spent in the kernel (system calls, the network stack)."""
    total = run.get("cpu_user_s", 0) + run.get("cpu_system_s", 0)
    return run["cpu_system_s"] / total if total else None


def median_of(values):
    values = [v for v in values if v is not None]
    return statistics.median(values) if values else None


def cell_row(request, conns, pairs):
    """One row of the table from the (service run, floor run) pairs of a cell."""
    ratios = [r["requests_per_s"] / f["requests_per_s"] for r, f in pairs if f and f["requests_per_s"]]
    floor_runs = [f for _, f in pairs if f]
    return {
        "request": request,
        "connections": conns,
        "repeats": len(pairs),
        "floor_rps": median_of([f["requests_per_s"] for f in floor_runs]),
        "service_rps": median_of([r["requests_per_s"] for r, _ in pairs]),
        "ratio": median_of(ratios),
        "ratio_min": min(ratios) if ratios else None,
        "ratio_max": max(ratios) if ratios else None,
        "floor_p50_ms": median_of([ms(f["latency_us"]["p50"]) for f in floor_runs]),
        "floor_p99_ms": median_of([ms(f["latency_us"]["p99"]) for f in floor_runs]),
        # Each repeat's (service p99, nginx p99), as measured back to back.
        "p99_pairs_ms": [(ms(r["latency_us"]["p99"]), ms(f["latency_us"]["p99"])) for r, f in pairs if f],
        "service_p50_ms": median_of([ms(r["latency_us"]["p50"]) for r, _ in pairs]),
        "service_p99_ms": median_of([ms(r["latency_us"]["p99"]) for r, _ in pairs]),
        "service_errors": sum(sum(r["errors"].values()) for r, _ in pairs),
        "floor_errors": sum(sum(f["errors"].values()) for f in floor_runs) if floor_runs else None,
        "service_vmhwm_mib": max(r["vmhwm_kib"] for r, _ in pairs) / 1024.0,
        # CPU time the service used per answered request (user + system, all threads):
        # unlike requests/s, it depends little on how much of the machine wrk took.
        "service_cpu_us_per_request": median_of([cpu_us_per_request(r) for r, _ in pairs]),
        "service_cpu_system_share": median_of([cpu_system_share(r) for r, _ in pairs]),
    }


STAGES = ("received", "tokenized", "read", "full")


def stage_floor_rows(path):
    """The stage-floors table (run.sh --stage-floors): per request and stage, the medians over
    the repeats, and each repeat's ratio to the floor run just before it."""
    if not path or not os.path.exists(path):
        return []
    with open(path, encoding="utf-8") as f:
        lines = [json.loads(line) for line in f if line.strip()]
    floors = {(r["request"], r.get("repeat", 1)): r for r in lines if r.get("stage") == "floor"}

    def row(request, stage, runs, ratios, cpu):
        return {"request": request, "stage": stage, "connections": runs[0]["connections"],
                "rps": median_of([r["requests_per_s"] for r in runs]),
                "ratio_min": min(ratios) if ratios else None,
                "ratio_max": max(ratios) if ratios else None,
                "cpu_us_per_request": cpu,
                "p99_ms_min": min(ms(r["latency_us"]["p99"]) for r in runs),
                "p99_ms_max": max(ms(r["latency_us"]["p99"]) for r in runs),
                "errors": sum(sum(r["errors"].values()) for r in runs)}

    rows = []
    for request in dict.fromkeys(r["request"] for r in lines):
        floor_runs = [r for (name, _), r in floors.items() if name == request]
        if floor_runs:
            rows.append(row(request, "nginx", floor_runs, [], None))
        for stage in STAGES:
            runs = [r for r in lines if r["request"] == request and r.get("stage") == stage]
            if not runs:
                continue
            # Each run against the floor run of its own repeat (measured just before it).
            floor_of = [floors.get((request, r.get("repeat", 1))) for r in runs]
            ratios = [r["requests_per_s"] / f["requests_per_s"]
                      for r, f in zip(runs, floor_of) if f and f["requests_per_s"]]
            rows.append(row(request, stage, runs, ratios,
                            median_of([cpu_us_per_request(r) for r in runs])))
    return rows


def print_stage_floors(rows):
    print()
    print("stage floors: the same server answering {\"cards\":[]} right after a stage (medians;"
          " ratio and p99: the range over the repeats)")
    header = "%-15s %5s %-10s %11s %15s %12s %17s %6s" % (
        "request", "conns", "stage", "rps", "% of floor", "CPU/req", "p99", "errors")
    print(header)
    print("-" * len(header))
    for row in rows:
        ratio = ("%.1f-%.1f%%" % (100 * row["ratio_min"], 100 * row["ratio_max"])
                 if row["ratio_min"] is not None else "")
        cpu = "%.0fus" % row["cpu_us_per_request"] if row["cpu_us_per_request"] is not None else ""
        print("%-15s %5d %-10s %11.0f %15s %12s %17s %6d" % (
            row["request"], row["connections"], row["stage"], row["rps"], ratio, cpu,
            "%.2f-%.2fms" % (row["p99_ms_min"], row["p99_ms_max"]), row["errors"]))


def main(argv):
    p = argparse.ArgumentParser()
    p.add_argument("--runs", required=True)
    p.add_argument("--micro")
    p.add_argument("--soak")
    p.add_argument("--binary", default="")
    p.add_argument("--duration", type=int, default=0)
    p.add_argument("--load-start", default="")
    p.add_argument("--load-end", default="")
    p.add_argument("--peak-hwm", type=int, default=0)
    p.add_argument("--threads", type=int, default=0)
    p.add_argument("--log-level", default="info")
    p.add_argument("--io-model", default="per-thread")
    p.add_argument("--malloc-tunables", default="glibc defaults")
    p.add_argument("--fhir-fallback", help="fhir_fallback.json of the FHIR-fallback stage")
    p.add_argument("--stage-floors", help="stage_floors.jsonl of the stage-floors stage")
    p.add_argument("--out", required=True)
    a = p.parse_args(argv)

    runs = []
    with open(a.runs, encoding="utf-8") as f:
        runs = [json.loads(line) for line in f if line.strip()]
    micro = load_json(a.micro)
    soak = load_json(a.soak)
    fallback = load_json(a.fhir_fallback)

    machine = {
        "nproc": os.cpu_count(),
        "cpu": cpu_model(),
        "kernel": platform.release(),
        "date": dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "loadavg_start": a.load_start,
        "loadavg_end": a.load_end,
    }

    # Pair each service run with the floor run of the same request, connection count and
    # repetition (run.sh --repeat runs them back to back). A cell measured more than once
    # shows the median of each figure over its pairs, the highest peak RSS, and the spread of
    # the ratio.
    floors = {(r["request"], r["connections"], r.get("repeat", 1)): r for r in runs if r["target"] == "nginx"}
    cells = {}
    for r in runs:
        if r["target"] == "service":
            cells.setdefault((r["request"], r["connections"]), []).append(
                (r, floors.get((r["request"], r["connections"], r.get("repeat", 1)))))
    rows = [cell_row(request, conns, pairs) for (request, conns), pairs in cells.items()]

    print()
    print("magnesium-cds vs nginx floor - %s, %d CPUs (%s), load %s -> %s, %ds per run, service threads %s, io model %s, log level %s, malloc %s"
          % (machine["date"], machine["nproc"], machine["cpu"], a.load_start, a.load_end, a.duration,
             a.threads or "default", a.io_model, a.log_level, a.malloc_tunables))
    repeated = any(row["repeats"] > 1 for row in rows)
    if repeated:
        print("(each cell: the median of %d pairs of runs; \"ratio range\": the lowest and highest ratio of a pair)"
              % max(row["repeats"] for row in rows))
    header = "%-15s %5s %11s %11s %7s %9s %9s %9s %9s %6s %9s %12s" % (
        "request", "conns", "floor rps", "service rps", "ratio", "floor p50", "floor p99", "svc p50", "svc p99",
        "errors", "peak RSS", "svc CPU/req") + (" %13s" % "ratio range" if repeated else "")
    print(header)
    print("-" * len(header))
    for row in rows:
        cpu = row["service_cpu_us_per_request"]
        spread = ""
        if repeated:
            spread = " %13s" % ("%.1f-%.1f%%" % (100 * row["ratio_min"], 100 * row["ratio_max"])
                                if row["ratio_min"] is not None else "-")
        print("%-15s %5d %11.0f %11.0f %6.1f%% %7.3fms %7.3fms %7.3fms %7.3fms %6d %6.1fMiB %12s" % (
            row["request"], row["connections"], row["floor_rps"] or 0, row["service_rps"],
            100.0 * (row["ratio"] or 0), row["floor_p50_ms"] or 0, row["floor_p99_ms"] or 0,
            row["service_p50_ms"], row["service_p99_ms"], row["service_errors"], row["service_vmhwm_mib"],
            "%.0fus" % cpu if cpu is not None else "-") + spread)
    if any(r["service_errors"] for r in rows):
        print("WARNING: the service had errors (non-2xx, timeouts or socket errors); see runs.jsonl")

    def row_of(request, conns):
        for row in rows:
            if row["request"] == request and row["connections"] == conns:
                return row
        return None

    micro_growth = None
    if micro:
        print()
        print("in-process (evaluate_bench, median per request)")
        print("%-15s %8s %10s %10s %10s %10s %10s %13s" % ("request", "bytes", "parse", "schema", "snapshot",
                                                             "evaluate", "serialize", "service path"))
        for r in micro["requests"]:
            s = r["stages"]
            print("%-15s %8d %8.1fus %8.1fus %8.1fus %8.1fus %8.1fus %11.1fus" % (
                r["name"], r["body_bytes"], s["parse"]["median_ns"] / 1e3, s["schema"]["median_ns"] / 1e3,
                s["snapshot"]["median_ns"] / 1e3, s["evaluate"]["median_ns"] / 1e3,
                s["serialize"]["median_ns"] / 1e3, s["service_path"]["median_ns"] / 1e3))
        g = micro.get("growth") or {}
        if g.get("ratio_median"):
            micro_growth = g["ratio_median"].get("service_path")
            print("growth %s / %s: %s" % (g["big"], g["small"], ", ".join(
                "%s x%.2f" % (k, v) for k, v in g["ratio_median"].items())))

    ceiling = (micro or {}).get("parse_ceiling")
    if ceiling:
        print()
        print("parse ceiling (evaluate_bench: the raw Boost.JSON parse alone, the service's arena; the service's "
              "tokenizer alone; %d cores)" % ceiling["cores"])
        print("%-15s %8s %10s %8s %10s %8s %10s %15s %12s %10s %15s" % (
            "request", "bytes", "parse", "MB/s", "tokenize", "MB/s", "memcpy", "parse-only rps", "floor rps",
            "ceil/floor", "parse/budget@40%"))
        for c in ceiling["requests"]:
            floor_row = row_of(c["name"], 16)
            floor = c.get("floor_rps") or (floor_row or {}).get("floor_rps")
            budget_share = c.get("parse_share_of_budget_at_40pct_floor")
            if budget_share is None and floor:
                budget_share = c["parse_median_ns"] / (ceiling["cores"] * 1e9 / (0.4 * floor))
            tokenize_ns = c.get("tokenize_median_ns")
            print("%-15s %8d %8.1fus %8.0f %10s %8s %8.2fus %15.0f %12s %10s %15s" % (
                c["name"], c["body_bytes"], c["parse_median_ns"] / 1e3, c["parse_mb_per_s"],
                "%.1fus" % (tokenize_ns / 1e3) if tokenize_ns else "-",
                "%.0f" % c["tokenize_mb_per_s"] if tokenize_ns else "-",
                c["memcpy_median_ns"] / 1e3, c["parse_only_rps"], "%.0f" % floor if floor else "-",
                "%.2fx" % (c["parse_only_rps"] / floor) if floor else "-",
                "%.0f%%" % (100 * budget_share) if budget_share is not None else "-"))
        print("(parse-only rps: cores / parse time, if the service did nothing but parse and had the cores to itself; "
              "parse/budget@40%: the share of the CPU time per request that 40% of the floor leaves, taken by parsing "
              "alone)")

    fallback_rows = []
    if fallback and not fallback.get("skipped"):
        print()
        print("FHIR fallback: order-sign-50 with no prefetch, the service fetches from the FHIR server")
        print("  FHIR server: %s; service fetch deadline %s ms; load %s -> %s" % (
            fallback.get("fhir_server"), fallback.get("fetch_deadline_ms"), fallback.get("loadavg_start"),
            fallback.get("loadavg_end")))
        c = fallback.get("check") or {}
        if c:
            print("  check: %s; %d card(s); %d FHIR queries per call (%s); Authorization %s; first call %.0f ms" % (
                "same cards as the prefetched request" if c.get("same_cards") else "NOT the same cards as the prefetched request",
                c.get("cards_fetched", 0), c.get("queries_per_call", 0), ", ".join(c.get("resources", [])),
                "/".join(c.get("authorization", [])), c.get("first_call_ms", 0)))
        srch = fallback.get("fhir_server_search") or {}
        if srch.get("queries"):
            print("  FHIR server alone (one query at a time, keep-alive, median of %d): slowest %.1f ms (%s), "
                  "fastest %.1f ms, all %d one after the other %.1f ms" % (
                      srch["iterations"], srch["slowest"]["median_ms"], srch["slowest"]["query"],
                      min(q["median_ms"] for q in srch["queries"]), len(srch["queries"]), srch["sum_of_medians_ms"]))
        tl = fallback.get("timeline") or {}
        if tl.get("measured"):
            print("  one call's timeline (under strace): %d queries on %d connections (%d new, %d resent after a closed "
                  "pooled connection), up to %d in flight, all sent within %.1f ms, last answer %.1f ms after the call "
                  "arrived" % (tl["queries"], tl["connections_used"], tl["new_connections"],
                               tl.get("unanswered_then_resent", 0), tl["max_in_flight"], tl["all_sent_within_ms"],
                               tl["last_answer_ms"]))
        elif tl:
            print("  one call's timeline: not measured (%s)" % tl.get("reason"))
        header = "  %-8s %5s %9s %9s %9s %7s %-22s %11s %9s" % (
            "FHIR", "conns", "req/s", "p50", "p99", "errors", "service answers", "FHIR q/call", "peak RSS")
        print(header)
        print("  " + "-" * (len(header) - 2))
        for r in fallback.get("runs") or []:
            errors = sum(r["errors"].values())
            # The FHIR server's log lines of the run over the calls the service answered (wrk does
            # not count a call still in flight when it stops). Under overload the server logs a
            # query only when it gets to it, so this undercounts what the service sent.
            per_call = None
            answered = sum((r.get("service_statuses") or {}).values())
            if r.get("fhir_queries_received") is not None and answered:
                per_call = r["fhir_queries_received"] / answered
            row = {"fhir_source": r.get("fhir_source"), "connections": r["connections"],
                   "requests": r["requests"], "rps": r["requests_per_s"],
                   "p50_ms": ms(r["latency_us"]["p50"]), "p99_ms": ms(r["latency_us"]["p99"]),
                   "max_ms": ms(r["latency_us"]["max"]), "errors": errors,
                   "service_statuses": r.get("service_statuses"), "fhir_queries_per_call": per_call,
                   "service_vmhwm_mib": r["vmhwm_kib"] / 1024.0}
            fallback_rows.append(row)
            print("  %-8s %5d %9.1f %7.1fms %7.1fms %7d %-22s %11s %6.1fMiB" % (
                row["fhir_source"], row["connections"], row["rps"], row["p50_ms"], row["p99_ms"], errors,
                ",".join("%s:%d" % kv for kv in (row["service_statuses"] or {}).items()) or "-",
                "%.1f" % per_call if per_call is not None else "-", row["service_vmhwm_mib"]))
        print("  (medplum: the loopback FHIR test server; replay: nginx serving that server's recorded answers,"
              " i.e. the fallback path with a FHIR server at the machine's floor)")
        fallback["http"] = fallback_rows
    elif fallback:
        print()
        print("FHIR fallback: skipped (%s)" % fallback["skipped"])

    # Targets, side by side with what was measured.
    targets = []

    def target(name, goal, measured, met, verdict=None):
        targets.append({"target": name, "goal": goal, "measured": measured, "met": met, "verdict": verdict})

    def p99_target(name, goal_ms, row):
        """A p99 goal, beside nginx's own p99 on the same bytes in the same cell. A miss is
        marked "(nginx too)" when, in every repeat where the service missed the goal, nginx
        run just before it missed it as well: then this machine could not show the goal met."""
        goal = "<= %g ms" % goal_ms
        measured = "%.3f ms" % row["service_p99_ms"]
        met = row["service_p99_ms"] <= goal_ms
        pairs = row.get("p99_pairs_ms") or []
        if not pairs:
            target(name, goal, measured, met)
            return
        worst_floor = max(floor for _, floor in pairs)
        measured += " (nginx %.3f, worst %.3f ms)" % (row["floor_p99_ms"], worst_floor)
        missed = [(service, floor) for service, floor in pairs if service > goal_ms]
        nginx_too = not met and missed and all(floor > goal_ms for _, floor in missed)
        target(name, goal, measured, met, "MISSED (nginx too)" if nginx_too else None)

    r = row_of("order-sign-50", 16)
    if r and r["ratio"] is not None:
        target("order-sign-50 throughput vs floor, 16 conns", ">= 40%", "%.1f%%" % (100 * r["ratio"]), r["ratio"] >= 0.40)
    r = row_of("order-sign-50", 1)
    if r:
        target("order-sign-50 p99, 1 conn", "<= 0.5 ms", "%.3f ms" % r["service_p99_ms"], r["service_p99_ms"] <= 0.5)
    r = row_of("patient-view-1", 16)
    if r:
        target("patient-view throughput, 16 conns", ">= 30000 req/s", "%.0f req/s" % r["service_rps"],
               r["service_rps"] >= 30000)
        p99_target("patient-view p99, 16 conns", 2.0, r)
    if micro_growth is not None:
        target("500-obs cost / 50-obs cost (in-process service path)", "<= 12x", "%.2fx" % micro_growth,
               micro_growth <= 12)
    big, small = row_of("order-sign-500", 1), row_of("order-sign-50", 1)
    if big and small:
        ratio = big["service_p50_ms"] / max(small["service_p50_ms"], 1e-6)
        target("500-obs / 50-obs p50 latency over HTTP, 1 conn", "<= 12x", "%.2fx" % ratio, ratio <= 12)
    hwm64 = [row["service_vmhwm_mib"] for row in rows if row["connections"] == 64]
    if hwm64:
        peak = max(hwm64)
        target("peak RSS (VmHWM) at 64 conns", "<= 64 MiB", "%.1f MiB" % peak, peak <= 64)
    # The one-pass request reader's targets (tests/bench/README.md, "Results").
    r = row_of("order-sign-50", 16)
    if r and r["ratio"] is not None:
        target("one-pass: order-sign-50 throughput vs floor, 16 conns", ">= 25%", "%.1f%%" % (100 * r["ratio"]),
               r["ratio"] >= 0.25)
        p99_target("one-pass: order-sign-50 p99, 16 conns", 2.0, r)
    r = row_of("order-sign-500", 16)
    if r and r["ratio"] is not None:
        target("one-pass: order-sign-500 throughput vs floor, 16 conns", ">= 15%", "%.1f%%" % (100 * r["ratio"]),
               r["ratio"] >= 0.15)
    if micro_growth is not None:
        target("one-pass: 500-obs cost / 50-obs cost (in-process)", "<= 10x", "%.2fx" % micro_growth,
               micro_growth <= 10)
    if hwm64:
        target("one-pass: peak RSS (VmHWM) at 64 conns", "<= 32 MiB", "%.1f MiB" % peak, peak <= 32)
    if soak:
        start = soak["rss_after_first_5s_kib"] or soak["rss_start_kib"]
        end = soak["rss_end_kib"]
        growth = (end - start) / 1024.0
        target("RSS over a %ds soak at 64 conns (after the first 5 s -> end)" % soak["seconds"], "flat",
               "%.1f -> %.1f MiB (%+.1f MiB), peak %.1f MiB" % (start / 1024.0, end / 1024.0, growth,
                                                                soak["vmhwm_kib"] / 1024.0),
               abs(growth) <= max(2.0, 0.05 * start / 1024.0))
    if fallback_rows:
        for row in fallback_rows:
            answers = ",".join("%s:%d" % kv for kv in (row["service_statuses"] or {}).items())
            label = "loopback FHIR server" if row["fhir_source"] == "medplum" else "replayed FHIR answers (nginx)"
            ok = row["p99_ms"] <= 50 and row["errors"] == 0
            target("FHIR-fallback p99, %s, %d conn%s" % (label, row["connections"], "" if row["connections"] == 1 else "s"),
                   "<= 50 ms", "%.1f ms (%d calls, answers %s)" % (row["p99_ms"], row["requests"], answers or "?"), ok)
        tl = fallback.get("timeline") or {}
        if tl.get("measured"):
            target("FHIR-fallback queries run in parallel", "parallel",
                   "%d of %d in flight at once" % (tl["max_in_flight"], tl["queries"]), tl["max_in_flight"] > 1)
    else:
        target("FHIR-fallback p99 against a loopback FHIR server", "<= 50 ms",
               "not measured (%s)" % (fallback or {}).get("skipped", "stage not run"), None)

    stage_rows = stage_floor_rows(a.stage_floors)
    if stage_rows:
        print_stage_floors(stage_rows)

    print()
    print("targets")
    for t in targets:
        verdict = t["verdict"] or ("n/a" if t["met"] is None else ("met" if t["met"] else "MISSED"))
        print("  %-62s goal %-16s measured %-40s %s" % (t["target"], t["goal"], t["measured"], verdict))

    result = {
        "machine": machine,
        "binary": a.binary,
        "seconds_per_run": a.duration,
        "service_threads": a.threads or "default (hardware concurrency)",
        "service_log_level": a.log_level,
        "service_io_model": a.io_model,
        "service_malloc_tunables": a.malloc_tunables,
        "service_peak_vmhwm_kib": a.peak_hwm,
        "http": rows,
        "raw_runs": runs,
        "in_process": micro,
        "soak": soak,
        "fhir_fallback": fallback,
        "stage_floors": stage_rows,
        "targets": targets,
        "note": "2 shared cores: wrk, nginx and the service compete for them, and other work on the machine "
                "adds noise; compare service and floor from the same run, and re-run when the load is low.",
    }
    with open(a.out, "w", encoding="utf-8") as f:
        json.dump(result, f, indent=2)
    print()
    print("results: %s" % a.out)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
