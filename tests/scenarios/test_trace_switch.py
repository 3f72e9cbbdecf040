#!/usr/bin/env python3
"""The explain trace is recorded only on demand and never changes a card: every scenario request
(fixtures/scenarios/<id>/request.json) evaluated by `magnesium-cds evaluate` without and with
`--explain` gives the same cards (uuids aside), and the explained response carries the trace, in
which every rule that fired met each condition it records.

Usage: test_trace_switch.py --binary PATH --scenarios DIR --rules-default FILE
"""
from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path

sys.dont_write_bytecode = True
sys.path.insert(0, str(Path(__file__).resolve().parent))
import scenario_lib as lib  # noqa: E402


def evaluate(binary: str, scenario: lib.Scenario, rules: Path | None, explain: bool) -> dict | str:
    """The response as JSON, or what went wrong in words."""
    cmd = [binary, "evaluate", str(scenario.folder / "request.json"), "--now", scenario.now]
    if rules is not None:
        cmd += ["--rules", str(rules)]
    if explain:
        cmd += ["--explain", "--format", "json"]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=60)
    if proc.returncode != 0:
        return f"exit {proc.returncode}: {proc.stderr[:300]!r} {proc.stdout[:300]!r}"
    try:
        return json.loads(proc.stdout)
    except json.JSONDecodeError as exc:
        return f"stdout is not JSON ({exc})"


def problems_of(binary: str, scenario: lib.Scenario, rules: Path | None) -> list[str]:
    plain = evaluate(binary, scenario, rules, explain=False)
    explained = evaluate(binary, scenario, rules, explain=True)
    if isinstance(plain, str) or isinstance(explained, str):
        return [f"no response: without explain {plain if isinstance(plain, str) else 'ok'}; "
                f"with explain {explained if isinstance(explained, str) else 'ok'}"]
    problems = []
    if "explain" in plain:
        problems.append("a call without explain returned an explain member")
    entries = explained.get("explain", {}).get("entries")
    if not isinstance(entries, list) or not entries:
        problems.append("the explained response carries no trace entries")
    for e in entries if isinstance(entries, list) else []:
        # A rule's conditions are the trace's account of it: one that fired met every one.
        if e.get("section") == "rule" and e.get("decision") == "fired":
            unmet = [c.get("what") for c in e.get("compared", []) if not c.get("holds")]
            if unmet:
                problems.append(f"{e.get('rule')} fired with conditions not met: {unmet}")
    if lib.normalise_uuids(plain.get("cards")) != lib.normalise_uuids(explained.get("cards")):
        problems.append("the cards differ with the trace on (uuids ignored):\n"
                        f"       off: {json.dumps(plain.get('cards'))[:700]}\n"
                        f"       on:  {json.dumps(explained.get('cards'))[:700]}")
    return problems


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--binary", required=True)
    parser.add_argument("--scenarios", required=True)
    parser.add_argument("--rules-default", required=True)
    args = parser.parse_args()
    scenarios = [s for s in lib.load_scenarios(Path(args.scenarios)) if "error" not in s.expected]
    if not scenarios:
        print(f"FAIL: no scenario found under {args.scenarios}")
        return 1
    failed = 0
    with lib.temp_workdir() as tmp:
        for s in scenarios:
            rules = lib.rules_file_for(s, Path(args.rules_default), Path(tmp))
            problems = problems_of(args.binary, s, rules)
            if problems:
                failed += 1
                print(f"FAIL {s.id}")
                for p in problems:
                    print(f"     - {p}")
    print(f"{len(scenarios) - failed} passed, {failed} failed (trace off and on, {len(scenarios)} scenarios)")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
