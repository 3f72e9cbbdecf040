#pragma once
// Shared pieces of the libFuzzer harnesses (tests/fuzz/fuzz_*.cpp). Each harness defines
// LLVMFuzzerTestOneInput only; the same object is linked either with libFuzzer
// (-fsanitize=fuzzer, clang) or with regression_main.cpp (every compiler), so inputs that
// once crashed are replayed by CTest in every build.
//
// A harness fails by aborting (fuzz_require): libFuzzer then saves the input as a crash
// artifact, and the regression driver dies with a non-zero status. An exception that
// escapes a harness is a finding too (the brief: no exceptions on the request path), so
// harnesses never catch.

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include <date/date.h>
#include <boost/json.hpp>

#include "cds/fhir/date_time.hpp"

namespace cds::fuzz {

// The evaluation time of every harness: the scenarios' `now` (fixtures/scenarios/README.md),
// so seed requests written relative to it exercise the "current result" paths.
inline fhir::instant fixed_now() {
    using namespace std::chrono;
    return time_point_cast<milliseconds>(date::sys_days{date::year{2026} / 3 / 10} + hours{9});
}

// The service's own default JSON depth limit (service_limits::max_json_depth).
inline constexpr unsigned max_json_depth = 64;

inline std::string_view as_text(std::uint8_t const* data, std::size_t size) {
    return size == 0 ? std::string_view{}
                     : std::string_view{reinterpret_cast<char const*>(data), size};
}

// Parses with a depth bound, as the service does; nullopt for anything that is not JSON.
inline std::optional<boost::json::value> parse_json(std::string_view text,
                                                    unsigned depth = max_json_depth) {
    boost::json::parse_options options;
    options.max_depth = depth;
    boost::system::error_code ec;
    auto value = boost::json::parse(text, ec, {}, options);
    if (ec) return std::nullopt;
    return value;
}

[[noreturn]] inline void fuzz_fail(char const* harness,
                                   char const* what,
                                   std::string_view detail = {}) {
    std::fprintf(stderr, "FUZZ INVARIANT VIOLATED in %s: %s", harness, what);
    if (!detail.empty())
        std::fprintf(stderr, " [%.*s]", static_cast<int>(detail.size() > 400 ? 400 : detail.size()),
                     detail.data());
    std::fprintf(stderr, "\n");
    std::abort();
}

#define CDS_FUZZ_REQUIRE(harness, cond, detail)                      \
    do {                                                             \
        if (!(cond)) ::cds::fuzz::fuzz_fail(harness, #cond, detail); \
    } while (false)

// Number of Unicode code points in UTF-8 text (continuation bytes are not counted); the
// CDS Hooks 2.0 `summary` limit is in characters, not bytes.
inline std::size_t utf8_length(std::string_view text) {
    std::size_t n = 0;
    for (char const c : text) {
        if ((static_cast<unsigned char>(c) & 0xC0U) != 0x80U) ++n;
    }
    return n;
}

// CDS Hooks 2.0 "CDS Service Response": no member is null, no optional member is an empty
// string, array or object (the one exception, `"cards": []`, is outside the cards). Returns
// the JSON path of the first violation, or empty.
inline std::string find_null_or_empty(boost::json::value const& v, std::string const& path) {
    switch (v.kind()) {
        case boost::json::kind::null:
            return path + " (null)";
        case boost::json::kind::string:
            if (v.get_string().empty()) return path + " (empty string)";
            return {};
        case boost::json::kind::array: {
            auto const& a = v.get_array();
            if (a.empty()) return path + " (empty array)";
            for (std::size_t i = 0; i < a.size(); ++i) {
                auto found = find_null_or_empty(a[i], path + "[" + std::to_string(i) + "]");
                if (!found.empty()) return found;
            }
            return {};
        }
        case boost::json::kind::object: {
            auto const& o = v.get_object();
            if (o.empty()) return path + " (empty object)";
            for (auto const& member : o) {
                auto found =
                    find_null_or_empty(member.value(), path + "." + std::string{member.key()});
                if (!found.empty()) return found;
            }
            return {};
        }
        default:
            return {};
    }
}

// Checks one CDS Hooks 2.0 Card as the rules or the service produced it. Returns what is
// wrong, or empty.
inline std::string card_problem(boost::json::value const& card) {
    if (!card.is_object()) return "a card is not an object";
    auto const& o = card.get_object();
    auto const* summary = o.if_contains("summary");
    if (summary == nullptr || !summary->is_string()) return "card without a string summary";
    if (utf8_length(summary->get_string()) >= 140) {
        return "summary of " + std::to_string(utf8_length(summary->get_string())) +
               " characters (CDS Hooks 2.0: <140): " + std::string{summary->get_string()};
    }
    auto const* indicator = o.if_contains("indicator");
    if (indicator == nullptr || !indicator->is_string() ||
        (indicator->get_string() != "info" && indicator->get_string() != "warning" &&
         indicator->get_string() != "critical")) {
        return "card indicator missing or not info/warning/critical";
    }
    auto const* source = o.if_contains("source");
    if (source == nullptr || !source->is_object() || !source->get_object().contains("label")) {
        return "card without source.label";
    }
    if (!o.contains("uuid")) return "card without uuid";
    if (auto const* suggestions = o.if_contains("suggestions"); suggestions != nullptr) {
        if (!o.contains("selectionBehavior")) return "suggestions without selectionBehavior";
        if (!suggestions->is_array()) return "suggestions is not an array";
        for (auto const& s : suggestions->get_array()) {
            if (!s.is_object() || !s.get_object().contains("uuid"))
                return "suggestion without uuid";
            if (auto const* actions = s.get_object().if_contains("actions");
                actions != nullptr && actions->is_array()) {
                for (auto const& a : actions->get_array()) {
                    if (!a.is_object() || !a.get_object().contains("description"))
                        return "action without description";
                }
            }
        }
    }
    auto const empty = find_null_or_empty(card, "card");
    if (!empty.empty()) return "null or empty member at " + empty;
    return {};
}

// Replaces every "uuid" member's value, so two evaluations compare apart from uuids.
inline void blank_uuids(boost::json::value& v) {
    if (auto* o = v.if_object()) {
        for (auto& member : *o) {
            if (member.key() == "uuid") {
                member.value() = "-";
            } else {
                blank_uuids(member.value());
            }
        }
    } else if (auto* a = v.if_array()) {
        for (auto& e : *a) blank_uuids(e);
    }
}

}  // namespace cds::fuzz
