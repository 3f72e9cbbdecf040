#!/usr/bin/env python3
"""Runs the clinical scenarios (fixtures/scenarios/<id>/request.json + expected.json) through
`magnesium-cds evaluate` and checks the cards. Registered with CTest (tests/scenarios/CMakeLists.txt).

Modes:
  check         every scenario against its expected.json (fails when zero scenarios are found)
  determinism   every scenario twice: same cards apart from uuids; all card/suggestion uuids unique
  rule-change   the same request under a copy of the bundled rules with another severe threshold
                gives different cards (the numbers live in the data, not in C++)
  properties    classification over a sweep of Mg values is monotonic (critical, warning, none as Mg
                rises, switching exactly at 1.2 and 1.8 mg/dL), and the same value written in mg/dL,
                mg/L, mmol/L and mEq/L is classified the same
  selftest      the checker itself fails on wrong responses (no test that cannot fail); with
                --binary also that a scenario's history.json changes the cards and that a
                malformed history fails with a message naming what is wrong

Usage: run_scenarios.py MODE --binary PATH --scenarios DIR [--rules-default FILE] [--only SUBSTRING]
"""
from __future__ import annotations

import argparse
import copy
import json
import sys
from pathlib import Path

sys.dont_write_bytecode = True
sys.path.insert(0, str(Path(__file__).resolve().parent))
import card_checker  # noqa: E402
import scenario_lib as lib  # noqa: E402


def summary_line(passed: int, failed: int) -> None:
    print(f"{passed} passed, {failed} failed")


def select(args) -> list[lib.Scenario]:
    scenarios = lib.load_scenarios(Path(args.scenarios))
    if args.only:
        scenarios = [s for s in scenarios if args.only in s.id]
    return scenarios


def mode_check(args) -> int:
    scenarios = select(args)
    if not scenarios:
        print(f"FAIL: no scenario found under {args.scenarios}" + (f" matching {args.only!r}" if args.only else ""))
        summary_line(0, 1)
        return 1
    passed = failed = 0
    with lib.temp_workdir() as tmp:
        for s in scenarios:
            default_rules = Path(args.rules_default) if args.rules_default else None
            result = lib.run_scenario(args.binary, s, default_rules, Path(tmp))
            rules_used = lib.rules_file_for(s, default_rules, Path(tmp)) or default_rules
            expanded = lib.Scenario(s.id, s.folder, s.request, lib.expand_placeholders(s.expected, rules_used))
            problems = lib.check_scenario(expanded, result, lib.rule_set_identity(rules_used))
            if problems:
                failed += 1
                print(f"FAIL {s.id}\n     ({s.expected.get('description', '')[:160]})")
                for p in problems:
                    print(f"     - {p[:1500]}")
                if args.verbose and result.response is not None:
                    print(json.dumps(result.response, indent=1)[:6000])
            else:
                passed += 1
                if args.verbose:
                    print(f"ok   {s.id}")
    print(f"scenarios: {len(scenarios)} run from {args.scenarios}")
    summary_line(passed, failed)
    return 1 if failed else 0


def mode_determinism(args) -> int:
    scenarios = [s for s in select(args) if "error" not in s.expected]
    if not scenarios:
        print("FAIL: no scenario found")
        summary_line(0, 1)
        return 1
    passed = failed = 0
    all_uuids: list[str] = []
    cards_seen = 0
    with lib.temp_workdir() as tmp:
        for s in scenarios:
            first = lib.run_scenario(args.binary, s, Path(args.rules_default) if args.rules_default else None, Path(tmp))
            second = lib.run_scenario(args.binary, s, Path(args.rules_default) if args.rules_default else None, Path(tmp))
            problems = []
            if first.response is None or second.response is None:
                problems.append(f"no JSON response (exit {first.exit_code}/{second.exit_code}): {first.stderr[:300]!r}")
            else:
                if lib.normalise_uuids(first.response) != lib.normalise_uuids(second.response):
                    problems.append("same input gave different cards (uuids ignored):\n"
                                    f"       first:  {json.dumps(first.response)[:700]}\n"
                                    f"       second: {json.dumps(second.response)[:700]}")
                for resp in (first.response, second.response):
                    all_uuids += lib.collect_uuids(resp)
                    cards_seen += len(resp.get("cards", []))
            if problems:
                failed += 1
                print(f"FAIL {s.id}")
                for p in problems:
                    print(f"     - {p}")
            else:
                passed += 1
    duplicates = sorted({u for u in all_uuids if all_uuids.count(u) > 1}) if len(set(all_uuids)) != len(all_uuids) else []
    if duplicates:
        failed += 1
        print(f"FAIL uuid uniqueness: {len(duplicates)} uuid(s) reused across card instances, e.g. {duplicates[:3]}")
    elif cards_seen == 0:
        failed += 1
        print("FAIL uuid uniqueness: no card was produced by any scenario, nothing to compare")
    else:
        passed += 1
        print(f"ok   uuid uniqueness: {len(all_uuids)} card/suggestion uuids over {cards_seen} cards, all distinct")
    summary_line(passed, failed)
    return 1 if failed else 0


def find_severe_thresholds(node, path=""):
    """JSON pointers of numbers 1.2 whose key names the severe magnesium threshold."""
    found = []
    if isinstance(node, dict):
        for k, v in node.items():
            p = f"{path}/{k.replace('~', '~0').replace('/', '~1')}"
            if isinstance(v, (int, float)) and not isinstance(v, bool) and abs(v - 1.2) < 1e-9 and "severe" in p.lower():
                found.append(p)
            else:
                found += find_severe_thresholds(v, p)
    elif isinstance(node, list):
        for i, v in enumerate(node):
            found += find_severe_thresholds(v, f"{path}/{i}")
    return found


def mode_rule_change(args) -> int:
    scenario_id = "fires_pv_severe_iv_2g"
    scenario = next((s for s in lib.load_scenarios(Path(args.scenarios)) if s.id == scenario_id), None)
    if scenario is None:
        print(f"FAIL: scenario {scenario_id} not found")
        summary_line(0, 1)
        return 1
    if not args.rules_default or not Path(args.rules_default).is_file():
        print(f"FAIL: bundled rule file not found: {args.rules_default!r}")
        summary_line(0, 1)
        return 1
    rules = json.loads(Path(args.rules_default).read_text(encoding="utf-8"))
    pointers = find_severe_thresholds(rules)
    if not pointers:
        print("FAIL: no severe magnesium threshold (a number 1.2 under a key naming 'severe') in the rule file")
        summary_line(0, 1)
        return 1
    changed = copy.deepcopy(rules)
    for p in pointers:
        lib.json_pointer_set(changed, p, 1.0)   # severe now < 1.0 mg/dL: 1.1 becomes mild-moderate
    failures = []
    with lib.temp_workdir() as tmp:
        copy_path = Path(tmp) / "magnesium-rules.changed.json"
        copy_path.write_text(json.dumps(changed, indent=1), encoding="utf-8")
        same_path = Path(tmp) / "magnesium-rules.copy.json"
        same_path.write_text(json.dumps(rules, indent=1), encoding="utf-8")
        request = scenario.folder / "request.json"
        default = lib.run_evaluate(args.binary, request, scenario.now)
        copied = lib.run_evaluate(args.binary, request, scenario.now, same_path)
        modified = lib.run_evaluate(args.binary, request, scenario.now, copy_path)
    for name, res in (("bundled rules", default), ("unchanged copy via --rules", copied), ("changed copy via --rules", modified)):
        if res.response is None:
            failures.append(f"{name}: exit {res.exit_code}, no JSON response: {res.stderr[:400]!r} {res.parse_error or ''}")
    if not failures:
        def indicators(res):
            return sorted(c.get("indicator") for c in res.response.get("cards", []))
        print(f"changed {pointers} from 1.2 to 1.0; Mg 1.1 mg/dL:")
        print(f"  bundled: {indicators(default)}  copy: {indicators(copied)}  changed: {indicators(modified)}")
        if indicators(default) != ["critical"]:
            failures.append(f"bundled rules: expected one critical card for Mg 1.1, got {indicators(default)}")
        if lib.normalise_uuids(default.response) != lib.normalise_uuids(copied.response):
            failures.append("an unchanged copy of the bundled rules given with --rules gives other cards")
        if indicators(modified) != ["warning"]:
            failures.append(f"changed severe threshold: expected one warning card (mild-moderate), got {indicators(modified)}")
        elif not any(lib.codes_of(r) & {"A12CC10"} for c in modified.response["cards"] for r in lib.created_resources(c)):
            failures.append("changed severe threshold: the warning card does not suggest oral magnesium oxide")
    for f in failures:
        print(f"FAIL rule-change: {f}")
    summary_line(0 if failures else 1, 1 if failures else 0)
    return 1 if failures else 0


PROPERTY_BASE = "fires_pv_mild_oral_oxide_400mg"   # patient-view, normal renal function, no drugs
RANK = {"critical": 2, "warning": 1, None: 0}
UNIT_FACTORS = {"mg/dL": ("mg/dL", 1.0, "19123-9"), "mg/L": ("mg/L", 0.1, "19123-9"),
                "mmol/L": ("mmol/L", 2.431, "2601-3"), "mEq/L": ("meq/L", 1.2155, "19123-9")}


def classify_with(args, base: lib.Scenario, tmp: Path, value: float, unit: str) -> tuple[str | None, str]:
    """Indicator of the single hypomagnesemia card for the base request with another Mg value."""
    code, factor, loinc = UNIT_FACTORS[unit]
    request = copy.deepcopy(base.request)
    obs = request["prefetch"]["magnesium"]["entry"][0]["resource"]
    obs["code"]["coding"][0].update(code=loinc)
    obs.pop("interpretation", None)
    obs["valueQuantity"] = {"value": value, "unit": unit, "system": "http://unitsofmeasure.org", "code": code}
    path = tmp / "property-request.json"
    path.write_text(json.dumps(request), encoding="utf-8")
    result = lib.run_evaluate(args.binary, path, base.now)
    if result.response is None:
        return "error", f"exit {result.exit_code}: {result.stderr[:200]!r}"
    cards = result.response.get("cards", [])
    if len(cards) > 1:
        return "error", f"{len(cards)} cards"
    return (cards[0].get("indicator") if cards else None), ""


def mode_properties(args) -> int:
    base = next((s for s in lib.load_scenarios(Path(args.scenarios)) if s.id == PROPERTY_BASE), None)
    if base is None:
        print(f"FAIL: base scenario {PROPERTY_BASE} not found")
        summary_line(0, 1)
        return 1
    failures: list[str] = []
    checks = 0
    with lib.temp_workdir() as tmp:
        # 1. monotonic in the value, with the documented switch points (CLINICAL-BASIS.md §2)
        previous = None
        for hundredths in range(50, 301, 2):
            value = hundredths / 100
            indicator, why = classify_with(args, base, Path(tmp), value, "mg/dL")
            expected = "critical" if value < 1.2 else "warning" if value < 1.8 else None
            checks += 1
            if indicator != expected:
                failures.append(f"Mg {value:.2f} mg/dL: {indicator} {why}, expected {expected}")
            if previous is not None and indicator in RANK and previous in RANK and RANK[indicator] > RANK[previous]:
                failures.append(f"not monotonic: Mg {value:.2f} is {indicator} but a lower value was {previous}")
            previous = indicator
        # 2. the same amount in every unit gives the same classification (away from rounding at the edges)
        for mg_dl in (0.7, 0.95, 1.1, 1.25, 1.4, 1.55, 1.7, 1.9, 2.2, 2.45, 2.9):
            want = "critical" if mg_dl < 1.2 else "warning" if mg_dl < 1.8 else None
            for unit, (_, factor, _) in UNIT_FACTORS.items():
                value = round(mg_dl / factor, 4)
                indicator, why = classify_with(args, base, Path(tmp), value, unit)
                checks += 1
                if indicator != want:
                    failures.append(f"{value} {unit} (= {mg_dl} mg/dL): {indicator} {why}, expected {want}")
    for f in failures:
        print(f"FAIL property: {f}")
    summary_line(checks - len(failures), len(failures))
    return 1 if failures else 0


def mode_selftest(args) -> int:
    """The checker must reject wrong responses; each case names a mutation that must be caught."""
    from datetime import datetime, timezone
    now_text = "2026-03-10T09:00:00Z"
    request = {"hook": "patient-view", "context": {"patientId": "p1", "userId": "Practitioner/u1"},
               "prefetch": {"patient": {"resourceType": "Patient", "id": "p1", "birthDate": "1950-01-01"},
                            "medications": {"resourceType": "Bundle", "entry": [
                   {"resource": {"resourceType": "MedicationRequest", "id": "medrx-30220-90"}}]}}}

    def mr(code, text, dose, unit, route_display, when=None, duration=None):
        dosage = {"text": f"{text} {dose} {unit}", "route": {"coding": [{"system": "http://snomed.info/sct", "code": "x", "display": route_display}]},
                  "doseAndRate": [{"doseQuantity": {"value": dose, "unit": unit, "system": "http://unitsofmeasure.org", "code": unit}}],
                  "timing": {"repeat": {"frequency": 1, "period": 1, "periodUnit": "d"}}}
        if when:
            dosage["timing"]["repeat"]["when"] = when
        if duration:
            dosage["timing"]["repeat"].update({"duration": duration, "durationUnit": "min"})
        return {"resourceType": "MedicationRequest", "status": "draft", "intent": "order", "subject": {"reference": "Patient/p1"},
                "requester": {"reference": "Practitioner/u1"},
                "medicationCodeableConcept": {"text": text, "coding": [{"system": "http://www.whocc.no/atc", "code": code}]},
                "dosageInstruction": [dosage]}

    def signable_iv():
        """An IV order as §3.1 wants it: product with volume, one dose, infusion time, pump rate in mL/h."""
        r = mr("B05XA05", "Magnesium sulfate 2 g in 50 mL premixed IV solution (40 mg/mL)", 2, "g", "Intravenous route")
        dosage = r["dosageInstruction"][0]
        dosage["text"] = "2 g (50 mL) IV over 20 minutes at 150 mL/h, single dose"
        dosage["timing"] = {"repeat": {"count": 1, "duration": 20, "durationUnit": "min"}}
        dosage["doseAndRate"][0]["rateQuantity"] = {"value": 150, "unit": "mL/h", "system": "http://unitsofmeasure.org", "code": "mL/h"}
        return r

    def sr(hours):
        from datetime import timedelta
        t = (datetime(2026, 3, 10, 9, tzinfo=timezone.utc) + timedelta(hours=hours)).strftime("%Y-%m-%dT%H:%M:%SZ")
        return {"resourceType": "ServiceRequest", "status": "draft", "intent": "order", "subject": {"reference": "Patient/p1"},
                "requester": {"reference": "Practitioner/u1"},
                "code": {"text": "Serum magnesium", "coding": [{"system": "http://loinc.org", "code": "19123-9"}]},
                "occurrenceDateTime": t}

    good = {"cards": [{"uuid": "6f1c1a8e-3d59-4c3b-9f43-0b7d3e3b1a11", "summary": "Serum Mg 1.1 mg/dL (severe)", "indicator": "critical",
                       "detail": "Serum Mg 1.1 mg/dL: 9 Mar 2026 06:40 UTC, 26 h ago.",
                       "source": {"label": "Magnesium CDS", "url": "http://127.0.0.1:8080/rules/hypomagnesemia",
                                  "topic": {"code": "hypomagnesemia", "version": "9.9"}}, "selectionBehavior": "at-most-one",
                       "extension": {"magnesium-cds": {"ruleSetId": "rs-test", "ruleSetVersion": "9.9",
                                                       "evidence": [{"reference": "Observation/mg-1"}]}},
                       "overrideReasons": [{"code": "already-treated", "display": "Already treated"}],
                       "suggestions": [{"uuid": "0b0f0d6e-1c1e-4d7c-8a4f-5d9b7e0c2a22",
                                        "label": "Magnesium sulfate 2 g IV over 20 min (50 mL at 150 mL/h) + Mg recheck",
                                        "actions": [{"type": "create", "description": "order", "resource": signable_iv()},
                                                    {"type": "create", "description": "recheck", "resource": sr(6)}]}]}]}
    expected = {"description": "self-test", "now": now_text,
                "cards": [{"indicator": "critical", "summary_contains": ["1.1"],
                           "suggestions": [{"actions": [{"type": "create", "resource_type": "MedicationRequest",
                                                         "codes_any": ["B05XA05"], "route": "intravenous",
                                                         "dose": {"value": 2000, "unit": "mg"}, "infusion_minutes": 20,
                                                         "max_rate_mg_per_min": 150},
                                                        {"type": "create", "resource_type": "ServiceRequest",
                                                         "codes_any": ["19123-9"], "occurrence_after_now": "PT6H"}],
                                            "action_count": 2}],
                           "no_suggestion_codes": ["A12CC10"]}]}

    def run(response, exp=expected):
        s = lib.Scenario("selftest", Path("."), request, exp)
        return lib.check_scenario(s, lib.RunResult(0, json.dumps(response), "", response=response), ("rs-test", "9.9"))

    failures = []
    if run(good):
        failures.append(f"the correct response was rejected: {run(good)}")

    def mutated(fn):
        r = copy.deepcopy(good)
        fn(r)
        return r

    action0 = lambda r: r["cards"][0]["suggestions"][0]["actions"][0]["resource"]
    mutations = {
        "indicator warning": lambda r: r["cards"][0].update(indicator="warning"),
        "no card": lambda r: r.update(cards=[]),
        "extra card": lambda r: r["cards"].append(dict(copy.deepcopy(r["cards"][0]), uuid="7a1c1a8e-3d59-4c3b-9f43-0b7d3e3b1a11", suggestions=[])),
        "dose 4 g": lambda r: action0(r)["dosageInstruction"][0]["doseAndRate"][0]["doseQuantity"].update(value=4),
        "infused over 5 min": lambda r: action0(r)["dosageInstruction"][0]["timing"]["repeat"].update(duration=5),
        "oral route": lambda r: action0(r)["dosageInstruction"][0]["route"]["coding"][0].update(display="Oral route"),
        "recheck at 24 h": lambda r: r["cards"][0]["suggestions"][0]["actions"][1]["resource"].update(
            occurrenceDateTime="2026-03-11T09:00:00Z"),
        "status active": lambda r: action0(r).update(status="active"),
        "wrong patient": lambda r: action0(r).update(subject={"reference": "Patient/other"}),
        "summary 140 chars": lambda r: r["cards"][0].update(summary="x" * 140 + " 1.1"),
        "null member": lambda r: r["cards"][0].update(detail=None),
        "missing uuid": lambda r: r["cards"][0].pop("uuid"),
        "forbidden oral code": lambda r: action0(r)["medicationCodeableConcept"]["coding"].append({"system": "http://www.whocc.no/atc", "code": "A12CC10"}),
        "no selectionBehavior": lambda r: r["cards"][0].pop("selectionBehavior"),
        "ISO timestamp in detail": lambda r: r["cards"][0].update(detail="Mg 1.1 mg/dL on 2026-03-09T06:40:00Z."),
        "ISO date in summary": lambda r: r["cards"][0].update(summary="Serum Mg 1.1 mg/dL on 2026-03-09"),
        "FHIR reference in detail": lambda r: r["cards"][0].update(detail="Mg 1.1 mg/dL (Observation/mg-1)."),
        "request resource id in detail": lambda r: r["cards"][0].update(detail="Mg 1.1 mg/dL from medrx-30220-90."),
        "rule id in detail": lambda r: (r["cards"][0]["source"]["topic"].update(code="stale-low-magnesium"),
                                        r["cards"][0].update(detail="Mg 1.1 mg/dL, rule stale-low-magnesium.")),
        "rule set version in detail": lambda r: r["cards"][0].update(detail="Mg 1.1 mg/dL. Rule set rs-test version 9.9"),
        "UCUM annotation in detail": lambda r: r["cards"][0].update(detail="eGFR 78 mL/min/{1.73_m2}."),
        "UCUM atom in detail": lambda r: r["cards"][0].update(detail="Weight 100 [lb_av]."),
        "summary cut with ...": lambda r: r["cards"][0].update(summary="Serum Mg 1.1 mg/dL with water for inje..."),
        "topic without the version": lambda r: r["cards"][0]["source"]["topic"].pop("version"),
        "placeholder source url": lambda r: r["cards"][0]["source"].update(url="https://magnesium-cds.example.org/rules#hypomagnesemia"),
        "extension without evidence": lambda r: r["cards"][0]["extension"]["magnesium-cds"].pop("evidence"),
        "source without topic": lambda r: r["cards"][0]["source"].pop("topic"),
        "no overrideReasons": lambda r: r["cards"][0].pop("overrideReasons"),
        "detail of 81 words": lambda r: r["cards"][0].update(detail=" ".join(["word"] * 81)),
        "third action": lambda r: r["cards"][0]["suggestions"][0]["actions"].append(
            {"type": "create", "description": "x", "resource": sr(7)}),
        "IV order without its pump rate": lambda r: action0(r)["dosageInstruction"][0]["doseAndRate"][0].pop("rateQuantity"),
        "IV order without a duration": lambda r: action0(r)["dosageInstruction"][0]["timing"]["repeat"].pop("count"),
        "rationale in the dosage text": lambda r: action0(r)["dosageInstruction"][0].update(
            text="2 g IV over 20 minutes; suitable only if renal function allows"),
        "label omits the recheck": lambda r: r["cards"][0]["suggestions"][0].update(label="Magnesium sulfate 2 g IV"),
        "critical card without a suggestion": lambda r: (r["cards"][0].pop("suggestions"), r["cards"][0].pop("selectionBehavior")),
    }
    for name, fn in mutations.items():
        if not run(mutated(fn)):
            failures.append(f"mutation '{name}' was not detected")
    # One card per problem (§5), checked with two cards expected so that only the repetition fails.
    two_cards = dict(expected, cards=expected["cards"] + [{}])
    second = dict(copy.deepcopy(good["cards"][0]), uuid="7a1c1a8e-3d59-4c3b-9f43-0b7d3e3b1a12",
                  detail="Another finding entirely.", indicator="info")
    second.pop("selectionBehavior")
    second.pop("suggestions")
    if run(dict(good, cards=good["cards"] + [second]), two_cards):
        failures.append("two distinct cards were rejected")
    for name, change in (
            ("sentence repeated on two cards", dict(detail=good["cards"][0]["detail"])),
            ("same order on two cards", dict(selectionBehavior="at-most-one", suggestions=[dict(
                copy.deepcopy(good["cards"][0]["suggestions"][0]), uuid="0b0f0d6e-1c1e-4d7c-8a4f-5d9b7e0c2a23")]))):
        if not run(dict(good, cards=good["cards"] + [dict(second, **change)]), two_cards):
            failures.append(f"mutation '{name}' was not detected")
    if not run(good, dict(expected, cards="none")):
        failures.append("expected 'none' accepted a response with a card")
    if not lib.validate_expected(dict(expected, cardz=[])):
        failures.append("a misspelt expected.json key was not reported")
    if find_severe_thresholds({"thresholds": {"magnesium_mg_dl": {"severe_below": 1.2, "normal_min": 1.8}}}) != \
            ["/thresholds/magnesium_mg_dl/severe_below"]:
        failures.append("severe threshold finder does not find /thresholds/magnesium_mg_dl/severe_below")
    for dt, iso in (("2026-03", "2026-03-01T00:00:00+00:00"), ("2026-03-03T10:00:00+01:00", "2026-03-03T09:00:00+00:00")):
        if lib.parse_fhir_datetime(dt).isoformat() != iso:
            failures.append(f"parse_fhir_datetime({dt}) = {lib.parse_fhir_datetime(dt).isoformat()}, expected {iso}")
    gap_cases = {
        "IV order without rate and duration": mr("B05XA05", "Magnesium sulfate 2 g", 2, "g", "Intravenous route"),
        "rationale in dosage text": dict(mr("A12CC10", "Magnesium oxide 400 mg tablet", 400, "mg", "Oral route"),
                                         dosageInstruction=[dict(mr("A12CC10", "x", 400, "mg", "Oral route")["dosageInstruction"][0],
                                                                 text="400 mg at bedtime; better absorbed")]),
    }
    for name, res in gap_cases.items():
        if not card_checker.medication_request_gaps(res):
            failures.append(f"order gap '{name}' was not listed")

    def changed(r: dict, fn) -> dict:
        fn(r)
        return r
    # An updated draft must be as signable as a created order and never contradict itself (§3.1, §3.4).
    update_gap_cases = {
        "1 g dose left in the 2 g product": changed(signable_iv(), lambda r: r["dosageInstruction"][0].update(
            text="1 g (25 mL) IV over 20 minutes at 75 mL/h, single dose",
            doseAndRate=[{"doseQuantity": {"value": 1, "unit": "g", "code": "g"},
                          "rateQuantity": {"value": 75, "unit": "mL/h", "code": "mL/h"}}])),
        "dosage text states the old dose": changed(signable_iv(), lambda r: r["dosageInstruction"][0].update(
            text="Magnesium sulfate 4 g IV over 20 minutes")),
        "dosage text states another pump rate": changed(signable_iv(), lambda r: r["dosageInstruction"][0].update(
            text="2 g (50 mL) IV over 20 minutes at 100 mL/h, single dose")),
        "volume does not run in its minutes": changed(signable_iv(), lambda r: r.update(
            dispenseRequest={"quantity": {"value": 100, "unit": "mL", "code": "mL"}})),
        "halved tablet without a fraction or duration": mr("A12CC10", "Magnesium oxide 400 mg oral tablet", 200, "mg",
                                                           "Oral route", when=["HS"]),
    }
    for name, res in update_gap_cases.items():
        if not card_checker.updated_medication_request_gaps(res):
            failures.append(f"updated order gap '{name}' was not listed")
    if card_checker.updated_medication_request_gaps(signable_iv()):
        failures.append(f"a signable IV update was rejected: {card_checker.updated_medication_request_gaps(signable_iv())}")
    history_checks = 0
    if args.binary:
        history_failures, history_checks = selftest_history(args)
        failures += history_failures
    for f in failures:
        print(f"FAIL selftest: {f}")
    total = len(mutations) + 11 + len(gap_cases) + len(update_gap_cases) + history_checks
    summary_line(total - len(failures), len(failures))
    return 1 if failures else 0


HISTORY_BASE = "silent_snooze_pv_warning_overridden_2h_ago"
# Each malformed history.json must fail the scenario with a message naming the entry and field.
MALFORMED_HISTORIES = {
    "ago not a duration": ({"ago": "2 hours", "rule": "hypomagnesemia"}, "feedback[0].ago"),
    "ago missing": ({"rule": "hypomagnesemia"}, "feedback[0].ago"),
    "misspelt key": ({"ago": "PT2H", "rule": "hypomagnesemia", "reson": "patient-declined"}, "unknown key 'reson'"),
    "rule without a card": ({"ago": "PT2H", "rule": "digoxin-with-hypomagnesemia"}, "feedback[0].rule"),
    "reason the card does not offer": ({"ago": "PT2H", "rule": "hypomagnesemia", "reason": "doses-already-separated"},
                                       "feedback[0].reason"),
    "accepted with a reason": ({"ago": "PT2H", "rule": "hypomagnesemia", "outcome": "accepted",
                                "reason": "patient-declined"}, "feedback[0].reason"),
    "unknown outcome": ({"ago": "PT2H", "rule": "hypomagnesemia", "outcome": "dismissed"}, "feedback[0].outcome"),
    "missing earlier request": ({"ago": "PT2H", "rule": "hypomagnesemia", "request": "earlier.json"},
                                "feedback[0].request"),
}


def selftest_history(args) -> tuple[list[str], int]:
    """history.json (snoozing, §6) through the real `evaluate --history`: the library case
    passes; without its history the same expectations fail (the feedback is what hides the
    card); each malformed history fails with a message naming what is wrong."""
    import shutil
    failures: list[str] = []
    base = next((s for s in lib.load_scenarios(Path(args.scenarios)) if s.id == HISTORY_BASE), None)
    if base is None:
        return [f"history base scenario {HISTORY_BASE} not found"], 1
    checks = 0
    with lib.temp_workdir() as tmp:
        def run_with(history: dict | None, stray: str | None = None) -> list[str]:
            folder = Path(tmp) / HISTORY_BASE
            shutil.rmtree(folder, ignore_errors=True)
            shutil.copytree(base.folder, folder)
            if history is None:
                (folder / "history.json").unlink()
            else:
                (folder / "history.json").write_text(json.dumps(history), encoding="utf-8")
            if stray:
                (folder / stray).write_text("{}", encoding="utf-8")
            s = lib.Scenario(base.id, folder, base.request, base.expected)
            return lib.check_scenario(s, lib.run_scenario(args.binary, s, None, Path(tmp)))
        good = json.loads((base.folder / "history.json").read_text(encoding="utf-8"))
        checks += 1
        if run_with(good):
            failures.append(f"the history scenario {HISTORY_BASE} fails as written: {run_with(good)}")
        checks += 1
        if not run_with(None):
            failures.append("without its history.json the snoozed scenario still passed: the history changed nothing")
        checks += 1
        if not any("histroy.json" in p for p in run_with(good, stray="histroy.json")):
            failures.append("a misspelt history file in the scenario folder was not reported")
        for name, (entry, fragment) in MALFORMED_HISTORIES.items():
            checks += 1
            problems = run_with({"description": "selftest", "feedback": [entry]})
            if not any(fragment in p for p in problems):
                failures.append(f"malformed history '{name}' not reported with {fragment!r}: {problems}")
    return failures, checks


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("mode", choices=["check", "determinism", "rule-change", "properties", "selftest"])
    parser.add_argument("--binary", default="")
    parser.add_argument("--scenarios", default=str(Path(__file__).resolve().parents[2] / "fixtures" / "scenarios"))
    parser.add_argument("--rules-default", default=str(Path(__file__).resolve().parents[2] / "rules" / "config" / "magnesium-rules.json"))
    parser.add_argument("--only", default="")
    parser.add_argument("-v", "--verbose", action="store_true")
    args = parser.parse_args()
    if args.mode == "selftest":
        # Without --binary the checker alone; with it, history.json through `evaluate --history` too.
        if args.binary and lib.describe_binary_problem(args.binary):
            print(f"FAIL: {lib.describe_binary_problem(args.binary)}")
            summary_line(0, 1)
            return 1
        return mode_selftest(args)
    problem = lib.describe_binary_problem(args.binary)
    if problem:
        print(f"FAIL: {problem}")
        summary_line(0, 1)
        return 1
    return {"check": mode_check, "determinism": mode_determinism, "rule-change": mode_rule_change,
            "properties": mode_properties}[args.mode](args)


if __name__ == "__main__":
    sys.exit(main())
