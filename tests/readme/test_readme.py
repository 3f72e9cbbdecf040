#!/usr/bin/env python3
"""The README's examples, run as written: the two set-up commands exist and CI calls the test
one; the curl pipeline against a running service (at the real clock) returns the severe
hypomagnesemia card it promises; the `evaluate` example works; every flag the README names
is one `--help` lists."""
import json
import os
import re
import signal
import subprocess
import sys
import time

ROOT, BINARY = sys.argv[1], sys.argv[2]
README = open(os.path.join(ROOT, "README.md"), encoding="utf-8").read()
failures = []


def check(condition, message):
    if not condition:
        failures.append(message)
        print("FAIL:", message)


def fenced_blocks(language):
    return re.findall(r"```" + language + r"\n(.*?)```", README, flags=re.S)


# The two commands, and CI running the second.
setup = fenced_blocks("sh")[0]
commands = [line.split("#")[0].strip() for line in setup.splitlines() if line.strip()]
check(commands == ["./deploy/serve.sh", "./deploy/test.sh"], f"set-up commands are {commands}")
for command in commands:
    check(os.access(os.path.join(ROOT, command), os.X_OK), f"{command} is not executable")
ci = open(os.path.join(ROOT, ".ci", "run"), encoding="utf-8").read()
check("./deploy/test.sh" in ci, ".ci/run does not call ./deploy/test.sh")

# The curl example against a real server on a free port, evaluating at the real clock.
server = subprocess.Popen([BINARY, "serve", "--listen", "127.0.0.1:0"], cwd=ROOT,
                          stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
try:
    line = server.stdout.readline()
    match = re.search(r"http://127\.0\.0\.1:(\d+)", line)
    check(match is not None, f"serve did not print its address: {line!r}")
    port = match.group(1) if match else "0"
    try_it = next(b for b in fenced_blocks("sh") if "shift-dates.py" in b)
    for block in try_it.split("\n\n"):
        script = block.replace("127.0.0.1:8080", f"127.0.0.1:{port}").strip()
        result = subprocess.run(["bash", "-o", "pipefail", "-c", script], cwd=ROOT,
                                capture_output=True, text=True, timeout=60)
        check(result.returncode == 0, f"README command failed: {script}\n{result.stderr}")
        answer = json.loads(result.stdout or "null")
        if "shift-dates.py" in script:
            cards = (answer or {}).get("cards", [])
            check(len(cards) == 1 and cards[0].get("indicator") == "critical",
                  f"expected one critical card, got {json.dumps(cards)[:300]}")
            if cards:
                check("1.1 mg/dL" in cards[0]["summary"] and "severe" in cards[0]["summary"],
                      f"summary: {cards[0]['summary']}")
                actions = [a for s in cards[0].get("suggestions", []) for a in s["actions"]]
                kinds = sorted(a["resource"]["resourceType"] for a in actions)
                check(kinds == ["MedicationRequest", "ServiceRequest"], f"actions: {kinds}")
        else:
            ids = sorted(s["id"] for s in (answer or {}).get("services", []))
            check(ids == ["magnesium-order-select", "magnesium-order-sign",
                          "magnesium-patient-view"], f"discovery ids: {ids}")
finally:
    server.send_signal(signal.SIGTERM)
    try:
        check(server.wait(timeout=15) == 0, "serve did not exit 0 on SIGTERM")
    except subprocess.TimeoutExpired:
        server.kill()
        check(False, "serve did not stop on SIGTERM")

# The evaluate example, with the binary of this build.
evaluate = next(b for b in fenced_blocks("sh") if " evaluate " in b)
script = evaluate.replace("build/release/service/magnesium-cds", BINARY)
result = subprocess.run(["bash", "-c", script], cwd=ROOT, capture_output=True, text=True,
                        timeout=60)
check(result.returncode == 0, f"evaluate example failed: {result.stderr}")
cards = json.loads(result.stdout or "{}").get("cards", [])
check(any(s.get("selectionBehavior") == "at-most-one" for s in cards),
      "the PPI example has no at-most-one card (famotidine alternative)")

# The informatics worked example: a changed threshold through check-rules, scenarios, impact.
workbench = next(b for b in fenced_blocks("sh") if " impact " in b)
script = workbench.replace("build/release/service/magnesium-cds", BINARY)
result = subprocess.run(["bash", "-e", "-c", script], cwd=ROOT, capture_output=True, text=True, timeout=600)
check(result.returncode == 0, f"informatics example failed: {result.stderr[-2000:]}")
check(": OK (rule set" in result.stdout, "check-rules did not accept the changed file")
check(re.search(r"^\d+ passed, [1-9]\d* failed$", result.stdout, flags=re.M) is not None,
      "scenarios did not report failures for the moved threshold")
check("| fires_pv_mild_oral_oxide_400mg | changed |" in result.stdout, "impact does not list the Mg 1.5 case")

# Every flag the README names exists.
help_text = subprocess.run([BINARY, "--help"], capture_output=True, text=True).stdout
for flag in sorted(set(re.findall(r"`(--[a-z][a-z-]+)", README))):
    check(flag in help_text, f"README names {flag}, --help does not list it")

print(f"{'FAILED' if failures else 'passed'}: {len(failures)} problem(s)")
sys.exit(1 if failures else 0)
