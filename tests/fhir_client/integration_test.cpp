// http_fhir_fetcher against a real FHIR R4 server on loopback: Medplum's FHIR router and
// in-memory repository (tests/fhir_server/server.mjs), seeded from fixtures/fhir-server/, started
// by the CTest fixture `fhir_server` (tests/fhir_server/start.sh), which also makes a test CA
// for its HTTPS port.
//
// Every test puts its own tag into the fhirServer path (`/fhir/t-<name>/...`, a path segment
// the server ignores) so that the server's request log tells what that test sent. Timing is
// asserted only with generous bounds (deadline + 1 s).

#include <doctest/doctest.h>

#include <chrono>
#include <cstdlib>
#include <fstream>
#include <optional>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/json.hpp>

#include "cds/service/cds/cds_call.hpp"
#include "cds/service/fhir_client/http_fhir_fetcher.hpp"

namespace asio = boost::asio;
namespace json = boost::json;
using cds::service::fetch_outcome;
using cds::service::fetch_request;
using cds::service::prefetch_query;
using namespace cds::service::fhir_client;
using namespace std::chrono_literals;

namespace {

std::string read_file(std::string const& path) {
    std::ifstream in(path);
    std::stringstream text;
    text << in.rdbuf();
    return text.str();
}

struct test_server {
    std::string state;
    std::string port;
    std::string tls_port;
    std::string token;

    std::string http_base() const { return "http://127.0.0.1:" + port + "/fhir"; }
    std::string https_base() const { return "https://127.0.0.1:" + tls_port + "/fhir"; }
    std::string ca_file() const { return state + "/ca.pem"; }

    // The requests the server logged whose URL path contains `/<tag>/`.
    std::vector<json::object> requests_tagged(std::string const& tag) const {
        std::vector<json::object> out;
        std::istringstream log(read_file(state + "/requests.log"));
        for (std::string line; std::getline(log, line);) {
            auto entry = json::parse(line).as_object();
            if (std::string_view(entry.at("url").as_string()).find("/" + tag + "/") !=
                std::string_view::npos) {
                out.push_back(std::move(entry));
            }
        }
        return out;
    }
};

// Tags are unique per run, so a server that outlives one run does not confuse the next.
std::string tag(std::string_view name) {
    static std::string const run =
        std::to_string(std::chrono::steady_clock::now().time_since_epoch().count());
    return std::string(name) + "-" + run;
}

// The server the fixture started; a missing one fails the test (never skips it).
test_server const& server() {
    static std::optional<test_server> found;
    if (!found) {
        char const* state = std::getenv("CDS_FHIR_SERVER_STATE");
        REQUIRE_MESSAGE(state != nullptr,
                        "run through ctest: the fhir_server fixture starts the FHIR server");
        test_server s{state, read_file(std::string(state) + "/port"),
                      read_file(std::string(state) + "/tls_port"),
                      read_file(std::string(state) + "/token")};
        REQUIRE_MESSAGE(!s.port.empty(), "the FHIR test server did not start (see its server.out)");
        found = s;
    }
    return *found;
}

fhir_client_options options_allowing(std::vector<std::string> allow) {
    fhir_client_options options;
    options.allow = std::move(allow);
    options.deadline = 3000ms;
    return options;
}

// The service's own prefetch templates (rules/config/magnesium-rules.json), plus the user and
// encounter reads of the CDS Hooks spec's examples.
std::vector<prefetch_query> service_templates() {
    return {
        {"patient", "Patient/{{context.patientId}}"},
        {"magnesium",
         "Observation?patient={{context.patientId}}&code=http://loinc.org|19123-9,http://"
         "loinc.org|2601-3,"
         "http://loinc.org|21377-7,http://loinc.org|2593-2&_sort=-date&_count=50"},
        {"renal",
         "Observation?patient={{context.patientId}}&code=http://loinc.org|2160-0,http://"
         "loinc.org|14682-9,"
         "http://loinc.org|98979-8,http://loinc.org|62238-1,http://loinc.org|33914-3,http://"
         "loinc.org|35591-7"
         "&_sort=-date&_count=50"},
        {"electrolytes",
         "Observation?patient={{context.patientId}}&code=http://loinc.org|2823-3,http://"
         "loinc.org|6298-4,"
         "http://loinc.org|17861-6,http://loinc.org|2000-8,http://"
         "loinc.org|1994-3&_sort=-date&_count=50"},
        {"weight",
         "Observation?patient={{context.patientId}}&code=http://loinc.org|29463-7,http://"
         "loinc.org|3141-9"
         "&_sort=-date&_count=10"},
        {"qtc",
         "Observation?patient={{context.patientId}}&code=http://"
         "loinc.org|8636-3&_sort=-date&_count=10"},
        {"pregnancy",
         "Observation?patient={{context.patientId}}&code=http://"
         "loinc.org|82810-3&_sort=-date&_count=5"},
        {"medication_requests",
         "MedicationRequest?patient={{context.patientId}}&status=active,on-hold&_include="
         "MedicationRequest:medication"},
        {"medication_statements",
         "MedicationStatement?patient={{context.patientId}}&status=active,on-hold&_include="
         "MedicationStatement:medication"},
        {"conditions", "Condition?patient={{context.patientId}}"},
        {"user", "{{context.userId}}"},
        {"practitioner", "Practitioner/{{userPractitionerId}}"},
        {"encounter", "Encounter/{{context.encounterId}}"},
    };
}

fetch_request request_for(std::string fhir_server,
                          std::string patient_id,
                          std::vector<prefetch_query> queries,
                          std::optional<std::string> token) {
    fetch_request request;
    request.fhir_server = std::move(fhir_server);
    if (token) {
        request.token_type = "Bearer";
        request.access_token = std::move(token);
    }
    request.context = json::object{{"patientId", patient_id},
                                   {"userId", "Practitioner/prac-5120"},
                                   {"encounterId", "enc-88012"}};
    request.queries = std::move(queries);
    return request;
}

fetch_outcome run(http_fhir_fetcher& fetcher, fetch_request request) {
    asio::io_context io;
    std::optional<fetch_outcome> outcome;
    std::exception_ptr failure;
    asio::co_spawn(io, fetcher.fetch(std::move(request)),
                   [&](std::exception_ptr e, fetch_outcome result) {
                       failure = e;
                       outcome = std::move(result);
                   });
    io.run();
    if (failure) std::rethrow_exception(failure);
    REQUIRE(outcome.has_value());
    return std::move(*outcome);
}

std::vector<std::string> ids_in(json::value const& bundle, std::string_view type = {}) {
    std::vector<std::string> ids;
    if (auto const* entries = bundle.as_object().if_contains("entry")) {
        for (auto const& entry : entries->as_array()) {
            auto const& resource = entry.at("resource").as_object();
            if (type.empty() || resource.at("resourceType").as_string() == type) {
                ids.emplace_back(resource.at("id").as_string());
            }
        }
    }
    return ids;
}

// The token must never appear in what the fetcher reports.
void check_no_token_in(fetch_outcome const& outcome, std::string const& token) {
    for (auto const& item : outcome.failures) {  // clang 14 cannot CAPTURE a structured binding
        auto const& key = item.first;
        auto const& reason = item.second;
        CAPTURE(key);
        CHECK(reason.find(token) == std::string::npos);
    }
    for (auto const& note : outcome.notes) CHECK(note.find(token) == std::string::npos);
}

}  // namespace

TEST_CASE("full fetch with no prefetch: every key from the real FHIR server") {
    auto const& s = server();
    http_fhir_fetcher fetcher(options_allowing({s.http_base()}));
    auto const outcome = run(fetcher, request_for(s.http_base() + "/" + tag("t-full"), "pat-30417",
                                                  service_templates(), s.token));

    CHECK(outcome.failures.empty());
    for (auto const& [key, reason] : outcome.failures) FAIL_CHECK(key << ": " << reason);
    REQUIRE(outcome.results.size() == service_templates().size());

    CHECK(outcome.results.at("patient").at("resourceType") == "Patient");
    CHECK(outcome.results.at("patient").at("id") == "pat-30417");
    CHECK(outcome.results.at("user").at("id") == "prac-5120");
    CHECK(outcome.results.at("practitioner").at("resourceType") == "Practitioner");
    CHECK(outcome.results.at("encounter").at("id") == "enc-88012");
    // _sort=-date: newest first, both units, never another patient's result.
    CHECK(ids_in(outcome.results.at("magnesium")) ==
          std::vector<std::string>{"mg-30417-1", "mg-30417-2", "mg-30417-3"});
    CHECK(outcome.results.at("magnesium").at("type") == "searchset");
    CHECK(outcome.results.at("magnesium").at("total") == 3);
    CHECK_FALSE(outcome.results.at("magnesium").as_object().contains("link"));
    CHECK(ids_in(outcome.results.at("renal")).size() == 2);
    CHECK(ids_in(outcome.results.at("electrolytes")).size() == 2);
    CHECK(ids_in(outcome.results.at("weight")) ==
          std::vector<std::string>{"wt-30417-1", "wt-30417-2"});
    CHECK(ids_in(outcome.results.at("qtc")).empty());
    CHECK(outcome.results.at("qtc").at("total") == 0);
    CHECK(ids_in(outcome.results.at("medication_requests"), "MedicationRequest") ==
          std::vector<std::string>{"medrx-30417-1"});
    CHECK(ids_in(outcome.results.at("medication_requests"), "Medication") ==
          std::vector<std::string>{"med-furosemide-40-tab"});
    CHECK(ids_in(outcome.results.at("medication_statements"), "Medication") ==
          std::vector<std::string>{"med-omeprazole-20-cap"});
    CHECK(ids_in(outcome.results.at("conditions")) == std::vector<std::string>{"cond-30417-1"});
    CHECK(outcome.notes.empty());

    auto const log = s.requests_tagged(tag("t-full"));
    CHECK(log.size() == service_templates().size());
    bool saw_encoded_code = false;
    for (auto const& entry : log) {
        CHECK(entry.at("authorization") == "matches");
        std::string_view const url = entry.at("url").as_string();
        saw_encoded_code = saw_encoded_code || url.find("code=http%3A%2F%2Floinc.org%7C19123-9,") !=
                                                   std::string_view::npos;
        CHECK(url.find('|') == std::string_view::npos);  // every '|' went out percent-encoded
    }
    CHECK(saw_encoded_code);
}

TEST_CASE("partial prefetch: only the absent keys are fetched") {
    auto const& s = server();
    http_fhir_fetcher fetcher(options_allowing({s.http_base()}));
    std::vector<prefetch_query> absent;
    for (auto const& query : service_templates()) {
        if (query.key == "renal" || query.key == "medication_statements") absent.push_back(query);
    }
    auto const outcome = run(
        fetcher, request_for(s.http_base() + "/" + tag("t-partial"), "pat-30417", absent, s.token));
    CHECK(outcome.failures.empty());
    REQUIRE(outcome.results.size() == 2);
    CHECK(outcome.results.count("renal") == 1);
    CHECK(outcome.results.count("medication_statements") == 1);
    CHECK(s.requests_tagged(tag("t-partial")).size() == 2);
}

TEST_CASE("an unresolvable token fails only its own key, and that query is not sent") {
    auto const& s = server();
    http_fhir_fetcher fetcher(options_allowing({s.http_base()}));
    auto request = request_for(s.http_base() + "/" + tag("t-token"), "pat-30417",
                               {{"patient", "Patient/{{context.patientId}}"},
                                {"encounter", "Encounter/{{context.encounterId}}"},
                                {"role", "PractitionerRole/{{userPractitionerRoleId}}"}},
                               s.token);
    request.context.erase("encounterId");
    auto const outcome = run(fetcher, std::move(request));
    CHECK(outcome.results.count("patient") == 1);
    CHECK(
        outcome.failures.at("encounter") ==
        "prefetch token {{context.encounterId}} cannot be resolved: context.encounterId is absent");
    CHECK(outcome.failures.at("role").find("{{userPractitionerRoleId}}") != std::string::npos);
    CHECK(s.requests_tagged(tag("t-token")).size() == 1);
}

TEST_CASE("paging: next links are followed on one reused connection and the pages merged") {
    auto const& s = server();
    http_fhir_fetcher fetcher(options_allowing({s.http_base()}));
    std::vector<prefetch_query> const query{{"magnesium",
                                             "Observation?patient={{context.patientId}}&code=http:/"
                                             "/loinc.org|19123-9&_sort=-date&_count=3"}};
    auto const outcome = run(
        fetcher, request_for(s.http_base() + "/" + tag("t-paging"), "pat-30533", query, s.token));
    CHECK(outcome.failures.empty());
    auto const ids = ids_in(outcome.results.at("magnesium"));
    CHECK(ids == std::vector<std::string>{"mg-30533-1", "mg-30533-2", "mg-30533-3", "mg-30533-4",
                                          "mg-30533-5", "mg-30533-6", "mg-30533-7"});
    CHECK(outcome.results.at("magnesium").at("total") == 7);
    CHECK(s.requests_tagged(tag("t-paging")).size() == 3);
    CHECK(fetcher.connections_opened() == 1);  // keep-alive: the three pages on one connection

    fhir_client_options two_pages = options_allowing({s.http_base()});
    two_pages.max_pages = 2;
    http_fhir_fetcher limited(two_pages);
    auto const cut = run(limited, request_for(s.http_base() + "/" + tag("t-paging-cut"),
                                              "pat-30533", query, s.token));
    CHECK(ids_in(cut.results.at("magnesium")).size() == 6);
    REQUIRE(cut.notes.size() == 1);
    CHECK(cut.notes[0] ==
          "the search for prefetch key 'magnesium' was cut at the limit of 2 pages");
    CHECK(s.requests_tagged(tag("t-paging-cut")).size() == 2);
}

TEST_CASE("medicationReferences the server did not include are read and added") {
    auto const& s = server();
    http_fhir_fetcher fetcher(options_allowing({s.http_base()}));
    std::vector<prefetch_query> const queries{
        {"medication_requests", "MedicationRequest?patient={{context.patientId}}&status=active"},
    };
    auto const outcome = run(
        fetcher, request_for(s.http_base() + "/" + tag("t-medref"), "pat-30533", queries, s.token));
    CHECK(outcome.failures.empty());
    auto const& bundle = outcome.results.at("medication_requests");
    CHECK(ids_in(bundle, "MedicationRequest") ==
          std::vector<std::string>{"medrx-30533-1", "medrx-30533-2"});
    CHECK(ids_in(bundle, "Medication") == std::vector<std::string>{"med-hctz-25-tab"});
    CHECK(bundle.at("total") == 2);
    auto const& last = bundle.at("entry").as_array().back();
    CHECK(last.at("search").at("mode") == "include");
    // A Medication that does not exist does not fail the key; it is reported.
    REQUIRE(outcome.notes.size() == 1);
    CHECK(outcome.notes[0] ==
          "the medication Medication/med-withdrawn-9 named by a fetched medication order could not "
          "be read: it does "
          "not exist on the FHIR server");
    auto const log = s.requests_tagged(tag("t-medref"));
    // The search, then both Medications by one `_id` search (FHIR R4 3.1.1.5.x: ',' is "or").
    REQUIRE(log.size() == 2);
    std::string_view const batch = log[1].at("url").as_string();
    CHECK(batch.find("/Medication?_id=") != std::string_view::npos);
    CHECK(batch.find("med-hctz-25-tab") != std::string_view::npos);
    CHECK(batch.find("med-withdrawn-9") != std::string_view::npos);

    // Requests and statements both needing Medications, none included by the server.
    auto const both =
        run(fetcher, request_for(s.http_base() + "/" + tag("t-medref2"), "pat-30417",
                                 {{"mr", "MedicationRequest?patient={{context.patientId}}"},
                                  {"ms", "MedicationStatement?patient={{context.patientId}}"}},
                                 s.token));
    CHECK(ids_in(both.results.at("mr"), "Medication") ==
          std::vector<std::string>{"med-furosemide-40-tab"});
    CHECK(ids_in(both.results.at("ms"), "Medication") ==
          std::vector<std::string>{"med-omeprazole-20-cap"});
}

TEST_CASE(
    "an unreadable Medication with the service's own _include query: the order comes, with a "
    "note") {
    // pat-30710's only MedicationRequest names a Medication that is not on the server. The
    // service's template asks for it by _include; the server includes nothing, the fetcher reads
    // it, fails, and says so in a note (the request path shows it on every card: e2e_fetch).
    auto const& s = server();
    http_fhir_fetcher fetcher(options_allowing({s.http_base()}));
    std::vector<prefetch_query> const queries{
        {"medication_requests",
         "MedicationRequest?patient={{context.patientId}}&status=active,on-hold&_include="
         "MedicationRequest:medication"},
        {"magnesium", "Observation?patient={{context.patientId}}&code=http://loinc.org|19123-9"}};
    std::string const token = "unreadable-med-token-5e1a";
    auto const outcome = run(fetcher, request_for(s.http_base() + "/" + tag("t-medref-unreadable"),
                                                  "pat-30710", queries, token));
    CHECK(outcome.failures.empty());
    auto const& bundle = outcome.results.at("medication_requests");
    CHECK(ids_in(bundle, "MedicationRequest") == std::vector<std::string>{"medrx-30710-1"});
    CHECK(ids_in(bundle, "Medication").empty());
    CHECK(ids_in(outcome.results.at("magnesium")) == std::vector<std::string>{"mg-30710-1"});
    REQUIRE(outcome.notes.size() == 1);
    CHECK(outcome.notes[0] ==
          "the medication Medication/med-30710-hctz-withdrawn named by a fetched medication order "
          "could not be read: it does not exist on the FHIR server");
    check_no_token_in(outcome, token);
}

TEST_CASE("the fetcher's notes reach the rules: redacted, printable, short and bounded in number") {
    // settle_prefetch hands fetch_outcome::notes to the rules as hook_context::data_notes, which
    // every card shows (e2e_fetch IncompleteData proves the whole way on the real server).
    cds::rules::service_definition service;
    service.id = "magnesium-patient-view";
    service.hook = "patient-view";
    cds::service::prepared_call call;
    call.service = &service;
    call.fetch.access_token = "tok-93b1e7";
    fetch_outcome outcome;
    std::string const medication_note =
        "the medication Medication/m1 named by a fetched medication order could not be read: it "
        "does not exist on the FHIR server";
    outcome.notes = {
        medication_note,
        medication_note,  // the same twice: said once
        "the medication Medication/m2 named by a fetched medication order could not be read: "
        "server said\nInvalid token tok-93b1e7",
        std::string(150, 'x') + "tok-93b1e7" + std::string(150, 'y'),
        "",
        "note 4",
        "note 5",
        "note 6",
        "note 7",
    };
    CHECK(settle_prefetch(call, &outcome).empty());
    auto const& notes = call.context.data_notes;
    REQUIRE(notes.size() == 6);
    CHECK(notes[0] == medication_note);
    CHECK(notes[1] ==
          "the medication Medication/m2 named by a fetched medication order could not be read: "
          "server said Invalid token [redacted]");  // the newline made a space
    // Redacted before being cut to 200 bytes: no part of the token survives.
    CHECK(notes[2] == std::string(150, 'x') + "[redacted]" + std::string(40, 'y') + "...");
    CHECK(notes[3] == "note 4");
    CHECK(notes[4] == "note 5");
    CHECK(notes[5] == "further notes on the fetched data were left out");
    for (auto const& note : notes) CHECK(note.find("tok-93b1e7") == std::string::npos);

    // Nothing fetched: no notes (and none left from before).
    CHECK(settle_prefetch(call, nullptr).empty());
    CHECK(call.context.data_notes.empty());
}

TEST_CASE("401: the reason says the token was refused, and never contains it") {
    auto const& s = server();
    http_fhir_fetcher fetcher(options_allowing({s.http_base()}));
    std::vector<prefetch_query> const queries{
        {"patient", "Patient/{{context.patientId}}"},
        {"magnesium", "Observation?patient={{context.patientId}}"}};
    std::string const wrong_token = "wrong-token-4d1e9b";
    auto const refused =
        run(fetcher, request_for(s.http_base() + "/" + tag("t-401") + "/unauthorized", "pat-30417",
                                 queries, wrong_token));
    CHECK(refused.results.empty());
    CHECK(refused.failures.at("patient") ==
          "the FHIR server did not accept the access token (HTTP 401): Invalid or missing access "
          "token");
    check_no_token_in(refused, wrong_token);
    CHECK(s.requests_tagged(tag("t-401")).size() == 2);  // 401 is not retried

    auto const anonymous =
        run(fetcher, request_for(s.http_base() + "/" + tag("t-401-anon") + "/unauthorized",
                                 "pat-30417", queries, std::nullopt));
    CHECK(anonymous.failures.at("magnesium").find("the request carried no fhirAuthorization") !=
          std::string::npos);
    for (auto const& entry : s.requests_tagged(tag("t-401-anon")))
        CHECK(entry.at("authorization") == "none");

    auto const accepted =
        run(fetcher, request_for(s.http_base() + "/" + tag("t-401-ok") + "/unauthorized",
                                 "pat-30417", queries, s.token));
    CHECK(accepted.failures.empty());
    CHECK(accepted.results.at("patient").at("id") == "pat-30417");
}

TEST_CASE("a server that echoes the Authorization header: the token is redacted from reasons") {
    auto const& s = server();
    http_fhir_fetcher fetcher(options_allowing({s.http_base()}));
    std::string const token = "echoed-token-7c2f0a";
    auto const refused =
        run(fetcher, request_for(s.http_base() + "/" + tag("t-echo") + "/echo-auth", "pat-30417",
                                 {{"patient", "Patient/{{context.patientId}}"},
                                  {"magnesium", "Observation?patient={{context.patientId}}"}},
                                 token));
    REQUIRE(refused.failures.size() == 2);
    // The server's own text is still quoted, with the token cut out of it.
    CHECK(refused.failures.at("patient") ==
          "the FHIR server did not accept the access token (HTTP 401): Access token rejected: "
          "Bearer [redacted]");
    check_no_token_in(refused, token);
    auto const sent = s.requests_tagged(tag("t-echo"));
    REQUIRE(sent.size() == 2);
    for (auto const& entry : sent) CHECK(entry.at("authorization") == "other");
}

TEST_CASE("a server that stalls: every key fails by the deadline, all queries were sent at once") {
    auto const& s = server();
    fhir_client_options options = options_allowing({s.http_base()});
    options.deadline = 700ms;
    http_fhir_fetcher fetcher(options);
    std::vector<prefetch_query> const queries{
        {"patient", "Patient/{{context.patientId}}"},
        {"magnesium", "Observation?patient={{context.patientId}}"},
        {"renal", "Observation?patient={{context.patientId}}&code=2160-0"}};
    auto const start = std::chrono::steady_clock::now();
    auto const outcome = run(fetcher, request_for(s.http_base() + "/" + tag("t-stall") + "/stall",
                                                  "pat-30417", queries, s.token));
    auto const elapsed = std::chrono::steady_clock::now() - start;
    CHECK(elapsed < 700ms + 1s);
    CHECK(outcome.results.empty());
    REQUIRE(outcome.failures.size() == 3);
    for (auto const& item : outcome.failures) {  // clang 14 cannot CAPTURE a structured binding
        auto const& key = item.first;
        auto const& reason = item.second;
        CAPTURE(key);
        CHECK(reason == "the FHIR server did not answer within the 700 ms deadline");
    }
    // Concurrent: all three were in flight before the deadline.
    CHECK(s.requests_tagged(tag("t-stall")).size() == 3);

    // An explicit request deadline wins over the configured one.
    auto request = request_for(s.http_base() + "/" + tag("t-stall2") + "/stall", "pat-30417",
                               {queries[0]}, s.token);
    request.deadline = std::chrono::steady_clock::now() + 300ms;
    // The budget the request path set the deadline from is what the reason quotes, not the
    // few milliseconds less that were left when fetching began.
    request.budget = 300ms;
    auto const early_start = std::chrono::steady_clock::now();
    auto const early = run(fetcher, std::move(request));
    CHECK(std::chrono::steady_clock::now() - early_start < 300ms + 1s);
    CHECK(early.failures.at("patient") ==
          "the FHIR server did not answer within the 300 ms deadline");
}

TEST_CASE("a server that closes connections: retried, then a clear reason") {
    auto const& s = server();
    http_fhir_fetcher fetcher(options_allowing({s.http_base()}));
    auto const outcome =
        run(fetcher, request_for(s.http_base() + "/" + tag("t-close") + "/close", "pat-30417",
                                 {{"patient", "Patient/{{context.patientId}}"}}, s.token));
    CHECK(outcome.failures.at("patient") ==
          "the FHIR server closed the connection without answering (3 attempts)");
    CHECK(s.requests_tagged(tag("t-close")).size() == 3);
}

TEST_CASE("a 503 is retried with backoff and the second answer used") {
    auto const& s = server();
    http_fhir_fetcher fetcher(options_allowing({s.http_base()}));
    auto const outcome =
        run(fetcher, request_for(s.http_base() + "/" + tag("t-flaky") + "/flaky", "pat-30417",
                                 {{"patient", "Patient/{{context.patientId}}"}}, s.token));
    CHECK(outcome.failures.empty());
    CHECK(outcome.results.at("patient").at("id") == "pat-30417");
    CHECK(s.requests_tagged(tag("t-flaky")).size() == 2);
}

TEST_CASE("answers that are not FHIR JSON") {
    auto const& s = server();
    http_fhir_fetcher fetcher(options_allowing({s.http_base()}));
    std::vector<prefetch_query> const queries{
        {"patient", "Patient/{{context.patientId}}"},
        {"magnesium", "Observation?patient={{context.patientId}}"}};
    auto const html = run(fetcher, request_for(s.http_base() + "/" + tag("t-garbage") + "/garbage",
                                               "pat-30417", queries, s.token));
    CHECK(html.failures.at("patient") ==
          "the FHIR server answered with text/html instead of FHIR JSON");
    CHECK(html.failures.at("magnesium") ==
          "the FHIR server answered with text/html instead of FHIR JSON");
    auto const broken =
        run(fetcher, request_for(s.http_base() + "/" + tag("t-badjson") + "/badjson", "pat-30417",
                                 queries, s.token));
    CHECK(broken.failures.at("magnesium") == "the FHIR server's answer is not valid JSON");

    fhir_client_options small = options_allowing({s.http_base()});
    small.max_response_bytes = 2000;
    http_fhir_fetcher limited(small);
    auto const big = run(limited, request_for(s.http_base() + "/" + tag("t-big"), "pat-30417",
                                              {queries[1]}, s.token));
    CHECK(big.failures.at("magnesium") == "the FHIR server's answer exceeds the 2000-byte limit");
}

TEST_CASE("a fhirServer outside the allowlist is never contacted") {
    auto const& s = server();
    http_fhir_fetcher fetcher(options_allowing({s.http_base()}));
    auto const queries = service_templates();
    for (std::string const& outside :
         {"http://127.0.0.1:" + s.port + "/elsewhere/" + tag("t-refused"),
          "http://localhost:" + s.port + "/fhir/" + tag("t-refused"),
          "https://127.0.0.1:" + s.port + "/fhir/" + tag("t-refused"),
          "http://127.0.0.1:" + s.tls_port + "/fhir/" + tag("t-refused"),
          "http://127.0.0.1:" + s.port + "/fhirx/" + tag("t-refused"),
          "http://user@127.0.0.1:" + s.port + "/fhir/" + tag("t-refused")}) {
        CAPTURE(outside);
        auto const outcome = run(fetcher, request_for(outside, "pat-30417", queries, s.token));
        CHECK(outcome.results.empty());
        REQUIRE(outcome.failures.size() == queries.size());
        for (auto const& [key, reason] : outcome.failures) {
            CHECK((reason.starts_with("fhirServer not allowed") ||
                   reason.starts_with("fhirServer is not a usable")));
        }
    }
    CHECK(s.requests_tagged(tag("t-refused")).empty());
    CHECK(fetcher.connections_opened() == 0);

    http_fhir_fetcher off(fhir_client_options{});
    auto const disabled = run(
        off, request_for(s.http_base() + "/" + tag("t-refused"), "pat-30417", queries, s.token));
    CHECK(disabled.failures.at("patient") ==
          "fetching from the FHIR server is not enabled on this service (no --fhir-allow)");
    CHECK(s.requests_tagged(tag("t-refused")).empty());
}

TEST_CASE("a next link or redirect to another origin is not followed; the token stays home") {
    auto const& s = server();
    http_fhir_fetcher fetcher(
        options_allowing({s.http_base(), "http://localhost:" + s.port + "/fhir"}));
    std::vector<prefetch_query> const paged{
        {"magnesium",
         "Observation?patient={{context.patientId}}&code=http://loinc.org|19123-9&_count=3"}};
    auto const foreign =
        run(fetcher, request_for(s.http_base() + "/" + tag("t-foreign") + "/foreign-next",
                                 "pat-30533", paged, s.token));
    CHECK(foreign.failures.at("magnesium") ==
          "the FHIR server's next-page link leads outside the allowed FHIR server; it was not "
          "followed");
    auto const foreign_log = s.requests_tagged(tag("t-foreign"));
    REQUIRE(foreign_log.size() == 1);
    CHECK(foreign_log[0].at("host").as_string() == "127.0.0.1:" + s.port);

    auto const redirected =
        run(fetcher, request_for(s.http_base() + "/" + tag("t-redirect") + "/redirect", "pat-30417",
                                 {{"patient", "Patient/{{context.patientId}}"}}, s.token));
    CHECK(redirected.failures.at("patient") ==
          "the FHIR server redirected to another origin or outside the allowed FHIR server; the "
          "redirect was not "
          "followed");
    CHECK(s.requests_tagged(tag("t-redirect")).size() == 1);
}

TEST_CASE("HTTPS: certificate verified against the CA, by IP address and by host name with SNI") {
    auto const& s = server();
    std::vector<prefetch_query> const queries{
        {"patient", "Patient/{{context.patientId}}"},
        {"magnesium", "Observation?patient={{context.patientId}}"}};
    auto options = options_allowing({s.https_base(), "https://localhost:" + s.tls_port + "/fhir"});
    options.extra_ca_file = s.ca_file();
    http_fhir_fetcher trusting(options);
    auto const by_ip = run(
        trusting, request_for(s.https_base() + "/" + tag("t-tls"), "pat-30417", queries, s.token));
    CHECK(by_ip.failures.empty());
    CHECK(by_ip.results.at("patient").at("id") == "pat-30417");
    auto const by_name =
        run(trusting, request_for("https://localhost:" + s.tls_port + "/fhir/" + tag("t-tls-name"),
                                  "pat-30417", queries, s.token));
    CHECK(by_name.failures.empty());
    // SNI names the host for a DNS name, and is absent for an IP address (RFC 6066 §3).
    for (auto const& entry : s.requests_tagged(tag("t-tls-name")))
        CHECK(entry.at("sni") == "localhost");
    for (auto const& entry : s.requests_tagged(tag("t-tls"))) CHECK(entry.at("sni").is_null());
    CHECK(s.requests_tagged(tag("t-tls-name")).size() == 2);

    http_fhir_fetcher system_store_only(options_allowing({s.https_base()}));
    auto const untrusted = run(
        system_store_only,
        request_for(s.https_base() + "/" + tag("t-tls-untrusted"), "pat-30417", queries, s.token));
    CHECK(untrusted.results.empty());
    CHECK(untrusted.failures.at("patient").starts_with(
        "the FHIR server's TLS certificate was not accepted ("));
    CHECK(s.requests_tagged(tag("t-tls-untrusted"))
              .empty());  // no request was sent over an unverified channel
}

TEST_CASE("concurrent fetches on a multi-threaded io_context") {
    auto const& s = server();
    http_fhir_fetcher fetcher(options_allowing({s.http_base()}));
    asio::io_context io;
    std::vector<std::optional<fetch_outcome>> outcomes(4);
    for (std::size_t i = 0; i < outcomes.size(); ++i) {
        asio::co_spawn(io,
                       fetcher.fetch(request_for(s.http_base() + "/" + tag("t-threads"),
                                                 i % 2 ? "pat-30417" : "pat-30533",
                                                 service_templates(), s.token)),
                       [&outcomes, i](std::exception_ptr e, fetch_outcome result) {
                           if (!e) outcomes[i] = std::move(result);
                       });
    }
    std::thread second([&io] { io.run(); });
    io.run();
    second.join();
    for (std::size_t i = 0; i < outcomes.size(); ++i) {
        CAPTURE(i);
        REQUIRE(outcomes[i].has_value());
        CHECK(outcomes[i]->results.size() + outcomes[i]->failures.size() ==
              service_templates().size());
        CHECK(outcomes[i]->results.at("patient").at("id").as_string() ==
              (i % 2 ? "pat-30417" : "pat-30533"));
    }
}

TEST_CASE("the fetch twin fetches what the prefetched twin carries, key by key") {
    // fixtures/fhir-server/requests/*.prefetched.json hold the prefetch an EHR would send for
    // the service's own templates (rules/config/magnesium-rules.json); fetching those same
    // templates from the seeded server must bring the same resources under the same keys.
    auto const& s = server();
    auto const rules = json::parse(read_file(CDS_SOURCE_DIR "/rules/config/magnesium-rules.json"));
    auto const twin = json::parse(
        read_file(CDS_FIXTURES_DIR "/fhir-server/requests/patient-view-pat-30417.prefetched.json"));
    std::vector<prefetch_query> templates;
    for (auto const& service : rules.at("services").as_array()) {
        if (service.at("id") != "magnesium-patient-view") continue;
        for (auto const& p : service.at("prefetch").as_array()) {
            templates.push_back(
                {std::string(p.at("key").as_string()), std::string(p.at("query").as_string())});
        }
    }
    REQUIRE(templates.size() == twin.at("prefetch").as_object().size());

    http_fhir_fetcher fetcher(options_allowing({s.http_base()}));
    auto request = request_for(s.http_base() + "/" + tag("t-twin"), "pat-30417", templates,
                               "fixture-access-token-3f9a2c7e");
    request.context = twin.at("context").as_object();
    auto const outcome = run(fetcher, std::move(request));
    CHECK(outcome.failures.empty());
    for (auto const& item :
         twin.at("prefetch").as_object()) {  // clang 14 cannot CAPTURE a structured binding
        auto const& key = item.key();
        auto const& expected = item.value();
        CAPTURE(std::string(key));
        REQUIRE(outcome.results.count(std::string(key)) == 1);
        auto const& fetched = outcome.results.at(std::string(key));
        if (expected.at("resourceType") == "Bundle") {
            CHECK(ids_in(fetched) == ids_in(expected));
        } else {
            CHECK(fetched.at("id") == expected.at("id"));
        }
    }
}
