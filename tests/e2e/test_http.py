#!/usr/bin/env python3
"""End-to-end tests: the real `magnesium-cds serve` on a free loopback port, spoken to over
HTTP/1.1 with Python's standard library only (http.client and raw sockets).

Covers discovery, every hook with the fixture requests, CORS preflight, every error status
(400 malformed / too deep / schema, 404, 405, 408, 412, 413, 415, 431, 503), keep-alive, the
service still answering after hostile input, `evaluate` printing the same answer as HTTP
(apart from uuids), `check-rules`, start-up refusal on invalid rules, and a graceful SIGTERM
that lets an in-flight request finish and exits 0.

Usage: test_http.py --binary PATH/TO/magnesium-cds --fixtures PATH/TO/fixtures
"""

import argparse
import http.client
import json
import os
import re
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import unittest

import e2e_support
from e2e_support import Server, fixture_text, recv_all, without_link_base, without_uuids

BINARY = None
FIXTURES = None
# The fixture requests are dated relative to this time (fixtures/requests/README.md).
FIXTURE_NOW = "2026-03-10T09:00:00Z"
HOOK_FIXTURES = {
    "patient-view-severe.json": "magnesium-patient-view",
    "patient-view-mild.json": "magnesium-patient-view",
    "order-select-furosemide-low-mg.json": "magnesium-order-select",
    "sandbox-order-select-bare-draft.json": "magnesium-order-select",
    "sandbox-order-select-r4-invalid-category.json": "magnesium-order-select",
    "order-sign-ppi-mild.json": "magnesium-order-sign",
    "order-sign-multiple-findings.json": "magnesium-order-sign",
}


JSON = {"Content-Type": "application/json"}
SERVER = None


def setUpModule():
    global SERVER
    SERVER = Server()


def tearDownModule():
    SERVER.stop_expecting_clean_exit()


class OperationOutcomeAssertions(unittest.TestCase):
    def assert_outcome(self, status, headers, body, expected_status, expected_id, expression=None):
        self.assertEqual(status, expected_status, body[:500])
        self.assertEqual(headers.get("Access-Control-Allow-Origin"), "*")
        self.assertTrue(headers.get("Content-Type", "").startswith("application/json"))
        outcome = json.loads(body)
        self.assertEqual(outcome["resourceType"], "OperationOutcome")
        issue = outcome["issue"][0]
        self.assertEqual(issue["severity"], "error")
        self.assertEqual(issue["details"]["coding"][0]["code"], expected_id)
        self.assertTrue(issue.get("diagnostics"))
        if expression is not None:
            self.assertEqual(issue["expression"], [expression])
        return issue


class DiscoveryAndHooks(OperationOutcomeAssertions):
    def test_discovery(self):
        status, headers, body = SERVER.request("GET", "/cds-services", headers={"Accept": "application/json"})
        self.assertEqual(status, 200)
        self.assertEqual(headers.get("Access-Control-Allow-Origin"), "*")
        services = json.loads(body)["services"]
        self.assertEqual({s["hook"] for s in services}, {"patient-view", "order-select", "order-sign"})
        for s in services:
            self.assertTrue(s["id"] and s["description"] and s["title"])
            self.assertIn("magnesium", s["prefetch"])
            for query in s["prefetch"].values():
                self.assertIn("{{context.patientId}}", query)

    def test_every_hook_with_fixture_requests(self):
        for name, service in HOOK_FIXTURES.items():
            with self.subTest(fixture=name):
                status, headers, body = SERVER.request("POST", "/cds-services/" + service, fixture_text(name), JSON)
                self.assertEqual(status, 200, body[:300])
                self.assertEqual(headers.get("Access-Control-Allow-Origin"), "*")
                cards = json.loads(body)["cards"]
                for card in cards:
                    self.assertTrue(card["uuid"])
                    self.assertLess(len(card["summary"]), 140)
                    self.assertIn(card["indicator"], ("info", "warning", "critical"))
                if name == "sandbox-order-select-bare-draft.json":
                    self.assertEqual(cards, [])
                else:
                    self.assertTrue(cards, "expected at least one card")

    def test_severe_patient_view_is_critical_with_iv_suggestion(self):
        status, _, body = SERVER.request("POST", "/cds-services/magnesium-patient-view",
                                         fixture_text("patient-view-severe.json"), JSON)
        self.assertEqual(status, 200)
        card = json.loads(body)["cards"][0]
        self.assertEqual(card["indicator"], "critical")
        resources = [a["resource"] for s in card["suggestions"] for a in s["actions"] if a["type"] == "create"]
        self.assertTrue(any(r["resourceType"] == "MedicationRequest" for r in resources))

    def test_another_patients_or_implausible_magnesium_gives_no_card(self):
        # CLINICAL-BASIS.md §1: a result whose subject is another patient never counts (dropped
        # silently), nor does an implausible value (Mg -5, 0 or 1e-400 mg/dL).
        def severe_mg_changed(change, value_text=None):
            request = json.loads(fixture_text("patient-view-severe.json"))
            for entry in request["prefetch"]["magnesium"]["entry"]:
                change(entry["resource"])
            text = json.dumps(request)
            # The number as written (json.dumps would turn 1e-400 into 0.0).
            return text.replace("987654.25", value_text) if value_text else text

        variants = {"subject Patient/other": (lambda r: r.update(subject={"reference": "Patient/other"}), None)}
        for text in ("-5", "0", "1e-400"):
            variants["value " + text] = (lambda r: r["valueQuantity"].update(value=987654.25), text)
        for name, (change, value_text) in variants.items():
            with self.subTest(name):
                status, _, body = SERVER.request("POST", "/cds-services/magnesium-patient-view",
                                                 severe_mg_changed(change, value_text), JSON)
                self.assertEqual(status, 200)
                self.assertEqual(json.loads(body)["cards"], [])

    def test_charset_parameter_accepted(self):
        status, _, _ = SERVER.request("POST", "/cds-services/magnesium-patient-view",
                                      fixture_text("patient-view-mild.json"),
                                      {"Content-Type": "application/json; charset=utf-8"})
        self.assertEqual(status, 200)

    def test_health_and_readiness(self):
        self.assertEqual(SERVER.request("GET", "/healthz")[0], 200)
        status, _, body = SERVER.request("GET", "/readyz")
        self.assertEqual(status, 200)
        self.assertEqual(json.loads(body)["status"], "ready")

    def test_feedback(self):
        feedback = {"feedback": [{"card": "9a1e1b5c-1c0e-4d5b-9a43-3b0f0d1d2c3e", "outcome": "overridden",
                                  "overrideReason": {"reason": {"code": "not-relevant", "system": "http://example.org"}},
                                  "outcomeTimestamp": "2026-03-10T09:05:00Z"}]}
        status, headers, _ = SERVER.request("POST", "/cds-services/magnesium-patient-view/feedback",
                                            json.dumps(feedback), JSON)
        self.assertEqual(status, 200)
        self.assertEqual(headers.get("Access-Control-Allow-Origin"), "*")


class Cors(unittest.TestCase):
    def test_preflight_on_every_path(self):
        for path in ("/cds-services", "/cds-services/magnesium-order-select",
                     "/cds-services/magnesium-order-select/feedback", "/anything"):
            with self.subTest(path=path):
                status, headers, body = SERVER.request("OPTIONS", path, headers={
                    "Origin": "https://sandbox.cds-hooks.org",
                    "Access-Control-Request-Method": "POST",
                    "Access-Control-Request-Headers": "authorization,content-type"})
                self.assertEqual(status, 204)
                self.assertEqual(body, b"")
                self.assertEqual(headers.get("Access-Control-Allow-Origin"), "*")
                self.assertIn("POST", headers.get("Access-Control-Allow-Methods", ""))
                allowed = [h.strip().lower() for h in headers.get("Access-Control-Allow-Headers", "").split(",")]
                self.assertIn("authorization", allowed)
                self.assertIn("content-type", allowed)
                self.assertGreater(int(headers.get("Access-Control-Max-Age", "0")), 0)


class ErrorStatuses(OperationOutcomeAssertions):
    def tearDown(self):
        # After every bad input the service still answers a real call correctly.
        status, _, body = SERVER.request("POST", "/cds-services/magnesium-patient-view",
                                         fixture_text("patient-view-severe.json"), JSON)
        self.assertEqual(status, 200)
        self.assertEqual(json.loads(body)["cards"][0]["indicator"], "critical")

    def test_400_malformed_json(self):
        issue = self.assert_outcome(*SERVER.request("POST", "/cds-services/magnesium-patient-view",
                                                    '{"hook": "patient-view", "context": {', JSON),
                                    400, "malformed-json")
        self.assertIn("line 1", issue["diagnostics"])

    def test_400_deeply_nested_json(self):
        body = '{"hook":"patient-view","hookInstance":"x","context":' + "[" * 100000 + "]" * 100000 + "}"
        self.assert_outcome(*SERVER.request("POST", "/cds-services/magnesium-patient-view", body, JSON),
                            400, "json-too-deep")

    def test_400_schema_violation_names_the_field(self):
        request = json.loads(fixture_text("patient-view-severe.json"))
        del request["context"]["patientId"]
        issue = self.assert_outcome(*SERVER.request("POST", "/cds-services/magnesium-patient-view",
                                                    json.dumps(request), JSON),
                                    400, "schema-violation", "context.patientId")
        self.assertIn("context.patientId", issue["diagnostics"])

    def test_400_hook_mismatch(self):
        self.assert_outcome(*SERVER.request("POST", "/cds-services/magnesium-order-sign",
                                            fixture_text("patient-view-severe.json"), JSON),
                            400, "hook-mismatch", "hook")

    def test_404_unknown_service_and_path(self):
        self.assert_outcome(*SERVER.request("POST", "/cds-services/no-such-service",
                                            fixture_text("patient-view-severe.json"), JSON),
                            404, "unknown-service")
        self.assert_outcome(*SERVER.request("GET", "/fhir/Patient/pat-20407"), 404, "unknown-path")

    def test_405_wrong_method(self):
        status, headers, body = SERVER.request("GET", "/cds-services/magnesium-patient-view")
        self.assert_outcome(status, headers, body, 405, "method-not-allowed")
        self.assertEqual(headers.get("Allow"), "POST, OPTIONS")
        status, headers, body = SERVER.request("DELETE", "/cds-services")
        self.assert_outcome(status, headers, body, 405, "method-not-allowed")
        self.assertEqual(headers.get("Allow"), "GET, OPTIONS")

    def test_412_required_data_unavailable(self):
        request = json.loads(fixture_text("patient-view-severe.json"))
        del request["prefetch"]["magnesium"]
        issue = self.assert_outcome(*SERVER.request("POST", "/cds-services/magnesium-patient-view",
                                                    json.dumps(request), JSON),
                                    412, "required-data-unavailable", "prefetch.magnesium")
        self.assertIn("magnesium", issue["diagnostics"])

    def test_413_ten_mib_body(self):
        body = b'{"hook":"patient-view","padding":"' + b"x" * (10 * 1024 * 1024) + b'"}'
        self.assert_outcome(*SERVER.request("POST", "/cds-services/magnesium-patient-view", body, JSON),
                            413, "body-too-large")

    def test_413_ten_mib_chunked_body(self):
        def chunks():
            for _ in range(160):
                yield b"x" * 65536
        conn = SERVER.connection()
        try:
            conn.request("POST", "/cds-services/magnesium-patient-view", body=chunks(),
                         headers={"Content-Type": "application/json"}, encode_chunked=True)
            response = conn.getresponse()
            self.assert_outcome(response.status, dict(response.getheaders()), response.read(),
                                413, "body-too-large")
        except (BrokenPipeError, ConnectionResetError):
            self.fail("the connection was reset instead of answered with 413")
        finally:
            conn.close()

    def test_415_wrong_content_type(self):
        self.assert_outcome(*SERVER.request("POST", "/cds-services/magnesium-patient-view",
                                            fixture_text("patient-view-severe.json"),
                                            {"Content-Type": "text/plain"}),
                            415, "unsupported-media-type")
        self.assert_outcome(*SERVER.request("POST", "/cds-services/magnesium-patient-view",
                                            fixture_text("patient-view-severe.json"),
                                            {"Content-Type": "application/x-www-form-urlencoded"}),
                            415, "unsupported-media-type")

    def test_431_headers_too_large(self):
        self.assert_outcome(*SERVER.request("GET", "/cds-services", headers={"X-Padding": "a" * 65536}),
                            431, "headers-too-large")

    def test_400_garbage_and_truncated_requests(self):
        with socket.create_connection(("127.0.0.1", SERVER.port), timeout=10) as s:
            s.sendall(b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03 not http at all\r\n\r\n")
            answer = s.recv(65536)
            self.assertTrue(answer.startswith(b"HTTP/1.1 400"), answer[:100])
            self.assertIn(b"Access-Control-Allow-Origin: *", answer)
        with socket.create_connection(("127.0.0.1", SERVER.port), timeout=10) as s:
            s.sendall(b"POST /cds-services/magnesium-patient-view HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n{")
            s.shutdown(socket.SHUT_WR)
            # The client gave up mid-body: the server closes without a crash or a hang.
            self.assertEqual(s.recv(65536), b"")


class Connections(unittest.TestCase):
    def fixture_and_answer(self, name):
        """A fixture request's text, its service path, and the answer it gets sent plainly."""
        text = fixture_text(name)
        path = "/cds-services/" + HOOK_FIXTURES[name]
        status, _, plain = SERVER.request("POST", path, text, JSON)
        self.assertEqual(status, 200, plain[:300])
        return text, path, plain

    def test_keep_alive(self):
        conn = SERVER.connection()
        try:
            conn.request("GET", "/healthz")
            response = conn.getresponse()
            response.read()
            self.assertEqual(response.status, 200)
            first_socket = conn.sock
            for name, service in list(HOOK_FIXTURES.items())[:3]:
                conn.request("POST", "/cds-services/" + service, fixture_text(name), JSON)
                response = conn.getresponse()
                response.read()
                self.assertEqual(response.status, 200)
                self.assertIs(conn.sock, first_socket, "the connection was not kept alive")
            # An error response keeps the connection too.
            conn.request("POST", "/cds-services/nope", "{}", JSON)
            response = conn.getresponse()
            response.read()
            self.assertEqual(response.status, 404)
            conn.request("GET", "/cds-services")
            response = conn.getresponse()
            response.read()
            self.assertEqual(response.status, 200)
            self.assertIs(conn.sock, first_socket)
        finally:
            conn.close()

    def test_pipelined_requests(self):
        with socket.create_connection(("127.0.0.1", SERVER.port), timeout=10) as s:
            s.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\nGET /readyz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
            data = recv_all(s)
        self.assertEqual(data.count(b"HTTP/1.1 200 OK"), 2)

    def test_bodies_larger_than_a_read_pipelined_and_split(self):
        # A body is read in pieces of up to 64 KiB: two 200 KB bodies back to back on one
        # connection, the first split mid-body, then a GET. Each answer must be the one the
        # plain request gets, and what follows a body must be read as the next request.
        text, path, plain = self.fixture_and_answer("order-sign-ppi-mild.json")
        padded = (text[:1] + " " * 200_000 + text[1:]).encode()

        def post(body):
            return (b"POST " + path.encode() + b" HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                    b"Content-Length: " + str(len(body)).encode() + b"\r\n\r\n" + body)

        first, second = post(padded), post(padded)
        cut = len(first) - 70_000
        with socket.create_connection(("127.0.0.1", SERVER.port), timeout=20) as s:
            s.sendall(first[:cut])
            time.sleep(0.2)
            s.sendall(first[cut:] + second + b"GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
            data = recv_all(s)
        answers = []
        while data:
            head, _, rest = data.partition(b"\r\n\r\n")
            length = int(re.search(rb"(?im)^content-length:\s*(\d+)", head).group(1))
            answers.append((head.split(b" ", 2)[1], rest[:length]))
            data = rest[length:]
        self.assertEqual([status for status, _ in answers], [b"200", b"200", b"200"])
        for _, body in answers[:2]:
            self.assertEqual(without_uuids(json.loads(body)), without_uuids(json.loads(plain)))

    def test_chunked_body_gets_the_answer_of_the_whole_body(self):
        # Transfer-Encoding: chunked. Every chunk holds part of the JSON's structure, so a
        # chunk dropped, repeated or moved makes another body: the cuts fall inside a key,
        # inside a string after 100 KB of whitespace (that chunk is larger than a read of
        # 64 KiB), in the middle of the body, and inside a two-byte character.
        text, path, plain = self.fixture_and_answer("order-sign-multiple-findings.json")
        request = json.loads(text)
        hook = json.dumps(request.pop("hook"))
        rest = json.dumps(request)[1:-1]
        head = '{"hook":' + " " * 100_000 + hook[:4]
        body = (head + hook[4:] + "," + rest + ', "extension": {"com.example.note": "Mg\u00b2\u207a"}}').encode()
        in_superscript_two = len(body) - len('\u207a"}}'.encode()) - 1
        cuts = [3, len(head), len(head) + 10 + len(rest) // 2, in_superscript_two, len(body)]
        chunks = [body[a:b] for a, b in zip([0] + cuts[:-1], cuts)]
        self.assertEqual(b"".join(chunks), body)
        self.assertGreater(len(chunks[1]), 65536)
        conn = SERVER.connection()
        try:
            conn.request("POST", path, body=iter(chunks), headers=JSON, encode_chunked=True)
            response = conn.getresponse()
            answer = response.read()
            self.assertEqual(response.status, 200, answer[:300])
            self.assertEqual(without_uuids(json.loads(answer)), without_uuids(json.loads(plain)))
        finally:
            conn.close()


class Evaluate(unittest.TestCase):
    def test_evaluate_prints_the_http_answer(self):
        for name, service in HOOK_FIXTURES.items():
            with self.subTest(fixture=name):
                path = os.path.join(FIXTURES, "requests", name)
                cli = subprocess.run([BINARY, "evaluate", path, "--now", FIXTURE_NOW],
                                     capture_output=True, text=True, timeout=60)
                self.assertEqual(cli.returncode, 0, cli.stderr)
                status, _, body = SERVER.request("POST", "/cds-services/" + service, fixture_text(name), JSON)
                self.assertEqual(status, 200)
                self.assertEqual(without_link_base(without_uuids(json.loads(cli.stdout))),
                                 without_link_base(without_uuids(json.loads(body))))

    def test_evaluate_with_explicit_service_and_stdin(self):
        cli = subprocess.run([BINARY, "evaluate", "-", "--now", FIXTURE_NOW, "--service", "magnesium-patient-view"],
                             input=fixture_text("patient-view-severe.json"), capture_output=True, text=True,
                             timeout=60)
        self.assertEqual(cli.returncode, 0, cli.stderr)
        self.assertEqual(json.loads(cli.stdout)["cards"][0]["indicator"], "critical")

    def test_evaluate_errors_print_the_operation_outcome(self):
        request = json.loads(fixture_text("patient-view-severe.json"))
        del request["prefetch"]["magnesium"]
        cli = subprocess.run([BINARY, "evaluate", "-", "--now", FIXTURE_NOW], input=json.dumps(request),
                             capture_output=True, text=True, timeout=60)
        self.assertNotEqual(cli.returncode, 0)
        outcome = json.loads(cli.stdout)
        self.assertEqual(outcome["resourceType"], "OperationOutcome")
        self.assertEqual(outcome["issue"][0]["expression"], ["prefetch.magnesium"])

        cli = subprocess.run([BINARY, "evaluate", "-"], input="{not json", capture_output=True, text=True, timeout=60)
        self.assertNotEqual(cli.returncode, 0)
        self.assertEqual(json.loads(cli.stdout)["resourceType"], "OperationOutcome")


class CommandLine(unittest.TestCase):
    def test_help_lists_every_flag(self):
        out = subprocess.run([BINARY, "--help"], capture_output=True, text=True, timeout=30)
        self.assertEqual(out.returncode, 0)
        for flag in ("serve", "evaluate", "check-rules", "--listen", "--rules", "--threads", "--max-body",
                     "--max-header", "--max-json-depth", "--max-connections", "--read-timeout", "--idle-timeout",
                     "--write-timeout", "--shutdown-timeout", "--cors-origin", "--cors-max-age", "--now",
                     "--service", "--log-level", "--io-model", "--version"):
            self.assertIn(flag, out.stdout)

    def test_version(self):
        out = subprocess.run([BINARY, "--version"], capture_output=True, text=True, timeout=30)
        self.assertEqual(out.returncode, 0)
        self.assertRegex(out.stdout, r"^magnesium-cds \d+\.\d+\.\d+")

    def test_unknown_flag_is_a_usage_error(self):
        out = subprocess.run([BINARY, "serve", "--no-such-flag"], capture_output=True, text=True, timeout=30)
        self.assertEqual(out.returncode, 2)
        self.assertIn("no-such-flag", out.stderr)

    def test_check_rules(self):
        with tempfile.TemporaryDirectory() as tmp:
            broken = os.path.join(tmp, "broken.json")
            with open(broken, "w", encoding="utf-8") as f:
                f.write('{"id": 5, "services": "none"}')
            out = subprocess.run([BINARY, "check-rules", broken], capture_output=True, text=True, timeout=30)
            self.assertEqual(out.returncode, 1)
            self.assertRegex(out.stdout, r"(?m)^/\S*: ")

            not_json = os.path.join(tmp, "not.json")
            with open(not_json, "w", encoding="utf-8") as f:
                f.write("{")
            out = subprocess.run([BINARY, "check-rules", not_json], capture_output=True, text=True, timeout=30)
            self.assertEqual(out.returncode, 1)

            # serve refuses to start on the broken file and says why.
            out = subprocess.run([BINARY, "serve", "--listen", "127.0.0.1:0", "--rules", broken],
                                 capture_output=True, text=True, timeout=30)
            self.assertNotEqual(out.returncode, 0)
            self.assertIn("refusing to start", out.stderr)
            self.assertEqual(out.stdout, "")

    def test_rule_file_out_of_step_with_the_code_is_refused_naming_each_mismatch(self):
        bundled = os.path.join(FIXTURES, "..", "rules", "config", "magnesium-rules.json")
        with open(bundled, encoding="utf-8") as f:
            rules = json.load(f)
        del rules["rules"]["digoxin-with-hypomagnesemia"]
        rules["rules"]["calcium-with-hypomagnesemia"] = {"title": "Calcium", "summary": "Calcium with low Mg",
                                                           "override_reasons": ["patient-declined"]}
        del rules["texts"]["chelation_advice"]
        rules["rules"]["repletion-renal-severely-impaired"]["summary"] = "{drug}: Mg {mg}, renal function {renal}"
        expected = [r"/rules/digoxin-with-hypomagnesemia: .*not configured",
                    r"/rules/calcium-with-hypomagnesemia: unknown rule",
                    r"/texts/chelation_advice: missing text .*oral-magnesium-chelation",
                    r"/rules/repletion-renal-severely-impaired/summary: unknown placeholder \{mg\}"]
        with tempfile.TemporaryDirectory() as tmp:
            bad = os.path.join(tmp, "out-of-step.json")
            with open(bad, "w", encoding="utf-8") as f:
                json.dump(rules, f)
            out = subprocess.run([BINARY, "check-rules", bad], capture_output=True, text=True, timeout=30)
            self.assertEqual(out.returncode, 1, out.stdout)
            self.assertIn("4 problems", out.stdout)
            for pattern in expected:
                self.assertRegex(out.stdout, r"(?m)^" + pattern)

            out = subprocess.run([BINARY, "serve", "--listen", "127.0.0.1:0", "--rules", bad],
                                 capture_output=True, text=True, timeout=30)
            self.assertNotEqual(out.returncode, 0)
            self.assertIn("refusing to start", out.stderr)
            for pattern in expected:
                self.assertRegex(out.stderr, r"(?m)^\s*" + pattern)
            self.assertEqual(out.stdout, "")

    def test_check_rules_accepts_the_bundled_file(self):
        bundled = os.path.join(FIXTURES, "..", "rules", "config", "magnesium-rules.json")
        out = subprocess.run([BINARY, "check-rules", bundled], capture_output=True, text=True, timeout=30)
        self.assertEqual(out.returncode, 0, out.stdout)
        self.assertIn("OK", out.stdout)


class ConnectionLimit(unittest.TestCase):
    def test_503_beyond_max_connections_then_recovers(self):
        server = Server("--max-connections", "2")
        try:
            held = []
            for _ in range(2):
                conn = server.connection()
                conn.request("GET", "/healthz")
                response = conn.getresponse()
                response.read()
                self.assertEqual(response.status, 200)
                held.append(conn)
            status, headers, body = server.request("GET", "/healthz")
            self.assertEqual(status, 503)
            self.assertEqual(headers.get("Access-Control-Allow-Origin"), "*")
            self.assertEqual(json.loads(body)["issue"][0]["details"]["coding"][0]["code"], "too-many-connections")
            for conn in held:
                conn.close()
            deadline = time.monotonic() + 10
            while True:
                status = server.request("GET", "/healthz")[0]
                if status == 200 or time.monotonic() > deadline:
                    break
                time.sleep(0.05)
            self.assertEqual(status, 200)
            self.assertEqual(server.stop(), 0)
        finally:
            server.cleanup()


class SlowClients(unittest.TestCase):
    def test_408_when_the_request_does_not_arrive_in_time(self):
        server = Server("--read-timeout", "500ms")
        try:
            with socket.create_connection(("127.0.0.1", server.port), timeout=10) as s:
                # A slow-loris client: a header that never ends, one byte at a time.
                s.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n")
                started = time.monotonic()
                try:
                    for _ in range(20):
                        s.sendall(b"X")
                        time.sleep(0.1)
                except OSError:
                    pass
                answer = s.recv(65536)
                self.assertLess(time.monotonic() - started, 5)
            self.assertTrue(answer.startswith(b"HTTP/1.1 408"), answer[:100])
            self.assertIn(b"Access-Control-Allow-Origin: *", answer)
            self.assertIn(b"request-timeout", answer)
            # Keep-alive requests that arrive promptly are not affected.
            conn = server.connection()
            for _ in range(3):
                conn.request("GET", "/healthz")
                response = conn.getresponse()
                response.read()
                self.assertEqual(response.status, 200)
                time.sleep(0.3)
            conn.close()
            self.assertEqual(server.stop(), 0)
        finally:
            server.cleanup()


class IoModels(unittest.TestCase):
    """`serve --io-model shared` (one io_context run by every thread, a strand per
    connection) keeps every behaviour of the default per-thread model."""

    def test_shared_serves_keep_alive_pipelined_and_slow_clients_and_stops_cleanly(self):
        server = Server("--io-model", "shared", "--read-timeout", "500ms")  # two threads
        try:
            self.assertTrue(server.wait_for_log(r"\(shared I/O\)", timeout=5))
            # More connections than threads, each with several keep-alive requests, at once.
            failures = []

            def client():
                conn = server.connection()
                try:
                    for _ in range(3):
                        conn.request("POST", "/cds-services/magnesium-patient-view",
                                     fixture_text("patient-view-severe.json"), JSON)
                        response = conn.getresponse()
                        cards = json.loads(response.read())["cards"]
                        if response.status != 200 or cards[0]["indicator"] != "critical":
                            failures.append(response.status)
                finally:
                    conn.close()

            clients = [threading.Thread(target=client) for _ in range(5)]
            for c in clients:
                c.start()
            for c in clients:
                c.join(60)
            self.assertEqual(failures, [])

            with socket.create_connection(("127.0.0.1", server.port), timeout=10) as s:
                s.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n" * 3)
                answers = b""
                while answers.count(b'{"status":"pass"}') < 3:
                    chunk = s.recv(65536)
                    self.assertTrue(chunk, answers)
                    answers += chunk
                self.assertEqual(answers.count(b"HTTP/1.1 200 OK"), 3)
                # The same connection then stalls mid-header: 408 from the watchdog.
                s.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n")
                started = time.monotonic()
                late = s.recv(65536)
                self.assertLess(time.monotonic() - started, 5)
            self.assertTrue(late.startswith(b"HTTP/1.1 408"), late[:100])
            self.assertEqual(server.stop(), 0)
            self.assertTrue(server.read_log().rstrip().endswith("info stopped"))
        finally:
            server.cleanup()

    def test_an_unknown_io_model_is_a_usage_error(self):
        out = subprocess.run([BINARY, "serve", "--io-model", "fibers"], capture_output=True, text=True, timeout=30)
        self.assertEqual(out.returncode, 2)
        self.assertIn("--io-model must be shared or per-thread", out.stderr)


class GracefulShutdown(unittest.TestCase):
    def test_sigterm_lets_the_request_in_flight_finish_and_exits_0(self):
        server = Server()
        try:
            body = fixture_text("patient-view-severe.json").encode()
            # An idle keep-alive connection, closed by the shutdown.
            idle = server.connection()
            idle.request("GET", "/healthz")
            idle.getresponse().read()
            # A request whose body is still arriving when SIGTERM comes.
            s = socket.create_connection(("127.0.0.1", server.port), timeout=20)
            s.sendall(b"POST /cds-services/magnesium-patient-view HTTP/1.1\r\nHost: x\r\n"
                      b"Content-Type: application/json\r\nContent-Length: %d\r\n\r\n" % len(body))
            s.sendall(body[:100])
            time.sleep(0.3)
            server.process.send_signal(signal.SIGTERM)
            time.sleep(0.3)
            self.assertIsNone(server.process.poll(), "the server exited with a request in flight")
            s.sendall(body[100:])
            data = recv_all(s)
            s.close()
            self.assertTrue(data.startswith(b"HTTP/1.1 200"), data[:200])
            self.assertIn(b"Connection: close", data)
            self.assertIn(b'"indicator":"critical"', data)
            self.assertEqual(server.process.wait(timeout=20), 0)
            with self.assertRaises(OSError):
                socket.create_connection(("127.0.0.1", server.port), timeout=2).close()
            idle.close()
        finally:
            server.cleanup()


class Logs(unittest.TestCase):
    def test_log_has_one_line_per_request_and_no_patient_data(self):
        token = "e2e-secret-access-token-1234567890"
        request = json.loads(fixture_text("patient-view-severe.json"))
        request["fhirServer"] = "https://ehr.example/fhir"
        request["fhirAuthorization"] = {"access_token": token, "token_type": "Bearer", "expires_in": 300,
                                        "scope": "patient/*.read", "subject": "magnesium-cds"}
        status, _, _ = SERVER.request("POST", "/cds-services/magnesium-patient-view", json.dumps(request),
                                      {"Content-Type": "application/json", "Authorization": "Bearer " + token})
        self.assertEqual(status, 200)
        SERVER.request("GET", "/Patient/" + request["context"]["patientId"])
        time.sleep(0.2)
        log = SERVER.read_log()
        self.assertRegex(log, r"POST /cds-services/\{id\} 200 [0-9.]+ms service=magnesium-patient-view cards=\d+")
        self.assertNotIn(token, log)
        self.assertNotIn(request["context"]["patientId"], log)
        self.assertNotIn(request["context"]["userId"], log)


def main():
    global BINARY, FIXTURES
    parser = argparse.ArgumentParser()
    parser.add_argument("--binary", required=True)
    parser.add_argument("--fixtures", required=True)
    args, rest = parser.parse_known_args()
    BINARY = os.path.abspath(args.binary)
    e2e_support.BINARY = BINARY  # the shared Server starts this binary
    FIXTURES = os.path.abspath(args.fixtures)
    e2e_support.FIXTURES = FIXTURES  # fixture_text reads from here
    unittest.main(argv=[sys.argv[0], *rest], verbosity=2)


if __name__ == "__main__":
    main()
