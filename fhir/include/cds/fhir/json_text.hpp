#pragma once
// Reading JSON text held whole in memory, token by token: strings and numbers, as
// boost::json::basic_parser (Boost 1.81) reads them, for a subset of JSON. Used by
// tape_builder::read_text (json_tape.hpp) and by the service's request tokenizer.
//
// The subset is what CDS Hooks clients send: strings of valid UTF-8 with any escape but a
// \u escape for a lone surrogate half, and numbers with integer parts of up to 18 digits and
// exponents of up to three. Every function here declines the rest (returns "declined" or
// nullopt), and the caller then gives the whole body to basic_parser, which has the last word
// (errors and their positions included). So this code accepts nothing that basic_parser
// refuses, and produces the same values for what it accepts.

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include <boost/json/basic_parser_impl.hpp>
#include <boost/json/string.hpp>

#if defined(__SSE2__)
#include <emmintrin.h>
#endif

namespace cds::fhir::json_text {

enum class string_kind {
    plain,      // the string's bytes, as they stand in the text
    unescaped,  // the string had escapes: its value is in the caller's buffer
    declined,
};

namespace detail {

// The length of the well-formed UTF-8 sequence at `p` (Unicode 15.0, table 3-7), or 0.
inline std::size_t utf8_sequence_length(char const* at, char const* end) {
    auto const* p = reinterpret_cast<unsigned char const*>(at);
    auto const left = end - at;
    auto const in = [](unsigned char c, unsigned lo, unsigned hi) { return c >= lo && c <= hi; };
    unsigned char const c = p[0];
    if (in(c, 0xC2, 0xDF)) return left >= 2 && in(p[1], 0x80, 0xBF) ? 2 : 0;
    if (in(c, 0xE0, 0xEF)) {
        if (left < 3 || !in(p[2], 0x80, 0xBF)) return 0;
        unsigned const lo = c == 0xE0 ? 0xA0 : 0x80;  // no overlong form
        unsigned const hi = c == 0xED ? 0x9F : 0xBF;  // ED A0..BF would encode a surrogate
        return in(p[1], lo, hi) ? 3 : 0;
    }
    if (in(c, 0xF0, 0xF4)) {
        if (left < 4 || !in(p[2], 0x80, 0xBF) || !in(p[3], 0x80, 0xBF)) return 0;
        unsigned const lo = c == 0xF0 ? 0x90 : 0x80;
        unsigned const hi = c == 0xF4 ? 0x8F : 0xBF;  // nothing past U+10FFFF
        return in(p[1], lo, hi) ? 4 : 0;
    }
    return 0;
}

// The first byte at or after `at` that a string cannot simply continue with: a quote, a
// backslash, a control character, or a byte of 0x80 and above; `end` when there is none.
inline char const* find_special(char const* at, char const* end) {
#if defined(__SSE2__)
    __m128i const quote = _mm_set1_epi8('"');
    __m128i const backslash = _mm_set1_epi8('\\');
    __m128i const space = _mm_set1_epi8(0x20);
    while (end - at >= 16) {
        __m128i const bytes = _mm_loadu_si128(reinterpret_cast<__m128i const*>(at));
        // A signed comparison: bytes of 0x80 and above count as below 0x20.
        __m128i const special = _mm_or_si128(
            _mm_or_si128(_mm_cmpeq_epi8(bytes, quote), _mm_cmpeq_epi8(bytes, backslash)),
            _mm_cmplt_epi8(bytes, space));
        int const mask = _mm_movemask_epi8(special);
        if (mask != 0) return at + __builtin_ctz(static_cast<unsigned>(mask));
        at += 16;
    }
#endif
    for (; at != end; ++at) {
        auto const c = static_cast<unsigned char>(*at);
        if (c == '"' || c == '\\' || c < 0x20 || c >= 0x80) return at;
    }
    return end;
}

inline int hex_value(char c) {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

// Four hex digits at `at`, or -1.
inline int hex4(char const* at, char const* end) {
    if (end - at < 4) return -1;
    int v = 0;
    for (int i = 0; i < 4; ++i) {
        int const d = hex_value(at[i]);
        if (d < 0) return -1;
        v = v * 16 + d;
    }
    return v;
}

inline void append_utf8(std::string& out, std::uint32_t code_point) {
    auto const byte = [&](std::uint32_t b) { out += static_cast<char>(b); };
    if (code_point < 0x80) {
        byte(code_point);
    } else if (code_point < 0x800) {
        byte(0xC0 | (code_point >> 6));
        byte(0x80 | (code_point & 0x3F));
    } else if (code_point < 0x10000) {
        byte(0xE0 | (code_point >> 12));
        byte(0x80 | ((code_point >> 6) & 0x3F));
        byte(0x80 | (code_point & 0x3F));
    } else {
        byte(0xF0 | (code_point >> 18));
        byte(0x80 | ((code_point >> 12) & 0x3F));
        byte(0x80 | ((code_point >> 6) & 0x3F));
        byte(0x80 | (code_point & 0x3F));
    }
}

// A \u escape's value at `at` (just past the "u"), appended to `out`; `at` moves past it.
// A surrogate is taken only as a high-low pair.
inline bool unicode_escape(char const*& at, char const* end, std::string& out) {
    int const unit = hex4(at, end);
    if (unit < 0 || (unit >= 0xDC00 && unit <= 0xDFFF)) return false;
    at += 4;
    if (unit < 0xD800 || unit > 0xDBFF) {
        append_utf8(out, static_cast<std::uint32_t>(unit));
        return true;
    }
    if (end - at < 6 || at[0] != '\\' || at[1] != 'u') return false;
    int const low = hex4(at + 2, end);
    if (low < 0xDC00 || low > 0xDFFF) return false;
    at += 6;
    append_utf8(out, 0x10000U + ((static_cast<std::uint32_t>(unit) - 0xD800U) << 10) +
                         (static_cast<std::uint32_t>(low) - 0xDC00U));
    return true;
}

// The escape whose backslash is at `at`, appended to `out`; `at` moves past it.
inline bool escape(char const*& at, char const* end, std::string& out) {
    if (end - at < 2) return false;
    char const e = at[1];
    at += 2;
    switch (e) {
        case '"':
        case '\\':
        case '/':
            out += e;
            return true;
        case 'b':
            out += '\b';
            return true;
        case 'f':
            out += '\f';
            return true;
        case 'n':
            out += '\n';
            return true;
        case 'r':
            out += '\r';
            return true;
        case 't':
            out += '\t';
            return true;
        case 'u':
            return unicode_escape(at, end, out);
        default:
            return false;
    }
}

// The rest of a string from its first escape at `at`, unescaped into `buffer` after what
// came before it (`begin` up to `at`). Out of line: escapes are rare, and read_string stays
// small enough to inline.
[[gnu::noinline]] inline string_kind read_escaped(char const*& at,
                                                  char const* end,
                                                  char const* begin,
                                                  std::string& buffer) {
    buffer.assign(begin, at);
    for (;;) {
        auto const c = static_cast<unsigned char>(*at);
        if (c == '"') {
            ++at;
            return string_kind::unescaped;
        }
        if (c == '\\') {
            if (!escape(at, end, buffer)) return string_kind::declined;
        } else if (c < 0x80) {
            return string_kind::declined;  // a control character
        } else {
            std::size_t const n = utf8_sequence_length(at, end);
            if (n == 0) return string_kind::declined;
            buffer.append(at, n);
            at += n;
        }
        char const* const next = find_special(at, end);
        if (next == end) return string_kind::declined;
        buffer.append(at, next);
        at = next;
    }
}

}  // namespace detail

// Whitespace as RFC 8259 section 2 defines it.
inline char const* skip_whitespace(char const* at, char const* end) {
    // Compact JSON has none: one comparison decides. Python's json.dumps, by default, writes
    // one space after each colon and comma: three more comparisons, and no loop, decide that.
    if (at == end || static_cast<unsigned char>(*at) > ' ') return at;
    if (*at == ' ' && end - at > 1 && static_cast<unsigned char>(at[1]) > ' ') return at + 1;
    while (at != end && (*at == ' ' || *at == '\n' || *at == '\r' || *at == '\t')) ++at;
    return at;
}

// Longer strings are declined: basic_parser refuses them (string_too_large, key_too_large).
inline constexpr std::size_t max_string_bytes = boost::json::string::max_size();

// The string whose opening quote is just before `at`. On success `at` is past its closing
// quote and `value` views its value: the text itself, or `buffer` when it had escapes.
inline string_kind read_string(char const*& at,
                               char const* end,
                               std::string_view& value,
                               std::string& buffer) {
    char const* const begin = at;
    char const* p = at;
    for (;;) {
        p = detail::find_special(p, end);
        if (p == end) return string_kind::declined;
        auto const c = static_cast<unsigned char>(*p);
        if (c == '"') {
            value = {begin, static_cast<std::size_t>(p - begin)};
            at = p + 1;
            return value.size() <= max_string_bytes ? string_kind::plain : string_kind::declined;
        }
        if (c == '\\') {
            auto const kind = detail::read_escaped(p, end, begin, buffer);
            value = buffer;
            at = p;
            return value.size() <= max_string_bytes ? kind : string_kind::declined;
        }
        if (c < 0x80) return string_kind::declined;  // a control character
        std::size_t const n = detail::utf8_sequence_length(p, end);
        if (n == 0) return string_kind::declined;
        p += n;
    }
}

// A member name and its colon, the name's opening quote at `at`; `at` moves past the colon
// and the whitespace after it. Declined when there is no name or no colon.
inline string_kind read_member_name(char const*& at,
                                    char const* end,
                                    std::string_view& name,
                                    std::string& buffer) {
    if (at == end || *at != '"') return string_kind::declined;
    ++at;
    auto const kind = read_string(at, end, name, buffer);
    if (kind == string_kind::declined) return kind;
    at = skip_whitespace(at, end);
    if (at == end || *at != ':') return string_kind::declined;
    at = skip_whitespace(at + 1, end);
    return kind;
}

struct number {
    bool is_integer = true;  // basic_parser's on_int64; otherwise on_double
    std::int64_t integer = 0;
    double real = 0;
};

// The number that starts at `at`; `at` moves past it. nullopt to decline. The mantissa and
// the exponent are built as basic_parser builds them (Boost 1.81, parse_number):
//  - every digit of the integer part counts (up to 18 here, so none overflows; more are
//    declined);
//  - a fraction digit counts while the mantissa is at most 2^53 - 1, and is dropped after;
//  - except that when 33 bytes or more remain after the sign, basic_parser first takes up to
//    16 fraction digits at once, whatever the mantissa, if the integer part has at most 15
//    digits and both parts together at most 18.
// The double then comes from the function basic_parser converts with (a Boost.JSON internal:
// the build requires Boost 1.81 exactly, and the json_tokenizer fuzzer compares the bits), so
// it is the same bit for bit. Exponents of four digits or more are declined.
inline std::optional<number> read_number(char const*& at, char const* end) {
    constexpr std::uint64_t max_exact_mantissa = 9007199254740991;  // 2^53 - 1
    constexpr std::ptrdiff_t max_fraction_digits = 1'000'000;
    char const* p = at;
    bool const negative = p != end && *p == '-';
    if (negative) ++p;
    bool const fraction_taken_in_chunk = end - p >= 33;
    auto const is_digit = [end](char const* q) { return q != end && *q >= '0' && *q <= '9'; };
    if (!is_digit(p)) return std::nullopt;
    std::uint64_t mantissa = 0;
    int integer_digits = 0;
    if (*p == '0') {
        ++p;
        if (is_digit(p)) return std::nullopt;  // a leading zero
    } else {
        for (; is_digit(p); ++p) {
            if (++integer_digits > 18) return std::nullopt;
            mantissa = mantissa * 10 + static_cast<unsigned>(*p - '0');
        }
    }
    bool is_integer = true;
    int exponent = 0;
    if (p != end && *p == '.') {
        is_integer = false;
        ++p;
        if (!is_digit(p)) return std::nullopt;
        char const* const first = p;
        while (is_digit(p)) ++p;
        auto const fraction_digits = p - first;
        // basic_parser counts every digit in an int; so many are declined before it overflows.
        if (fraction_digits > max_fraction_digits) return std::nullopt;
        std::ptrdiff_t chunk = 0;
        if (fraction_taken_in_chunk && integer_digits <= 15) {
            chunk = fraction_digits < 16 ? fraction_digits : 16;
            if (integer_digits + chunk > 18) chunk = 0;
        }
        for (std::ptrdiff_t i = 0; i < fraction_digits; ++i) {
            if (i >= chunk && mantissa > max_exact_mantissa) break;
            mantissa = mantissa * 10 + static_cast<unsigned>(first[i] - '0');
            --exponent;
        }
    }
    if (p != end && (*p == 'e' || *p == 'E')) {
        is_integer = false;
        ++p;
        bool const exponent_negative = p != end && *p == '-';
        if (p != end && (*p == '-' || *p == '+')) ++p;
        if (!is_digit(p)) return std::nullopt;
        int written = 0;
        for (int exponent_digits = 1; is_digit(p); ++p, ++exponent_digits) {
            if (exponent_digits > 3) return std::nullopt;
            written = written * 10 + (*p - '0');
        }
        exponent += exponent_negative ? -written : written;
    }
    at = p;
    number n;
    n.is_integer = is_integer;
    if (is_integer) {
        auto const v = static_cast<std::int64_t>(mantissa);
        n.integer = negative ? -v : v;
    } else {
        n.real = boost::json::detail::dec_to_float(mantissa, exponent, negative);
    }
    return n;
}

// true, false or null at `at` (its first letter seen): moves past it, or returns false.
inline bool read_literal(char const*& at, char const* end, std::string_view word) {
    if (static_cast<std::size_t>(end - at) < word.size() ||
        std::string_view{at, word.size()} != word)
        return false;
    at += word.size();
    return true;
}

}  // namespace cds::fhir::json_text
