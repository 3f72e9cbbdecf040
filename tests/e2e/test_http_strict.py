#!/usr/bin/env python3
"""Strict HTTP/1.1 request heads and authentication before the body, over raw sockets to the
real binary: a Transfer-Encoding whose last coding is not chunked is refused and never read
as a second request (RFC 9112 §6.1); HTTP/1.1 without Host, two Authorization fields and
obs-folded fields are refused (400); a Content-Encoding other than identity is 415; a
tokenless request is refused before its body is read; with --protect-discovery a tokenless
call cannot tell an existing service id from an unknown one.

Every refusal is an OperationOutcome with the stable error id (the 401 excepted: bare).

Usage: test_http_strict.py --binary PATH/TO/magnesium-cds --fixtures PATH/TO/fixtures
"""

import gzip
import json
import os
import socket
import time
import unittest

import e2e_support as e2e
from e2e_support import Server, fixture_text, recv_all

HOST = "127.0.0.1"
PATIENT_VIEW = "/cds-services/magnesium-patient-view"
SANDBOX_ISSUER = "https://sandbox.cds-hooks.org"


def parse_responses(data):
    """Every HTTP/1.1 response in `data`: [(status, headers, body)], bodies by Content-Length."""
    responses = []
    while data:
        head, sep, rest = data.partition(b"\r\n\r\n")
        if not sep:
            raise AssertionError("an incomplete response: %r" % data[:200])
        lines = head.decode("latin-1").split("\r\n")
        status = int(lines[0].split()[1])
        headers = {}
        for line in lines[1:]:
            name, _, value = line.partition(":")
            headers[name.strip().lower()] = value.strip()
        length = int(headers.get("content-length", "0"))
        responses.append((status, headers, rest[:length]))
        data = rest[length:]
    return responses


def exchange(port, data, timeout=10):
    """Sends `data` on a new connection, half-closes, and returns every response until the
    server closes."""
    with socket.create_connection((HOST, port), timeout=timeout) as s:
        s.sendall(data)
        s.shutdown(socket.SHUT_WR)
        return parse_responses(recv_all(s))


def outcome_id(body):
    outcome = json.loads(body)
    assert outcome["resourceType"] == "OperationOutcome", outcome
    return outcome["issue"][0]["details"]["coding"][0]["code"]


def trusting_server(*extra):
    """A server trusting the sandbox's key (tokens are never needed here: only refusals are)."""
    jwks = os.path.join(e2e.REPO, "deploy", "trust", "cds-hooks-sandbox-jwks.json")
    for attempt in range(5):
        port = e2e.free_port()
        try:
            return Server("--trust", SANDBOX_ISSUER + "=" + jwks, "--public-url", "http://127.0.0.1:%d" % port,
                          *extra, port=port)
        except RuntimeError:
            if attempt == 4:
                raise
    return None


class StrictHeads(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.server = Server()
        cls.severe = fixture_text("patient-view-severe.json").encode()

    @classmethod
    def tearDownClass(cls):
        cls.server.stop_expecting_clean_exit()

    def assert_only_refusal(self, responses, status, error_id):
        self.assertEqual(len(responses), 1, [r[0] for r in responses])
        got_status, headers, body = responses[0]
        self.assertEqual(got_status, status, body[:300])
        self.assertEqual(headers.get("connection"), "close")
        self.assertEqual(headers.get("access-control-allow-origin"), "*")
        self.assertEqual(outcome_id(body), error_id)
        return headers, body

    def test_transfer_encoding_not_ending_in_chunked_is_400_and_never_a_second_request(self):
        smuggled = b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n"
        for coding in (b"xchunked", b"gzip", b"chunked, gzip", b"identity"):
            with self.subTest(coding=coding):
                head = (b"POST " + PATIENT_VIEW.encode() + b" HTTP/1.1\r\nHost: x\r\n"
                        b"Content-Type: application/json\r\nTransfer-Encoding: " + coding + b"\r\n\r\n")
                responses = exchange(self.server.port, head + smuggled)
                self.assert_only_refusal(responses, 400, "malformed-http")
        # The same with a Content-Length beside it: the body is not read by the length either.
        head = (b"POST " + PATIENT_VIEW.encode() + b" HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                b"Transfer-Encoding: gzip\r\nContent-Length: %d\r\n\r\n" % len(self.severe))
        self.assert_only_refusal(exchange(self.server.port, head + self.severe + smuggled), 400, "malformed-http")

    def test_other_transfer_codings_before_chunked_are_501(self):
        head = (b"POST " + PATIENT_VIEW.encode() + b" HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                b"Transfer-Encoding: gzip, chunked\r\n\r\n")
        chunked = b"%x\r\n%s\r\n0\r\n\r\n" % (len(self.severe), self.severe)
        self.assert_only_refusal(exchange(self.server.port, head + chunked), 501, "unsupported-transfer-coding")

    def test_plain_chunked_body_is_served(self):
        head = (b"POST " + PATIENT_VIEW.encode() + b" HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                b"Transfer-Encoding: chunked\r\nConnection: close\r\n\r\n")
        chunked = b"%x\r\n%s\r\n0\r\n\r\n" % (len(self.severe), self.severe)
        responses = exchange(self.server.port, head + chunked)
        self.assertEqual([r[0] for r in responses], [200])
        self.assertEqual(json.loads(responses[0][2])["cards"][0]["indicator"], "critical")

    def test_http11_without_host_is_400(self):
        _, body = self.assert_only_refusal(exchange(self.server.port, b"GET /healthz HTTP/1.1\r\n\r\n"),
                                           400, "malformed-http")
        self.assertIn(b"Host", body)
        self.assert_only_refusal(exchange(self.server.port, b"GET /healthz HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n"),
                                 400, "malformed-http")
        # HTTP/1.0 has no Host requirement.
        self.assertEqual([r[0] for r in exchange(self.server.port, b"GET /healthz HTTP/1.0\r\n\r\n")], [200])

    def test_two_authorization_fields_are_400(self):
        request = (b"GET /healthz HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer a.b.c\r\n"
                   b"Authorization: Bearer d.e.f\r\n\r\n")
        _, body = self.assert_only_refusal(exchange(self.server.port, request), 400, "malformed-http")
        self.assertIn(b"Authorization", body)

    def test_obs_folded_field_is_400(self):
        for fold in (b"\r\n more", b"\r\n\tmore"):
            with self.subTest(fold=fold):
                request = b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Note: first" + fold + b"\r\n\r\n"
                _, body = self.assert_only_refusal(exchange(self.server.port, request), 400, "malformed-http")
                self.assertIn(b"obs-fold", body)

    def test_content_encoding_other_than_identity_is_415(self):
        compressed = gzip.compress(self.severe)
        request = (b"POST " + PATIENT_VIEW.encode() + b" HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                   b"Content-Encoding: gzip\r\nContent-Length: %d\r\n\r\n" % len(compressed)) + compressed
        headers, _ = self.assert_only_refusal(exchange(self.server.port, request), 415,
                                              "unsupported-content-encoding")
        self.assertEqual(headers.get("accept-encoding"), "identity")
        identity = (b"POST " + PATIENT_VIEW.encode() + b" HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                    b"Content-Encoding: identity\r\nConnection: close\r\nContent-Length: %d\r\n\r\n"
                    % len(self.severe)) + self.severe
        self.assertEqual([r[0] for r in exchange(self.server.port, identity)], [200])

    def test_still_serving(self):
        self.assertTrue(e2e.severe_call_ok(self.server))


class AuthenticationBeforeTheBody(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.server = trusting_server("--protect-discovery", "--read-timeout", "8s")

    @classmethod
    def tearDownClass(cls):
        cls.server.stop_expecting_clean_exit()

    def test_tokenless_request_is_refused_before_its_body_arrives(self):
        # The body is announced but never sent: the answer cannot have waited for it.
        with socket.create_connection((HOST, self.server.port), timeout=10) as s:
            s.sendall(b"POST " + PATIENT_VIEW.encode() + b" HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                      b"Content-Length: 4000000\r\n\r\n")
            started = time.monotonic()
            s.settimeout(4)
            first = s.recv(65536)
            took = time.monotonic() - started
        self.assertTrue(first.startswith(b"HTTP/1.1 401 "), first[:80])
        self.assertLess(took, 2)
        self.assertIn(b"WWW-Authenticate: Bearer", first)
        self.assertIn(b"Connection: close", first)

    def test_tokenless_calls_answer_alike_for_existing_and_unknown_service_ids(self):
        def call(path):
            request = (b"POST " + path.encode() + b" HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                       b"Connection: close\r\nContent-Length: 2\r\n\r\n{}")
            responses = exchange(self.server.port, request)
            self.assertEqual(len(responses), 1)
            return responses[0]

        for existing, unknown in ((PATIENT_VIEW, "/cds-services/no-such-service"),
                                  (PATIENT_VIEW + "/feedback", "/cds-services/no-such-service/feedback")):
            with self.subTest(path=existing):
                self.assertEqual(call(existing), call(unknown))
                self.assertEqual(call(unknown)[0], 401)

    def test_tokenless_head_without_body_keeps_the_connection(self):
        # Nothing is left unread, so the 401 need not close the connection.
        with socket.create_connection((HOST, self.server.port), timeout=10) as s:
            s.sendall(b"GET /cds-services HTTP/1.1\r\nHost: x\r\n\r\nGET /healthz HTTP/1.1\r\nHost: x\r\n"
                      b"Connection: close\r\n\r\n")
            s.shutdown(socket.SHUT_WR)
            responses = parse_responses(recv_all(s))
        self.assertEqual([r[0] for r in responses], [401, 200])


if __name__ == "__main__":
    e2e.main()
