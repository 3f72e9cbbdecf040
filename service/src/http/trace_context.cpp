#include "cds/service/http/trace_context.hpp"

#include <algorithm>
#include <array>
#include <random>

namespace cds::service {

namespace {

bool is_lower_hex(std::string_view text) {
    return std::all_of(text.begin(), text.end(),
                       [](char c) { return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'); });
}

bool all_zero(std::string_view text) {
    return text.find_first_not_of('0') == std::string_view::npos;
}

int hex_value(char c) { return c <= '9' ? c - '0' : c - 'a' + 10; }

}  // namespace

std::optional<trace_parent> parse_traceparent(std::string_view value) {
    // version "-" trace-id "-" parent-id "-" trace-flags: 2 + 1 + 32 + 1 + 16 + 1 + 2.
    constexpr std::size_t version_00_size = 55;
    if (value.size() < version_00_size) return std::nullopt;
    std::string_view const version = value.substr(0, 2);
    if (!is_lower_hex(version) || version == "ff") return std::nullopt;
    if (version == "00" ? value.size() != version_00_size
                        : value.size() > version_00_size && value[version_00_size] != '-') {
        return std::nullopt;
    }
    if (value[2] != '-' || value[35] != '-' || value[52] != '-') return std::nullopt;
    std::string_view const trace_id = value.substr(3, 32);
    std::string_view const parent_id = value.substr(36, 16);
    std::string_view const flags = value.substr(53, 2);
    if (!is_lower_hex(trace_id) || !is_lower_hex(parent_id) || !is_lower_hex(flags))
        return std::nullopt;
    if (all_zero(trace_id) || all_zero(parent_id)) return std::nullopt;
    return trace_parent{std::string{trace_id}, std::string{parent_id},
                        static_cast<std::uint8_t>(hex_value(flags[0]) * 16 + hex_value(flags[1]))};
}

std::optional<trace_parent> traceparent_of(http_request const& request) {
    std::optional<std::string_view> found;
    for (auto const& [name, value] : request.headers) {
        if (name.size() != 11 ||
            !std::equal(name.begin(), name.end(), "traceparent",
                        [](char a, char b) { return (a >= 'A' && a <= 'Z' ? a + 32 : a) == b; })) {
            continue;
        }
        if (found) return std::nullopt;
        found = value;
    }
    if (!found) return std::nullopt;
    return parse_traceparent(*found);
}

std::string new_span_id() {
    thread_local std::mt19937_64 generator{[] {
        std::random_device device;
        return (static_cast<std::uint64_t>(device()) << 32) ^ device();
    }()};
    std::uint64_t id = 0;
    while (id == 0) id = generator();
    static constexpr char hex[] = "0123456789abcdef";
    std::string out(16, '0');
    for (int i = 15; i >= 0; --i, id >>= 4) out[static_cast<std::size_t>(i)] = hex[id & 0xf];
    return out;
}

std::string child_traceparent(trace_parent const& parent, std::string_view span_id) {
    static constexpr char hex[] = "0123456789abcdef";
    std::uint8_t const sampled = parent.flags & 0x01;
    std::string out = "00-";
    out += parent.trace_id;
    out += '-';
    out += span_id;
    out += '-';
    out += '0';
    out += hex[sampled];
    return out;
}

}  // namespace cds::service
