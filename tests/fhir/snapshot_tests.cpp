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

std::string searchset(std::initializer_list<std::string> resources) {
    std::string out = R"({"resourceType":"Bundle","type":"searchset","entry":[)";
    bool first = true;
    for (auto const& r : resources) {
        if (!first) out += ",";
        out += R"({"fullUrl":"http://ehr/fhir/x","resource":)" + r + R"(,"search":{"mode":"match"}})";
        first = false;
    }
    return out + "]}";
}

}  // namespace

TEST_CASE("snapshot_builder takes a searchset Bundle's resources") {
    snapshot_builder builder;
    auto const taken =
        builder.add(json(searchset({observation_json("mg1", 1.1), observation_json("mg2", 1.9)})), "prefetch.mg");
    CHECK(taken == 2);
    auto snapshot = std::move(builder).build();
    REQUIRE(snapshot.observations.size() == 2);
    CHECK(snapshot.observations[0].id == "mg1");
    CHECK(snapshot.observations[1].source_path == "prefetch.mg.entry[1].resource");
    CHECK(snapshot.issues.empty());
}

TEST_CASE("snapshot_builder takes a single resource") {
    snapshot_builder builder;
    CHECK(builder.add(json(R"({"resourceType":"Patient","id":"p1","gender":"male"})"), "prefetch.patient") == 1);
    auto snapshot = std::move(builder).build();
    REQUIRE(snapshot.patient_record);
    CHECK(snapshot.patient_record->id == "p1");
    CHECK(snapshot.patient_record->source_path == "prefetch.patient");
}

TEST_CASE("issues name the element path inside a Bundle entry") {
    snapshot_builder builder;
    builder.add(json(searchset({observation_json("a", 1.0), observation_json("b", 1.0),
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
    CHECK(builder.add(json(searchset({observation_json("mg1", 9.9), observation_json("mg3", 1.5)})), "prefetch.all") == 1);
    CHECK(builder.add(json(observation_json("mg1", 1.1)), "prefetch.single") == 0);
    // Same id, other type: a different resource.
    CHECK(builder.add(json(R"({"resourceType":"Condition","id":"mg1"})"), "prefetch.conditions") == 1);
    auto snapshot = std::move(builder).build();
    REQUIRE(snapshot.observations.size() == 2);
    CHECK(*snapshot.observations[0].value_quantity->value == doctest::Approx(1.1));
    CHECK(snapshot.observations[1].id == "mg3");
    CHECK(snapshot.conditions.size() == 1);
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
    CHECK(builder.add(json(R"({"resourceType":"OperationOutcome","issue":[{"severity":"error","code":"exception"}]})"),
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
        {"resource":{"resourceType":"Encounter","id":"e1"}},
        {"resource":{"resourceType":"Practitioner","id":"pr1"}}]})");
    CHECK(builder.add(mixed, "prefetch.magnesium") == 7);
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
    CHECK(builder.add(json(R"({"resourceType":"Bundle","entry":{"resource":{"resourceType":"Observation","id":"o"}}})"),
                      "p") == 1);
    auto snapshot = std::move(builder).build();
    REQUIRE(snapshot.observations.size() == 1);
    CHECK(snapshot.observations[0].source_path == "p.entry.resource");
}

TEST_CASE("nested Bundles are read, up to a depth limit") {
    snapshot_builder builder;
    auto const nested = json(R"({"resourceType":"Bundle","entry":[{"resource":
        {"resourceType":"Bundle","type":"collection","entry":[{"resource":{"resourceType":"Observation","id":"inner"}}]}}]})");
    CHECK(builder.add(nested, "p") == 1);
    std::string deep = R"({"resourceType":"Observation","id":"deep"})";
    for (int i = 0; i < 10; ++i) deep = R"({"resourceType":"Bundle","entry":[{"resource":)" + deep + "}]}";
    CHECK(builder.add(json(deep), "q") == 0);
    auto snapshot = std::move(builder).build();
    REQUIRE(snapshot.observations.size() == 1);
    CHECK(snapshot.observations[0].source_path == "p.entry[0].resource.entry[0].resource");
    REQUIRE(snapshot.issues.size() == 1);
    CHECK(snapshot.issues[0].message.find("nested too deeply") != std::string::npos);
}

TEST_CASE("the first Patient is kept; another one is reported") {
    snapshot_builder builder;
    builder.add(json(R"({"resourceType":"Patient","id":"p1"})"), "prefetch.patient");
    builder.add(json(R"({"resourceType":"Patient","id":"p1"})"), "prefetch.again");  // duplicate: silent
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
        builder.add(json(std::string(R"({"resourceType":"MedicationRequest","id":"r1","status":"active",)"
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
    builder.add(json(R"({"resourceType":"Medication","id":"med1","code":{"text":"wrong"}})"), "prefetch.medications");
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
        builder.add(json(std::string(R"({"resourceType":"MedicationRequest","id":"r1","medicationReference":{"reference":")") +
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
    builder.add(json(R"({"resourceType":"Medication","id":"m","code":{"coding":[{"code":"1"}]}})"), "a");
    builder.add(json(R"({"resourceType":"MedicationRequest","medicationReference":{"reference":"Medication/m","display":"Omeprazole"}})"),
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
    builder.add(json(R"({"resourceType":"MedicationRequest","medicationReference":{"reference":"Medication/m"}})"), "b");
    auto snapshot = std::move(builder).build();
    auto const& order = snapshot.medication_orders.at(0);
    CHECK_FALSE(order.medication_known);
    CHECK(order.resolved_form.text == "tablet");
}

TEST_CASE("a bare draft has no medication and no issue") {
    patient_snapshot const snapshot;
    issue_list issues;
    issue_list parse_issues;
    auto draft = parse_medication_order(json(R"({"resourceType":"MedicationRequest","id":"request-123","status":"draft"})"),
                                        "context.draftOrders.entry[0].resource", parse_issues);
    REQUIRE(draft);
    draft->medication_known = true;  // resolve_medication must reset it
    resolve_medication(*draft, snapshot, issues);
    CHECK_FALSE(draft->medication_known);
    CHECK(issues.empty());
}

TEST_CASE("resolve_medication resolves draft orders against a built snapshot") {
    snapshot_builder builder;
    builder.add(json(R"({"resourceType":"Bundle","entry":[{"resource":{"resourceType":"Medication","id":"ppi",
        "code":{"coding":[{"system":"http://www.whocc.no/atc","code":"A02BC01"}]}}}]})"),
                "prefetch.medications");
    auto const snapshot = std::move(builder).build();
    issue_list issues;
    auto draft = parse_medication_order(
        json(R"({"resourceType":"MedicationRequest","id":"d1","medicationReference":{"reference":"Medication/ppi"}})"),
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
        bundle += R"({"resource":{"resourceType":"Medication","id":"m)" + std::to_string(i) + R"(","code":{"text":"t)" +
                  std::to_string(i) + "\"}}}";
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
