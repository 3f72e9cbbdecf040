#pragma once
// `--log-format json`: one JSON object per line, {"time": ..., "level": ..., "message": ...},
// for log collectors (Fluent Bit, Vector, Loki) that parse JSON lines without a regular
// expression per service. The message is the same text the text format prints, so the same
// rules keep tokens and patient data out of it. The per-request line also carries its
// fields separately (requestId, method, route, status, durationMs, service, hook, cards,
// ruleIds, traceId): identifiers and numbers only, never a header, a body or a patient's data.

#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include <spdlog/formatter.h>

namespace cds::service::ops {

// The fields of one per-request log line. Views into the server's own values, alive while the
// line is logged.
struct access_record {
    std::string_view message;  // the line's text, as logged: identifies the line
    std::string_view request_id;
    std::string_view method;
    std::string_view route;
    int status = 0;
    double duration_ms = 0;
    std::string_view service_id;  // empty: not a call to a known service
    std::string_view hook;
    int card_count = -1;  // -1: not a hook call that produced cards
    std::vector<std::string> const* rule_ids = nullptr;
    std::string_view trace_id;
};

// While alive, the line this thread logs with `record.message` as its text is written by the
// JSON format with the record's fields (spdlog formats on the logging thread).
class access_record_scope {
public:
    explicit access_record_scope(access_record const& record);
    ~access_record_scope();
    access_record_scope(access_record_scope const&) = delete;
    access_record_scope& operator=(access_record_scope const&) = delete;
};

class json_log_formatter final : public spdlog::formatter {
public:
    void format(spdlog::details::log_msg const& msg, spdlog::memory_buf_t& dest) override;
    [[nodiscard]] std::unique_ptr<spdlog::formatter> clone() const override;
};

}  // namespace cds::service::ops
