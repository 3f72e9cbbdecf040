#!/usr/bin/env python3
"""Writes fixtures/fhir-server/requests/: CDS Hooks requests for the seeded patient pat-30417,
each as a twin pair —

  <name>.prefetched.json  every prefetch key the service declares, filled as an EHR would
                          (the searches answered from the seed data by this script, not by
                          the service's own FHIR client), and
  <name>.fetch.json       the same call with no prefetch at all, only fhirServer and
                          fhirAuthorization, so the service must fetch everything.

Evaluated at the same --now, both of a pair must give the same cards.
The fetch twin's fhirServer is a placeholder, http://127.0.0.1:8090/fhir: a test replaces it
with the running test server's base (tests/fhir_server/start.sh writes the port) and allows
that base with --fhir-allow. The token is the fixture's; the test server accepts any token
outside its /unauthorized/ prefix.

Run after changing the seed data or the service's prefetch templates:
    python3 tests/fhir_server/make_twin_requests.py
"""
import copy
import json
import pathlib
import urllib.parse

root = pathlib.Path(__file__).resolve().parents[2]
seed_dir = root / "fixtures" / "fhir-server"
out_dir = seed_dir / "requests"
rules = json.loads((root / "rules" / "config" / "magnesium-rules.json").read_text())
base = "https://fhir.riverside-clinic.example.org/r4"
patient_id = "pat-30417"
now = "2026-03-10T09:00:00Z"

resources = []
for path in sorted(seed_dir.glob("*.json")):
    data = json.loads(path.read_text())
    if data.get("resourceType") == "Bundle":
        resources += [entry["resource"] for entry in data.get("entry", [])]
by_ref = {f"{r['resourceType']}/{r['id']}": r for r in resources}


def of_patient(resource):
    subject = resource.get("subject", {}).get("reference")
    return subject == f"Patient/{patient_id}"


def date_of(resource):
    return resource.get("effectiveDateTime") or resource.get("authoredOn") or resource.get("recordedDate") or ""


def searchset(query, matches, includes=()):
    entries = [{"fullUrl": f"{base}/{r['resourceType']}/{r['id']}", "resource": r, "search": {"mode": "match"}}
               for r in matches]
    entries += [{"fullUrl": f"{base}/{r['resourceType']}/{r['id']}", "resource": r, "search": {"mode": "include"}}
                for r in includes]
    bundle = {"resourceType": "Bundle", "type": "searchset", "total": len(matches),
              "link": [{"relation": "self", "url": f"{base}/{query}"}]}
    if entries:
        bundle["entry"] = entries
    return bundle


def answer(template):
    query = template.replace("{{context.patientId}}", patient_id)
    path, _, raw = query.partition("?")
    if "/" in path:
        return by_ref.get(path)
    params = dict(urllib.parse.parse_qsl(raw))
    matches = [r for r in resources if r["resourceType"] == path and of_patient(r)]
    if "code" in params:
        wanted = {tuple(c.split("|")) for c in params["code"].split(",")}
        matches = [r for r in matches
                   if any((c.get("system"), c.get("code")) in wanted for c in r["code"].get("coding", []))]
    if "status" in params:
        matches = [r for r in matches if r.get("status") in params["status"].split(",")]
    if params.get("_sort") == "-date":
        matches.sort(key=date_of, reverse=True)
    if "_count" in params:
        matches = matches[: int(params["_count"])]
    includes = []
    if params.get("_include", "").endswith(":medication"):
        for r in matches:
            ref = r.get("medicationReference", {}).get("reference")
            if ref in by_ref and by_ref[ref] not in includes:
                includes.append(by_ref[ref])
    return searchset(query, matches, includes)


def service(service_id):
    return next(s for s in rules["services"] if s["id"] == service_id)


def twins(name, service_id, hook, context, hook_instance):
    prefetched = {
        "hookInstance": hook_instance,
        "hook": hook,
        "context": context,
        "prefetch": {p["key"]: answer(p["query"]) for p in service(service_id)["prefetch"]},
    }
    fetch = copy.deepcopy(prefetched)
    del fetch["prefetch"]
    fetch["fhirServer"] = "http://127.0.0.1:8090/fhir"
    fetch["fhirAuthorization"] = {
        "access_token": "fixture-access-token-3f9a2c7e",
        "token_type": "Bearer",
        "expires_in": 300,
        "scope": "user/Patient.read user/Observation.read user/MedicationRequest.read "
                 "user/MedicationStatement.read user/Medication.read user/Condition.read "
                 "user/ServiceRequest.read",
        "subject": "magnesium-cds",
    }
    # Same members in the same order in both twins, fhirServer first as EHRs send it.
    fetch = {k: fetch[k] for k in ("hookInstance", "fhirServer", "hook", "fhirAuthorization", "context")}
    out_dir.mkdir(exist_ok=True)
    for suffix, body in (("prefetched", prefetched), ("fetch", fetch)):
        (out_dir / f"{name}.{suffix}.json").write_text(json.dumps(body, indent=2) + "\n")


twins("patient-view-pat-30417", "magnesium-patient-view", "patient-view",
      {"userId": "Practitioner/prac-5120", "patientId": patient_id, "encounterId": "enc-88012"},
      "6f1e0c52-3b8d-4f7a-9c21-5d0e8a7b4c31")

draft = {
    "resourceType": "MedicationRequest", "id": "medrx-30417-draft-1", "status": "draft", "intent": "order",
    "medicationCodeableConcept": {
        "coding": [{"system": "http://www.nlm.nih.gov/research/umls/rxnorm", "code": "310798",
                    "display": "hydrochlorothiazide 25 MG Oral Tablet"}],
        "text": "Hydrochlorothiazide 25 mg oral tablet"},
    "subject": {"reference": f"Patient/{patient_id}"},
    "encounter": {"reference": "Encounter/enc-88012"},
    "authoredOn": "2026-03-10T08:58:00Z",
    "requester": {"reference": "Practitioner/prac-5120"},
    "dosageInstruction": [{"sequence": 1, "text": "25 mg by mouth once daily",
                           "timing": {"repeat": {"frequency": 1, "period": 1, "periodUnit": "d"}},
                           "doseAndRate": [{"doseQuantity": {"value": 25, "unit": "mg",
                                                             "system": "http://unitsofmeasure.org", "code": "mg"}}]}],
}
twins("order-select-pat-30417-hctz", "magnesium-order-select", "order-select",
      {"userId": "Practitioner/prac-5120", "patientId": patient_id, "encounterId": "enc-88012",
       "selections": ["MedicationRequest/medrx-30417-draft-1"],
       "draftOrders": {"resourceType": "Bundle", "type": "collection", "entry": [{"resource": draft}]}},
      "0b7d2e94-5a61-4c3f-8e0d-91f4a6c2d8e5")
print(f"wrote {sorted(p.name for p in out_dir.glob('*.json'))} for evaluation at {now}")
