#pragma once
// Stage stops, for the benchmark's stage floors only (tests/bench/run.sh --stage-floors): a
// hook call that answers {"cards":[]} at once after one stage of its work, so that the cost
// of each stage can be read off the same server, beside nginx's floor. They can be chosen
// only in a build configured with -DCDS_BENCH_STAGE_STOPS=ON, where the environment variable
// CDS_BENCH_STOP_AFTER picks the stage and `serve` warns at start-up. In every other build
// bench_stop_chosen() is bench_stop::none at compile time: the branches on it are constant
// false (the functions below are compiled but unreachable), and no setting can make the
// service skip its rules.

#include <optional>

#include "cds/service/http/http_message.hpp"

namespace cds::service {

enum class bench_stop {
    none,       // the whole call (every build)
    received,   // the body received and the call routed; nothing of the body read
    tokenized,  // the whole body through the request tokenizer, keeping nothing
    read,       // prepare_cds_call: the request read into the hook context and the snapshot
};

#if defined(CDS_BENCH_STAGE_STOPS)
// CDS_BENCH_STOP_AFTER: received, tokenized or read (anything else: none); read once.
[[nodiscard]] bench_stop bench_stop_chosen();
// Logs a warning that this is a benchmark build, and which stop is chosen.
void warn_of_bench_stage_stops();
#else
[[nodiscard]] constexpr bench_stop bench_stop_chosen() { return bench_stop::none; }
inline void warn_of_bench_stage_stops() {}
#endif

// The answer of a call stopped before its request is read (received, tokenized; the
// tokenizer keeps the server's JSON depth limit); nullopt for the other stops.
[[nodiscard]] std::optional<http_response> bench_answer_before_read(http_request const& request,
                                                                    unsigned max_json_depth);
// The answer of a call stopped after a stage: 200, {"cards":[]}.
[[nodiscard]] http_response bench_stopped_answer();

}  // namespace cds::service
