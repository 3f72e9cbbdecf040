#include "cds/service/http/bench_stage_stops.hpp"

#include <cstddef>
#include <cstdlib>
#include <string_view>

#include <spdlog/spdlog.h>

#include "cds/service/cds/json_tokenizer.hpp"

namespace cds::service {

#if defined(CDS_BENCH_STAGE_STOPS)
bench_stop bench_stop_chosen() {
    static bench_stop const chosen = [] {
        char const* const value = std::getenv("CDS_BENCH_STOP_AFTER");
        std::string_view const name = value != nullptr ? value : "";
        if (name == "received") return bench_stop::received;
        if (name == "tokenized") return bench_stop::tokenized;
        if (name == "read") return bench_stop::read;
        return bench_stop::none;
    }();
    return chosen;
}

void warn_of_bench_stage_stops() {
    static constexpr char const* names[] = {"none (the whole call)", "received", "tokenized",
                                            "read"};
    spdlog::warn(
        "benchmark build (CDS_BENCH_STAGE_STOPS): hook calls stop after stage {} "
        "(CDS_BENCH_STOP_AFTER); never serve anyone with this build",
        names[static_cast<std::size_t>(bench_stop_chosen())]);
}
#endif

http_response bench_stopped_answer() {
    http_response r;
    r.content_type = "application/json";
    r.body = R"({"cards":[]})";
    return r;
}

std::optional<http_response> bench_answer_before_read(http_request const& request,
                                                      unsigned max_json_depth) {
    switch (bench_stop_chosen()) {
        case bench_stop::received:
            return bench_stopped_answer();
        case bench_stop::tokenized: {
            if (tokenizes_whole(request.body, max_json_depth)) return bench_stopped_answer();
            http_response refused;
            refused.status = 400;
            refused.content_type = "text/plain";
            refused.body = "the tokenizer did not read the body whole";
            return refused;
        }
        case bench_stop::none:
        case bench_stop::read:
            break;
    }
    return std::nullopt;
}

}  // namespace cds::service
