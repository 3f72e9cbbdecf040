// Harness (d): the JWT parser and verifier of CDS Hooks 2.0 "Trusting CDS Clients"
// (service/include/cds/service/auth/), with a fixed set of trusted issuers and JWKS and a
// fixed clock. The first input byte chooses the mode (byte % 3):
//
//   0  the rest is a bearer token: authenticator::check (Authorization header parsing,
//      aud = public URL + path) -> jwt_verifier::verify. Seeds are sandbox-identical tokens
//      signed with the sandbox's published key, valid at the fixed clock.
//   1  the rest is a JWK Set: parse_jwk_set, then every key is tried with every algorithm
//      against a signature taken from the input (hostile keys reach OpenSSL), and
//      ecdsa_raw_to_der on the input.
//   2  the rest is "<header JSON>\n<claims JSON>": the harness signs it with its own keys
//      (ES256/ES384/RS256/RS384 as the header's alg asks, ES384 otherwise) so that fuzzed
//      claims get past the signature and reach the claim checks (aud, exp, nbf, iat,
//      lifetime, jti, replay).
//
// Properties checked beyond "no crash": the printable fields of a result are short
// printable ASCII; an accepted token is refused as a replay the second time; an accepted
// token's claims satisfy the rules independently re-checked here (aud contains the invoked
// URL, exp after now - skew, iat present and not after now + skew, lifetime at most one hour,
// jti present, a configured issuer, a kid).

#include <chrono>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/ec.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <boost/json.hpp>

#include "cds/service/auth/authenticator.hpp"
#include "cds/service/auth/jwk.hpp"
#include "cds/service/auth/jws.hpp"
#include "cds/service/auth/jwt_verifier.hpp"
#include "fuzz_support.hpp"

namespace {

using namespace cds::service::auth;
constexpr char const* harness = "jwt";

constexpr std::string_view public_url = "https://cds.example.org";
constexpr std::string_view service_path = "/cds-services/magnesium-order-select";
constexpr std::string_view sandbox_issuer = "https://sandbox.cds-hooks.org";
constexpr std::string_view ehr_issuer = "https://ehr.example.org";

// The public CDS Hooks sandbox JWKS (deploy/trust/cds-hooks-sandbox-jwks.json).
constexpr std::string_view sandbox_jwks = R"({"keys":[{"kty":"EC","use":"sig","crv":"P-384",
"kid":"44823f3d-0b01-4a6c-a80e-b9d3e8a7226f",
"x":"dw_JGR8nB2I6XveNxUOl2qk699ZPLM2nYI5STSdiEl9avAkrm3CkfYMbrrjr8laB",
"y":"Sm3mLE-n1zYNla_aiE3cb3nZsL51RbC7ysw3q8aJLxGm-hx79RPMYpITDjp7kgzy","alg":"ES384"}]})";

std::chrono::system_clock::time_point fixed_clock() {
    return std::chrono::time_point_cast<std::chrono::system_clock::duration>(
        cds::fuzz::fixed_now());
}

// The harness's own base64url, independent of the code under test.
std::string b64url(std::string_view bytes) {
    static constexpr char alphabet[] =
        "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    std::string out;
    std::size_t i = 0;
    for (; i + 2 < bytes.size(); i += 3) {
        auto const n = (static_cast<std::uint32_t>(static_cast<unsigned char>(bytes[i])) << 16) |
                       (static_cast<std::uint32_t>(static_cast<unsigned char>(bytes[i + 1])) << 8) |
                       static_cast<unsigned char>(bytes[i + 2]);
        out += alphabet[(n >> 18) & 63];
        out += alphabet[(n >> 12) & 63];
        out += alphabet[(n >> 6) & 63];
        out += alphabet[n & 63];
    }
    if (i + 1 == bytes.size()) {
        auto const n = static_cast<std::uint32_t>(static_cast<unsigned char>(bytes[i])) << 16;
        out += alphabet[(n >> 18) & 63];
        out += alphabet[(n >> 12) & 63];
    } else if (i + 2 == bytes.size()) {
        auto const n = (static_cast<std::uint32_t>(static_cast<unsigned char>(bytes[i])) << 16) |
                       (static_cast<std::uint32_t>(static_cast<unsigned char>(bytes[i + 1])) << 8);
        out += alphabet[(n >> 18) & 63];
        out += alphabet[(n >> 12) & 63];
        out += alphabet[(n >> 6) & 63];
    }
    return out;
}

std::optional<std::string> unb64url(std::string_view text) {
    std::string out;
    std::uint32_t acc = 0;
    int bits = 0;
    for (char c : text) {
        int v = -1;
        if (c >= 'A' && c <= 'Z')
            v = c - 'A';
        else if (c >= 'a' && c <= 'z')
            v = c - 'a' + 26;
        else if (c >= '0' && c <= '9')
            v = c - '0' + 52;
        else if (c == '-')
            v = 62;
        else if (c == '_')
            v = 63;
        if (v < 0) return std::nullopt;
        acc = (acc << 6) | static_cast<std::uint32_t>(v);
        bits += 6;
        if (bits >= 8) {
            bits -= 8;
            out += static_cast<char>((acc >> bits) & 0xFFU);
        }
    }
    return out;
}

struct pkey_deleter {
    void operator()(EVP_PKEY* k) const { EVP_PKEY_free(k); }
};
using pkey_ptr = std::unique_ptr<EVP_PKEY, pkey_deleter>;

std::string bn_param(EVP_PKEY* key, char const* name, std::size_t pad) {
    BIGNUM* bn = nullptr;
    if (EVP_PKEY_get_bn_param(key, name, &bn) != 1)
        throw std::runtime_error("EVP_PKEY_get_bn_param failed");
    std::size_t const size = pad != 0 ? pad : static_cast<std::size_t>(BN_num_bytes(bn));
    std::string out(size, '\0');
    BN_bn2binpad(bn, reinterpret_cast<unsigned char*>(out.data()), static_cast<int>(size));
    BN_free(bn);
    return out;
}

// The EHR issuer's keys, generated once per process.
struct signing_keys {
    pkey_ptr ec256{EVP_PKEY_Q_keygen(nullptr, nullptr, "EC", "P-256")};
    pkey_ptr ec384{EVP_PKEY_Q_keygen(nullptr, nullptr, "EC", "P-384")};
    pkey_ptr rsa{EVP_PKEY_Q_keygen(nullptr, nullptr, "RSA", static_cast<std::size_t>(2048))};
    std::string jwks;

    signing_keys() {
        if (!ec256 || !ec384 || !rsa) throw std::runtime_error("key generation failed");
        auto ec_jwk = [](EVP_PKEY* k, char const* crv, char const* kid, char const* alg,
                         std::size_t n) {
            return boost::json::object{{"kty", "EC"},
                                       {"crv", crv},
                                       {"kid", kid},
                                       {"alg", alg},
                                       {"use", "sig"},
                                       {"x", b64url(bn_param(k, OSSL_PKEY_PARAM_EC_PUB_X, n))},
                                       {"y", b64url(bn_param(k, OSSL_PKEY_PARAM_EC_PUB_Y, n))}};
        };
        boost::json::array keys;
        keys.push_back(ec_jwk(ec256.get(), "P-256", "ec256", "ES256", 32));
        keys.push_back(ec_jwk(ec384.get(), "P-384", "ec384", "ES384", 48));
        keys.push_back(
            boost::json::object{{"kty", "RSA"},
                                {"kid", "rsa"},
                                {"use", "sig"},
                                {"n", b64url(bn_param(rsa.get(), OSSL_PKEY_PARAM_RSA_N, 0))},
                                {"e", b64url(bn_param(rsa.get(), OSSL_PKEY_PARAM_RSA_E, 0))}});
        // Keys that must be skipped: encryption use, and a symmetric key.
        keys.push_back(ec_jwk(ec384.get(), "P-384", "enc-key", "ES384", 48));
        keys.back().as_object()["use"] = "enc";
        keys.push_back(boost::json::object{{"kty", "oct"}, {"kid", "hmac"}, {"k", "c2VjcmV0"}});
        jwks = boost::json::serialize(boost::json::object{{"keys", std::move(keys)}});
    }

    // JWS signature (RFC 7518 §3.3/§3.4) over `input`; raw R||S for ECDSA.
    std::string sign(std::string_view alg, std::string_view input) const {
        EVP_PKEY* key = ec384.get();
        EVP_MD const* md = EVP_sha384();
        std::size_t coordinate = 48;
        if (alg == "ES256") {
            key = ec256.get();
            md = EVP_sha256();
            coordinate = 32;
        } else if (alg == "RS256" || alg == "RS384") {
            key = rsa.get();
            md = alg == "RS256" ? EVP_sha256() : EVP_sha384();
            coordinate = 0;
        }
        EVP_MD_CTX* ctx = EVP_MD_CTX_new();
        std::size_t length = 0;
        std::string der;
        if (EVP_DigestSignInit(ctx, nullptr, md, nullptr, key) != 1 ||
            EVP_DigestSign(ctx, nullptr, &length,
                           reinterpret_cast<unsigned char const*>(input.data()),
                           input.size()) != 1) {
            throw std::runtime_error("EVP_DigestSign failed");
        }
        der.resize(length);
        if (EVP_DigestSign(ctx, reinterpret_cast<unsigned char*>(der.data()), &length,
                           reinterpret_cast<unsigned char const*>(input.data()),
                           input.size()) != 1) {
            throw std::runtime_error("EVP_DigestSign failed");
        }
        der.resize(length);
        EVP_MD_CTX_free(ctx);
        if (coordinate == 0) return der;
        auto const* p = reinterpret_cast<unsigned char const*>(der.data());
        ECDSA_SIG* sig = d2i_ECDSA_SIG(nullptr, &p, static_cast<long>(der.size()));
        if (sig == nullptr) throw std::runtime_error("d2i_ECDSA_SIG failed");
        std::string raw(2 * coordinate, '\0');
        BN_bn2binpad(ECDSA_SIG_get0_r(sig), reinterpret_cast<unsigned char*>(raw.data()),
                     static_cast<int>(coordinate));
        BN_bn2binpad(ECDSA_SIG_get0_s(sig),
                     reinterpret_cast<unsigned char*>(raw.data() + coordinate),
                     static_cast<int>(coordinate));
        ECDSA_SIG_free(sig);
        return raw;
    }
};

signing_keys const& keys() {
    static signing_keys const k;
    return k;
}

class fixed_source final : public jwks_source {
public:
    fixed_source(std::string location, std::string body)
        : location_(std::move(location)), body_(std::move(body)) {}
    [[nodiscard]] std::string const& location() const override { return location_; }
    [[nodiscard]] bool is_remote() const override { return false; }
    [[nodiscard]] jwks_fetch_result fetch() override { return {body_, {}}; }

private:
    std::string location_;
    std::string body_;
};

std::unique_ptr<authenticator> make_authenticator() {
    std::vector<trusted_issuer> issuers;
    issuers.push_back(
        {std::string{sandbox_issuer},
         std::make_unique<fixed_source>("sandbox-jwks.json", std::string{sandbox_jwks})});
    issuers.push_back(
        {std::string{ehr_issuer}, std::make_unique<fixed_source>("ehr-jwks.json", keys().jwks)});
    verifier_options options;
    options.algorithms = {jws_algorithm::es256, jws_algorithm::es384, jws_algorithm::rs256,
                          jws_algorithm::rs384};
    options.replay_cache_max_entries_per_issuer = 4;
    auto verifier = std::make_unique<jwt_verifier>(std::move(issuers), options);
    auto const problems = verifier->load_keys(fixed_clock());
    if (!problems.empty()) throw std::runtime_error("fixed JWKS did not load: " + problems.front());
    return std::make_unique<authenticator>(std::move(verifier), std::string{public_url}, false);
}

bool printable_short(std::string const& s) {
    if (s.size() > 128) return false;
    for (char const c : s) {
        if (c < 0x20 || c > 0x7e) return false;
    }
    return true;
}

std::optional<double> number_claim(boost::json::object const& claims, std::string_view name) {
    auto const* v = claims.if_contains(name);
    if (v == nullptr || !v->is_number()) return std::nullopt;
    return v->to_number<double>();
}

// Independent re-check of an accepted token's header and claims.
void check_accepted(std::string_view token, std::string const& invoked_url) {
    auto const first_dot = token.find('.');
    auto const second_dot = token.find('.', first_dot + 1);
    CDS_FUZZ_REQUIRE(harness,
                     first_dot != std::string_view::npos && second_dot != std::string_view::npos,
                     token);
    auto const header_text = unb64url(token.substr(0, first_dot));
    auto const claims_text = unb64url(token.substr(first_dot + 1, second_dot - first_dot - 1));
    CDS_FUZZ_REQUIRE(harness, header_text && claims_text, token);
    auto const header = cds::fuzz::parse_json(*header_text);
    auto const claims_value = cds::fuzz::parse_json(*claims_text);
    CDS_FUZZ_REQUIRE(
        harness, header && header->is_object() && claims_value && claims_value->is_object(), token);

    auto const& h = header->get_object();
    auto const* alg = h.if_contains("alg");
    CDS_FUZZ_REQUIRE(harness, alg != nullptr && alg->is_string(), *header_text);
    auto const a = alg->get_string();
    CDS_FUZZ_REQUIRE(harness, a == "ES256" || a == "ES384" || a == "RS256" || a == "RS384",
                     *header_text);
    auto const* kid = h.if_contains("kid");
    CDS_FUZZ_REQUIRE(harness, kid != nullptr && kid->is_string() && !kid->get_string().empty(),
                     *header_text);

    auto const& claims = claims_value->get_object();
    auto const* iss = claims.if_contains("iss");
    CDS_FUZZ_REQUIRE(harness,
                     iss != nullptr && iss->is_string() &&
                         (iss->get_string() == sandbox_issuer || iss->get_string() == ehr_issuer),
                     *claims_text);
    auto const* aud = claims.if_contains("aud");
    bool audience_ok = false;
    if (aud != nullptr && aud->is_string()) audience_ok = aud->get_string() == invoked_url;
    if (aud != nullptr && aud->is_array()) {
        for (auto const& entry : aud->get_array())
            audience_ok = audience_ok || (entry.is_string() && entry.get_string() == invoked_url);
    }
    CDS_FUZZ_REQUIRE(harness, audience_ok, *claims_text);
    auto const now = static_cast<double>(
        std::chrono::duration_cast<std::chrono::seconds>(fixed_clock().time_since_epoch()).count());
    auto const exp = number_claim(claims, "exp");
    auto const iat = number_claim(claims, "iat");
    CDS_FUZZ_REQUIRE(harness, exp && iat, *claims_text);
    CDS_FUZZ_REQUIRE(harness, std::isfinite(*exp) && std::isfinite(*iat), *claims_text);
    CDS_FUZZ_REQUIRE(harness, *exp + 60 > now, *claims_text);
    CDS_FUZZ_REQUIRE(harness, *iat <= now + 60, *claims_text);
    CDS_FUZZ_REQUIRE(harness, *exp - *iat <= 3600, *claims_text);
    if (auto const nbf = number_claim(claims, "nbf"))
        CDS_FUZZ_REQUIRE(harness, *nbf <= now + 60, *claims_text);
    auto const* jti = claims.if_contains("jti");
    CDS_FUZZ_REQUIRE(harness, jti != nullptr && jti->is_string() && !jti->get_string().empty(),
                     *claims_text);
}

void verify_token(std::string_view token) {
    auto authn = make_authenticator();
    std::string const authorization = "Bearer " + std::string{token};
    auto const decision =
        authn->check(cds::service::endpoint_kind::service_call, std::string{service_path} + "?x=1",
                     authorization, fixed_clock());
    auto const& r = decision.result;
    CDS_FUZZ_REQUIRE(harness,
                     printable_short(r.issuer) && printable_short(r.jti) && printable_short(r.kid),
                     r.issuer);
    CDS_FUZZ_REQUIRE(harness, decision.allowed == r.ok(), to_string(r.reason));
    (void)authenticator::describe(r);
    if (!r.ok()) return;
    std::string const invoked_url = std::string{public_url} + std::string{service_path};
    check_accepted(token, invoked_url);
    auto const again = authn->verifier()->verify(token, invoked_url, fixed_clock());
    CDS_FUZZ_REQUIRE(harness, again.reason == auth_reason::replay, to_string(again.reason));
}

void fuzz_jwks(std::string_view document) {
    auto const parsed = parse_jwk_set(document);
    CDS_FUZZ_REQUIRE(harness, (parsed.set != nullptr) == parsed.error.empty(), parsed.error);
    // The tail of the document doubles as a signature, so hostile keys meet hostile bytes.
    std::string_view const signature = document.substr(document.size() / 2);
    (void)ecdsa_raw_to_der(signature, 32);
    (void)ecdsa_raw_to_der(signature, 48);
    if (!parsed.set) return;
    for (auto const& key : parsed.set->keys) {
        for (auto alg : {jws_algorithm::es256, jws_algorithm::es384, jws_algorithm::rs256,
                         jws_algorithm::rs384}) {
            if (!key.usable_with(alg)) continue;
            ERR_clear_error();  // only what verification itself leaves behind counts
            bool const ok = verify_jws_signature(alg, key, "eyJhbGciOiJFUzM4NCJ9.e30", signature);
            (void)ok;
            CDS_FUZZ_REQUIRE(harness, ERR_peek_error() == 0, "OpenSSL error queue left non-empty");
        }
        (void)parsed.set->find(key.kid);
    }
}

void fuzz_signed_claims(std::string_view rest) {
    auto const newline = rest.find('\n');
    std::string_view const header = rest.substr(0, newline);
    std::string_view const claims =
        newline == std::string_view::npos ? std::string_view{} : rest.substr(newline + 1);
    std::string alg = "ES384";
    if (auto h = cds::fuzz::parse_json(header); h && h->is_object()) {
        if (auto const* a = h->get_object().if_contains("alg"); a != nullptr && a->is_string())
            alg = std::string{a->get_string()};
    }
    std::string const signing_input = b64url(header) + "." + b64url(claims);
    std::string const token = signing_input + "." + b64url(keys().sign(alg, signing_input));
    verify_token(token);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(std::uint8_t const* data, std::size_t size) {
    if (size == 0) return 0;
    if (size > 2 * max_token_bytes) return -1;
    auto const rest = cds::fuzz::as_text(data + 1, size - 1);
    switch (data[0] % 3) {
        case 0: {
            auto const parsed = parse_compact_jws(rest);
            CDS_FUZZ_REQUIRE(harness, parsed.jws.has_value() == parsed.error.empty(), parsed.error);
            verify_token(rest);
            break;
        }
        case 1:
            fuzz_jwks(rest);
            break;
        default:
            fuzz_signed_claims(rest);
            break;
    }
    return 0;
}
