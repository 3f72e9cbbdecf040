"""Scenario fixtures for magnesium-cds: loading, running `magnesium-cds evaluate`, and checking
the response against `expected.json`.

The format is documented for informatics staff in fixtures/scenarios/README.md; this module is
its one implementation (Python 3.11 standard library only). Every key of an expected.json is
validated, so a misspelt expectation fails loudly instead of silently checking nothing.
"""
from __future__ import annotations

import json
import math
import os
import re
import subprocess
import tempfile
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import card_checker

# ------------------------------------------------------------------------------------ format
TOP_KEYS = {"description", "now", "rules", "rules_patch", "cards", "card_count", "cards_suggesting",
            "no_suggestion_codes", "error", "covers"}
CARD_KEYS = {"indicator", "summary_contains", "summary_not_contains", "detail_contains",
             "detail_contains_any", "detail_not_contains", "text_contains", "text_contains_any",
             "text_not_contains", "selection_behavior", "suggestion_count", "suggestions", "any_action",
             "no_suggestion_codes", "no_suggestions", "source_label_contains", "override_reasons_contain",
             "rule"}
SUGGESTION_KEYS = {"label_contains", "text_contains", "is_recommended", "action_count", "actions"}
ACTION_KEYS = {"type", "resource_type", "resource_id", "codes", "codes_any", "text_contains",
               "text_contains_any", "route", "dose", "frequency_per_day", "at_bedtime", "infusion_minutes",
               "max_rate_mg_per_min", "occurrence_after_now", "occurrence_tolerance", "dosage_text_contains"}
INDICATORS = {"info", "warning", "critical"}
UUID_RE = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[1-8][0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$", re.I)


@dataclass
class Scenario:
    id: str
    folder: Path
    request: dict
    expected: dict

    @property
    def now(self) -> str:
        return self.expected["now"]


def _check_keys(obj: Any, allowed: set[str], where: str, problems: list[str]) -> None:
    if not isinstance(obj, dict):
        problems.append(f"{where}: expected an object")
        return
    for key in obj:
        if key not in allowed:
            problems.append(f"{where}: unknown key {key!r} (allowed: {', '.join(sorted(allowed))})")


def validate_expected(expected: dict) -> list[str]:
    """Structural check of an expected.json: unknown keys and wrong shapes are fixture errors."""
    problems: list[str] = []
    _check_keys(expected, TOP_KEYS, "expected", problems)
    if not isinstance(expected.get("description"), str) or not expected.get("description"):
        problems.append("expected.description: required plain-words description")
    try:
        parse_fhir_datetime(expected.get("now", ""))
    except ValueError:
        problems.append("expected.now: required, a FHIR dateTime with time zone")
    has_cards = "cards" in expected
    has_error = "error" in expected
    if has_cards == has_error:
        problems.append("expected: exactly one of 'cards' or 'error' is required")
    cards = expected.get("cards")
    if has_cards and cards != "none":
        if not isinstance(cards, list) or not cards:
            problems.append("expected.cards: \"none\" or a non-empty list of card expectations")
        else:
            for i, card in enumerate(cards):
                where = f"expected.cards[{i}]"
                _check_keys(card, CARD_KEYS, where, problems)
                if "indicator" in card and card["indicator"] not in INDICATORS:
                    problems.append(f"{where}.indicator: one of {sorted(INDICATORS)}")
                for j, sug in enumerate(card.get("suggestions", [])):
                    _check_keys(sug, SUGGESTION_KEYS, f"{where}.suggestions[{j}]", problems)
                    for k, act in enumerate(sug.get("actions", [])):
                        _check_keys(act, ACTION_KEYS, f"{where}.suggestions[{j}].actions[{k}]", problems)
                for k, act in enumerate(card.get("any_action", [])):
                    _check_keys(act, ACTION_KEYS, f"{where}.any_action[{k}]", problems)
    for i, cs in enumerate(expected.get("cards_suggesting", [])):
        _check_keys(cs, {"codes_any", "count"}, f"expected.cards_suggesting[{i}]", problems)
    if "card_count" in expected and not isinstance(expected["card_count"], int):
        problems.append("expected.card_count: an integer")
    if has_error:
        _check_keys(expected["error"], {"output_contains"}, "expected.error", problems)
    for i, patch in enumerate(expected.get("rules_patch", [])):
        _check_keys(patch, {"path", "value"}, f"expected.rules_patch[{i}]", problems)
    return problems


def load_scenarios(root: Path) -> list[Scenario]:
    scenarios = []
    for folder in sorted(p for p in root.iterdir() if p.is_dir()):
        request = json.loads((folder / "request.json").read_text(encoding="utf-8"))
        expected = json.loads((folder / "expected.json").read_text(encoding="utf-8"))
        scenarios.append(Scenario(folder.name, folder, request, expected))
    return scenarios


# ------------------------------------------------------------------------------------ running
@dataclass
class RunResult:
    exit_code: int
    stdout: str
    stderr: str
    response: dict | None = None
    parse_error: str | None = None


def json_pointer_set(doc: Any, pointer: str, value: Any) -> None:
    parts = [p.replace("~1", "/").replace("~0", "~") for p in pointer.lstrip("/").split("/")]
    node = doc
    for part in parts[:-1]:
        node = node[int(part)] if isinstance(node, list) else node[part]
    last = parts[-1]
    if isinstance(node, list):
        node[int(last)] = value
    else:
        if last not in node:
            raise KeyError(f"rules_patch path {pointer} does not exist in the rule file")
        node[last] = value


def rules_file_for(scenario: Scenario, default_rules: Path | None, workdir: Path) -> Path | None:
    """The --rules argument for a scenario: its own rule file, or the bundled one patched."""
    exp = scenario.expected
    base = (scenario.folder / exp["rules"]).resolve() if "rules" in exp else None
    if "rules_patch" not in exp:
        return base
    source = base or default_rules
    if source is None:
        raise RuntimeError("rules_patch needs the bundled rule file (--rules-default)")
    doc = json.loads(Path(source).read_text(encoding="utf-8"))
    for patch in exp["rules_patch"]:
        json_pointer_set(doc, patch["path"], patch["value"])
    out = workdir / f"{scenario.id}.rules.json"
    out.write_text(json.dumps(doc, indent=1), encoding="utf-8")
    return out


def run_evaluate(binary: str, request_path: Path, now: str, rules: Path | None = None,
                 timeout: float = 60.0, history: Path | None = None) -> RunResult:
    cmd = [binary, "evaluate", str(request_path), "--now", now]
    if rules is not None:
        cmd += ["--rules", str(rules)]
    if history is not None:
        cmd += ["--history", str(history)]
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        return RunResult(-1, "", "", parse_error=f"timed out after {timeout:.0f} s: {' '.join(cmd)}")
    result = RunResult(proc.returncode, proc.stdout, proc.stderr)
    if proc.returncode == 0:
        try:
            result.response = json.loads(proc.stdout)
        except json.JSONDecodeError as exc:
            result.parse_error = f"stdout is not JSON ({exc}); first 300 chars: {proc.stdout[:300]!r}"
    return result


HISTORY_FILE = "history.json"


def history_file(scenario: Scenario) -> Path | None:
    """The scenario's earlier feedback (fixtures/scenarios/README.md), replayed by `evaluate
    --history` through the service's own snoozing; None when it has none."""
    path = scenario.folder / HISTORY_FILE
    return path if path.is_file() else None


def unexpected_files(scenario: Scenario) -> list[str]:
    """Files of a scenario folder that nothing reads: a misspelt history.json would otherwise
    be ignored and its case run without the feedback it states."""
    known = {"request.json", "expected.json", HISTORY_FILE}
    if isinstance(scenario.expected.get("rules"), str):
        known.add(scenario.expected["rules"])
    path = history_file(scenario)
    if path is not None:
        try:
            history = json.loads(path.read_text(encoding="utf-8"))
            for entry in history.get("feedback", []) if isinstance(history, dict) else []:
                if isinstance(entry, dict) and isinstance(entry.get("request"), str):
                    known.add(entry["request"])
        except (OSError, json.JSONDecodeError):
            pass   # `evaluate --history` names what is wrong with it
    return sorted(p.name for p in scenario.folder.iterdir() if p.name not in known)


def run_scenario(binary: str, scenario: Scenario, default_rules: Path | None, workdir: Path) -> RunResult:
    rules = rules_file_for(scenario, default_rules, workdir)
    return run_evaluate(binary, scenario.folder / "request.json", scenario.now, rules,
                        history=history_file(scenario))


# ------------------------------------------------------------------------------------ FHIR helpers
_DT_RE = re.compile(r"^(\d{4})(?:-(\d{2})(?:-(\d{2})(?:T(\d{2}):(\d{2})(?::(\d{2})(?:\.(\d+))?)?"
                    r"(Z|[+-]\d{2}:\d{2})?)?)?)?$")


def parse_fhir_datetime(text: str) -> datetime:
    """FHIR date/dateTime/instant at any precision; a partial date is taken at its start (UTC)."""
    m = _DT_RE.match(text or "")
    if not m:
        raise ValueError(f"not a FHIR dateTime: {text!r}")
    year, month, day, hh, mm, ss, frac, tz = m.groups()
    dt = datetime(int(year), int(month or 1), int(day or 1), int(hh or 0), int(mm or 0), int(ss or 0),
                  int((frac or "0")[:6].ljust(6, "0")), tzinfo=timezone.utc)
    if tz and tz != "Z":
        sign = 1 if tz[0] == "+" else -1
        offset = timedelta(hours=int(tz[1:3]), minutes=int(tz[4:6]))
        dt = dt - sign * offset
    return dt


_DUR_RE = re.compile(r"^P(?:(\d+(?:\.\d+)?)D)?(?:T(?:(\d+(?:\.\d+)?)H)?(?:(\d+(?:\.\d+)?)M)?)?$")


def parse_duration(text: str) -> timedelta:
    m = _DUR_RE.match(text)
    if not m or text in ("P", "PT"):
        raise ValueError(f"not an ISO 8601 duration (PnD / PTnH / PTnM): {text!r}")
    d, h, mi = (float(x) if x else 0.0 for x in m.groups())
    return timedelta(days=d, hours=h, minutes=mi)


MASS_TO_MG = {"kg": 1e6, "g": 1000.0, "mg": 1.0, "ug": 1e-3, "mcg": 1e-3, "µg": 1e-3}
TIME_TO_MIN = {"s": 1 / 60, "sec": 1 / 60, "min": 1.0, "h": 60.0, "hr": 60.0, "hour": 60.0, "d": 1440.0}


def quantity_unit(q: dict) -> str:
    return str(q.get("code") or q.get("unit") or "").strip()


def mass_mg(q: dict | None) -> float | None:
    if not isinstance(q, dict) or not isinstance(q.get("value"), (int, float)):
        return None
    factor = MASS_TO_MG.get(quantity_unit(q).lower())
    return None if factor is None else q["value"] * factor


def rate_mg_per_min(q: dict | None) -> float | None:
    """A rateQuantity like 12 g/h -> mg/min; None for volume rates (mL/h) or unknown units."""
    if not isinstance(q, dict) or not isinstance(q.get("value"), (int, float)):
        return None
    unit = quantity_unit(q).lower()
    if "/" not in unit:
        return None
    mass, per = unit.split("/", 1)
    if mass not in MASS_TO_MG or per not in TIME_TO_MIN:
        return None
    return q["value"] * MASS_TO_MG[mass] / TIME_TO_MIN[per]


def ratio_mg_per_min(r: dict | None) -> float | None:
    if not isinstance(r, dict):
        return None
    num = mass_mg(r.get("numerator"))
    den = r.get("denominator") or {}
    den_unit = quantity_unit(den).lower()
    if num is None or den_unit not in TIME_TO_MIN:
        return None
    minutes = (den.get("value", 1) or 1) * TIME_TO_MIN[den_unit]
    return num / minutes


def first_dosage(resource: dict) -> dict:
    dosages = resource.get("dosageInstruction")
    return dosages[0] if isinstance(dosages, list) and dosages and isinstance(dosages[0], dict) else {}


def dose_quantity(dosage: dict) -> dict | None:
    for dr in dosage.get("doseAndRate", []) or []:
        if isinstance(dr, dict) and isinstance(dr.get("doseQuantity"), dict):
            return dr["doseQuantity"]
    return dosage.get("doseQuantity") if isinstance(dosage.get("doseQuantity"), dict) else None


def infusion_rate(dosage: dict) -> float | None:
    """mg/min from a mass rate, a rate ratio, or a dose and an infusion duration."""
    for dr in dosage.get("doseAndRate", []) or []:
        if not isinstance(dr, dict):
            continue
        rate = rate_mg_per_min(dr.get("rateQuantity"))
        if rate is None:
            rate = ratio_mg_per_min(dr.get("rateRatio"))
        if rate is not None:
            return rate
    minutes = infusion_minutes_from_timing(dosage)
    dose = mass_mg(dose_quantity(dosage))
    if minutes and dose is not None:
        return dose / minutes
    return None


def infusion_minutes_from_timing(dosage: dict) -> float | None:
    rep = (dosage.get("timing") or {}).get("repeat") or {}
    if isinstance(rep.get("duration"), (int, float)):
        unit = str(rep.get("durationUnit", "min")).lower()
        if unit in TIME_TO_MIN:
            return rep["duration"] * TIME_TO_MIN[unit]
    return None


def infusion_minutes(dosage: dict) -> float | None:
    minutes = infusion_minutes_from_timing(dosage)
    if minutes is not None:
        return minutes
    dose = mass_mg(dose_quantity(dosage))
    rate = infusion_rate(dosage)
    if dose is not None and rate:
        return dose / rate
    return None


GTS_PER_DAY = {"QD": 1, "BID": 2, "TID": 3, "QID": 4, "QOD": 0.5, "Q12H": 2, "Q8H": 3, "Q6H": 4, "Q4H": 6}
PERIOD_DAYS = {"s": 1 / 86400, "min": 1 / 1440, "h": 1 / 24, "d": 1, "wk": 7, "mo": 30, "a": 365}


def frequency_per_day(dosage: dict) -> float | None:
    timing = dosage.get("timing") or {}
    rep = timing.get("repeat") or {}
    if "frequency" in rep or "period" in rep:
        freq = rep.get("frequency", 1)
        period = rep.get("period", 1)
        unit_days = PERIOD_DAYS.get(rep.get("periodUnit", "d"))
        if unit_days and period:
            return freq / (period * unit_days)
    if isinstance(rep.get("when"), list) and rep["when"]:
        return float(len(rep["when"]))
    if isinstance(rep.get("timeOfDay"), list) and rep["timeOfDay"]:
        return float(len(rep["timeOfDay"]))
    for c in (timing.get("code") or {}).get("coding", []) or []:
        if c.get("code") in GTS_PER_DAY:
            return float(GTS_PER_DAY[c["code"]])
    return None


def concept_of(resource: dict) -> dict:
    """The coded thing a created resource is about: medication (incl. contained) or code."""
    if resource.get("resourceType") in ("MedicationRequest", "MedicationStatement"):
        if isinstance(resource.get("medicationCodeableConcept"), dict):
            return resource["medicationCodeableConcept"]
        ref = (resource.get("medicationReference") or {}).get("reference", "")
        if ref.startswith("#"):
            for c in resource.get("contained", []) or []:
                if c.get("id") == ref[1:]:
                    return c.get("code") or {}
        return {}
    return resource.get("code") if isinstance(resource.get("code"), dict) else {}


def codes_of(resource: dict) -> set[str]:
    out = set()
    for c in concept_of(resource).get("coding", []) or []:
        if isinstance(c, dict) and c.get("code"):
            out.add(str(c["code"]))
            out.add(f"{c.get('system', '')}|{c['code']}")
    return out


def concept_text(resource: dict) -> str:
    cc = concept_of(resource)
    parts = [cc.get("text", "")] + [c.get("display", "") for c in cc.get("coding", []) or [] if isinstance(c, dict)]
    return " ".join(p for p in parts if isinstance(p, str)).lower()


def route_strings(dosage: dict) -> list[str]:
    route = dosage.get("route") or {}
    out = [str(route.get("text", ""))]
    for c in route.get("coding", []) or []:
        out += [str(c.get("code", "")), str(c.get("display", ""))]
    return [s.lower() for s in out if s]


# ------------------------------------------------------------------------------------ matching
def lower_list(v: Any) -> list[str]:
    if v is None:
        return []
    return [str(x).lower() for x in (v if isinstance(v, list) else [v])]


def bipartite(expectations: list, items: list, check) -> tuple[bool, list[str]]:
    """Match every expectation to a distinct item (Kuhn's algorithm). Returns (ok, reasons)."""
    reasons = [[check(e, it) for it in items] for e in expectations]
    ok_matrix = [[not r for r in row] for row in reasons]
    owner = [-1] * len(items)

    def augment(i: int, seen: list[bool]) -> bool:
        for j in range(len(items)):
            if ok_matrix[i][j] and not seen[j]:
                seen[j] = True
                if owner[j] == -1 or augment(owner[j], seen):
                    owner[j] = i
                    return True
        return False

    unmatched = [i for i in range(len(expectations)) if not augment(i, [False] * len(items))]
    if not unmatched:
        return True, []
    out = []
    for i in unmatched:
        if not items:
            out.append(f"expectation #{i + 1}: nothing to match")
            continue
        detail = "; ".join(f"[#{j + 1}: {' / '.join(r) if r else 'matches, but is taken by another expectation'}]"
                           for j, r in enumerate(reasons[i]))
        out.append(f"expectation #{i + 1} matched none: {detail}")
    return False, out


def check_action(exp: dict, action: dict, now: datetime) -> list[str]:
    r: list[str] = []
    if "type" in exp and action.get("type") != exp["type"]:
        return [f"type {action.get('type')!r} != {exp['type']!r}"]
    if "resource_id" in exp:
        ids = action.get("resourceId")
        ids = ids if isinstance(ids, list) else [ids]
        if exp["resource_id"] not in ids:
            r.append(f"resourceId {action.get('resourceId')!r} lacks {exp['resource_id']!r}")
    resource = action.get("resource") if isinstance(action.get("resource"), dict) else {}
    if "resource_type" in exp and resource.get("resourceType") != exp["resource_type"]:
        return r + [f"resourceType {resource.get('resourceType')!r} != {exp['resource_type']!r}"]
    codes = codes_of(resource)
    for code in exp.get("codes", []):
        if code not in codes:
            r.append(f"code {code} missing (has {sorted(c for c in codes if '|' not in c)})")
    if exp.get("codes_any") and not any(c in codes for c in exp["codes_any"]):
        r.append(f"none of codes {exp['codes_any']} (has {sorted(c for c in codes if '|' not in c)})")
    text = concept_text(resource)
    for t in lower_list(exp.get("text_contains")):
        if t not in text:
            r.append(f"text {text!r} lacks {t!r}")
    if exp.get("text_contains_any") and not any(t in text for t in lower_list(exp["text_contains_any"])):
        r.append(f"text {text!r} has none of {exp['text_contains_any']}")
    dosage = first_dosage(resource)
    for t in lower_list(exp.get("dosage_text_contains")):
        if t not in str(dosage.get("text", "")).lower():
            r.append(f"dosage text {dosage.get('text')!r} lacks {t!r}")
    if "route" in exp:
        want = str(exp["route"]).lower()
        routes = route_strings(dosage)
        if not any(want == s or want in s for s in routes):
            r.append(f"route {routes} is not {want!r}")
    if "dose" in exp:
        q = dose_quantity(dosage)
        want = exp["dose"]
        got_mg, want_mg = mass_mg(q), mass_mg(want)
        if q is None:
            r.append("no structured doseQuantity")
        elif got_mg is not None and want_mg is not None:
            if not math.isclose(got_mg, want_mg, rel_tol=1e-6):
                r.append(f"dose {q.get('value')} {quantity_unit(q)} != {want['value']} {want['unit']}")
        elif not (q.get("value") == want["value"] and quantity_unit(q).lower() == want["unit"].lower()):
            r.append(f"dose {q.get('value')} {quantity_unit(q)} != {want['value']} {want['unit']}")
    if "frequency_per_day" in exp:
        f = frequency_per_day(dosage)
        if f is None or not math.isclose(f, exp["frequency_per_day"], rel_tol=1e-6):
            r.append(f"frequency per day {f} != {exp['frequency_per_day']}")
    if exp.get("at_bedtime"):
        rep = (dosage.get("timing") or {}).get("repeat") or {}
        tcode = [c.get("code") for c in ((dosage.get("timing") or {}).get("code") or {}).get("coding", []) or []]
        dtext = str(dosage.get("text", "")).lower()
        if not ("HS" in (rep.get("when") or []) or "HS" in tcode or "bedtime" in dtext or "night" in dtext):
            r.append(f"not at bedtime (timing {dosage.get('timing')}, text {dosage.get('text')!r})")
    if "infusion_minutes" in exp:
        m = infusion_minutes(dosage)
        if m is None or abs(m - exp["infusion_minutes"]) > 0.5:
            r.append(f"infusion time {m} min != {exp['infusion_minutes']} min")
    if "max_rate_mg_per_min" in exp:
        rate = infusion_rate(dosage)
        if rate is None:
            r.append("infusion rate not computable (needs a mass rate, or a dose and an infusion duration)")
        elif rate > exp["max_rate_mg_per_min"] + 1e-9:
            r.append(f"rate {rate:.1f} mg/min > {exp['max_rate_mg_per_min']}")
    if "occurrence_after_now" in exp:
        want = parse_duration(exp["occurrence_after_now"])
        tol = parse_duration(exp["occurrence_tolerance"]) if "occurrence_tolerance" in exp else \
            (timedelta(hours=23, minutes=59) if want >= timedelta(days=1) else timedelta(hours=1))
        occ = resource.get("occurrenceDateTime")
        if not isinstance(occ, str):
            period = resource.get("occurrencePeriod") or {}
            occ = period.get("start")
        try:
            got = parse_fhir_datetime(occ) - now if isinstance(occ, str) else None
        except ValueError:
            got = None
        if got is None:
            r.append(f"no parseable occurrenceDateTime ({occ!r})")
        elif abs(got - want) > tol:
            r.append(f"occurrence {occ} is now+{got} not now+{want} (tolerance {tol})")
    return r


def suggestion_text(sug: dict) -> str:
    parts = [str(sug.get("label", ""))] + [str(a.get("description", "")) for a in sug.get("actions", []) or []
                                            if isinstance(a, dict)]
    return " ".join(parts).lower()


def check_suggestion(exp: dict, sug: dict, now: datetime) -> list[str]:
    r: list[str] = []
    label = str(sug.get("label", "")).lower()
    for t in lower_list(exp.get("label_contains")):
        if t not in label:
            r.append(f"label {sug.get('label')!r} lacks {t!r}")
    text = suggestion_text(sug)
    for t in lower_list(exp.get("text_contains")):
        if t not in text:
            r.append(f"label/descriptions lack {t!r}")
    if "is_recommended" in exp and bool(sug.get("isRecommended", False)) != exp["is_recommended"]:
        r.append(f"isRecommended {sug.get('isRecommended')} != {exp['is_recommended']}")
    actions = [a for a in sug.get("actions", []) or [] if isinstance(a, dict)]
    if "action_count" in exp and len(actions) != exp["action_count"]:
        r.append(f"{len(actions)} actions, expected {exp['action_count']}")
    if exp.get("actions"):
        ok, why = bipartite(exp["actions"], actions, lambda e, a: check_action(e, a, now))
        if not ok:
            r.append("actions: " + " | ".join(why))
    return r


def created_resources(card: dict) -> list[dict]:
    out = []
    for sug in card.get("suggestions", []) or []:
        for act in sug.get("actions", []) or []:
            if isinstance(act, dict) and act.get("type") in ("create", "update") and isinstance(act.get("resource"), dict):
                out.append(act["resource"])
    return out


def card_text(card: dict) -> str:
    return (str(card.get("summary", "")) + "\n" + str(card.get("detail", ""))).lower()


def check_card(exp: dict, card: dict, now: datetime) -> list[str]:
    r: list[str] = []
    if "indicator" in exp and card.get("indicator") != exp["indicator"]:
        return [f"indicator {card.get('indicator')!r} != {exp['indicator']!r} (summary {card.get('summary')!r})"]
    summary = str(card.get("summary", "")).lower()
    detail = str(card.get("detail", "")).lower()
    text = card_text(card)
    for t in lower_list(exp.get("summary_contains")):
        if t not in summary:
            r.append(f"summary {card.get('summary')!r} lacks {t!r}")
    for t in lower_list(exp.get("summary_not_contains")):
        if t in summary:
            r.append(f"summary {card.get('summary')!r} contains {t!r}")
    for t in lower_list(exp.get("detail_contains")):
        if t not in detail:
            r.append(f"detail lacks {t!r}")
    if exp.get("detail_contains_any") and not any(t in detail for t in lower_list(exp["detail_contains_any"])):
        r.append(f"detail has none of {exp['detail_contains_any']}")
    for t in lower_list(exp.get("detail_not_contains")):
        if t in detail:
            r.append(f"detail contains {t!r}")
    for t in lower_list(exp.get("text_contains")):
        if t not in text:
            r.append(f"summary+detail lack {t!r}")
    if exp.get("text_contains_any") and not any(t in text for t in lower_list(exp["text_contains_any"])):
        r.append(f"summary+detail have none of {exp['text_contains_any']}")
    for t in lower_list(exp.get("text_not_contains")):
        if t in text:
            r.append(f"summary+detail contain {t!r}")
    for t in lower_list(exp.get("source_label_contains")):
        if t not in str((card.get("source") or {}).get("label", "")).lower():
            r.append(f"source.label lacks {t!r}")
    if "rule" in exp and ((card.get("source") or {}).get("topic") or {}).get("code") != exp["rule"]:
        r.append(f"source.topic.code {((card.get('source') or {}).get('topic') or {}).get('code')!r} != {exp['rule']!r}")
    reasons = " | ".join(str(o.get("display", "")) for o in card.get("overrideReasons", []) or [] if isinstance(o, dict)).lower()
    for t in lower_list(exp.get("override_reasons_contain")):
        if t not in reasons:
            r.append(f"overrideReasons ({reasons}) lack {t!r}")
    suggestions = [s for s in card.get("suggestions", []) or [] if isinstance(s, dict)]
    if "selection_behavior" in exp and card.get("selectionBehavior") != exp["selection_behavior"]:
        r.append(f"selectionBehavior {card.get('selectionBehavior')!r} != {exp['selection_behavior']!r}")
    if "suggestion_count" in exp and len(suggestions) != exp["suggestion_count"]:
        r.append(f"{len(suggestions)} suggestions, expected {exp['suggestion_count']}")
    if exp.get("no_suggestions") and suggestions:
        r.append(f"has {len(suggestions)} suggestions, expected none")
    if exp.get("suggestions"):
        ok, why = bipartite(exp["suggestions"], suggestions, lambda e, s: check_suggestion(e, s, now))
        if not ok:
            r.append("suggestions: " + " || ".join(why))
    all_actions = [a for s in suggestions for a in s.get("actions", []) or [] if isinstance(a, dict)]
    for i, act_exp in enumerate(exp.get("any_action", [])):
        if not any(not check_action(act_exp, a, now) for a in all_actions):
            r.append(f"any_action[{i}] ({act_exp.get('resource_type')} {act_exp.get('codes_any') or act_exp.get('codes')}) "
                     f"found in no suggestion")
    banned = set(exp.get("no_suggestion_codes", []))
    for res in created_resources(card):
        hit = banned & codes_of(res)
        if hit:
            r.append(f"suggests {res.get('resourceType')} with forbidden code(s) {sorted(hit)}")
    return r


# ------------------------------------------------------------------------------------ invariants
def _walk_empty(value: Any, path: str, out: list[str]) -> None:
    if value is None:
        out.append(f"{path} is null")
    elif isinstance(value, str) and value == "":
        out.append(f"{path} is an empty string")
    elif isinstance(value, list):
        if not value:
            out.append(f"{path} is an empty array")
        for i, v in enumerate(value):
            _walk_empty(v, f"{path}[{i}]", out)
    elif isinstance(value, dict):
        if not value:
            out.append(f"{path} is an empty object")
        for k, v in value.items():
            _walk_empty(v, f"{path}.{k}", out)


def order_signature(res: dict) -> tuple:
    dose = dose_quantity(first_dosage(res))
    dose_key = mass_mg(dose) if dose else None
    return (res.get("resourceType"), tuple(sorted(c for c in codes_of(res) if "|" not in c)), dose_key)


_PLACEHOLDER_RE = re.compile(r"\{(ruleSetId|ruleSetVersion|rules:(/[^}]*))\}")


def _pointer_get(doc: Any, pointer: str) -> Any:
    node = doc
    for part in (p.replace("~1", "/").replace("~0", "~") for p in pointer.lstrip("/").split("/")):
        node = node[int(part)] if isinstance(node, list) else node[part]
    return node


def expand_placeholders(value: Any, rules_path: Path | None) -> Any:
    """{ruleSetId}, {ruleSetVersion} and {rules:/json/pointer} in expected text, taken from the
    rule file under test (fixtures/scenarios/README.md)."""
    if isinstance(value, dict):
        return {k: expand_placeholders(v, rules_path) for k, v in value.items()}
    if isinstance(value, list):
        return [expand_placeholders(v, rules_path) for v in value]
    if not isinstance(value, str) or "{" not in value or rules_path is None:
        return value
    doc = json.loads(Path(rules_path).read_text(encoding="utf-8"))

    def one(m: re.Match) -> str:
        if m.group(1) == "ruleSetId":
            return str(doc.get("id"))
        if m.group(1) == "ruleSetVersion":
            return str(doc.get("version"))
        try:
            found = _pointer_get(doc, m.group(2))
        except (KeyError, IndexError, ValueError):
            return m.group(0)
        return format(found, "g") if isinstance(found, float) else str(found)
    return _PLACEHOLDER_RE.sub(one, value)


def rule_set_identity(rules_path: Path | None) -> tuple[str, str] | None:
    """(id, version) of a rule file, which §5 wants in every card's source.topic and extension."""
    if rules_path is None or not Path(rules_path).is_file():
        return None
    try:
        doc = json.loads(Path(rules_path).read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError):
        return None
    if isinstance(doc.get("id"), str) and isinstance(doc.get("version"), str):
        return doc["id"], doc["version"]
    return None


def invariants(response: dict, request: dict, rules_identity: tuple[str, str] | None = None) -> list[str]:
    """CDS Hooks 2.0 and CLINICAL-BASIS.md §3/§5 properties every response must have."""
    r: list[str] = []
    cards = response.get("cards")
    if not isinstance(cards, list):
        return ["response has no 'cards' array"]
    for i, card in enumerate(cards):
        _walk_empty(card, f"cards[{i}]", r)
    ctx = request.get("context", {})
    patient_ref = f"Patient/{ctx.get('patientId')}"
    seen_uuids: set[str] = set()
    signatures: dict[tuple, int] = {}
    for i, card in enumerate(cards):
        where = f"cards[{i}]"
        if not isinstance(card, dict):
            r.append(f"{where} is not an object")
            continue
        summary = card.get("summary")
        if not isinstance(summary, str) or not summary:
            r.append(f"{where}.summary missing")
        elif len(summary) >= 140:
            r.append(f"{where}.summary has {len(summary)} characters (must be < 140)")
        if card.get("indicator") not in INDICATORS:
            r.append(f"{where}.indicator {card.get('indicator')!r} invalid")
        source = card.get("source") or {}
        if not isinstance(source.get("label"), str):
            r.append(f"{where}.source.label missing")
        if not isinstance(source.get("url"), str) or not isinstance((source.get("topic") or {}).get("code"), str):
            r.append(f"{where}.source needs the rule documentation url and a coded topic (§5)")
        if not card.get("overrideReasons"):
            r.append(f"{where}.overrideReasons missing (§5)")
        for uid in [card.get("uuid")] + [s.get("uuid") for s in card.get("suggestions", []) or [] if isinstance(s, dict)]:
            if not isinstance(uid, str) or not UUID_RE.match(uid):
                r.append(f"{where}: uuid {uid!r} is not an RFC 4122 uuid")
            elif uid in seen_uuids:
                r.append(f"{where}: uuid {uid} used twice in one response")
            else:
                seen_uuids.add(uid)
        for k, reason in enumerate(card.get("overrideReasons", []) or []):
            if not (isinstance(reason, dict) and reason.get("code") and reason.get("display")):
                r.append(f"{where}.overrideReasons[{k}] is not a Coding with code and display")
        suggestions = card.get("suggestions") or []
        if suggestions and card.get("selectionBehavior") not in ("at-most-one", "any"):
            r.append(f"{where}: suggestions without a valid selectionBehavior")
        for j, sug in enumerate(suggestions):
            swhere = f"{where}.suggestions[{j}]"
            if not isinstance(sug.get("label"), str):
                r.append(f"{swhere}.label missing")
            for k, act in enumerate(sug.get("actions", []) or []):
                awhere = f"{swhere}.actions[{k}]"
                if act.get("type") not in ("create", "update", "delete"):
                    r.append(f"{awhere}.type {act.get('type')!r} invalid")
                if not isinstance(act.get("description"), str):
                    r.append(f"{awhere}.description missing")
                if act.get("type") == "delete" and not act.get("resourceId"):
                    r.append(f"{awhere}: delete without resourceId")
                if act.get("type") in ("create", "update"):
                    res = act.get("resource")
                    if not isinstance(res, dict):
                        r.append(f"{awhere}: {act.get('type')} without a resource")
                        continue
                    r += resource_invariants(res, awhere, patient_ref, ctx, act.get("type") == "create")
                    if act.get("type") == "create":
                        sig = order_signature(res)
                        if sig in signatures and signatures[sig] != i:
                            r.append(f"{awhere}: cards[{signatures[sig]}] already suggests the same order {sig} (§5)")
                        signatures.setdefault(sig, i)
    return r


def resource_invariants(res: dict, where: str, patient_ref: str, ctx: dict, created: bool = True) -> list[str]:
    """A created order in full; an update carries the prescriber's draft in its entirety (CDS Hooks
    2.0), so only what makes it this patient's draft order is checked."""
    r: list[str] = []
    rtype = res.get("resourceType")
    if rtype in ("MedicationRequest", "ServiceRequest"):
        if res.get("status") != "draft":
            r.append(f"{where}: {rtype}.status {res.get('status')!r} != 'draft'")
        if res.get("intent") != "order":
            r.append(f"{where}: {rtype}.intent {res.get('intent')!r} != 'order'")
        if (res.get("subject") or {}).get("reference") != patient_ref:
            r.append(f"{where}: {rtype}.subject {res.get('subject')} != {patient_ref}")
    if not created:
        return r
    if rtype in ("MedicationRequest", "ServiceRequest"):
        if ctx.get("encounterId") and (res.get("encounter") or {}).get("reference") != f"Encounter/{ctx['encounterId']}":
            r.append(f"{where}: {rtype}.encounter {res.get('encounter')} != Encounter/{ctx['encounterId']}")
        if ctx.get("userId") and (res.get("requester") or {}).get("reference") != ctx["userId"]:
            r.append(f"{where}: {rtype}.requester {res.get('requester')} != {ctx['userId']}")
    if rtype == "MedicationRequest":
        mcc = res.get("medicationCodeableConcept") or {}
        if not mcc.get("text") or not ((mcc.get("coding") or [{}])[0].get("code")):
            r.append(f"{where}: MedicationRequest needs medicationCodeableConcept.text and coding[0].code")
        dosage = first_dosage(res)
        if not dosage.get("text"):
            r.append(f"{where}: MedicationRequest needs dosageInstruction[0].text")
        if dose_quantity(dosage) is None:
            r.append(f"{where}: MedicationRequest needs a structured dose")
        if not dosage.get("route"):
            r.append(f"{where}: MedicationRequest needs a route")
    # A verified code where one exists, else the text alone (CLINICAL-BASIS.md §3.4: a digoxin level).
    if rtype == "ServiceRequest" and not ((res.get("code") or {}).get("coding") or (res.get("code") or {}).get("text")):
        r.append(f"{where}: ServiceRequest needs a code (coded, or text where no verified code exists)")
    return r


# ------------------------------------------------------------------------------------ scenario check
def check_scenario(scenario: Scenario, result: RunResult, rules_identity: tuple[str, str] | None = None) -> list[str]:
    exp = scenario.expected
    problems = validate_expected(exp)
    if problems:
        return ["fixture error: " + p for p in problems]
    stray = unexpected_files(scenario) if (scenario.folder / "expected.json").is_file() else []
    if stray:
        return [f"fixture error: file(s) {stray} in the scenario folder are read by nothing (a scenario folder holds "
                f"request.json, expected.json, optionally history.json and the files they name)"]
    if "error" in exp:
        output = result.stdout + result.stderr
        r = []
        if result.exit_code == 0:
            r.append(f"expected a refused request (non-zero exit), got exit 0: {result.stdout[:300]!r}")
        for t in exp["error"].get("output_contains", []):
            if t not in output:
                r.append(f"error output lacks {t!r}: {output[:300]!r}")
        return r
    if result.exit_code != 0:
        if "--history" in result.stderr:
            return ["history.json: " + result.stderr.strip().replace("\n", "\n       ")[:1500]]
        return [f"exit status {result.exit_code}; stderr: {result.stderr[:600]!r}; stdout: {result.stdout[:300]!r}"]
    if result.parse_error:
        return [result.parse_error]
    response = result.response or {}
    now = parse_fhir_datetime(scenario.now)
    r = invariants(response, scenario.request, rules_identity)
    r += card_checker.check_cards(response, scenario.request, rules_identity, now)
    cards = [c for c in response.get("cards", []) if isinstance(c, dict)]
    if exp["cards"] == "none":
        if cards:
            r.append("expected no card, got: " + "; ".join(f"{c.get('indicator')}: {c.get('summary')!r}" for c in cards))
        return r
    want = exp.get("card_count", len(exp["cards"]))
    if len(cards) != want:
        r.append(f"{len(cards)} cards, expected {want}: " +
                 "; ".join(f"{c.get('indicator')}: {c.get('summary')!r}" for c in cards))
    ok, why = bipartite(exp["cards"], cards, lambda e, c: check_card(e, c, now))
    if not ok:
        r += ["cards: " + w for w in why]
    for cs in exp.get("cards_suggesting", []):
        n = sum(1 for c in cards if any(set(cs["codes_any"]) & codes_of(res) for res in created_resources(c)))
        if n != cs["count"]:
            r.append(f"{n} cards suggest one of {cs['codes_any']}, expected {cs['count']}")
    banned = set(exp.get("no_suggestion_codes", []))
    for c in cards:
        for res in created_resources(c):
            if banned & codes_of(res):
                r.append(f"a card suggests forbidden code(s) {sorted(banned & codes_of(res))}")
    return r


def normalise_uuids(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: normalise_uuids(v) for k, v in value.items()}
    if isinstance(value, list):
        return [normalise_uuids(v) for v in value]
    if isinstance(value, str):
        return re.sub(r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}", "<uuid>", value)
    return value


def collect_uuids(response: dict) -> list[str]:
    out = []
    for card in response.get("cards", []) or []:
        out.append(card.get("uuid"))
        out += [s.get("uuid") for s in card.get("suggestions", []) or []]
    return [u for u in out if isinstance(u, str)]


def temp_workdir() -> tempfile.TemporaryDirectory:
    return tempfile.TemporaryDirectory(prefix="cds-scenarios-")


def describe_binary_problem(binary: str) -> str | None:
    if not binary or not os.path.isfile(binary):
        return f"magnesium-cds binary not found at {binary!r} (build the magnesium-cds target)"
    if not os.access(binary, os.X_OK):
        return f"{binary} is not executable"
    return None
