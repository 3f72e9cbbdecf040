#include <cds/service/auth/jwk.hpp>
#include <cds/service/auth/jws.hpp>

#include <filesystem>
#include <memory>

#include <doctest/doctest.h>
#include <openssl/bio.h>
#include <openssl/evp.h>
#include <openssl/pem.h>

#include "auth_test_support.hpp"

namespace auth = cds::service::auth;

TEST_CASE("base64url decoding is strict") {
    auto check = [](std::string_view text, std::optional<std::string> expected) {
        CAPTURE(text);
        CHECK(auth::decode_base64url(text) == expected);
    };
    check("", std::string{});
    check("Zg", std::string{"f"});
    check("Zm8", std::string{"fo"});
    check("Zm9v", std::string{"foo"});
    check("-_8", std::string{"\xfb\xff"});
    check("Zg==", std::nullopt);    // padding is not part of base64url in JWS
    check("Zm9v\n", std::nullopt);  // no whitespace
    check("Zm+v", std::nullopt);    // standard alphabet characters
    check("Zm/v", std::nullopt);
    check("Z", std::nullopt);    // 6 bits cannot be a byte
    check("Zh", std::nullopt);   // non-zero unused bits: a second encoding of "f"
    check("Zm9", std::nullopt);  // likewise for "fo"
    check(std::string_view("Zm\0v", 4), std::nullopt);
}

TEST_CASE("base64url round trip over every byte value") {
    std::string bytes;
    for (int i = 0; i < 256; ++i) {
        bytes.push_back(static_cast<char>(i));
    }
    for (std::size_t length = 0; length <= bytes.size(); length += 37) {
        auto const slice = bytes.substr(0, length);
        CHECK(auth::decode_base64url(auth::encode_base64url(slice)) == slice);
    }
}

TEST_CASE("compact JWS structure") {
    auto const header = auth::encode_base64url(R"({"alg":"ES384","kid":"k"})");
    auto const claims = auth::encode_base64url(R"({"iss":"x"})");
    auto const sig = auth::encode_base64url("sig");

    auto good = auth::parse_compact_jws(header + "." + claims + "." + sig);
    REQUIRE(good.jws);
    CHECK(good.jws->header.at("alg").as_string() == "ES384");
    CHECK(good.jws->signing_input == header + "." + claims);
    CHECK(good.jws->signature == "sig");

    auto refused = [](std::string const& token) {
        CAPTURE(token);
        auto result = auth::parse_compact_jws(token);
        CHECK_FALSE(result.jws);
        CHECK_FALSE(result.error.empty());
        CHECK(result.error.find(token.empty() ? "\x01" : token) == std::string::npos);
    };
    refused("");
    refused(header);
    refused(header + "." + claims);
    refused(header + "." + claims + "." + sig + ".x.y");  // JWE-shaped
    refused(header + "." + claims + "." + sig + "=");
    refused(auth::encode_base64url("[1,2]") + "." + claims + "." + sig);
    refused(auth::encode_base64url("not json") + "." + claims + "." + sig);
    refused(header + "." + auth::encode_base64url("\"string\"") + "." + sig);
    refused(std::string(auth::max_token_bytes + 1, 'a'));
    std::string deep = std::string(100, '[') + std::string(100, ']');
    refused(header + "." + auth::encode_base64url(R"({"a":)" + deep + "}") + "." + sig);
}

TEST_CASE("RFC 7515 allows lexically-last duplicate header members; that is what we see") {
    auto const header = auth::encode_base64url(R"({"alg":"none","alg":"ES384"})");
    auto parsed = auth::parse_compact_jws(header + "." + auth::encode_base64url("{}") + ".");
    REQUIRE(parsed.jws);
    CHECK(parsed.jws->header.at("alg").as_string() == "ES384");
}

TEST_CASE("ECDSA raw R||S to DER") {
    std::string raw(96, '\0');
    raw[47] = 1;  // r = 1
    raw[95] = 2;  // s = 2
    // SEQUENCE { INTEGER 1, INTEGER 2 }
    CHECK(auth::ecdsa_raw_to_der(raw, 48) == std::string("\x30\x06\x02\x01\x01\x02\x01\x02", 8));
    raw[0] = '\x80';  // high bit set: DER needs a leading zero octet
    CHECK(auth::ecdsa_raw_to_der(raw, 48).substr(0, 5) == std::string("\x30\x36\x02\x31\x00", 5));
    CHECK(auth::ecdsa_raw_to_der(raw.substr(0, 95), 48).empty());
    CHECK(auth::ecdsa_raw_to_der(raw + "x", 48).empty());
    CHECK(auth::ecdsa_raw_to_der(raw, 32).empty());
}

namespace {

// The sandbox publishes its private key (fixtures/cds-hooks-sandbox/README.md); the shipped
// JWKS must hold exactly its public half, or sandbox tokens would fail in interop testing.
std::shared_ptr<EVP_PKEY> read_published_sandbox_private_key() {
    auto const pem = auth::test::read_file(std::filesystem::path(CDS_FIXTURES_DIR) /
                                           "cds-hooks-sandbox/ecprivkey.pem");
    std::unique_ptr<BIO, decltype(&BIO_free)> bio(
        BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size())), &BIO_free);
    REQUIRE(bio);
    return {PEM_read_bio_PrivateKey(bio.get(), nullptr, nullptr, nullptr), &EVP_PKEY_free};
}

}  // namespace

TEST_CASE("the shipped sandbox JWKS is the sandbox's published key set") {
    auto const shipped = auth::test::read_file(auth::test::sandbox_jwks_path());
    auto parsed = auth::parse_jwk_set(shipped);
    REQUIRE(parsed.set);
    REQUIRE(parsed.set->keys.size() == 1);
    auto const& key = parsed.set->keys.front();
    CHECK(key.kid == "44823f3d-0b01-4a6c-a80e-b9d3e8a7226f");
    CHECK(key.kind == auth::key_kind::ec_p384);
    CHECK(key.usable_with(auth::jws_algorithm::es384));
    CHECK_FALSE(key.usable_with(auth::jws_algorithm::es256));
    CHECK_FALSE(key.usable_with(auth::jws_algorithm::rs384));
    auto const private_key = read_published_sandbox_private_key();
    REQUIRE(private_key);
    CHECK(EVP_PKEY_eq(key.key.get(), private_key.get()) == 1);
}

TEST_CASE("JWKS parsing: minted sets, skipped keys, refused documents") {
    auto a = auth::parse_jwk_set(auth::test::read_file(auth::test::minted_dir() / "a.jwks.json"));
    REQUIRE(a.set);
    CHECK(a.set->find("ec384-1").size() == 1);
    CHECK(a.set->find("rsa-1").size() == 1);
    CHECK(a.set->find("rsa-1").front()->kind == auth::key_kind::rsa);
    CHECK(a.set->find("enc-1").empty());  // use=enc is not for signatures
    CHECK(a.skipped.size() == 1);
    CHECK(a.set->find("noalg-ec384").front()->usable_with(auth::jws_algorithm::es384));
    CHECK_FALSE(a.set->find("pinned-rs384").front()->usable_with(auth::jws_algorithm::es384));

    auto const sandbox = boost::json::parse(auth::test::read_file(auth::test::sandbox_jwks_path()));
    auto const sandbox_key = sandbox.at("keys").at(0).as_object();
    auto with = [&](auto&& edit) {
        boost::json::object key = sandbox_key;
        edit(key);
        return boost::json::serialize(boost::json::object{{"keys", boost::json::array{key}}});
    };
    auto refused = [](std::string const& document, std::string_view why) {
        CAPTURE(document);
        auto parsed = auth::parse_jwk_set(document);
        CHECK_FALSE(parsed.set);
        CHECK(parsed.error.find(why) != std::string::npos);
    };
    refused("not json", "not JSON");
    refused(R"({"keys":{}})", "keys");
    refused(R"([])", "keys");
    refused(with([](auto& k) { k.erase("kid"); }), "no kid");
    refused(with([](auto& k) { k["x"] = "AAAA"; }), "48-byte");
    refused(with([](auto& k) { k["x"] = "%%%"; }), "48-byte");
    refused(with([](auto& k) { k["y"] = k.at("x"); }), "not a valid public key");  // off-curve
    refused(with([](auto& k) { k["d"] = "AAAA"; }), "private part");
    refused(R"({"keys":[{"kty":"RSA","kid":"small","n":"AQAB","e":"AQAB"}]})", "bits");

    auto skipped = [](std::string const& document) {
        CAPTURE(document);
        auto parsed = auth::parse_jwk_set(document);
        REQUIRE(parsed.set);
        CHECK(parsed.set->keys.empty());
        CHECK(parsed.skipped.size() == 1);
    };
    skipped(with([](auto& k) { k["use"] = "enc"; }));
    skipped(with([](auto& k) { k["crv"] = "P-521"; }));
    skipped(with([](auto& k) { k["alg"] = "HS256"; }));
    skipped(with([](auto& k) { k["key_ops"] = boost::json::array{"encrypt"}; }));
    skipped(R"({"keys":[{"kty":"oct","kid":"hmac","k":"c2VjcmV0"}]})");
    skipped(R"({"keys":[{"kty":"OKP","crv":"Ed25519","kid":"ed","x":"AAAA"}]})");
}
