#include "cds/service/ops/log_format.hpp"

#include <chrono>
#include <ctime>
#include <iterator>
#include <string>
#include <string_view>
#include <vector>

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

thread_local access_record const* current_access_record = nullptr;

void append(spdlog::memory_buf_t& dest, std::string_view text) {
    dest.append(text.data(), text.data() + text.size());
}

void append_string_field(spdlog::memory_buf_t& dest, std::string_view key, std::string_view value) {
    append(dest, ",\"");
    append(dest, key);
    append(dest, "\":\"");
    append_json_string(value, dest);
    dest.push_back('"');
}

// The per-request fields, after "message": the request id always, the call's service, hook,
// card count and rule ids when it was a hook call, the trace id when the caller sent one.
void append_access_fields(access_record const& record, spdlog::memory_buf_t& dest) {
    if (!record.request_id.empty()) append_string_field(dest, "requestId", record.request_id);
    append_string_field(dest, "method", record.method);
    append_string_field(dest, "route", record.route);
    fmt::format_to(std::back_inserter(dest), ",\"status\":{},\"durationMs\":{:.3f}", record.status,
                   record.duration_ms);
    if (!record.service_id.empty()) append_string_field(dest, "service", record.service_id);
    if (!record.hook.empty()) append_string_field(dest, "hook", record.hook);
    if (record.card_count >= 0) {
        fmt::format_to(std::back_inserter(dest), ",\"cards\":{},\"ruleIds\":[", record.card_count);
        static std::vector<std::string> const none;
        bool first = true;
        for (auto const& id : record.rule_ids != nullptr ? *record.rule_ids : none) {
            if (!first) dest.push_back(',');
            first = false;
            dest.push_back('"');
            append_json_string(id, dest);
            dest.push_back('"');
        }
        dest.push_back(']');
    }
    if (!record.trace_id.empty()) append_string_field(dest, "traceId", record.trace_id);
}

}  // namespace

access_record_scope::access_record_scope(access_record const& record) {
    current_access_record = &record;
}

access_record_scope::~access_record_scope() { current_access_record = nullptr; }

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
    dest.push_back('"');
    auto const* record = current_access_record;
    if (record != nullptr && record->message.data() == msg.payload.data() &&
        record->message.size() == msg.payload.size()) {
        append_access_fields(*record, dest);
    }
    constexpr std::string_view end = "}\n";
    dest.append(end.data(), end.data() + end.size());
}

std::unique_ptr<spdlog::formatter> json_log_formatter::clone() const {
    return std::make_unique<json_log_formatter>();
}

}  // namespace cds::service::ops
