// Every element of rich, valid resources replaced in turn by a value of every other JSON kind:
// parsing never throws, and every issue it reports carries a path inside the resource.

#include <cstddef>
#include <functional>
#include <string>
#include <string_view>

#include <doctest/doctest.h>

#include "cds/fhir/snapshot.hpp"
#include "test_support.hpp"

using namespace cds::fhir;
using cds::fhir::test::json;

namespace {

// Visits every value of a document depth-first (the root included); stops when f returns true.
bool visit(boost::json::value& v, std::function<bool(boost::json::value&)> const& f) {
    if (f(v)) return true;
    if (auto* o = v.if_object()) {
        for (auto& member : *o) {
            if (visit(member.value(), f)) return true;
        }
    } else if (auto* a = v.if_array()) {
        for (auto& item : *a) {
            if (visit(item, f)) return true;
        }
    }
    return false;
}

std::size_t count_values(boost::json::value doc) {
    std::size_t n = 0;
    visit(doc, [&](boost::json::value&) {
        ++n;
        return false;
    });
    return n;
}

using parse_function = std::function<void(boost::json::value const&, issue_list&)>;

// Returns how many variants were parsed.
std::size_t mutate_and_parse(std::string_view original, parse_function const& parse) {
    auto const doc = json(original);
    boost::json::value const replacements[] = {
        nullptr,
        true,
        0,
        -1.5,
        "",
        "x",
        boost::json::array{},
        boost::json::object{},
        json(R"([{"a":1},"b",2])"),
        json(R"({"resourceType":"Observation","value":{}})")};
    std::size_t const n = count_values(doc);
    std::size_t variants = 0;
    for (std::size_t target = 0; target < n; ++target) {
        for (auto const& replacement : replacements) {
            auto copy = doc;
            std::size_t i = 0;
            visit(copy, [&](boost::json::value& v) {
                if (i++ != target) return false;
                v = replacement;
                return true;
            });
            issue_list issues;
            INFO("value #" << target << " replaced by " << boost::json::serialize(replacement));
            REQUIRE_NOTHROW(parse(copy, issues));
            for (auto const& issue : issues) {
                INFO(issue.path << ": " << issue.message);
                CHECK(issue.path.rfind("r", 0) == 0);
                CHECK_FALSE(issue.message.empty());
            }
            ++variants;
        }
    }
    return variants;
}

constexpr std::string_view rich_request = R"({
    "resourceType":"MedicationRequest","id":"mr1","status":"active","intent":"order",
    "contained":[{"resourceType":"Medication","id":"m1","code":{"coding":[{"system":"s","code":"c","display":"d"}],"text":"t"},
                  "form":{"text":"tablet"},"ingredient":[{"itemCodeableConcept":{"text":"i"}},{"itemReference":{"reference":"Substance/1"}}]}],
    "category":{"coding":[{"code":"inpatient"}]},
    "medicationReference":{"reference":"#m1","display":"x"},
    "subject":{"reference":"Patient/p1"},
    "authoredOn":"2025-03-04T10:00:00+01:00",
    "reasonCode":[{"text":"r"}],"reasonReference":[{"reference":"Condition/c"}],
    "dosageInstruction":[{"text":"t","route":{"coding":[{"code":"47625008"}]},"asNeededBoolean":false,
        "timing":{"repeat":{"frequency":1,"period":12,"periodUnit":"h","duration":2,"durationUnit":"h",
                            "boundsPeriod":{"start":"2025-03-04","end":"2025-03-05"},"boundsDuration":{"value":1,"code":"d"}}},
        "doseAndRate":[{"doseQuantity":{"value":2,"unit":"g","comparator":"<"},"rateQuantity":{"value":1,"unit":"g/h"},
                        "rateRatio":{"numerator":{"value":1},"denominator":{"value":1}}}]}],
    "dispenseRequest":{"expectedSupplyDuration":{"value":5,"code":"d"},"validityPeriod":{"start":"2025-03-04"}}})";

constexpr std::string_view rich_observation = R"({
    "resourceType":"Observation","id":"o1","status":"final",
    "code":{"coding":[{"system":"http://loinc.org","code":"19123-9"}]},
    "subject":{"reference":"Patient/p1"},
    "effectiveDateTime":"2025-03-04","effectivePeriod":{"start":"2025-03-04","end":"2025-03-05"},
    "effectiveInstant":"2025-03-04T10:00:00Z","issued":"2025-03-04T10:00:00Z",
    "valueQuantity":{"value":1.1,"comparator":"<=","unit":"mg/dL","system":"http://unitsofmeasure.org","code":"mg/dL"},
    "valueCodeableConcept":{"text":"x"},"dataAbsentReason":{"text":"x"},
    "component":[{"code":{"text":"c"},"valueQuantity":{"value":1}}]})";

constexpr std::string_view rich_condition = R"({
    "resourceType":"Condition","id":"c1","clinicalStatus":{"coding":[{"code":"active"}]},"verificationStatus":"confirmed",
    "code":{"text":"CKD 5"},"category":[{"text":"problem"}],"onsetDateTime":"2025","onsetPeriod":{"start":"2024"},
    "recordedDate":"2025-01-01","dateRecorded":"2025-01-01","abatementBoolean":false})";

constexpr std::string_view rich_patient =
    R"({"resourceType":"Patient","id":"p1","gender":"female","birthDate":"1960-01-01"})";

}  // namespace

TEST_CASE("MedicationRequest parsing survives every element of the wrong type") {
    auto const n =
        mutate_and_parse(rich_request, [](boost::json::value const& v, issue_list& issues) {
            auto order = parse_medication_order(v, "r", issues);
            if (order) {
                patient_snapshot const empty;
                resolve_medication(*order, empty, issues);
            }
        });
    CHECK(n > 500);
}

TEST_CASE("Observation parsing survives every element of the wrong type") {
    auto const n =
        mutate_and_parse(rich_observation, [](boost::json::value const& v, issue_list& issues) {
            if (auto obs = parse_observation(v, "r", issues)) (void)obs->result_time();
        });
    CHECK(n > 300);
}

TEST_CASE("Condition, Patient and Medication parsing survive every element of the wrong type") {
    CHECK(mutate_and_parse(rich_condition, [](boost::json::value const& v, issue_list& issues) {
              (void)parse_condition(v, "r", issues);
          }) > 100);
    CHECK(mutate_and_parse(rich_patient, [](boost::json::value const& v, issue_list& issues) {
              (void)parse_patient(v, "r", issues);
          }) > 30);
    CHECK(
        mutate_and_parse(
            R"({"resourceType":"Medication","id":"m","code":{"text":"x"},"ingredient":{"item":{"concept":{"text":"y"}}}})",
            [](boost::json::value const& v, issue_list& issues) {
                (void)parse_medication(v, "r", issues);
            }) > 50);
}

TEST_CASE("snapshot_builder survives every element of a Bundle of the wrong type") {
    std::string const bundle =
        std::string(R"({"resourceType":"Bundle","type":"searchset","entry":[{"resource":)") +
        std::string(rich_request) + R"(},{"resource":)" + std::string(rich_observation) +
        R"(,"search":{"mode":"match"}},{"resource":{"resourceType":"Medication","id":"m1"}},)"
        R"({"resource":{"resourceType":"OperationOutcome"},"search":{"mode":"outcome"}}]})";
    auto const n = mutate_and_parse(bundle, [](boost::json::value const& v, issue_list& issues) {
        snapshot_builder builder;
        builder.add(v, "r");
        auto snapshot = std::move(builder).build();
        issues = std::move(snapshot.issues);
    });
    CHECK(n > 1000);
}
