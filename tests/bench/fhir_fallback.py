#!/usr/bin/env python3
"""Helpers of the benchmark's FHIR-fallback stage (run.sh): the service answers a CDS Hooks call
that carries no prefetch by querying the request's fhirServer, here the loopback FHIR test
server of the integration tests (tests/fhir_server/server.mjs, Medplum's in-memory router).

  twin        --in FETCH.json --out FILE --fhir-server URL --token TOKEN
              the fetch-only twin with the running server's base and token
  compare     PREFETCHED_RESPONSE FETCHED_RESPONSE
              exit 0 when both give the same cards (uuids aside), else print the difference
  log-count   --log requests.log --tag TAG
              the FHIR server's log lines of one call (fhirServer path carries /TAG/):
              queries, whether each carried the expected token
  search-latency --port N --log requests.log --tag TAG [--iterations 20] --out FILE
              times each query of one call alone, one after the other, on one keep-alive
              connection (python http.client): the FHIR server's own latency per search
  timeline    --strace FILE --fhir-port N --service-port N --out FILE
              one call's query timeline from `strace -f -tt -yy` of the service: when each
              FHIR query was sent and answered, how many were in flight at once, connects
  summarise   --out FILE [--part NAME=FILE ...] [--runs FILE]
              merges the pieces into fhir_fallback.json for report.py

Python 3 standard library only.
"""

import argparse
import http.client
import json
import re
import statistics
import sys
import time
import urllib.parse

UUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")


def load(path):
    with open(path, encoding="utf-8") as f:
        return json.load(f)


def cmd_twin(a):
    body = load(a.input)
    body["fhirServer"] = a.fhir_server
    body["fhirAuthorization"]["access_token"] = a.token
    with open(a.out, "w", encoding="utf-8") as f:
        f.write(json.dumps(body, separators=(",", ":"), ensure_ascii=False))
    return 0


def cmd_compare(a):
    texts = []
    for path in (a.prefetched, a.fetched):
        with open(path, encoding="utf-8") as f:
            texts.append(f.read())
    cards = [json.loads(UUID.sub("UUID", t)).get("cards") for t in texts]
    result = {"same_cards": cards[0] == cards[1], "cards_prefetched": len(cards[0] or []),
              "cards_fetched": len(cards[1] or []),
              "summaries": [c.get("summary") for c in (cards[1] or [])]}
    if not result["same_cards"]:
        a_text = json.dumps(cards[0], indent=1, sort_keys=True).splitlines()
        b_text = json.dumps(cards[1], indent=1, sort_keys=True).splitlines()
        diff = [(i, x, y) for i, (x, y) in enumerate(zip(a_text, b_text)) if x != y][:5]
        result["first_differences"] = ["line %d: prefetched %s | fetched %s" % d for d in diff]
    print(json.dumps(result))
    return 0 if result["same_cards"] else 1


def tagged_lines(log, tag):
    out = []
    with open(log, encoding="utf-8") as f:
        for line in f:
            try:
                entry = json.loads(line)
            except ValueError:
                continue
            if "/%s/" % tag in entry.get("url", ""):
                out.append(entry)
    return out


def cmd_log_count(a):
    lines = tagged_lines(a.log, a.tag)
    paths = [urllib.parse.urlsplit(e["url"]).path.split("/%s/" % a.tag, 1)[-1].split("/")[0] for e in lines]
    print(json.dumps({"queries": len(lines), "authorization": sorted({e.get("authorization") for e in lines}),
                      "resources": paths}))
    return 0


def pct(values, p):
    values = sorted(values)
    if not values:
        return None
    k = (len(values) - 1) * p / 100.0
    lo, hi = int(k), min(int(k) + 1, len(values) - 1)
    return values[lo] + (values[hi] - values[lo]) * (k - lo)


def cmd_search_latency(a):
    urls = []
    for entry in tagged_lines(a.log, a.tag):
        if entry["url"] not in urls:
            urls.append(entry["url"])
    conn = http.client.HTTPConnection("127.0.0.1", a.port, timeout=60)
    headers = {"Accept": "application/fhir+json", "Authorization": "Bearer " + a.token}
    queries = []
    for url in urls:
        times = []
        size = 0
        status = None
        for i in range(a.iterations + 2):
            start = time.perf_counter()
            conn.request("GET", url, headers=headers)
            response = conn.getresponse()
            data = response.read()
            elapsed = (time.perf_counter() - start) * 1000.0
            status, size = response.status, len(data)
            if i >= 2:  # two unrecorded warm-up requests per query
                times.append(elapsed)
        path = urllib.parse.urlsplit(url)
        label = path.path.split("/%s/" % a.tag, 1)[-1]
        if path.query:
            params = urllib.parse.parse_qs(path.query)
            codes = params.get("code", [""])[0].split(",")
            label += " (%d code%s)" % (len(codes), "" if len(codes) == 1 else "s") if params.get("code") else ""
        queries.append({"query": label, "url": url, "status": status, "bytes": size,
                        "median_ms": statistics.median(times), "p90_ms": pct(times, 90),
                        "min_ms": min(times), "max_ms": max(times)})
    conn.close()
    total = sum(q["median_ms"] for q in queries)
    slowest = max(queries, key=lambda q: q["median_ms"]) if queries else None
    result = {"iterations": a.iterations, "client": "python http.client, one keep-alive connection, sequential",
              "queries": queries, "sum_of_medians_ms": total,
              "slowest": {"query": slowest["query"], "median_ms": slowest["median_ms"]} if slowest else None}
    with open(a.out, "w", encoding="utf-8") as f:
        json.dump(result, f, indent=2)
    for q in queries:
        print("   FHIR server alone: %8.2f ms median (min %.2f, max %.2f, %d B, HTTP %s)  %s" % (
            q["median_ms"], q["min_ms"], q["max_ms"], q["bytes"], q["status"], q["query"][:70]))
    print("   FHIR server alone: %8.2f ms for the %d queries one after the other (sum of medians)" % (
        total, len(queries)))
    return 0


# strace -f -tt -yy lines:
#   PID HH:MM:SS.ffffff syscall(FD<TCP:[LOCAL->PEER]>, ...) = RESULT
#   PID HH:MM:SS.ffffff syscall(FD<...>, ... <unfinished ...>
#   PID HH:MM:SS.ffffff <... syscall resumed>...) = RESULT
LINE = re.compile(r"^(\d+)\s+(\d+):(\d+):(\d+\.\d+)\s+(.*)$")
CALL = re.compile(r"^(\w+)\((\d+)<(TCP:\[[^\]]*\]|[^>]*)>")
RESUMED = re.compile(r"^<\.\.\. (\w+) resumed>")
RESULT = re.compile(r"=\s+(-?\d+)")
PEER = re.compile(r"TCP:\[([\d.]+):(\d+)->([\d.]+):(\d+)\]")
CONNECT_PORT = re.compile(r"sin_port=htons\((\d+)\)")
WRITES = {"write", "writev", "sendmsg", "sendto", "sendmmsg"}
READS = {"read", "readv", "recvmsg", "recvfrom", "recvmmsg"}


def cmd_timeline(a):
    events = []  # (t, kind, fd-key, bytes)
    pending = {}  # pid -> (t, name, fdinfo, text)
    connects = 0
    with open(a.strace, encoding="utf-8", errors="replace") as f:
        for raw in f:
            m = LINE.match(raw.rstrip("\n"))
            if not m:
                continue
            pid, hh, mm, ss, rest = m.groups()
            t = int(hh) * 3600 + int(mm) * 60 + float(ss)
            r = RESUMED.match(rest)
            if r:
                if pid not in pending:
                    continue
                t0, name, fdinfo, text = pending.pop(pid)
                rest_full = text + rest[r.end():]
            else:
                c = CALL.match(rest)
                if not c:
                    continue
                name, fdinfo = c.group(1), c.group(3)
                if rest.endswith("<unfinished ...>"):
                    pending[pid] = (t, name, fdinfo, rest)
                    continue
                rest_full = rest
            if name == "connect":
                port = CONNECT_PORT.search(rest_full)
                if port and int(port.group(1)) == a.fhir_port:
                    connects += 1
                continue
            res = RESULT.search(rest_full.rsplit(")", 1)[-1] if ")" in rest_full else rest_full)
            if not res or int(res.group(1)) <= 0:
                continue
            peer = PEER.search(fdinfo)
            if not peer:
                continue
            lport, rport = int(peer.group(2)), int(peer.group(4))
            if rport == a.fhir_port:
                side = "fhir"
            elif lport == a.service_port:
                side = "call"
            else:
                continue
            kind = "write" if name in WRITES else "read" if name in READS else None
            if kind:
                events.append((t, side, kind, "%s:%d" % (peer.group(1), lport), int(res.group(1))))
    events.sort()
    call_reads = [e for e in events if e[1] == "call" and e[2] == "read"]
    call_writes = [e for e in events if e[1] == "call" and e[2] == "write"]
    fhir = [e for e in events if e[1] == "fhir"]
    # Each write on a FHIR connection starts a query; the reads after it, up to the next write on
    # the same connection, are its answer.
    exchanges = []
    open_by_fd = {}
    for t, _, kind, fd, n in fhir:
        if kind == "write":
            if fd in open_by_fd and open_by_fd[fd]["last_read"] is None:
                open_by_fd[fd]["request_bytes"] += n  # the same request in more than one write
                continue
            ex = {"fd": fd, "sent": t, "first_read": None, "last_read": None, "request_bytes": n,
                  "response_bytes": 0}
            exchanges.append(ex)
            open_by_fd[fd] = ex
        elif fd in open_by_fd:
            ex = open_by_fd[fd]
            ex["first_read"] = ex["first_read"] or t
            ex["last_read"] = t
            ex["response_bytes"] += n
    if not any(ex["response_bytes"] > 0 for ex in exchanges):
        result = {"measured": False, "reason": "no FHIR traffic seen in the trace"}
    else:
        t0 = call_reads[0][0] if call_reads else exchanges[0]["sent"]
        t_end = call_writes[-1][0] if call_writes else max(e["last_read"] or e["sent"] for e in exchanges)
        # A request written on a pooled connection that the server had closed gets no answer
        # (the read sees EOF) and is sent again on a new connection: not a query of its own.
        retried = [ex for ex in exchanges if ex["response_bytes"] == 0]
        exchanges = [ex for ex in exchanges if ex["response_bytes"] > 0]
        rows = []
        for ex in exchanges:
            rows.append({"connection": ex["fd"], "sent_ms": (ex["sent"] - t0) * 1000,
                         "answered_ms": ((ex["last_read"] or ex["sent"]) - t0) * 1000,
                         "request_bytes": ex["request_bytes"], "response_bytes": ex["response_bytes"]})
        # Queries in flight at once: sweep over send/answer instants.
        marks = sorted([(r["sent_ms"], 1) for r in rows] + [(r["answered_ms"], -1) for r in rows],
                       key=lambda x: (x[0], x[1]))
        in_flight = peak = 0
        for _, d in marks:
            in_flight += d
            peak = max(peak, in_flight)
        first_sent = min(r["sent_ms"] for r in rows)
        last_sent = max(r["sent_ms"] for r in rows)
        last_answer = max(r["answered_ms"] for r in rows)
        result = {
            "measured": True,
            "queries": len(rows),
            "unanswered_then_resent": len(retried),
            "new_connections": connects,
            "connections_used": len({r["connection"] for r in rows}),
            "max_in_flight": peak,
            "parallel": peak > 1,
            "first_sent_ms": first_sent,
            "all_sent_within_ms": last_sent - first_sent,
            "last_answer_ms": last_answer,
            "call_ms": (t_end - t0) * 1000,
            "sum_of_query_times_ms": sum(r["answered_ms"] - r["sent_ms"] for r in rows),
            "note": "times under strace (every syscall stopped and logged): the shape, not the speed",
            "queries_timeline": sorted(rows, key=lambda r: r["sent_ms"]),
        }
    with open(a.out, "w", encoding="utf-8") as f:
        json.dump(result, f, indent=2)
    if result["measured"]:
        print("   one call under strace: %d FHIR queries on %d connections (%d new; %d request(s) resent after "
              "a pooled connection turned out closed), up to %d in flight at once; all sent within %.1f ms of each "
              "other, first %.1f ms after the call arrived, last answer at %.1f ms, response at %.1f ms" % (
                  result["queries"], result["connections_used"], result["new_connections"],
                  result["unanswered_then_resent"], result["max_in_flight"], result["all_sent_within_ms"],
                  result["first_sent_ms"], result["last_answer_ms"], result["call_ms"]))
        for r in result["queries_timeline"]:
            print("      sent %8.1f ms  answered %8.1f ms  %6d B  %s" % (r["sent_ms"], r["answered_ms"],
                                                                       r["response_bytes"], r["connection"]))
    else:
        print("   timeline: " + result["reason"])
    return 0


def cmd_summarise(a):
    out = {}
    for part in a.part or []:
        name, _, path = part.partition("=")
        try:
            out[name] = load(path)
        except (OSError, ValueError):
            out[name] = None
    if a.runs:
        runs = []
        try:
            with open(a.runs, encoding="utf-8") as f:
                runs = [json.loads(line) for line in f if line.strip()]
        except OSError:
            pass
        out["runs"] = runs
    for key, value in (a.set or []):
        out[key] = json.loads(value)
    with open(a.out, "w", encoding="utf-8") as f:
        json.dump(out, f, indent=2)
    return 0


def main(argv):
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    sub = p.add_subparsers(dest="command", required=True)
    s = sub.add_parser("twin")
    s.add_argument("--in", dest="input", required=True)
    s.add_argument("--out", required=True)
    s.add_argument("--fhir-server", required=True)
    s.add_argument("--token", required=True)
    s = sub.add_parser("compare")
    s.add_argument("prefetched")
    s.add_argument("fetched")
    s = sub.add_parser("log-count")
    s.add_argument("--log", required=True)
    s.add_argument("--tag", required=True)
    s = sub.add_parser("search-latency")
    s.add_argument("--port", type=int, required=True)
    s.add_argument("--log", required=True)
    s.add_argument("--tag", required=True)
    s.add_argument("--token", default="")
    s.add_argument("--iterations", type=int, default=20)
    s.add_argument("--out", required=True)
    s = sub.add_parser("timeline")
    s.add_argument("--strace", required=True)
    s.add_argument("--fhir-port", type=int, required=True)
    s.add_argument("--service-port", type=int, required=True)
    s.add_argument("--out", required=True)
    s = sub.add_parser("summarise")
    s.add_argument("--out", required=True)
    s.add_argument("--part", action="append")
    s.add_argument("--runs")
    s.add_argument("--set", nargs=2, action="append", metavar=("KEY", "JSON"))
    a = p.parse_args(argv)
    return {"twin": cmd_twin, "compare": cmd_compare, "log-count": cmd_log_count,
            "search-latency": cmd_search_latency, "timeline": cmd_timeline, "summarise": cmd_summarise}[a.command](a)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
