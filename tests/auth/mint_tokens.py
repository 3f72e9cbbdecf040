#!/usr/bin/env python3
"""Mints the JWT test material for tests/auth, independently of the service's C++ code.

Fresh keys every run (EC P-384, EC P-256, RSA 2048), signed with Python's `cryptography`
package, so an encoding bug shared by signer and verifier (DER versus raw R||S, say) cannot
hide. Sandbox-identical tokens are signed with the CDS Hooks sandbox's published key.

Writes into --out:
  tokens.json           {name: compact JWS}
  meta.json             {now, urls, issuers} the C++ tests read instead of repeating them
  a.jwks.json           issuer A's public keys (+ a use=enc key, a key pinned to RS384)
  a-rotated.jwks.json   issuer A after rotation (adds kid ec384-2)
  b.jwks.json           issuer B
  sandbox-derived.jwks.json  the public half of the sandbox's published private key
  remote-1.jwks.json    issuer "remote" before rotation (kid r-1), remote-2 after (r-1, r-2)
  served/               directory the loopback HTTPS server serves (the test fills it)
  tls/                  a test CA, server certificates (localhost + 127.0.0.1; a wrong name),
                        another CA that signed nothing used
"""

import argparse
import base64
import datetime
import hashlib
import hmac
import json
import os
import shutil
import uuid

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature
from cryptography.x509.oid import NameOID
import ipaddress

# Fixed evaluation time: the C++ tests pass it to verify(); nothing depends on the clock.
NOW = 1_750_000_000
PUBLIC_URL = "https://cds.example.org"
DISCOVERY_URL = PUBLIC_URL + "/cds-services"
SERVICE_URL = DISCOVERY_URL + "/magnesium-order-select"
FEEDBACK_URL = SERVICE_URL + "/feedback"
ISSUER_A = "https://ehr-a.example.org"
ISSUER_B = "https://ehr-b.example.org"
ISSUER_REMOTE = "https://ehr-remote.example.org"
SANDBOX_ISSUER = "https://sandbox.cds-hooks.org"
SANDBOX_KID = "44823f3d-0b01-4a6c-a80e-b9d3e8a7226f"
SANDBOX_JKU = "https://sandbox.cds-hooks.org/.well-known/jwks.json"
A_JWKS_URL = "https://ehr-a.example.org/.well-known/jwks.json"
EVIL_JKU = "https://evil.example.net/jwks.json"
# Sandbox tokens minted for the per-issuer replay-cache test (more than its cache bound).
SANDBOX_FLOOD = 12


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def uint_bytes(n: int, length: int | None = None) -> bytes:
    length = length or (n.bit_length() + 7) // 8
    return n.to_bytes(length, "big")


def ec_jwk(key, kid, alg=None, use="sig"):
    numbers = key.public_key().public_numbers()
    size = 48 if isinstance(key.curve, ec.SECP384R1) else 32
    jwk = {"kty": "EC", "crv": "P-384" if size == 48 else "P-256", "kid": kid,
           "x": b64(uint_bytes(numbers.x, size)), "y": b64(uint_bytes(numbers.y, size))}
    if use is not None:
        jwk["use"] = use
    if alg is not None:
        jwk["alg"] = alg
    return jwk


def rsa_jwk(key, kid, alg=None, use="sig"):
    numbers = key.public_key().public_numbers()
    jwk = {"kty": "RSA", "kid": kid, "n": b64(uint_bytes(numbers.n)), "e": b64(uint_bytes(numbers.e))}
    if use is not None:
        jwk["use"] = use
    if alg is not None:
        jwk["alg"] = alg
    return jwk


def compact(header, claims, signer):
    """signer(signing_input: bytes) -> signature bytes."""
    signing_input = (b64(json.dumps(header, separators=(",", ":")).encode()) + "." +
                     b64(json.dumps(claims, separators=(",", ":")).encode()))
    return signing_input + "." + b64(signer(signing_input.encode()))


def es_signer(key, der=False):
    size = 48 if isinstance(key.curve, ec.SECP384R1) else 32
    digest = hashes.SHA384() if size == 48 else hashes.SHA256()

    def sign(data):
        signature = key.sign(data, ec.ECDSA(digest))
        if der:
            return signature
        # RFC 7518 §3.4: R || S, each left-padded to the curve size.
        r, s = decode_dss_signature(signature)
        return uint_bytes(r, size) + uint_bytes(s, size)
    return sign


def rs_signer(key, digest):
    return lambda data: key.sign(data, padding.PKCS1v15(), digest)


def hs_signer(secret: bytes, digest):
    return lambda data: hmac.new(secret, data, digest).digest()


def claims_for(iss=ISSUER_A, aud=SERVICE_URL, iat=NOW - 10, exp=None, **extra):
    lifetime_base = iat if iat is not _DROP else NOW - 10
    claims = {"iss": iss, "aud": aud, "exp": exp if exp is not None else lifetime_base + 300,
              "iat": iat, "jti": str(uuid.uuid4())}
    claims.update(extra)
    return {name: value for name, value in claims.items() if value is not _DROP}


_DROP = object()


def header_for(alg, kid, **extra):
    header = {"alg": alg, "typ": "JWT", "kid": kid}
    header.update(extra)
    return {name: value for name, value in header.items() if value is not _DROP}


def pem_public(key) -> bytes:
    return key.public_key().public_bytes(serialization.Encoding.PEM,
                                         serialization.PublicFormat.SubjectPublicKeyInfo)


def write_json(path, value):
    with open(path, "w", encoding="utf-8") as f:
        json.dump(value, f, indent=2)
        f.write("\n")


def make_tls(out_dir):
    """A test CA, a server cert for localhost/127.0.0.1, one for another name, another CA."""
    os.makedirs(out_dir, exist_ok=True)
    start = datetime.datetime.now(datetime.timezone.utc) - datetime.timedelta(days=1)
    end = start + datetime.timedelta(days=7)

    def ca(name):
        key = ec.generate_private_key(ec.SECP256R1())
        subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
        cert = (x509.CertificateBuilder().subject_name(subject).issuer_name(subject)
                .public_key(key.public_key()).serial_number(x509.random_serial_number())
                .not_valid_before(start).not_valid_after(end)
                .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
                .add_extension(x509.KeyUsage(digital_signature=True, key_cert_sign=True,
                                             crl_sign=True, content_commitment=False,
                                             key_encipherment=False, data_encipherment=False,
                                             key_agreement=False, encipher_only=False,
                                             decipher_only=False), critical=True)
                .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()),
                               critical=False)
                .sign(key, hashes.SHA256()))
        return key, cert

    def leaf(ca_key, ca_cert, names, ips, stem):
        key = ec.generate_private_key(ec.SECP256R1())
        sans = [x509.DNSName(n) for n in names] + [x509.IPAddress(ipaddress.ip_address(i))
                                                   for i in ips]
        cert = (x509.CertificateBuilder()
                .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, names[0])]))
                .issuer_name(ca_cert.subject).public_key(key.public_key())
                .serial_number(x509.random_serial_number())
                .not_valid_before(start).not_valid_after(end)
                .add_extension(x509.SubjectAlternativeName(sans), critical=False)
                .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
                .add_extension(x509.ExtendedKeyUsage([x509.oid.ExtendedKeyUsageOID.SERVER_AUTH]),
                               critical=False)
                .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(
                    ca_key.public_key()), critical=False)
                .sign(ca_key, hashes.SHA256()))
        with open(os.path.join(out_dir, stem + ".key"), "wb") as f:
            f.write(key.private_bytes(serialization.Encoding.PEM,
                                      serialization.PrivateFormat.PKCS8,
                                      serialization.NoEncryption()))
        with open(os.path.join(out_dir, stem + ".crt"), "wb") as f:
            f.write(cert.public_bytes(serialization.Encoding.PEM))

    ca_key, ca_cert = ca("magnesium-cds test CA")
    with open(os.path.join(out_dir, "ca.pem"), "wb") as f:
        f.write(ca_cert.public_bytes(serialization.Encoding.PEM))
    leaf(ca_key, ca_cert, ["localhost"], ["127.0.0.1"], "server")
    leaf(ca_key, ca_cert, ["jwks.other.example"], [], "wrong-name")
    _, other_cert = ca("unrelated CA")
    with open(os.path.join(out_dir, "other-ca.pem"), "wb") as f:
        f.write(other_cert.public_bytes(serialization.Encoding.PEM))


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--out", required=True)
    parser.add_argument("--sandbox-key", required=True)
    args = parser.parse_args()

    out = args.out
    if os.path.isdir(out):
        shutil.rmtree(out)
    os.makedirs(os.path.join(out, "served"))
    make_tls(os.path.join(out, "tls"))

    ec384 = ec.generate_private_key(ec.SECP384R1())
    ec384_rotated = ec.generate_private_key(ec.SECP384R1())
    ec256 = ec.generate_private_key(ec.SECP256R1())
    rsa_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    rsa256_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    enc_key = ec.generate_private_key(ec.SECP384R1())
    pinned = ec.generate_private_key(ec.SECP384R1())
    noalg = ec.generate_private_key(ec.SECP384R1())
    b_key = ec.generate_private_key(ec.SECP384R1())
    attacker = ec.generate_private_key(ec.SECP384R1())
    remote_1 = ec.generate_private_key(ec.SECP384R1())
    remote_2 = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    with open(args.sandbox_key, "rb") as f:
        sandbox = serialization.load_pem_private_key(f.read(), password=None)

    a_keys = [ec_jwk(ec384, "ec384-1", "ES384"), rsa_jwk(rsa_key, "rsa-1", "RS384"),
              ec_jwk(ec256, "ec256-1", "ES256"), rsa_jwk(rsa256_key, "rsa256-1", "RS256"),
              ec_jwk(enc_key, "enc-1", "ES384", use="enc"),
              ec_jwk(pinned, "pinned-rs384", "RS384"),
              ec_jwk(noalg, "noalg-ec384", alg=None, use=None)]
    write_json(os.path.join(out, "a.jwks.json"), {"keys": a_keys})
    write_json(os.path.join(out, "a-rotated.jwks.json"),
               {"keys": a_keys + [ec_jwk(ec384_rotated, "ec384-2", "ES384")]})
    write_json(os.path.join(out, "b.jwks.json"), {"keys": [ec_jwk(b_key, "ec384-b", "ES384")]})
    # The public half of the sandbox key, for comparing with the JWKS shipped in deploy/trust.
    write_json(os.path.join(out, "sandbox-derived.jwks.json"),
               {"keys": [ec_jwk(sandbox, SANDBOX_KID, "ES384")]})
    write_json(os.path.join(out, "remote-1.jwks.json"),
               {"keys": [ec_jwk(remote_1, "r-1", "ES384")]})
    write_json(os.path.join(out, "remote-2.jwks.json"),
               {"keys": [ec_jwk(remote_1, "r-1", "ES384"), rsa_jwk(remote_2, "r-2", "RS384")]})

    es384 = es_signer(ec384)
    rs384 = rs_signer(rsa_key, hashes.SHA384())
    t = {}
    # Successes.
    t["es384_valid"] = compact(header_for("ES384", "ec384-1"), claims_for(), es384)
    t["rs384_valid"] = compact(header_for("RS384", "rsa-1"), claims_for(), rs384)
    t["es256_valid"] = compact(header_for("ES256", "ec256-1"), claims_for(), es_signer(ec256))
    t["rs256_valid"] = compact(header_for("RS256", "rsa256-1"), claims_for(),
                               rs_signer(rsa256_key, hashes.SHA256()))
    t["noalg_key_valid"] = compact(header_for("ES384", "noalg-ec384"), claims_for(),
                                   es_signer(noalg))
    t["aud_array_valid"] = compact(header_for("ES384", "ec384-1"),
                                   claims_for(aud=["https://other.example.org/cds-services/x",
                                                   SERVICE_URL]), es384)
    t["feedback_valid"] = compact(header_for("ES384", "ec384-1"), claims_for(aud=FEEDBACK_URL),
                                  es384)
    t["discovery_valid"] = compact(header_for("ES384", "ec384-1"), claims_for(aud=DISCOVERY_URL),
                                   es384)
    t["exp_within_skew"] = compact(header_for("ES384", "ec384-1"),
                                   claims_for(iat=NOW - 300, exp=NOW - 30), es384)
    t["iat_within_skew"] = compact(header_for("ES384", "ec384-1"),
                                   claims_for(iat=NOW + 30), es384)
    t["nbf_within_skew"] = compact(header_for("ES384", "ec384-1"), claims_for(nbf=NOW + 30), es384)
    t["lifetime_exactly_1h"] = compact(header_for("ES384", "ec384-1"),
                                       claims_for(iat=NOW - 10, exp=NOW - 10 + 3600), es384)
    t["typ_lowercase"] = compact(header_for("ES384", "ec384-1", typ="jwt"), claims_for(), es384)
    t["typ_absent"] = compact(header_for("ES384", "ec384-1", typ=_DROP), claims_for(), es384)
    t["fractional_dates"] = compact(header_for("ES384", "ec384-1"),
                                    claims_for(iat=NOW - 10.5, exp=NOW + 100.25), es384)
    t["with_tenant"] = compact(header_for("ES384", "ec384-1"),
                               claims_for(tenant="2ddd6c3a-8e9a-44c6-a305-52111ad302a2"), es384)
    # The same jti from two issuers: replay is tracked per issuer.
    shared_jti = str(uuid.uuid4())
    t["shared_jti_a"] = compact(header_for("ES384", "ec384-1"), claims_for(jti=shared_jti), es384)
    t["shared_jti_b"] = compact(header_for("ES384", "ec384-b"),
                                claims_for(iss=ISSUER_B, jti=shared_jti), es_signer(b_key))
    # jku: the configured URL, and one pointing elsewhere (ignored; configured keys decide).
    t["jku_configured"] = compact(header_for("ES384", "ec384-1", jku=A_JWKS_URL), claims_for(),
                                  es384)
    t["jku_elsewhere_legit_key"] = compact(header_for("ES384", "ec384-1", jku=EVIL_JKU),
                                           claims_for(), es384)
    t["jku_elsewhere_attacker_key"] = compact(header_for("ES384", "attacker-1", jku=EVIL_JKU),
                                              claims_for(), es_signer(attacker))
    t["jku_elsewhere_attacker_reuses_kid"] = compact(
        header_for("ES384", "ec384-1", jku=EVIL_JKU), claims_for(), es_signer(attacker))
    t["embedded_jwk_attacker"] = compact(
        header_for("ES384", "attacker-1", jwk=ec_jwk(attacker, "attacker-1", "ES384")),
        claims_for(), es_signer(attacker))
    # Rotation: a key only the rotated set has.
    t["rotated_kid"] = compact(header_for("ES384", "ec384-2"), claims_for(),
                               es_signer(ec384_rotated))
    t["rotated_kid_again"] = compact(header_for("ES384", "ec384-2"), claims_for(),
                                     es_signer(ec384_rotated))
    t["unknown_kid_probe_1"] = compact(header_for("ES384", "nobody-1"), claims_for(), es384)
    t["unknown_kid_probe_2"] = compact(header_for("ES384", "nobody-2"), claims_for(), es384)
    # Remote issuer served over HTTPS on loopback.
    t["remote_r1"] = compact(header_for("ES384", "r-1"), claims_for(iss=ISSUER_REMOTE),
                             es_signer(remote_1))
    t["remote_r2"] = compact(header_for("RS384", "r-2"), claims_for(iss=ISSUER_REMOTE),
                             rs_signer(remote_2, hashes.SHA384()))
    t["remote_r2_again"] = compact(header_for("RS384", "r-2"), claims_for(iss=ISSUER_REMOTE),
                                   rs_signer(remote_2, hashes.SHA384()))

    # Sandbox-identical: header, claims and exp = iat + 300 exactly as the sandbox sends them.
    sandbox_header = {"alg": "ES384", "typ": "JWT", "kid": SANDBOX_KID, "jku": SANDBOX_JKU}
    for name, aud in (("sandbox_service", SERVICE_URL), ("sandbox_feedback", FEEDBACK_URL),
                      ("sandbox_discovery", DISCOVERY_URL)):
        t[name] = compact(sandbox_header,
                          {"iss": SANDBOX_ISSUER, "aud": aud, "exp": NOW - 5 + 300, "iat": NOW - 5,
                           "jti": str(uuid.uuid4())}, es_signer(sandbox))

    # A flood from the sandbox issuer, whose private key is public: anyone can mint these.
    for i in range(SANDBOX_FLOOD):
        t[f"sandbox_flood_{i}"] = compact(sandbox_header,
                                          {"iss": SANDBOX_ISSUER, "aud": SERVICE_URL,
                                           "exp": NOW - 5 + 300, "iat": NOW - 5,
                                           "jti": str(uuid.uuid4())}, es_signer(sandbox))

    # Failures.
    t["expired"] = compact(header_for("ES384", "ec384-1"), claims_for(iat=NOW - 400, exp=NOW - 61),
                           es384)
    t["nbf_future"] = compact(header_for("ES384", "ec384-1"), claims_for(nbf=NOW + 120), es384)
    t["iat_future"] = compact(header_for("ES384", "ec384-1"),
                              claims_for(iat=NOW + 120, exp=NOW + 400), es384)
    t["lifetime_too_long"] = compact(header_for("ES384", "ec384-1"),
                                     claims_for(iat=NOW - 10, exp=NOW - 10 + 3601), es384)
    t["exp_before_iat"] = compact(header_for("ES384", "ec384-1"),
                                  claims_for(iat=NOW + 50, exp=NOW + 40), es384)
    t["aud_feedback_at_service"] = t["feedback_valid"]
    t["aud_service_at_feedback"] = compact(header_for("ES384", "ec384-1"), claims_for(), es384)
    t["aud_array_without"] = compact(header_for("ES384", "ec384-1"),
                                     claims_for(aud=[DISCOVERY_URL, FEEDBACK_URL]), es384)
    t["aud_trailing_slash"] = compact(header_for("ES384", "ec384-1"),
                                      claims_for(aud=SERVICE_URL + "/"), es384)
    t["aud_other_host"] = compact(header_for("ES384", "ec384-1"),
                                  claims_for(aud="https://cds.example.org.evil.net/cds-services/"
                                             "magnesium-order-select"), es384)
    t["aud_number"] = compact(header_for("ES384", "ec384-1"), claims_for(aud=42), es384)
    t["aud_missing"] = compact(header_for("ES384", "ec384-1"), claims_for(aud=_DROP), es384)
    t["unknown_iss"] = compact(header_for("ES384", "ec384-1"),
                               claims_for(iss="https://ehr-z.example.org"), es384)
    t["missing_iss"] = compact(header_for("ES384", "ec384-1"), claims_for(iss=_DROP), es384)
    t["unknown_kid"] = compact(header_for("ES384", "nobody"), claims_for(), es384)
    t["missing_kid"] = compact(header_for("ES384", _DROP), claims_for(), es384)
    t["empty_kid"] = compact(header_for("ES384", ""), claims_for(), es384)
    t["enc_key"] = compact(header_for("ES384", "enc-1"), claims_for(), es_signer(enc_key))
    t["missing_jti"] = compact(header_for("ES384", "ec384-1"), claims_for(jti=_DROP), es384)
    t["missing_exp"] = compact(header_for("ES384", "ec384-1"), claims_for(exp=_DROP), es384)
    t["missing_iat"] = compact(header_for("ES384", "ec384-1"), claims_for(iat=_DROP), es384)
    t["exp_string"] = compact(header_for("ES384", "ec384-1"), claims_for(exp=str(NOW + 100)),
                              es384)
    t["jti_number"] = compact(header_for("ES384", "ec384-1"), claims_for(jti=12345), es384)
    t["crit_header"] = compact(header_for("ES384", "ec384-1", crit=["b64"], b64=False),
                               claims_for(), es384)
    t["typ_jwe"] = compact(header_for("ES384", "ec384-1", typ="JWE"), claims_for(), es384)
    t["alg_none"] = compact(header_for("none", "ec384-1"), claims_for(), lambda data: b"")
    t["alg_None"] = compact(header_for("None", "ec384-1"), claims_for(), lambda data: b"")
    t["alg_none_with_es384_signature"] = compact(header_for("none", "ec384-1"), claims_for(), es384)
    t["alg_lowercase_es384"] = compact(header_for("es384", "ec384-1"), claims_for(), es384)
    t["alg_missing"] = compact(header_for(_DROP, "ec384-1"), claims_for(), es384)
    t["alg_ps384"] = compact(header_for("PS384", "rsa-1"), claims_for(),
                             lambda data: rsa_key.sign(data, padding.PSS(
                                 mgf=padding.MGF1(hashes.SHA384()),
                                 salt_length=padding.PSS.DIGEST_LENGTH), hashes.SHA384()))
    # Algorithm confusion: HMAC keyed with the issuer's public key, which anyone can read.
    t["hs256_rsa_public_pem"] = compact(header_for("HS256", "rsa-1"), claims_for(),
                                        hs_signer(pem_public(rsa_key), hashlib.sha256))
    t["hs256_ec_public_pem"] = compact(header_for("HS256", "ec384-1"), claims_for(),
                                       hs_signer(pem_public(ec384), hashlib.sha256))
    t["hs384_jwk_json"] = compact(header_for("HS384", "ec384-1"), claims_for(),
                                  hs_signer(json.dumps(a_keys[0]).encode(), hashlib.sha384))
    # ECDSA signature in DER (what OpenSSL and most libraries produce) instead of JWS R||S.
    t["es384_der_signature"] = compact(header_for("ES384", "ec384-1"), claims_for(),
                                       es_signer(ec384, der=True))
    t["es384_signed_with_p256"] = compact(header_for("ES384", "ec384-1"), claims_for(),
                                          es_signer(ec256))
    t["rs384_with_ec_kid"] = compact(header_for("RS384", "ec384-1"), claims_for(), rs384)
    t["es384_with_rsa_kid"] = compact(header_for("ES384", "rsa-1"), claims_for(), es384)
    t["es384_with_pinned_rs384_key"] = compact(header_for("ES384", "pinned-rs384"), claims_for(),
                                               es_signer(pinned))
    t["rs384_signed_with_sha256"] = compact(header_for("RS384", "rsa-1"), claims_for(),
                                            rs_signer(rsa_key, hashes.SHA256()))
    t["wrong_issuer_key"] = compact(header_for("ES384", "ec384-1"), claims_for(),
                                    es_signer(b_key))
    t["sandbox_key_claiming_a"] = compact(header_for("ES384", SANDBOX_KID), claims_for(),
                                          es_signer(sandbox))
    t["sandbox_expired"] = compact(sandbox_header,
                                   {"iss": SANDBOX_ISSUER, "aud": SERVICE_URL, "exp": NOW - 100,
                                    "iat": NOW - 400, "jti": str(uuid.uuid4())},
                                   es_signer(sandbox))
    # Tampering: a valid signature moved onto other claims.
    good = t["es384_valid"].split(".")
    forged_claims = claims_for(iss=ISSUER_A, aud=SERVICE_URL)
    forged_claims["sub"] = "admin"
    t["tampered_payload"] = ".".join(
        [good[0], b64(json.dumps(forged_claims, separators=(",", ":")).encode()), good[2]])

    write_json(os.path.join(out, "tokens.json"), t)
    write_json(os.path.join(out, "meta.json"), {
        "now": NOW, "public_url": PUBLIC_URL, "discovery_url": DISCOVERY_URL,
        "service_url": SERVICE_URL, "feedback_url": FEEDBACK_URL,
        "issuer_a": ISSUER_A, "issuer_b": ISSUER_B, "issuer_remote": ISSUER_REMOTE,
        "sandbox_issuer": SANDBOX_ISSUER, "a_jwks_url": A_JWKS_URL, "evil_jku": EVIL_JKU,
        "shared_jti": shared_jti, "sandbox_flood": SANDBOX_FLOOD,
    })
    print(f"minted {len(t)} tokens into {out}")


if __name__ == "__main__":
    main()
