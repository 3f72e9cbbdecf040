// The one-pass request reader (request_reader.hpp) against the tree it replaces: every file
// under fixtures/ (scenarios, fixture requests, published FHIR examples, fuzz seeds and
// regression inputs), and requests made from them, go through prepare_cds_call both ways for
// every service. The answers must be identical: the same error, or the same hook context, the
// same snapshot (every typed field, every issue and its path) and the same response. The
// server's own reading, which leaves out the Observations the rules do not read, must give
// the same response too, and a snapshot that lacks exactly those Observations.

#include <malloc.h>
#include <algorithm>
#include <filesystem>
#include <string>
#include <variant>
#include <vector>

#include <doctest/doctest.h>
#include <boost/json.hpp>

#include "cds/service/cds/cds_call.hpp"
#include "cds/service/cds/request_reader.hpp"
#include "support.hpp"

namespace cds::service {

namespace {

namespace fs = std::filesystem;
namespace json = boost::json;

std::vector<fs::path> fixture_files() {
    std::vector<fs::path> files;
    for (auto const& entry : fs::recursive_directory_iterator(CDS_FIXTURES_DIR)) {
        if (entry.is_regular_file()) files.push_back(entry.path());
    }
    std::sort(files.begin(), files.end());
    return files;
}

// The request with `prefetch` before `context`: the one-pass reader then reads prefetch
// whole, after context, as the tree does.
std::string prefetch_first(json::object const& request) {
    json::object reordered;
    if (auto const* p = request.if_contains("prefetch")) reordered["prefetch"] = *p;
    for (auto const& member : request) {
        if (member.key() != "prefetch") reordered[member.key()] = member.value();
    }
    return json::serialize(reordered);
}

// A request for `hook` carrying `resource` in every place a resource can arrive: a prefetch
// value of its own, two entries of a prefetch searchset (one named by fullUrl), and a draft
// order.
std::string request_carrying(json::value const& resource, std::string const& hook) {
    json::object context{{"userId", "Practitioner/example"}, {"patientId", "example"}};
    if (hook != "patient-view") {
        context["draftOrders"] = {{"resourceType", "Bundle"},
                                  {"type", "collection"},
                                  {"entry", json::array{json::object{{"resource", resource}}}}};
        context["selections"] = json::array{"MedicationRequest/example"};
    }
    json::object entry_with_url{{"fullUrl", "urn:uuid:7f3d2a10-0c1b-4f43-9d1e-2c5b0e6a9b11"},
                                {"resource", resource},
                                {"search", {{"mode", "match"}}}};
    json::object searchset{
        {"resourceType", "Bundle"},
        {"type", "searchset"},
        {"entry", json::array{entry_with_url, json::object{{"resource", resource}}}}};
    json::object request{{"hookInstance", "d1577c69-dfbe-44ad-ba6d-3e05e953b2ea"},
                         {"hook", hook},
                         {"context", context},
                         {"prefetch", {{"single", resource}, {"bundle", searchset}}}};
    return json::serialize(request);
}

std::vector<std::string> bodies_from(std::string const& text,
                                     std::vector<std::string> const& hooks) {
    std::vector<std::string> bodies{text};
    boost::system::error_code ec;
    auto const parsed = json::parse(text, ec);
    if (ec || !parsed.is_object()) return bodies;
    auto const& o = parsed.get_object();
    if (o.contains("hook")) {
        bodies.push_back(prefetch_first(o));
    } else if (o.contains("resourceType")) {
        for (auto const& hook : hooks) bodies.push_back(request_carrying(parsed, hook));
    }
    return bodies;
}

void check_same_orders(std::vector<fhir::medication_order> a,
                       std::vector<fhir::medication_order> b) {
    REQUIRE(a.size() == b.size());
    for (std::size_t i = 0; i < a.size(); ++i) {
        CAPTURE(i);
        bool const both_or_none = (a[i].source_json == nullptr) == (b[i].source_json == nullptr);
        CHECK(both_or_none);
        if (a[i].source_json && b[i].source_json) CHECK(*a[i].source_json == *b[i].source_json);
        a[i].source_json = nullptr;  // compared above by content, not by pointer
        b[i].source_json = nullptr;
        CHECK(a[i] == b[i]);
    }
}

void check_same_call(prepared_call const& a, prepared_call const& b) {
    CHECK(a.skipped_draft_orders == b.skipped_draft_orders);
    CHECK(a.unavailable == b.unavailable);
    CHECK(a.fetch.queries.size() == b.fetch.queries.size());
    CHECK(a.context.hook == b.context.hook);
    CHECK(a.context.now == b.context.now);
    CHECK(a.context.patient_id == b.context.patient_id);
    CHECK(a.context.user_id == b.context.user_id);
    CHECK(a.context.encounter_id == b.context.encounter_id);
    CHECK(a.context.selections == b.context.selections);
    CHECK(a.context.draft_service_requests == b.context.draft_service_requests);
    check_same_orders(a.context.draft_orders, b.context.draft_orders);
    auto copy_a = a.builder;
    auto copy_b = b.builder;
    auto const snapshot_a = std::move(copy_a).build();
    auto const snapshot_b = std::move(copy_b).build();
    CHECK(snapshot_a.issues == snapshot_b.issues);
    CHECK(snapshot_a == snapshot_b);
}

std::string answer_text(http_response const& r) {
    if (r.body.empty() || r.status != 200) return std::to_string(r.status) + " " + r.body;
    return "200 " + json::serialize(testing::without_uuids(json::parse(r.body)));
}

// The server's reading, which leaves out the Observations the rules do not read, against the
// tree that keeps them all: the same error, or the same snapshot less exactly those
// Observations, and the same cards.
void check_left_out_observations(http_request const& request,
                                 rules::service_definition const& service,
                                 service_state const& state,
                                 std::variant<http_response, prepared_call> const& tree) {
    auto const rules = state.rules.get();
    auto filtered =
        prepare_cds_call(request, state, service, request_reading::one_pass, rules.get());
    REQUIRE(filtered.index() == tree.index());
    if (auto const* error = std::get_if<http_response>(&filtered)) {
        CHECK(answer_text(*error) == answer_text(std::get<http_response>(tree)));
        return;
    }
    auto a = std::get<prepared_call>(filtered);
    auto b = std::get<prepared_call>(tree);
    auto copy_a = a.builder;
    auto copy_b = b.builder;
    auto const kept = std::move(copy_a).build();
    auto const all = std::move(copy_b).build();
    std::vector<fhir::observation> expected;
    for (auto const& o : all.observations) {
        if (rules::reads_observation(o.code, *rules)) expected.push_back(o);
    }
    CHECK(kept.observations == expected);
    CHECK(kept.medication_orders == all.medication_orders);
    CHECK(kept.medications == all.medications);
    CHECK(kept.patient_record == all.patient_record);
    CHECK(kept.conditions == all.conditions);
    CHECK(kept.service_requests == all.service_requests);
    auto const answer_a = complete_cds_call(std::move(a), nullptr, state);
    auto const answer_b = complete_cds_call(std::move(b), nullptr, state);
    CHECK(answer_text(answer_a) == answer_text(answer_b));
}

// Both readers on one body for one service.
void check_readers_agree(std::string const& body,
                         rules::service_definition const& service,
                         service_state const& state) {
    auto request = testing::post("/cds-services/" + service.id, body);
    request.received_at = *state.fixed_now;
    auto tree = prepare_cds_call(request, state, service, request_reading::tree);
    for (auto const reading : {request_reading::one_pass, request_reading::one_pass_boost_json}) {
        CAPTURE(static_cast<int>(reading));
        auto one_pass = prepare_cds_call(request, state, service, reading);
        REQUIRE(one_pass.index() == tree.index());
        if (auto const* error = std::get_if<http_response>(&one_pass)) {
            CHECK(answer_text(*error) == answer_text(std::get<http_response>(tree)));
            continue;
        }
        auto& a = std::get<prepared_call>(one_pass);
        auto b = std::get<prepared_call>(tree);
        check_same_call(a, b);
        a.explain = b.explain = true;
        auto const answer_a = complete_cds_call(std::move(a), nullptr, state);
        auto const answer_b = complete_cds_call(std::move(b), nullptr, state);
        CHECK(answer_text(answer_a) == answer_text(answer_b));
    }
    check_left_out_observations(request, service, state, tree);
}

// Whether the whole-body tokenizer declines `body` (json_tokenizer.hpp), leaving it to
// basic_parser.
bool tokenizer_declines(std::string const& body, rules::service_definition const& service) {
    rules::hook_context context;
    fhir::snapshot_builder builder;
    return read_request_one_pass(body, {64, 10000}, {}, {}, service, fhir::instant{}, context,
                                 builder)
        .declined;
}

std::string many_entries(std::string const& resource, int n) {
    std::string entries;
    for (int i = 0; i < n; ++i) {
        if (i > 0) entries += ',';
        entries += R"({"resource":)";
        entries += resource;
        entries += '}';
    }
    return entries;
}

}  // namespace

TEST_CASE("the one-pass reader answers every input the project has as the tree does") {
    auto state = testing::make_state();
    state.fixed_now = fhir::instant{std::chrono::sys_days{std::chrono::year{2026} / 3 / 10}};
    std::vector<std::string> hooks;
    for (auto const& s : state.rules.get()->services()) hooks.push_back(s.hook);
    std::size_t compared = 0;
    for (auto const& file : fixture_files()) {
        auto const text = testing::read_text(file.string());
        for (auto const& body : bodies_from(text, hooks)) {
            for (auto const& service : state.rules.get()->services()) {
                CAPTURE(file.string());
                CAPTURE(service.id);
                CAPTURE(body.substr(0, 300));
                check_readers_agree(body, service, state);
                ++compared;
            }
        }
    }
    MESSAGE("request bodies compared per service: " << compared);
    CHECK(compared > 2000);
}

TEST_CASE("every scenario request is read in one pass, without falling back to a tree") {
    auto const rules = testing::bundled_rules();
    std::size_t read = 0;
    for (auto const& file : fixture_files()) {
        if (file.filename() != "request.json") continue;
        CAPTURE(file.string());
        auto const body = testing::read_text(file.string());
        rules::hook_context context;
        fhir::snapshot_builder builder;
        auto const result =
            read_request_one_pass(body, {64, 10000}, {}, {}, rules->services().front(),
                                  fhir::instant{}, context, builder);
        CHECK_FALSE(result.declined);  // the whole-body tokenizer took it
        CHECK_FALSE(result.needs_tree);
        CHECK_FALSE(result.error.has_value());
        CHECK(result.envelope.is_object());
        ++read;
    }
    CHECK(read > 200);
}

TEST_CASE("the one-pass reader hands hostile forms to the tree and still agrees") {
    service_limits limits;
    limits.max_resources = 50;
    auto state = testing::make_state(limits);
    state.fixed_now = fhir::instant{std::chrono::sys_days{std::chrono::year{2026} / 3 / 10}};
    auto const& service = state.rules.get()->services().front();
    std::string const patient = R"({"resourceType":"Patient","id":"p","gender":"female"})";
    std::string const mg =
        R"({"resourceType":"Observation","id":"o","status":"final","code":{"coding":[{"system":"http://loinc.org","code":"19123-9"}]},"valueQuantity":{"value":1.2,"unit":"mg/dL","system":"http://unitsofmeasure.org","code":"mg/dL"},"effectiveDateTime":"2026-03-10T06:00:00Z","subject":{"reference":"Patient/p"}})";
    std::string const head = R"({"hookInstance":"d1577c69-dfbe-44ad-ba6d-3e05e953b2ea","hook":")" +
                             service.hook +
                             R"(","context":{"userId":"Practitioner/1","patientId":"p"},)";
    std::vector<std::string> const bodies{
        // a repeated member at each level the reader streams
        head + R"("prefetch":{"patient":)" + patient + R"(},"prefetch":{"patient":null}})",
        head + R"("prefetch":{"patient":)" + patient + R"(,"patient":)" + patient + "}}",
        head + R"("prefetch":{"mg":{"resourceType":"Bundle","entry":[{"resource":)" + mg +
            R"(}],"entry":[]}}})",
        head + R"("prefetch":{"mg":{"resourceType":"Bundle","resourceType":"Patient","id":"p"}}})",
        // a resource that repeats its resourceType; a resourceType that is not first or not a
        // string
        head +
            R"("prefetch":{"p":{"resourceType":"Observation","id":"x","resourceType":"Patient","gender":"male"}}})",
        head + R"("prefetch":{"p":{"id":"p","resourceType":"Patient","gender":"male"}}})",
        head + R"("prefetch":{"p":{"resourceType":7,"id":"p"}}})",
        // entries that are not objects, an entry member that is not an array, escaped names
        head +
            R"("prefetch":{"mg":{"resourceType":"Bundle","entry":[1,null,"x",{"resource":null}]}}})",
        head + R"("prefetch":{"mg":{"resourceType":"Bundle","entry":{"resource":)" + mg + "}}}}",
        head + R"("prefetch":{"mg":{"resourceType":"Bundle","entry":null}}})",
        head + R"("prefetch":{"mg":{"resourceType":"Bu\u006edle","entry":[{"resource":)" + mg +
            R"(}]}}})",
        head + R"("prefetch":{"m\u0067":{"resource\u0054ype":"Bundle","entry":[{"resource":)" + mg +
            R"(}]}}})",
        // entries read as tapes: a member repeated in a resource or deeper (read as a tree),
        // escaped names and values (copied out of the body), an entry that is a Bundle
        head +
            R"("prefetch":{"mg":{"resourceType":"Bundle","entry":[{"resource":{"resourceType":"Observation","id":"o","valueString":"x","valueString":null,"status":"final"}}]}}})",
        head +
            R"("prefetch":{"mg":{"resourceType":"Bundle","entry":[{"resource":{"resourceType":"Observation","id":"o","valueQuantity":{"value":1.2,"value":0.4,"unit":"mg/dL"},"code":{"coding":[{"code":"19123-9","system":"http://loinc.org"}]}}}]}}})",
        head + R"("prefetch":{"mg":{"resourceType":"Bundle","entry":[{"resource":)" + mg +
            R"(,"resource":{"resourceType":"Patient","id":"q"}}]}}})",
        head +
            R"("prefetch":{"mg":{"resourceType":"Bundle","entry":[{"res\u006furce":{"resourceType":"Observation","id":"\u006f","st\u0061tus":"fin\u0061l","code":{"text":"Magn\u00e9sium \"serum\"","coding":[{"system":"http:\/\/loinc.org","code":"19123-9"}]},"valueQuantity":{"value":1.2,"unit":"mg\/dL"}}}]}}})",
        head +
            R"("prefetch":{"mg":{"resourceType":"Bundle","entry":[{"resource":{"resourceType":"Bundle","entry":[{"resource":)" +
            mg + R"(}]}}]}}})",
        // Observation entries read straight from the text or declined to the tape: a member
        // repeated where no reader looks (so the tape path reads a tree), contained resources,
        // a refused result with an unreadable date, an outcome entry, resources past the limit
        // inside Observations
        head +
            R"("prefetch":{"mg":{"resourceType":"Bundle","entry":[{"resource":{"resourceType":"Observation","id":"o2","meta":{"tag":[],"tag":null},"contained":[{"resourceType":"Specimen","resourceType":"Device"}],"code":{"coding":[{"system":"http://loinc.org","code":"19123-9"}]},"valueQuantity":{"value":1.2,"unit":"mg/dL"},"effectiveDateTime":"2026-03-10T06:00:00Z","subject":{"reference":"Patient/p"}}}]}}})",
        head +
            R"("prefetch":{"na":{"resourceType":"Bundle","entry":[{"resource":{"resourceType":"Observation","id":"na","code":{"coding":[{"system":"http://loinc.org","code":"2951-2"}]},"effectiveDateTime":"yesterday"}},{"resource":)" +
            mg + R"(,"search":{"mode":"outcome"}},{"search":{"mode":"match"},"resource":)" + mg +
            "}]}}}",
        head + R"("prefetch":{"mg":{"resourceType":"Bundle","entry":[)" +
            many_entries(
                R"({"resourceType":"Observation","contained":[{"resourceType":"Specimen"},{"resourceType":"Device"}]})",
                20) +
            "]}}}",
        // MedicationRequest entries read straight from the text or declined to the tape: a
        // duplicate id across the two paths, an unresolved medicationReference (reported
        // under the order's path), DSTU2 and R5 stand-ins, a dosage's own dose after its
        // doseAndRate, resources past the limit inside orders
        head + R"("prefetch":{"meds":{"resourceType":"Bundle","entry":[)" +
            R"({"resource":{"resourceType":"MedicationRequest","id":"m1","status":"active","intent":"order","medicationCodeableConcept":{"coding":[{"system":"http://www.nlm.nih.gov/research/umls/rxnorm","code":"310429"}],"text":"furosemide 20 mg"},"subject":{"reference":"Patient/p"},"authoredOn":"2026-03-01T08:00:00Z","dosageInstruction":[{"doseQuantity":{"value":40,"unit":"mg"},"doseAndRate":[{"doseQuantity":{"value":20,"unit":"mg"}}],"timing":{"repeat":{"frequency":2,"period":1,"periodUnit":"d"}}}]}},)" +
            R"({"resource":{"resourceType":"MedicationRequest","id":"m1","status":"stopped","contained":[]}},)" +
            R"({"resource":{"resourceType":"MedicationRequest","id":"m2","status":"active","medicationReference":{"reference":"Medication/nowhere","display":"omeprazole 20 mg"}}},)" +
            R"({"resource":{"resourceType":"MedicationRequest","id":"m3","patient":{"reference":"Patient/p"},"reasonCodeableConcept":{"text":"reflux"}}},)" +
            R"({"resource":{"resourceType":"MedicationRequest","id":"m4","medication":{"concept":{"text":"magnesium oxide"}},"authoredOn":"2026-03-01T08:00:00"}},)" +
            R"({"resource":{"id":"m5","resourceType":"MedicationRequest","category":{"text":"inpatient"},"reasonCode":{"text":"low Mg"}}})" +
            "]}}}",
        head + R"("prefetch":{"meds":{"resourceType":"Bundle","entry":[)" +
            many_entries(
                R"({"resourceType":"MedicationRequest","extension":[{"resourceType":"Basic"},{"resourceType":"Basic"}]})",
                20) +
            "]}}}",
        // the request that is not an object, trailing bytes, too many resources
        "[]",
        R"("text")",
        head + R"("prefetch":{}} x)",
        head + R"("prefetch":{"mg":{"resourceType":"Bundle","entry":[)" +
            many_entries(patient, 60) + "]}}}",
    };
    for (auto const& body : bodies) {
        CAPTURE(body.substr(0, 300));
        check_readers_agree(body, service, state);
    }
}

TEST_CASE(
    "bodies the whole-body tokenizer declines are read by basic_parser, with the same answer") {
    auto state = testing::make_state();
    state.fixed_now = fhir::instant{std::chrono::sys_days{std::chrono::year{2026} / 3 / 10}};
    auto const& service = state.rules.get()->services().front();
    std::string const head = R"({"hookInstance":"d1577c69-dfbe-44ad-ba6d-3e05e953b2ea","hook":")" +
                             service.hook +
                             R"(","context":{"userId":"Practitioner/1","patientId":"p"},)";
    auto const with_mg = [&](std::string const& value, std::string const& text) {
        return head +
               R"("prefetch":{"mg":{"resourceType":"Bundle","entry":[{"resource":{"resourceType":"Observation","id":"o","status":"final","code":{"text":")" +
               text +
               R"(","coding":[{"system":"http://loinc.org","code":"19123-9"}]},"valueQuantity":{"value":)" +
               value +
               R"(,"unit":"mg/dL","system":"http://unitsofmeasure.org","code":"mg/dL"},"effectiveDateTime":"2026-03-10T06:00:00Z","subject":{"reference":"Patient/p"}}}]}}})";
    };
    std::vector<std::string> const declined{
        with_mg("1234567890123456789", "Mg"),  // an integer part of 19 digits
        with_mg("1.2e1000", "Mg"),             // a four-digit exponent
        with_mg("1.2", "Mg \\udc00"),          // a lone low surrogate
        with_mg("1.2", "Mg \\ud800 alone"),    // a lone high surrogate
        with_mg("01.2", "Mg"),                 // not JSON: a leading zero
        with_mg("1.2", "Mg\\x"),               // not JSON: an unknown escape
        head + R"("prefetch":{}} x)",          // not JSON: trailing data
        head + R"("prefetch":{"x":)" + std::string(70, '[') + std::string(70, ']') +
            "}}",  // deeper than the limit
    };
    for (auto const& body : declined) {
        CAPTURE(body.substr(0, 300));
        CHECK(tokenizer_declines(body, service));
        check_readers_agree(body, service, state);
    }
    // What it takes: long decimals (converted digit by digit as basic_parser converts them),
    // a three-digit exponent, a surrogate pair.
    for (auto const& body :
         {with_mg("1.2000000000000002", "Mg"), with_mg("1.23456789012345678901234", "Mg"),
          with_mg("12e-1", "Mg"), with_mg("1.2", "Mg \\ud83d\\ude00")}) {
        CAPTURE(body.substr(0, 300));
        CHECK_FALSE(tokenizer_declines(body, service));
        check_readers_agree(body, service, state);
    }
}

TEST_CASE("a large escaped string in an entry is not kept after the read") {
    // The reader keeps its working vectors per thread, trimmed when a body grew them: the
    // buffer for strings with escapes as well as the tape.
    auto const rules = testing::bundled_rules();
    std::string const text = std::string(2 * 1024 * 1024, 'a') + "\\n";
    std::string const body =
        R"({"hookInstance":"d1577c69-dfbe-44ad-ba6d-3e05e953b2ea","hook":"patient-view",)"
        R"("context":{"userId":"Practitioner/1","patientId":"p"},"prefetch":{"mg":{)"
        R"("resourceType":"Bundle","entry":[{"resource":{"resourceType":"Observation",)"
        R"("id":"o","status":"final","code":{"text":")" +
        text + R"("}}}]}}})";
    auto const held = [] {
        auto const info = mallinfo2();
        return info.uordblks + info.hblkhd;  // small blocks and mmapped ones
    };
    auto const before = held();
    {
        rules::hook_context context;
        fhir::snapshot_builder builder;
        auto const result =
            read_request_one_pass(body, {64, 10000}, {}, {}, rules->services().front(),
                                  fhir::instant{}, context, builder);
        REQUIRE_FALSE(result.declined);
        REQUIRE_FALSE(result.needs_tree);
    }
    CHECK(held() < before + 512 * 1024);
}

TEST_CASE("escaped names and values in a Bundle entry are read unescaped from the tape") {
    auto const rules = testing::bundled_rules();
    std::string const body =
        R"({"hookInstance":"d1577c69-dfbe-44ad-ba6d-3e05e953b2ea","hook":"patient-view",)"
        R"("context":{"userId":"Practitioner/1","patientId":"p"},"prefetch":{"mg":{)"
        R"("resourceType":"Bundle","entry":[{"res\u006furce":{"resourceType":"Observation",)"
        R"("id":"\u006f","st\u0061tus":"fin\u0061l","code":{"text":"Magn\u00e9sium \"serum\"",)"
        R"("coding":[{"system":"http:\/\/loinc.org","code":"19123-9"}]},)"
        R"("valueQuantity":{"value":1.2,"unit":"mg\/dL"}}}]}}})";
    rules::hook_context context;
    fhir::snapshot_builder builder;
    auto const result = read_request_one_pass(body, {64, 10000}, {}, {}, rules->services().front(),
                                              fhir::instant{}, context, builder);
    REQUIRE_FALSE(result.needs_tree);
    REQUIRE_FALSE(result.error.has_value());
    auto const snapshot = std::move(builder).build();
    REQUIRE(snapshot.observations.size() == 1);
    auto const& obs = snapshot.observations.front();
    CHECK(obs.id == "o");
    CHECK(obs.status == "final");
    CHECK(obs.code.text == "Magn\xC3\xA9sium \"serum\"");
    REQUIRE(obs.code.codings.size() == 1);
    CHECK(obs.code.codings.front().system == "http://loinc.org");
    REQUIRE(obs.value_quantity.has_value());
    CHECK(obs.value_quantity->unit == "mg/dL");
}

TEST_CASE("the one-pass reader stops at the resource limit and leaves the count to the tree") {
    auto const rules = testing::bundled_rules();
    std::string const observation = R"({"resourceType":"Observation","id":"o","status":"final"})";
    std::string body =
        R"({"hookInstance":"d1577c69-dfbe-44ad-ba6d-3e05e953b2ea","hook":"patient-view",)"
        R"("context":{"userId":"Practitioner/1","patientId":"p"},"prefetch":{"mg":{)"
        R"("resourceType":"Bundle","entry":[)" +
        many_entries(observation, 40) + "]}}}";
    rules::hook_context context;
    fhir::snapshot_builder builder;
    auto const over = read_request_one_pass(body, {64, 10}, {}, {}, rules->services().front(),
                                            fhir::instant{}, context, builder);
    CHECK(over.needs_tree);
    // It stopped at the limit: the entries past it were not read into the snapshot.
    CHECK(std::move(builder).build().observations.size() <= 10);

    rules::hook_context context_within;
    fhir::snapshot_builder builder_within;
    auto const within = read_request_one_pass(body, {64, 100}, {}, {}, rules->services().front(),
                                              fhir::instant{}, context_within, builder_within);
    CHECK_FALSE(within.needs_tree);
    // The Bundle counts too (an object with a string resourceType under prefetch).
    CHECK(within.resource_count == 41);
}

}  // namespace cds::service
