"""Card checker: what a prescriber reads must pass CLINICAL-BASIS.md §3.1 and §5, on every card
of every scenario response.

Failing checks (`check_cards`): summary under 140 characters and not cut ("..."); no ISO-8601
timestamps or dates, FHIR references or ids of resources in the request, rule ids or UCUM
annotations in braces or UCUM atoms ([lb_av]) in summary or detail; detail at most 80 words; no sentence repeated on
two cards of one response (one card per problem); the rule set's id and version in
`source.topic` and the card extension, not in the text. That no two cards suggest the same order
is checked with the orders (scenario_lib.check_response).

Failing order checks (`order_problems`, §3.1/§3.4): a created or updated MedicationRequest without
product text, dose, route, timing or duration (IV: volume, pump rate in mL/h, infusion time), or one
that contradicts itself (a product naming another amount than the dose without a tablet count, a
dosage text stating another dose or pump rate, a volume that does not run in its minutes at its
mL/h); a rationale in dosageInstruction.text; a label that omits an order its suggestion creates or removes; a
warning/critical card without a suggestion outside the listed exceptions.
"""
from __future__ import annotations

import re
from datetime import datetime, timezone
from typing import Any, Iterable

MAX_SUMMARY = 139
MAX_DETAIL_WORDS = 80
ISO_RE = re.compile(r"\b\d{4}-\d{2}-\d{2}(?:T\d{2}:\d{2}(?::\d{2}(?:\.\d+)?)?(?:Z|[+-]\d{2}:\d{2})?)?\b")
REFERENCE_RE = re.compile(r"\b(?:[A-Z][A-Za-z]+)/[A-Za-z0-9\-.]{1,64}\b")
FHIR_TYPES = ("Observation", "MedicationRequest", "MedicationStatement", "Medication", "Condition", "Patient",
              "Encounter", "Practitioner", "ServiceRequest", "Bundle", "AllergyIntolerance")
ANNOTATION_RE = re.compile(r"\{[^{}\s]*\}")
# A customary unit's UCUM atom ("[lb_av]", "[in_i]"), which a prescriber writes as "lb", "in".
UCUM_ATOM_RE = re.compile(r"\[[A-Za-z]+_[A-Za-z]+\]")
SENTENCE_SPLIT_RE = re.compile(r"(?<=[.!?])\s+|\n+")


def _words(text: str) -> int:
    return len([w for w in re.split(r"\s+", text) if re.search(r"\w", w)])


def _plain(markdown: str) -> str:
    return re.sub(r"[*_`]", "", markdown)


def request_ids(request: dict) -> set[str]:
    """Ids of the resources the request carries (prefetch and draft orders), at least 4 characters."""
    ids: set[str] = set()

    def walk(node: Any) -> None:
        if isinstance(node, dict):
            if isinstance(node.get("resourceType"), str) and isinstance(node.get("id"), str) and len(node["id"]) >= 4:
                ids.add(node["id"])
            for v in node.values():
                walk(v)
        elif isinstance(node, list):
            for v in node:
                walk(v)

    walk(request.get("prefetch", {}))
    walk(request.get("context", {}))
    return ids


def rule_ids(response: dict) -> set[str]:
    """The rule ids the response's cards carry in source.topic: none may appear in card text."""
    return {str(((c.get("source") or {}).get("topic") or {}).get("code"))
            for c in response.get("cards", []) or [] if isinstance(c, dict)} - {"None"}


def text_problems(text: str, where: str, ids: Iterable[str], rules: Iterable[str]) -> list[str]:
    r = []
    if m := ISO_RE.search(text):
        r.append(f"{where} has an ISO-8601 timestamp {m.group(0)!r} (§5: a human-readable date)")
    for m in REFERENCE_RE.finditer(text):
        if m.group(0).split("/")[0] in FHIR_TYPES:
            r.append(f"{where} has a FHIR reference {m.group(0)!r} (§5)")
            break
    for rid in ids:
        if re.search(r"(?<![\w-])" + re.escape(rid) + r"(?![\w-])", text):
            r.append(f"{where} names the resource id {rid!r} from the request (§5)")
            break
    for rule in rules:
        # A one-word rule id ("hypomagnesemia") is also the clinical word; hyphenated ids are not.
        if "-" in rule and re.search(r"(?<![\w-])" + re.escape(rule) + r"(?![\w-])", text):
            r.append(f"{where} names the rule id {rule!r} (§5: it belongs in source.topic)")
            break
    if m := ANNOTATION_RE.search(text):
        r.append(f"{where} has a UCUM annotation {m.group(0)!r} (§5: write mL/min/1.73 m²)")
    if m := UCUM_ATOM_RE.search(text):
        r.append(f"{where} has a UCUM atom {m.group(0)!r} (§5: write the unit in words, e.g. lb)")
    return r


def sentences(detail: str) -> list[str]:
    out = []
    for s in SENTENCE_SPLIT_RE.split(_plain(detail)):
        s = s.strip()
        if _words(s) >= 4:  # short fragments ("Kidney function: normal.") may recur
            out.append(s)
    return out


def check_cards(response: dict, request: dict, rules_identity: tuple[str, str] | None = None,
                now: datetime | None = None) -> list[str]:
    """Failing problems of the cards' text (§5) and of their suggested orders (§3.1, §3.4)."""
    cards = [c for c in response.get("cards", []) or [] if isinstance(c, dict)]
    ids = request_ids(request)
    rules = rule_ids(response)
    r: list[str] = []
    seen: dict[str, int] = {}
    for i, card in enumerate(cards):
        where = f"cards[{i}]"
        summary = str(card.get("summary", ""))
        detail = str(card.get("detail", ""))
        if len(summary) > MAX_SUMMARY:
            r.append(f"{where}.summary has {len(summary)} characters (§5: under 140)")
        if summary.rstrip().endswith(("...", "…")):
            r.append(f"{where}.summary {summary!r} is cut (§5: whole words)")
        r += text_problems(summary, f"{where}.summary", ids, rules)
        r += text_problems(detail, f"{where}.detail", ids, rules)
        r += provenance_problems(card, where, rules_identity)
        if (n := _words(_plain(detail))) > MAX_DETAIL_WORDS:
            r.append(f"{where}.detail has {n} words (§5: at most {MAX_DETAIL_WORDS})")
        for s in sentences(detail):
            if s in seen and seen[s] != i:
                r.append(f"{where}.detail repeats a sentence of cards[{seen[s]}]: {s[:80]!r} (§5)")
            seen.setdefault(s, i)
    return r + order_problems(response, request, now)


def provenance_problems(card: dict, where: str, rules_identity: tuple[str, str] | None) -> list[str]:
    """§5: source.topic codes the rule with the rule-set version; the extension names the rule set
    and the resources the finding used."""
    r = []
    topic = (card.get("source") or {}).get("topic") or {}
    if not isinstance(topic.get("code"), str):
        r.append(f"{where}.source.topic has no rule code (§5)")
    # §5 source: the url is the service's page of the rule, never a placeholder host.
    url = (card.get("source") or {}).get("url")
    if not isinstance(url, str) or not url.endswith("/rules/" + str(topic.get("code"))) \
            or ".example.org" in url:
        r.append(f"{where}.source.url {url!r} is not the service's page of its rule (§5)")
    ext = (card.get("extension") or {}).get("magnesium-cds")
    if not isinstance(ext, dict):
        return r + [f"{where}.extension has no magnesium-cds provenance (§5)"]
    if not isinstance(ext.get("evidence"), list) or not all(
            isinstance(e, dict) and isinstance(e.get("reference"), str) for e in ext["evidence"]):
        r.append(f"{where}.extension.magnesium-cds.evidence is not a list of references (§5)")
    if rules_identity:
        set_id, version = rules_identity
        if topic.get("version") != version or ext.get("ruleSetVersion") != version:
            r.append(f"{where}: source.topic.version / extension ruleSetVersion is not the rule set's version {version} (§5)")
        if ext.get("ruleSetId") != set_id:
            r.append(f"{where}: extension ruleSetId is not {set_id!r} (§5)")
        for part in rules_identity:
            if re.search(r"(?<![\w.-])" + re.escape(part) + r"(?![\w-])", str(card.get("detail", ""))):
                r.append(f"{where}.detail names the rule set or its version {part!r} (§5: machine provenance)")
    return r


# ---------------------------------------------------------------- orders signable as written (§3.1)
RATIONALE_WORDS = ("because", "suitable only", "if the", "better absorbed", "indication allows", "caution", "consider",
                   "halved", "renal function", "never faster")
# Words that name no order of their own in a test's name ("Serum magnesium" is named by "magnesium" or "Mg").
GENERIC_TEST_WORDS = {"serum", "plasma", "blood", "level", "total", "in", "or", "and", "of", "the"}
SYNONYMS = {"magnesium": ("magnesium", "mg")}
# A label part names a test order with one of these ("Mg recheck in 7 days", "serum creatinine now").
TEST_WORDS = {"recheck", "level", "now", "serum", "check", "test"}


def _first_dosage(res: dict) -> dict:
    d = res.get("dosageInstruction") or [{}]
    return d[0] if isinstance(d[0], dict) else {}


def medication_request_gaps(res: dict) -> list[str]:
    gaps = []
    mcc = res.get("medicationCodeableConcept") or {}
    if not mcc.get("text"):
        gaps.append("no product text")
    dosage = _first_dosage(res)
    dar = (dosage.get("doseAndRate") or [{}])[0] or {}
    if not dar.get("doseQuantity"):
        gaps.append("no dose")
    if not dosage.get("route"):
        gaps.append("no route")
    repeat = (dosage.get("timing") or {}).get("repeat") or {}
    if not (repeat.get("frequency") or repeat.get("count") or (dosage.get("timing") or {}).get("code")):
        gaps.append("no timing")
    if not (repeat.get("boundsDuration") or (res.get("dispenseRequest") or {}).get("expectedSupplyDuration")
            or repeat.get("count") == 1):
        gaps.append("no duration")
    route = " ".join(str(c.get("display", "")) + " " + str(c.get("code", ""))
                     for c in (dosage.get("route") or {}).get("coding", []) or []) + " " + str((dosage.get("route") or {}).get("text", ""))
    if re.search(r"intravenous|\bIV\b|47625008", route, re.I):
        if not dar.get("rateQuantity") or str((dar.get("rateQuantity") or {}).get("code", (dar.get("rateQuantity") or {}).get("unit", ""))) != "mL/h":
            gaps.append("IV without a pump rate in mL/h")
        if not repeat.get("duration"):
            gaps.append("IV without an infusion time")
        volume = (res.get("dispenseRequest") or {}).get("quantity") or {}
        if "mL" not in str(mcc.get("text", "")) and "mL" not in str(dosage.get("text", "")).replace("mL/h", "") \
                and str(volume.get("code") or volume.get("unit")) != "mL":
            gaps.append("IV without the volume")
    text = str(dosage.get("text", "")).lower()
    if any(w in text for w in RATIONALE_WORDS):
        gaps.append(f"rationale in dosageInstruction.text {dosage.get('text')!r}")
    return gaps


MASS_MG = {"mg": 1.0, "g": 1000.0, "mcg": 0.001, "ug": 0.001}
QUANTITY_RE = re.compile(r"(?<![\w.])(\d+(?:\.\d+)?)\s*(mg/mL|mL/h|mg|g|mcg|ug|mL)(?![\w/])", re.I)
# Words that give an oral dose in units a nurse can hand out ("half a tablet", "two capsules").
DOSE_FORM_WORDS = ("tablet", "capsule", "sachet", "scoop")


def _quantities(text: str) -> list[tuple[float, str]]:
    return [(float(v), u.lower()) for v, u in QUANTITY_RE.findall(text or "")]


def _dose_mg(q: dict) -> float | None:
    unit = str(q.get("code") or q.get("unit") or "").lower()
    return float(q["value"]) * MASS_MG[unit] if unit in MASS_MG and isinstance(q.get("value"), (int, float)) else None


def _close(a: float, b: float) -> bool:
    return abs(a - b) <= 0.01 * max(abs(a), abs(b), 1e-9)


def consistency_gaps(res: dict) -> list[str]:
    """§3.1 "signable as written" also means the order never contradicts itself: a product naming an
    amount gives that dose (or the dosage text says how many tablets); the dosage text states no
    other dose and no other pump rate than the structured ones; an IV dose's volume runs in its
    infusion minutes at its mL/h."""
    gaps = []
    mcc = res.get("medicationCodeableConcept") or {}
    dosage = _first_dosage(res)
    dar = (dosage.get("doseAndRate") or [{}])[0] or {}
    dose = _dose_mg(dar.get("doseQuantity") or {})
    text = str(dosage.get("text", ""))
    if dose is not None:
        amounts = [v * MASS_MG[u] for v, u in _quantities(str(mcc.get("text", ""))) if u in MASS_MG]
        if amounts and not _close(amounts[0], dose) and not any(w in text.lower() for w in DOSE_FORM_WORDS):
            gaps.append(f"product {mcc.get('text')!r} does not hold the dose {dose:g} mg, and the dosage text "
                        f"{text!r} gives no tablet count or fraction")
        stated = [v * MASS_MG[u] for v, u in _quantities(text) if u in MASS_MG]
        if any(not _close(v, dose) for v in stated):
            gaps.append(f"dosageInstruction.text {text!r} states another dose than {dose:g} mg")
    rate = dar.get("rateQuantity") or {}
    if str(rate.get("code") or rate.get("unit")) == "mL/h" and isinstance(rate.get("value"), (int, float)):
        if any(u == "ml/h" and not _close(v, rate["value"]) for v, u in _quantities(text)):
            gaps.append(f"dosageInstruction.text {text!r} states another pump rate than {rate['value']} mL/h")
        repeat = (dosage.get("timing") or {}).get("repeat") or {}
        volume = (res.get("dispenseRequest") or {}).get("quantity") or {}
        minutes = repeat.get("duration")
        if repeat.get("count") == 1 and isinstance(minutes, (int, float)) and minutes > 0 and \
                str(volume.get("code") or volume.get("unit")) == "mL" and isinstance(volume.get("value"), (int, float)) \
                and not _close(volume["value"], rate["value"] * minutes / 60):
            gaps.append(f"{volume['value']} mL at {rate['value']} mL/h does not run in {minutes} minutes")
    return gaps


def updated_medication_request_gaps(res: dict) -> list[str]:
    """An updated draft is checked as a created order (§3.1, §3.4); a continuous infusion (a rate and
    no dose per administration) has no single dose or infusion time to give."""
    dosage = _first_dosage(res)
    dar = (dosage.get("doseAndRate") or [{}])[0] or {}
    gaps = medication_request_gaps(res) + consistency_gaps(res)
    if not dar.get("doseQuantity") and dar.get("rateQuantity"):
        continuous = ("no dose", "no timing", "IV without a pump rate in mL/h", "IV without an infusion time")
        gaps = [g for g in gaps if g not in continuous]
    return gaps


def _words_of(text: str) -> list[str]:
    return [w for w in re.split(r"[^\w]+", text.lower()) if w]


def order_names(res: dict) -> list[str]:
    """The words a label must carry to name an order: a medication's ingredient (and the salt of a
    magnesium product: "magnesium oxide"), a test's analyte ("creatinine", "magnesium")."""
    if res.get("resourceType") == "MedicationRequest":
        words = _words_of(str((res.get("medicationCodeableConcept") or {}).get("text") or ""))
        return words[:2] if words[:1] == ["magnesium"] else words[:1]
    code = res.get("code") or {}
    text = str(code.get("text") or next((c.get("display") for c in code.get("coding", []) or [] if c.get("display")), ""))
    return [w for w in _words_of(text) if w not in GENERIC_TEST_WORDS][:1]


def _draft_orders(request: dict) -> dict[str, dict]:
    """The request's draft orders by relative reference ("MedicationRequest/abc")."""
    drafts = (request.get("context") or {}).get("draftOrders") or {}
    out = {}
    for e in drafts.get("entry", []) if isinstance(drafts, dict) else []:
        res = (e or {}).get("resource") or {}
        if isinstance(res, dict) and res.get("id"):
            out[f"{res.get('resourceType')}/{res['id']}"] = res
    return out


def _draft_name(res: dict) -> list[str]:
    mcc = res.get("medicationCodeableConcept") or {}
    text = mcc.get("text") or next((c.get("display") for c in mcc.get("coding", []) or [] if c.get("display")), "")
    return _words_of(str(text))[:1]


def label_problems(sug: dict, where: str, drafts: dict[str, dict]) -> list[str]:
    """§3.1: a label names every order its suggestion creates or removes: one of its " + " parts
    names the medication (ingredient, and salt for magnesium), or the test with the word that
    makes it an order ("Mg recheck in 7 days", "serum creatinine now"), or the removed draft."""
    parts = [set(_words_of(p)) for p in str(sug.get("label", "")).split("+")]
    r = []
    for k, act in enumerate(sug.get("actions", []) or []):
        if not isinstance(act, dict):
            continue
        res = act.get("resource") if isinstance(act.get("resource"), dict) else {}
        test_word_needed = False
        if act.get("type") == "create" and res:
            names = order_names(res)
            test_word_needed = res.get("resourceType") == "ServiceRequest"
        elif act.get("type") == "delete" and act.get("resourceId") in drafts:
            names = _draft_name(drafts[act["resourceId"]])
        else:
            continue
        if not names:
            continue

        def named_in(part: set[str]) -> bool:
            return all(part & set(SYNONYMS.get(n, (n,))) for n in names) and \
                (not test_word_needed or bool(part & TEST_WORDS))
        if not any(named_in(p) for p in parts):
            r.append(f"{where}.actions[{k}]: label {sug.get('label')!r} does not name the order of "
                     f"{' '.join(names)!r} (§3.1)")
    return r


def _patient_age_years(request: dict, now: datetime | None) -> int | None:
    """Age at `now` from the request's Patient, None without a birthDate."""
    def find(node: Any):
        if isinstance(node, dict):
            if node.get("resourceType") == "Patient":
                return node
            for v in node.values():
                if (p := find(v)) is not None:
                    return p
        elif isinstance(node, list):
            for v in node:
                if (p := find(v)) is not None:
                    return p
        return None
    patient = find(request.get("prefetch", {})) or {}
    born = str(patient.get("birthDate") or "")
    if not re.match(r"^\d{4}", born):
        return None
    y, m, d = (int(x) for x in (born + "-01-01")[:10].split("-"))
    at = now or datetime.now(timezone.utc)
    return at.year - y - ((at.month, at.day) < (m, d))


def may_lack_suggestion(card: dict, request: dict, now: datetime | None) -> bool:
    """§3.4 last paragraph: continuous magnesium sulfate in pregnancy on an active (not draft)
    order, and the under-18 / unknown-age cards."""
    rule = ((card.get("source") or {}).get("topic") or {}).get("code")
    evidence = {e.get("reference") for e in ((card.get("extension") or {}).get("magnesium-cds") or {}).get("evidence", []) or []
                if isinstance(e, dict)}
    if rule == "magnesium-sulfate-in-pregnancy" and not evidence & set(_draft_orders(request)):
        return True
    age = _patient_age_years(request, now)
    return age is None or age < 18


def order_problems(response: dict, request: dict, now: datetime | None = None) -> list[str]:
    """Failing (§3.1, §3.4): created MedicationRequests a prescriber could not sign as written, labels
    that omit an order their suggestion creates or removes, warning/critical cards without a way out."""
    out = []
    drafts = _draft_orders(request)
    for i, card in enumerate(c for c in response.get("cards", []) or [] if isinstance(c, dict)):
        for j, sug in enumerate(card.get("suggestions", []) or []):
            if not isinstance(sug, dict):
                continue
            out += label_problems(sug, f"cards[{i}].suggestions[{j}]", drafts)
            for k, act in enumerate(sug.get("actions", []) or []):
                res = act.get("resource") if isinstance(act, dict) else None
                if isinstance(res, dict) and act.get("type") == "create" and res.get("resourceType") == "MedicationRequest":
                    out += [f"cards[{i}].suggestions[{j}].actions[{k}]: {g} (§3.1)"
                            for g in medication_request_gaps(res) + consistency_gaps(res)]
                if isinstance(res, dict) and act.get("type") == "update" and res.get("resourceType") == "MedicationRequest":
                    out += [f"cards[{i}].suggestions[{j}].actions[{k}] (update): {g} (§3.1, §3.4)"
                            for g in updated_medication_request_gaps(res)]
        if card.get("indicator") in ("warning", "critical") and not card.get("suggestions") \
                and not may_lack_suggestion(card, request, now):
            out.append(f"cards[{i}]: {card.get('indicator')} card without a suggestion ({card.get('summary')!r}, §3.4)")
    return out
