#include <cds/service/auth/jwk.hpp>

#include <algorithm>

#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/ec.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/param_build.h>
#include <openssl/rsa.h>
#include <boost/json/parse.hpp>
#include <boost/json/parse_options.hpp>
#include <boost/json/value.hpp>

namespace cds::service::auth {
namespace {

struct bn_free {
    void operator()(BIGNUM* p) const { BN_free(p); }
};
struct param_bld_free {
    void operator()(OSSL_PARAM_BLD* p) const { OSSL_PARAM_BLD_free(p); }
};
struct param_free {
    void operator()(OSSL_PARAM* p) const { OSSL_PARAM_free(p); }
};
struct pkey_ctx_free {
    void operator()(EVP_PKEY_CTX* p) const { EVP_PKEY_CTX_free(p); }
};
struct md_ctx_free {
    void operator()(EVP_MD_CTX* p) const { EVP_MD_CTX_free(p); }
};
struct ecdsa_sig_free {
    void operator()(ECDSA_SIG* p) const { ECDSA_SIG_free(p); }
};

using bignum_ptr = std::unique_ptr<BIGNUM, bn_free>;
using param_bld_ptr = std::unique_ptr<OSSL_PARAM_BLD, param_bld_free>;
using param_ptr = std::unique_ptr<OSSL_PARAM, param_free>;
using pkey_ctx_ptr = std::unique_ptr<EVP_PKEY_CTX, pkey_ctx_free>;
using md_ctx_ptr = std::unique_ptr<EVP_MD_CTX, md_ctx_free>;
using ecdsa_sig_ptr = std::unique_ptr<ECDSA_SIG, ecdsa_sig_free>;

std::shared_ptr<EVP_PKEY const> adopt(EVP_PKEY* key) {
    return {key, [](EVP_PKEY const* p) { EVP_PKEY_free(const_cast<EVP_PKEY*>(p)); }};
}

bignum_ptr to_bignum(std::string_view bytes) {
    return bignum_ptr(BN_bin2bn(reinterpret_cast<unsigned char const*>(bytes.data()),
                                static_cast<int>(bytes.size()), nullptr));
}

// Builds a public key from OSSL_PARAMs and runs OpenSSL's public-key check on it (for EC:
// the point is on the curve and not the point at infinity).
std::shared_ptr<EVP_PKEY const> key_from_params(char const* type, OSSL_PARAM_BLD* builder) {
    param_ptr params(OSSL_PARAM_BLD_to_param(builder));
    if (!params) {
        return nullptr;
    }
    pkey_ctx_ptr ctx(EVP_PKEY_CTX_new_from_name(nullptr, type, nullptr));
    EVP_PKEY* raw = nullptr;
    if (!ctx || EVP_PKEY_fromdata_init(ctx.get()) != 1 ||
        EVP_PKEY_fromdata(ctx.get(), &raw, EVP_PKEY_PUBLIC_KEY, params.get()) != 1) {
        EVP_PKEY_free(raw);
        return nullptr;
    }
    auto key = adopt(raw);
    pkey_ctx_ptr check(EVP_PKEY_CTX_new_from_pkey(nullptr, raw, nullptr));
    if (!check || EVP_PKEY_public_check(check.get()) != 1) {
        return nullptr;
    }
    return key;
}

struct key_outcome {
    std::shared_ptr<EVP_PKEY const> key;
    std::string error;
};

std::optional<std::string> string_member(boost::json::object const& jwk, std::string_view name) {
    auto const* value = jwk.if_contains(name);
    if (value == nullptr || !value->is_string()) {
        return std::nullopt;
    }
    return std::string(value->as_string());
}

key_outcome build_ec_key(boost::json::object const& jwk, key_kind kind) {
    std::size_t const size = kind == key_kind::ec_p384 ? 48 : 32;
    auto x_text = string_member(jwk, "x");
    auto y_text = string_member(jwk, "y");
    if (!x_text || !y_text) {
        return {nullptr, "EC key without string x and y"};
    }
    if (jwk.contains("d")) {
        // A private key in a trust file means someone published their signing key.
        return {nullptr, "EC key carries a private part (d)"};
    }
    auto x = decode_base64url(*x_text);
    auto y = decode_base64url(*y_text);
    // RFC 7518 §6.2.1.2: each coordinate is the full size of the field, leading zeros kept.
    if (!x || !y || x->size() != size || y->size() != size) {
        return {nullptr, "EC coordinates are not " + std::to_string(size) + "-byte base64url"};
    }
    std::string point;
    point.reserve(1 + 2 * size);
    point.push_back('\x04');  // SEC 1 uncompressed point
    point += *x;
    point += *y;
    param_bld_ptr builder(OSSL_PARAM_BLD_new());
    char const* group = kind == key_kind::ec_p384 ? "secp384r1" : "prime256v1";
    if (!builder ||
        OSSL_PARAM_BLD_push_utf8_string(builder.get(), OSSL_PKEY_PARAM_GROUP_NAME, group, 0) != 1 ||
        OSSL_PARAM_BLD_push_octet_string(builder.get(), OSSL_PKEY_PARAM_PUB_KEY, point.data(),
                                         point.size()) != 1) {
        return {nullptr, "cannot build EC parameters"};
    }
    auto key = key_from_params("EC", builder.get());
    if (!key) {
        return {nullptr, "EC point is not a valid public key on the curve"};
    }
    return {key, {}};
}

key_outcome build_rsa_key(boost::json::object const& jwk) {
    auto n_text = string_member(jwk, "n");
    auto e_text = string_member(jwk, "e");
    if (!n_text || !e_text) {
        return {nullptr, "RSA key without string n and e"};
    }
    if (jwk.contains("d")) {
        return {nullptr, "RSA key carries a private part (d)"};
    }
    auto n_bytes = decode_base64url(*n_text);
    auto e_bytes = decode_base64url(*e_text);
    if (!n_bytes || !e_bytes || n_bytes->empty() || e_bytes->empty() || e_bytes->size() > 8) {
        return {nullptr, "RSA n or e is not base64url"};
    }
    bignum_ptr n = to_bignum(*n_bytes);
    bignum_ptr e = to_bignum(*e_bytes);
    if (!n || !e) {
        return {nullptr, "RSA n or e unusable"};
    }
    int const bits = BN_num_bits(n.get());
    if (bits < min_rsa_bits || bits > max_rsa_bits) {
        return {nullptr, "RSA modulus of " + std::to_string(bits) + " bits (need " +
                             std::to_string(min_rsa_bits) + ".." + std::to_string(max_rsa_bits) +
                             ")"};
    }
    if (!BN_is_odd(e.get()) || BN_is_one(e.get())) {
        return {nullptr, "RSA public exponent is not an odd number above 1"};
    }
    param_bld_ptr builder(OSSL_PARAM_BLD_new());
    if (!builder || OSSL_PARAM_BLD_push_BN(builder.get(), OSSL_PKEY_PARAM_RSA_N, n.get()) != 1 ||
        OSSL_PARAM_BLD_push_BN(builder.get(), OSSL_PKEY_PARAM_RSA_E, e.get()) != 1) {
        return {nullptr, "cannot build RSA parameters"};
    }
    auto key = key_from_params("RSA", builder.get());
    if (!key) {
        return {nullptr, "RSA key rejected by OpenSSL"};
    }
    return {key, {}};
}

}  // namespace

bool public_jwk::usable_with(jws_algorithm token_algorithm) const {
    if (algorithm && *algorithm != token_algorithm) {
        return false;
    }
    switch (token_algorithm) {
        case jws_algorithm::es256:
            return kind == key_kind::ec_p256;
        case jws_algorithm::es384:
            return kind == key_kind::ec_p384;
        case jws_algorithm::rs256:
        case jws_algorithm::rs384:
            return kind == key_kind::rsa;
    }
    return false;
}

std::vector<public_jwk const*> jwk_set::find(std::string_view kid) const {
    std::vector<public_jwk const*> found;
    for (auto const& key : keys) {
        if (key.kid == kid) {
            found.push_back(&key);
        }
    }
    return found;
}

namespace {

// One member of "keys" read: a key, or why it is skipped (not for signature verification, or
// of a kind or algorithm not supported), or why the whole set is refused (`error`).
struct jwk_reading {
    std::optional<public_jwk> key;
    std::string skipped;
    std::string error;
};

// RFC 7517 §4.2 use and §4.3 key_ops: a key restricted to other purposes is not for us.
std::string restriction_to_other_use(boost::json::object const& jwk) {
    auto use = string_member(jwk, "use");
    if (jwk.contains("use") && (!use || *use != "sig")) {
        return "use is not \"sig\"";
    }
    if (auto const* ops = jwk.if_contains("key_ops")) {
        bool verify = false;
        if (ops->is_array()) {
            for (auto const& op : ops->as_array()) {
                verify = verify || (op.is_string() && op.as_string() == "verify");
            }
        }
        if (!verify) {
            return "key_ops without \"verify\"";
        }
    }
    return {};
}

// The key kind of kty (and crv), or why it is not supported.
std::optional<key_kind> supported_kind(boost::json::object const& jwk,
                                       std::string const& kty,
                                       std::string& why_not) {
    if (kty == "RSA") {
        return key_kind::rsa;
    }
    if (kty != "EC") {
        why_not = "kty \"" + kty + "\" not supported";
        return std::nullopt;
    }
    auto crv = string_member(jwk, "crv");
    if (crv && *crv == "P-384") {
        return key_kind::ec_p384;
    }
    if (crv && *crv == "P-256") {
        return key_kind::ec_p256;
    }
    why_not = "EC curve not supported";
    return std::nullopt;
}

jwk_reading read_jwk(boost::json::object const& jwk, std::string const& where) {
    jwk_reading reading;
    auto kty = string_member(jwk, "kty");
    if (!kty) {
        reading.error = where + " has no kty";
        return reading;
    }
    if (auto why = restriction_to_other_use(jwk); !why.empty()) {
        reading.skipped = where + ": " + why;
        return reading;
    }
    std::string why_not;
    auto const kind = supported_kind(jwk, *kty, why_not);
    if (!kind) {
        reading.skipped = where + ": " + why_not;
        return reading;
    }
    public_jwk key;
    key.kind = *kind;
    auto kid = string_member(jwk, "kid");
    if (!kid || kid->empty()) {
        // CDS Hooks makes the token's kid REQUIRED, so a key without one can never match.
        reading.error = where + " has no kid";
        return reading;
    }
    key.kid = std::move(*kid);
    if (jwk.contains("alg")) {
        auto alg = string_member(jwk, "alg");
        auto parsed = alg ? parse_jws_algorithm(*alg) : std::nullopt;
        if (!parsed) {
            // A key pinned to an algorithm we do not verify can never be used.
            reading.skipped = where + ": alg not supported";
            return reading;
        }
        key.algorithm = parsed;
    }
    key_outcome built = *kind == key_kind::rsa ? build_rsa_key(jwk) : build_ec_key(jwk, *kind);
    ERR_clear_error();
    if (!built.key) {
        reading.error = where + " (kid \"" + key.kid + "\"): " + built.error;
        return reading;
    }
    key.key = std::move(built.key);
    reading.key = std::move(key);
    return reading;
}

}  // namespace

jwk_set_parse_result parse_jwk_set(std::string_view json) {
    jwk_set_parse_result result;
    if (json.size() > max_jwks_bytes) {
        result.error = "JWKS larger than " + std::to_string(max_jwks_bytes) + " bytes";
        return result;
    }
    boost::json::parse_options options;
    options.max_depth = 16;
    boost::system::error_code ec;
    boost::json::value document = boost::json::parse(json, ec, {}, options);
    if (ec) {
        result.error = "JWKS is not JSON: " + ec.message();
        return result;
    }
    auto const* keys_value =
        document.is_object() ? document.as_object().if_contains("keys") : nullptr;
    if (keys_value == nullptr || !keys_value->is_array()) {
        result.error = "JWKS has no \"keys\" array (RFC 7517 §5)";
        return result;
    }
    auto const& keys = keys_value->as_array();
    if (keys.size() > max_jwks_keys) {
        result.error = "JWKS has more than " + std::to_string(max_jwks_keys) + " keys";
        return result;
    }
    auto set = std::make_shared<jwk_set>();
    for (std::size_t index = 0; index < keys.size(); ++index) {
        std::string const where = "keys[" + std::to_string(index) + "]";
        if (!keys[index].is_object()) {
            result.error = where + " is not an object";
            return result;
        }
        auto reading = read_jwk(keys[index].as_object(), where);
        if (!reading.error.empty()) {
            result.error = std::move(reading.error);
            return result;
        }
        if (reading.key) {
            set->keys.push_back(std::move(*reading.key));
        } else {
            result.skipped.push_back(std::move(reading.skipped));
        }
    }
    result.set = std::move(set);
    return result;
}

std::string ecdsa_raw_to_der(std::string_view raw, std::size_t coordinate_bytes) {
    if (coordinate_bytes == 0 || raw.size() != 2 * coordinate_bytes) {
        return {};
    }
    bignum_ptr r = to_bignum(raw.substr(0, coordinate_bytes));
    bignum_ptr s = to_bignum(raw.substr(coordinate_bytes));
    ecdsa_sig_ptr sig(ECDSA_SIG_new());
    if (!r || !s || !sig || ECDSA_SIG_set0(sig.get(), r.get(), s.get()) != 1) {
        ERR_clear_error();
        return {};
    }
    // ECDSA_SIG_set0 took ownership.
    (void)r.release();
    (void)s.release();
    int const length = i2d_ECDSA_SIG(sig.get(), nullptr);
    if (length <= 0) {
        ERR_clear_error();
        return {};
    }
    std::string der(static_cast<std::size_t>(length), '\0');
    auto* out = reinterpret_cast<unsigned char*>(der.data());
    if (i2d_ECDSA_SIG(sig.get(), &out) != length) {
        ERR_clear_error();
        return {};
    }
    return der;
}

bool verify_jws_signature(jws_algorithm algorithm,
                          public_jwk const& key,
                          std::string_view signing_input,
                          std::string_view signature) {
    if (!key.key || !key.usable_with(algorithm)) {
        return false;
    }
    EVP_MD const* digest = (algorithm == jws_algorithm::es256 || algorithm == jws_algorithm::rs256)
                               ? EVP_sha256()
                               : EVP_sha384();
    std::string der;
    std::string_view checked = signature;
    if (is_ecdsa(algorithm)) {
        der = ecdsa_raw_to_der(signature, algorithm == jws_algorithm::es384 ? 48 : 32);
        if (der.empty()) {
            return false;
        }
        checked = der;
    }
    md_ctx_ptr ctx(EVP_MD_CTX_new());
    EVP_PKEY_CTX* pkey_ctx = nullptr;  // owned by ctx
    // EVP_DigestVerifyInit takes a non-const key only for reference counting.
    auto* pkey = const_cast<EVP_PKEY*>(key.key.get());
    bool ok = ctx && EVP_DigestVerifyInit(ctx.get(), &pkey_ctx, digest, nullptr, pkey) == 1;
    if (ok && !is_ecdsa(algorithm)) {
        // RFC 7518 §3.3: RS* is RSASSA-PKCS1-v1_5; never PSS, whatever a default may be.
        ok = EVP_PKEY_CTX_set_rsa_padding(pkey_ctx, RSA_PKCS1_PADDING) == 1;
    }
    ok = ok && EVP_DigestVerify(ctx.get(), reinterpret_cast<unsigned char const*>(checked.data()),
                                checked.size(),
                                reinterpret_cast<unsigned char const*>(signing_input.data()),
                                signing_input.size()) == 1;
    ERR_clear_error();
    return ok;
}

}  // namespace cds::service::auth
