#!/usr/bin/env python3
"""`magnesium-cds scenarios` and `magnesium-cds impact` on the bundled rules and fixtures.

  scenarios: every scenario passes under the bundled rules; a copy with only the version
  bumped fails none; a copy with the severe threshold moved from 1.2 to 1.6 mg/dL fails, and
  exactly the scenarios whose cards change (as `impact` reports them) fail.
  impact: identical rule files change nothing; the moved threshold changes the mild cases
  between 1.2 and 1.6 mg/dL.

Usage: test_workbench_commands.py BINARY SCENARIOS_DIR RULES_FILE
"""
import json
import subprocess
import sys
import tempfile
from pathlib import Path

BINARY, SCENARIOS, RULES = sys.argv[1], Path(sys.argv[2]), Path(sys.argv[3])
failures = []


def check(condition, message):
    if not condition:
        failures.append(message)
        print("FAIL:", message)


def run(*args):
    return subprocess.run([BINARY, *args], capture_output=True, text=True, timeout=900)


def scenario_lines(output):
    return {line.split()[1]: line.split()[0] for line in output.splitlines() if line.startswith(("PASS ", "FAIL "))}


def own_rules(name):
    expected = json.loads((SCENARIOS / name / "expected.json").read_text(encoding="utf-8"))
    return "rules" in expected or "rules_patch" in expected


with tempfile.TemporaryDirectory(prefix="cds-workbench-") as tmp:
    bundled = json.loads(RULES.read_text(encoding="utf-8"))
    bumped = dict(bundled, version=bundled["version"] + "-test1")
    moved = json.loads(json.dumps(bumped))
    moved["thresholds"]["magnesium"]["severe_below_mg_dl"] = 1.6
    paths = {}
    for name, doc in (("bumped", bumped), ("moved", moved)):
        paths[name] = Path(tmp) / f"{name}.json"
        paths[name].write_text(json.dumps(doc, indent=1), encoding="utf-8")
    count = sum(1 for p in SCENARIOS.iterdir() if (p / "expected.json").is_file())

    result = run("scenarios", str(SCENARIOS))
    lines = result.stdout.strip().splitlines()
    check(result.returncode == 0, f"bundled rules: exit {result.returncode}\n{result.stdout[-3000:]}")
    check(lines and lines[-1] == f"{count} passed, 0 failed", f"bundled rules: closing line {lines[-1:]}")

    result = run("scenarios", str(SCENARIOS), "--rules", str(paths["bumped"]))
    check(result.returncode == 0 and result.stdout.strip().endswith(f"{count} passed, 0 failed"),
          f"version-only bump: {result.stdout[-3000:]}")

    result = run("scenarios", str(SCENARIOS), "--rules", str(paths["moved"]))
    states = scenario_lines(result.stdout)
    failed = {name for name, state in states.items() if state == "FAIL"}
    check(result.returncode != 0 and failed, "severe threshold 1.6: no scenario failed")
    check(result.stdout.strip().endswith(f"{count - len(failed)} passed, {len(failed)} failed"),
          f"severe threshold 1.6: closing line {result.stdout.strip().splitlines()[-1:]}")
    check(states.get("fires_pv_severe_iv_2g") == "PASS",
          "Mg 1.1 is severe under both thresholds, yet fires_pv_severe_iv_2g failed")
    check(states.get("fires_pv_mild_oral_oxide_400mg") == "FAIL", "Mg 1.5 becomes severe, yet its scenario passed")

    impact = run("impact", "--rules", str(paths["bumped"]), "--rules", str(paths["moved"]), str(SCENARIOS),
                 "--format", "json")
    check(impact.returncode == 0, f"impact: exit {impact.returncode}: {impact.stderr[-2000:]}")
    report = json.loads(impact.stdout or "{}")
    changed = {r["name"] for r in report.get("requests", []) if r["changes"] or r["statusBefore"] != r["statusAfter"]}
    check(report.get("summary", {}).get("requestsChanged") == len(changed) and changed,
          f"impact summary {report.get('summary')} vs {len(changed)} changed requests")
    check("fires_pv_mild_oral_oxide_400mg" in changed, "impact misses the Mg 1.5 scenario")
    check("fires_pv_severe_iv_2g" not in changed, "impact reports the Mg 1.1 scenario as changed")
    shared = {name for name in states if not own_rules(name)}
    check(failed & shared == changed & shared,
          f"failing scenarios differ from the changed ones: failing only {sorted((failed - changed) & shared)}, "
          f"changed only {sorted((changed - failed) & shared)}")

    same = run("impact", "--rules", str(RULES), "--rules", str(paths["bumped"]), str(SCENARIOS), "--format", "json")
    summary = json.loads(same.stdout or "{}").get("summary", {})
    check(same.returncode == 0 and summary.get("requests") == count and summary.get("requestsChanged") == 0,
          f"identical rules (version aside): {summary}")

    markdown = run("impact", "--rules", str(RULES), "--rules", str(paths["moved"]), str(SCENARIOS), "--format", "markdown")
    check("| fires_pv_mild_oral_oxide_400mg | changed |" in markdown.stdout, "markdown lacks the changed row")
    text = run("impact", "--rules", str(RULES), "--rules", str(paths["moved"]), str(SCENARIOS))
    check("fires_pv_mild_oral_oxide_400mg" in text.stdout and "before: warning" in text.stdout,
          f"text report: {text.stdout[:1500]}")

print(f"{'FAILED' if failures else 'ok'}: {len(failures)} problem(s)")
sys.exit(1 if failures else 0)
