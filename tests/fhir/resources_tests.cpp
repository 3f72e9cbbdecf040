#include <string>
#include <string_view>

#include <doctest/doctest.h>

#include "cds/fhir/resources.hpp"
#include "cds/fhir/snapshot.hpp"
#include "test_support.hpp"

using namespace cds::fhir;
using cds::fhir::test::describe;
using cds::fhir::test::dt;
using cds::fhir::test::has_issue;
using cds::fhir::test::json;
using cds::fhir::test::utc;

// ---------------------------------------------------------------- resource envelope

TEST_CASE("parsers skip a resource of another type, without resourceType, or not an object") {
    auto check = [](std::string_view text, std::string_view message_part) {
        INFO(text);
        issue_list issues;
        CHECK_FALSE(parse_observation(json(text), "prefetch.mg", issues));
        REQUIRE(issues.size() == 1);
        CHECK(issues[0].severity == issue_severity::error);
        CHECK(issues[0].path == "prefetch.mg");
        INFO(issues[0].message);
        CHECK(issues[0].message.find(message_part) != std::string::npos);
    };
    check(R"({"resourceType":"Patient","id":"p"})",
          "unexpected resourceType 'Patient' (expected Observation)");
    check(R"({"id":"o1","status":"final"})", "without resourceType");
    check(R"({"resourceType":7})", "resourceType is not a string");
    check(R"({"resourceType":null})", "without resourceType");
    check(R"([{"resourceType":"Observation"}])", "expected a FHIR resource object, found an array");
    check(R"("Observation")", "found a string");
    check("null", "found null");

    issue_list issues;
    CHECK_FALSE(parse_medication_order(json(R"({"resourceType":"Observation"})"), "d", issues));
    REQUIRE(issues.size() == 1);
    CHECK(issues[0].message.find(
              "expected MedicationRequest or MedicationOrder or MedicationStatement") !=
          std::string::npos);
}

// ---------------------------------------------------------------- Patient

TEST_CASE("Patient: id, birthDate at any precision, gender") {
    auto check = [](std::string_view birth_date, date_precision precision, instant start) {
        INFO(birth_date);
        issue_list issues;
        auto p = parse_patient(
            json(std::string(
                     R"({"resourceType":"Patient","id":"p1","gender":"female","birthDate":")") +
                 std::string(birth_date) + "\"}"),
            "prefetch.patient", issues);
        REQUIRE(p);
        CHECK(p->id == "p1");
        REQUIRE(p->birth_date);
        CHECK(p->birth_date->precision == precision);
        CHECK(p->birth_date->start == start);
        CHECK(p->gender == administrative_gender::female);
        CHECK(p->gender_present);
        CHECK(issues.empty());
    };
    check("1962", date_precision::year, utc(1962, 1, 1));
    check("1962-07", date_precision::month, utc(1962, 7, 1));
    check("1962-07-14", date_precision::day, utc(1962, 7, 14));
    check("1962-07-14T10:00:00+02:00", date_precision::second, utc(1962, 7, 14, 8));
}

TEST_CASE("Patient: every gender code, and absent gender") {
    auto check = [](std::string_view gender_json, administrative_gender expected, bool present) {
        INFO(gender_json);
        issue_list issues;
        std::string text = R"({"resourceType":"Patient","id":"p1")";
        if (!gender_json.empty()) text += std::string(R"(,"gender":)") + std::string(gender_json);
        text += "}";
        auto p = parse_patient(json(text), "pt", issues);
        REQUIRE(p);
        CHECK(p->gender == expected);
        CHECK(p->gender_present == present);
        CHECK(issues.empty());
    };
    check(R"("male")", administrative_gender::male, true);
    check(R"("female")", administrative_gender::female, true);
    check(R"("other")", administrative_gender::other, true);
    check(R"("unknown")", administrative_gender::unknown, true);
    check("", administrative_gender::unknown, false);
    check("null", administrative_gender::unknown, false);
}

TEST_CASE("Patient: an unknown or wrongly typed gender is not guessed") {
    auto check = [](std::string_view gender_json) {
        INFO(gender_json);
        issue_list issues;
        auto p = parse_patient(json(std::string(R"({"resourceType":"Patient","gender":)") +
                                    std::string(gender_json) + "}"),
                               "pt", issues);
        REQUIRE(p);
        CHECK(p->gender == administrative_gender::unknown);
        CHECK_FALSE(p->gender_present);
        CHECK(has_issue(issues, "pt.gender", issue_severity::error));
    };
    check(R"("M")");
    check(R"("Female")");
    check("1");
    check(R"({"coding":[{"code":"male"}]})");
}

TEST_CASE("Patient: a bad birthDate is dropped with an issue, the patient kept") {
    issue_list issues;
    auto p = parse_patient(
        json(R"({"resourceType":"Patient","id":"p","birthDate":"1962-02-30","gender":"male"})"),
        "prefetch.patient", issues);
    REQUIRE(p);
    CHECK_FALSE(p->birth_date);
    CHECK(p->gender == administrative_gender::male);
    CHECK(has_issue(issues, "prefetch.patient.birthDate", issue_severity::error));
}

// ---------------------------------------------------------------- Observation

TEST_CASE("Observation: status, code, valueQuantity, subject, times") {
    issue_list issues;
    auto o = parse_observation(json(R"({
        "resourceType":"Observation","id":"mg1","status":"final",
        "category":[{"coding":[{"system":"http://terminology.hl7.org/CodeSystem/observation-category","code":"laboratory"}]}],
        "code":{"coding":[{"system":"http://loinc.org","code":"19123-9"}],"text":"Magnesium"},
        "subject":{"reference":"Patient/p1"},
        "effectiveDateTime":"2025-03-04T06:00:00Z",
        "issued":"2025-03-04T08:00:00.000+01:00",
        "valueQuantity":{"value":1.1,"comparator":"<","unit":"mg/dL","system":"http://unitsofmeasure.org","code":"mg/dL"},
        "interpretation":[{"coding":[{"code":"L"}]}],
        "extension":[{"url":"http://example.org/x","valueString":"ignored"}]
    })"),
                               "prefetch.mg.entry[0].resource", issues);
    REQUIRE(o);
    INFO(describe(issues));
    CHECK(issues.empty());
    CHECK(o->id == "mg1");
    CHECK(o->status == "final");
    CHECK(o->code.has_code("http://loinc.org", "19123-9"));
    CHECK(o->code.text == "Magnesium");
    CHECK(o->subject == "Patient/p1");
    REQUIRE(o->value_quantity);
    CHECK(*o->value_quantity->value == doctest::Approx(1.1));
    CHECK(o->value_quantity->comparator == quantity_comparator::less);
    CHECK(o->value_quantity->unit_key() == "mg/dL");
    CHECK_FALSE(o->value_concept);
    CHECK_FALSE(o->has_value_other);
    CHECK_FALSE(o->data_absent);
    REQUIRE(o->issued);
    CHECK(o->issued->start == utc(2025, 3, 4, 7));
    REQUIRE(o->result_time());
    CHECK(o->result_time()->start == utc(2025, 3, 4, 6));
}

TEST_CASE("Observation: the time of the result follows clinical-rules §1") {
    // effectiveDateTime, else effectivePeriod.end / .start, else effectiveInstant, else issued.
    auto check = [](std::string_view members, std::optional<instant> expected) {
        INFO(members);
        issue_list issues;
        auto o = parse_observation(
            json(std::string(R"({"resourceType":"Observation")") + std::string(members) + "}"), "o",
            issues);
        REQUIRE(o);
        CHECK(issues.empty());
        auto const t = o->result_time();
        REQUIRE(t.has_value() == expected.has_value());
        if (expected) CHECK(t->start == *expected);
    };
    std::string_view const issued = R"(,"issued":"2025-03-09T00:00:00Z")";
    check(std::string(R"(,"effectiveDateTime":"2025-03-04")") + std::string(issued) +
              R"(,"effectivePeriod":{"start":"2025-03-01","end":"2025-03-02"})",
          utc(2025, 3, 4));
    check(std::string(R"(,"effectivePeriod":{"start":"2025-03-01","end":"2025-03-02"})") +
              std::string(issued),
          utc(2025, 3, 2));
    check(std::string(R"(,"effectivePeriod":{"start":"2025-03-01"})") + std::string(issued),
          utc(2025, 3, 1));
    check(std::string(R"(,"effectivePeriod":{},"effectiveInstant":"2025-03-05T01:02:03.456Z")") +
              std::string(issued),
          utc(2025, 3, 5, 1, 2, 3, 456));
    check(std::string(R"(,"effectiveInstant":"2025-03-05T01:02:03Z")") + std::string(issued),
          utc(2025, 3, 5, 1, 2, 3));
    check(std::string(issued), utc(2025, 3, 9));
    check(R"(,"effectiveDateTime":"2025")",
          utc(2025, 1, 1));  // a partial date is taken at its start
    check("", std::nullopt);
}

TEST_CASE("Observation: valueCodeableConcept, other value[x] and dataAbsentReason") {
    auto check = [](std::string_view members, bool concept_value, bool other, bool absent) {
        INFO(members);
        issue_list issues;
        auto o = parse_observation(
            json(std::string(R"({"resourceType":"Observation")") + std::string(members) + "}"), "o",
            issues);
        REQUIRE(o);
        CHECK(issues.empty());
        CHECK(o->value_concept.has_value() == concept_value);
        CHECK(o->has_value_other == other);
        CHECK(o->data_absent == absent);
        CHECK_FALSE(o->value_quantity);
    };
    check(
        R"(,"valueCodeableConcept":{"coding":[{"system":"http://snomed.info/sct","code":"77386006"}]})",
        true, false, false);
    check(R"(,"valueBoolean":true)", false, true, false);
    check(R"(,"valueString":"1.7 mg/dL")", false, true, false);
    check(R"(,"valueInteger":2)", false, true, false);
    check(R"(,"valueRange":{"low":{"value":1}})", false, true, false);
    check(R"(,"valueRatio":{"numerator":{"value":1}})", false, true, false);
    check(R"(,"valueString":null)", false, false, false);
    check(R"(,"dataAbsentReason":{"coding":[{"code":"error"}]})", false, false, true);
    check(R"(,"_valueQuantity":{"extension":[]})", false, false,
          false);  // a primitive extension is not a value
}

TEST_CASE("Observation: components are read") {
    issue_list issues;
    auto o = parse_observation(json(R"({"resourceType":"Observation","id":"bp","component":[
        {"code":{"coding":[{"system":"http://loinc.org","code":"8480-6"}]},"valueQuantity":{"value":120,"unit":"mm[Hg]"}},
        {"code":{"coding":[{"system":"http://loinc.org","code":"8462-4"}]},"dataAbsentReason":{"text":"x"}},
        "junk"]})"),
                               "o", issues);
    REQUIRE(o);
    REQUIRE(o->components.size() == 2);
    CHECK(o->components[0].code.has_code("http://loinc.org", "8480-6"));
    REQUIRE(o->components[0].value_quantity);
    CHECK(*o->components[0].value_quantity->value == 120.0);
    CHECK(o->components[1].data_absent);
    CHECK(has_issue(issues, "o.component[2]", issue_severity::error));
}

TEST_CASE("Observation: wrongly typed elements are dropped with issues naming them") {
    issue_list issues;
    auto o = parse_observation(json(R"({"resourceType":"Observation","id":"mg1","status":["final"],
        "code":"19123-9","valueQuantity":{"value":"1.1","unit":"mg/dL"},"effectiveDateTime":20250304,
        "issued":"yesterday","subject":"Patient/1"})"),
                               "prefetch.mg.entry[2].resource", issues);
    REQUIRE(o);
    CHECK(o->id == "mg1");
    CHECK(o->status.empty());
    CHECK(o->code.empty());
    REQUIRE(o->value_quantity);
    CHECK_FALSE(o->value_quantity->value);
    CHECK(o->value_quantity->unit == "mg/dL");
    CHECK_FALSE(o->effective_date_time);
    CHECK_FALSE(o->issued);
    CHECK(o->subject.empty());
    INFO(describe(issues));
    for (std::string_view const path :
         {"prefetch.mg.entry[2].resource.status", "prefetch.mg.entry[2].resource.code",
          "prefetch.mg.entry[2].resource.valueQuantity.value",
          "prefetch.mg.entry[2].resource.effectiveDateTime", "prefetch.mg.entry[2].resource.issued",
          "prefetch.mg.entry[2].resource.subject"}) {
        INFO(path);
        CHECK(has_issue(issues, path, issue_severity::error));
    }
    CHECK(issues.size() == 6);
}

// ---------------------------------------------------------------- Medication

TEST_CASE("Medication: code, form, ingredients by concept and by reference") {
    issue_list issues;
    auto m = parse_medication(json(R"({"resourceType":"Medication","id":"m1",
        "code":{"coding":[{"system":"http://www.nlm.nih.gov/research/umls/rxnorm","code":"311434"}],"text":"Mg oxide 400 mg"},
        "form":{"coding":[{"system":"http://snomed.info/sct","code":"385055001"}]},
        "ingredient":[{"itemCodeableConcept":{"coding":[{"system":"http://www.nlm.nih.gov/research/umls/rxnorm","code":"29155"}]},
                       "strength":{"numerator":{"value":400,"unit":"mg"}}},
                      {"itemReference":{"reference":"Substance/s1"}}]})"),
                              "m", issues);
    REQUIRE(m);
    CHECK(issues.empty());
    CHECK(m->id == "m1");
    CHECK(m->code.has_code("http://www.nlm.nih.gov/research/umls/rxnorm", "311434"));
    CHECK(m->form.has_code("http://snomed.info/sct", "385055001"));
    REQUIRE(m->ingredients.size() == 1);
    CHECK(m->ingredients[0].has_code("http://www.nlm.nih.gov/research/umls/rxnorm", "29155"));
    REQUIRE(m->ingredient_references.size() == 1);
    CHECK(m->ingredient_references[0] == "Substance/s1");
}

TEST_CASE("Medication: a single ingredient object is accepted; R5 CodeableReference items too") {
    issue_list issues;
    auto m = parse_medication(json(R"({"resourceType":"Medication",
        "ingredient":{"item":{"concept":{"text":"magnesium sulfate"},"reference":{"reference":"Substance/s2"}}}})"),
                              "m", issues);
    REQUIRE(m);
    CHECK(issues.empty());
    REQUIRE(m->ingredients.size() == 1);
    CHECK(m->ingredients[0].text == "magnesium sulfate");
    REQUIRE(m->ingredient_references.size() == 1);
    CHECK(m->ingredient_references[0] == "Substance/s2");
}

// ---------------------------------------------------------------- MedicationRequest (R4)

TEST_CASE("MedicationRequest: R4 order with dose, rate, timing, dispense and reasons") {
    issue_list issues;
    auto r = parse_medication_order(json(R"({
        "resourceType":"MedicationRequest","id":"mr1","status":"active","intent":"order",
        "category":[{"coding":[{"code":"inpatient"}]}],
        "medicationCodeableConcept":{"coding":[{"system":"http://www.nlm.nih.gov/research/umls/rxnorm","code":"6585"}],"text":"Magnesium sulfate"},
        "subject":{"reference":"Patient/p1"},
        "authoredOn":"2025-03-04T09:15:00-05:00",
        "reasonCode":[{"text":"hypomagnesemia"}],
        "reasonReference":[{"reference":"Condition/c1"}],
        "dosageInstruction":[{
            "text":"2 g IV over 2 h",
            "route":{"coding":[{"system":"http://snomed.info/sct","code":"47625008"}]},
            "timing":{"repeat":{"frequency":1,"period":12,"periodUnit":"h","duration":2,"durationUnit":"h",
                                "boundsDuration":{"value":1,"unit":"d","system":"http://unitsofmeasure.org","code":"d"}}},
            "doseAndRate":[{"type":{"coding":[{"code":"ordered"}]},
                            "doseQuantity":{"value":2,"unit":"g","system":"http://unitsofmeasure.org","code":"g"},
                            "rateQuantity":{"value":1,"unit":"g/h","code":"g/h"}}]
        }],
        "dispenseRequest":{"expectedSupplyDuration":{"value":5,"unit":"days","code":"d"},
                           "validityPeriod":{"start":"2025-03-04","end":"2025-04-04"}}
    })"),
                                    "context.draftOrders.entry[0].resource", issues);
    REQUIRE(r);
    INFO(describe(issues));
    CHECK(issues.empty());
    CHECK(r->kind == medication_resource_kind::medication_request);
    CHECK(r->resource_type == "MedicationRequest");
    CHECK(r->id == "mr1");
    CHECK(r->status == "active");
    CHECK(r->intent == "order");
    REQUIRE(r->medication_concept);
    CHECK(r->medication_concept->has_code("http://www.nlm.nih.gov/research/umls/rxnorm", "6585"));
    CHECK_FALSE(r->medication_reference);
    CHECK(r->has_medication());
    REQUIRE(r->authored_on);
    CHECK(r->authored_on->start == utc(2025, 3, 4, 14, 15));
    CHECK(r->subject == "Patient/p1");
    REQUIRE(r->categories.size() == 1);
    CHECK(r->categories[0].codings[0].code == "inpatient");
    REQUIRE(r->reason_codes.size() == 1);
    CHECK(r->reason_codes[0].text == "hypomagnesemia");
    REQUIRE(r->reason_references.size() == 1);
    CHECK(r->reason_references[0].type == "Condition");
    REQUIRE(r->dosages.size() == 1);
    auto const& d = r->dosages[0];
    CHECK(d.text == "2 g IV over 2 h");
    CHECK(d.route.has_code("http://snomed.info/sct", "47625008"));
    REQUIRE(d.dose);
    CHECK(*d.dose->value == 2.0);
    CHECK(d.dose->code == "g");
    REQUIRE(d.rate);
    CHECK(d.rate->code == "g/h");
    CHECK_FALSE(d.rate_numerator);
    CHECK_FALSE(d.as_needed);
    REQUIRE(d.repeat);
    CHECK(*d.repeat->frequency == 1.0);
    CHECK(*d.repeat->period == 12.0);
    CHECK(d.repeat->period_unit == "h");
    CHECK(*d.repeat->duration == 2.0);
    CHECK(d.repeat->duration_unit == "h");
    REQUIRE(d.repeat->bounds_duration);
    CHECK(*d.repeat->bounds_duration->value == 1.0);
    CHECK(d.repeat->bounds_duration->code == "d");
    REQUIRE(r->expected_supply_duration);
    CHECK(*r->expected_supply_duration->value == 5.0);
    REQUIRE(r->validity_period);
    CHECK(r->validity_period->end->start == utc(2025, 4, 4));
    CHECK(r->source_path == "context.draftOrders.entry[0].resource");
}

TEST_CASE("MedicationRequest: category and reasonCode sent as single objects (CDS Hooks sandbox)") {
    issue_list issues;
    auto r = parse_medication_order(
        json(R"({"resourceType":"MedicationRequest","id":"request-123","status":"draft",
        "intent":"order",
        "category":{"coding":[{"system":"http://terminology.hl7.org/CodeSystem/medicationrequest-category","code":"outpatient"}]},
        "reasonCode":{"coding":[{"system":"http://snomed.info/sct","code":"44054006","display":"Diabetes mellitus type 2"}]},
        "medicationCodeableConcept":{"text":"Furosemide 40 MG Oral Tablet","coding":[{"system":"http://www.nlm.nih.gov/research/umls/rxnorm","code":"313988"}]},
        "dosageInstruction":{"text":"40 mg daily","doseAndRate":{"doseQuantity":{"value":40,"unit":"mg"}},
                             "timing":{"repeat":{"frequency":1,"period":1,"periodUnit":"d"}}}})"),
        "context.draftOrders.entry[0].resource", issues);
    REQUIRE(r);
    INFO(describe(issues));
    CHECK(issues.empty());
    REQUIRE(r->categories.size() == 1);
    CHECK(r->categories[0].codings[0].code == "outpatient");
    REQUIRE(r->reason_codes.size() == 1);
    CHECK(r->reason_codes[0].has_code("http://snomed.info/sct", "44054006"));
    REQUIRE(r->dosages.size() == 1);
    REQUIRE(r->dosages[0].dose);
    CHECK(*r->dosages[0].dose->value == 40.0);
    REQUIRE(r->dosages[0].repeat);
    CHECK(r->dosages[0].repeat->period_unit == "d");
}

TEST_CASE("MedicationRequest: a bare draft without medication parses") {
    issue_list issues;
    auto r = parse_medication_order(
        json(R"({"resourceType":"MedicationRequest","id":"request-123","status":"draft",
        "subject":{"reference":"Patient/smart-1288992"},"authoredOn":"2025-03-04"})"),
        "d", issues);
    REQUIRE(r);
    CHECK(issues.empty());
    CHECK_FALSE(r->has_medication());
    CHECK(r->dosages.empty());
    CHECK(r->authored_on->precision == date_precision::day);
}

TEST_CASE("Dosage: rateRatio, asNeeded, boundsPeriod") {
    issue_list issues;
    auto r =
        parse_medication_order(json(R"({"resourceType":"MedicationRequest","dosageInstruction":[
        {"asNeededBoolean":true,
         "timing":{"repeat":{"boundsPeriod":{"start":"2025-03-04","end":"2025-03-09"}}},
         "doseAndRate":[{"doseQuantity":{"value":4,"unit":"g"},
                         "rateRatio":{"numerator":{"value":4,"unit":"g","code":"g"},"denominator":{"value":4,"unit":"h","code":"h"}}}]},
        {"asNeededCodeableConcept":{"text":"cramps"}},
        {"doseAndRate":[{"rateQuantity":{"value":25,"unit":"mL/h"}},{"doseQuantity":{"value":1,"unit":"g"}}]}]})"),
                               "r", issues);
    REQUIRE(r);
    INFO(describe(issues));
    CHECK(issues.empty());
    REQUIRE(r->dosages.size() == 3);
    auto const& first = r->dosages[0];
    CHECK(first.as_needed);
    REQUIRE(first.rate_numerator);
    REQUIRE(first.rate_denominator);
    CHECK(*first.rate_numerator->value == 4.0);
    CHECK(first.rate_denominator->code == "h");
    CHECK_FALSE(first.rate);
    REQUIRE(first.repeat);
    REQUIRE(first.repeat->bounds_period);
    CHECK(first.repeat->bounds_period->start->start == utc(2025, 3, 4));
    CHECK(first.repeat->bounds_period->end->start == utc(2025, 3, 9));
    CHECK(r->dosages[1].as_needed);
    // Dose and rate may come in different doseAndRate elements; the first of each is used.
    REQUIRE(r->dosages[2].dose);
    CHECK(*r->dosages[2].dose->value == 1.0);
    REQUIRE(r->dosages[2].rate);
    CHECK(*r->dosages[2].rate->value == 25.0);
}

TEST_CASE(
    "MedicationRequest: contained Medications are parsed, other contained resources ignored") {
    issue_list issues;
    auto r = parse_medication_order(json(R"({"resourceType":"MedicationRequest","id":"mr",
        "contained":[{"resourceType":"Medication","id":"med1","code":{"text":"Magnesium oxide 400 mg tablet"}},
                     {"resourceType":"Substance","id":"s1"},
                     {"resourceType":"Medication","id":"med2","code":{"coding":[{"code":"x"}]}}],
        "medicationReference":{"reference":"#med1"}})"),
                                    "r", issues);
    REQUIRE(r);
    CHECK(issues.empty());
    REQUIRE(r->contained_medications.size() == 2);
    CHECK(r->contained_medications[0].id == "med1");
    CHECK(r->contained_medications[0].code.text == "Magnesium oxide 400 mg tablet");
    CHECK(r->contained_medications[1].id == "med2");
    REQUIRE(r->medication_reference);
    CHECK(r->medication_reference->kind == reference_kind::contained);
}

TEST_CASE("MedicationRequest: wrongly typed dosage parts are dropped with issues naming them") {
    issue_list issues;
    auto r =
        parse_medication_order(json(R"({"resourceType":"MedicationRequest","dosageInstruction":[
        {"text":"ok","timing":{"repeat":{"frequency":"twice","period":1,"periodUnit":"d"}},
         "doseAndRate":[{"doseQuantity":{"value":"2","unit":"g"}}],"asNeededBoolean":"no","route":"IV"},
        "2 g daily"],
        "dispenseRequest":[]})"),
                               "ctx.draftOrders.entry[1].resource", issues);
    REQUIRE(r);
    REQUIRE(r->dosages.size() == 1);
    auto const& d = r->dosages[0];
    CHECK(d.text == "ok");
    REQUIRE(d.repeat);
    CHECK_FALSE(d.repeat->frequency);
    CHECK(*d.repeat->period == 1.0);
    REQUIRE(d.dose);
    CHECK_FALSE(d.dose->value);
    CHECK(d.route.empty());
    INFO(describe(issues));
    std::string const base = "ctx.draftOrders.entry[1].resource.";
    CHECK(has_issue(issues, base + "dosageInstruction[0].timing.repeat.frequency",
                    issue_severity::error));
    CHECK(has_issue(issues, base + "dosageInstruction[0].doseAndRate[0].doseQuantity.value",
                    issue_severity::error));
    CHECK(has_issue(issues, base + "dosageInstruction[0].asNeededBoolean", issue_severity::error));
    CHECK(has_issue(issues, base + "dosageInstruction[0].route", issue_severity::error));
    CHECK(has_issue(issues, base + "dosageInstruction[1]", issue_severity::error));
    CHECK(has_issue(issues, base + "dispenseRequest", issue_severity::error));
}

// ---------------------------------------------------------------- MedicationOrder (DSTU2)

TEST_CASE("MedicationOrder: DSTU2 draft order with top-level dose and rate") {
    issue_list issues;
    auto r = parse_medication_order(json(R"({
        "resourceType":"MedicationOrder","id":"order-123","status":"draft",
        "patient":{"reference":"Patient/1288992"},
        "dateWritten":"2025-03-04",
        "medicationCodeableConcept":{"text":"Omeprazole 20 MG Delayed Release Oral Capsule",
            "coding":[{"system":"http://www.nlm.nih.gov/research/umls/rxnorm","code":"402014"}]},
        "reasonCodeableConcept":{"text":"GERD"},
        "dosageInstruction":[{"text":"20 mg daily",
            "timing":{"repeat":{"frequency":1,"period":1,"periodUnits":"d","boundsQuantity":{"value":30,"code":"d"}}},
            "route":{"coding":[{"system":"http://snomed.info/sct","code":"26643006"}]},
            "doseQuantity":{"value":20,"unit":"mg","system":"http://unitsofmeasure.org","code":"mg"},
            "rateQuantity":{"value":1,"unit":"mg/min"}}],
        "dispenseRequest":{"numberOfRepeatsAllowed":1,"expectedSupplyDuration":{"value":30,"unit":"days","code":"d"}}
    })"),
                                    "context.draftOrders.entry[0].resource", issues);
    REQUIRE(r);
    INFO(describe(issues));
    CHECK(issues.empty());
    CHECK(r->kind == medication_resource_kind::medication_order);
    CHECK(r->resource_type == "MedicationOrder");
    CHECK(r->status == "draft");
    CHECK(r->intent.empty());
    CHECK(r->subject == "Patient/1288992");
    REQUIRE(r->authored_on);
    CHECK(r->authored_on->start == utc(2025, 3, 4));
    REQUIRE(r->medication_concept);
    CHECK(r->medication_concept->has_code("http://www.nlm.nih.gov/research/umls/rxnorm", "402014"));
    REQUIRE(r->reason_codes.size() == 1);
    CHECK(r->reason_codes[0].text == "GERD");
    REQUIRE(r->dosages.size() == 1);
    auto const& d = r->dosages[0];
    REQUIRE(d.dose);
    CHECK(*d.dose->value == 20.0);
    REQUIRE(d.rate);
    CHECK(d.rate->unit == "mg/min");
    CHECK(d.route.has_code("http://snomed.info/sct", "26643006"));
    REQUIRE(d.repeat);
    CHECK(d.repeat->period_unit == "d");  // DSTU2 periodUnits
    REQUIRE(d.repeat->bounds_duration);
    CHECK(*d.repeat->bounds_duration->value == 30.0);
    REQUIRE(r->expected_supply_duration);
    CHECK(*r->expected_supply_duration->value == 30.0);
}

TEST_CASE("MedicationOrder: medicationReference and DSTU2 rateRatio") {
    issue_list issues;
    auto r = parse_medication_order(
        json(
            R"({"resourceType":"MedicationOrder","medicationReference":{"reference":"Medication/m1"},
        "dosageInstruction":[{"rateRatio":{"numerator":{"value":2,"code":"g"},"denominator":{"value":1,"code":"h"}}}]})"),
        "d", issues);
    REQUIRE(r);
    CHECK(issues.empty());
    REQUIRE(r->medication_reference);
    CHECK(r->medication_reference->type == "Medication");
    CHECK(r->medication_reference->id == "m1");
    REQUIRE(r->dosages.size() == 1);
    REQUIRE(r->dosages[0].rate_numerator);
    CHECK(*r->dosages[0].rate_numerator->value == 2.0);
}

// ---------------------------------------------------------------- MedicationStatement

TEST_CASE("MedicationStatement: medication, status, effective, dateAsserted, dosage") {
    issue_list issues;
    auto s = parse_medication_order(
        json(R"({"resourceType":"MedicationStatement","id":"ms1","status":"active",
        "category":{"coding":[{"code":"inpatient"}]},
        "medicationCodeableConcept":{"coding":[{"system":"http://www.whocc.no/atc","code":"A02BC01"}]},
        "subject":{"reference":"Patient/p1"},
        "effectivePeriod":{"start":"2025-01-01","end":"2025-06-30"},
        "dateAsserted":"2025-03-01",
        "dosage":[{"text":"20 mg daily","doseAndRate":[{"doseQuantity":{"value":20,"unit":"mg"}}]}]})"),
        "prefetch.medstatements.entry[0].resource", issues);
    REQUIRE(s);
    INFO(describe(issues));
    CHECK(issues.empty());
    CHECK(s->kind == medication_resource_kind::medication_statement);
    CHECK(s->resource_type == "MedicationStatement");
    CHECK(s->status == "active");
    CHECK(s->medication_concept->has_code("http://www.whocc.no/atc", "A02BC01"));
    REQUIRE(s->effective_period);
    CHECK(s->effective_period->end->start == utc(2025, 6, 30));
    CHECK_FALSE(s->effective_date_time);
    REQUIRE(s->authored_on);
    CHECK(s->authored_on->start == utc(2025, 3, 1));
    REQUIRE(s->categories.size() == 1);
    REQUIRE(s->dosages.size() == 1);
    CHECK(*s->dosages[0].dose->value == 20.0);
}

TEST_CASE("MedicationStatement: without dateAsserted the effective time stands for authored_on") {
    auto check = [](std::string_view members, instant expected) {
        INFO(members);
        issue_list issues;
        auto s = parse_medication_order(
            json(std::string(R"({"resourceType":"MedicationStatement","status":"active")") +
                 std::string(members) + "}"),
            "s", issues);
        REQUIRE(s);
        CHECK(issues.empty());
        REQUIRE(s->authored_on);
        CHECK(s->authored_on->start == expected);
    };
    check(R"(,"effectiveDateTime":"2025-02-03")", utc(2025, 2, 3));
    check(R"(,"effectivePeriod":{"start":"2025-02-01"})", utc(2025, 2, 1));
    check(R"(,"effectiveDateTime":"2025-02-03","dateAsserted":"2025-02-10")", utc(2025, 2, 10));
}

// ---------------------------------------------------------------- ServiceRequest

TEST_CASE("ServiceRequest: status, intent, code, subject and when it is to be done") {
    issue_list issues;
    auto r = parse_service_request(json(R"({"resourceType":"ServiceRequest","id":"sr1",
        "status":"active","intent":"order","category":[{"text":"Laboratory"}],
        "code":{"coding":[{"system":"http://loinc.org","code":"19123-9",
                           "display":"Magnesium [Mass/volume] in Serum or Plasma"}],
                "text":"Serum magnesium"},
        "subject":{"reference":"Patient/p1"},"authoredOn":"2025-03-04T08:00:00Z",
        "occurrenceDateTime":"2025-03-04T14:20:00+01:00"})"),
                                   "prefetch.orders.entry[0].resource", issues);
    REQUIRE(r);
    INFO(describe(issues));
    CHECK(issues.empty());
    CHECK(r->id == "sr1");
    CHECK(r->status == "active");
    CHECK(r->intent == "order");
    CHECK(r->code.has_code("http://loinc.org", "19123-9"));
    CHECK(r->code.text == "Serum magnesium");
    CHECK(r->subject == "Patient/p1");
    REQUIRE(r->authored_on);
    CHECK(r->authored_on->start == utc(2025, 3, 4, 8));
    CHECK(r->occurrence_given);
    REQUIRE(r->occurrence_time());
    CHECK(r->occurrence_time()->start == utc(2025, 3, 4, 13, 20));
}

TEST_CASE("ServiceRequest: occurrencePeriod, occurrenceTiming and no occurrence") {
    issue_list issues;
    auto period = parse_service_request(json(R"({"resourceType":"ServiceRequest","status":"draft",
                 "occurrencePeriod":{"start":"2025-03-05","end":"2025-03-06"}})"),
                                        "s", issues);
    REQUIRE(period);
    REQUIRE(period->occurrence_time());
    CHECK(period->occurrence_time()->start == utc(2025, 3, 5));
    auto end_only = parse_service_request(
        json(R"({"resourceType":"ServiceRequest","occurrencePeriod":{"end":"2025-03-06"}})"), "s",
        issues);
    REQUIRE(end_only);
    REQUIRE(end_only->occurrence_time());
    CHECK(end_only->occurrence_time()->start == utc(2025, 3, 6));
    // A Timing is not read: given, but with no time the rules can use.
    auto timing = parse_service_request(
        json(R"({"resourceType":"ServiceRequest","occurrenceTiming":{"event":["2025-03-05"]}})"),
        "s", issues);
    REQUIRE(timing);
    CHECK(timing->occurrence_given);
    CHECK_FALSE(timing->occurrence_time());
    auto none = parse_service_request(json(R"({"resourceType":"ServiceRequest"})"), "s", issues);
    REQUIRE(none);
    CHECK_FALSE(none->occurrence_given);
    CHECK_FALSE(none->occurrence_time());
    CHECK(issues.empty());
}

TEST_CASE("ServiceRequest: wrong types are dropped with an issue; other resources refused") {
    issue_list issues;
    auto r = parse_service_request(
        json(R"({"resourceType":"ServiceRequest","status":3,"occurrenceDateTime":"soon",
                 "subject":"Patient/p1"})"),
        "s", issues);
    REQUIRE(r);
    CHECK(r->status.empty());
    CHECK_FALSE(r->occurrence_time());
    CHECK(r->occurrence_given);
    CHECK(r->subject.empty());
    CHECK(has_issue(issues, "s.status", issue_severity::error));
    CHECK(has_issue(issues, "s.occurrenceDateTime", issue_severity::error));
    CHECK(has_issue(issues, "s.subject", issue_severity::error));
    issue_list other;
    CHECK_FALSE(parse_service_request(json(R"({"resourceType":"Observation"})"), "s", other));
    CHECK_FALSE(other.empty());
}

// ---------------------------------------------------------------- Condition

TEST_CASE("Condition: R4 clinicalStatus and verificationStatus as CodeableConcepts") {
    issue_list issues;
    auto c = parse_condition(json(R"({"resourceType":"Condition","id":"c1",
        "clinicalStatus":{"coding":[{"system":"http://terminology.hl7.org/CodeSystem/condition-clinical","code":"active"}]},
        "verificationStatus":{"coding":[{"system":"http://terminology.hl7.org/CodeSystem/condition-ver-status","code":"confirmed"}]},
        "category":[{"coding":[{"code":"problem-list-item"}]}],
        "code":{"coding":[{"system":"http://snomed.info/sct","code":"433146000"}],"text":"CKD stage 5"},
        "onsetDateTime":"2020-05","recordedDate":"2020-06-01T10:00:00+02:00"})"),
                             "prefetch.conditions.entry[0].resource", issues);
    REQUIRE(c);
    INFO(describe(issues));
    CHECK(issues.empty());
    CHECK(c->id == "c1");
    CHECK(c->clinical_status == "active");
    CHECK(c->verification_status == "confirmed");
    CHECK(c->code.has_code("http://snomed.info/sct", "433146000"));
    REQUIRE(c->onset);
    CHECK(c->onset->precision == date_precision::month);
    CHECK(c->onset->start == utc(2020, 5, 1));
    REQUIRE(c->recorded_date);
    CHECK(c->recorded_date->start == utc(2020, 6, 1, 8));
    CHECK_FALSE(c->abated);
    REQUIRE(c->categories.size() == 1);
}

TEST_CASE("Condition: DSTU2/STU3 string statuses and record dates") {
    auto check = [](std::string_view members, std::string_view status,
                    std::optional<instant> recorded) {
        INFO(members);
        issue_list issues;
        auto c = parse_condition(
            json(std::string(R"({"resourceType":"Condition")") + std::string(members) + "}"), "c",
            issues);
        REQUIRE(c);
        CHECK(issues.empty());
        CHECK(c->clinical_status == status);
        REQUIRE(c->recorded_date.has_value() == recorded.has_value());
        if (recorded) CHECK(c->recorded_date->start == *recorded);
    };
    check(R"(,"clinicalStatus":"active","dateRecorded":"2015-01-02")", "active", utc(2015, 1, 2));
    check(R"(,"clinicalStatus":"resolved","assertedDate":"2017-03-04")", "resolved",
          utc(2017, 3, 4));
    check(R"(,"clinicalStatus":{"coding":[{"system":"x"},{"code":"remission"}]})", "remission",
          std::nullopt);
    check(R"(,"recordedDate":"2021-01-01","dateRecorded":"2015-01-02")", "", utc(2021, 1, 1));
}

TEST_CASE("Condition: onset from onsetDateTime or onsetPeriod.start") {
    issue_list issues;
    auto c = parse_condition(
        json(
            R"({"resourceType":"Condition","onsetPeriod":{"start":"2025-03-01","end":"2025-03-03"}})"),
        "c", issues);
    REQUIRE(c);
    REQUIRE(c->onset);
    CHECK(c->onset->start == utc(2025, 3, 1));
    issue_list more;
    auto d = parse_condition(json(R"({"resourceType":"Condition","onsetString":"childhood"})"), "c",
                             more);
    REQUIRE(d);
    CHECK_FALSE(d->onset);
    CHECK(more.empty());
    CHECK(c->onset_given);
    CHECK(d->onset_given);  // an onset without a date is still an onset: recordedDate does not
                            // stand in
    auto e = parse_condition(json(R"({"resourceType":"Condition","recordedDate":"2025-03-01"})"),
                             "c", more);
    REQUIRE(e);
    CHECK_FALSE(e->onset_given);
}

TEST_CASE("Condition: subject (R4) or patient (DSTU2) reference as written") {
    issue_list issues;
    auto r4 = parse_condition(
        json(R"({"resourceType":"Condition","subject":{"reference":"Patient/other"}})"), "c",
        issues);
    REQUIRE(r4);
    CHECK(r4->subject == "Patient/other");
    auto dstu2 = parse_condition(
        json(R"({"resourceType":"Condition","patient":{"reference":"Patient/p2"}})"), "c", issues);
    REQUIRE(dstu2);
    CHECK(dstu2->subject == "Patient/p2");
    auto none = parse_condition(json(R"({"resourceType":"Condition"})"), "c", issues);
    REQUIRE(none);
    CHECK(none->subject.empty());
    CHECK(issues.empty());
}

TEST_CASE("Condition: abatement[x] marks abated, except abatementBoolean false") {
    auto check = [](std::string_view members, bool abated) {
        INFO(members);
        issue_list issues;
        auto c = parse_condition(
            json(std::string(R"({"resourceType":"Condition")") + std::string(members) + "}"), "c",
            issues);
        REQUIRE(c);
        CHECK(issues.empty());
        CHECK(c->abated == abated);
    };
    check("", false);
    check(R"(,"abatementDateTime":"2025-01-01")", true);
    check(R"(,"abatementPeriod":{"start":"2025-01-01"})", true);
    check(R"(,"abatementString":"in childhood")", true);
    check(R"(,"abatementAge":{"value":12,"unit":"a"})", true);
    check(R"(,"abatementBoolean":true)", true);
    check(R"(,"abatementBoolean":false)", false);
    check(R"(,"abatementDateTime":null)", false);
}

TEST_CASE("Condition: wrongly typed status and dates are dropped with issues") {
    issue_list issues;
    auto c = parse_condition(
        json(R"({"resourceType":"Condition","clinicalStatus":3,"verificationStatus":["confirmed"],
        "onsetDateTime":"2025-13-01","recordedDate":true,"abatementBoolean":"yes","category":"problem"})"),
        "cond", issues);
    REQUIRE(c);
    CHECK(c->clinical_status.empty());
    CHECK(c->verification_status.empty());
    CHECK_FALSE(c->onset);
    CHECK_FALSE(c->recorded_date);
    CHECK_FALSE(c->abated);
    CHECK(c->categories.empty());
    INFO(describe(issues));
    for (std::string_view const path :
         {"cond.clinicalStatus", "cond.verificationStatus", "cond.onsetDateTime",
          "cond.recordedDate", "cond.abatementBoolean", "cond.category"}) {
        INFO(path);
        CHECK(has_issue(issues, path, issue_severity::error));
    }
}

TEST_CASE("issue paths under an empty root start with the element name") {
    issue_list issues;
    auto o = parse_observation(
        json(R"({"resourceType":"Observation","status":1,"code":{"coding":[{"code":2}]}})"), "",
        issues);
    REQUIRE(o);
    INFO(describe(issues));
    CHECK(has_issue(issues, "status", issue_severity::error));
    CHECK(has_issue(issues, "code.coding[0].code", issue_severity::error));
}

// ---------------------------------------------------------------- bounded lists

namespace {
std::string repeated(std::string_view element, int n) {
    std::string out = "[";
    for (int i = 0; i < n; ++i) {
        if (i > 0) out += ',';
        out += element;
    }
    return out + "]";
}
}  // namespace

TEST_CASE("arrays inside a resource are read up to 64 elements, the rest reported") {
    // A body of small elements must not grow hundreds of times in the model (a Dosage is
    // 900 bytes, `{}` two).
    issue_list issues;
    auto const order = parse_medication_order(
        json(R"({"resourceType":"MedicationRequest","id":"m","dosageInstruction":)" +
             repeated(R"({"text":"1 tab"})", 70) + R"(,"medicationCodeableConcept":{"coding":)" +
             repeated(R"({"code":"c"})", 65) + R"(},"category":)" +
             repeated(R"({"text":"x"})", 64) + "}"),
        "prefetch.meds", issues);
    REQUIRE(order);
    CHECK(order->dosages.size() == 64);
    CHECK(order->medication_concept->codings.size() == 64);
    CHECK(order->categories.size() == 64);
    REQUIRE(issues.size() == 2);
    CHECK(has_issue(issues, "prefetch.meds.dosageInstruction", issue_severity::warning));
    CHECK(has_issue(issues, "prefetch.meds.medicationCodeableConcept.coding",
                    issue_severity::warning));
    for (auto const& i : issues)
        CHECK(i.message == "more than 64 elements; only the first 64 are read");

    issue_list obs_issues;
    auto const panel = parse_observation(
        json(R"({"resourceType":"Observation","code":{"text":"panel"},"component":)" +
             repeated(R"({"code":{"text":"part"}})", 100) + "}"),
        "prefetch.labs", obs_issues);
    REQUIRE(panel);
    CHECK(panel->components.size() == 64);
    CHECK(has_issue(obs_issues, "prefetch.labs.component", issue_severity::warning));
}

TEST_CASE("a snapshot records at most 256 issues, then says more were left out") {
    std::string entries;
    for (int i = 0; i < 300; ++i) entries += i == 0 ? "1" : ",1";
    snapshot_builder builder;
    (void)builder.add(json(R"({"resourceType":"Bundle","entry":[)" + entries + "]}"), "prefetch.b");
    auto const snapshot = std::move(builder).build();
    REQUIRE(snapshot.issues.size() == 257);
    CHECK(snapshot.issues[0].path == "prefetch.b.entry[0]");
    CHECK(snapshot.issues[256].path == "prefetch.b.entry[256]");
    CHECK(snapshot.issues[256].message ==
          "more than 256 issues; this one and those after it are not recorded");
}
