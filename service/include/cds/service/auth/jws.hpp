#pragma once
// JSON Web Signature (RFC 7515) compact serialisation: strict base64url decoding and the
// split of a token into its protected header, payload and signature. Pure functions over
// untrusted input: they never throw on bad input and never read a clock, so the libFuzzer
// harness for the JWT parser can drive them directly.

#include <cstddef>
#include <optional>
#include <string>
#include <string_view>

#include <boost/json/object.hpp>

namespace cds::service::auth {

// RFC 7515 §2 "Base64url Encoding": the URL-safe alphabet, no padding, no whitespace, and
// (RFC 4648 §3.5) the unused low bits of the last character must be zero, so every byte
// string has exactly one accepted encoding. Returns nullopt on any violation.
[[nodiscard]] std::optional<std::string> decode_base64url(std::string_view text);

// Encoding, used for building ECDSA points and in tests; never padded.
[[nodiscard]] std::string encode_base64url(std::string_view bytes);

// Signature algorithms a CDS Client may use. CDS Hooks 2.0 "JWT Signing Algorithm"
// recommends ES384 and RS384; ES256 and RS256 are accepted only when configured. `none` and
// every symmetric (HS*) algorithm are forbidden by the same section and have no value here.
enum class jws_algorithm { es256, es384, rs256, rs384 };

[[nodiscard]] std::optional<jws_algorithm> parse_jws_algorithm(std::string_view name);
[[nodiscard]] std::string_view to_string(jws_algorithm algorithm);
[[nodiscard]] bool is_ecdsa(jws_algorithm algorithm);

// The largest token accepted at all; a CDS Hooks JWT is a few hundred bytes, and nothing
// larger is decoded or parsed.
inline constexpr std::size_t max_token_bytes = 8 * 1024;

// A compact JWS split and decoded, before any cryptography. `signing_input` is the exact
// ASCII "BASE64URL(header) '.' BASE64URL(payload)" the signature covers (RFC 7515 §5.2).
struct parsed_jws {
    boost::json::object header;
    boost::json::object claims;
    std::string signing_input;
    std::string signature;  // raw bytes
};

struct jws_parse_result {
    std::optional<parsed_jws> jws;  // set on success
    std::string error;              // what was wrong, for logs; never contains the token
};

// Exactly three base64url parts, a JSON object as header and as payload (duplicate member
// names: the last one wins, which RFC 7515 §4 permits), bounded size and JSON depth.
[[nodiscard]] jws_parse_result parse_compact_jws(std::string_view token);

}  // namespace cds::service::auth
