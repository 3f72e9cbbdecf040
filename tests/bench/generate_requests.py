#!/usr/bin/env python3
"""Generates the benchmark's CDS Hooks request bodies, deterministically.

  patient-view-1.json    patient-view, one serum Mg result                      (~1 KB)
  order-sign-50.json     order-sign, 50 Observations over two years (Mg, creatinine, eGFR,
                         K, Ca, weight and unrelated labs), 20 MedicationRequests and a draft
                         furosemide order                                         (~45 KB)
  order-sign-500.json    the same patient with 500 Observations                   (~400 KB)

The newest magnesium result is low (1.5 mg/dL, 20 hours before --now), so every request
takes the full path: classification, renal band, contributing drugs, a card with repletion
suggestions. Dates are relative to --now (default: the current minute, UTC); the same --now
and --seed give byte-identical files. JSON is compact, as EHRs send it.

Codes: LOINC and RxNorm codes for the clinical groups are those of the bundled rule set's code
lists (rules/config/magnesium-rules.json), copied here as data; the unrelated labs are common LOINC codes (hemoglobin 718-7,
hematocrit 4544-3, sodium 2951-2, glucose 2345-7, total CO2 2028-9) and lisinopril is
RxNorm 314076.

For the FHIR-fallback stage it also writes, from the same order-sign-50 patient:
  fhir-seed/order-sign-50.bundle.json   a collection Bundle of the Patient, the 50 Observations
                         and the 20 MedicationRequests, the seed data of the loopback FHIR server
                         (tests/fhir_server/server.mjs --fixtures DIR loads every Bundle's entries);
  order-sign-50.fetch.json               the fetch-only twin of order-sign-50: the same
                         hookInstance, hook and context (draft order included), no `prefetch`,
                         `fhirServer` = --fhir-server and `fhirAuthorization` with --fhir-token
                         (run.sh rewrites both once the FHIR server runs).

usage: generate_requests.py [--out DIR] [--now 2026-03-10T09:00:00Z] [--seed 6]
                            [--fhir-server URL] [--fhir-token TOKEN]
Writes the files and manifest.json ({"now": ..., "files": {name: {path, bytes, ...}},
"fhir_fallback": {...}}).
"""

import argparse
import datetime as dt
import json
import os
import random
import sys

LOINC = "http://loinc.org"
UCUM = "http://unitsofmeasure.org"
RXNORM = "http://www.nlm.nih.gov/research/umls/rxnorm"
SNOMED = "http://snomed.info/sct"
FHIR_BASE = "https://fhir.northbridge-health.example.org/r4"

# (group, LOINC code, display, unit, low, high, (ref low, ref high), decimals)
LABS = {
    "mg_mass": ("19123-9", "Magnesium [Mass/volume] in Serum or Plasma", "mg/dL", 1.6, 2.4, (1.7, 2.2), 1),
    "mg_moles": ("2601-3", "Magnesium [Moles/volume] in Serum or Plasma", "mmol/L", 0.66, 0.99, (0.7, 1.0), 2),
    "creat_mass": ("2160-0", "Creatinine [Mass/volume] in Serum or Plasma", "mg/dL", 0.8, 1.4, (0.6, 1.2), 2),
    "creat_moles": ("14682-9", "Creatinine [Moles/volume] in Serum or Plasma", "umol/L", 70, 125, (53, 106), 0),
    "egfr": ("98979-8", "Glomerular filtration rate/1.73 sq M.predicted [Volume Rate/Area] in Serum, "
             "Plasma or Blood by Creatinine-based formula (CKD-EPI 2021)", "mL/min/{1.73_m2}", 52, 78, (60, 120), 0),
    "potassium": ("2823-3", "Potassium [Moles/volume] in Serum or Plasma", "mmol/L", 3.4, 4.9, (3.5, 5.1), 1),
    "calcium": ("17861-6", "Calcium [Mass/volume] in Serum or Plasma", "mg/dL", 8.4, 10.1, (8.6, 10.3), 1),
    "weight": ("29463-7", "Body weight", "kg", 76, 82, None, 1),
    "hemoglobin": ("718-7", "Hemoglobin [Mass/volume] in Blood", "g/dL", 11.8, 14.6, (12.0, 16.0), 1),
    "hematocrit": ("4544-3", "Hematocrit [Volume Fraction] of Blood by Automated count", "%", 36, 44, (36, 46), 1),
    "sodium": ("2951-2", "Sodium [Moles/volume] in Serum or Plasma", "mmol/L", 134, 144, (136, 145), 0),
    "glucose": ("2345-7", "Glucose [Mass/volume] in Serum or Plasma", "mg/dL", 78, 160, (70, 99), 0),
    "co2": ("2028-9", "Carbon dioxide, total [Moles/volume] in Serum or Plasma", "mmol/L", 21, 30, (22, 29), 0),
}

# Prefetch key each group arrives under (the bundled rule set's keys; unrelated labs come in
# a broad "laboratory" key, as EHRs that answer by category send them; the service classifies
# resources by their own code, not by key).
KEY_OF_GROUP = {
    "mg_mass": "magnesium", "mg_moles": "magnesium",
    "creat_mass": "renal", "creat_moles": "renal", "egfr": "renal",
    "potassium": "electrolytes", "calcium": "electrolytes",
    "weight": "weight",
    "hemoglobin": "laboratory", "hematocrit": "laboratory", "sodium": "laboratory",
    "glucose": "laboratory", "co2": "laboratory",
}

# Share of the Observations per group, for 50 (and x10 for 500).
MIX_50 = [("mg_mass", 6), ("mg_moles", 2), ("creat_mass", 4), ("creat_moles", 2), ("egfr", 6),
          ("potassium", 8), ("calcium", 6), ("weight", 4), ("hemoglobin", 3), ("hematocrit", 2),
          ("sodium", 3), ("glucose", 2), ("co2", 2)]

# (RxNorm code, display, text, dose mg, route, frequency per day, status)
MEDICATIONS = [
    ("314076", "lisinopril 10 MG Oral Tablet", "Lisinopril 10 mg tablet", 10, "oral", 1, "active"),
    ("198051", "omeprazole 20 MG Delayed Release Oral Capsule", "Omeprazole 20 mg DR capsule", 20, "oral", 1, "active"),
    ("197604", "digoxin 0.125 MG Oral Tablet", "Digoxin 125 mcg tablet", 0.125, "oral", 1, "active"),
    ("310798", "hydrochlorothiazide 25 MG Oral Tablet", "Hydrochlorothiazide 25 mg tablet", 25, "oral", 1, "stopped"),
    ("198377", "tacrolimus 1 MG Oral Capsule", "Tacrolimus 1 mg capsule", 1, "oral", 2, "active"),
    ("309309", "ciprofloxacin 500 MG Oral Tablet", "Ciprofloxacin 500 mg tablet", 500, "oral", 2, "completed"),
    ("1649988", "doxycycline hyclate 100 MG Oral Capsule", "Doxycycline 100 mg capsule", 100, "oral", 2, "completed"),
    ("310429", "furosemide 20 MG Oral Tablet", "Furosemide 20 mg tablet", 20, "oral", 1, "stopped"),
    ("314200", "pantoprazole 40 MG Delayed Release Oral Tablet", "Pantoprazole 40 mg DR tablet", 40, "oral", 1, "completed"),
    ("314076", "lisinopril 10 MG Oral Tablet", "Lisinopril 10 mg tablet", 10, "oral", 1, "completed"),
]
ROUTES = {"oral": ("26643006", "Oral route", "by mouth")}

DRAFT = ("313988", "furosemide 40 MG Oral Tablet", "Furosemide 40 mg oral tablet", 40, "oral", 2)


def iso(t):
    return t.strftime("%Y-%m-%dT%H:%M:%SZ")


class Generator:
    def __init__(self, seed, now):
        self.rng = random.Random(seed)
        self.now = now
        self.patient_id = "pat-%05d" % self.rng.randrange(10000, 99999)
        self.encounter_id = "enc-%05d" % self.rng.randrange(10000, 99999)
        self.practitioner = "Practitioner/prac-%04d" % self.rng.randrange(1000, 9999)

    def uuid(self):
        b = bytearray(self.rng.getrandbits(8) for _ in range(16))
        b[6] = (b[6] & 0x0F) | 0x40
        b[8] = (b[8] & 0x3F) | 0x80
        h = b.hex()
        return "%s-%s-%s-%s-%s" % (h[:8], h[8:12], h[12:16], h[16:20], h[20:])

    def patient(self):
        return {
            "resourceType": "Patient", "id": self.patient_id,
            "meta": {"lastUpdated": iso(self.now - dt.timedelta(days=30))},
            "identifier": [{"use": "usual", "type": {"coding": [{
                "system": "http://terminology.hl7.org/CodeSystem/v2-0203", "code": "MR",
                "display": "Medical record number"}]},
                "system": "urn:oid:2.16.840.1.113883.3.7418.2.1", "value": "MRN%07d" % self.rng.randrange(10**6, 10**7)}],
            "active": True,
            "name": [{"use": "official", "family": "Okafor", "given": ["Grace", "A"]}],
            "gender": "female", "birthDate": "1951-09-23",
        }

    def observation(self, group, index, when, value=None):
        code, display, unit, low, high, ref, decimals = LABS[group]
        if value is None:
            value = round(self.rng.uniform(low, high), decimals)
            if decimals == 0:
                value = int(value)
        obs_id = "obs-%s-%04d" % (group.replace("_", ""), index)
        category = "vital-signs" if group == "weight" else "laboratory"
        resource = {
            "resourceType": "Observation", "id": obs_id,
            "status": "final",
            "category": [{"coding": [{"system": "http://terminology.hl7.org/CodeSystem/observation-category",
                                      "code": category, "display": "Laboratory" if category == "laboratory" else "Vital Signs"}]}],
            "code": {"coding": [{"system": LOINC, "code": code, "display": display}]},
            "subject": {"reference": "Patient/" + self.patient_id},
            "effectiveDateTime": iso(when),
            "issued": iso(when + dt.timedelta(minutes=self.rng.randrange(30, 180))),
            "valueQuantity": {"value": value, "unit": unit, "system": UCUM, "code": unit},
        }
        if ref is not None:
            flag = "N"
            if value < ref[0]:
                flag = "L"
            elif value > ref[1]:
                flag = "H"
            names = {"N": "Normal", "L": "Low", "H": "High"}
            resource["interpretation"] = [{"coding": [{
                "system": "http://terminology.hl7.org/CodeSystem/v3-ObservationInterpretation",
                "code": flag, "display": names[flag]}]}]
        return resource

    def medication_request(self, index, med, authored, status=None, draft=False):
        code, display, text, dose, route, per_day = med[:6]
        status = "draft" if draft else (status or med[6])
        route_code, route_display, route_text = ROUTES[route]
        resource = {
            "resourceType": "MedicationRequest", "id": "medrx-%s-%03d" % (self.patient_id[4:], index),
            "status": status, "intent": "order",
            "medicationCodeableConcept": {"coding": [{"system": RXNORM, "code": code, "display": display}], "text": text},
            "subject": {"reference": "Patient/" + self.patient_id},
            "authoredOn": iso(authored),
            "requester": {"reference": self.practitioner},
            "dosageInstruction": [{
                "sequence": 1,
                "text": "%s mg %s %s" % (dose, route_text, "once daily" if per_day == 1 else "twice daily"),
                "timing": {"repeat": {"frequency": per_day, "period": 1, "periodUnit": "d"}},
                "route": {"coding": [{"system": SNOMED, "code": route_code, "display": route_display}], "text": route_text},
                "doseAndRate": [{"doseQuantity": {"value": dose, "unit": "mg", "system": UCUM, "code": "mg"}}],
            }],
        }
        if not draft:
            resource["dispenseRequest"] = {
                "numberOfRepeatsAllowed": 3,
                "quantity": {"value": 30 * per_day, "unit": "tablet"},
                "expectedSupplyDuration": {"value": 30, "unit": "days", "system": UCUM, "code": "d"},
            }
        return resource

    def searchset(self, query, resources):
        return {
            "resourceType": "Bundle", "id": self.uuid(),
            "meta": {"lastUpdated": iso(self.now)},
            "type": "searchset", "total": len(resources),
            "link": [{"relation": "self", "url": FHIR_BASE + "/" + query}],
            "entry": [{"fullUrl": "%s/%s/%s" % (FHIR_BASE, r["resourceType"], r["id"]), "resource": r,
                       "search": {"mode": "match"}} for r in resources],
        }

    def observations(self, count):
        """`count` Observations over two years; the newest Mg is low, renal labs recent."""
        scale = count / 50.0
        plan = []
        for group, share in MIX_50:
            plan += [group] * max(1, round(share * scale))
        plan = plan[:count]
        while len(plan) < count:
            plan.append("potassium")
        by_key = {}
        span = dt.timedelta(days=730)
        newest = {"mg_mass": (dt.timedelta(hours=20), 1.5), "creat_mass": (dt.timedelta(hours=20), 1.1),
                  "egfr": (dt.timedelta(hours=20), 58), "potassium": (dt.timedelta(hours=20), 3.9),
                  "calcium": (dt.timedelta(hours=20), 9.1), "weight": (dt.timedelta(days=3), 79.4)}
        seen = set()
        for index, group in enumerate(plan):
            if group in newest and group not in seen:
                seen.add(group)
                ago, value = newest[group]
                when = self.now - ago
            else:
                value = None
                # Older results: at least 3 days old, spread over two years, on the minute.
                when = self.now - dt.timedelta(days=3) - dt.timedelta(
                    minutes=self.rng.randrange(0, int(span.total_seconds() // 60)))
            by_key.setdefault(KEY_OF_GROUP[group], []).append(self.observation(group, index, when, value))
        for resources in by_key.values():
            resources.sort(key=lambda r: r["effectiveDateTime"], reverse=True)
        return by_key

    def medication_requests(self, count):
        out = []
        for index in range(count):
            med = MEDICATIONS[index % len(MEDICATIONS)]
            # Refills of the same drug over two years; the newest of each active drug stays active.
            authored = self.now - dt.timedelta(days=7 + index * 35 + self.rng.randrange(0, 20))
            status = med[6] if index < len(MEDICATIONS) else "completed"
            out.append(self.medication_request(index + 1, med, authored, status))
        return out


def observation_query(gen, key):
    return "Observation?patient=%s&category=laboratory&_sort=-date" % gen.patient_id if key == "laboratory" \
        else "Observation?patient=%s&code=%s&_sort=-date" % (gen.patient_id, key)


def patient_view(seed, now):
    gen = Generator(seed, now)
    obs = gen.observation("mg_mass", 1, now - dt.timedelta(hours=20), 1.5)
    bundle = {"resourceType": "Bundle", "type": "searchset", "total": 1,
              "entry": [{"fullUrl": "%s/Observation/%s" % (FHIR_BASE, obs["id"]), "resource": obs}]}
    request = {
        "hookInstance": gen.uuid(), "hook": "patient-view",
        "context": {"userId": gen.practitioner, "patientId": gen.patient_id, "encounterId": gen.encounter_id},
        "prefetch": {"patient": {"resourceType": "Patient", "id": gen.patient_id, "gender": "female",
                                 "birthDate": "1951-09-23"},
                     "magnesium": bundle, "renal": None, "electrolytes": None, "weight": None, "qtc": None,
                     "pregnancy": None, "medication_requests": None, "medication_statements": None,
                     "conditions": None},
    }
    return request


def order_sign(seed, now, observation_count, medication_count=20):
    gen = Generator(seed, now)
    by_key = gen.observations(observation_count)
    meds = gen.medication_requests(medication_count)
    draft = gen.medication_request(900, DRAFT, now - dt.timedelta(minutes=2), draft=True)
    prefetch = {"patient": gen.patient()}
    for key in ("magnesium", "renal", "electrolytes", "weight", "laboratory"):
        prefetch[key] = gen.searchset(observation_query(gen, key), by_key.get(key, []))
    prefetch["qtc"] = None
    prefetch["pregnancy"] = None
    prefetch["medication_requests"] = gen.searchset(
        "MedicationRequest?patient=%s&_include=MedicationRequest:medication" % gen.patient_id, meds)
    prefetch["medication_statements"] = None
    prefetch["conditions"] = gen.searchset("Condition?patient=%s" % gen.patient_id, [])
    return {
        "hookInstance": gen.uuid(), "hook": "order-sign",
        "context": {"userId": gen.practitioner, "patientId": gen.patient_id, "encounterId": gen.encounter_id,
                    "draftOrders": {"resourceType": "Bundle", "type": "collection", "entry": [{"resource": draft}]}},
        "prefetch": prefetch,
    }


def fhir_seed_bundle(request):
    """Every resource of the request's prefetch (Patient, Observations, MedicationRequests), once,
    as a collection Bundle: what the EHR's FHIR server holds for this patient."""
    resources, seen = [], set()
    for value in request["prefetch"].values():
        if not isinstance(value, dict):
            continue
        found = [e["resource"] for e in value.get("entry", [])] if value.get("resourceType") == "Bundle" else [value]
        for resource in found:
            ref = "%s/%s" % (resource["resourceType"], resource["id"])
            if ref not in seen:
                seen.add(ref)
                resources.append(resource)
    return {"resourceType": "Bundle", "type": "collection",
            "entry": [{"fullUrl": "%s/%s/%s" % (FHIR_BASE, r["resourceType"], r["id"]), "resource": r}
                      for r in resources]}


def fetch_twin(request, fhir_server, token):
    """The same call with no prefetch: the service must query fhir_server for everything.
    Members in the order EHRs send them (fhirServer after hookInstance)."""
    return {
        "hookInstance": request["hookInstance"],
        "fhirServer": fhir_server,
        "hook": request["hook"],
        "fhirAuthorization": {
            "access_token": token, "token_type": "Bearer", "expires_in": 300,
            "scope": "user/Patient.read user/Observation.read user/MedicationRequest.read "
                     "user/MedicationStatement.read user/Medication.read user/Condition.read",
            "subject": "magnesium-cds",
        },
        "context": request["context"],
    }


def parse_now(text):
    t = dt.datetime.strptime(text.replace("Z", "+0000"), "%Y-%m-%dT%H:%M:%S%z")
    return t.astimezone(dt.timezone.utc)


def main(argv):
    repo = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--out", default=os.path.join(repo, "build", "bench", "requests"))
    parser.add_argument("--now", help="evaluation time the dates are relative to, e.g. 2026-03-10T09:00:00Z "
                                      "(default: the current minute, UTC)")
    parser.add_argument("--seed", type=int, default=6)
    parser.add_argument("--fhir-server", default="http://127.0.0.1:8090/fhir",
                        help="fhirServer of the fetch-only twin (default: a placeholder)")
    parser.add_argument("--fhir-token", default="bench-access-token",
                        help="fhirAuthorization.access_token of the fetch-only twin")
    args = parser.parse_args(argv)
    now = parse_now(args.now) if args.now else dt.datetime.now(dt.timezone.utc).replace(second=0, microsecond=0)

    os.makedirs(args.out, exist_ok=True)
    requests = {
        "patient-view-1": patient_view(args.seed, now),
        "order-sign-50": order_sign(args.seed, now, 50),
        "order-sign-500": order_sign(args.seed, now, 500),
    }
    manifest = {"now": iso(now), "seed": args.seed, "files": {}}
    for name, request in requests.items():
        path = os.path.join(args.out, name + ".json")
        text = json.dumps(request, separators=(",", ":"), ensure_ascii=False)
        with open(path, "w", encoding="utf-8") as f:
            f.write(text)
        prefetch = request["prefetch"]
        observations = sum(len(v.get("entry", [])) for k, v in prefetch.items()
                           if isinstance(v, dict) and v.get("resourceType") == "Bundle" and k not in
                           ("medication_requests", "conditions"))
        manifest["files"][name] = {"path": path, "bytes": len(text.encode("utf-8")), "hook": request["hook"],
                                   "observations": observations}
        print("%-16s %8d bytes  %4d observations  %s" % (name, len(text.encode("utf-8")), observations, path))

    # FHIR-fallback stage: the FHIR server's seed data and the fetch-only twin of order-sign-50.
    source = requests["order-sign-50"]
    seed_dir = os.path.join(args.out, "fhir-seed")
    os.makedirs(seed_dir, exist_ok=True)
    seed_bundle = fhir_seed_bundle(source)
    seed_path = os.path.join(seed_dir, "order-sign-50.bundle.json")
    with open(seed_path, "w", encoding="utf-8") as f:
        f.write(json.dumps(seed_bundle, separators=(",", ":"), ensure_ascii=False))
    twin_path = os.path.join(args.out, "order-sign-50.fetch.json")
    twin_text = json.dumps(fetch_twin(source, args.fhir_server, args.fhir_token), separators=(",", ":"),
                           ensure_ascii=False)
    with open(twin_path, "w", encoding="utf-8") as f:
        f.write(twin_text)
    counts = {}
    for entry in seed_bundle["entry"]:
        counts[entry["resource"]["resourceType"]] = counts.get(entry["resource"]["resourceType"], 0) + 1
    manifest["fhir_fallback"] = {"twin_of": "order-sign-50", "fetch_request": twin_path,
                                 "fetch_request_bytes": len(twin_text.encode("utf-8")),
                                 "seed_dir": seed_dir, "seed_resources": counts}
    print("%-16s %8d bytes  fetch-only twin of order-sign-50; FHIR server seed: %s  %s" % (
        "order-sign-50.fetch", len(twin_text.encode("utf-8")),
        ", ".join("%d %s" % (n, t) for t, n in sorted(counts.items())), seed_dir))
    with open(os.path.join(args.out, "manifest.json"), "w", encoding="utf-8") as f:
        json.dump(manifest, f, indent=2)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
