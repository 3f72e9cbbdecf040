#!/usr/bin/env python3
"""JWT authentication end to end over the real binary (CDS Hooks 2.0 "Trusting CDS
Clients"): `serve --trust https://sandbox.cds-hooks.org=deploy/trust/cds-hooks-sandbox-jwks.json
--public-url http://127.0.0.1:PORT`, with tokens minted here exactly as the public sandbox
mints them (ES384 with its published private key, raw R||S signatures) by Python's
`cryptography` — independently of the service's C++.

Checks: a valid token gets cards; every kind of bad token gets a bare 401 (WWW-Authenticate:
Bearer, CORS, empty body) and a log line with the reason, iss and jti but never the token;
feedback needs its own aud; discovery is public but a token sent there is verified;
--protect-discovery; health, readiness and preflight never need a token; the listen policy
without --trust.

Usage: test_auth_e2e.py --binary B --fixtures F --sandbox-key ecprivkey.pem
"""

import base64
import hashlib
import hmac
import json
import os
import re
import subprocess
import time
import unittest
import uuid

from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature

import e2e_support as e2e
from e2e_support import JSON, Server, fixture_text

SANDBOX_ISSUER = "https://sandbox.cds-hooks.org"
SANDBOX_KID = "44823f3d-0b01-4a6c-a80e-b9d3e8a7226f"
SANDBOX_JKU = "https://sandbox.cds-hooks.org/.well-known/jwks.json"
PATIENT_VIEW = "/cds-services/magnesium-patient-view"
FEEDBACK = PATIENT_VIEW + "/feedback"
FEEDBACK_BODY = json.dumps({"feedback": [{"card": "9a1e1b5c-1c0e-4d5b-9a43-3b0f0d1d2c3e", "outcome": "accepted",
                                          "acceptedSuggestions": [{"id": "1f3e4c2a-0000-4000-8000-000000000001"}],
                                          "outcomeTimestamp": "2026-03-10T09:05:00Z"}]})

SANDBOX_KEY = None


def b64(data):
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def es384_raw(key, data):
    r, s = decode_dss_signature(key.sign(data, ec.ECDSA(hashes.SHA384())))
    return r.to_bytes(48, "big") + s.to_bytes(48, "big")


def token(aud, *, header=None, claims=None, drop=(), signer=None, key=None):
    """A sandbox-identical token for `aud`, with `header`/`claims` overriding members and
    `drop` removing them."""
    now = int(time.time())
    h = {"alg": "ES384", "typ": "JWT", "kid": SANDBOX_KID, "jku": SANDBOX_JKU}
    c = {"iss": SANDBOX_ISSUER, "aud": aud, "exp": now + 300, "iat": now, "jti": str(uuid.uuid4())}
    h.update(header or {})
    c.update(claims or {})
    for name in drop:
        h.pop(name, None)
        c.pop(name, None)
    signing_input = (b64(json.dumps(h, separators=(",", ":")).encode()) + "." +
                     b64(json.dumps(c, separators=(",", ":")).encode())).encode()
    signature = signer(signing_input) if signer else es384_raw(key or SANDBOX_KEY, signing_input)
    return signing_input.decode() + "." + b64(signature)


def claims_of(jwt):
    payload = jwt.split(".")[1]
    return json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))


class AuthServer(Server):
    """A server trusting the sandbox, on a port chosen before start (it is in --public-url)."""

    def __init__(self, *extra):
        for attempt in range(5):
            port = e2e.free_port()
            self.base = "http://127.0.0.1:%d" % port
            jwks = os.path.join(e2e.REPO, "deploy", "trust", "cds-hooks-sandbox-jwks.json")
            try:
                super().__init__("--trust", SANDBOX_ISSUER + "=" + jwks, "--public-url", self.base, *extra, port=port)
                return
            except RuntimeError:
                if attempt == 4:
                    raise  # the port was taken between choosing and binding five times

    def call(self, path, jwt=None, body=None, method="POST", scheme="Bearer"):
        headers = dict(JSON) if body is not None else {}
        headers["Origin"] = "https://sandbox.cds-hooks.org"
        if jwt is not None:
            headers["Authorization"] = scheme + " " + jwt
        return self.request(method, path, body, headers)


SERVER = None


def setUpModule():
    global SANDBOX_KEY, SERVER
    with open(e2e.ARGS.sandbox_key, "rb") as f:
        SANDBOX_KEY = serialization.load_pem_private_key(f.read(), password=None)
    SERVER = AuthServer()


def tearDownModule():
    SERVER.stop_expecting_clean_exit()


class AuthAssertions(unittest.TestCase):
    def assert_bare_401(self, status, headers, body):
        self.assertEqual(status, 401, body[:300])
        self.assertEqual(headers.get("WWW-Authenticate"), "Bearer")
        self.assertEqual(headers.get("Access-Control-Allow-Origin"), "*")
        self.assertEqual(body, b"", "a 401 says nothing about why")

    def assert_cards(self, status, headers, body):
        self.assertEqual(status, 200, body[:300])
        self.assertEqual(headers.get("Access-Control-Allow-Origin"), "*")
        cards = json.loads(body)["cards"]
        self.assertEqual(cards[0]["indicator"], "critical")

    def assert_never_need_a_token(self, server):
        for path in ("/healthz", "/readyz"):
            self.assertEqual(server.call(path, method="GET")[0], 200, path)
            # Even a bad token there is not looked at.
            self.assertEqual(server.call(path, "garbage", method="GET")[0], 200, path)
        for path in ("/cds-services", PATIENT_VIEW, FEEDBACK, "/anything"):
            status, headers, _ = server.request("OPTIONS", path, headers={
                "Origin": "https://sandbox.cds-hooks.org", "Access-Control-Request-Method": "POST",
                "Access-Control-Request-Headers": "authorization,content-type"})
            self.assertEqual(status, 204, path)
            self.assertIn("authorization", headers.get("Access-Control-Allow-Headers", "").lower())

    def log_line_for(self, jti, server=None):
        """The request log line that names this jti (waits briefly for it to be written)."""
        match = (server or SERVER).wait_for_log(r'(?m)^.*jti="%s".*$' % re.escape(jti), timeout=5)
        self.assertIsNotNone(match, "no log line names jti " + jti)
        return match.group(0)


class ServiceCalls(AuthAssertions):
    def test_sandbox_token_gets_cards(self):
        jwt = token(SERVER.base + PATIENT_VIEW)
        self.assert_cards(*SERVER.call(PATIENT_VIEW, jwt, fixture_text("patient-view-severe.json")))
        status, _, body = SERVER.call("/cds-services/magnesium-order-select",
                                      token(SERVER.base + "/cds-services/magnesium-order-select"),
                                      fixture_text("order-select-furosemide-low-mg.json"))
        self.assertEqual(status, 200, body[:300])
        self.assertTrue(json.loads(body)["cards"])

    def test_an_array_aud_holding_the_url_is_accepted(self):
        jwt = token(["https://other.example.org/cds-services", SERVER.base + PATIENT_VIEW])
        self.assert_cards(*SERVER.call(PATIENT_VIEW, jwt, fixture_text("patient-view-severe.json")))

    def test_a_foreign_jku_is_ignored_and_the_configured_keys_decide(self):
        jwt = token(SERVER.base + PATIENT_VIEW, header={"jku": "https://evil.example.net/jwks.json"})
        self.assert_cards(*SERVER.call(PATIENT_VIEW, jwt, fixture_text("patient-view-severe.json")))
        self.assertIn("jku=ignored", self.log_line_for(claims_of(jwt)["jti"]))

    def test_missing_token(self):
        self.assert_bare_401(*SERVER.call(PATIENT_VIEW, None, fixture_text("patient-view-severe.json")))
        self.assertTrue(SERVER.wait_for_log(r"POST /cds-services/\{id\} 401 .*reason=missing_token"))

    def test_each_bad_token_gets_a_bare_401_and_a_logged_reason(self):
        url = SERVER.base + PATIENT_VIEW
        now = int(time.time())
        other_key = ec.generate_private_key(ec.SECP384R1())
        public_pem = SANDBOX_KEY.public_key().public_bytes(serialization.Encoding.PEM,
                                                          serialization.PublicFormat.SubjectPublicKeyInfo)
        cases = [
            ("expired", token(url, claims={"iat": now - 1000, "exp": now - 400})),
            ("audience_mismatch", token(SERVER.base + "/cds-services/magnesium-order-sign")),
            ("audience_mismatch", token("http://127.0.0.1:1" + PATIENT_VIEW)),
            ("not_yet_valid", token(url, claims={"nbf": now + 600})),
            ("issued_in_future", token(url, claims={"iat": now + 600, "exp": now + 900})),
            ("lifetime_too_long", token(url, claims={"exp": now + 7200})),
            ("bad_signature", token(url, key=other_key)),
            ("unknown_kid", token(url, header={"kid": "not-a-sandbox-key"})),
            ("unknown_issuer", token(url, claims={"iss": "https://ehr.example.org"})),
            ("missing_kid", token(url, drop=("kid",))),
            ("unsupported_alg", token(url, header={"alg": "none"}, signer=lambda data: b"")),
            # alg confusion: HS256 keyed with the public key the service holds
            ("unsupported_alg", token(url, header={"alg": "HS256"},
                                      signer=lambda data: hmac.new(public_pem, data, hashlib.sha256).digest())),
            # DER instead of JWS's raw R||S
            ("bad_signature", token(url, signer=lambda data: SANDBOX_KEY.sign(data, ec.ECDSA(hashes.SHA384())))),
            ("missing_claim", token(url, drop=("jti",))),
        ]
        for reason, jwt in cases:
            with self.subTest(reason=reason, header=jwt.split(".")[0][:40]):
                self.assert_bare_401(*SERVER.call(PATIENT_VIEW, jwt, fixture_text("patient-view-severe.json")))
                claims = claims_of(jwt)
                if "jti" in claims:
                    line = self.log_line_for(claims["jti"])
                    self.assertIn("reason=" + reason, line)
                    self.assertIn('iss="%s"' % claims["iss"], line)
                    self.assertIn(" 401 ", line)
                else:
                    self.assertTrue(SERVER.wait_for_log(r"401 .*reason=" + reason))
        log = SERVER.read_log()
        for _, jwt in cases:
            for part in jwt.split("."):
                if len(part) > 8:
                    self.assertNotIn(part, log, "a token (or part of one) was logged")

    def test_garbage_tokens(self):
        for authorization in ("Bearer ", "Bearer abc.def.ghi", "Bearer !!!", "Bearer " + "A" * 5000,
                              "Bearer a.b", "Bearer ..", "Basic dXNlcjpwYXNz", "bearer", "Bearer e30.e30.e30"):
            with self.subTest(authorization=authorization[:40]):
                headers = dict(JSON, Authorization=authorization)
                self.assert_bare_401(*SERVER.request("POST", PATIENT_VIEW, fixture_text("patient-view-severe.json"),
                                                     headers))
        self.assertNotIn("A" * 100, SERVER.read_log())

    def test_a_replayed_token_is_refused(self):
        jwt = token(SERVER.base + PATIENT_VIEW)
        self.assert_cards(*SERVER.call(PATIENT_VIEW, jwt, fixture_text("patient-view-severe.json")))
        self.assert_bare_401(*SERVER.call(PATIENT_VIEW, jwt, fixture_text("patient-view-severe.json")))
        self.assertTrue(SERVER.wait_for_log(r'401 .*reason=replay iss="%s" jti="%s"'
                                            % (re.escape(SANDBOX_ISSUER), claims_of(jwt)["jti"])))

    def test_unknown_service_is_401_without_a_token_and_404_with_one(self):
        # Authentication comes before the id is looked up, so that with --protect-discovery a
        # client without a token cannot tell which ids exist.
        self.assert_bare_401(*SERVER.call("/cds-services/no-such-service", None, "{}"))
        jwt = token(SERVER.base + "/cds-services/no-such-service")
        status, _, body = SERVER.call("/cds-services/no-such-service", jwt, "{}")
        self.assertEqual(status, 404)
        self.assertEqual(e2e.outcome_code(body), "unknown-service")


class Feedback(AuthAssertions):
    def test_feedback_needs_a_token_for_its_own_url(self):
        self.assert_bare_401(*SERVER.call(FEEDBACK, None, FEEDBACK_BODY))
        self.assert_bare_401(*SERVER.call(FEEDBACK, token(SERVER.base + PATIENT_VIEW), FEEDBACK_BODY))
        status, headers, _ = SERVER.call(FEEDBACK, token(SERVER.base + FEEDBACK), FEEDBACK_BODY)
        self.assertEqual(status, 200)
        self.assertEqual(headers.get("Access-Control-Allow-Origin"), "*")


class Discovery(AuthAssertions):
    def test_public_without_a_token(self):
        status, headers, body = SERVER.call("/cds-services", method="GET")
        self.assertEqual(status, 200)
        self.assertTrue(json.loads(body)["services"])

    def test_a_token_sent_anyway_is_verified(self):
        status, _, _ = SERVER.call("/cds-services", token(SERVER.base + "/cds-services"), method="GET")
        self.assertEqual(status, 200)
        now = int(time.time())
        self.assert_bare_401(*SERVER.call("/cds-services", token(SERVER.base + "/cds-services",
                                                                 claims={"iat": now - 1000, "exp": now - 400}),
                                          method="GET"))
        self.assert_bare_401(*SERVER.call("/cds-services", token(SERVER.base + PATIENT_VIEW), method="GET"))
        self.assert_bare_401(*SERVER.call("/cds-services", "garbage", method="GET"))

    def test_protect_discovery(self):
        with AuthServer("--protect-discovery") as server:
            self.assert_bare_401(*server.call("/cds-services", method="GET"))
            status, _, body = server.call("/cds-services", token(server.base + "/cds-services"), method="GET")
            self.assertEqual(status, 200)
            self.assertTrue(json.loads(body)["services"])
            self.assert_never_need_a_token(server)
            self.assertEqual(server.stop(), 0)


class NoTokenNeeded(AuthAssertions):
    def test_health_readiness_and_preflight(self):
        self.assert_never_need_a_token(SERVER)



class ListenPolicy(unittest.TestCase):
    def run_serve(self, *args):
        started = time.monotonic()
        result = subprocess.run([e2e.BINARY, "serve", *args], stdin=subprocess.DEVNULL, capture_output=True,
                                text=True, timeout=30)
        self.assertLess(time.monotonic() - started, 10, "it did not exit at once")
        return result

    def test_non_loopback_without_trust_is_refused_at_once(self):
        result = self.run_serve("--listen", "0.0.0.0:%d" % e2e.free_port())
        self.assertNotEqual(result.returncode, 0)
        self.assertEqual(result.stdout, "")
        self.assertIn("refusing to listen on 0.0.0.0 without authentication", result.stderr)
        self.assertIn("--trust", result.stderr)
        self.assertIn("--allow-unauthenticated", result.stderr)

    def test_allow_unauthenticated_passes_the_policy(self):
        # Tests never listen beyond loopback: 192.0.2.1 (TEST-NET-1, RFC 5737) is a non-loopback
        # address this machine does not have, so passing the policy shows as a bind failure.
        refused = self.run_serve("--listen", "192.0.2.1:8080")
        self.assertIn("refusing to listen on 192.0.2.1 without authentication", refused.stderr)
        allowed = self.run_serve("--listen", "192.0.2.1:8080", "--allow-unauthenticated")
        self.assertNotEqual(allowed.returncode, 0)
        self.assertNotIn("refusing to listen on 192.0.2.1 without authentication", allowed.stderr)
        self.assertIn("--allow-unauthenticated", allowed.stderr)  # the start-up warning
        self.assertIn("cannot listen on 192.0.2.1:8080", allowed.stderr)

    def test_trust_needs_public_url(self):
        jwks = os.path.join(e2e.REPO, "deploy", "trust", "cds-hooks-sandbox-jwks.json")
        result = self.run_serve("--listen", "127.0.0.1:0", "--trust", SANDBOX_ISSUER + "=" + jwks)
        self.assertNotEqual(result.returncode, 0)
        self.assertIn("--public-url", result.stderr)


if __name__ == "__main__":
    e2e.main(["--sandbox-key"])
