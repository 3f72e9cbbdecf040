// The CDS Hooks protocol pieces on their own: error registry, media types, listen addresses,
// routes, the request schemas, and prefetch resolution (prepare_cds_call / settle_prefetch).

#include <atomic>
#include <set>
#include <thread>
#include <vector>

#include <doctest/doctest.h>

#include "cds/service/cds/cds_call.hpp"
#include "cds/service/cds/errors.hpp"
#include "cds/service/http/http_server.hpp"
#include "support.hpp"

namespace cds::service {
namespace {

using namespace testing;

TEST_CASE("every error code has a status, a unique id, an issue code and a message") {
    std::set<std::string_view> ids;
    int expected_number = 1;
    for (auto code : all_errcs()) {
        CAPTURE(static_cast<int>(code));
        CHECK(static_cast<int>(code) == expected_number++);  // numbers are dense and never reused
        auto const& i = info(code);
        CHECK(i.http_status >= 400);
        CHECK(i.http_status < 600);
        CHECK_FALSE(i.id.empty());
        CHECK_FALSE(i.issue_code.empty());
        CHECK_FALSE(i.message.empty());
        CHECK(ids.insert(i.id).second);
        CHECK(make_error_code(code).message() == std::string{i.message});
    }
    CHECK(info(errc::required_data_unavailable).http_status == 412);
    CHECK(info(errc::headers_too_large).http_status == 431);
    CHECK(info(errc::unsupported_media_type).http_status == 415);
}

TEST_CASE("JSON media types") {
    auto check = [](std::string_view type, bool expected) {
        CAPTURE(type);
        CHECK(is_json_media_type(type) == expected);
    };
    check("application/json", true);
    check("application/json; charset=utf-8", true);
    check("Application/JSON;charset=\"UTF-8\"", true);
    check("application/fhir+json", true);
    check("application/json; charset=iso-8859-1", false);
    check("text/plain", false);
    check("application/x-www-form-urlencoded", false);
    check("", false);
    check("application/jsonx", false);
    check("application/+json", false);
}

TEST_CASE("listen addresses") {
    auto check = [](std::string_view text, std::string host, int port) {
        CAPTURE(text);
        auto parsed = parse_listen_address(text);
        if (port < 0) {
            CHECK_FALSE(parsed.has_value());
            return;
        }
        REQUIRE(parsed.has_value());
        CHECK(parsed->host == host);
        CHECK(parsed->port == port);
    };
    check("127.0.0.1:8080", "127.0.0.1", 8080);
    check("0.0.0.0:0", "0.0.0.0", 0);
    check("[::1]:9000", "::1", 9000);
    check("localhost:65535", "localhost", 65535);
    check("127.0.0.1", "", -1);
    check("127.0.0.1:65536", "", -1);
    check(":8080", "", -1);
    check("127.0.0.1:80x", "", -1);
    check("::1:8080", "", -1);
}

TEST_CASE("routes") {
    auto check = [](std::string_view target, endpoint_kind kind, std::string id = {}) {
        CAPTURE(target);
        auto const r = match_route(target);
        CHECK(r.valid_target);
        CHECK(r.kind == kind);
        CHECK(r.service_id == id);
    };
    check("/cds-services", endpoint_kind::discovery);
    check("/cds-services/", endpoint_kind::discovery);
    check("/cds-services?x=1", endpoint_kind::discovery);
    check("/cds-services/magnesium-patient-view", endpoint_kind::service_call,
          "magnesium-patient-view");
    check("/cds-services/a%20b", endpoint_kind::service_call, "a b");
    check("/cds-services/magnesium-order-sign/feedback", endpoint_kind::feedback,
          "magnesium-order-sign");
    check("/healthz", endpoint_kind::health);
    check("/readyz", endpoint_kind::readiness);
    check("/", endpoint_kind::unknown);
    check("/cds-services/x/y", endpoint_kind::unknown);
    check("/cds-services/x/feedback/more", endpoint_kind::unknown);
    check("/Patient/123", endpoint_kind::unknown);
    CHECK_FALSE(match_route("http://example.org/cds-services").valid_target);
    CHECK_FALSE(match_route("*").valid_target);
}

struct schema_case {
    char const* name;
    char const* body;
    char const* path;         // expected element path
    char const* message_has;  // expected fragment of the message
};

TEST_CASE("the HookRequest schema names the failing field") {
    auto const schemas = load_protocol_schemas();
    schema_case const cases[] = {
        {"missing hookInstance", R"({"hook":"patient-view","context":{}})", "hookInstance",
         "is required"},
        {"missing context", R"({"hook":"patient-view","hookInstance":"x"})", "context",
         "is required"},
        {"hook not a string", R"({"hook":7,"hookInstance":"x","context":{}})", "hook",
         "must be a string"},
        {"context an array", R"({"hook":"h","hookInstance":"x","context":[]})", "context",
         "must be an object"},
        {"prefetch value a string",
         R"({"hook":"h","hookInstance":"x","context":{},"prefetch":{"magnesium":"x"}})",
         "prefetch.magnesium", "must be an object or null"},
        {"fhirAuthorization without fhirServer",
         R"({"hook":"h","hookInstance":"x","context":{},"fhirAuthorization":{"access_token":"t","token_type":"Bearer","expires_in":1,"scope":"s","subject":"c"}})",
         "fhirServer", "is required when fhirAuthorization is present"},
        {"fhirAuthorization without access_token",
         R"({"hook":"h","hookInstance":"x","context":{},"fhirServer":"https://ehr.example/fhir","fhirAuthorization":{"token_type":"Bearer","expires_in":1,"scope":"s","subject":"c"}})",
         "fhirAuthorization.access_token", "is required"},
        {"token_type not Bearer",
         R"({"hook":"h","hookInstance":"x","context":{},"fhirServer":"https://ehr.example/fhir","fhirAuthorization":{"access_token":"t","token_type":"MAC","expires_in":1,"scope":"s","subject":"c"}})",
         "fhirAuthorization.token_type", "Bearer"},
        {"fhirServer not a URL",
         R"({"hook":"h","hookInstance":"x","context":{},"fhirServer":"ftp://x"})", "fhirServer",
         "invalid format"},
        {"empty hookInstance", R"({"hook":"h","hookInstance":"","context":{}})", "hookInstance",
         "must not be empty"},
    };
    for (auto const& c : cases) {
        CAPTURE(c.name);
        auto const v = schemas->request.validate(parse(c.body));
        REQUIRE(v.has_value());
        CHECK(v->path == c.path);
        CHECK(v->message.find(c.message_has) != std::string::npos);
        CHECK(v->message.find(c.path) != std::string::npos);
    }
    // Unknown members and extensions are allowed; null prefetch values are "nothing exists".
    CHECK_FALSE(
        schemas->request
            .validate(parse(R"({"hook":"h","hookInstance":"x","context":{},"extension":{"a":1},
                                       "prefetch":{"magnesium":null},"somethingNew":true})"))
            .has_value());
}

TEST_CASE("the HookRequest schema gives the right answers on several threads at once") {
    // RapidJSON 1.1 keeps a compiled `pattern`'s match state inside the compiled schema; one
    // compiled schema shared by the server threads crashed `serve` when concurrent calls carried
    // a fhirServer (found by tests/e2e/test_fetch_e2e.py). Each validation must use its own.
    auto const schemas = load_protocol_schemas();
    auto const with_server = parse(
        R"({"hook":"h","hookInstance":"x","context":{},"fhirServer":"https://ehr.example/fhir",
            "fhirAuthorization":{"access_token":"t","token_type":"Bearer","expires_in":1,"scope":"s","subject":"c"}})");
    auto const bad_server =
        parse(R"({"hook":"h","hookInstance":"x","context":{},"fhirServer":"ftp://x"})");
    std::atomic<int> wrong{0};
    std::atomic<int> started{0};
    std::vector<std::thread> threads;
    for (int t = 0; t < 4; ++t) {
        threads.emplace_back([&] {
            // Start together, so that the validations overlap as much as the machine allows.
            ++started;
            while (started.load() < 4) std::this_thread::yield();
            for (int i = 0; i < 20000; ++i) {
                if (schemas->request.validate(with_server).has_value()) ++wrong;
                auto const v = schemas->request.validate(bad_server);
                if (!v || v->path != "fhirServer") ++wrong;
            }
        });
    }
    for (auto& thread : threads) thread.join();
    CHECK(wrong.load() == 0);
}

TEST_CASE("the hooks' context schemas name the failing field under context") {
    auto const schemas = load_protocol_schemas();
    struct context_case {
        char const* hook;
        char const* context;
        char const* path;
    };
    context_case const cases[] = {
        {"patient-view", R"({"userId":"Practitioner/1"})", "context.patientId"},
        {"patient-view", R"({"patientId":"p"})", "context.userId"},
        {"patient-view", R"({"userId":"Practitioner/1","patientId":3})", "context.patientId"},
        {"order-select",
         R"({"userId":"u","patientId":"p","draftOrders":{"resourceType":"Bundle"}})",
         "context.selections"},
        {"order-select",
         R"({"userId":"u","patientId":"p","selections":"MedicationRequest/1","draftOrders":{"resourceType":"Bundle"}})",
         "context.selections"},
        {"order-select",
         R"({"userId":"u","patientId":"p","selections":[5],"draftOrders":{"resourceType":"Bundle"}})",
         "context.selections[0]"},
        {"order-select", R"({"userId":"u","patientId":"p","selections":[]})",
         "context.draftOrders"},
        {"order-sign", R"({"userId":"u","patientId":"p","draftOrders":{"resourceType":"Patient"}})",
         "context.draftOrders.resourceType"},
        {"order-sign", R"({"userId":"u","patientId":"p","draftOrders":"none"})",
         "context.draftOrders"},
    };
    for (auto const& c : cases) {
        CAPTURE(c.hook);
        CAPTURE(c.context);
        auto const& schema = schemas->context_by_hook.at(c.hook);
        auto const v = schema.validate(parse(c.context), "context");
        REQUIRE(v.has_value());
        CHECK(v->path == c.path);
    }
    CHECK_FALSE(
        schemas->context_by_hook.at("order-sign")
            .validate(parse(R"({"userId":"u","patientId":"p","draftOrders":[]})"), "context")
            .has_value());
}

// --- prefetch semantics -------------------------------------------------------------------

rules::service_definition const& service_named(std::string const& id) {
    auto const* s = bundled_rules()->find_service(id);
    REQUIRE(s != nullptr);
    return *s;
}

prepared_call prepare_ok(boost::json::object const& body,
                         service_state const& state,
                         std::string const& id) {
    auto step = prepare_cds_call(post("/cds-services/" + id, boost::json::serialize(body)), state,
                                 service_named(id));
    if (auto* r = std::get_if<http_response>(&step)) {
        FAIL("prepare_cds_call answered " << r->status << ": " << r->body);
    }
    return std::move(std::get<prepared_call>(step));
}

boost::json::value const operation_outcome = boost::json::parse(
    R"({"resourceType":"OperationOutcome","issue":[{"severity":"error","code":"timeout"}]})");

TEST_CASE(
    "prefetch: a value is used, null is data, an OperationOutcome is unavailable and never "
    "refetched") {
    auto state = make_state();
    auto fetcher = std::make_shared<recording_fetcher>();
    state.fetcher = fetcher;

    auto body = fixture_request("patient-view-severe.json");
    body["fhirServer"] = "https://ehr.example/fhir";
    auto& prefetch = body["prefetch"].as_object();
    prefetch["renal"] = nullptr;                   // nothing exists
    prefetch["electrolytes"] = operation_outcome;  // the client's query failed
    prefetch.erase("weight");                      // not provided: to be fetched

    auto call = prepare_ok(body, state, "magnesium-patient-view");
    REQUIRE(call.fetch.queries.size() == 1);
    CHECK(call.fetch.queries[0].key == "weight");
    CHECK(call.fetch.fhir_server == "https://ehr.example/fhir");
    CHECK_FALSE(call.fetch.access_token.has_value());
    CHECK(call.unavailable.contains("electrolytes"));
    CHECK_FALSE(call.unavailable.contains("renal"));
    CHECK_FALSE(call.unavailable.contains("weight"));

    // The fetcher could not get the weight: optional, so it is reported, not fatal.
    fetch_outcome outcome;
    outcome.failures["weight"] = "the FHIR server answered 503";
    auto const missing = settle_prefetch(call, &outcome);
    CHECK(missing.empty());
    auto const& gaps = call.context.unavailable_prefetch;
    CHECK(std::find(gaps.begin(), gaps.end(), "electrolytes") != gaps.end());
    CHECK(std::find(gaps.begin(), gaps.end(), "weight") != gaps.end());
    CHECK(std::find(gaps.begin(), gaps.end(), "renal") == gaps.end());
}

TEST_CASE("prefetch: absent keys without a fhirServer or without a fetcher are unavailable") {
    auto body = fixture_request("patient-view-severe.json");
    body["prefetch"].as_object().erase("conditions");

    SUBCASE("no fhirServer") {
        auto state = make_state();
        state.fetcher = std::make_shared<recording_fetcher>();
        auto call = prepare_ok(body, state, "magnesium-patient-view");
        CHECK(call.fetch.queries.empty());
        REQUIRE(call.unavailable.contains("conditions"));
        CHECK(call.unavailable["conditions"].find("no fhirServer") != std::string::npos);
        CHECK(settle_prefetch(call, nullptr).empty());
        CHECK(call.context.unavailable_prefetch == std::vector<std::string>{"conditions"});
    }
    SUBCASE("fhirServer but no fetcher configured") {
        body["fhirServer"] = "https://ehr.example/fhir";
        auto state = make_state();
        auto call = prepare_ok(body, state, "magnesium-patient-view");
        CHECK(call.fetch.queries.empty());
        REQUIRE(call.unavailable.contains("conditions"));
        CHECK(call.unavailable["conditions"].find("not configured") != std::string::npos);
    }
}

TEST_CASE("prefetch: required data that is unavailable is reported by key") {
    auto state = make_state();
    auto body = fixture_request("patient-view-severe.json");
    body["prefetch"].as_object()["magnesium"] = operation_outcome;
    auto call = prepare_ok(body, state, "magnesium-patient-view");
    auto const missing = settle_prefetch(call, nullptr);
    REQUIRE(missing.size() == 1);
    CHECK(missing[0].key == "magnesium");
    CHECK(missing[0].diagnostics.find("OperationOutcome") != std::string::npos);
}

TEST_CASE(
    "prefetch: the fetch request carries the context and the client's token for the FHIR server") {
    auto state = make_state();
    state.fetcher = std::make_shared<recording_fetcher>();
    auto body = fixture_request("patient-view-severe.json");
    body["fhirServer"] = "https://ehr.example/fhir";
    body["fhirAuthorization"] = boost::json::object{{"access_token", "secret-token"},
                                                    {"token_type", "Bearer"},
                                                    {"expires_in", 300},
                                                    {"scope", "patient/*.read"},
                                                    {"subject", "cds-service"}};
    body.erase("prefetch");
    auto call = prepare_ok(body, state, "magnesium-patient-view");
    CHECK(call.fetch.queries.size() == service_named("magnesium-patient-view").prefetch.size());
    CHECK(call.fetch.access_token == std::optional<std::string>{"secret-token"});
    CHECK(call.fetch.token_type == std::optional<std::string>{"Bearer"});
    CHECK(call.fetch.context.at("patientId").as_string() == "pat-20407");
    CHECK(call.fetch.user_practitioner_id == std::optional<std::string>{"prac-4471"});
    CHECK(call.fetch.deadline > std::chrono::steady_clock::now());
}

TEST_CASE(
    "prefetch: a hook call's valid traceparent is passed to the FHIR server as a child span; a "
    "malformed one is not") {
    auto state = make_state();
    state.fetcher = std::make_shared<recording_fetcher>();
    auto body = fixture_request("patient-view-severe.json");
    body["fhirServer"] = "https://ehr.example/fhir";
    body.erase("prefetch");
    auto const prepare_with = [&](header_list headers) {
        auto request = post("/cds-services/magnesium-patient-view", boost::json::serialize(body));
        request.headers.insert(request.headers.end(), headers.begin(), headers.end());
        request.request_id = "b7ad6b7169203331";
        auto step =
            prepare_cds_call(std::move(request), state, service_named("magnesium-patient-view"));
        REQUIRE(std::holds_alternative<prepared_call>(step));
        return std::get<prepared_call>(std::move(step)).fetch.traceparent;
    };
    CHECK(prepare_with(
              {{"traceparent", "00-0af7651916cd43dd8448eb211c80319c-00f067aa0ba902b7-01"}}) ==
          std::optional<std::string>{"00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"});
    CHECK_FALSE(prepare_with({}).has_value());
    CHECK_FALSE(
        prepare_with({{"traceparent", "00-0af7651916cd43dd8448eb211c80319c-00f067aa0ba902b7"}})
            .has_value());
}

TEST_CASE("draft orders: R4, DSTU2, arrays, single-object entries, bare drafts") {
    auto state = make_state();
    auto body = fixture_request("order-select-furosemide-low-mg.json");
    auto& context = body["context"].as_object();
    auto const original = context["draftOrders"].at("entry").at(0).at("resource");
    REQUIRE(original.at("resourceType").as_string() == "MedicationRequest");

    SUBCASE("R4 MedicationRequest in a Bundle") {
        auto call = prepare_ok(body, state, "magnesium-order-select");
        CHECK(call.context.draft_orders.size() == 1);
        CHECK(call.skipped_draft_orders == 0);
    }
    SUBCASE("DSTU2 MedicationOrder") {
        auto dstu2 = original.as_object();
        dstu2["resourceType"] = "MedicationOrder";
        context["draftOrders"] = boost::json::object{
            {"resourceType", "Bundle"}, {"entry", boost::json::array{{{"resource", dstu2}}}}};
        auto call = prepare_ok(body, state, "magnesium-order-select");
        REQUIRE(call.context.draft_orders.size() == 1);
        CHECK(call.context.draft_orders[0].kind ==
              fhir::medication_resource_kind::medication_order);
    }
    SUBCASE("an array of resources instead of a Bundle") {
        context["draftOrders"] = boost::json::array{original};
        auto call = prepare_ok(body, state, "magnesium-order-select");
        CHECK(call.context.draft_orders.size() == 1);
    }
    SUBCASE("Bundle.entry sent as a single object") {
        context["draftOrders"] =
            boost::json::object{{"resourceType", "Bundle"}, {"entry", {{"resource", original}}}};
        auto call = prepare_ok(body, state, "magnesium-order-select");
        CHECK(call.context.draft_orders.size() == 1);
    }
    SUBCASE("a draft without a medication is skipped, not an error") {
        auto bare = original.as_object();
        bare.erase("medicationCodeableConcept");
        bare.erase("medicationReference");
        context["draftOrders"] = boost::json::object{
            {"resourceType", "Bundle"}, {"entry", boost::json::array{{{"resource", bare}}}}};
        auto call = prepare_ok(body, state, "magnesium-order-select");
        CHECK(call.context.draft_orders.empty());
        CHECK(call.skipped_draft_orders == 1);
    }
    SUBCASE("other order types are ignored") {
        context["draftOrders"] = boost::json::object{
            {"resourceType", "Bundle"},
            {"entry", boost::json::array{
                          {{"resource", {{"resourceType", "ServiceRequest"}, {"id", "sr1"}}}}}}};
        auto call = prepare_ok(body, state, "magnesium-order-select");
        CHECK(call.context.draft_orders.empty());
    }
}

TEST_CASE("the hook context carries ids, selections and the arrival time") {
    auto state = make_state();
    auto body = fixture_request("order-select-furosemide-low-mg.json");
    body["context"].as_object()["encounterId"] = "enc-1";
    auto call = prepare_ok(body, state, "magnesium-order-select");
    CHECK(call.context.hook == "order-select");
    CHECK(call.context.service_id == "magnesium-order-select");
    CHECK_FALSE(call.context.patient_id.empty());
    CHECK(call.context.user_id.starts_with("Practitioner/"));
    CHECK(call.context.encounter_id == "enc-1");
    CHECK_FALSE(call.context.selections.empty());
    CHECK(call.context.now == post("/", "").received_at);
}

TEST_CASE("malformed JSON names line and column; nesting beyond the limit is refused") {
    auto bad = parse_json_body("{\n  \"hook\": \"patient-view\",\n  \"context\": {]\n}", 64);
    REQUIRE(bad.error.has_value());
    CHECK(bad.error->status == 400);
    CHECK(diagnostics_of(*bad.error).find("line 3") != std::string::npos);

    std::string deep(200, '[');
    deep += std::string(200, ']');
    auto too_deep = parse_json_body(deep, 64);
    REQUIRE(too_deep.error.has_value());
    CHECK(too_deep.error->status == 400);
    CHECK(too_deep.error->body.find("json-too-deep") != std::string::npos);
    CHECK_FALSE(parse_json_body(deep, 256).error.has_value());

    auto empty = parse_json_body("", 64);
    REQUIRE(empty.error.has_value());
    CHECK(diagnostics_of(*empty.error).find("empty") != std::string::npos);
}

}  // namespace
}  // namespace cds::service
