#!/usr/bin/env python3
"""Every transport and request limit, end to end, each set small by its flag: body
size (413), header size (431), JSON nesting (400), FHIR resources per call (413), request
read timeout / slow-loris (408), response write timeout (a client that does not read is reset),
idle keep-alive timeout, concurrent connections (503). For each: the clear status (an
OperationOutcome with the stable error id, CORS header) and another client served meanwhile.

Usage: test_limits.py --binary PATH/TO/magnesium-cds --fixtures PATH/TO/fixtures
"""

import copy
import json
import socket
import threading
import time
import unittest

import e2e_support as e2e
from e2e_support import JSON, Server, fixture_text, outcome_code, recv_all

SEVERE = "patient-view-severe.json"
TCP_CLOSE = 7  # include/net/tcp_states.h


def tcp_state(sock):
    """The Linux TCP state of a socket (struct tcp_info's first byte)."""
    return sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_INFO, 8)[0]

PATIENT_VIEW = "/cds-services/magnesium-patient-view"


class LimitTest(unittest.TestCase):
    server_args = ()
    server = None

    @classmethod
    def setUpClass(cls):
        cls.server = Server(*cls.server_args)

    @classmethod
    def tearDownClass(cls):
        cls.server.stop_expecting_clean_exit()

    def assert_outcome(self, status, headers, body, expected_status, expected_id):
        self.assertEqual(status, expected_status, body[:300])
        self.assertEqual(headers.get("Access-Control-Allow-Origin"), "*")
        self.assertEqual(outcome_code(body), expected_id)
        return json.loads(body)["issue"][0]

    def assert_serves_others(self):
        self.assertTrue(e2e.severe_call_ok(self.server), "a normal call was not answered")

    def while_served(self, hostile, timeout=30):
        """Runs `hostile()` in a thread while this thread makes normal calls; returns the
        hostile result. Every normal call must succeed, each within a few seconds."""
        result = {}

        def run():
            try:
                result["value"] = hostile()
            except BaseException as e:  # reported below, in the test's thread
                result["error"] = e

        thread = threading.Thread(target=run)
        thread.start()
        calls = 0
        while thread.is_alive() or calls == 0:
            started = time.monotonic()
            self.assert_serves_others()
            self.assertLess(time.monotonic() - started, 5, "a normal call was held up")
            calls += 1
            time.sleep(0.1)
        thread.join(timeout)
        if "error" in result:
            raise result["error"]
        return result.get("value")


class BodySize(LimitTest):
    server_args = ("--max-body", "20000")

    def test_413_beyond_the_configured_body_size(self):
        body = '{"hook":"patient-view","pad":"' + "x" * 20001 + '"}'
        issue = self.assert_outcome(*self.server.request("POST", PATIENT_VIEW, body, JSON), 413, "body-too-large")
        self.assertIn("20000", issue["diagnostics"])
        self.assert_serves_others()  # a 9.9 kB fixture is under the limit

    def test_413_for_a_chunked_body_that_grows_beyond_it(self):
        conn = self.server.connection()
        try:
            conn.request("POST", PATIENT_VIEW, body=iter([b"{" + b" " * 8192] * 5), headers=JSON, encode_chunked=True)
            response = conn.getresponse()
            self.assert_outcome(response.status, dict(response.getheaders()), response.read(), 413, "body-too-large")
        finally:
            conn.close()
        self.assert_serves_others()


class HeaderSize(LimitTest):
    server_args = ("--max-header", "2048")

    def test_431_beyond_the_configured_header_size(self):
        issue = self.assert_outcome(*self.server.request("GET", "/cds-services", headers={"X-Pad": "a" * 2100}),
                                    431, "headers-too-large")
        self.assertIn("2048", issue["diagnostics"])
        status, _, _ = self.server.request("GET", "/cds-services", headers={"X-Pad": "a" * 1500})
        self.assertEqual(status, 200)
        self.assert_serves_others()


class JsonDepth(LimitTest):
    server_args = ("--max-json-depth", "16")

    def test_400_beyond_the_configured_depth(self):
        request = json.loads(fixture_text(SEVERE))
        nested = {}
        for _ in range(20):
            nested = {"n": nested}
        request["context"]["extra"] = nested
        issue = self.assert_outcome(*self.server.request("POST", PATIENT_VIEW, json.dumps(request), JSON),
                                    400, "json-too-deep")
        self.assertIn("16", issue["diagnostics"])
        self.assert_serves_others()  # the fixture nests 10 deep


def observation(i):
    return {"resourceType": "Observation", "id": "pad-%d" % i, "status": "final",
            "code": {"text": "padding"}, "subject": {"reference": "Patient/x"}}


class ResourceCount(LimitTest):
    server_args = ("--max-resources", "40")

    def padded(self, in_prefetch, in_drafts):
        """The severe fixture (14 resources, its Bundles included) plus padding resources."""
        request = json.loads(fixture_text(SEVERE))
        request["prefetch"]["padding"] = {"resourceType": "Bundle", "type": "searchset",
                                          "entry": [{"resource": observation(i)} for i in range(in_prefetch)]}
        if in_drafts:
            request["context"]["draftOrders"] = {"resourceType": "Bundle", "entry": [
                {"resource": {"resourceType": "MedicationRequest", "id": "d-%d" % i, "status": "draft",
                              "intent": "order", "subject": {"reference": "Patient/x"}}}
                for i in range(in_drafts)]}
        return json.dumps(request)

    def test_413_beyond_the_configured_count_across_prefetch_and_draft_orders(self):
        # 14 + 1 (the padding Bundle) + 25 = 40: at the limit, answered.
        status, _, body = self.server.request("POST", PATIENT_VIEW, self.padded(25, 0), JSON)
        self.assertEqual(status, 200, body[:300])
        issue = self.assert_outcome(*self.server.request("POST", PATIENT_VIEW, self.padded(26, 0), JSON),
                                    413, "too-many-resources")
        self.assertIn("40", issue["diagnostics"])
        # Draft orders count too: 14 + 1 + 19 + 1 (drafts Bundle) + 6 = 41.
        self.assert_outcome(*self.server.request("POST", PATIENT_VIEW, self.padded(19, 6), JSON),
                            413, "too-many-resources")
        self.assert_serves_others()

    def test_contained_resources_count(self):
        request = json.loads(fixture_text(SEVERE))
        request["prefetch"]["patient"]["contained"] = [observation(i) for i in range(30)]
        self.assert_outcome(*self.server.request("POST", PATIENT_VIEW, json.dumps(request), JSON),
                            413, "too-many-resources")


class DefaultResourceCount(LimitTest):
    def test_default_limit_is_ten_thousand(self):
        request = json.loads(fixture_text(SEVERE))
        minimal = {"resourceType": "Observation", "status": "final", "code": {}}
        request["prefetch"]["padding"] = {"resourceType": "Bundle", "entry": [{"resource": minimal}] * 9985}
        status, _, body = self.server.request("POST", PATIENT_VIEW, json.dumps(request), JSON)
        self.assertEqual(status, 200, body[:300])  # 14 + 1 + 9985 = 10,000
        request["prefetch"]["padding"]["entry"].append({"resource": minimal})
        self.assert_outcome(*self.server.request("POST", PATIENT_VIEW, json.dumps(request), JSON),
                            413, "too-many-resources")


class ReadTimeout(LimitTest):
    server_args = ("--read-timeout", "1s")

    def slow_loris(self, first, trickle):
        """Sends `first`, then one byte of `trickle` every 0.2 s; returns the answer and the
        seconds from the start until the server closed."""
        with socket.create_connection(("127.0.0.1", self.server.port), timeout=15) as s:
            started = time.monotonic()
            s.sendall(first)
            try:
                for byte in trickle:
                    s.sendall(bytes([byte]))
                    time.sleep(0.2)
            except OSError:
                pass
            answer = recv_all(s)
            return answer, time.monotonic() - started

    def test_408_for_a_header_that_never_ends(self):
        answer, took = self.while_served(lambda: self.slow_loris(b"GET /healthz HTTP/1.1\r\nHost: x\r\n", b"X" * 40))
        self.assertTrue(answer.startswith(b"HTTP/1.1 408"), answer[:100])
        self.assertIn(b"request-timeout", answer)
        self.assertIn(b"Access-Control-Allow-Origin: *", answer)
        self.assertLess(took, 6)

    def test_408_for_a_body_that_trickles(self):
        body = fixture_text(SEVERE).encode()
        head = (b"POST /cds-services/magnesium-patient-view HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                b"Content-Length: %d\r\n\r\n" % len(body))
        answer, took = self.while_served(lambda: self.slow_loris(head, body[:40]))
        self.assertTrue(answer.startswith(b"HTTP/1.1 408"), answer[:100])
        self.assertLess(took, 6)

    def test_the_timeout_is_per_request_not_per_connection(self):
        conn = self.server.connection()
        try:
            for _ in range(4):
                conn.request("GET", "/healthz")
                response = conn.getresponse()
                response.read()
                self.assertEqual(response.status, 200)
                time.sleep(0.4)
        finally:
            conn.close()


class WriteTimeout(LimitTest):
    server_args = ("--write-timeout", "1s")

    def test_a_client_that_does_not_read_is_reset_and_others_are_served(self):
        discovery_size = len(self.server.request("GET", "/cds-services")[2])
        # Enough pipelined responses to fill every buffer between us, however the kernels size them.
        count = max(200, (16 << 20) // discovery_size)

        def stalled_reader():
            s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
            s.settimeout(20)
            s.connect(("127.0.0.1", self.server.port))
            try:
                s.sendall(b"GET /cds-services HTTP/1.1\r\nHost: x\r\n\r\n" * count)
                # Read one byte a second: far slower than the responses are produced.
                started = time.monotonic()
                received = 0
                while time.monotonic() - started < 20:
                    # A reset leaves what we did not read in our receive queue, and recv()
                    # returns that first; the kernel's TCP state shows the reset at once.
                    if tcp_state(s) == TCP_CLOSE:
                        return "reset", received, time.monotonic() - started
                    try:
                        chunk = s.recv(1)
                    except (ConnectionResetError, BrokenPipeError):
                        return "reset", received, time.monotonic() - started
                    if not chunk:
                        return "closed", received, time.monotonic() - started
                    received += 1
                    time.sleep(1)
                return "still open", received, time.monotonic() - started
            finally:
                s.close()

        outcome, received, took = self.while_served(stalled_reader)
        self.assertEqual(outcome, "reset", "after %d bytes in %.1f s" % (received, took))
        self.assertLess(took, 15)
        self.assertLess(received, discovery_size * count)
        self.assertTrue(self.server.wait_for_log(r"did not take the response within 1000 ms; connection reset"))


class IdleTimeout(LimitTest):
    server_args = ("--idle-timeout", "1s")

    def test_an_idle_keep_alive_connection_is_closed(self):
        with socket.create_connection(("127.0.0.1", self.server.port), timeout=10) as s:
            s.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
            first = s.recv(65536)
            self.assertTrue(first.startswith(b"HTTP/1.1 200"))
            started = time.monotonic()
            self.assertEqual(recv_all(s), b"")
            took = time.monotonic() - started
        self.assertGreater(took, 0.5)
        self.assertLess(took, 5)
        self.assert_serves_others()

    def test_a_busy_keep_alive_connection_stays_open(self):
        conn = self.server.connection()
        try:
            conn.request("GET", "/healthz")
            conn.getresponse().read()
            first = conn.sock
            for _ in range(5):
                time.sleep(0.4)
                conn.request("GET", "/healthz")
                response = conn.getresponse()
                response.read()
                self.assertEqual(response.status, 200)
            self.assertIs(conn.sock, first)
        finally:
            conn.close()


class ConnectionCount(LimitTest):
    server_args = ("--max-connections", "3")

    def test_503_beyond_the_configured_count_and_recovery(self):
        held = []
        try:
            for _ in range(3):
                conn = self.server.connection()
                conn.request("GET", "/healthz")
                response = conn.getresponse()
                response.read()
                self.assertEqual(response.status, 200)
                held.append(conn)
            status, headers, body = self.server.request("GET", "/healthz")
            issue = self.assert_outcome(status, headers, body, 503, "too-many-connections")
            self.assertIn("3", issue["diagnostics"])
            self.assertEqual(headers.get("Retry-After"), "1")
            # The connections already admitted are still served.
            held[0].request("GET", "/readyz")
            response = held[0].getresponse()
            response.read()
            self.assertEqual(response.status, 200)
        finally:
            for conn in held:
                conn.close()
        deadline = time.monotonic() + 10
        while self.server.request("GET", "/healthz")[0] != 200:
            self.assertLess(time.monotonic(), deadline, "the service did not recover")
            time.sleep(0.05)


class CommandLine(unittest.TestCase):
    def test_every_limit_is_a_flag(self):
        import subprocess
        out = subprocess.run([e2e.BINARY, "--help"], capture_output=True, text=True, timeout=30).stdout
        for flag in ("--max-body", "--max-header", "--max-json-depth", "--max-resources", "--read-timeout",
                     "--write-timeout", "--idle-timeout", "--max-connections", "--tls-handshake-timeout",
                     "--body-budget"):
            self.assertIn(flag, out)

    def test_body_budget_below_max_body_is_refused(self):
        import subprocess
        result = subprocess.run([e2e.BINARY, "serve", "--listen", "127.0.0.1:0", "--max-body", "2000",
                                 "--body-budget", "1999"], capture_output=True, text=True, timeout=30)
        self.assertEqual(result.returncode, 2)
        self.assertIn("--body-budget must be at least --max-body", result.stderr)

    def test_zero_limits_are_refused(self):
        import subprocess
        for flag in ("--max-resources", "--max-body", "--max-connections"):
            with self.subTest(flag=flag):
                result = subprocess.run([e2e.BINARY, "serve", "--listen", "127.0.0.1:0", flag, "0"],
                                        capture_output=True, text=True, timeout=30)
                self.assertEqual(result.returncode, 2)
                self.assertIn("must be positive", result.stderr)


if __name__ == "__main__":
    e2e.main()
