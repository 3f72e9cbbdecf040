#!/usr/bin/env python3
"""Builds the libFuzzer seed corpora from the repository's fixtures.

    make_seeds.py --root REPO --out DIR

writes DIR/<harness>/ for every harness in tests/fuzz. Corpora are generated at run time
into a temporary directory and never committed; only inputs that once crashed are kept, in
fixtures/regressions/<harness>/, plus a few hand-written seeds in fixtures/fuzz-seeds/.

Small seeds make libFuzzer faster, so besides whole requests each harness also gets the
single resources of every prefetch Bundle, and the dateTime harness the dateTime strings
found in the fixtures.

With --write-jwt-fixtures DIR it (re)writes the committed JWT seeds: sandbox-identical
tokens signed with the sandbox's published key (fixtures/cds-hooks-sandbox),
valid at the harnesses' fixed clock, 2026-03-10T09:00:00Z.
"""

import argparse
import base64
import hashlib
import json
import pathlib
import shutil
import sys

FIXED_NOW = 1773133200  # 2026-03-10T09:00:00Z, tests/fuzz/fuzz_support.hpp fixed_now()
INVOKED_URL = "https://cds.example.org/cds-services/magnesium-order-select"
SANDBOX_ISSUER = "https://sandbox.cds-hooks.org"
SANDBOX_KID = "44823f3d-0b01-4a6c-a80e-b9d3e8a7226f"
SANDBOX_JKU = "https://sandbox.cds-hooks.org/.well-known/jwks.json"
EHR_ISSUER = "https://ehr.example.org"

DATE_TIMES = [
    "2026", "2026-03", "2026-03-10", "2026-03-10T09:00:00Z", "2026-03-10T09:00:00.123Z",
    "2026-03-10T09:00:00+14:00", "2026-03-10T09:00:00-12:00", "2024-02-29", "2016-12-31T23:59:60Z",
    "0001-01-01T00:00:00+01:00", "9999-12-31T23:59:59.999999999-14:00", "2026-03-10T09:00:00",
    "2026-13", "2026-02-30", "2026-03-10T24:00:00Z", "2026-03-10T09:00Z",
]


def write(directory: pathlib.Path, name: str, data: bytes) -> None:
    directory.mkdir(parents=True, exist_ok=True)
    (directory / name).write_bytes(data)


def compact(value) -> bytes:
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False).encode()


def digest_name(data: bytes, suffix: str = "") -> str:
    return hashlib.sha1(data).hexdigest()[:16] + suffix


def json_files(*dirs: pathlib.Path):
    for d in dirs:
        if d.is_dir():
            yield from sorted(p for p in d.rglob("*.json") if p.is_file())


def resources_of(value):
    """Every resource inside a request, Bundle or resource (Bundle entries flattened)."""
    if isinstance(value, dict):
        if value.get("resourceType") == "Bundle":
            for entry in value.get("entry") or []:
                if isinstance(entry, dict) and isinstance(entry.get("resource"), dict):
                    yield from resources_of(entry["resource"])
        elif "resourceType" in value:
            yield value
        else:
            for key in ("prefetch", "context"):
                inner = value.get(key)
                if isinstance(inner, dict):
                    for item in inner.values():
                        yield from resources_of(item)
            if "draftOrders" in value:
                yield from resources_of(value["draftOrders"])


def strings_of(value):
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict):
        for item in value.values():
            yield from strings_of(item)
    elif isinstance(value, list):
        for item in value:
            yield from strings_of(item)


def quantities_of(value):
    if isinstance(value, dict):
        if "value" in value and ("unit" in value or "code" in value):
            yield value
        for item in value.values():
            yield from quantities_of(item)
    elif isinstance(value, list):
        for item in value:
            yield from quantities_of(item)


def load(path: pathlib.Path):
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (ValueError, UnicodeDecodeError):
        return None


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def sandbox_tokens(fixtures: pathlib.Path):
    """(name, token) pairs signed like the sandbox signs, at the fixed clock."""
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature

    key_pem = (fixtures / "cds-hooks-sandbox" / "ecprivkey.pem").read_bytes()
    key = serialization.load_pem_private_key(key_pem, password=None)

    def sign(header, claims):
        signing_input = b64url(compact(header)) + "." + b64url(compact(claims))
        r, s = decode_dss_signature(key.sign(signing_input.encode(), ec.ECDSA(hashes.SHA384())))
        return signing_input + "." + b64url(r.to_bytes(48, "big") + s.to_bytes(48, "big"))

    header = {"alg": "ES384", "typ": "JWT", "kid": SANDBOX_KID, "jku": SANDBOX_JKU}
    claims = {"iss": SANDBOX_ISSUER, "aud": INVOKED_URL, "exp": FIXED_NOW + 300, "iat": FIXED_NOW,
              "jti": "5b3c5f0e-3c34-4d53-9d1b-1f2c0f8e6a01"}
    yield "sandbox-valid", sign(header, claims)
    yield "sandbox-aud-array", sign(header, dict(claims, aud=["https://other.example", INVOKED_URL],
                                                 jti="5b3c5f0e-3c34-4d53-9d1b-1f2c0f8e6a02"))
    yield "sandbox-expired", sign(header, dict(claims, exp=FIXED_NOW - 600, iat=FIXED_NOW - 900))
    yield "sandbox-wrong-aud", sign(header, dict(claims, aud="https://cds.example.org/cds-services"))
    yield "sandbox-foreign-jku", sign(dict(header, jku="https://attacker.example/jwks.json"), claims)
    yield "sandbox-alg-none", b64url(compact({"alg": "none", "kid": SANDBOX_KID})) + "." + \
        b64url(compact(claims)) + "."


def jwt_seeds(root: pathlib.Path):
    """(name, bytes) seeds for fuzz_jwt; the first byte selects the mode (see fuzz_jwt.cpp)."""
    for name, token in sandbox_tokens(root / "fixtures"):
        yield name + ".tok", b"0" + token.encode()
    for jwks in sorted((root / "deploy" / "trust").glob("*.json")):
        yield "jwks-" + jwks.stem + ".json", b"1" + compact(json.loads(jwks.read_text()))
    base = {"iss": EHR_ISSUER, "aud": INVOKED_URL, "exp": FIXED_NOW + 300, "iat": FIXED_NOW, "jti": "a1"}
    variants = [
        ({"alg": "ES384", "typ": "JWT", "kid": "ec384"}, base),
        ({"alg": "ES256", "kid": "ec256"}, dict(base, jti="a2")),
        ({"alg": "RS384", "kid": "rsa"}, dict(base, jti="a3", nbf=FIXED_NOW - 10)),
        ({"alg": "RS256", "kid": "rsa"}, dict(base, jti="a4", aud=[INVOKED_URL])),
        ({"alg": "ES384", "kid": "ec256"}, dict(base, jti="a5")),
        ({"alg": "HS256", "kid": "hmac"}, dict(base, jti="a6")),
        ({"alg": "ES384", "kid": "ec384", "crit": ["exp"]}, dict(base, jti="a7")),
        ({"alg": "ES384", "kid": "ec384"}, dict(base, jti="a8", exp=FIXED_NOW + 7200)),
        ({"alg": "ES384", "kid": "enc-key"}, dict(base, jti="a9")),
        ({"alg": "ES384", "kid": "ec384"}, dict(base, jti="a10", iat=FIXED_NOW + 3600, exp=FIXED_NOW + 3700)),
    ]
    for i, (header, claims) in enumerate(variants):
        yield f"signed-{i:02d}.txt", b"2" + compact(header) + b"\n" + compact(claims)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--root", required=True, type=pathlib.Path)
    parser.add_argument("--out", type=pathlib.Path)
    parser.add_argument("--write-jwt-fixtures", type=pathlib.Path)
    args = parser.parse_args()
    root = args.root.resolve()
    fixtures = root / "fixtures"

    if args.write_jwt_fixtures:
        shutil.rmtree(args.write_jwt_fixtures, ignore_errors=True)
        for name, data in jwt_seeds(root):
            write(args.write_jwt_fixtures, name, data)
    if not args.out:
        return 0

    out = args.out
    counts = {}

    def add(harness, data, suffix=".json"):
        write(out / harness, digest_name(data, suffix), data)

    requests = list(json_files(fixtures / "requests")) + \
        sorted((fixtures / "scenarios").glob("*/request.json"))
    examples = list(json_files(fixtures / "fhir-examples", fixtures / "fhir-server"))

    # Whole requests: the service path, the evaluate path, and resource parsing.
    for path in requests:
        data = path.read_bytes()
        for harness in ("service_request", "evaluate", "fhir_resources", "request_reader",
                        "json_tokenizer"):
            add(harness, data)
    # Single resources (smaller seeds) for resource parsing; their dateTime strings and
    # Quantities for the data-type harness.
    for path in requests + examples:
        value = load(path)
        if value is None:
            continue
        if path in examples:
            add("fhir_resources", path.read_bytes())
            add("json_tokenizer", path.read_bytes())
        for resource in resources_of(value):
            add("fhir_resources", compact(resource))
            for text in strings_of(resource):
                if len(text) <= 40 and text[:4].isdigit():
                    add("date_time_quantity", text.encode(), ".txt")
            for q in quantities_of(resource):
                add("date_time_quantity", compact(q))
    for text in DATE_TIMES:
        add("date_time_quantity", text.encode(), ".txt")
        add("date_time_quantity", compact({"start": text, "end": text}))
    # Feedback bodies reach the feedback parser through the service harness.
    feedback = {"feedback": [{"card": "00000000-0000-4000-8000-000000000001", "outcome": "accepted",
                              "acceptedSuggestions": [{"id": "00000000-0000-4000-8000-000000000002"}],
                              "outcomeTimestamp": "2026-03-10T09:00:05Z"},
                             {"card": "00000000-0000-4000-8000-000000000003", "outcome": "overridden",
                              "overrideReason": {"reason": {"code": "patient-declined",
                                                            "system": "urn:magnesium-cds:override"},
                                                 "userComment": "discussed"},
                              "outcomeTimestamp": "2026-03-10T09:00:06Z"}]}
    add("service_request", compact(feedback))

    # Hand-written seeds and committed regressions go in as well.
    for harness_dir in sorted((fixtures / "fuzz-seeds").glob("*")) + sorted((fixtures / "regressions").glob("*")):
        if harness_dir.is_dir():
            for f in sorted(harness_dir.iterdir()):
                if f.is_file() and not f.name.startswith(".") and not f.name.startswith("README"):
                    write(out / harness_dir.name, f.name, f.read_bytes())
    for name, data in jwt_seeds(root):
        write(out / "jwt", name, data)

    for harness_dir in sorted(out.iterdir()):
        counts[harness_dir.name] = sum(1 for _ in harness_dir.iterdir())
    print("seed corpora:", ", ".join(f"{k}={v}" for k, v in counts.items()))
    return 0


if __name__ == "__main__":
    sys.exit(main())
