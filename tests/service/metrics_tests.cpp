// The Prometheus text exposition (format 0.0.4) of ops/metrics: line format, label escaping,
// cumulative histogram buckets ending with +Inf, _sum and _count, bounded label sets, and the
// router's GET /metrics.

#include <chrono>
#include <sstream>
#include <string>
#include <vector>

#include <doctest/doctest.h>
#include <boost/json.hpp>

#include "cds/service/http/router.hpp"
#include "cds/service/ops/metrics.hpp"
#include "support.hpp"

namespace cds::service {
namespace {

using namespace testing;
using namespace std::chrono_literals;

std::vector<std::string> lines_starting(std::string const& text, std::string const& prefix) {
    std::vector<std::string> out;
    std::istringstream in(text);
    for (std::string line; std::getline(in, line);) {
        if (line.rfind(prefix, 0) == 0) out.push_back(line);
    }
    return out;
}

TEST_CASE("label values escape backslash, double quote and line feed, and nothing else") {
    CHECK(ops::escape_label_value(R"(a\b"c)"
                                  "\n"
                                  "d\te") == R"(a\\b\"c\nd)"
                                             "\te");
    CHECK(ops::escape_label_value("plain-id_1.0") == "plain-id_1.0");
}

TEST_CASE("a histogram's buckets are cumulative, end with +Inf, and _count equals +Inf") {
    std::vector<double> const bounds{0.01, 0.1, 1};
    ops::fixed_histogram histogram(bounds);
    histogram.observe(5ms);   // <= 0.01
    histogram.observe(10ms);  // <= 0.01 (le is inclusive)
    histogram.observe(50ms);  // <= 0.1
    histogram.observe(3s);    // only +Inf
    auto const read = histogram.read();
    CHECK(read.cumulative == std::vector<std::uint64_t>{2, 3, 3, 4});
    CHECK(read.count == 4);
    CHECK(read.sum_seconds == doctest::Approx(3.065));
}

TEST_CASE("GET /metrics renders every family in the text format with bounded labels") {
    auto state = make_state();
    state.metrics = std::make_shared<ops::service_metrics>(*state.rules.get());
    auto& metrics = *state.metrics;
    metrics.record_request("/cds-services/{id}", "magnesium-patient-view", 200, 2ms);
    metrics.record_request("/cds-services/{id}", "", 404, 1ms);
    metrics.record_request("/cds-services/{id}", "made-\"up\"\nid", 404, 1ms);
    metrics.record_request("/healthz", "", 200, 20ms);
    metrics.record_fhir_fetch(300ms, 2);
    metrics.record_feedback_entry("accepted");
    metrics.record_feedback_refused();
    metrics.record_body_reread(ops::service_metrics::body_reread::boost_json);
    metrics.record_body_reread(ops::service_metrics::body_reread::tree);
    metrics.record_body_reread(ops::service_metrics::body_reread::tree);

    auto const response = handle_request_blocking(get("/metrics"), state);
    REQUIRE(response.status == 200);
    CHECK(response.content_type == "text/plain; version=0.0.4; charset=utf-8");
    auto const& text = response.body;
    REQUIRE(!text.empty());
    CHECK(text.back() == '\n');

    CHECK(
        lines_starting(text, "magnesium_cds_http_requests_total{") ==
        std::vector<std::string>{
            R"(magnesium_cds_http_requests_total{route="/cds-services/{id}",service="magnesium-patient-view",hook="patient-view",status="200"} 1)",
            R"(magnesium_cds_http_requests_total{route="/cds-services/{id}",service="unknown",hook="unknown",status="404"} 2)",
            R"(magnesium_cds_http_requests_total{route="/healthz",service="none",hook="none",status="200"} 1)",
        });
    CHECK(lines_starting(text, "# TYPE magnesium_cds_http_requests_total ") ==
          std::vector<std::string>{"# TYPE magnesium_cds_http_requests_total counter"});

    auto const healthz_buckets = lines_starting(
        text, R"(magnesium_cds_http_request_duration_seconds_bucket{route="/healthz",)");
    REQUIRE(healthz_buckets.size() == ops::latency_buckets_seconds().size() + 1);
    CHECK(healthz_buckets.front() ==
          R"(magnesium_cds_http_request_duration_seconds_bucket{route="/healthz",le="0.001"} 0)");
    CHECK(healthz_buckets[5] ==
          R"(magnesium_cds_http_request_duration_seconds_bucket{route="/healthz",le="0.05"} 1)");
    CHECK(healthz_buckets.back() ==
          R"(magnesium_cds_http_request_duration_seconds_bucket{route="/healthz",le="+Inf"} 1)");
    CHECK(lines_starting(text,
                         R"(magnesium_cds_http_request_duration_seconds_sum{route="/healthz"})") ==
          std::vector<std::string>{
              R"(magnesium_cds_http_request_duration_seconds_sum{route="/healthz"} 0.02)"});
    CHECK(lines_starting(
              text, R"(magnesium_cds_http_request_duration_seconds_count{route="/healthz"})") ==
          std::vector<std::string>{
              R"(magnesium_cds_http_request_duration_seconds_count{route="/healthz"} 1)"});

    CHECK(lines_starting(text, "magnesium_cds_fhir_fetch_duration_seconds_count ") ==
          std::vector<std::string>{"magnesium_cds_fhir_fetch_duration_seconds_count 1"});
    CHECK(lines_starting(text, "magnesium_cds_fhir_fetch_failures_total ") ==
          std::vector<std::string>{"magnesium_cds_fhir_fetch_failures_total 2"});
    CHECK(lines_starting(text, "magnesium_cds_feedback_entries_total{") ==
          std::vector<std::string>{
              R"(magnesium_cds_feedback_entries_total{outcome="accepted"} 1)",
              R"(magnesium_cds_feedback_entries_total{outcome="overridden"} 0)"});
    CHECK(lines_starting(text, "magnesium_cds_feedback_refused_total ") ==
          std::vector<std::string>{"magnesium_cds_feedback_refused_total 1"});
    CHECK(lines_starting(text, "magnesium_cds_request_body_rereads_total{") ==
          std::vector<std::string>{
              R"(magnesium_cds_request_body_rereads_total{reader="boost_json"} 1)",
              R"(magnesium_cds_request_body_rereads_total{reader="tree"} 2)"});
    CHECK(lines_starting(text, "magnesium_cds_rule_set_info{") ==
          std::vector<std::string>{"magnesium_cds_rule_set_info{id=\"" + state.rules->id() +
                                   "\",version=\"" + state.rules->version() + "\"} 1"});
    CHECK(text.find("made-") == std::string::npos);
}

TEST_CASE("cards are counted by the rule id of their extension and their indicator") {
    auto state = make_state();
    ops::service_metrics metrics(*state.rules.get());
    auto const rule_id = state.rules->rule_ids().front();
    auto const card = [](std::string const& rule, std::string const& indicator) {
        return boost::json::value{{"indicator", indicator},
                                  {"extension", {{"magnesium-cds", {{"ruleId", rule}}}}}};
    };
    metrics.record_cards(boost::json::array{card(rule_id, "critical"), card(rule_id, "critical"),
                                            card("not-a-rule\"", "warning")});
    auto const text = metrics.render(state);
    CHECK(lines_starting(text, "magnesium_cds_cards_total{") ==
          std::vector<std::string>{
              "magnesium_cds_cards_total{rule=\"" + rule_id + "\",indicator=\"critical\"} 2",
              R"(magnesium_cds_cards_total{rule="unknown",indicator="warning"} 1)"});
}

TEST_CASE("values owned elsewhere are read at scrape time; ok decisions are not failures") {
    auto state = make_state();
    std::uint64_t dropped = 0;
    ops::metrics_sources sources;
    sources.auth_decisions = [] {
        return std::vector<std::pair<std::string_view, std::uint64_t>>{{"ok", 7}, {"expired", 2}};
    };
    sources.log_lines_dropped = [&dropped] { return dropped; };
    ops::service_metrics metrics(*state.rules.get(), sources);
    dropped = 5;
    auto const text = metrics.render(state);
    CHECK(lines_starting(text, "magnesium_cds_auth_failures_total") ==
          std::vector<std::string>{R"(magnesium_cds_auth_failures_total{reason="expired"} 2)"});
    CHECK(lines_starting(text, "magnesium_cds_log_lines_dropped_total") ==
          std::vector<std::string>{"magnesium_cds_log_lines_dropped_total 5"});
}

TEST_CASE("a request body read a second time is counted by the reader that read it") {
    auto state = make_state();
    state.metrics = std::make_shared<ops::service_metrics>(*state.rules.get());
    auto const request = fixture_request("patient-view-mild.json");
    std::string const body = boost::json::serialize(request);
    auto const call = [&](std::string const& text) {
        return handle_request_blocking(post("/cds-services/magnesium-patient-view", text), state)
            .status;
    };
    CHECK(call(body) == 200);  // read once
    // A lone surrogate escape: declined by the tokenizer, refused by basic_parser.
    CHECK(call(R"({"x":"\udc00",)" + body.substr(1)) == 400);
    // A repeated prefetch member: read as a tree (which keeps the last).
    auto const prefetch = boost::json::serialize(request.at("prefetch"));
    CHECK(call(body.substr(0, body.size() - 1) + R"(,"prefetch":)" + prefetch + "}") == 200);
    auto const text = state.metrics->render(state);
    CHECK(lines_starting(text, "magnesium_cds_request_body_rereads_total{") ==
          std::vector<std::string>{
              R"(magnesium_cds_request_body_rereads_total{reader="boost_json"} 1)",
              R"(magnesium_cds_request_body_rereads_total{reader="tree"} 1)"});
}

TEST_CASE("without metrics /metrics is an unknown path, and it is GET only") {
    auto state = make_state();
    CHECK(handle_request_blocking(get("/metrics"), state).status == 404);
    state.metrics = std::make_shared<ops::service_metrics>(*state.rules.get());
    auto const post_response = handle_request_blocking(post("/metrics", "{}"), state);
    CHECK(post_response.status == 405);
    CHECK(match_route("/metrics").kind == endpoint_kind::metrics);
    CHECK(match_route("/metrics/x").kind == endpoint_kind::unknown);
}

}  // namespace
}  // namespace cds::service
