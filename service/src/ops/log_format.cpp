#include "cds/service/ops/log_format.hpp"

#include <chrono>
#include <ctime>
#include <string_view>

#include <spdlog/details/log_msg.h>
#include <spdlog/fmt/fmt.h>

namespace cds::service::ops {

namespace {

// A JSON string's contents (RFC 8259 section 7): quote, backslash and control characters
// escaped; bytes that are not valid UTF-8 are replaced so that every line stays parseable.
void append_json_string(std::string_view text, spdlog::memory_buf_t& dest) {
    static constexpr char hex[] = "0123456789abcdef";
    for (std::size_t i = 0; i < text.size(); ++i) {
        auto const c = static_cast<unsigned char>(text[i]);
        if (c == '"' || c == '\\') {
            dest.push_back('\\');
            dest.push_back(static_cast<char>(c));
        } else if (c < 0x20 || c == 0x7f) {
            char const escaped[] = {'\\', 'u', '0', '0', hex[c >> 4], hex[c & 0xf]};
            dest.append(escaped, escaped + sizeof escaped);
        } else if (c < 0x80) {
            dest.push_back(static_cast<char>(c));
        } else {
            std::size_t const length = c >= 0xf0 && c < 0xf5   ? 4
                                       : c >= 0xe0             ? 3
                                       : c >= 0xc2 && c < 0xe0 ? 2
                                                               : 0;
            bool valid = length > 0 && i + length <= text.size();
            for (std::size_t k = 1; valid && k < length; ++k) {
                valid = (static_cast<unsigned char>(text[i + k]) & 0xc0) == 0x80;
            }
            if (valid) {
                dest.append(text.data() + i, text.data() + i + length);
                i += length - 1;
            } else {
                constexpr std::string_view replacement = "\\ufffd";
                dest.append(replacement.data(), replacement.data() + replacement.size());
            }
        }
    }
}

}  // namespace

void json_log_formatter::format(spdlog::details::log_msg const& msg, spdlog::memory_buf_t& dest) {
    auto const since_epoch = msg.time.time_since_epoch();
    auto const seconds = std::chrono::duration_cast<std::chrono::seconds>(since_epoch);
    auto const millis =
        std::chrono::duration_cast<std::chrono::milliseconds>(since_epoch - seconds).count();
    std::time_t const as_time_t = static_cast<std::time_t>(seconds.count());
    std::tm utc{};
    gmtime_r(&as_time_t, &utc);
    // RFC 3339 in UTC, whatever the machine's zone, so that replicas' lines sort together.
    fmt::format_to(std::back_inserter(dest),
                   "{{\"time\":\"{:04}-{:02}-{:02}T{:02}:{:02}:{:02}.{:03}Z\",\"level\":\"",
                   utc.tm_year + 1900, utc.tm_mon + 1, utc.tm_mday, utc.tm_hour, utc.tm_min,
                   utc.tm_sec, millis);
    auto const level = spdlog::level::to_string_view(msg.level);
    dest.append(level.data(), level.data() + level.size());
    constexpr std::string_view message_key = "\",\"message\":\"";
    dest.append(message_key.data(), message_key.data() + message_key.size());
    append_json_string(std::string_view{msg.payload.data(), msg.payload.size()}, dest);
    constexpr std::string_view end = "\"}\n";
    dest.append(end.data(), end.data() + end.size());
}

std::unique_ptr<spdlog::formatter> json_log_formatter::clone() const {
    return std::make_unique<json_log_formatter>();
}

}  // namespace cds::service::ops
