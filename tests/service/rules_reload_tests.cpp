// Replacing the served rule set (current_rules, rules_reloader): what the endpoints and the
// feedback seam show after a replace, that a snapshot taken before it keeps its rules, that
// the metrics label the reloaded rule set's services, and that an invalid or missing rule file
// changes nothing.

#include <atomic>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include <unistd.h>

#include <doctest/doctest.h>
#include <boost/json.hpp>

#include "cds/rules/rule_set.hpp"
#include "cds/service/cds/rules_reload.hpp"
#include "cds/service/http/router.hpp"
#include "support.hpp"

namespace cds::service {
namespace {

using namespace testing;
using namespace std::chrono_literals;

// The bundled rule file with another version and another title for the first service.
std::string bundled_with(std::string const& version, std::string const& first_title) {
    auto document = boost::json::parse(rules::bundled_rule_set_json()).as_object();
    document["version"] = version;
    document["services"].as_array().at(0).as_object()["title"] = first_title;
    return boost::json::serialize(document);
}

std::shared_ptr<rules::rule_set const> load_or_fail(std::string const& text) {
    auto loaded = rules::load_rule_set(text);
    REQUIRE(loaded.problems.empty());
    return loaded.rules;
}

std::string readiness_version(service_state const& state) {
    auto const ready = handle_request_blocking(get("/readyz"), state);
    REQUIRE(ready.status == 200);
    return std::string{parse(ready.body).at("ruleSet").at("version").as_string()};
}

void write_file(std::filesystem::path const& path, std::string const& text) {
    std::ofstream out(path, std::ios::binary | std::ios::trunc);
    out << text;
    REQUIRE(out.good());
}

// The bundled rule file with one more service: the first one's copy under `id`. (A reload
// cannot add or rename a rule id: the loader refuses any the build's registry lacks.)
std::string bundled_with_service_copy(std::string const& id) {
    auto document = boost::json::parse(rules::bundled_rule_set_json()).as_object();
    auto& services = document["services"].as_array();
    auto copy = services.at(0).as_object();
    copy["id"] = id;
    services.push_back(copy);
    return boost::json::serialize(document);
}

std::vector<std::string> request_count_lines(service_state const& state) {
    auto const response = handle_request_blocking(get("/metrics"), state);
    REQUIRE(response.status == 200);
    std::vector<std::string> out;
    std::istringstream in(response.body);
    for (std::string line; std::getline(in, line);) {
        if (line.rfind("magnesium_cds_http_requests_total{", 0) == 0) out.push_back(line);
    }
    return out;
}

TEST_CASE("a replaced rule set is what readiness, discovery, cards and feedback show") {
    auto state = make_state();
    auto sink = std::make_shared<recording_sink>();
    state.feedback = sink;
    std::string const old_version = bundled_rules()->version();
    auto const taken_before = state.rules.snapshot();

    state.rules.replace(load_or_fail(bundled_with("9.8.7-test", "A renamed service")));

    CHECK(readiness_version(state) == "9.8.7-test");
    auto const discovery = handle_request_blocking(get("/cds-services"), state);
    CHECK(discovery.body.find("A renamed service") != std::string::npos);
    auto const cards = handle_request_blocking(
        post("/cds-services/magnesium-patient-view",
             boost::json::serialize(fixture_request("patient-view-severe.json"))),
        state);
    REQUIRE(cards.status == 200);
    auto const cards_body = parse(cards.body);
    REQUIRE_FALSE(cards_body.at("cards").as_array().empty());
    for (auto const& card : cards_body.at("cards").as_array()) {
        CHECK(card.at("source").at("topic").at("version").as_string() == "9.8.7-test");
    }
    auto const feedback = handle_request_blocking(
        post(
            "/cds-services/magnesium-patient-view/feedback",
            R"({"feedback":[{"card":"c1","outcome":"overridden","outcomeTimestamp":"2026-03-10T09:01:00Z"}]})"),
        state);
    CHECK(feedback.status == 200);
    REQUIRE(sink->received.size() == 1);
    CHECK(sink->received[0].second.at(0).rule_set.version == "9.8.7-test");
    CHECK(sink->received[0].second.at(0).rule_set.id == bundled_rules()->id());

    // A call that took its snapshot before the replace still has the rules and discovery it began
    // with.
    CHECK(taken_before->rules->version() == old_version);
    CHECK(taken_before->discovery_body.find("A renamed service") == std::string::npos);
}

TEST_CASE(
    "rules_reloader: a valid file replaces the rules; an invalid or missing one changes nothing") {
    auto const state = make_state();
    auto const directory = std::filesystem::temp_directory_path() /
                           ("magnesium-cds-reload-" + std::to_string(::getpid()));
    std::filesystem::create_directories(directory);
    auto const file = directory / "rules.json";
    write_file(file, bundled_with("2.0.0-test", "Renamed"));
    rules_reloader reloader({file.string(), std::nullopt}, state);

    CHECK(reloader.reload("test"));
    CHECK(readiness_version(state) == "2.0.0-test");

    write_file(file, bundled_with("3.0.0-test", "Renamed").substr(0, 100));  // cut short
    CHECK_FALSE(reloader.reload("test"));
    CHECK(readiness_version(state) == "2.0.0-test");

    auto without_rule = boost::json::parse(bundled_with("3.0.0-test", "Renamed")).as_object();
    without_rule["rules"].as_object().erase("hypomagnesemia");
    write_file(file, boost::json::serialize(without_rule));
    CHECK_FALSE(reloader.reload("test"));
    CHECK(readiness_version(state) == "2.0.0-test");

    std::filesystem::remove_all(directory);
    CHECK_FALSE(reloader.reload("test"));
    CHECK(readiness_version(state) == "2.0.0-test");
}

TEST_CASE("rules_reloader: the metrics label a service the reloaded rules add; counts stay") {
    auto state = make_state();
    state.metrics = std::make_shared<ops::service_metrics>(*state.rules.get());
    auto const directory = std::filesystem::temp_directory_path() /
                           ("magnesium-cds-reload-metrics-" + std::to_string(::getpid()));
    std::filesystem::create_directories(directory);
    auto const file = directory / "rules.json";
    write_file(file, bundled_with_service_copy("magnesium-patient-view-copy"));
    rules_reloader reloader({file.string(), std::nullopt}, state);
    state.metrics->record_request("/cds-services/{id}", "magnesium-patient-view", 200, 1ms);

    REQUIRE(reloader.reload("test"));
    state.metrics->record_request("/cds-services/{id}", "magnesium-patient-view-copy", 200, 1ms);
    state.metrics->record_request("/cds-services/{id}", "magnesium-patient-view", 200, 1ms);

    CHECK(
        request_count_lines(state) ==
        std::vector<std::string>{
            R"(magnesium_cds_http_requests_total{route="/cds-services/{id}",service="magnesium-patient-view",hook="patient-view",status="200"} 2)",
            R"(magnesium_cds_http_requests_total{route="/cds-services/{id}",service="magnesium-patient-view-copy",hook="patient-view",status="200"} 1)",
        });
    std::filesystem::remove_all(directory);
}

// Run under ThreadSanitizer (deploy/thread-sanitizer.sh): relabelling publishes a new label
// table while requests read the current one.
TEST_CASE("metrics: relabelling while requests record loses no count") {
    auto const state = make_state();
    ops::service_metrics metrics(*state.rules.get());
    auto const with_copy = load_or_fail(bundled_with_service_copy("magnesium-patient-view-copy"));
    auto const rule_id = state.rules->rule_ids().front();
    boost::json::array const cards{boost::json::value{
        {"indicator", "info"}, {"extension", {{"magnesium-cds", {{"ruleId", rule_id}}}}}}};
    constexpr int per_thread = 2000;
    std::atomic<bool> go{false};
    std::vector<std::thread> recorders;
    for (int t = 0; t < 2; ++t) {
        recorders.emplace_back([&] {
            while (!go.load()) std::this_thread::yield();
            for (int i = 0; i < per_thread; ++i) {
                metrics.record_request("/cds-services/{id}", "magnesium-patient-view-copy", 200,
                                       1ms);
                metrics.record_cards(cards);
            }
        });
    }
    go.store(true);
    for (int i = 0; i < 50; ++i) metrics.relabel(i % 2 == 0 ? *with_copy : *state.rules.get());
    for (auto& recorder : recorders) recorder.join();
    metrics.relabel(*with_copy);

    auto const text = metrics.render(state);
    auto const count_of = [&text](std::string const& series) {
        auto const at = text.find(series + " ");
        return at == std::string::npos ? std::string{"absent"}
                                       : text.substr(at + series.size() + 1,
                                                     text.find('\n', at) - at - series.size() - 1);
    };
    auto const copy_200 = count_of(
        R"(magnesium_cds_http_requests_total{route="/cds-services/{id}",service="magnesium-patient-view-copy",hook="patient-view",status="200"})");
    auto const unknown_200 = count_of(
        R"(magnesium_cds_http_requests_total{route="/cds-services/{id}",service="unknown",hook="unknown",status="200"})");
    auto const as_number = [](std::string const& count) {
        return count == "absent" ? 0 : std::stoi(count);
    };
    CHECK(as_number(copy_200) + as_number(unknown_200) == 2 * per_thread);
    CHECK(count_of("magnesium_cds_cards_total{rule=\"" + rule_id + "\",indicator=\"info\"}") ==
          std::to_string(2 * per_thread));
}

TEST_CASE("rule file signature: changes with the content's size, absent for a missing file") {
    auto const directory = std::filesystem::temp_directory_path() /
                           ("magnesium-cds-signature-" + std::to_string(::getpid()));
    std::filesystem::create_directories(directory);
    auto const file = directory / "rules.json";
    CHECK_FALSE(read_rule_file_signature(file.string()).exists);
    write_file(file, "{}");
    auto const first = read_rule_file_signature(file.string());
    CHECK(first.exists);
    CHECK(first.size == 2);
    write_file(file, "{ }");
    CHECK(read_rule_file_signature(file.string()) != first);
    std::filesystem::remove_all(directory);
}

}  // namespace
}  // namespace cds::service
