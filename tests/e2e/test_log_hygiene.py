#!/usr/bin/env python3
"""Log hygiene end to end: tokens and patient data never reach the logs.

One session with the real binary at `--log-level trace`, authentication on (sandbox-identical
bearer JWTs) and FHIR-server fetching on (a loopback fake FHIR server, a dead port, and a
server outside the allowlist), sending every fixture request with a unique
`fhirAuthorization.access_token` — intact, with optional prefetch keys removed so they are
fetched with the token, with required data missing (412), malformed, unauthenticated, with
patient ids in paths and query strings, and with `?explain=true` (serve --enable-explain). Then everything the process wrote (stderr and
stdout) is searched for every token (and every segment of every JWT), every fixture patient's
ids (`Patient.id`, `context.patientId`, identifiers), names (family, given) and birth date, and
every resource reference and decision the explain traces returned.

Usage: test_log_hygiene.py --binary B --fixtures F --sandbox-key ecprivkey.pem
"""

import json
import re
import threading
import time
import unittest
import uuid

from cryptography.hazmat.primitives import serialization

import e2e_support as e2e
import test_auth_e2e as auth
from e2e_support import fixture_names, fixture_text

OPTIONAL_KEYS = ("renal", "weight", "conditions", "medication_statements", "electrolytes")


def patients_of(request):
    found, pending = [], [request]
    while pending:
        value = pending.pop()
        if isinstance(value, dict):
            if value.get("resourceType") == "Patient":
                found.append(value)
            pending.extend(value.values())
        elif isinstance(value, list):
            pending.extend(value)
    return found


class LogHygiene(unittest.TestCase):
    def test_no_token_or_patient_data_in_any_output(self):
        self.check_session("text")

    def test_no_token_or_patient_data_in_json_logs(self):
        self.check_session("json")

    def check_session(self, log_format):
        with open(e2e.ARGS.sandbox_key, "rb") as f:
            auth.SANDBOX_KEY = serialization.load_pem_private_key(f.read(), password=None)
        fhir = e2e.EmptyFhirServer()
        fhir_thread = threading.Thread(target=fhir.serve_forever, daemon=True)
        fhir_thread.start()
        live_fhir = "http://127.0.0.1:%d/fhir" % fhir.server_address[1]
        dead_fhir = "http://127.0.0.1:%d/fhir" % e2e.free_port()
        server = auth.AuthServer("--log-level", "trace", "--log-format", log_format, "--fhir-allow", live_fhir, "--fhir-allow", dead_fhir,
                                 "--fhir-deadline", "1500ms", "--enable-explain")
        secrets, patient_terms, patient_words = [], set(), set()
        trace_terms = set()  # what the explain traces returned: resource references and decisions
        try:
            statuses = []

            def call(path, request, jwt=None, **variant):
                jwt = jwt or auth.token(server.base + path.split("?")[0])
                secrets.append(jwt)
                body = request if isinstance(request, str) else json.dumps(request)
                status, _, _ = server.call(path, jwt, body)
                statuses.append(status)
                return status

            for name in fixture_names():
                original = json.loads(fixture_text(name))
                service = {"patient-view": "magnesium-patient-view", "order-select": "magnesium-order-select",
                           "order-sign": "magnesium-order-sign"}[original["hook"]]
                path = "/cds-services/" + service
                patient_id = original["context"]["patientId"]
                patient_terms.update({patient_id, "Patient/" + patient_id})
                for patient in patients_of(original):
                    patient_terms.add(patient["id"])
                    patient_terms.update(i["value"] for i in patient.get("identifier", []) if "value" in i)
                    if "birthDate" in patient:
                        patient_terms.add(patient["birthDate"])
                    for human_name in patient.get("name", []):
                        patient_words.update(human_name.get("given", []))
                        if "family" in human_name:
                            patient_words.add(human_name["family"])

                def with_fhir(server_url, drop=OPTIONAL_KEYS):
                    request = json.loads(fixture_text(name))
                    access_token = "at-%s-%s" % (uuid.uuid4().hex, uuid.uuid4().hex)
                    secrets.append(access_token)
                    request["fhirServer"] = server_url
                    request["fhirAuthorization"] = {"access_token": access_token, "token_type": "Bearer",
                                                    "expires_in": 300, "scope": "patient/*.read",
                                                    "subject": "magnesium-cds"}
                    for key in drop:
                        request["prefetch"].pop(key, None)
                    return request

                self.assertEqual(call(path, with_fhir(live_fhir, drop=())), 200)
                jwt = auth.token(server.base + path)
                secrets.append(jwt)
                status, _, explained = server.call(path + "?explain=true", jwt, json.dumps(with_fhir(live_fhir, drop=())))
                self.assertEqual(status, 200)
                statuses.append(status)
                for entry in json.loads(explained)["explain"]["entries"]:
                    if "resource" in entry:
                        trace_terms.add(entry["subject"])
                    if len(entry["message"]) >= 24:
                        trace_terms.add(entry["message"])
                self.assertEqual(call(path, with_fhir(live_fhir)), 200)
                self.assertEqual(call(path, with_fhir(dead_fhir)), 200)
                self.assertEqual(call(path, with_fhir("https://ehr.example.org/fhir")), 200)
                self.assertEqual(call(path, with_fhir(dead_fhir, drop=("magnesium",))), 412)
                self.assertEqual(call(path + "?patient=" + patient_id, with_fhir(live_fhir)), 200)
                broken = with_fhir(live_fhir)
                broken["context"]["patientId"] = {"id": patient_id}
                self.assertEqual(call(path, broken), 400)
                self.assertEqual(call(path, json.dumps(with_fhir(live_fhir))[:-40]), 400)
                expired = auth.token(server.base + path, claims={"iat": int(time.time()) - 900,
                                                                 "exp": int(time.time()) - 600})
                self.assertEqual(call(path, with_fhir(live_fhir), jwt=expired), 401)
                self.assertEqual(call("/cds-services/" + patient_id, with_fhir(live_fhir)), 404)
                secrets.append("Bearer-in-url-" + uuid.uuid4().hex)
                status, _, _ = server.request("GET", "/Patient/%s?access_token=%s" % (patient_id, secrets[-1]))
                self.assertEqual(status, 401)  # an unknown path needs a token too
                feedback = {"feedback": [{"card": str(uuid.uuid4()), "outcome": "accepted",
                                          "acceptedSuggestions": [{"id": str(uuid.uuid4())}],
                                          "outcomeTimestamp": "2026-03-10T09:05:00Z"}]}
                self.assertEqual(call(path + "/feedback", feedback), 200)

            self.assertEqual(server.stop(), 0)
            output = server.all_output()
        finally:
            server.cleanup()
            fhir.shutdown()

        # The session really went through the paths that could leak: tokens were forwarded to
        # the FHIR server, every request was logged, and trace/debug lines were written.
        self.assertTrue(any(h.get("Authorization", "").startswith("Bearer at-") for h in fhir.request_headers))
        if log_format == "json":
            # Every line on stderr is one JSON object; stdout carries only the "listening on" line.
            lines = [json.loads(line) for line in output.splitlines() if not line.startswith("listening on ")]
            # Per-request lines carry their fields apart as well (identifiers and numbers only);
            # the leak checks below read them too.
            access_fields = {"requestId", "method", "route", "status", "durationMs", "service", "hook", "cards",
                             "ruleIds", "traceId"}
            self.assertTrue(all({"time", "level", "message"} <= set(line) <= {"time", "level", "message"} | access_fields
                                for line in lines))
            self.assertTrue(any("requestId" in line and "ruleIds" in line for line in lines))
            messages = "\n".join(" " + line["message"] for line in lines)
            levels = {line["level"] for line in lines}
            self.assertIn("debug", levels)
        else:
            messages = output
            self.assertRegex(output, r"(?m) debug ")
        self.assertGreaterEqual(len(re.findall(r"(?m) (?:GET|POST) \S+ \d{3} ", messages)), len(statuses))
        self.assertGreater(len(patient_terms), 5)
        self.assertGreater(len(trace_terms), 50)
        self.assertTrue(patient_words)

        leaks = []
        for secret in secrets:
            if secret in output:
                leaks.append("token " + secret[:16] + "...")
            for part in secret.split("."):
                if len(part) >= 16 and part in output:
                    leaks.append("JWT segment " + part[:16] + "...")
        for term in sorted(patient_terms):
            if term in output:
                leaks.append("patient datum " + term)
        for word in sorted(patient_words):
            if re.search(r"\b%s\b" % re.escape(word), output, flags=re.IGNORECASE):
                leaks.append("patient name " + word)
        for term in sorted(trace_terms):
            if term in output:
                leaks.append("explain trace " + term[:60])
        self.assertEqual(leaks, [], "leaked into the logs; output:\n" + output[-4000:])


if __name__ == "__main__":
    e2e.main(["--sandbox-key"])
