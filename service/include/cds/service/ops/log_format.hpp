#pragma once
// `--log-format json`: one JSON object per line, {"time": ..., "level": ..., "message": ...},
// for log collectors (Fluent Bit, Vector, Loki) that parse JSON lines without a regular
// expression per service. The message is the same text the text format prints, so the same
// rules keep tokens and patient data out of it.

#include <memory>

#include <spdlog/formatter.h>

namespace cds::service::ops {

class json_log_formatter final : public spdlog::formatter {
public:
    void format(spdlog::details::log_msg const& msg, spdlog::memory_buf_t& dest) override;
    [[nodiscard]] std::unique_ptr<spdlog::formatter> clone() const override;
};

}  // namespace cds::service::ops
