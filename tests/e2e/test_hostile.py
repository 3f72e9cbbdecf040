#!/usr/bin/env python3
"""The hostile-client test, over the real binary on loopback: garbage bytes,
truncated requests, pipelined requests, 10,000 rapid connects/disconnects, clients that read
at one byte a second — with a normal client served throughout. Afterwards the service answers
a normal request correctly, every connection it held is closed again, and its resident memory
(VmRSS) is within 25% of what it was after warm-up. Then 150 connections with 4 MiB bodies
each: the peak resident memory (VmHWM) grows by less than 48 MiB, with and without
authentication. And 3.9 MB bodies of empty list elements: less than 64 MiB each.

The phases run in order in one test (they share the server whose memory is measured); each
phase is bounded in time.

Usage: test_hostile.py --binary PATH/TO/magnesium-cds --fixtures PATH/TO/fixtures
"""

import json
import os
import random
import socket
import struct
import threading
import time
import unittest

import e2e_support as e2e
from e2e_support import JSON, Server, fixture_text, recv_all

HOST = "127.0.0.1"
PATIENT_VIEW = "/cds-services/magnesium-patient-view"
TCP_CLOSE = 7  # include/net/tcp_states.h


def tcp_state(sock):
    return sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_INFO, 8)[0]


def reset_close(sock):
    """Close with a RST (SO_LINGER 0), as a crashing client or a middlebox would."""
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    sock.close()


def read_response(f):
    """One HTTP/1.1 response from a buffered socket file: (status, headers, body)."""
    status_line = f.readline()
    if not status_line:
        raise ConnectionError("connection closed before a response")
    status = int(status_line.split()[1])
    headers = {}
    while True:
        line = f.readline()
        if line in (b"\r\n", b""):
            break
        name, _, value = line.decode("latin-1").partition(":")
        headers[name.strip().lower()] = value.strip()
    body = f.read(int(headers.get("content-length", "0")))
    return status, headers, body


def request_bytes(method, path, body=b"", extra=b""):
    head = b"%s %s HTTP/1.1\r\nHost: x\r\n" % (method.encode(), path.encode())
    if body:
        head += b"Content-Type: application/json\r\nContent-Length: %d\r\n" % len(body)
    return head + extra + b"\r\n" + body


class Hostile(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.server = Server("--read-timeout", "3s", "--write-timeout", "2s", "--idle-timeout", "5s")
        cls.severe = fixture_text("patient-view-severe.json").encode()

    @classmethod
    def tearDownClass(cls):
        cls.server.stop_expecting_clean_exit(log_tail=3000)

    # --- helpers -------------------------------------------------------------------------

    def normal_call_ok(self):
        return e2e.severe_call_ok(self.server)

    def with_normal_client(self, phase, *args):
        """Runs `phase` while a normal client keeps calling; every normal call must succeed
        within 5 s (each is a few ms when the server is not held up)."""
        failures = []
        stop = threading.Event()
        calls = [0]

        def normal_client():
            while not stop.is_set():
                started = time.monotonic()
                try:
                    ok = self.normal_call_ok()
                except OSError as e:
                    ok = False
                    failures.append(repr(e))
                took = time.monotonic() - started
                if not ok or took > 5:
                    failures.append("normal call ok=%s took %.1f s" % (ok, took))
                calls[0] += 1
                time.sleep(0.05)

        thread = threading.Thread(target=normal_client)
        thread.start()
        try:
            result = phase(*args)
        finally:
            stop.set()
            thread.join(30)
        self.assertEqual(failures, [])
        self.assertGreater(calls[0], 0)
        return result

    def warm_up(self):
        conn = self.server.connection()
        try:
            for i in range(300):
                name, service = (("patient-view-severe.json", "magnesium-patient-view"),
                                 ("order-select-furosemide-low-mg.json", "magnesium-order-select"),
                                 ("order-sign-multiple-findings.json", "magnesium-order-sign"))[i % 3]
                conn.request("POST", "/cds-services/" + service, fixture_text(name), JSON)
                response = conn.getresponse()
                response.read()
                self.assertEqual(response.status, 200)
                if i % 10 == 0:
                    self.assertTrue(self.normal_call_ok())  # new connections too
                    self.assertEqual(self.server.request("GET", "/cds-services")[0], 200)
                    self.assertEqual(self.server.request("POST", "/cds-services/nope", "{}", JSON)[0], 404)
        finally:
            conn.close()

    def wait_for_fds(self, baseline, timeout=20):
        deadline = time.monotonic() + timeout
        while self.server.open_fds() > baseline + 2 and time.monotonic() < deadline:
            time.sleep(0.1)
        return self.server.open_fds()

    # --- phases --------------------------------------------------------------------------

    def garbage(self):
        rng = random.Random(5)
        for i in range(300):
            with socket.create_connection((HOST, self.server.port), timeout=10) as s:
                size = rng.choice((1, 16, 512, 4096, 40000))
                data = bytes(rng.getrandbits(8) for _ in range(min(size, 2048))) * max(1, size // 2048)
                if i % 3 == 0:
                    data = b"GET / HTTP/1.1\r\n" + data + b"\r\n\r\n"
                try:
                    s.sendall(data)
                    s.shutdown(socket.SHUT_WR)
                except OSError:
                    continue
                answer = recv_all(s)
                # Either a 400 or a close; never a hang (recv_all's timeout would show as slow).
                if answer:
                    self.assertTrue(answer.startswith(b"HTTP/1.1 4"), answer[:80])

    def truncated(self):
        body = self.severe
        cuts = [
            request_bytes("POST", PATIENT_VIEW, body)[:20],                    # inside the request line
            request_bytes("POST", PATIENT_VIEW, body)[:60],                    # inside the header
            request_bytes("POST", PATIENT_VIEW, body)[:len(body) // 2 + 120],  # body shorter than Content-Length
            request_bytes("GET", "/healthz")[:-2],                             # header without its last CRLF
        ]
        for i in range(400):
            data = cuts[i % len(cuts)]
            s = socket.create_connection((HOST, self.server.port), timeout=10)
            s.sendall(data)
            if i % 2:
                reset_close(s)
            else:
                s.shutdown(socket.SHUT_WR)
                # The server sees the end of a partial request: it closes, it does not wait.
                started = time.monotonic()
                answer = recv_all(s)
                self.assertLess(time.monotonic() - started, 2.5, "the server waited on a closed request")
                self.assertFalse(answer.startswith(b"HTTP/1.1 2"), answer[:80])
                s.close()

    def pipelined(self):
        requests = [
            (request_bytes("GET", "/healthz"), 200, b'"pass"'),
            (request_bytes("POST", PATIENT_VIEW, self.severe), 200, b'"critical"'),
            (request_bytes("GET", "/cds-services"), 200, b'"services"'),
            (request_bytes("POST", "/cds-services/nope", b"{}"), 404, b"unknown-service"),
            (request_bytes("DELETE", "/cds-services"), 405, b"method-not-allowed"),
            (request_bytes("POST", PATIENT_VIEW, b"{nope"), 400, b"malformed-json"),
            (request_bytes("GET", "/readyz"), 200, b'"ready"'),
            (request_bytes("OPTIONS", PATIENT_VIEW), 204, b""),
            (request_bytes("POST", "/cds-services/magnesium-order-select",
                           fixture_text("order-select-furosemide-low-mg.json").encode()), 200, b'"cards"'),
        ]
        for round_number in range(50):
            with socket.create_connection((HOST, self.server.port), timeout=10) as s:
                batch = requests * 3
                s.sendall(b"".join(r[0] for r in batch))  # several requests in one write
                f = s.makefile("rb")
                for i, (_, status, marker) in enumerate(batch):
                    got_status, _, got_body = read_response(f)
                    self.assertEqual(got_status, status, "response %d of round %d out of order" % (i, round_number))
                    self.assertIn(marker, got_body)
                f.close()

    def rapid_connects(self, count=10000, cap=90):
        started = time.monotonic()
        for i in range(count):
            s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            s.settimeout(10)
            s.connect((HOST, self.server.port))
            kind = i % 4
            if kind == 0:
                s.close()
            elif kind == 1:
                reset_close(s)
            elif kind == 2:
                s.sendall(b"GET /healthz HT")
                reset_close(s)
            else:
                s.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
                s.close()  # without reading the answer
            self.assertLess(time.monotonic() - started, cap, "10,000 connects did not finish in time")
        return time.monotonic() - started

    def slow_readers(self, seconds=12):
        """Two clients reading one byte a second: one whose single response fits the socket
        buffers (it simply keeps its connection), and one that pipelined far more responses
        than fit and so holds up the server's write until the write timeout resets it."""
        discovery = request_bytes("GET", "/cds-services")
        outcome = {}

        def one_response():
            with socket.create_connection((HOST, self.server.port), timeout=10) as s:
                s.sendall(request_bytes("POST", PATIENT_VIEW, self.severe))
                received = b""
                started = time.monotonic()
                while time.monotonic() - started < seconds:
                    chunk = s.recv(1)
                    if not chunk:
                        break
                    received += chunk
                    time.sleep(1)
                outcome["one"] = received

        def flood():
            s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
            s.settimeout(10)
            s.connect((HOST, self.server.port))
            s.sendall(discovery * 5000)
            started = time.monotonic()
            outcome["flood"] = "open"
            while time.monotonic() - started < seconds:
                if tcp_state(s) == TCP_CLOSE:
                    outcome["flood"] = "reset after %.0f s" % (time.monotonic() - started)
                    break
                try:
                    s.recv(1)
                except OSError:
                    outcome["flood"] = "reset after %.0f s" % (time.monotonic() - started)
                    break
                time.sleep(1)
            s.close()

        threads = [threading.Thread(target=one_response), threading.Thread(target=flood)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(seconds + 20)
        self.assertTrue(outcome.get("one", b"").startswith(b"HTTP/1.1 200"), outcome.get("one", b"")[:40])
        self.assertTrue(outcome.get("flood", "").startswith("reset"), outcome.get("flood"))

    # --- the test ------------------------------------------------------------------------

    def test_hostile_clients_then_normal_service_and_bounded_memory(self):
        self.warm_up()
        time.sleep(0.5)
        baseline_rss = self.server.rss_kib()
        baseline_fds = self.server.open_fds()

        timings = {}
        for name, phase in (("garbage", self.garbage), ("truncated", self.truncated),
                            ("pipelined", self.pipelined), ("rapid connects", self.rapid_connects),
                            ("slow readers", self.slow_readers)):
            started = time.monotonic()
            self.with_normal_client(phase)
            timings[name] = time.monotonic() - started
            self.assertEqual(self.server.process.poll(), None, "the server died during " + name)

        # The service answers a normal request correctly.
        self.assertTrue(self.normal_call_ok())
        self.assertEqual(self.server.request("GET", "/readyz")[0], 200)
        # Every connection it held is closed again (idle and read timeouts are short here).
        fds = self.wait_for_fds(baseline_fds)
        self.assertLessEqual(fds, baseline_fds + 2, "connections were left open")
        time.sleep(0.5)
        rss = self.server.rss_kib()
        print("\nhostile phases: %s; VmRSS after warm-up %d KiB, after everything %d KiB (%+.1f%%); fds %d -> %d"
              % (", ".join("%s %.1f s" % item for item in timings.items()), baseline_rss, rss,
                 100.0 * (rss - baseline_rss) / baseline_rss, baseline_fds, fds))
        if e2e.ARGS.sanitized == "ON":
            # AddressSanitizer keeps freed memory in quarantine (256 MB by default) to catch
            # use-after-free, so RSS says nothing about leaks in this build; the Release run
            # of this test asserts the 25% bound. Here LeakSanitizer decides instead: the
            # service must stop cleanly with no sanitizer report (abort_on_error makes a leak
            # a non-zero exit).
            self.assertEqual(self.server.stop(), 0, "the sanitized service did not exit cleanly")
            self.assertNotIn("Sanitizer", self.server.all_output() + self.server.read_log())
        else:
            self.assertLessEqual(rss, baseline_rss * 1.25, "resident memory grew by more than 25%")
        log = self.server.read_log()
        print("log: %d requests answered, %d with 400, %d with 408, %d write timeouts"
              % (log.count(" info "), log.count(" 400 "), log.count(" 408 "), log.count("did not take the response")))
        self.assertNotIn("internal error", log)
        self.assertNotIn("unexpected exception", log)


def vm_hwm_kib(server):
    """The peak resident memory of the server process so far (VmHWM)."""
    with open("/proc/%d/status" % server.pid, encoding="ascii") as f:
        for line in f:
            if line.startswith("VmHWM:"):
                return int(line.split()[1])
    raise RuntimeError("no VmHWM")


class BodiesInFlight(unittest.TestCase):
    """Request bodies held at once are bounded: 150 connections each sending a 4 MiB body
    (the default --max-body) must not make the service hold 150 bodies. Without a token they
    are refused after the header, before the body is read; without authentication the body
    budget (--body-budget, 8 MiB) lets two at a time be read, the others wait unread (503 with
    Retry-After for those whose read deadline comes first)."""

    CONNECTIONS = 150
    BODY = b"x" * (4 * 1024 * 1024)
    PEAK_GROWTH_KIB = 48 * 1024  # far below the 600 MiB of 150 bodies

    def attack(self, server):
        """Every connection sends its header and whole body, then reads its answer; returns
        the statuses (None: no answer, e.g. a reset while still sending)."""
        head = (b"POST %s HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n"
                % (PATIENT_VIEW.encode(), len(self.BODY)))
        statuses = [None] * self.CONNECTIONS
        retry_after = []
        start = threading.Barrier(self.CONNECTIONS)

        def client(i):
            try:
                with socket.create_connection((HOST, server.port), timeout=30) as s:
                    start.wait(30)
                    try:
                        s.sendall(head + self.BODY)
                    except OSError:
                        pass  # refused early and closed: the answer may still be readable
                    answer = recv_all(s)
                    if answer.startswith(b"HTTP/1.1 "):
                        statuses[i] = int(answer.split()[1])
                        if b"\r\nRetry-After: 1\r\n" in answer.partition(b"\r\n\r\n")[0]:
                            retry_after.append(i)
            except (OSError, threading.BrokenBarrierError):
                pass

        threads = [threading.Thread(target=client, args=(i,)) for i in range(self.CONNECTIONS)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(120)
        return statuses, retry_after

    def run_attack(self, server):
        e2e.severe_call_ok(server)
        time.sleep(0.3)
        before_rss, before_peak = server.rss_kib(), vm_hwm_kib(server)
        statuses, retry_after = self.attack(server)
        peak = vm_hwm_kib(server)
        print("\n%d x %d MiB bodies: VmRSS %d KiB before, VmHWM %d -> %d KiB (%+d KiB); answers %s"
              % (self.CONNECTIONS, len(self.BODY) >> 20, before_rss, before_peak, peak, peak - before_peak,
                 {status: statuses.count(status) for status in set(statuses)}))
        if e2e.ARGS.sanitized != "ON":  # sanitizers keep their own shadow and quarantine memory
            self.assertLess(peak - before_peak, self.PEAK_GROWTH_KIB, "the bodies in flight were not bounded")
        return statuses, retry_after

    def test_tokenless_bodies_are_never_read(self):
        jwks = os.path.join(e2e.REPO, "deploy", "trust", "cds-hooks-sandbox-jwks.json")
        port = e2e.free_port()
        server = Server("--trust", "https://sandbox.cds-hooks.org=" + jwks, "--public-url",
                        "http://127.0.0.1:%d" % port, port=port)
        try:
            statuses, _ = self.run_attack(server)
            answered = [s for s in statuses if s is not None]
            self.assertGreater(len(answered), self.CONNECTIONS // 2, statuses)
            self.assertEqual(set(answered), {401})
        finally:
            server.stop_expecting_clean_exit(log_tail=3000)

    def test_body_budget_bounds_bodies_without_authentication(self):
        server = Server("--body-budget", str(8 * 1024 * 1024))
        try:
            statuses, retry_after = self.run_attack(server)
            answered = [s for s in statuses if s is not None]
            self.assertGreater(len(answered), self.CONNECTIONS // 2, statuses)
            self.assertLessEqual(set(answered), {400, 503}, statuses)  # the bodies are not JSON
            self.assertEqual(len(retry_after), answered.count(503))
            self.assertTrue(e2e.severe_call_ok(server), "the budget was not given back")
        finally:
            server.stop_expecting_clean_exit(log_tail=3000)


class AmplifyingBodies(unittest.TestCase):
    """A body of a few bytes per element must not grow hundreds of times once read: a 3.9 MB
    order-sign whose prefetch MedicationRequest has 1.3 million empty dosages (a Dosage is
    900 bytes in the model, `{},` three in the text) once took the server to a 1.9 GB peak.
    Lists inside a resource are read up to 64 elements; what remains is the entry laid out
    for reading (about eleven bytes per byte of such a body) while it is read. The codings
    copied into orders from the Medications they name are bounded per request too."""

    ELEMENTS = 1_300_000
    PEAK_GROWTH_KIB = 64 * 1024

    def body(self, resource):
        return json.dumps({
            "hookInstance": "d1577c69-dfbe-44ad-ba6d-3e05e953b2ea", "hook": "order-sign",
            "context": {"userId": "Practitioner/1", "patientId": "p",
                        "draftOrders": {"resourceType": "Bundle", "entry": []}},
            "prefetch": {"meds": {"resourceType": "Bundle", "entry": [{"resource": resource}]}},
        }, separators=(",", ":")).encode()

    @staticmethod
    def medication_named_by_orders(orders):
        """A real order-sign whose orders all name one Medication of 64 ingredients of 64
        codings: resolving copies the Medication into each order (250 KB took 200 MB before
        the copies were bounded per request)."""
        request = json.loads(fixture_text("order-sign-multiple-findings.json"))
        concept = {"coding": [{"system": "urn:x", "code": "c"}] * 64}
        big = {"resourceType": "Medication", "id": "big", "code": concept, "form": concept,
               "ingredient": [{"itemCodeableConcept": concept}] * 64}
        entries = [{"resource": big}] + [
            {"resource": {"resourceType": "MedicationRequest", "id": "m%d" % i, "status": "active",
                          "intent": "order", "medicationReference": {"reference": "Medication/big"}}}
            for i in range(orders)]
        request["prefetch"]["medication_requests"] = {"resourceType": "Bundle", "entry": entries}
        return json.dumps(request, separators=(",", ":")).encode()

    def test_small_elements_do_not_multiply_in_memory(self):
        empties = [{}] * self.ELEMENTS
        bodies = {
            "dosages": self.body({"resourceType": "MedicationRequest", "id": "m",
                                  "dosageInstruction": empties}),
            "codings": self.body({"resourceType": "MedicationRequest", "id": "m",
                                  "medicationCodeableConcept": {"coding": empties}}),
            "late resourceType": self.body({"dosageInstruction": empties,
                                            "resourceType": "Condition"}),
        }
        bodies["one Medication named by 500 orders"] = self.medication_named_by_orders(500)
        for name, body in bodies.items():
            with self.subTest(name):
                server = Server()
                try:
                    e2e.severe_call_ok(server)
                    before = vm_hwm_kib(server)
                    status, _, _ = server.request("POST", "/cds-services/magnesium-order-sign", body, JSON)
                    growth = vm_hwm_kib(server) - before
                    print("\n%s: %d bytes, answered %d, VmHWM %+d KiB" % (name, len(body), status, growth))
                    self.assertLess(status, 500)
                    if e2e.ARGS.sanitized != "ON":
                        self.assertLess(growth, self.PEAK_GROWTH_KIB)
                    self.assertTrue(e2e.severe_call_ok(server))
                finally:
                    server.stop_expecting_clean_exit(log_tail=3000)


class BodyBudgetWait(unittest.TestCase):
    """A request whose body does not fit in --body-budget waits, unread, for the bodies before
    it: it is answered once room comes, or 503 with Retry-After after --body-wait, or at its
    read deadline if that comes first."""

    HOLDER_BYTES = 64 * 1024

    def hold_the_budget(self, server):
        """A connection that announces a body as large as the budget and sends part of it."""
        holder = socket.create_connection((HOST, server.port), timeout=30)
        head = (b"POST %s HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                b"Content-Length: %d\r\n\r\n" % (PATIENT_VIEW.encode(), self.HOLDER_BYTES))
        holder.sendall(head + b" " * 1024)
        time.sleep(0.3)  # its share is taken once its head is read
        return holder

    def start_severe_call(self, server, answers):
        def call():
            started = time.monotonic()
            status, headers, body = server.request("POST", PATIENT_VIEW, fixture_text("patient-view-severe.json"),
                                                   JSON)
            answers.append((status, headers, body, time.monotonic() - started))
        caller = threading.Thread(target=call)
        caller.start()
        return caller

    def test_a_request_is_answered_once_room_comes(self):
        server = Server("--max-body", str(self.HOLDER_BYTES), "--body-budget", str(self.HOLDER_BYTES),
                        "--read-timeout", "10s", "--body-wait", "10s")
        try:
            holder = self.hold_the_budget(server)
            answers = []
            caller = self.start_severe_call(server, answers)
            time.sleep(0.5)
            self.assertEqual(answers, [], "the second request was answered while the first held the budget")
            holder.sendall(b" " * (self.HOLDER_BYTES - 1024))  # the first body completes (a 400: no JSON)
            self.assertEqual(read_response(holder.makefile("rb"))[0], 400)
            holder.close()
            caller.join(30)
            status, _, body, _ = answers[0]
            self.assertEqual(status, 200, body)
        finally:
            server.stop_expecting_clean_exit(log_tail=3000)

    def refused_after(self, server):
        """A request that waits behind a connection holding the whole budget: its answer, and
        how long it took. Its connection opens first, so that its read deadline comes before
        the holder's (which would give the room back when it expires)."""
        with socket.create_connection((HOST, server.port), timeout=30) as waiting:
            time.sleep(0.3)
            holder = self.hold_the_budget(server)
            sent = time.monotonic()
            waiting.sendall(request_bytes("POST", PATIENT_VIEW, fixture_text("patient-view-severe.json").encode()))
            status, headers, body = read_response(waiting.makefile("rb"))
            took = time.monotonic() - sent
        self.assertEqual(status, 503, body)
        self.assertEqual(headers.get("retry-after"), "1")
        self.assertEqual(e2e.outcome_code(body), "bodies-over-budget")
        holder.close()
        self.assertTrue(e2e.severe_call_ok(server), "the budget was not given back")
        return took

    def assert_refused_between(self, read_timeout, body_wait, earliest, latest):
        server = Server("--max-body", str(self.HOLDER_BYTES), "--body-budget", str(self.HOLDER_BYTES),
                        "--read-timeout", read_timeout, "--body-wait", body_wait)
        try:
            took = self.refused_after(server)
            self.assertGreater(took, earliest, "answered before its wait was over")
            self.assertLess(took, latest, "waited too long")
        finally:
            server.stop_expecting_clean_exit(log_tail=3000)

    def test_a_request_that_finds_no_room_within_the_body_wait_is_answered_503(self):
        self.assert_refused_between("10s", "1s", 0.8, 5)

    def test_the_wait_ends_at_the_read_deadline_when_that_comes_first(self):
        self.assert_refused_between("2s", "1h", 0.8, 8)

if __name__ == "__main__":
    e2e.main(["--sanitized"])
