// A scenario's earlier feedback (history.json) read and replayed through the service's snooze
// filter (workbench/scenario_history.hpp, fixtures/scenarios/README.md).

#include <chrono>
#include <filesystem>
#include <fstream>
#include <string>

#include <doctest/doctest.h>
#include <boost/json.hpp>

#include "cds/service/workbench/scenario_history.hpp"
#include "support.hpp"

namespace {

using namespace std::chrono_literals;
namespace fs = std::filesystem;
namespace wb = cds::service::workbench;

fs::path written_history(std::string const& text) {
    auto const folder = fs::temp_directory_path() / "magnesium-cds-history-test";
    fs::create_directories(folder);
    std::ofstream(folder / "history.json") << text;
    return folder / "history.json";
}

// One card of `indicator` about the same magnesium result on every call, with a new uuid.
wb::request_evaluator one_card(std::string indicator, int& calls) {
    return [indicator, &calls](std::string const&, cds::fhir::instant) {
        ++calls;
        boost::json::object card{
            {"uuid", "00000000-0000-4000-8000-00000000000" + std::to_string(calls)},
            {"summary", "Mg 1.5 mg/dL"},
            {"indicator", indicator},
            {"source", {{"label", "x"}, {"topic", {{"code", "hypomagnesemia"}}}}},
            {"overrideReasons",
             boost::json::array{{{"system", "s"}, {"code", "patient-declined"}, {"display", "d"}}}},
            {"extension",
             {{"magnesium-cds",
               {{"evidence", boost::json::array{{{"reference", "Observation/mg-1"}}}}}}}}};
        return wb::evaluated_request{
            200, boost::json::serialize(boost::json::object{{"cards", boost::json::array{card}}})};
    };
}

std::size_t cards_after(std::string const& history_text, std::string const& indicator) {
    auto const read = wb::read_history(written_history(history_text));
    REQUIRE(read.problems.empty());
    int calls = 0;
    auto const now = cds::fhir::parse_date_time("2026-03-10T09:00:00Z").value->start;
    auto const body = R"({"hook":"patient-view","context":{"patientId":"p1"}})";
    auto const replayed = wb::evaluate_after_history(*read.history, body, now,
                                                     *cds::service::testing::bundled_rules(),
                                                     one_card(indicator, calls));
    CHECK(replayed.problems.empty());
    CHECK(calls == 2);
    return boost::json::parse(replayed.response.body).at("cards").as_array().size();
}

}  // namespace

TEST_CASE("history durations: days, hours and minutes of ISO 8601, nothing else") {
    CHECK(wb::parse_history_duration("PT2H") == std::chrono::seconds{2h});
    CHECK(wb::parse_history_duration("P3D") == std::chrono::seconds{72h});
    CHECK(wb::parse_history_duration("P1DT6H30M") == std::chrono::seconds{30h + 30min});
    for (auto const bad : {"", "P", "PT", "2 hours", "P2H", "PT3D", "-PT2H", "PT2", "P1W"})
        CHECK_MESSAGE(!wb::parse_history_duration(bad), bad);
}

TEST_CASE("history: every problem named with its entry and field") {
    auto const read = wb::read_history(written_history(
        R"({"description":"d","feedback":[{"ago":"2 hours","rule":"r","reson":"x"},{"ago":"PT1H"},)"
        R"({"ago":"PT1H","rule":"r","outcome":"accepted","reason":"x"}]})"));
    CHECK(!read.history);
    std::string all;
    for (auto const& p : read.problems) all += p + "\n";
    CHECK(all.find("feedback[0].ago: '2 hours'") != std::string::npos);
    CHECK(all.find("feedback[0]: unknown key 'reson'") != std::string::npos);
    CHECK(all.find("feedback[1].rule: required") != std::string::npos);
    CHECK(all.find("feedback[2].reason: only an overridden card") != std::string::npos);
}

TEST_CASE("history replay: the service's snooze periods by indicator, critical never") {
    auto const overridden = [](std::string const& ago) {
        return R"({"description":"d","feedback":[{"ago":")" + ago +
               R"(","rule":"hypomagnesemia","reason":"patient-declined"}]})";
    };
    CHECK(cards_after(overridden("PT2H"), "warning") == 0);
    CHECK(cards_after(overridden("PT25H"), "warning") == 1);
    CHECK(cards_after(overridden("P6D"), "info") == 0);
    CHECK(cards_after(overridden("P8D"), "info") == 1);
    CHECK(cards_after(overridden("PT1H"), "critical") == 1);
    CHECK(cards_after(R"({"description":"d","feedback":[{"ago":"PT1H","rule":"hypomagnesemia",)"
                      R"("outcome":"accepted"}]})",
                      "warning") == 1);
}

TEST_CASE("history replay: a reason the card does not offer, or a rule without a card, is said") {
    int calls = 0;
    auto const now = cds::fhir::parse_date_time("2026-03-10T09:00:00Z").value->start;
    auto const read = wb::read_history(written_history(
        R"({"description":"d","feedback":[{"ago":"PT1H","rule":"hypomagnesemia","reason":"nope"},)"
        R"({"ago":"PT2H","rule":"digoxin-with-hypomagnesemia"}]})"));
    REQUIRE(read.history);
    auto const replayed = wb::evaluate_after_history(
        *read.history, R"({"context":{"patientId":"p1"}})", now,
        *cds::service::testing::bundled_rules(), one_card("warning", calls));
    REQUIRE(replayed.problems.size() == 2);
    CHECK(replayed.problems[0].find("feedback[1].rule") != std::string::npos);
    CHECK(replayed.problems[1].find("feedback[0].reason: 'nope'") != std::string::npos);
}
