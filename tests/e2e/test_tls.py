#!/usr/bin/env python3
"""HTTPS end to end (TLS): `serve --tls-cert --tls-key` with a certificate this test
generates with the `openssl` command line, spoken to by Python's `ssl` verifying against
that certificate. Checks the protocol floor (TLS 1.0/1.1 refused by the server, not by our
client), the TLS 1.2 cipher policy (ECDHE + AEAD only), no compression, limits over TLS
(408, 413), plain HTTP and silent or garbage clients on the HTTPS port not hanging it, and
start-up refusal with a clear message for every kind of bad certificate or key.

Usage: test_tls.py --binary PATH/TO/magnesium-cds --fixtures PATH/TO/fixtures
"""

import json
import os
import shutil
import socket
import ssl
import subprocess
import tempfile
import threading
import time
import unittest
import warnings

import e2e_support as e2e
from e2e_support import JSON, Server, fixture_text, outcome_code, recv_all

TMP = None
CERT = KEY = None
SERVER = None


def openssl(*args):
    subprocess.run(["openssl", *args], check=True, capture_output=True, timeout=60)


def make_certificate(directory, name, key_type="ec"):
    cert = os.path.join(directory, name + ".crt")
    key = os.path.join(directory, name + ".key")
    new_key = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256"] if key_type == "ec" else ["-newkey", "rsa:2048"]
    openssl("req", "-x509", *new_key, "-nodes", "-keyout", key, "-out", cert, "-days", "2",
            "-subj", "/CN=localhost", "-addext", "subjectAltName=DNS:localhost,IP:127.0.0.1")
    return cert, key


def verifying_context():
    context = ssl.create_default_context(cafile=CERT)
    return context


def old_protocol_context(version):
    """A client that really offers an old protocol: our client's OpenSSL would otherwise refuse
    TLS < 1.2 itself (Debian's default security level), and the test would prove nothing."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        context.minimum_version = version
        context.maximum_version = version
    context.set_ciphers("DEFAULT:@SECLEVEL=0")
    return context


def handshake_error(context):
    with socket.create_connection(("127.0.0.1", SERVER.port), timeout=10) as raw:
        try:
            with context.wrap_socket(raw, server_hostname="localhost"):
                return None
        except ssl.SSLError as e:
            return str(e)


def setUpModule():
    global TMP, CERT, KEY, SERVER
    TMP = tempfile.mkdtemp(prefix="magnesium-cds-tls-")
    CERT, KEY = make_certificate(TMP, "server")
    SERVER = Server("--tls-cert", CERT, "--tls-key", KEY, "--tls-handshake-timeout", "1s",
                    "--read-timeout", "1s", ssl_context=verifying_context())


def tearDownModule():
    try:
        SERVER.stop_expecting_clean_exit()
    finally:
        shutil.rmtree(TMP, ignore_errors=True)


class Https(unittest.TestCase):
    def test_listening_line_says_https(self):
        self.assertEqual(SERVER.scheme, "https")

    def test_verified_calls_with_keep_alive(self):
        conn = SERVER.connection()
        try:
            conn.request("GET", "/healthz")
            response = conn.getresponse()
            self.assertEqual((response.status, response.read()), (200, b'{"status":"pass"}'))
            tls = conn.sock
            self.assertIn(tls.version(), ("TLSv1.2", "TLSv1.3"))
            self.assertIsNone(tls.compression())
            conn.request("POST", "/cds-services/magnesium-patient-view", fixture_text("patient-view-severe.json"), JSON)
            response = conn.getresponse()
            body = response.read()
            self.assertEqual(response.status, 200, body[:300])
            self.assertEqual(json.loads(body)["cards"][0]["indicator"], "critical")
            conn.request("GET", "/cds-services")
            response = conn.getresponse()
            response.read()
            self.assertEqual(response.status, 200)
            self.assertIs(conn.sock, tls, "the TLS connection was not kept alive")
        finally:
            conn.close()

    def test_tls12_negotiates_ecdhe_with_aead(self):
        context = verifying_context()
        context.maximum_version = ssl.TLSVersion.TLSv1_2
        with socket.create_connection(("127.0.0.1", SERVER.port), timeout=10) as raw:
            with context.wrap_socket(raw, server_hostname="127.0.0.1") as tls:
                self.assertEqual(tls.version(), "TLSv1.2")
                cipher = tls.cipher()[0]
                self.assertTrue(cipher.startswith("ECDHE-"), cipher)
                self.assertTrue("GCM" in cipher or "CHACHA20" in cipher, cipher)
                self.assertIsNone(tls.compression())

    def test_a_client_that_does_not_trust_the_certificate_is_refused_by_itself(self):
        # The certificate really is what the client verifies (a control for the tests above).
        other_dir = tempfile.mkdtemp(dir=TMP)
        other_cert, _ = make_certificate(other_dir, "other")
        context = ssl.create_default_context(cafile=other_cert)
        with socket.create_connection(("127.0.0.1", SERVER.port), timeout=10) as raw:
            with self.assertRaises(ssl.SSLCertVerificationError):
                context.wrap_socket(raw, server_hostname="127.0.0.1")

    def test_tls_1_0_and_1_1_are_refused_by_the_server(self):
        for version in (ssl.TLSVersion.TLSv1, ssl.TLSVersion.TLSv1_1):
            with self.subTest(version=version.name):
                error = handshake_error(old_protocol_context(version))
                self.assertIsNotNone(error, "the server accepted " + version.name)
                # An alert received from the server, not our client refusing to offer it.
                self.assertIn("ALERT_PROTOCOL_VERSION", error)

    def test_tls12_without_ecdhe_aead_ciphers_is_refused(self):
        for ciphers in ("AES128-SHA:AES256-SHA", "AES128-GCM-SHA256:AES256-GCM-SHA384",
                        "ECDHE-ECDSA-AES128-SHA:ECDHE-ECDSA-AES256-SHA384"):
            with self.subTest(ciphers=ciphers):
                context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
                context.check_hostname = False
                context.verify_mode = ssl.CERT_NONE
                context.maximum_version = ssl.TLSVersion.TLSv1_2
                context.set_ciphers(ciphers + ":@SECLEVEL=0")
                error = handshake_error(context)
                self.assertIsNotNone(error, "the server accepted " + ciphers)
                self.assertIn("ALERT_HANDSHAKE_FAILURE", error)


    def test_tls12_renegotiation_is_refused(self):
        # Python cannot renegotiate; `openssl s_client` does on an input line "R".
        script = ("(sleep 0.5; printf 'R\\n'; sleep 1.5) | openssl s_client -connect 127.0.0.1:%d -tls1_2 -CAfile '%s'"
                  % (SERVER.port, CERT))
        output = subprocess.run(["bash", "-c", script + " 2>&1"], capture_output=True,
                                timeout=30).stdout.decode(errors="replace")
        self.assertIn("RENEGOTIATING", output)  # the client asked
        self.assertIn("no renegotiation", output)  # the server's no_renegotiation alert


class HostileOnTheHttpsPort(unittest.TestCase):
    def tearDown(self):
        self.assertTrue(e2e.severe_call_ok(SERVER), "the HTTPS service stopped answering")

    def test_plain_http_is_told_to_use_https(self):
        with socket.create_connection(("127.0.0.1", SERVER.port), timeout=10) as s:
            started = time.monotonic()
            s.sendall(b"GET /healthz HTTP/1.1\r\nHost: localhost\r\n\r\n")
            answer = recv_all(s)
            self.assertLess(time.monotonic() - started, 5)
        self.assertTrue(answer.startswith(b"HTTP/1.1 400"), answer[:100])
        self.assertIn(b"Access-Control-Allow-Origin: *", answer)
        self.assertIn(b"HTTPS", answer)

    def test_a_silent_client_is_closed_after_the_handshake_timeout(self):
        results = []

        def normal_client():
            results.append(e2e.severe_call_ok(SERVER))

        with socket.create_connection(("127.0.0.1", SERVER.port), timeout=15) as s:
            started = time.monotonic()
            helper = threading.Thread(target=normal_client)
            helper.start()
            self.assertEqual(recv_all(s), b"")
            took = time.monotonic() - started
            helper.join(20)
        self.assertGreater(took, 0.5)
        self.assertLess(took, 8)
        self.assertEqual(results, [True], "a normal client was not served while one sat silent")

    def test_a_half_handshake_is_closed_after_the_handshake_timeout(self):
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
        incoming, outgoing = ssl.MemoryBIO(), ssl.MemoryBIO()
        client = context.wrap_bio(incoming, outgoing, server_hostname="localhost")
        try:
            client.do_handshake()
        except ssl.SSLWantReadError:
            pass
        with socket.create_connection(("127.0.0.1", SERVER.port), timeout=15) as s:
            s.sendall(outgoing.read())  # ClientHello, then nothing more
            started = time.monotonic()
            recv_all(s)  # the ServerHello flight, then the close
            self.assertLess(time.monotonic() - started, 8)

    def test_garbage_bytes_are_closed(self):
        with socket.create_connection(("127.0.0.1", SERVER.port), timeout=10) as s:
            s.sendall(os.urandom(4096))
            started = time.monotonic()
            recv_all(s)
            self.assertLess(time.monotonic() - started, 5)

    def test_408_over_tls(self):
        with socket.create_connection(("127.0.0.1", SERVER.port), timeout=10) as raw:
            with verifying_context().wrap_socket(raw, server_hostname="localhost") as tls:
                tls.sendall(b"GET /healthz HTTP/1.1\r\nHost: localhost\r\n")
                started = time.monotonic()
                answer = b""
                try:
                    while True:
                        chunk = tls.recv(65536)
                        if not chunk:
                            break
                        answer += chunk
                except (ssl.SSLError, OSError):
                    pass
                self.assertLess(time.monotonic() - started, 6)
        self.assertTrue(answer.startswith(b"HTTP/1.1 408"), answer[:100])
        self.assertIn(b"request-timeout", answer)

    def test_413_over_tls(self):
        status, headers, body = SERVER.request("POST", "/cds-services/magnesium-patient-view",
                                               b"{" + b" " * (5 * 1024 * 1024) + b"}", JSON)
        self.assertEqual(status, 413)
        self.assertEqual(outcome_code(body), "body-too-large")


class BadCertificateOrKey(unittest.TestCase):
    def start(self, *args):
        started = time.monotonic()
        result = subprocess.run([e2e.BINARY, "serve", "--listen", "127.0.0.1:0", *args], stdin=subprocess.DEVNULL,
                                capture_output=True, text=True, timeout=30)
        self.assertLess(time.monotonic() - started, 10)
        self.assertNotEqual(result.returncode, 0)
        self.assertEqual(result.stdout, "", "it must not report listening")
        return result.stderr

    def test_each_bad_file_stops_start_up_with_a_clear_message(self):
        directory = tempfile.mkdtemp(dir=TMP)
        other_cert, other_key = make_certificate(directory, "other", key_type="rsa")
        garbage = os.path.join(directory, "garbage.pem")
        with open(garbage, "w", encoding="ascii") as f:
            f.write("-----BEGIN CERTIFICATE-----\nnot base64 at all\n-----END CERTIFICATE-----\n")
        encrypted = os.path.join(directory, "encrypted.key")
        openssl("pkey", "-in", KEY, "-out", encrypted, "-aes256", "-passout", "pass:secret")
        missing = os.path.join(directory, "missing.pem")

        stderr = self.start("--tls-cert", missing, "--tls-key", KEY)
        self.assertIn("cannot read the TLS certificate file", stderr)
        self.assertIn(missing, stderr)
        stderr = self.start("--tls-cert", CERT, "--tls-key", missing)
        self.assertIn("cannot read the TLS key file", stderr)
        stderr = self.start("--tls-cert", garbage, "--tls-key", KEY)
        self.assertIn("no usable PEM certificate", stderr)
        stderr = self.start("--tls-cert", CERT, "--tls-key", garbage)
        self.assertIn("no usable unencrypted PEM private key", stderr)
        stderr = self.start("--tls-cert", CERT, "--tls-key", other_key)
        self.assertIn("does not belong to the certificate", stderr)
        stderr = self.start("--tls-cert", other_cert, "--tls-key", KEY)
        self.assertIn("does not belong to the certificate", stderr)
        # An encrypted key fails at once instead of prompting for a passphrase.
        stderr = self.start("--tls-cert", CERT, "--tls-key", encrypted)
        self.assertIn("no usable unencrypted PEM private key", stderr)
        stderr = self.start("--tls-cert", CERT)
        self.assertIn("--tls-cert and --tls-key go together", stderr)

    def test_an_rsa_certificate_works_too(self):
        directory = tempfile.mkdtemp(dir=TMP)
        cert, key = make_certificate(directory, "rsa", key_type="rsa")
        context = ssl.create_default_context(cafile=cert)
        with Server("--tls-cert", cert, "--tls-key", key, ssl_context=context) as server:
            status, _, _ = server.request("GET", "/readyz")
            self.assertEqual(status, 200)
            self.assertEqual(server.stop(), 0)


if __name__ == "__main__":
    e2e.main()
