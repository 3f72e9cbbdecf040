#pragma once
// JSON Web Keys (RFC 7517) and JWK Sets turned into OpenSSL 3 public keys, and JWS signature
// verification (RFC 7518 §3.3 RSASSA-PKCS1-v1_5, §3.4 ECDSA) with those keys.
//
// Thread-safety: a `jwk_set` is immutable once built and is shared read-only between the
// server's threads through `std::shared_ptr<jwk_set const>`; OpenSSL 3 allows concurrent
// verification with one EVP_PKEY (each call uses its own EVP_MD_CTX).

#include <cstddef>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <cds/service/auth/jws.hpp>

typedef struct evp_pkey_st EVP_PKEY;  // NOLINT: OpenSSL's own forward declaration

namespace cds::service::auth {

enum class key_kind { ec_p256, ec_p384, rsa };

struct public_jwk {
    std::string kid;
    key_kind kind{};
    std::optional<jws_algorithm> algorithm;  // the JWK's `alg`, when it names one we know
    std::shared_ptr<EVP_PKEY const> key;

    // RFC 7518 §3.4: ES256 needs a P-256 key and ES384 a P-384 key; RS* need RSA. When the
    // JWK states `alg`, the token's `alg` must be exactly that (RFC 7517 §4.4).
    [[nodiscard]] bool usable_with(jws_algorithm token_algorithm) const;
};

struct jwk_set {
    std::vector<public_jwk> keys;
    // Every key with this kid (a well-formed set has at most one; a malformed one may repeat).
    [[nodiscard]] std::vector<public_jwk const*> find(std::string_view kid) const;
};

struct jwk_set_parse_result {
    std::shared_ptr<jwk_set const> set;  // null on error
    std::string error;                   // why the whole document was refused
    // Keys left out on purpose: `use` other than "sig", `key_ops` without "verify", a `kty`
    // or `crv` this service does not verify with (e.g. OKP, P-521, symmetric "oct").
    std::vector<std::string> skipped;
};

// Limits on a JWKS document: a real one has a handful of keys.
inline constexpr std::size_t max_jwks_bytes = 256 * 1024;
inline constexpr std::size_t max_jwks_keys = 64;
// RFC 7518 §3.3: RSA keys of 2048 bits or larger MUST be used; the upper bound keeps a
// hostile JWKS from making each verification arbitrarily expensive.
inline constexpr int min_rsa_bits = 2048;
inline constexpr int max_rsa_bits = 8192;

// Parses a JWK Set. A key of a supported type whose members are malformed (bad base64url,
// wrong coordinate length, point not on the curve, small RSA modulus, missing kid) makes
// the whole document an error, so a broken trust file fails start-up instead of silently
// dropping the key; keys that are merely not for us are skipped and listed.
[[nodiscard]] jwk_set_parse_result parse_jwk_set(std::string_view json);

// RFC 7518 §3.4: the JWS ECDSA signature is R || S, each a big-endian integer left-padded
// to the curve's size (32 bytes for P-256, 48 for P-384). OpenSSL verifies DER, so the raw
// pair is re-encoded as an ASN.1 ECDSA-Sig-Value; any other length (a DER signature sent
// by mistake among them) is refused. Returns an empty string when `raw` is unusable.
[[nodiscard]] std::string ecdsa_raw_to_der(std::string_view raw, std::size_t coordinate_bytes);

// Verifies `signature` (as carried in the JWS, i.e. raw R||S for ECDSA) over
// `signing_input`. False for every failure; leaves no error on OpenSSL's thread-local
// error queue (a stale entry there would confuse unrelated TLS code on the same thread).
[[nodiscard]] bool verify_jws_signature(jws_algorithm algorithm,
                                        public_jwk const& key,
                                        std::string_view signing_input,
                                        std::string_view signature);

}  // namespace cds::service::auth
