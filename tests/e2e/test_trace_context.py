#!/usr/bin/env python3
"""W3C Trace Context end to end (https://www.w3.org/TR/trace-context/): a hook call's valid
`traceparent` is logged (text and JSON formats) and passed on to the FHIR server it fetches
from as a child span (same trace id, the request's own span id as parent id, which is the
JSON access line's requestId); a malformed or repeated one is ignored (neither logged nor
passed on). The JSON access line has its fields apart: time, level, requestId, service, hook,
status, durationMs, cards, ruleIds; never the token or the patient.

Usage: test_trace_context.py --binary PATH/TO/magnesium-cds --fixtures PATH/TO/fixtures
"""

import json
import re
import threading
import unittest

import e2e_support as e2e

TRACE_ID = "4bf92f3577b34da6a3ce929d0e0e4736"
CALLER_SPAN = "00f067aa0ba902b7"
TRACEPARENT = "00-%s-%s-01" % (TRACE_ID, CALLER_SPAN)
SERVICE = "magnesium-patient-view"
ACCESS_TOKEN = "at-trace-test-0123456789abcdef0123456789abcdef"


def traceparents(fhir):
    """The traceparent headers of each request the FHIR server received."""
    return [headers.get_all("traceparent") or [] for headers in fhir.request_headers]


class TraceContext(unittest.TestCase):
    def setUp(self):
        self.fhir = e2e.EmptyFhirServer()
        threading.Thread(target=self.fhir.serve_forever, daemon=True).start()
        self.fhir_url = "http://127.0.0.1:%d/fhir" % self.fhir.server_address[1]

    def tearDown(self):
        self.fhir.shutdown()

    def hook_call(self, server, headers):
        request = json.loads(e2e.fixture_text("patient-view-severe.json"))
        request["fhirServer"] = self.fhir_url
        request["fhirAuthorization"] = {"access_token": ACCESS_TOKEN, "token_type": "Bearer",
                                        "expires_in": 300, "scope": "patient/*.read", "subject": "cds"}
        request["prefetch"].pop("weight", None)  # to be fetched
        self.patient_id = request["context"]["patientId"]
        before = len(traceparents(self.fhir))
        status, _, body = server.request("POST", "/cds-services/" + SERVICE, json.dumps(request),
                                         dict(e2e.JSON, **headers))
        self.assertEqual(status, 200, body)
        sent = traceparents(self.fhir)[before:]
        self.assertTrue(sent, "the call fetched from the FHIR server")
        return json.loads(body)["cards"], sent

    def test_json_access_line_has_its_fields_and_the_fhir_calls_are_a_child_span(self):
        server = e2e.Server("--log-format", "json", "--fhir-allow", self.fhir_url)
        try:
            cards, sent = self.hook_call(server, {"traceparent": TRACEPARENT})
            self.assertEqual(server.stop(), 0)
            lines = [json.loads(line) for line in server.read_log().splitlines()]
        finally:
            server.cleanup()
        (access,) = [line for line in lines if line.get("route") == "/cds-services/{id}"]
        self.assertEqual(access["level"], "info")
        self.assertRegex(access["time"], r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$")
        self.assertRegex(access["requestId"], r"^[0-9a-f]{16}$")
        self.assertEqual((access["service"], access["hook"], access["status"]), (SERVICE, "patient-view", 200))
        self.assertIsInstance(access["durationMs"], float)
        self.assertEqual(access["cards"], len(cards))
        self.assertEqual(access["ruleIds"], list(dict.fromkeys(c["source"]["topic"]["code"] for c in cards)))
        self.assertEqual(access["traceId"], TRACE_ID)
        # Every FHIR request of the call: one traceparent, same trace, the request's span as parent.
        for headers in sent:
            self.assertEqual(headers, ["00-%s-%s-01" % (TRACE_ID, access["requestId"])])
        self.assertNotEqual(access["requestId"], CALLER_SPAN)
        text = json.dumps(lines)
        self.assertNotIn(ACCESS_TOKEN, text)
        self.assertNotIn(self.patient_id, text)

    def test_malformed_or_repeated_traceparent_is_ignored_and_text_log_shows_a_valid_one(self):
        server = e2e.Server("--fhir-allow", self.fhir_url)
        try:
            for headers in ({"traceparent": TRACEPARENT.upper()}, {"traceparent": TRACEPARENT[:-3]}, {}):
                _, sent = self.hook_call(server, headers)
                self.assertTrue(all(h == [] for h in sent), sent)
            # Two traceparent fields: http.client sends both when given as a list of pairs.
            conn = server.connection()
            request = json.loads(e2e.fixture_text("patient-view-severe.json"))
            request["fhirServer"] = self.fhir_url
            request["prefetch"].pop("weight", None)
            body = json.dumps(request).encode()
            conn.putrequest("POST", "/cds-services/" + SERVICE)
            for name, value in [("Content-Type", "application/json"), ("Content-Length", str(len(body))),
                                ("traceparent", TRACEPARENT),
                                ("traceparent", "00-%s-%s-01" % ("1" * 32, "2" * 16))]:
                conn.putheader(name, value)
            conn.endheaders(body)
            self.assertEqual(conn.getresponse().status, 200)
            conn.close()
            self.assertEqual(traceparents(self.fhir)[-1], [])
            self.assertNotIn("trace=", server.read_log())
            cards, _ = self.hook_call(server, {"traceparent": TRACEPARENT})
            self.assertEqual(server.stop(), 0)
            log = server.read_log()
        finally:
            server.cleanup()
        rules = ",".join(dict.fromkeys(c["source"]["topic"]["code"] for c in cards))
        self.assertRegex(log, r"POST /cds-services/\{id\} 200 [0-9.]+ms service=%s cards=%d hook=patient-view "
                              r"rules=%s trace=%s\n" % (SERVICE, len(cards), re.escape(rules), TRACE_ID))
        self.assertNotIn(ACCESS_TOKEN, log)


if __name__ == "__main__":
    e2e.main()
