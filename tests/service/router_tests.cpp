// The router end to end without sockets: every endpoint, every error status it produces,
// CORS on every response, the authentication and feedback seams, and the fetch path.

#include <stdlib.h>

#include <algorithm>
#include <exception>
#include <optional>
#include <set>

#include <doctest/doctest.h>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>

#include "cds/service/http/bench_stage_stops.hpp"
#include "cds/service/http/router.hpp"
#include "support.hpp"

namespace cds::service {
namespace {

using namespace testing;

http_response call(http_request request, service_state const& state) {
    return handle_request_blocking(std::move(request), state);
}

request_admission admit(http_request const& head, service_state const& state) {
    boost::asio::io_context io;
    std::optional<request_admission> admission;
    boost::asio::co_spawn(io, admit_request(head, state),
                          [&](std::exception_ptr e, request_admission a) {
                              REQUIRE_FALSE(e);
                              admission = std::move(a);
                          });
    io.run();
    REQUIRE(admission.has_value());
    return std::move(*admission);
}

std::string body_of(std::string const& fixture) {
    return read_text(std::string{CDS_FIXTURES_DIR} + "/requests/" + fixture);
}

TEST_CASE("discovery is generated from the rule set's services") {
    auto const state = make_state();
    auto const response = call(get("/cds-services"), state);
    REQUIRE(response.status == 200);
    CHECK(response.content_type == "application/json");
    auto const document = parse(response.body);
    auto const& services = document.at("services").as_array();
    auto const& expected = bundled_rules()->services();
    REQUIRE(services.size() == expected.size());
    std::set<std::string> hooks;
    for (std::size_t i = 0; i < expected.size(); ++i) {
        CAPTURE(expected[i].id);
        auto const& s = services[i].as_object();
        CHECK(s.at("id").as_string() == expected[i].id);
        CHECK(s.at("hook").as_string() == expected[i].hook);
        CHECK(s.at("description").as_string() == expected[i].description);
        if (!expected[i].title.empty()) CHECK(s.at("title").as_string() == expected[i].title);
        auto const& prefetch = s.at("prefetch").as_object();
        CHECK(prefetch.size() == expected[i].prefetch.size());
        for (auto const& t : expected[i].prefetch) CHECK(prefetch.at(t.key).as_string() == t.query);
        hooks.insert(std::string{s.at("hook").as_string()});
    }
    CHECK(hooks == std::set<std::string>{"patient-view", "order-select", "order-sign"});
}

TEST_CASE("a hook call answers cards, the same ones on every call apart from uuids") {
    auto const state = make_state();
    auto const first = call(
        post("/cds-services/magnesium-patient-view", body_of("patient-view-severe.json")), state);
    REQUIRE(first.status == 200);
    CHECK(first.content_type == "application/json");
    CHECK(first.log.service_id == "magnesium-patient-view");
    auto const cards = parse(first.body).at("cards").as_array();
    REQUIRE_FALSE(cards.empty());
    CHECK(first.log.card_count == static_cast<int>(cards.size()));
    CHECK(cards[0].at("indicator").as_string() == "critical");
    CHECK(cards[0].at("uuid").as_string().starts_with("uuid-"));
    // Compact, no pretty-printing.
    CHECK(first.body.find("\n") == std::string::npos);

    auto const second = call(
        post("/cds-services/magnesium-patient-view", body_of("patient-view-severe.json")), state);
    CHECK(without_uuids(parse(first.body)) == without_uuids(parse(second.body)));
}

// In a stage-stops build (benchmark only) the variable is read once and kept for the process,
// so this test would change what every later test sees; it is compiled only in other builds.
#if !defined(CDS_BENCH_STAGE_STOPS)
TEST_CASE("outside a benchmark build, no setting makes a hook call stop before its rules") {
    static_assert(bench_stop_chosen() == bench_stop::none);
    auto const state = make_state();
    for (char const* stage : {"received", "tokenized", "read"}) {
        CAPTURE(stage);
        ::setenv("CDS_BENCH_STOP_AFTER", stage, 1);
        auto const r =
            call(post("/cds-services/magnesium-patient-view", body_of("patient-view-severe.json")),
                 state);
        ::unsetenv("CDS_BENCH_STOP_AFTER");
        REQUIRE(r.status == 200);
        CHECK_FALSE(parse(r.body).at("cards").as_array().empty());
    }
}
#endif

TEST_CASE("the sandbox's bare draft gives an empty card list") {
    auto const state = make_state();
    auto const r = call(post("/cds-services/magnesium-order-select",
                             body_of("sandbox-order-select-bare-draft.json")),
                        state);
    CHECK(r.status == 200);
    CHECK(r.body == R"({"cards":[]})");
}

TEST_CASE("error statuses carry an OperationOutcome that says what and where") {
    auto const state = make_state();
    auto const severe = body_of("patient-view-severe.json");

    SUBCASE("404 unknown service") {
        auto const r = call(post("/cds-services/no-such-service", severe), state);
        CHECK(r.status == 404);
        CHECK(parse(r.body).at("resourceType").as_string() == "OperationOutcome");
        CHECK(r.body.find("unknown-service") != std::string::npos);
        CHECK(r.log.service_id.empty());  // ids that do not exist are never logged
    }
    SUBCASE("404 unknown path, without echoing the path") {
        auto const r = call(get("/Patient/pat-20407"), state);
        CHECK(r.status == 404);
        CHECK(r.body.find("pat-20407") == std::string::npos);
        CHECK(r.log.route == "(unknown)");
    }
    SUBCASE("405 with Allow") {
        auto r = call(get("/cds-services/magnesium-patient-view"), state);
        CHECK(r.status == 405);
        CHECK(r.header("Allow") == "POST, OPTIONS");
        auto const d = call(post("/cds-services", "{}"), state);
        CHECK(d.status == 405);
        CHECK(d.header("Allow") == "GET, OPTIONS");
        auto del = get("/healthz");
        del.method = "DELETE";
        CHECK(call(del, state).status == 405);
    }
    SUBCASE("415 not JSON") {
        CHECK(call(post("/cds-services/magnesium-patient-view", severe, "text/plain"), state)
                  .status == 415);
        CHECK(call(post("/cds-services/magnesium-patient-view", severe, ""), state).status == 415);
        CHECK(call(post("/cds-services/magnesium-patient-view", severe,
                        "application/json; charset=utf-8"),
                   state)
                  .status == 200);
    }
    SUBCASE("400 malformed JSON") {
        auto const r = call(
            post("/cds-services/magnesium-patient-view", R"({"hook": "patient-view",)"), state);
        CHECK(r.status == 400);
        CHECK(r.body.find("malformed-json") != std::string::npos);
    }
    SUBCASE("400 deeply nested JSON") {
        std::string deep = R"({"hook":"patient-view","hookInstance":"x","context":)";
        for (int i = 0; i < 10000; ++i) deep += "{\"a\":";
        deep += "1";
        for (int i = 0; i < 10000; ++i) deep += "}";
        deep += "}";
        auto const r = call(post("/cds-services/magnesium-patient-view", deep), state);
        CHECK(r.status == 400);
        CHECK(r.body.find("json-too-deep") != std::string::npos);
    }
    SUBCASE("400 schema violation names the field") {
        auto body = fixture_request("patient-view-severe.json");
        body.erase("hookInstance");
        auto const r =
            call(post("/cds-services/magnesium-patient-view", boost::json::serialize(body)), state);
        CHECK(r.status == 400);
        CHECK(expression_of(r) == "hookInstance");
        CHECK(diagnostics_of(r) == "hookInstance is required");
    }
    SUBCASE("400 context field missing for the hook") {
        auto body = fixture_request("order-select-furosemide-low-mg.json");
        body["context"].as_object().erase("draftOrders");
        auto const r =
            call(post("/cds-services/magnesium-order-select", boost::json::serialize(body)), state);
        CHECK(r.status == 400);
        CHECK(expression_of(r) == "context.draftOrders");
    }
    SUBCASE("400 hook mismatch") {
        auto const r = call(post("/cds-services/magnesium-order-sign", severe), state);
        CHECK(r.status == 400);
        CHECK(expression_of(r) == "hook");
        CHECK(diagnostics_of(r).find("order-sign") != std::string::npos);
    }
    SUBCASE("412 required data neither prefetched nor obtainable") {
        auto body = fixture_request("patient-view-severe.json");
        body["prefetch"].as_object().erase("magnesium");
        auto const r =
            call(post("/cds-services/magnesium-patient-view", boost::json::serialize(body)), state);
        CHECK(r.status == 412);
        CHECK(expression_of(r) == "prefetch.magnesium");
        CHECK(diagnostics_of(r).find("magnesium") != std::string::npos);
        CHECK(r.body.find("required-data-unavailable") != std::string::npos);
    }
    SUBCASE("400 invalid request target") {
        auto r = get("http://example.org/healthz");
        CHECK(call(r, state).status == 400);
    }
}

TEST_CASE("optional data missing is evaluated around, not refused") {
    auto const state = make_state();
    auto body = fixture_request("patient-view-severe.json");
    auto& prefetch = body["prefetch"].as_object();
    for (auto const* key :
         {"renal", "electrolytes", "conditions", "medication_requests", "medication_statements"}) {
        prefetch.erase(key);
    }
    auto const r =
        call(post("/cds-services/magnesium-patient-view", boost::json::serialize(body)), state);
    CHECK(r.status == 200);
    CHECK_FALSE(parse(r.body).at("cards").as_array().empty());
}

TEST_CASE("null for the required key means no results: evaluated, not refused") {
    auto const state = make_state();
    auto body = fixture_request("patient-view-severe.json");
    body["prefetch"].as_object()["magnesium"] = nullptr;
    auto const r =
        call(post("/cds-services/magnesium-patient-view", boost::json::serialize(body)), state);
    CHECK(r.status == 200);
}

TEST_CASE("absent prefetch is fetched through the fetcher; fetched data gives the same cards") {
    auto state = make_state();
    auto fetcher = std::make_shared<recording_fetcher>();
    state.fetcher = fetcher;

    auto full = fixture_request("patient-view-severe.json");
    auto const expected =
        call(post("/cds-services/magnesium-patient-view", boost::json::serialize(full)), state);
    REQUIRE(expected.status == 200);
    CHECK(fetcher->calls.empty());

    auto partial = full;
    partial["fhirServer"] = "https://ehr.example/fhir";
    auto& prefetch = partial["prefetch"].as_object();
    fetcher->answer.results["magnesium"] = prefetch["magnesium"];
    fetcher->answer.results["renal"] = prefetch["renal"];
    prefetch.erase("magnesium");
    prefetch.erase("renal");
    prefetch["qtc"] = nullptr;  // nothing exists: must not be fetched
    full["prefetch"].as_object()["qtc"] = nullptr;
    auto const with_null_qtc =
        call(post("/cds-services/magnesium-patient-view", boost::json::serialize(full)), state);

    auto const fetched =
        call(post("/cds-services/magnesium-patient-view", boost::json::serialize(partial)), state);
    REQUIRE(fetcher->calls.size() == 1);
    std::vector<std::string> keys;
    for (auto const& q : fetcher->calls[0].queries) keys.push_back(q.key);
    CHECK(keys == std::vector<std::string>{"magnesium", "renal"});
    CHECK(fetched.status == 200);
    CHECK(without_uuids(parse(fetched.body)) == without_uuids(parse(with_null_qtc.body)));

    SUBCASE("a required key the server could not deliver gives 412 with the fetcher's reason") {
        fetcher->answer.results.erase("magnesium");
        fetcher->answer.failures["magnesium"] = "the FHIR server did not answer within 2000 ms";
        auto const r = call(
            post("/cds-services/magnesium-patient-view", boost::json::serialize(partial)), state);
        CHECK(r.status == 412);
        CHECK(diagnostics_of(r).find("did not answer within 2000 ms") != std::string::npos);
    }
    SUBCASE(
        "optional keys that failed as well are listed in the 412 as warnings, after the required "
        "key") {
        fetcher->answer.results.clear();
        fetcher->answer.failures["magnesium"] = "the FHIR server did not answer within 2000 ms";
        fetcher->answer.failures["renal"] = "the FHIR server did not answer within 2000 ms";
        auto const r = call(
            post("/cds-services/magnesium-patient-view", boost::json::serialize(partial)), state);
        CHECK(r.status == 412);
        auto const issues = parse(r.body).at("issue").as_array();
        REQUIRE(issues.size() == 2);
        CHECK(issues[0].at("severity") == "error");
        CHECK(issues[0].at("expression").as_array()[0] == "prefetch.magnesium");
        CHECK(issues[1].at("severity") == "warning");
        CHECK(issues[1].at("expression").as_array()[0] == "prefetch.renal");
        CHECK(issues[1].at("diagnostics") ==
              "optional data 'renal' (creatinine or eGFR) is unavailable too: the FHIR server did "
              "not answer within "
              "2000 ms");
    }
}

TEST_CASE("CORS: every response carries Access-Control-Allow-Origin") {
    auto const state = make_state();
    std::vector<http_request> requests{
        get("/cds-services"),
        get("/healthz"),
        get("/readyz"),
        get("/nowhere"),
        get("/cds-services/magnesium-patient-view"),
        post("/cds-services/magnesium-patient-view", "{"),
        post("/cds-services/magnesium-patient-view", "{}", "text/plain"),
        post("/cds-services/unknown", "{}"),
        post("/cds-services/magnesium-patient-view/feedback", "{}"),
        post("/cds-services/magnesium-patient-view", body_of("patient-view-severe.json")),
    };
    auto preflight = get("/cds-services/magnesium-patient-view");
    preflight.method = "OPTIONS";
    requests.push_back(preflight);
    for (auto& r : requests) {
        CAPTURE(r.method);
        CAPTURE(r.target);
        r.headers.emplace_back("Origin", "https://sandbox.cds-hooks.org");
        auto const response = call(r, state);
        CHECK(response.header("Access-Control-Allow-Origin") == "*");
    }
}

TEST_CASE("CORS preflight on any path") {
    auto const state = make_state();
    for (auto const* path : {"/cds-services", "/cds-services/magnesium-order-sign",
                             "/cds-services/x/feedback", "/other"}) {
        CAPTURE(path);
        auto r = get(path);
        r.method = "OPTIONS";
        r.headers = {{"Origin", "https://sandbox.cds-hooks.org"},
                     {"Access-Control-Request-Method", "POST"},
                     {"Access-Control-Request-Headers", "authorization,content-type"}};
        auto const response = call(r, state);
        CHECK(response.status == 204);
        CHECK(response.body.empty());
        CHECK(response.header("Access-Control-Allow-Origin") == "*");
        CHECK(response.header("Access-Control-Allow-Methods").find("POST") !=
              std::string_view::npos);
        CHECK(response.header("Access-Control-Allow-Headers") == "Authorization, Content-Type");
        CHECK(response.header("Access-Control-Max-Age") == "86400");
    }
}

TEST_CASE("CORS with configured origins echoes a listed origin and varies on Origin") {
    cors_policy cors;
    cors.allowed_origins = {"https://ehr.example", "https://sandbox.cds-hooks.org"};
    cors.max_age = std::chrono::seconds{600};
    auto const state = make_state({}, cors);
    auto r = get("/healthz");
    r.headers.emplace_back("Origin", "https://sandbox.cds-hooks.org");
    auto const listed = call(r, state);
    CHECK(listed.header("Access-Control-Allow-Origin") == "https://sandbox.cds-hooks.org");
    CHECK(listed.header("Vary") == "Origin");
    r.headers = {{"Origin", "https://evil.example"}};
    CHECK(call(r, state).header("Access-Control-Allow-Origin") == "https://ehr.example");
    r.method = "OPTIONS";
    CHECK(call(r, state).header("Access-Control-Max-Age") == "600");
}

TEST_CASE("health and readiness") {
    auto const state = make_state();
    auto const health = call(get("/healthz"), state);
    CHECK(health.status == 200);
    auto const ready = call(get("/readyz"), state);
    CHECK(ready.status == 200);
    CHECK(parse(ready.body).at("ruleSet").at("id").as_string() == bundled_rules()->id());

    auto not_ready = make_state();
    not_ready.rules = nullptr;
    CHECK(call(get("/readyz"), not_ready).status == 503);
    CHECK(call(get("/healthz"), not_ready).status == 200);
}

TEST_CASE("feedback: validated, handed to the sink, answered 200") {
    auto state = make_state();
    auto sink = std::make_shared<recording_sink>();
    state.feedback = sink;
    std::string const target = "/cds-services/magnesium-order-sign/feedback";

    auto const accepted = call(post(target, R"({"feedback":[{"card":"c1","outcome":"accepted",
        "acceptedSuggestions":[{"id":"s1"}],"outcomeTimestamp":"2026-03-10T09:01:00Z"}]})"),
                               state);
    CHECK(accepted.status == 200);
    CHECK(accepted.body.empty());
    CHECK(accepted.log.note == "feedback entries: 1");
    REQUIRE(sink->received.size() == 1);
    CHECK(sink->received[0].first == "magnesium-order-sign");
    CHECK(sink->received[0].second.at(0).accepted_suggestions == std::vector<std::string>{"s1"});

    // The sandbox's override: a Coding without display.
    auto const overridden = call(post(target, R"({"feedback":[{"card":"c1","outcome":"overridden",
        "overrideReason":{"reason":{"code":"r1","system":"http://example.org/reasons"},"userComment":"x"},
        "outcomeTimestamp":"2026-03-10T09:01:00Z"}]})"),
                                 state);
    CHECK(overridden.status == 200);
    REQUIRE(sink->received.size() == 2);
    REQUIRE(sink->received[1].second.at(0).override_reason.has_value());
    CHECK(sink->received[1].second.at(0).override_reason->code == "r1");

    auto const bad_outcome = call(
        post(target, R"({"feedback":[{"card":"c1","outcome":"ignored","outcomeTimestamp":"t"}]})"),
        state);
    CHECK(bad_outcome.status == 400);
    CHECK(expression_of(bad_outcome) == "feedback[0].outcome");

    auto const accepted_without = call(
        post(target, R"({"feedback":[{"card":"c1","outcome":"accepted","outcomeTimestamp":"t"}]})"),
        state);
    CHECK(accepted_without.status == 400);
    CHECK(expression_of(accepted_without) == "feedback[0].acceptedSuggestions");

    CHECK(call(post("/cds-services/nope/feedback", R"({"feedback":[]})"), state).status == 404);
    CHECK(call(post(target, "{}", "text/plain"), state).status == 415);
    CHECK(sink->received.size() == 2);

    sink->accept = false;
    auto const full =
        call(post(target,
                  R"({"feedback":[{"card":"c1","outcome":"overridden","outcomeTimestamp":"t"}]})"),
             state);
    CHECK(full.status == 503);
}

TEST_CASE(
    "authentication seam: every request but a preflight is asked about, by its endpoint kind") {
    auto state = make_state();
    auto refuse = std::make_shared<scripted_authenticator>(false);
    state.authenticator = refuse;

    auto const r = call(
        post("/cds-services/magnesium-patient-view", body_of("patient-view-severe.json")), state);
    CHECK(r.status == 401);
    CHECK(r.body.empty());
    CHECK(r.header("WWW-Authenticate") == "Bearer");
    CHECK(r.header("Access-Control-Allow-Origin") == "*");
    CHECK(r.log.note == "auth: expired");
    CHECK(r.log.service_id == "magnesium-patient-view");

    // An unknown id is a service call too: refused alike, before it is looked up.
    auto const unknown =
        call(post("/cds-services/no-such-service", body_of("patient-view-severe.json")), state);
    CHECK(unknown.status == 401);
    CHECK(unknown.body.empty());
    CHECK(unknown.headers == r.headers);
    CHECK(unknown.log.service_id.empty());

    CHECK(call(post("/cds-services/magnesium-patient-view/feedback", "{}"), state).status == 401);
    CHECK(call(get("/cds-services"), state).status == 401);
    CHECK(call(get("/healthz"), state).status == 401);  // the authenticator's policy decides
    CHECK(call(get("/nowhere"), state).status == 401);
    std::vector<endpoint_kind> const expected{
        endpoint_kind::service_call, endpoint_kind::service_call, endpoint_kind::feedback,
        endpoint_kind::discovery,    endpoint_kind::health,       endpoint_kind::unknown};
    CHECK(refuse->seen == expected);
    REQUIRE(refuse->paths.size() == expected.size());
    CHECK(refuse->paths[0] == "/cds-services/magnesium-patient-view");
    CHECK(refuse->paths[2] == "/cds-services/magnesium-patient-view/feedback");

    auto preflight = get("/cds-services/magnesium-patient-view");
    preflight.method = "OPTIONS";
    CHECK(call(preflight, state).status == 204);
    CHECK(refuse->seen.size() == expected.size());

    state.authenticator = std::make_shared<scripted_authenticator>(true);
    CHECK(call(post("/cds-services/magnesium-patient-view", body_of("patient-view-severe.json")),
               state)
              .status == 200);
    CHECK(call(post("/cds-services/no-such-service", "{}"), state).status == 404);
}

TEST_CASE("admit_request decides from the head alone, before the body is read") {
    auto state = make_state();
    state.authenticator = std::make_shared<scripted_authenticator>(false);
    auto head = post("/cds-services/no-such-service/feedback", "");
    auto const admission = admit(head, state);
    CHECK(admission.route.kind == endpoint_kind::feedback);
    CHECK(admission.route.service_id == "no-such-service");
    REQUIRE(admission.refusal.has_value());
    CHECK(admission.refusal->status == 401);

    state.authenticator = std::make_shared<scripted_authenticator>(true);
    auto const allowed = admit(head, state);
    CHECK_FALSE(allowed.refusal.has_value());
    head.body = R"({"feedback":[]})";
    auto const answer = handle_request_blocking(head, state);
    CHECK(answer.status == 404);  // with a token, the id is looked up
}

}  // namespace
}  // namespace cds::service
