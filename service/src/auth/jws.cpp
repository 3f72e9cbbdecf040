#include <cds/service/auth/jws.hpp>

#include <array>
#include <cstdint>

#include <boost/json/parse.hpp>
#include <boost/json/parse_options.hpp>
#include <boost/json/value.hpp>

namespace cds::service::auth {
namespace {

constexpr std::string_view alphabet =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

constexpr std::array<std::int8_t, 256> make_decode_table() {
    std::array<std::int8_t, 256> table{};
    for (auto& entry : table) {
        entry = -1;
    }
    for (std::size_t i = 0; i < alphabet.size(); ++i) {
        table[static_cast<unsigned char>(alphabet[i])] = static_cast<std::int8_t>(i);
    }
    return table;
}

constexpr auto decode_table = make_decode_table();

// A JWT header or claim set is flat; a depth of 8 leaves room for `aud` arrays and
// extension objects while keeping hostile nesting cheap.
constexpr unsigned max_json_depth = 8;

std::optional<boost::json::object> parse_json_object(std::string_view text) {
    boost::json::parse_options options;
    options.max_depth = max_json_depth;
    boost::system::error_code ec;
    boost::json::value value = boost::json::parse(text, ec, {}, options);
    if (ec || !value.is_object()) {
        return std::nullopt;
    }
    return std::move(value.as_object());
}

}  // namespace

std::optional<std::string> decode_base64url(std::string_view text) {
    // A length of 1 mod 4 leaves 6 bits: not a whole byte, so no encoder produces it.
    if (text.size() % 4 == 1) {
        return std::nullopt;
    }
    std::string out;
    out.reserve(text.size() / 4 * 3 + 2);
    std::uint32_t accumulator = 0;
    int bits = 0;
    for (char c : text) {
        std::int8_t const sextet = decode_table[static_cast<unsigned char>(c)];
        if (sextet < 0) {
            return std::nullopt;
        }
        accumulator = ((accumulator << 6) | static_cast<std::uint32_t>(sextet)) & 0xFFFFFFU;
        bits += 6;
        if (bits >= 8) {
            bits -= 8;
            out.push_back(static_cast<char>((accumulator >> bits) & 0xFFU));
        }
    }
    if (bits > 0 && (accumulator & ((1U << bits) - 1U)) != 0) {
        return std::nullopt;
    }
    return out;
}

std::string encode_base64url(std::string_view bytes) {
    std::string out;
    out.reserve((bytes.size() + 2) / 3 * 4);
    std::size_t i = 0;
    for (; i + 3 <= bytes.size(); i += 3) {
        std::uint32_t const n = (std::uint32_t{static_cast<unsigned char>(bytes[i])} << 16) |
                                (std::uint32_t{static_cast<unsigned char>(bytes[i + 1])} << 8) |
                                std::uint32_t{static_cast<unsigned char>(bytes[i + 2])};
        out.push_back(alphabet[(n >> 18) & 63U]);
        out.push_back(alphabet[(n >> 12) & 63U]);
        out.push_back(alphabet[(n >> 6) & 63U]);
        out.push_back(alphabet[n & 63U]);
    }
    std::size_t const rest = bytes.size() - i;
    if (rest == 1) {
        std::uint32_t const n = std::uint32_t{static_cast<unsigned char>(bytes[i])} << 16;
        out.push_back(alphabet[(n >> 18) & 63U]);
        out.push_back(alphabet[(n >> 12) & 63U]);
    } else if (rest == 2) {
        std::uint32_t const n = (std::uint32_t{static_cast<unsigned char>(bytes[i])} << 16) |
                                (std::uint32_t{static_cast<unsigned char>(bytes[i + 1])} << 8);
        out.push_back(alphabet[(n >> 18) & 63U]);
        out.push_back(alphabet[(n >> 12) & 63U]);
        out.push_back(alphabet[(n >> 6) & 63U]);
    }
    return out;
}

std::optional<jws_algorithm> parse_jws_algorithm(std::string_view name) {
    // JOSE algorithm names are case-sensitive (RFC 7515 §4.1.1): "es384" is not ES384.
    if (name == "ES384") return jws_algorithm::es384;
    if (name == "RS384") return jws_algorithm::rs384;
    if (name == "ES256") return jws_algorithm::es256;
    if (name == "RS256") return jws_algorithm::rs256;
    return std::nullopt;
}

std::string_view to_string(jws_algorithm algorithm) {
    switch (algorithm) {
        case jws_algorithm::es256:
            return "ES256";
        case jws_algorithm::es384:
            return "ES384";
        case jws_algorithm::rs256:
            return "RS256";
        case jws_algorithm::rs384:
            return "RS384";
    }
    return "?";
}

bool is_ecdsa(jws_algorithm algorithm) {
    return algorithm == jws_algorithm::es256 || algorithm == jws_algorithm::es384;
}

jws_parse_result parse_compact_jws(std::string_view token) {
    jws_parse_result result;
    if (token.empty()) {
        result.error = "empty token";
        return result;
    }
    if (token.size() > max_token_bytes) {
        result.error = "token longer than " + std::to_string(max_token_bytes) + " bytes";
        return result;
    }
    std::size_t const first = token.find('.');
    std::size_t const second = first == std::string_view::npos ? first : token.find('.', first + 1);
    if (second == std::string_view::npos || token.find('.', second + 1) != std::string_view::npos) {
        // Five parts would be a JWE (RFC 7516), which a CDS Client never sends.
        result.error = "not three dot-separated parts";
        return result;
    }
    std::string_view const header_part = token.substr(0, first);
    std::string_view const payload_part = token.substr(first + 1, second - first - 1);
    std::string_view const signature_part = token.substr(second + 1);

    auto header_bytes = decode_base64url(header_part);
    if (!header_bytes) {
        result.error = "header is not base64url";
        return result;
    }
    auto payload_bytes = decode_base64url(payload_part);
    if (!payload_bytes) {
        result.error = "payload is not base64url";
        return result;
    }
    auto signature_bytes = decode_base64url(signature_part);
    if (!signature_bytes) {
        result.error = "signature is not base64url";
        return result;
    }
    auto header = parse_json_object(*header_bytes);
    if (!header) {
        result.error = "header is not a JSON object";
        return result;
    }
    auto claims = parse_json_object(*payload_bytes);
    if (!claims) {
        result.error = "payload is not a JSON object";
        return result;
    }
    result.jws = parsed_jws{std::move(*header), std::move(*claims),
                            std::string(token.substr(0, second)), std::move(*signature_bytes)};
    return result;
}

}  // namespace cds::service::auth
