#include <string>
#include <string_view>

#include <doctest/doctest.h>

#include "cds/fhir/snapshot.hpp"
#include "test_support.hpp"

using namespace cds::fhir;
using cds::fhir::test::describe;
using cds::fhir::test::has_issue;
using cds::fhir::test::json;

namespace {

std::string observation_json(std::string_view id, double value) {
    return std::string(R"({"resourceType":"Observation","id":")") + std::string(id) +
           R"(","status":"final","code":{"coding":[{"system":"http://loinc.org","code":"19123-9"}]},)"
           R"("effectiveDateTime":"2025-03-04T06:00:00Z","valueQuantity":{"value":)" +
           std::to_string(value) + R"(,"unit":"mg/dL"}})";
}

bool has_message(issue_list const& issues, std::string_view path, std::string_view message_start) {
    for (auto const& i : issues) {
        if (i.path == path && i.message.starts_with(message_start)) return true;
    }
    return false;
}

std::string searchset(std::initializer_list<std::string> resources) {
    std::string out = R"({"resourceType":"Bundle","type":"searchset","entry":[)";
    bool first = true;
    for (auto const& r : resources) {
        if (!first) out += ",";
        out +=
            R"({"fullUrl":"http://ehr/fhir/x","resource":)" + r + R"(,"search":{"mode":"match"}})";
        first = false;
    }
    return out + "]}";
}

}  // namespace

TEST_CASE("snapshot_builder takes a searchset Bundle's resources") {
    snapshot_builder builder;
    auto const taken =
        builder.add(json(searchset({observation_json("mg1", 1.1), observation_json("mg2", 1.9)})),
                    "prefetch.mg");
    CHECK(taken == 2);
    auto snapshot = std::move(builder).build();
    REQUIRE(snapshot.observations.size() == 2);
    CHECK(snapshot.observations[0].id == "mg1");
    CHECK(snapshot.observations[1].id == "mg2");
    CHECK(snapshot.issues.empty());
}

TEST_CASE("snapshot_builder takes a single resource") {
    snapshot_builder builder;
    CHECK(builder.add(json(R"({"resourceType":"Patient","id":"p1","gender":"male"})"),
                      "prefetch.patient") == 1);
    auto snapshot = std::move(builder).build();
    REQUIRE(snapshot.patient_record);
    CHECK(snapshot.patient_record->id == "p1");
    CHECK(snapshot.patient_record->gender == administrative_gender::male);
}

TEST_CASE("issues name the element path inside a Bundle entry") {
    snapshot_builder builder;
    builder.add(
        json(searchset(
            {observation_json("a", 1.0), observation_json("b", 1.0),
             R"({"resourceType":"Observation","id":"c","valueQuantity":{"value":"1.1","unit":"mg/dL"}})"})),
        "prefetch.mg");
    auto snapshot = std::move(builder).build();
    INFO(describe(snapshot.issues));
    REQUIRE(snapshot.issues.size() == 1);
    CHECK(snapshot.issues[0].path == "prefetch.mg.entry[2].resource.valueQuantity.value");
    CHECK(snapshot.issues[0].severity == issue_severity::error);
    REQUIRE(snapshot.observations.size() == 3);
    CHECK_FALSE(snapshot.observations[2].value_quantity->value);
}

TEST_CASE("snapshot_builder counts a resource once per type and id") {
    snapshot_builder builder;
    CHECK(builder.add(json(searchset({observation_json("mg1", 1.1)})), "prefetch.mg") == 1);
    // The same Observation again, under another key and with another value: the first copy wins.
    CHECK(builder.add(json(searchset({observation_json("mg1", 9.9), observation_json("mg3", 1.5)})),
                      "prefetch.all") == 1);
    CHECK(builder.add(json(observation_json("mg1", 1.1)), "prefetch.single") == 0);
    // Same id, other type: a different resource.
    CHECK(builder.add(json(R"({"resourceType":"Condition","id":"mg1"})"), "prefetch.conditions") ==
          1);
    auto snapshot = std::move(builder).build();
    REQUIRE(snapshot.observations.size() == 2);
    CHECK(*snapshot.observations[0].value_quantity->value == doctest::Approx(1.1));
    CHECK(snapshot.observations[1].id == "mg3");
    CHECK(snapshot.conditions.size() == 1);
}

TEST_CASE("Observations the filter refuses are left out after their code, yet still count once") {
    snapshot_builder builder;
    builder.keep_observations_if(
        [](codeable_concept const& code) { return code.has_code("http://loinc.org", "19123-9"); });
    // A sodium result, then a magnesium result with the same id: the first copy of
    // (Observation, "lab1") is the sodium one, so the magnesium copy is dropped as a duplicate,
    // as it is without a filter.
    std::string const sodium_with_bad_value =
        R"({"resourceType":"Observation","id":"lab1","status":"final",)"
        R"("code":{"coding":[{"system":"http://loinc.org","code":"2951-2"}]},)"
        R"("valueQuantity":{"value":"140"}})";
    CHECK(builder.add(json(searchset({sodium_with_bad_value, observation_json("lab1", 1.1),
                                      observation_json("mg2", 1.4)})),
                      "prefetch.labs") == 1);
    // Same id, other type: not a duplicate of the left-out Observation.
    CHECK(builder.add(json(R"({"resourceType":"Condition","id":"lab1"})"), "prefetch.c") == 1);
    auto snapshot = std::move(builder).build();
    REQUIRE(snapshot.observations.size() == 1);
    CHECK(snapshot.observations[0].id == "mg2");
    CHECK(snapshot.conditions.size() == 1);
    // Nothing after the code was read: the sodium result's malformed value is not reported.
    INFO(describe(snapshot.issues));
    CHECK(snapshot.issues.empty());
}

TEST_CASE("resources without id are always taken") {
    snapshot_builder builder;
    std::string const no_id = R"({"resourceType":"Observation","status":"final"})";
    CHECK(builder.add(json(searchset({no_id, no_id})), "prefetch.mg") == 2);
    CHECK(builder.add(json(R"({"resourceType":"Observation","id":""})"), "k") == 1);
    CHECK(builder.add(json(R"({"resourceType":"Observation","id":""})"), "k") == 1);
    auto snapshot = std::move(builder).build();
    CHECK(snapshot.observations.size() == 4);
}

TEST_CASE("Bundle outcome entries and OperationOutcome resources are not patient data") {
    snapshot_builder builder;
    auto const bundle = json(R"({"resourceType":"Bundle","type":"searchset","entry":[
        {"resource":{"resourceType":"OperationOutcome","issue":[{"severity":"warning","code":"processing"}]},"search":{"mode":"outcome"}},
        {"resource":{"resourceType":"Observation","id":"hidden-by-mode"},"search":{"mode":"outcome"}},
        {"resource":{"resourceType":"Observation","id":"mg1","status":"final"},"search":{"mode":"match"}},
        {"resource":{"resourceType":"Medication","id":"m1"},"search":{"mode":"include"}}]})");
    CHECK(builder.add(bundle, "prefetch.mg") == 2);
    CHECK(
        builder.add(
            json(
                R"({"resourceType":"OperationOutcome","issue":[{"severity":"error","code":"exception"}]})"),
            "prefetch.renal") == 0);
    auto snapshot = std::move(builder).build();
    CHECK(snapshot.issues.empty());
    REQUIRE(snapshot.observations.size() == 1);
    CHECK(snapshot.observations[0].id == "mg1");
    CHECK(snapshot.medications.size() == 1);
}

TEST_CASE("resources are classified by their own resourceType, not by the prefetch key") {
    snapshot_builder builder;
    auto const mixed = json(R"({"resourceType":"Bundle","entry":[
        {"resource":{"resourceType":"Patient","id":"p1"}},
        {"resource":{"resourceType":"Observation","id":"o1"}},
        {"resource":{"resourceType":"Medication","id":"m1"}},
        {"resource":{"resourceType":"MedicationRequest","id":"r1"}},
        {"resource":{"resourceType":"MedicationOrder","id":"r2"}},
        {"resource":{"resourceType":"MedicationStatement","id":"s1"}},
        {"resource":{"resourceType":"Condition","id":"c1"}},
        {"resource":{"resourceType":"ServiceRequest","id":"sr1"}},
        {"resource":{"resourceType":"Encounter","id":"e1"}},
        {"resource":{"resourceType":"Practitioner","id":"pr1"}}]})");
    CHECK(builder.add(mixed, "prefetch.magnesium") == 8);
    auto snapshot = std::move(builder).build();
    CHECK(snapshot.issues.empty());
    CHECK(snapshot.patient_record);
    CHECK(snapshot.observations.size() == 1);
    CHECK(snapshot.medications.size() == 1);
    REQUIRE(snapshot.medication_orders.size() == 3);
    CHECK(snapshot.medication_orders[0].kind == medication_resource_kind::medication_request);
    CHECK(snapshot.medication_orders[1].kind == medication_resource_kind::medication_order);
    CHECK(snapshot.medication_orders[2].kind == medication_resource_kind::medication_statement);
    CHECK(snapshot.conditions.size() == 1);
    REQUIRE(snapshot.service_requests.size() == 1);
    CHECK(snapshot.service_requests[0].id == "sr1");
}

TEST_CASE("snapshot_builder counts a ServiceRequest once per id, apart from other types") {
    snapshot_builder builder;
    std::string const level =
        R"({"resourceType":"ServiceRequest","id":"mg1","status":"active","intent":"order",)"
        R"("code":{"coding":[{"system":"http://loinc.org","code":"19123-9"}]}})";
    std::string later = level;
    later.replace(later.find("active"), 6, "completed");
    CHECK(builder.add(json(searchset({level, later})), "prefetch.service_requests") == 1);
    CHECK(builder.add(json(level), "prefetch.other") == 0);
    // An Observation with the same id is another resource.
    CHECK(builder.add(json(observation_json("mg1", 1.1)), "prefetch.mg") == 1);
    auto snapshot = std::move(builder).build();
    CHECK(snapshot.issues.empty());
    REQUIRE(snapshot.service_requests.size() == 1);
    CHECK(snapshot.service_requests[0].status == "active");  // the first of the two
    CHECK(snapshot.observations.size() == 1);
}

TEST_CASE("snapshot_builder reports unusable entries and keeps going") {
    snapshot_builder builder;
    auto const bundle = json(R"({"resourceType":"Bundle","entry":[
        "not an entry",
        {"resource":{"id":"no-type"}},
        {"resource":[1,2]},
        {"fullUrl":"http://x/Observation/gone"},
        {"resource":null},
        {"resource":{"resourceType":"Observation","id":"ok"}}]})");
    CHECK(builder.add(bundle, "prefetch.mg") == 1);
    auto snapshot = std::move(builder).build();
    INFO(describe(snapshot.issues));
    CHECK(has_issue(snapshot.issues, "prefetch.mg.entry[0]", issue_severity::error));
    CHECK(has_issue(snapshot.issues, "prefetch.mg.entry[1].resource", issue_severity::error));
    CHECK(has_issue(snapshot.issues, "prefetch.mg.entry[2].resource", issue_severity::error));
    CHECK(snapshot.issues.size() == 3);
    CHECK(snapshot.observations.size() == 1);
}

TEST_CASE("snapshot_builder: null values and bad top-level values") {
    snapshot_builder builder;
    CHECK(builder.add(json("null"), "prefetch.mg") == 0);  // the client looked and found nothing
    CHECK(builder.add(json("[]"), "prefetch.k") == 0);
    CHECK(builder.add(json("42"), "prefetch.ca") == 0);
    CHECK(builder.add(json(R"({"id":"x"})"), "prefetch.weight") == 0);
    CHECK(builder.add(json(R"({"resourceType":"Bundle"})"), "prefetch.qtc") == 0);
    CHECK(builder.add(json(R"({"resourceType":"Bundle","entry":[]})"), "prefetch.preg") == 0);
    auto snapshot = std::move(builder).build();
    INFO(describe(snapshot.issues));
    CHECK(snapshot.issues.size() == 3);
    CHECK(has_issue(snapshot.issues, "prefetch.k", issue_severity::error));
    CHECK(has_issue(snapshot.issues, "prefetch.ca", issue_severity::error));
    CHECK(has_issue(snapshot.issues, "prefetch.weight", issue_severity::error));
}

TEST_CASE("a single entry object instead of an array is accepted") {
    snapshot_builder builder;
    CHECK(
        builder.add(
            json(
                R"({"resourceType":"Bundle","entry":{"resource":{"resourceType":"Observation","id":"o","status":1}}})"),
            "p") == 1);
    auto snapshot = std::move(builder).build();
    REQUIRE(snapshot.observations.size() == 1);
    CHECK(has_issue(snapshot.issues, "p.entry.resource.status", issue_severity::error));
}

TEST_CASE("nested Bundles are read, up to a depth limit") {
    snapshot_builder builder;
    auto const nested = json(R"({"resourceType":"Bundle","entry":[{"resource":
        {"resourceType":"Bundle","type":"collection","entry":[{"resource":{"resourceType":"Observation","id":"inner","status":1}}]}}]})");
    CHECK(builder.add(nested, "p") == 1);
    std::string deep = R"({"resourceType":"Observation","id":"deep"})";
    for (int i = 0; i < 10; ++i)
        deep = R"({"resourceType":"Bundle","entry":[{"resource":)" + deep + "}]}";
    CHECK(builder.add(json(deep), "q") == 0);
    auto snapshot = std::move(builder).build();
    REQUIRE(snapshot.observations.size() == 1);
    CHECK(has_issue(snapshot.issues, "p.entry[0].resource.entry[0].resource.status",
                    issue_severity::error));
    REQUIRE(snapshot.issues.size() == 2);
    CHECK(snapshot.issues[1].message.find("nested too deeply") != std::string::npos);
}

TEST_CASE("the first Patient is kept; another one is reported") {
    snapshot_builder builder;
    builder.add(json(R"({"resourceType":"Patient","id":"p1"})"), "prefetch.patient");
    builder.add(json(R"({"resourceType":"Patient","id":"p1"})"),
                "prefetch.again");  // duplicate: silent
    builder.add(json(R"({"resourceType":"Patient","id":"p2"})"), "prefetch.other");
    auto snapshot = std::move(builder).build();
    REQUIRE(snapshot.patient_record);
    CHECK(snapshot.patient_record->id == "p1");
    REQUIRE(snapshot.issues.size() == 1);
    CHECK(snapshot.issues[0].severity == issue_severity::warning);
    CHECK(snapshot.issues[0].path == "prefetch.other");
}

// ---------------------------------------------------------------- medication resolution

TEST_CASE("build() resolves medicationReference against prefetched Medications") {
    auto check = [](std::string_view reference) {
        INFO(reference);
        snapshot_builder builder;
        builder.add(
            json(std::string(R"({"resourceType":"MedicationRequest","id":"r1","status":"active",)"
                             R"("medicationReference":{"reference":")") +
                 std::string(reference) + "\"}}"),
            "prefetch.meds");
        builder.add(json(R"({"resourceType":"Bundle","entry":[
            {"resource":{"resourceType":"Medication","id":"other","code":{"text":"other"}}},
            {"resource":{"resourceType":"Medication","id":"furo","code":{"coding":[{"system":"http://www.nlm.nih.gov/research/umls/rxnorm","code":"4603"}]},
             "form":{"text":"tablet"},"ingredient":[{"itemCodeableConcept":{"text":"furosemide"}}]}}]})"),
                    "prefetch.medications");
        auto snapshot = std::move(builder).build();
        INFO(describe(snapshot.issues));
        CHECK(snapshot.issues.empty());
        REQUIRE(snapshot.medication_orders.size() == 1);
        auto const& order = snapshot.medication_orders[0];
        CHECK(order.medication_known);
        CHECK(order.resolved_code.has_code("http://www.nlm.nih.gov/research/umls/rxnorm", "4603"));
        CHECK(order.resolved_form.text == "tablet");
        REQUIRE(order.resolved_ingredients.size() == 1);
        CHECK(order.resolved_ingredients[0].text == "furosemide");
    };
    check("Medication/furo");
    check("https://ehr.example.org/fhir/Medication/furo");
    check("https://ehr.example.org/fhir/Medication/furo/_history/2");
}

TEST_CASE("build() resolves a contained Medication first") {
    snapshot_builder builder;
    // A prefetched Medication with the same id must not be taken for the contained one.
    builder.add(json(R"({"resourceType":"Medication","id":"med1","code":{"text":"wrong"}})"),
                "prefetch.medications");
    builder.add(json(R"({"resourceType":"MedicationRequest","id":"r1",
        "contained":[{"resourceType":"Medication","id":"med1","code":{"text":"Magnesium oxide 400 mg"},"form":{"text":"tablet"}}],
        "medicationReference":{"reference":"#med1"}})"),
                "prefetch.meds");
    auto snapshot = std::move(builder).build();
    auto const& order = snapshot.medication_orders.at(0);
    CHECK(order.medication_known);
    CHECK(order.resolved_code.text == "Magnesium oxide 400 mg");
    CHECK(order.resolved_form.text == "tablet");
}

TEST_CASE("medicationCodeableConcept is the medication as written") {
    snapshot_builder builder;
    builder.add(json(R"({"resourceType":"MedicationRequest","id":"r1",
        "medicationCodeableConcept":{"coding":[{"system":"http://www.nlm.nih.gov/research/umls/rxnorm","code":"6585"}]}})"),
                "k");
    auto snapshot = std::move(builder).build();
    auto const& order = snapshot.medication_orders.at(0);
    CHECK(order.medication_known);
    CHECK(order.resolved_code.has_code("http://www.nlm.nih.gov/research/umls/rxnorm", "6585"));
}

TEST_CASE("an unresolvable medicationReference leaves the medication unknown, with a warning") {
    auto check = [](std::string_view reference, std::string_view message_part) {
        INFO(reference);
        snapshot_builder builder;
        builder.add(
            json(
                std::string(
                    R"({"resourceType":"MedicationRequest","id":"r1","medicationReference":{"reference":")") +
                std::string(reference) + "\"}}"),
            "prefetch.meds.entry[3].resource");
        auto snapshot = std::move(builder).build();
        auto const& order = snapshot.medication_orders.at(0);
        CHECK_FALSE(order.medication_known);
        CHECK(order.resolved_code.empty());
        REQUIRE(snapshot.issues.size() == 1);
        CHECK(snapshot.issues[0].severity == issue_severity::warning);
        CHECK(snapshot.issues[0].path == "prefetch.meds.entry[3].resource.medicationReference");
        INFO(snapshot.issues[0].message);
        CHECK(snapshot.issues[0].message.find(message_part) != std::string::npos);
    };
    check("Medication/missing", "could not be resolved");
    check("#missing", "not found among the contained resources");
    check("urn:uuid:9d4ba5a5-8c2e-4b4b-8f1f-0f6c3a3e7b11", "could not be resolved");
    check("Substance/s1", "could not be resolved");
}

TEST_CASE("an unresolvable reference with a display keeps the display as the medication text") {
    snapshot_builder builder;
    builder.add(json(R"({"resourceType":"MedicationRequest","id":"r1",
        "medicationReference":{"reference":"Medication/missing","display":"Furosemide 40 mg tablet"}})"),
                "k");
    auto snapshot = std::move(builder).build();
    auto const& order = snapshot.medication_orders.at(0);
    CHECK(order.medication_known);
    CHECK(order.resolved_code.text == "Furosemide 40 mg tablet");
    CHECK(order.resolved_code.codings.empty());
    REQUIRE(snapshot.issues.size() == 1);
    CHECK(snapshot.issues[0].severity == issue_severity::warning);
}

TEST_CASE("a resolved Medication without text takes the reference's display") {
    snapshot_builder builder;
    builder.add(json(R"({"resourceType":"Medication","id":"m","code":{"coding":[{"code":"1"}]}})"),
                "a");
    builder.add(
        json(
            R"({"resourceType":"MedicationRequest","medicationReference":{"reference":"Medication/m","display":"Omeprazole"}})"),
        "b");
    auto snapshot = std::move(builder).build();
    auto const& order = snapshot.medication_orders.at(0);
    CHECK(order.medication_known);
    CHECK(order.resolved_code.text == "Omeprazole");
    CHECK(order.resolved_code.codings.size() == 1);
}

TEST_CASE("a Medication with nothing but a form does not make the medication known") {
    snapshot_builder builder;
    builder.add(json(R"({"resourceType":"Medication","id":"m","form":{"text":"tablet"}})"), "a");
    builder.add(
        json(
            R"({"resourceType":"MedicationRequest","medicationReference":{"reference":"Medication/m"}})"),
        "b");
    auto snapshot = std::move(builder).build();
    auto const& order = snapshot.medication_orders.at(0);
    CHECK_FALSE(order.medication_known);
    CHECK(order.resolved_form.text == "tablet");
}

TEST_CASE("a bare draft has no medication and no issue") {
    patient_snapshot const snapshot;
    issue_list issues;
    issue_list parse_issues;
    auto draft = parse_medication_order(
        json(R"({"resourceType":"MedicationRequest","id":"request-123","status":"draft"})"),
        "context.draftOrders.entry[0].resource", parse_issues);
    REQUIRE(draft);
    draft->medication_known = true;  // resolve_medication must reset it
    resolve_medication(*draft, snapshot, issues);
    CHECK_FALSE(draft->medication_known);
    CHECK(issues.empty());
}

TEST_CASE("resolve_medication resolves draft orders against a built snapshot") {
    snapshot_builder builder;
    builder.add(
        json(
            R"({"resourceType":"Bundle","entry":[{"resource":{"resourceType":"Medication","id":"ppi",
        "code":{"coding":[{"system":"http://www.whocc.no/atc","code":"A02BC01"}]}}}]})"),
        "prefetch.medications");
    auto const snapshot = std::move(builder).build();
    issue_list issues;
    auto draft = parse_medication_order(
        json(
            R"({"resourceType":"MedicationRequest","id":"d1","medicationReference":{"reference":"Medication/ppi"}})"),
        "context.draftOrders.entry[0].resource", issues);
    REQUIRE(draft);
    resolve_medication(*draft, snapshot, issues);
    CHECK(draft->medication_known);
    CHECK(draft->resolved_code.has_code("http://www.whocc.no/atc", "A02BC01"));
    CHECK(issues.empty());
}

TEST_CASE("find_medication uses the index and still finds later additions") {
    snapshot_builder builder;
    std::string bundle = R"({"resourceType":"Bundle","entry":[)";
    for (int i = 99; i >= 0; --i) {
        bundle += R"({"resource":{"resourceType":"Medication","id":"m)" + std::to_string(i) +
                  R"(","code":{"text":"t)" + std::to_string(i) + "\"}}}";
        if (i > 0) bundle += ",";
    }
    bundle += "]}";
    builder.add(json(bundle), "meds");
    auto snapshot = std::move(builder).build();
    REQUIRE(snapshot.medications.size() == 100);
    CHECK(snapshot.medications_by_id.size() == 100);
    for (int i = 0; i < 100; ++i) {
        // std::string{"m"}.append(...) rather than "m" + ...: GCC 12 at -O2 reports a false
        // -Wrestrict inside operator+(const char*, string&&) (GCC bug 105329).
        auto const number = std::to_string(i);
        auto const* m = snapshot.find_medication(std::string{"m"}.append(number));
        REQUIRE(m != nullptr);
        CHECK(m->code.text == std::string{"t"}.append(number));
    }
    CHECK(snapshot.find_medication("m100") == nullptr);
    CHECK(snapshot.find_medication("") == nullptr);
    CHECK(snapshot.find_medication("m") == nullptr);

    medication added;
    added.id = "late";
    snapshot.medications.push_back(added);
    REQUIRE(snapshot.find_medication("late") != nullptr);
    CHECK(snapshot.find_medication("m42")->code.text == "t42");

    snapshot.medications.erase(snapshot.medications.begin());  // m99; the contract: re-index
    snapshot.index_medications();
    CHECK(snapshot.medications_by_id.size() == snapshot.medications.size());
    CHECK(snapshot.find_medication("m99") == nullptr);
    CHECK(snapshot.find_medication("m42")->code.text == "t42");
    CHECK(snapshot.find_medication("late") != nullptr);

    // An index longer than the list is stale for sure: the search falls back to a full scan.
    snapshot.medications.resize(1);
    snapshot.medications[0].id = "only";
    CHECK(snapshot.find_medication("only") != nullptr);
    CHECK(snapshot.find_medication("m42") == nullptr);
}

TEST_CASE("a hand-built snapshot without an index is searched linearly") {
    patient_snapshot snapshot;
    medication m;
    m.id = "x";
    m.code.text = "found";
    snapshot.medications.push_back(m);
    REQUIRE(snapshot.find_medication("x") != nullptr);
    CHECK(snapshot.find_medication("x")->code.text == "found");
}

TEST_CASE("de-duplication tells every resource type apart and holds across table growth") {
    // Each id is used by every type the snapshot keeps; a second copy of each is then offered.
    // 300 ids x 6 types go well past the de-duplication table's first sizes.
    auto add_all = [](snapshot_builder& builder, std::string const& id) {
        std::size_t taken = 0;
        taken += builder.add(json(observation_json(id, 1.5)), "o");
        taken += builder.add(json(R"({"resourceType":"Condition","id":")" + id + R"("})"), "c");
        taken += builder.add(json(R"({"resourceType":"Medication","id":")" + id + R"("})"), "m");
        for (std::string const type :
             {"MedicationRequest", "MedicationStatement", "MedicationOrder"}) {
            taken += builder.add(json(R"({"resourceType":")" + type + R"(","id":")" + id + R"("})"),
                                 "r");
        }
        return taken;
    };
    snapshot_builder builder;
    for (int i = 0; i < 300; ++i) CHECK(add_all(builder, "id-" + std::to_string(i)) == 6);
    for (int i = 0; i < 300; ++i) CHECK(add_all(builder, "id-" + std::to_string(i)) == 0);
    // A prefix or an extension of a taken id is another resource.
    CHECK(builder.add(json(observation_json("id-1x", 1.5)), "o") == 1);
    CHECK(builder.add(json(observation_json("id-", 1.5)), "o") == 1);
    CHECK(builder.add(json(R"({"resourceType":"Patient","id":"id-1"})"), "p") == 1);
    CHECK(builder.add(json(R"({"resourceType":"Patient","id":"id-1"})"), "p") ==
          0);  // no second-Patient warning
    auto snapshot = std::move(builder).build();
    CHECK(snapshot.observations.size() == 302);
    CHECK(snapshot.conditions.size() == 300);
    CHECK(snapshot.medications.size() == 300);
    CHECK(snapshot.medication_orders.size() == 900);
    CHECK(snapshot.issues.empty());
}

TEST_CASE("only resources taken into the snapshot count as seen") {
    snapshot_builder builder;
    CHECK(builder.add(json(R"({"resourceType":"Patient","id":"p1"})"), "a") == 1);
    // A second Patient is not taken, so a copy of it is not a duplicate: it is reported again.
    CHECK(builder.add(json(R"({"resourceType":"Patient","id":"p2"})"), "b") == 0);
    CHECK(builder.add(json(R"({"resourceType":"Patient","id":"p2"})"), "c") == 0);
    auto snapshot = std::move(builder).build();
    REQUIRE(snapshot.patient_record);
    CHECK(snapshot.patient_record->id == "p1");
    CHECK(has_issue(snapshot.issues, "b", issue_severity::warning));
    CHECK(has_issue(snapshot.issues, "c", issue_severity::warning));
}

TEST_CASE("members of objects larger than the inline-scan limit are found, and null is absent") {
    // 40 extra members push the object past the size up to which members are scanned inline.
    std::string resource = R"({"resourceType":"Observation","id":"big","status":"final")";
    for (int i = 0; i < 40; ++i) resource += ",\"x" + std::to_string(i) + "\":" + std::to_string(i);
    resource +=
        R"(,"valueQuantity":{"value":1.4,"unit":"mg/dL"},"issued":null,"subject":{"reference":"Patient/p"}})";
    snapshot_builder builder;
    CHECK(builder.add(json(resource), "prefetch.big") == 1);
    CHECK(builder.add(json(resource), "prefetch.again") == 0);
    auto snapshot = std::move(builder).build();
    REQUIRE(snapshot.observations.size() == 1);
    auto const& obs = snapshot.observations[0];
    CHECK(obs.status == "final");
    REQUIRE(obs.value_quantity);
    CHECK(*obs.value_quantity->value == doctest::Approx(1.4));
    CHECK_FALSE(obs.issued);
    CHECK(obs.subject == "Patient/p");
    CHECK(snapshot.issues.empty());
}

TEST_CASE("subject: only the reference text is kept, with the Reference checks of any reference") {
    snapshot_builder builder;
    builder.add(
        json(R"({"resourceType":"Observation","id":"a","subject":{"reference":7,"display":true}})"),
        "o");
    builder.add(json(R"({"resourceType":"Observation","id":"b","subject":"Patient/p"})"), "o2");
    builder.add(
        json(
            R"({"resourceType":"MedicationRequest","id":"m","subject":{"display":"x"},"patient":{"reference":"Patient/q"}})"),
        "r");
    auto snapshot = std::move(builder).build();
    INFO(describe(snapshot.issues));
    REQUIRE(snapshot.observations.size() == 2);
    CHECK(snapshot.observations[0].subject.empty());
    CHECK(has_message(snapshot.issues, "o.subject.reference", "expected a string, found a number"));
    CHECK(has_message(snapshot.issues, "o.subject.display", "expected a string, found a boolean"));
    CHECK(
        has_message(snapshot.issues, "o2.subject", "expected a Reference object, found a string"));
    REQUIRE(snapshot.medication_orders.size() == 1);
    // DSTU2 `patient` stands in when `subject` gives no reference text.
    CHECK(snapshot.medication_orders[0].subject == "Patient/q");
}

// ---- references resolved against Bundle entry fullUrls (FHIR R4 Bundle, "Resolving
// references in Bundles": an absolute reference, urn:uuid/urn:oid included, names the entry
// whose fullUrl is the same) ----

namespace {

constexpr std::string_view furosemide_medication =
    R"({"resourceType":"Medication","code":{"coding":[{"system":"http://www.nlm.nih.gov/research/umls/rxnorm","code":"4603"}],"text":"furosemide"}})";
constexpr std::string_view other_medication =
    R"({"resourceType":"Medication","code":{"text":"something else"}})";

std::string order_naming(std::string_view reference, std::string_view id = "r1") {
    std::string out = R"({"resourceType":"MedicationRequest","id":")";
    out += id;
    out += R"(","status":"active","medicationReference":{"reference":")";
    out += reference;
    out += R"("}})";
    return out;
}

std::string entry(std::string_view full_url, std::string_view resource) {
    std::string out = R"({"fullUrl":")";
    out += full_url;
    out += R"(","resource":)";
    out += resource;
    out += "}";
    return out;
}

std::string collection(std::initializer_list<std::string> entries) {
    std::string out = R"({"resourceType":"Bundle","type":"collection","entry":[)";
    bool first = true;
    for (auto const& e : entries) {
        if (!first) out += ",";
        out += e;
        first = false;
    }
    return out + "]}";
}

}  // namespace

TEST_CASE("a urn:uuid medicationReference resolves to the Bundle entry with that fullUrl") {
    // The Medications have no id (usual for urn:uuid entries): only the fullUrl names them.
    auto const bundle = collection({
        entry("urn:uuid:1f0c0a52-2b0e-4c8e-9a51-5b3f1f6f0a01", other_medication),
        entry("urn:uuid:a6d2c1e0-7f4b-4b8a-b1a0-3c9e5d7f2b44",
              order_naming("urn:uuid:9c1e7b3a-4d2f-4e6a-8b5c-0a1d2e3f4a5b")),
        entry("urn:uuid:9c1e7b3a-4d2f-4e6a-8b5c-0a1d2e3f4a5b", furosemide_medication),
    });
    snapshot_builder builder;
    builder.add(json(bundle), "prefetch.medication_requests");
    auto const snapshot = std::move(builder).build();
    INFO(describe(snapshot.issues));
    CHECK(snapshot.issues.empty());
    REQUIRE(snapshot.medications.size() == 2);
    CHECK(snapshot.medications[1].full_url == "urn:uuid:9c1e7b3a-4d2f-4e6a-8b5c-0a1d2e3f4a5b");
    auto const& order = snapshot.medication_orders.at(0);
    CHECK(order.medication_known);
    CHECK(order.resolved_code.has_code("http://www.nlm.nih.gov/research/umls/rxnorm", "4603"));
    CHECK(order.resolved_code.text == "furosemide");
}

TEST_CASE("urn references resolve across the request's Bundles, urn:oid too, and never by id") {
    snapshot_builder builder;
    builder.add(json(collection(
                    {entry("urn:uuid:5e4d3c2b-1a09-4f8e-9d7c-6b5a4f3e2d1c",
                           order_naming("urn:uuid:0b1c2d3e-4f50-4617-8293-a4b5c6d7e8f9", "r1")),
                     entry("urn:uuid:6f5e4d3c-2b1a-4098-8e7d-5c4b3a2f1e0d",
                           order_naming("urn:oid:1.2.3.4.5", "r2")),
                     entry("urn:uuid:7a6b5c4d-3e2f-4109-9f8e-7d6c5b4a3f2e",
                           order_naming("urn:uuid:00000000-0000-4000-8000-000000000000", "r3"))})),
                "prefetch.medication_requests");
    // In another prefetch key's Bundle; an id equal to a urn must not make it match.
    builder.add(
        json(collection(
            {entry("urn:uuid:0b1c2d3e-4f50-4617-8293-a4b5c6d7e8f9", furosemide_medication),
             entry("urn:oid:1.2.3.4.5", other_medication),
             entry(
                 "http://ehr/fhir/Medication/x",
                 R"({"resourceType":"Medication","id":"urn:uuid:00000000-0000-4000-8000-000000000000","code":{"text":"by id"}})")})),
        "prefetch.medications");
    auto const snapshot = std::move(builder).build();
    REQUIRE(snapshot.medication_orders.size() == 3);
    CHECK(snapshot.medication_orders[0].resolved_code.text == "furosemide");
    CHECK(snapshot.medication_orders[1].resolved_code.text == "something else");
    CHECK_FALSE(snapshot.medication_orders[2].medication_known);
    REQUIRE(snapshot.issues.size() == 1);
    CHECK(snapshot.issues[0].path ==
          "prefetch.medication_requests.entry[2].resource.medicationReference");
    CHECK(snapshot.issues[0].message.find("could not be resolved") != std::string::npos);
}

TEST_CASE("an absolute reference resolves by fullUrl, and by type and id when no fullUrl matches") {
    auto check = [](std::string_view reference, std::string_view expected_text) {
        INFO(reference);
        snapshot_builder builder;
        builder.add(json(order_naming(reference)), "prefetch.meds");
        builder.add(json(collection({
                        // No id: only the fullUrl can name it.
                        entry("https://ehr.example.org/fhir/Medication/123", furosemide_medication),
                        entry("https://ehr.example.org/fhir/Medication/m2",
                              R"({"resourceType":"Medication","id":"m2","code":{"text":"by id"}})"),
                    })),
                    "prefetch.medications");
        auto const snapshot = std::move(builder).build();
        INFO(describe(snapshot.issues));
        auto const& order = snapshot.medication_orders.at(0);
        if (expected_text.empty()) {
            CHECK_FALSE(order.medication_known);
            CHECK(snapshot.issues.size() == 1);
        } else {
            CHECK(order.medication_known);
            CHECK(order.resolved_code.text == expected_text);
            CHECK(snapshot.issues.empty());
        }
    };
    check("https://ehr.example.org/fhir/Medication/123", "furosemide");
    check("https://ehr.example.org/fhir/Medication/m2", "by id");
    check("http://mirror.example.org/r4/Medication/m2", "by id");             // another base: by id
    check("https://ehr.example.org/fhir/Medication/m2/_history/3", "by id");  // version-specific
    check("Medication/m2", "by id");
    check("Medication/123", "");  // relative: by id only, and nothing has id 123
    check("https://ehr.example.org/fhir/Medication/999", "");
}

TEST_CASE("a fullUrl that is not a string is ignored; the resource still counts") {
    snapshot_builder builder;
    builder.add(json(R"({"resourceType":"Bundle","type":"collection","entry":[
        {"fullUrl":42,"resource":{"resourceType":"Medication","id":"m1","code":{"text":"x"}}},
        {"resource":{"resourceType":"Medication","id":"m2","code":{"text":"y"}}}]})"),
                "k");
    auto const snapshot = std::move(builder).build();
    REQUIRE(snapshot.medications.size() == 2);
    CHECK(snapshot.medications[0].full_url.empty());
    CHECK(snapshot.medications[1].full_url.empty());
    CHECK(snapshot.medications_by_full_url.empty());
    CHECK(snapshot.find_medication_by_full_url("") == nullptr);
}

TEST_CASE("a resource added with its entry's fullUrl (a draft order entry) is found by it") {
    snapshot_builder builder;
    builder.add(json(furosemide_medication), "context.draftOrders.entry[1].resource",
                "urn:uuid:3d2c1b0a-9f8e-4d7c-8b6a-5f4e3d2c1b0a");
    auto const snapshot = std::move(builder).build();
    issue_list issues;
    auto draft = parse_medication_order(
        json(order_naming("urn:uuid:3d2c1b0a-9f8e-4d7c-8b6a-5f4e3d2c1b0a", "d1")),
        "context.draftOrders.entry[0].resource", issues);
    REQUIRE(draft);
    resolve_medication(*draft, snapshot, issues);
    CHECK(draft->medication_known);
    CHECK(draft->resolved_code.text == "furosemide");
    CHECK(issues.empty());
}

TEST_CASE("find_medication_by_full_url uses the index and still finds later additions") {
    snapshot_builder builder;
    std::string bundle = R"({"resourceType":"Bundle","entry":[)";
    for (int i = 49; i >= 0; --i) {
        auto const number = std::to_string(i);
        bundle += R"({"fullUrl":"urn:uuid:u)";
        bundle += number;
        bundle += R"(","resource":{"resourceType":"Medication","code":{"text":"t)";
        bundle += number;
        bundle += "\"}}}";
        if (i > 0) bundle += ",";
    }
    bundle += "]}";
    builder.add(json(bundle), "meds");
    auto snapshot = std::move(builder).build();
    REQUIRE(snapshot.medications.size() == 50);
    CHECK(snapshot.medications_by_full_url.size() == 50);
    for (int i = 0; i < 50; ++i) {
        auto const number = std::to_string(i);
        auto const* m =
            snapshot.find_medication_by_full_url(std::string{"urn:uuid:u"}.append(number));
        REQUIRE(m != nullptr);
        CHECK(m->code.text == std::string{"t"}.append(number));
    }
    CHECK(snapshot.find_medication_by_full_url("urn:uuid:u50") == nullptr);

    medication added;
    added.full_url = "urn:uuid:late";
    snapshot.medications.push_back(added);
    CHECK(snapshot.find_medication_by_full_url("urn:uuid:late") != nullptr);
    CHECK(snapshot.find_medication_by_full_url("urn:uuid:u7")->code.text == "t7");

    // A stale index (medications removed without re-indexing) falls back to a full scan.
    snapshot.medications.resize(1);
    snapshot.medications[0].full_url = "urn:uuid:only";
    CHECK(snapshot.find_medication_by_full_url("urn:uuid:only") != nullptr);
    CHECK(snapshot.find_medication_by_full_url("urn:uuid:u7") == nullptr);
}

TEST_CASE("the codings copied into resolved orders are bounded per snapshot") {
    // One Medication of 64 ingredients of 64 codings each (4,224 codings with its code and
    // form) named by five orders: three copies fit in the bound of 16,384, the others stay
    // unresolved with a warning, as if the Medication were missing.
    std::string codings = "[";
    for (int i = 0; i < 64; ++i) codings += i == 0 ? R"({"code":"c"})" : R"(,{"code":"c"})";
    codings += "]";
    std::string const concept_text = R"({"coding":)" + codings + "}";
    std::string ingredients = "[";
    for (int i = 0; i < 64; ++i) {
        if (i > 0) ingredients += ',';
        ingredients += R"({"itemCodeableConcept":)" + concept_text + "}";
    }
    ingredients += "]";
    std::string entries = R"({"resource":{"resourceType":"Medication","id":"big","code":)" +
                          concept_text + R"(,"form":)" + concept_text + R"(,"ingredient":)" +
                          ingredients + "}}";
    for (int i = 0; i < 5; ++i) {
        entries += R"(,{"resource":{"resourceType":"MedicationRequest","id":"m)" +
                   std::to_string(i) +
                   R"(","medicationReference":{"reference":"Medication/big","display":"big"}}})";
    }
    snapshot_builder builder;
    (void)builder.add(json(R"({"resourceType":"Bundle","entry":[)" + entries + "]}"),
                      "prefetch.meds");
    auto const snapshot = std::move(builder).build();
    REQUIRE(snapshot.medication_orders.size() == 5);
    for (int i = 0; i < 5; ++i) {
        CAPTURE(i);
        auto const& order = snapshot.medication_orders[static_cast<std::size_t>(i)];
        CHECK(order.resolved_ingredients.size() == (i < 3 ? 64U : 0U));
        CHECK(order.resolved_code.text == "big");  // the display stands in either way
    }
    CHECK(has_issue(snapshot.issues, "prefetch.meds.entry[4].resource.medicationReference",
                    issue_severity::warning));
    CHECK_FALSE(has_issue(snapshot.issues, "prefetch.meds.entry[3].resource.medicationReference",
                          issue_severity::warning));
}
