#include <string>
#include <string_view>

#include <doctest/doctest.h>

#include "cds/fhir/types.hpp"
#include "test_support.hpp"

using namespace cds::fhir;
using cds::fhir::test::describe;
using cds::fhir::test::has_issue;
using cds::fhir::test::json;
using cds::fhir::test::utc;

TEST_CASE("parse_coding reads system, code and display and ignores unknown members") {
    issue_list issues;
    auto c = parse_coding(json(R"({"system":"http://loinc.org","version":"2.71","code":"19123-9",
                                    "display":"Magnesium [Mass/volume] in Serum or Plasma","userSelected":true,
                                    "extension":[{"url":"x","valueString":"y"}]})"),
                          "c", issues);
    REQUIRE(c);
    CHECK(c->system == "http://loinc.org");
    CHECK(c->code == "19123-9");
    CHECK(c->display == "Magnesium [Mass/volume] in Serum or Plasma");
    CHECK(issues.empty());
}

TEST_CASE("parse_coding drops wrongly typed members with an issue naming them") {
    issue_list issues;
    auto c = parse_coding(json(R"({"system":"http://loinc.org","code":19123,"display":["x"]})"),
                          "obs.code.coding[0]", issues);
    REQUIRE(c);
    CHECK(c->system == "http://loinc.org");
    CHECK(c->code.empty());
    CHECK(c->display.empty());
    INFO(describe(issues));
    CHECK(has_issue(issues, "obs.code.coding[0].code", issue_severity::error));
    CHECK(has_issue(issues, "obs.code.coding[0].display", issue_severity::error));
    CHECK(issues.size() == 2);
}

TEST_CASE("parse_coding of a non-object is nothing, with an issue") {
    issue_list issues;
    CHECK_FALSE(parse_coding(json(R"("http://loinc.org|19123-9")"), "x.coding[0]", issues));
    REQUIRE(issues.size() == 1);
    CHECK(issues[0].path == "x.coding[0]");
    CHECK(issues[0].message.find("expected a Coding object, found a string") != std::string::npos);
}

TEST_CASE("parse_codeable_concept reads codings and text") {
    issue_list issues;
    auto cc =
        parse_codeable_concept(json(R"({"coding":[{"system":"http://loinc.org","code":"19123-9"},
                                                         {"system":"http://loinc.org","code":"2601-3"}],
                                              "text":"Magnesium"})"),
                               "code", issues);
    REQUIRE(cc.codings.size() == 2);
    CHECK(cc.codings[1].code == "2601-3");
    CHECK(cc.text == "Magnesium");
    CHECK_FALSE(cc.empty());
    CHECK(issues.empty());
}

TEST_CASE("parse_codeable_concept accepts a single Coding object where an array belongs") {
    issue_list issues;
    auto cc = parse_codeable_concept(
        json(R"({"coding":{"system":"http://loinc.org","code":"19123-9"}})"), "code", issues);
    REQUIRE(cc.codings.size() == 1);
    CHECK(cc.codings[0].code == "19123-9");
    CHECK(issues.empty());
}

TEST_CASE("parse_codeable_concept drops bad codings and keeps good ones") {
    issue_list issues;
    auto cc = parse_codeable_concept(
        json(R"({"coding":[{"code":"a"}, 42, null, {"code":"b"}],"text":7})"), "r.code", issues);
    REQUIRE(cc.codings.size() == 2);
    CHECK(cc.codings[0].code == "a");
    CHECK(cc.codings[1].code == "b");
    CHECK(cc.text.empty());
    INFO(describe(issues));
    CHECK(has_issue(issues, "r.code.coding[1]", issue_severity::error));
    CHECK(has_issue(issues, "r.code.coding[2]", issue_severity::error));
    CHECK(has_issue(issues, "r.code.text", issue_severity::error));
}

TEST_CASE("parse_codeable_concept of a non-object is empty, with an issue") {
    issue_list issues;
    auto cc = parse_codeable_concept(json(R"("magnesium")"), "r.code", issues);
    CHECK(cc.empty());
    CHECK(has_issue(issues, "r.code", issue_severity::error));
}

TEST_CASE("codeable_concept::has_code matches system and code exactly") {
    codeable_concept cc;
    cc.codings.push_back({"http://loinc.org", "19123-9", ""});
    cc.codings.push_back({"http://www.nlm.nih.gov/research/umls/rxnorm", "6585", ""});
    CHECK(cc.has_code("http://loinc.org", "19123-9"));
    CHECK(cc.has_code("http://www.nlm.nih.gov/research/umls/rxnorm", "6585"));
    CHECK_FALSE(cc.has_code("http://loinc.org", "6585"));
    CHECK_FALSE(cc.has_code("http://LOINC.org", "19123-9"));
    CHECK_FALSE(cc.has_code("http://loinc.org", "19123-9 "));
    CHECK_FALSE(codeable_concept{}.has_code("", ""));
}

TEST_CASE("parse_quantity accepts integer, unsigned and double values") {
    auto check = [](std::string_view text, double expected) {
        INFO(text);
        issue_list issues;
        auto q = parse_quantity(json(text), "q", issues);
        REQUIRE(q);
        REQUIRE(q->value);
        CHECK(*q->value == doctest::Approx(expected));
        CHECK(issues.empty());
    };
    check(R"({"value":2})", 2.0);
    check(R"({"value":-3})", -3.0);
    check(R"({"value":1.7})", 1.7);
    check(R"({"value":0.0})", 0.0);
    check(R"({"value":1e-1})", 0.1);
    check(R"({"value":18446744073709551615})", 18446744073709551615.0);
}

TEST_CASE("parse_quantity reads unit, system and code") {
    issue_list issues;
    auto q = parse_quantity(
        json(R"({"value":1.7,"unit":"mg/dL","system":"http://unitsofmeasure.org","code":"mg/dL"})"),
        "q", issues);
    REQUIRE(q);
    CHECK(q->unit == "mg/dL");
    CHECK(q->system == "http://unitsofmeasure.org");
    CHECK(q->code == "mg/dL");
    CHECK(q->comparator == quantity_comparator::none);
    CHECK(issues.empty());
}

TEST_CASE("parse_quantity reads every comparator") {
    auto check = [](std::string_view comparator, quantity_comparator expected) {
        INFO("comparator " << comparator);
        issue_list issues;
        auto const text = std::string(R"({"value":1.2,"unit":"mg/dL","comparator":")") +
                          std::string(comparator) + "\"}";
        auto q = parse_quantity(json(text), "q", issues);
        REQUIRE(q);
        CHECK(q->comparator == expected);
        REQUIRE(q->value);
        CHECK(*q->value == doctest::Approx(1.2));
        CHECK(issues.empty());
    };
    check("<", quantity_comparator::less);
    check("<=", quantity_comparator::less_or_equal);
    check(">=", quantity_comparator::greater_or_equal);
    check(">", quantity_comparator::greater);
}

TEST_CASE("an unknown or unreadable comparator makes the value unusable") {
    auto check = [](std::string_view comparator_json) {
        INFO("comparator " << comparator_json);
        issue_list issues;
        auto const text = std::string(R"({"value":1.2,"unit":"mg/dL","comparator":)") +
                          std::string(comparator_json) + "}";
        auto q = parse_quantity(json(text), "obs.valueQuantity", issues);
        REQUIRE(q);
        CHECK_FALSE(q->value);
        CHECK(q->comparator == quantity_comparator::none);
        CHECK(q->unit == "mg/dL");
        INFO(describe(issues));
        CHECK(has_issue(issues, "obs.valueQuantity.comparator", issue_severity::error));
    };
    check(R"("ad")");  // R5 "sufficient to achieve this total"; not R4
    check(R"("~")");
    check(R"("=")");
    check(R"("")");
    check(R"("< ")");
    check(R"("&lt;")");
    check("1");
    check("true");
    check(R"(["<"])");
}

TEST_CASE("a null comparator is read as no comparator") {
    issue_list issues;
    auto q = parse_quantity(json(R"({"value":1.2,"comparator":null})"), "q", issues);
    REQUIRE(q);
    CHECK(q->value);
    CHECK(q->comparator == quantity_comparator::none);
    CHECK(issues.empty());
}

TEST_CASE("parse_quantity drops a wrongly typed value with an issue naming it") {
    auto check = [](std::string_view value_json) {
        INFO("value " << value_json);
        issue_list issues;
        auto q = parse_quantity(
            json(std::string(R"({"unit":"mg/dL","value":)") + std::string(value_json) + "}"),
            "p.valueQuantity", issues);
        REQUIRE(q);
        CHECK_FALSE(q->value);
        CHECK(q->unit == "mg/dL");
        CHECK(has_issue(issues, "p.valueQuantity.value", issue_severity::error));
    };
    check(R"("1.7")");
    check("true");
    check("{}");
    check("[1.7]");
}

TEST_CASE("parse_quantity of a non-object is nothing, with an issue") {
    issue_list issues;
    CHECK_FALSE(parse_quantity(json("1.7"), "o.valueQuantity", issues));
    CHECK(has_issue(issues, "o.valueQuantity", issue_severity::error));
}

TEST_CASE("quantity::unit_key prefers the UCUM code, else the unit") {
    auto check = [](quantity const& q, std::string_view expected) {
        CHECK(q.unit_key() == expected);
    };
    check(quantity{1.0, quantity_comparator::none, "milligram per deciliter",
                   "http://unitsofmeasure.org", "mg/dL"},
          "mg/dL");
    check(quantity{1.0, quantity_comparator::none, "mg/dL", "http://unitsofmeasure.org", ""},
          "mg/dL");
    check(quantity{1.0, quantity_comparator::none, "mmol/L", "", ""}, "mmol/L");
    check(quantity{1.0, quantity_comparator::none, "", "", "meq/L"}, "meq/L");
    // FHIR R4 example Observation/f204: a SNOMED CT code for the unit, the UCUM-like text in unit.
    check(
        quantity{122.0, quantity_comparator::none, "umol/L", "http://snomed.info/sct", "258814008"},
        "umol/L");
    check(quantity{122.0, quantity_comparator::none, "", "http://snomed.info/sct", "258814008"},
          "258814008");
    check(quantity{}, "");
}

TEST_CASE("make_reference parses every reference form") {
    auto check = [](std::string_view text, reference_kind kind, std::string_view type,
                    std::string_view id) {
        INFO("reference: " << text);
        auto r = make_reference(text, "shown");
        CHECK(r.reference == text);
        CHECK(r.display == "shown");
        CHECK(r.kind == kind);
        CHECK(r.type == type);
        CHECK(r.id == id);
    };
    using enum reference_kind;
    check("Medication/123", relative, "Medication", "123");
    check("Patient/4aa75d19-ac8b-49b0-a686-429fbc033d77", relative, "Patient",
          "4aa75d19-ac8b-49b0-a686-429fbc033d77");
    check("Medication/mii-exa-test-data-medication-omeprazol", relative, "Medication",
          "mii-exa-test-data-medication-omeprazol");
    check("Medication/a.b-C", relative, "Medication", "a.b-C");
    check("http://fhir.example.org/r4/Medication/abc", relative, "Medication", "abc");
    check("https://ehr.example.org/fhir/R4/Medication/abc/_history/3", relative, "Medication",
          "abc");
    check("Medication/abc/_history/3", relative, "Medication", "abc");
    check("#med0316", contained, "", "med0316");
    check("#", contained, "", "");
    check("urn:uuid:0c3151bd-1cbf-4d64-b04d-cd9187a4c6e0", urn, "",
          "urn:uuid:0c3151bd-1cbf-4d64-b04d-cd9187a4c6e0");
    check("urn:oid:1.2.3.4.5", urn, "", "urn:oid:1.2.3.4.5");
    check("", none, "", "");
    check("Medication", none, "", "");
    check("Medication/", none, "", "");
    check("/123", none, "", "");
    check("medication/123", none, "", "");                      // type names are capitalised
    check("Medication/bad id", none, "", "");                   // a space is not an id character
    check("Medication?code=1234", none, "", "");                // a search, not a reference
    check("Medication/" + std::string(65, 'a'), none, "", "");  // ids are at most 64 characters
}

TEST_CASE("parse_reference reads reference and display") {
    issue_list issues;
    auto r = parse_reference(
        json(R"({"reference":"#med2","display":"Nizatidine 15 MG/ML Oral Solution [Axid]"})"),
        "mr.medicationReference", issues);
    REQUIRE(r);
    CHECK(r->kind == reference_kind::contained);
    CHECK(r->id == "med2");
    CHECK(r->display == "Nizatidine 15 MG/ML Oral Solution [Axid]");
    CHECK(issues.empty());
}

TEST_CASE("parse_reference with only a display or identifier has kind none") {
    issue_list issues;
    auto r =
        parse_reference(json(R"({"display":"Dr Bone","identifier":{"value":"123"}})"), "x", issues);
    REQUIRE(r);
    CHECK(r->kind == reference_kind::none);
    CHECK(r->reference.empty());
    CHECK(r->display == "Dr Bone");
    CHECK(issues.empty());
}

TEST_CASE("parse_reference drops a wrongly typed reference string") {
    issue_list issues;
    auto r =
        parse_reference(json(R"({"reference":{"id":"1"},"display":"x"})"), "a.subject", issues);
    REQUIRE(r);
    CHECK(r->kind == reference_kind::none);
    CHECK(has_issue(issues, "a.subject.reference", issue_severity::error));
    issue_list more;
    CHECK_FALSE(parse_reference(json(R"("Patient/1")"), "a.subject", more));
    CHECK(has_issue(more, "a.subject", issue_severity::error));
}

TEST_CASE("parse_period reads start and end and drops a bad one") {
    issue_list issues;
    auto p =
        parse_period(json(R"({"start":"2025-03-04","end":"2025-03-05T10:00:00Z"})"), "p", issues);
    REQUIRE(p);
    REQUIRE(p->start);
    REQUIRE(p->end);
    CHECK(p->start->start == utc(2025, 3, 4));
    CHECK(p->end->start == utc(2025, 3, 5, 10));
    CHECK(issues.empty());

    issue_list bad;
    auto q = parse_period(json(R"({"start":"2025-03-04","end":"2025-02-30"})"), "o.effectivePeriod",
                          bad);
    REQUIRE(q);
    CHECK(q->start);
    CHECK_FALSE(q->end);
    REQUIRE(bad.size() == 1);
    CHECK(bad[0].path == "o.effectivePeriod.end");
    CHECK(bad[0].message.find("day 30 out of range") != std::string::npos);
    // The offending text (possibly patient data) is not echoed.
    CHECK(bad[0].message.find("2025-02-30") == std::string::npos);
}

TEST_CASE("a dateTime without offset is used, with a warning") {
    issue_list issues;
    auto p = parse_period(json(R"({"start":"2025-03-04T10:00:00"})"), "p", issues);
    REQUIRE(p);
    REQUIRE(p->start);
    CHECK(p->start->start == utc(2025, 3, 4, 10));
    CHECK(has_issue(issues, "p.start", issue_severity::warning));
}

namespace {

unit_table magnesium_units() {
    // Factors to mg/dL from CLINICAL-BASIS.md §1.
    return unit_table{
        {{"mg/dL", 1.0}, {"mg/L", 0.1}, {"mmol/L", 2.431}, {"meq/L", 1.2155}, {"mEq/L", 1.2155}}};
}

unit_table creatinine_units() {
    return unit_table{{{"mg/dL", 1.0}, {"µmol/L", 1.0 / 88.4}, {"umol/L", 1.0 / 88.4}}};
}

}  // namespace

TEST_CASE("unit_table converts magnesium units to mg/dL") {
    auto const table = magnesium_units();
    auto check = [&](std::string_view unit, double value, double expected_mg_dl) {
        INFO("unit " << unit);
        auto converted = table.convert(value, unit);
        REQUIRE(converted);
        CHECK(*converted == doctest::Approx(expected_mg_dl));
    };
    check("mg/dL", 1.7, 1.7);
    check("mg/L", 17.0, 1.7);
    check("mmol/L", 0.7, 0.7 * 2.431);
    check("mmol/L", 0.5, 1.2155);
    check("meq/L", 1.0, 1.2155);
    check("mEq/L", 1.4, 1.4 * 1.2155);
    // Case-insensitive and trimmed (CLINICAL-BASIS.md §1).
    check("MG/DL", 2.0, 2.0);
    check("mg/dl", 2.0, 2.0);
    check(" mmol/l ", 1.0, 2.431);
    check("\tMEQ/L\n", 1.0, 1.2155);
}

TEST_CASE("unit_table gives no amount for a value that overflows in the target unit") {
    unit_table const grams_to_mg{{{"g", 1000.0}, {"mg", 1.0}}};
    CHECK_FALSE(grams_to_mg.convert(1e308, "g"));
    CHECK_FALSE(grams_to_mg.convert(-1e308, "g"));
    REQUIRE(grams_to_mg.convert(1e300, "g"));
    CHECK(*grams_to_mg.convert(1e300, "g") == doctest::Approx(1e303));
    CHECK(*grams_to_mg.convert(1e308, "mg") == doctest::Approx(1e308));
}

TEST_CASE("unit_table converts creatinine µmol/L and umol/L to mg/dL") {
    auto const table = creatinine_units();
    auto check = [&](std::string_view unit, double value, double expected_mg_dl) {
        INFO("unit " << unit);
        auto converted = table.convert(value, unit);
        REQUIRE(converted);
        CHECK(*converted == doctest::Approx(expected_mg_dl));
    };
    check("mg/dL", 1.1, 1.1);
    check("µmol/L", 88.4, 1.0);
    check("umol/L", 122.0, 122.0 / 88.4);
    check("UMOL/L", 176.8, 2.0);
    check("µmol/l", 44.2, 0.5);
}

TEST_CASE("unit_table: the micro sign U+00B5, the Greek mu U+03BC and u are one prefix") {
    // Configured once, as any of the three, the unit is found written as any of them.
    for (std::string_view const configured : {"\xC2\xB5mol/L", "\xCE\xBCmol/L", "umol/L"}) {
        unit_table const table{{{std::string(configured), 1.0 / 88.4}}};
        for (std::string_view const sent :
             {"\xC2\xB5mol/L", "\xCE\xBCmol/L", "umol/L", "UMOL/L", " \xCE\xBCmol/l "}) {
            INFO("configured " << configured << ", sent " << sent);
            REQUIRE(table.factor_for(sent));
            CHECK(*table.convert(176.8, sent) == doctest::Approx(2.0));
        }
        CHECK_FALSE(table.factor_for("mmol/L"));
        CHECK_FALSE(table.factor_for("\xC2mol/L"));  // a lone lead byte is not a micro sign
        CHECK_FALSE(table.factor_for("umol/L\xC2"));
        CHECK_FALSE(table.factor_for("\xCE"));
        CHECK_FALSE(table.factor_for("\xC2\xC2\xB5mol/L"));  // a lead byte, then a micro sign
        CHECK_FALSE(table.factor_for("\xC2\xB5\xC2\xB5mol/L"));
    }
}

TEST_CASE("unit_table: a unit that starts like a micro sign is not one") {
    // U+00B0 DEGREE SIGN shares its lead byte with U+00B5 MICRO SIGN.
    unit_table const table{{{"\xC2\xB0"
                             "C",
                             1.0},
                            {"umol/L", 2.0}}};
    REQUIRE(
        table.factor_for("\xC2\xB0"
                         "c"));
    CHECK(*table.factor_for(" \xC2\xB0"
                            "C ") == 1.0);
    CHECK_FALSE(
        table.factor_for("\xC2\xB5"
                         "C"));
    CHECK_FALSE(table.factor_for("uC"));
    CHECK_FALSE(
        table.factor_for("\xC2\xB0"
                         "mol/L"));
    CHECK_FALSE(table.factor_for("u mol/L"));  // inner whitespace is part of the unit
    CHECK_FALSE(table.factor_for("umol/"));
    CHECK_FALSE(table.factor_for("umol/LL"));
}

TEST_CASE("unit_table never guesses an unknown unit") {
    auto const table = magnesium_units();
    for (std::string_view const unit :
         {"g/L", "mg", "mg/dL/", "mgdL", "", "   ", "mmol", "258814008", "umol/L"}) {
        INFO("unit '" << unit << "'");
        CHECK_FALSE(table.factor_for(unit));
        CHECK_FALSE(table.convert(1.0, unit));
    }
    CHECK_FALSE(unit_table{}.factor_for("mg/dL"));
}

TEST_CASE("unit_table normalises its own keys") {
    unit_table const table{{{"  mg/dL ", 1.0}, {"MMOL/L", 2.431}}};
    REQUIRE(table.factors().size() == 2);
    CHECK(table.factors()[0].unit == "mg/dl");
    CHECK(table.factors()[1].unit == "mmol/l");
    REQUIRE(table.factor_for("mmol/L"));
    CHECK(*table.factor_for("mmol/L") == doctest::Approx(2.431));
}

TEST_CASE("unit conversion round-trips through the inverse factor") {
    auto const to_mg_dl = magnesium_units();
    unit_table const from_mg_dl{{{"mmol/L", 1.0 / 2.431}, {"mg/L", 10.0}, {"meq/L", 1.0 / 1.2155}}};
    for (std::string_view const unit : {"mmol/L", "mg/L", "meq/L"}) {
        for (double const v : {0.1, 0.5, 0.74, 1.0, 2.5, 10.0}) {
            auto forward = to_mg_dl.convert(v, unit);
            REQUIRE(forward);
            auto back = from_mg_dl.convert(*forward, unit);
            REQUIRE(back);
            CHECK(*back == doctest::Approx(v));
        }
    }
}
