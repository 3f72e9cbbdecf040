#include "cds/service/http/bench_stage_stops.hpp"

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string_view>

#include <spdlog/spdlog.h>
#include <boost/json.hpp>

#include "cds/service/cds/json_tokenizer.hpp"

namespace cds::service {
namespace {

// A tokenizer handler that keeps nothing: the cost of checking the JSON alone.
class discarding_handler {
public:
    using error_code = boost::system::error_code;
    using text = boost::json::string_view;

    bool on_document_begin(error_code&) { return true; }
    bool on_document_end(error_code&) { return true; }
    bool on_object_begin(error_code&) { return true; }
    bool on_object_end(std::size_t, error_code&) { return true; }
    bool on_array_begin(error_code&) { return true; }
    bool on_array_end(std::size_t, error_code&) { return true; }
    bool on_key_part(text, std::size_t, error_code&) { return true; }
    bool on_key(text, std::size_t, error_code&) { return true; }
    bool on_string_part(text, std::size_t, error_code&) { return true; }
    bool on_string(text, std::size_t, error_code&) { return true; }
    bool on_number_part(text, error_code&) { return true; }
    bool on_int64(std::int64_t, text, error_code&) { return true; }
    bool on_uint64(std::uint64_t, text, error_code&) { return true; }
    bool on_double(double, text, error_code&) { return true; }
    bool on_bool(bool, error_code&) { return true; }
    bool on_null(error_code&) { return true; }
    bool on_comment_part(text, error_code&) { return true; }
    bool on_comment(text, error_code&) { return true; }
    [[nodiscard]] bool reads_next_value() const { return false; }
    value_read_outcome read_next_value(char const*&, char const*, std::size_t, error_code&) {
        return value_read_outcome::declined;
    }
};

}  // namespace

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
            discarding_handler handler;
            json_tokenizer<discarding_handler> tokenizer(handler, max_json_depth);
            boost::system::error_code ec;
            if (tokenizer.read(request.body, ec) == tokenize_outcome::complete)
                return bench_stopped_answer();
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
