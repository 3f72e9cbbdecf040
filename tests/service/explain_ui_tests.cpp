// Explain (`?explain=true`) and the card viewer's routes through the router without sockets:
// never explained by default, refused unless enabled, compare rules only for the viewer.

#include <doctest/doctest.h>

#include "cds/service/http/router.hpp"
#include "support.hpp"

namespace cds::service {
namespace {

using namespace testing;

std::string severe_request() {
    return read_text(std::string{CDS_FIXTURES_DIR} + "/requests/patient-view-severe.json");
}

http_response call(http_request request, service_state const& state) {
    return handle_request_blocking(std::move(request), state);
}

http_request from_viewer(http_request request) {
    request.headers.emplace_back("X-Card-Viewer", "1");
    return request;
}

TEST_CASE("explain is never in a response by default and refused when not enabled") {
    auto const state = make_state();
    auto const plain = call(post("/cds-services/magnesium-patient-view", severe_request()), state);
    REQUIRE(plain.status == 200);
    CHECK_FALSE(parse(plain.body).as_object().contains("explain"));

    auto const refused =
        call(post("/cds-services/magnesium-patient-view?explain=true", severe_request()), state);
    CHECK(refused.status == 400);
    CHECK(diagnostics_of(refused).find("--enable-explain") != std::string::npos);
    // The viewer's header means nothing while the viewer is off.
    auto const viewer = call(
        from_viewer(post("/cds-services/magnesium-patient-view?explain=true", severe_request())),
        state);
    CHECK(viewer.status == 400);
    auto const bad_value =
        call(post("/cds-services/magnesium-patient-view?explain=yes", severe_request()), state);
    CHECK(bad_value.status == 400);
}

TEST_CASE("with explain enabled the trace comes with the cards, in the documented shape") {
    auto state = make_state();
    state.explain_enabled = true;
    auto const response =
        call(post("/cds-services/magnesium-patient-view?explain=true", severe_request()), state);
    REQUIRE(response.status == 200);
    auto const document = parse(response.body).as_object();
    CHECK_FALSE(document.at("cards").as_array().empty());
    auto const& explain = document.at("explain").as_object();
    CHECK(explain.at("ruleSetId").as_string() == bundled_rules()->id());
    CHECK(explain.at("ruleSetVersion").as_string() == bundled_rules()->version());
    CHECK(explain.at("layout").as_string() == "magnesium-cds-explain/2");
    CHECK(explain.at("hook").as_string() == "patient-view");
    CHECK(explain.at("evaluatedAt").is_string());
    auto const& entries = explain.at("entries").as_array();
    REQUIRE_FALSE(entries.empty());
    bool rule_fired = false;
    for (auto const& entry : entries) {
        auto const& e = entry.as_object();
        for (auto const* member : {"rule", "subject", "message", "section", "decision"})
            CHECK_MESSAGE(e.at(member).is_string(), member);
        rule_fired = rule_fired || (e.at("decision").as_string() == "fired" &&
                                    e.at("compared").as_array().size() > 0);
    }
    CHECK(rule_fired);
    auto const off =
        call(post("/cds-services/magnesium-patient-view?explain=false", severe_request()), state);
    REQUIRE(off.status == 200);
    CHECK_FALSE(parse(off.body).as_object().contains("explain"));
}

TEST_CASE("the card viewer is 404 unless enabled; its files and configuration are public GETs") {
    auto state = make_state();
    CHECK(call(get("/ui"), state).status == 404);
    CHECK(call(get("/ui/app.js"), state).status == 404);

    state.ui_enabled = true;
    auto const page = call(get("/ui"), state);
    REQUIRE(page.status == 200);
    CHECK(page.content_type.starts_with("text/html"));
    CHECK(page.body.find("/ui/app.js") != std::string::npos);
    CHECK(page.header("Content-Security-Policy").find("script-src 'self'") != std::string::npos);
    CHECK(call(get("/ui/"), state).body == page.body);
    CHECK(call(get("/ui/style.css"), state).content_type.starts_with("text/css"));
    auto const scenarios = call(get("/ui/scenarios.json"), state);
    REQUIRE(scenarios.status == 200);
    auto const document = parse(scenarios.body);
    auto const& library = document.at("scenarios").as_array();
    CHECK(library.size() > 100);
    CHECK(library[0].at("request").at("hook").is_string());
    CHECK(library[0].at("expected").at("description").is_string());
    CHECK(call(get("/ui/nothing.js"), state).status == 404);
    CHECK(call(get("/ui/a/b"), state).status == 404);
    CHECK(call(post("/ui", "{}"), state).status == 405);
    auto const config = parse(call(get("/ui/config.json"), state).body).as_object();
    CHECK(config.at("fixedNow").is_null());
    CHECK(config.at("compareRules").as_array().empty());
}

TEST_CASE(
    "the viewer's compare calls evaluate under a --ui-rules set, by name, and only from the "
    "viewer") {
    auto state = make_state();
    auto modified = rules::load_rule_set([] {
        auto text = std::string{rules::bundled_rule_set_json()};
        auto const at = text.find("\"version\": \"");
        REQUIRE(at != std::string::npos);
        text.insert(text.find('"', at + 12), "-candidate");
        return text;
    }());
    REQUIRE(modified.rules);
    std::string const modified_version = modified.rules->version();
    state.ui_rules.emplace("candidate.json", modified.rules);
    auto const target =
        std::string{"/cds-services/magnesium-patient-view?explain=true&rules=candidate.json"};

    CHECK(call(from_viewer(post(target, severe_request())), state).status == 400);  // viewer off
    state.ui_enabled = true;
    CHECK(call(post(target, severe_request()), state).status == 400);  // not from the viewer
    auto const unknown =
        call(from_viewer(
                 post("/cds-services/magnesium-patient-view?rules=other.json", severe_request())),
             state);
    CHECK(unknown.status == 400);

    auto const compared = call(from_viewer(post(target, severe_request())), state);
    REQUIRE(compared.status == 200);
    CHECK(parse(compared.body).at("explain").at("ruleSetVersion").as_string() == modified_version);
    auto const loaded = call(
        from_viewer(post("/cds-services/magnesium-patient-view?explain=true", severe_request())),
        state);
    REQUIRE(loaded.status == 200);
    CHECK(parse(loaded.body).at("explain").at("ruleSetVersion").as_string() ==
          bundled_rules()->version());
}

}  // namespace
}  // namespace cds::service
