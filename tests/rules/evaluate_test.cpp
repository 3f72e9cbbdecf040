// Per-rule cases from small snapshots: indicators, summaries with numbers, doses, routes,
// recheck intervals and codes of the suggested resources, and the card shape of CDS Hooks 2.0.

#include <algorithm>
#include <set>

#include <doctest/doctest.h>
#include <boost/json/monotonic_resource.hpp>

#include "helpers.hpp"

using namespace rules_test;

namespace {

bj::object const& dosage(bj::object const& med) {
    return med.at("dosageInstruction").as_array()[0].as_object();
}
bj::object const& dose_quantity(bj::object const& med) {
    return dosage(med).at("doseAndRate").as_array()[0].at("doseQuantity").as_object();
}
double num(bj::value const& v) {
    return v.is_int64() ? static_cast<double>(v.get_int64()) : v.as_double();
}
std::string str(bj::value const& v) { return std::string(v.as_string()); }

// CDS Hooks 2.0 card shape: uuids, summary length, indicator, source, override reasons,
// selectionBehavior with suggestions, actions with type + description, no null/empty members.
void check_card_shape(bj::object const& card) {
    CAPTURE(bj::serialize(card));
    CHECK_FALSE(str(card.at("uuid")).empty());
    CHECK(str(card.at("summary")).size() < 140);
    std::set<std::string> const indicators{"info", "warning", "critical"};
    CHECK(indicators.contains(str(card.at("indicator"))));
    CHECK_FALSE(str(card.at("source").at("label")).empty());
    // The rules know no URL: the service links source.url to its /rules/{rule-id} page.
    CHECK_FALSE(card.at("source").as_object().contains("url"));
    CHECK(str(card.at("source").at("topic").at("system")).find("example.org") == std::string::npos);
    CHECK(str(card.at("source").at("topic").at("version")) == bundled()->version());
    // Machine provenance is in source.topic and the extension, not in the text (CLINICAL-BASIS.md
    // §5).
    CHECK_FALSE(contains(detail(card), bundled()->version()));
    CHECK_FALSE(contains(detail(card), "Observation/"));
    auto const& provenance = card.at("extension").at("magnesium-cds");
    CHECK(str(provenance.at("ruleSetVersion")) == bundled()->version());
    CHECK_FALSE(provenance.at("evidence").as_array().empty());
    // The override reasons are the card's rule's own, in the configured order (§5).
    auto const& reasons = card.at("overrideReasons").as_array();
    static bj::value const config = bj::parse(cds::rules::bundled_rule_set_json());
    auto const& configured = config.at("rules")
                                 .at(str(card.at("source").at("topic").at("code")))
                                 .at("override_reasons")
                                 .as_array();
    REQUIRE(reasons.size() == configured.size());
    for (std::size_t i = 0; i < reasons.size(); ++i) {
        CHECK(reasons[i].at("code") == configured[i]);
        CHECK_FALSE(str(reasons[i].at("display")).empty());
    }
    if (auto const* s = card.if_contains("suggestions")) {
        CHECK_FALSE(s->as_array().empty());
        CHECK(card.at("selectionBehavior") == "at-most-one");
        for (auto const& sg : s->as_array()) {
            CHECK_FALSE(str(sg.at("uuid")).empty());
            CHECK_FALSE(str(sg.at("label")).empty());
            for (auto const& a : sg.at("actions").as_array()) {
                CHECK_FALSE(str(a.at("description")).empty());
                std::string const type = str(a.at("type"));
                if (type == "create") {
                    auto const& r = a.at("resource").as_object();
                    CHECK(r.at("status") == "draft");
                    CHECK(r.at("intent") == "order");
                    CHECK(r.at("subject").at("reference") == "Patient/p1");
                    CHECK(r.at("encounter").at("reference") == "Encounter/e1");
                    CHECK(r.at("requester").at("reference") == "Practitioner/u1");
                    if (r.at("resourceType") == "MedicationRequest") {
                        CHECK_FALSE(str(r.at("medicationCodeableConcept").at("text")).empty());
                        CHECK_FALSE(str(r.at("medicationCodeableConcept")
                                            .at("coding")
                                            .as_array()[0]
                                            .at("code"))
                                        .empty());
                        CHECK_FALSE(str(dosage(r).at("text")).empty());
                        CHECK(dosage(r).contains("route"));
                        CHECK(dosage(r).contains("timing"));
                    }
                } else if (type == "update") {
                    // The draft in its entirety (CDS Hooks 2.0), still this patient's draft.
                    auto const& r = a.at("resource").as_object();
                    CHECK(r.at("status") == "draft");
                    CHECK(r.at("subject").at("reference") == "Patient/p1");
                    CHECK_FALSE(str(r.at("id")).empty());
                } else {
                    CHECK(type == "delete");
                    CHECK_FALSE(str(a.at("resourceId")).empty());
                }
            }
        }
    } else {
        CHECK_FALSE(card.contains("selectionBehavior"));
    }
    CHECK(bj::serialize(card).find("null") == std::string::npos);
}

void check_all_shapes(outcome const& o) {
    std::set<std::string> uuids;
    for (auto const& c : o.cards()) {
        check_card_shape(c.as_object());
        uuids.insert(str(c.at("uuid")));
        if (auto const* s = c.as_object().if_contains("suggestions")) {
            for (auto const& sg : s->as_array()) uuids.insert(str(sg.at("uuid")));
        }
    }
    std::size_t expected = o.cards().size();
    for (auto const& c : o.cards()) expected += suggestion_count(c.as_object());
    CHECK(uuids.size() == expected);
}

bj::object mg_oxide_active() {
    return med_request(
        "mgox", "active",
        concept_of(coding(atc, "A12CC10", "magnesium oxide"), "Magnesium oxide 400 mg tablet"));
}

bj::object mgso4_draft(std::string const& id,
                       double grams,
                       double minutes,
                       std::string const& extra_bounds_days = "") {
    bj::object repeat{{"count", 1}, {"duration", minutes}, {"durationUnit", "min"}};
    if (!extra_bounds_days.empty()) {
        repeat["boundsDuration"] = bj::object{{"value", std::stod(extra_bounds_days)},
                                              {"unit", "d"},
                                              {"system", "http://unitsofmeasure.org"},
                                              {"code", "d"}};
    }
    bj::object ds{
        {"route",
         concept_of(coding(snomed, "47625008", "Intravenous route (qualifier value)"), "IV")},
        {"timing", bj::object{{"repeat", repeat}}},
        {"doseAndRate",
         bj::array{bj::object{{"doseQuantity", bj::object{{"value", grams},
                                                          {"unit", "g"},
                                                          {"system", "http://unitsofmeasure.org"},
                                                          {"code", "g"}}}}}}};
    auto m = med_request(id, "draft",
                         concept_of(coding(rxnorm, "6585", "Magnesium Sulfate"),
                                    "Magnesium sulfate in water for injection"),
                         bj::array{ds});
    return m;
}

// Magnesium sulfate as a continuous infusion: 1 g/h, no dose to end it, for `bounds_days`.
bj::object mgso4_infusion(std::string const& id, double bounds_days) {
    bj::object repeat{{"boundsDuration", bj::object{{"value", bounds_days},
                                                    {"unit", "d"},
                                                    {"system", "http://unitsofmeasure.org"},
                                                    {"code", "d"}}}};
    bj::object ds{
        {"route",
         concept_of(coding(snomed, "47625008", "Intravenous route (qualifier value)"), "IV")},
        {"timing", bj::object{{"repeat", repeat}}},
        {"doseAndRate",
         bj::array{bj::object{{"rateQuantity", bj::object{{"value", 1},
                                                          {"unit", "g/h"},
                                                          {"system", "http://unitsofmeasure.org"},
                                                          {"code", "g/h"}}}}}}};
    return med_request(id, "draft",
                       concept_of(coding(rxnorm, "6585", "Magnesium Sulfate"),
                                  "Magnesium sulfate 20 g in 500 mL infusion"),
                       bj::array{ds});
}

}  // namespace

TEST_CASE(
    "patient-view, severe: critical card with IV magnesium sulfate 2 g over 20 min and a 6 h "
    "recheck") {
    request r;
    r.resources = {patient(), magnesium(1.1), egfr(75)};
    auto const o = run(r);
    REQUIRE(o.cards().size() == 1);
    check_all_shapes(o);
    auto const& c = o.card(0);
    CHECK(indicator(c) == "critical");
    CHECK(summary(c) == "Mg 1.1 mg/dL (severe): give IV magnesium sulfate 2 g");
    CHECK(contains(detail(c), "10 Mar 2025 06:00 UTC"));
    CHECK_FALSE(contains(detail(c), "2025-03-10T06:00:00"));
    CHECK(contains(detail(c), "below 1.2 mg/dL"));
    CHECK(contains(detail(c), "75 mL/min"));
    auto const res = created(c);
    REQUIRE(res.size() == 2);
    auto const& med = res[0];
    CHECK(med.at("resourceType") == "MedicationRequest");
    CHECK(med.at("medicationCodeableConcept").at("coding").as_array()[0].at("code") == "6585");
    CHECK(med.at("medicationCodeableConcept").at("coding").as_array()[1].at("code") == "B05XA05");
    CHECK(num(dose_quantity(med).at("value")) == 2);
    CHECK(dose_quantity(med).at("code") == "g");
    // 50 mL of the 40 mg/mL premix over 20 minutes (CLINICAL-BASIS.md §3.2).
    CHECK(num(dosage(med).at("doseAndRate").as_array()[0].at("rateQuantity").at("value")) == 150);
    CHECK(dosage(med).at("route").at("coding").as_array()[0].at("code") == "47625008");
    CHECK(num(dosage(med).at("timing").at("repeat").at("duration")) == 20);
    auto const& sr = res[1];
    CHECK(sr.at("resourceType") == "ServiceRequest");
    CHECK(sr.at("code").at("coding").as_array()[0].at("code") == "19123-9");
    CHECK(sr.at("occurrenceDateTime") == "2025-03-10T18:20:00.000Z");  // 6 h after the infusion
}

TEST_CASE("units as reported: 0.45 mmol/L is 1.09 mg/dL, severe") {
    request r;
    r.resources = {patient(), magnesium(0.45, "2025-03-10T06:00:00Z", "mmol/L"), egfr(75)};
    auto const o = run(r);
    REQUIRE(o.cards().size() == 1);
    CHECK(contains(summary(o.card(0)), "Mg 0.45 mmol/L (1.09 mg/dL, severe)"));
    CHECK(contains(detail(o.card(0)), "Serum Mg 0.45 mmol/L (1.09 mg/dL)"));
}

TEST_CASE("unknown magnesium unit: skipped and said, never guessed") {
    request r;
    r.resources = {patient(), magnesium(0.5, "2025-03-10T06:00:00Z", "g/L"),
                   observation("fur", "2160-0", 1, "mg/dL", "2025-03-09")};
    r.resources.push_back(med_request("f1", "active", furosemide()));
    auto const o = run(r);
    // No usable Mg: the furosemide monitoring card fires and says why the result was not used.
    REQUIRE(o.cards().size() == 1);
    CHECK(contains(detail(o.card(0)), "unknown unit 'g/L'"));
}

TEST_CASE("comparator <1.2 is severe; <=1.2 is mild-moderate") {
    request r;
    r.resources = {
        patient(),
        observation("mg1", "19123-9", 1.2, "mg/dL", "2025-03-10T06:00:00Z", "final", "<"),
        egfr(75)};
    CHECK(contains(summary(run(r).card(0)), "<1.2 mg/dL (severe)"));
    r.resources[1] =
        observation("mg1", "19123-9", 1.2, "mg/dL", "2025-03-10T06:00:00Z", "final", "<=");
    CHECK(contains(summary(run(r).card(0)), "(mild–moderate)"));
}

TEST_CASE(
    "patient-view, mild-moderate: warning with oral magnesium oxide 400 mg at bedtime and an "
    "alternative") {
    request r;
    r.resources = {patient(), magnesium(1.5), egfr(75)};
    auto const o = run(r);
    REQUIRE(o.cards().size() == 1);
    check_all_shapes(o);
    auto const& c = o.card(0);
    CHECK(indicator(c) == "warning");
    CHECK(summary(c) == "Mg 1.5 mg/dL (mild–moderate): give magnesium oxide 400 mg by mouth");
    REQUIRE(suggestion_count(c) == 2);
    auto const& s = c.at("suggestions").as_array();
    CHECK(s[0].at("isRecommended") == true);
    CHECK(s[1].at("isRecommended") == false);
    auto const res = created(c, 0);
    REQUIRE(res.size() == 2);
    CHECK(res[0].at("medicationCodeableConcept").at("coding").as_array()[0].at("code") ==
          "A12CC10");
    CHECK(num(dose_quantity(res[0]).at("value")) == 400);
    CHECK(dose_quantity(res[0]).at("code") == "mg");
    CHECK(dosage(res[0]).at("route").at("coding").as_array()[0].at("code") == "26643006");
    CHECK(dosage(res[0]).at("timing").at("repeat").at("when").as_array()[0] == "HS");
    CHECK(res[1].at("occurrenceDateTime") == "2025-03-17T12:00:00.000Z");  // 7 days
    auto const alt = created(c, 1);
    // One product (CLINICAL-BASIS.md §3.2): glycinate, coded as the magnesium ingredient.
    CHECK(alt[0].at("medicationCodeableConcept").at("coding").as_array()[0].at("code") == "6574");
    CHECK(contains(str(alt[0].at("medicationCodeableConcept").at("text")), "glycinate"));
    CHECK(num(dose_quantity(alt[0]).at("value")) == 240);
    CHECK(contains(str(s[1].at("label")), "magnesium glycinate 240 mg"));
    CHECK_FALSE(contains(str(s[1].at("label")), "citrate"));
}

TEST_CASE("renal bands change doses and recheck intervals") {
    SUBCASE("impaired (eGFR 45): standard dose, recheck in 4 days") {
        request r;
        r.resources = {patient(), magnesium(1.5), egfr(45)};
        auto const res = created(run(r).card(0));
        CHECK(num(dose_quantity(res[0]).at("value")) == 400);
        CHECK(res[1].at("occurrenceDateTime") == "2025-03-14T12:00:00.000Z");
    }
    SUBCASE("severely impaired (eGFR 25): 200 mg, recheck in 2 days") {
        request r;
        r.resources = {patient(), magnesium(1.5), egfr(25)};
        auto const o = run(r);
        auto const res = created(o.card(0));
        CHECK(num(dose_quantity(res[0]).at("value")) == 200);
        CHECK(res[1].at("occurrenceDateTime") == "2025-03-12T12:00:00.000Z");
        CHECK(contains(summary(o.card(0)), "magnesium oxide 200 mg by mouth (halved"));
    }
    SUBCASE("contraindicated (eGFR 15), mild: no oral magnesium, nephrology") {
        request r;
        r.resources = {patient(), magnesium(1.5), egfr(15)};
        auto const o = run(r);
        auto const res = created(o.card(0));
        REQUIRE(res.size() == 1);
        CHECK(res[0].at("resourceType") == "ServiceRequest");
        CHECK(contains(detail(o.card(0)), "nephrology"));
    }
    SUBCASE("contraindicated (eGFR 15), severe: critical, IV 1 g") {
        request r;
        r.resources = {patient(), magnesium(1.0), egfr(15)};
        auto const o = run(r);
        CHECK(indicator(o.card(0)) == "critical");
        auto const res = created(o.card(0));
        CHECK(num(dose_quantity(res[0]).at("value")) == 1);
        // 25 mL of the 40 mg/mL premix over 20 minutes (CLINICAL-BASIS.md §3.2).
        auto const& rate = dosage(res[0]).at("doseAndRate").as_array()[0].at("rateQuantity");
        CHECK(num(rate.at("value")) == 75);
        CHECK(rate.at("code") == "mL/h");
    }
    SUBCASE("CKD stage 5 condition overrides a normal eGFR") {
        request r;
        r.resources = {patient(), magnesium(1.5), egfr(75),
                       condition("ckd", snomed, "433146000",
                                 "Chronic kidney disease stage 5 (disorder)", "2020-01-01")};
        auto const o = run(r);
        CHECK(created(o.card(0)).size() == 1);
        CHECK(contains(detail(o.card(0)), "contraindicated"));
    }
    SUBCASE("an old eGFR (200 days) still counts and its age is given") {
        request r;
        r.resources = {patient(), magnesium(1.5), egfr(45, "2024-08-22")};
        auto const o = run(r);
        CHECK(contains(detail(o.card(0)), "22 Aug 2024, 28 weeks ago (older than 30 days)"));
        CHECK(created(o.card(0))[1].at("occurrenceDateTime") == "2025-03-14T12:00:00.000Z");
    }
}

TEST_CASE("Cockcroft-Gault from creatinine, age, sex and weight; the lowest estimate is used") {
    request r;
    // 69 years, male, 70 kg, creatinine 1.4 mg/dL: (140-69)*70/(72*1.4) = 49.3 mL/min -> impaired.
    r.resources = {patient("1955-06-01", "male"), magnesium(1.5), creatinine(1.4), weight(70),
                   egfr(75)};
    auto const o = run(r);
    auto const& c = o.card(0);
    CHECK(contains(detail(c), "49.3 mL/min"));
    CHECK(contains(detail(c), "Cockcroft-Gault"));
    CHECK(contains(detail(c), "age 69"));
    CHECK(contains(detail(c), "compared on one scale"));
    CHECK(created(c)[1].at("occurrenceDateTime") == "2025-03-14T12:00:00.000Z");

    SUBCASE("creatinine in µmol/L and unknown sex take the conservative factor, and say so") {
        r.resources = {patient("1955-06-01", ""), magnesium(1.5), creatinine(123.76, "umol/L"),
                       weight(70)};
        auto const o2 = run(r);
        // 1.4 mg/dL, x 0.85 -> 41.9 mL/min.
        CHECK(contains(detail(o2.card(0)), "41.9 mL/min"));
        CHECK(contains(detail(o2.card(0)), "conservative"));
    }
}

TEST_CASE(
    "renal function unknown: suggestions still made, a creatinine is suggested, missing data is "
    "named") {
    request r;
    r.resources = {patient(), magnesium(1.5)};
    r.unavailable = {"renal"};
    auto const o = run(r);
    auto const& c = o.card(0);
    CHECK(contains(detail(c), "renal function unknown: no creatinine or eGFR was available"));
    auto const res = created(c);
    REQUIRE(res.size() == 3);
    CHECK(res[2].at("code").at("coding").as_array()[0].at("code") == "2160-0");
    CHECK(num(dose_quantity(res[0]).at("value")) == 400);
}

TEST_CASE("under 18 or unknown age: the finding, no dose, which case it is and what to do") {
    struct age_row {
        std::string birth;
        char const* says;
        char const* advice;
    };
    // The evaluation time of these requests is 2025-03-10.
    for (auto const& age_case :
         {age_row{"2010-01-01", "the patient is 15 years old", "Dose by weight"},
          age_row{"2024-06-01", "the patient is under 1 year old", "Dose by weight"},
          age_row{"", "age is unknown (no birth date)", "Record the birth date"}}) {
        CAPTURE(age_case.birth);
        request r;
        r.resources = {patient(age_case.birth), magnesium(1.1), egfr(90)};
        auto const o = run(r);
        REQUIRE(o.cards().size() == 1);
        CHECK(indicator(o.card(0)) == "critical");
        CHECK(suggestion_count(o.card(0)) == 0);
        CHECK(contains(detail(o.card(0)), "for adults"));
        CHECK(contains(detail(o.card(0)), age_case.says));
        CHECK(contains(detail(o.card(0)), age_case.advice));
        check_all_shapes(o);
    }
}

TEST_CASE("stale-low: info card with a recheck") {
    request r;
    r.resources = {patient(), magnesium(1.4, "2025-02-18T08:00:00Z"), egfr(75)};
    auto const o = run(r);
    REQUIRE(o.cards().size() == 1);
    check_all_shapes(o);
    CHECK(indicator(o.card(0)) == "info");
    CHECK(contains(summary(o.card(0)), "1.4 mg/dL was low 20 days ago"));
    auto const res = created(o.card(0));
    CHECK(res[0].at("resourceType") == "ServiceRequest");
    CHECK(res[0].at("occurrenceDateTime") == "2025-03-10T12:00:00.000Z");
}

TEST_CASE("current means at most 7 x 24 h; low older than 90 days is neither current nor stale") {
    request r;
    r.resources = {patient(), magnesium(1.4, "2025-03-03T12:00:00Z"), egfr(75)};
    CHECK(indicator(run(r).card(0)) == "warning");
    r.resources[1] = magnesium(1.4, "2025-03-03T11:59:00Z");
    CHECK(indicator(run(r).card(0)) == "info");
    r.resources[1] = magnesium(1.4, "2024-12-01");
    CHECK(run(r).cards().empty());
}

TEST_CASE("wasting drug without a magnesium level: 12 months, 7 days for the high-risk ones") {
    request r;
    r.resources = {patient(), med_request("f1", "active", furosemide()), egfr(75)};
    auto o = run(r);
    REQUIRE(o.cards().size() == 1);
    CHECK(indicator(o.card(0)) == "info");
    CHECK(contains(summary(o.card(0)), "12 months"));
    CHECK(created(o.card(0))[0].at("code").at("coding").as_array()[0].at("code") == "19123-9");

    r.resources.push_back(magnesium(2.0, "2025-01-10"));
    CHECK(run(r).cards().empty());

    r.resources = {
        patient(), egfr(75), magnesium(2.0, "2025-03-01"),
        med_request("cis", "active", concept_of(coding(rxnorm, "2555", "cisplatin"), "cisplatin"))};
    o = run(r);
    REQUIRE(o.cards().size() == 1);
    CHECK(contains(summary(o.card(0)), "7 days"));

    SUBCASE("stopped orders never count") {
        r.resources = {patient(), med_request("f1", "stopped", furosemide())};
        CHECK(run(r).cards().empty());
    }
}

TEST_CASE("symptomatic escalation: recent conditions and current QTc only") {
    request r;
    r.resources = {patient(), magnesium(1.5), egfr(75),
                   condition("sz", snomed, "91175000", "Seizure (finding)", "2025-03-08")};
    auto o = run(r);
    CHECK(indicator(o.card(0)) == "critical");
    // The summary names the symptom (§5).
    CHECK(summary(o.card(0)) ==
          "Mg 1.5 mg/dL (mild–moderate, with seizure): give IV magnesium sulfate 2 g");
    CHECK(num(dose_quantity(created(o.card(0))[0]).at("value")) == 2);

    r.resources[3] =
        condition("ep", snomed, "128613002", "Seizure disorder (disorder)", "2010-05-01");
    o = run(r);
    CHECK(indicator(o.card(0)) == "warning");

    r.resources[3] = observation("qtc", "8636-3", 510, "ms", "2025-03-10T08:00:00Z");
    CHECK(indicator(run(r).card(0)) == "critical");
    r.resources[3] = observation("qtc", "8636-3", 0.49, "s", "2025-03-10T08:00:00Z");
    CHECK(indicator(run(r).card(0)) == "warning");

    SUBCASE("cramps are supporting only") {
        r.resources[3] = condition("cr", snomed, "55300003", "Cramp (finding)", "2025-03-09");
        o = run(r);
        CHECK(indicator(o.card(0)) == "warning");
        CHECK(contains(detail(o.card(0)), "Supporting findings"));
    }
}

TEST_CASE("coexisting hypokalemia and hypocalcemia are named") {
    request r;
    r.resources = {patient(), magnesium(1.5), egfr(75),
                   observation("k", "2823-3", 3.1, "mmol/L", "2025-03-10T06:00:00Z"),
                   observation("ca", "2000-8", 1.9, "mmol/L", "2025-03-10T06:00:00Z")};
    auto const d = detail(run(r).card(0));
    CHECK(contains(d, "hypokalemia"));
    CHECK(contains(d, "potassium 3.1 mmol/L"));
    CHECK(contains(d, "hypocalcemia"));
    CHECK(contains(d, "7.62 mg/dL"));
}

TEST_CASE("already on oral repletion: info about the recheck; severe still gets IV") {
    request r;
    r.resources = {patient(), magnesium(1.5), egfr(75), mg_oxide_active()};
    auto o = run(r);
    CHECK(indicator(o.card(0)) == "info");
    auto res = created(o.card(0));
    REQUIRE(res.size() == 1);
    CHECK(res[0].at("resourceType") == "ServiceRequest");

    r.resources[1] = magnesium(1.0);
    o = run(r);
    CHECK(indicator(o.card(0)) == "critical");
    res = created(o.card(0));
    CHECK(res[0].at("resourceType") == "MedicationRequest");
    CHECK(dosage(res[0]).at("route").at("coding").as_array()[0].at("code") == "47625008");
}

TEST_CASE("preliminary results count and the card says so; cancelled never count") {
    request r;
    r.resources = {
        patient(),
        observation("mg1", "19123-9", 1.5, "mg/dL", "2025-03-10T06:00:00Z", "preliminary"),
        egfr(75)};
    CHECK(contains(detail(run(r).card(0)), "preliminary"));
    CHECK(contains(summary(run(r).card(0)), "Mg 1.5 mg/dL (mild–moderate, preliminary)"));
    r.resources[1] =
        observation("mg1", "19123-9", 1.5, "mg/dL", "2025-03-10T06:00:00Z", "cancelled");
    CHECK(run(r).cards().empty());
}

TEST_CASE(
    "order-select: only the selected draft triggers; a loop diuretic with low Mg warns with "
    "repletion") {
    request r;
    r.hook = "order-select";
    r.resources = {patient(), magnesium(1.5), egfr(75)};
    r.drafts = {med_request("d1", "draft", furosemide()),
                med_request("d2", "draft",
                            concept_of(coding(rxnorm, "197604", "digoxin 0.125 MG Oral Tablet"),
                                       "digoxin 0.125 MG Oral Tablet"))};
    r.selections = {"MedicationRequest/d1"};
    auto const o = run(r);
    REQUIRE(o.cards().size() == 1);
    check_all_shapes(o);
    CHECK(indicator(o.card(0)) == "warning");
    CHECK(contains(summary(o.card(0)), "furosemide"));
    CHECK(contains(summary(o.card(0)), "1.5 mg/dL"));
    CHECK(num(dose_quantity(created(o.card(0))[0]).at("value")) == 400);

    r.selections = {"MedicationRequest/nothing"};
    CHECK(run(r).cards().empty());
}

TEST_CASE(
    "order-select PPI: repletion plus a non-recommended famotidine switch dosed by renal band") {
    auto famotidine_of = [](outcome const& o) {
        auto const& s = o.card(0).at("suggestions").as_array();
        auto const& last = s[s.size() - 1].as_object();
        return last;
    };
    request r;
    r.hook = "order-select";
    r.resources = {patient(), magnesium(1.5), egfr(75)};
    r.drafts = {med_request("ppi1", "draft", omeprazole())};
    r.selections = {"MedicationRequest/ppi1"};
    auto o = run(r);
    REQUIRE(o.cards().size() == 1);
    check_all_shapes(o);
    auto sw = famotidine_of(o);
    CHECK(sw.at("isRecommended") == false);
    // The same repletion (oxide and its recheck), then the PPI's removal and famotidine
    // (CLINICAL-BASIS.md §3.4: the switch never means no magnesium).
    auto const& actions = sw.at("actions").as_array();
    REQUIRE(actions.size() == 4);
    CHECK(actions[0]
              .at("resource")
              .at("medicationCodeableConcept")
              .at("coding")
              .as_array()[0]
              .at("code") == "A12CC10");
    CHECK(actions[2].at("type") == "delete");
    CHECK(actions[2].at("resourceId") == "MedicationRequest/ppi1");
    auto const& fam = actions[3].at("resource").as_object();
    CHECK(fam.at("medicationCodeableConcept").at("coding").as_array()[0].at("code") == "4278");
    CHECK(num(dose_quantity(fam).at("value")) == 20);
    CHECK(num(dosage(fam).at("timing").at("repeat").at("frequency")) == 2);
    CHECK(contains(str(sw.at("label")), "H. pylori"));

    r.resources[2] = egfr(45);
    sw = famotidine_of(run(r));
    auto const& fam45 = sw.at("actions").as_array()[3].at("resource").as_object();
    CHECK(num(dose_quantity(fam45).at("value")) == 20);
    CHECK(num(dosage(fam45).at("timing").at("repeat").at("frequency")) == 1);

    r.resources[2] = egfr(25);
    sw = famotidine_of(run(r));
    auto const& fam25 = sw.at("actions").as_array()[3].at("resource").as_object();
    CHECK(num(dose_quantity(fam25).at("value")) == 10);
    CHECK(num(dosage(fam25).at("timing").at("repeat").at("frequency")) == 1);
}

TEST_CASE(
    "order-sign: diuretic, potassium and digoxin together stem from one hypomagnesemia: one card, "
    "one line per drug, one set of repletion suggestions") {
    request r;
    r.hook = "order-sign";
    r.resources = {patient(), magnesium(1.1), egfr(75)};
    r.drafts = {med_request("d1", "draft", furosemide()),
                med_request("d2", "draft",
                            concept_of(coding(rxnorm, "8591", "Potassium Chloride"),
                                       "Potassium chloride 20 mEq tablet")),
                med_request("d3", "draft",
                            concept_of(coding(rxnorm, "197604", "digoxin 0.125 MG Oral Tablet"),
                                       "digoxin 0.125 MG Oral Tablet"))};
    auto const o = run(r);
    REQUIRE(o.cards().size() == 1);
    check_all_shapes(o);
    auto const& c = o.card(0);
    // The card reports its primary trigger's rule (CLINICAL-BASIS.md §5).
    CHECK(c.at("source").at("topic").at("code") == "wasting-drug-with-hypomagnesemia");
    CHECK(indicator(c) == "critical");  // one problem, one indicator (§7)
    CHECK(summary(c) ==
          "Mg 1.1 mg/dL (severe) with furosemide and 2 more: give IV magnesium sulfate 2 g");
    // One repletion suggestion, which also orders the digoxin level (§3.4): the suggestions
    // are alternatives (at-most-one), so the level goes with each.
    REQUIRE(suggestion_count(c) == 1);
    CHECK(
        contains(str(c.at("suggestions").as_array()[0].at("label")), "+ serum digoxin level now"));
    CHECK(created(c).size() == 3);
    CHECK(contains(detail(c), "- furosemide: increases magnesium loss."));
    CHECK(contains(detail(c), "- Potassium chloride: hypokalemia may not correct"));
    CHECK(contains(detail(c), "- digoxin: low magnesium raises digoxin toxicity risk."));
    // The three findings' resources are the card's evidence.
    auto const& evidence = c.at("extension").at("magnesium-cds").at("evidence").as_array();
    for (char const* ref :
         {"MedicationRequest/d1", "MedicationRequest/d2", "MedicationRequest/d3"}) {
        CAPTURE(ref);
        CHECK(std::any_of(evidence.begin(), evidence.end(),
                          [&](bj::value const& e) { return e.at("reference") == ref; }));
    }
}

TEST_CASE("one card per problem: without a wasting drug the card reports the potassium rule") {
    request r;
    r.hook = "order-sign";
    r.resources = {patient(), magnesium(1.5), egfr(75)};
    r.drafts = {med_request("d3", "draft",
                            concept_of(coding(rxnorm, "197604", "digoxin 0.125 MG Oral Tablet"),
                                       "digoxin 0.125 MG Oral Tablet")),
                med_request("d2", "draft",
                            concept_of(coding(rxnorm, "8591", "Potassium Chloride"),
                                       "Potassium chloride 20 mEq tablet"))};
    auto const o = run(r);
    REQUIRE(o.cards().size() == 1);
    CHECK(o.card(0).at("source").at("topic").at("code") == "potassium-with-hypomagnesemia");
    CHECK(indicator(o.card(0)) == "warning");
    CHECK(contains(summary(o.card(0)), "with potassium chloride and digoxin"));
}

TEST_CASE("treated already (§3.3): a drafted oral magnesium meets the deficiency on order-sign") {
    request r;
    r.hook = "order-sign";
    r.resources = {patient(), magnesium(1.5), egfr(75)};
    r.drafts = {med_request("d1", "draft", furosemide()),
                med_request("m1", "draft",
                            concept_of(coding(atc, "A12CC10", "magnesium oxide"),
                                       "Magnesium oxide 400 mg tablet"))};
    auto const o = run(r);
    REQUIRE(o.cards().size() == 1);
    auto const& c = o.card(0);
    CHECK(indicator(c) == "info");
    CHECK(summary(c) ==
          "Mg 1.5 mg/dL (mild–moderate) with furosemide: on oral magnesium, recheck in 7 days");
    CHECK(contains(detail(c), "Treated with Magnesium oxide 400 mg tablet."));
    REQUIRE(suggestion_count(c) == 1);
    auto const res = created(c);
    REQUIRE(res.size() == 1);
    CHECK(res[0].at("resourceType") == "ServiceRequest");
}

TEST_CASE("no sentence appears on two cards of one response (§5)") {
    // A full-dose oral magnesium with eGFR 25 and Mg 2.8: the renal card and the
    // hypermagnesemia card are independent problems, each with its evidence.
    request r;
    r.hook = "order-sign";
    r.resources = {patient(), magnesium(2.8), egfr(25)};
    r.drafts = {med_request(
        "m1", "draft",
        concept_of(coding(atc, "A12CC10", "magnesium oxide"), "Magnesium oxide 400 mg tablet"))};
    auto const o = run(r);
    REQUIRE(o.cards().size() == 2);
    std::set<std::string> seen;
    for (auto const& card : o.cards()) {
        std::string const d = detail(card.as_object());
        CAPTURE(d);
        std::size_t start = 0;
        while (start < d.size()) {
            std::size_t end = d.find_first_of(".\n", start);
            if (end == std::string::npos) end = d.size();
            std::string const sentence = d.substr(start, end - start);
            start = end + 1;
            if (std::count(sentence.begin(), sentence.end(), ' ') < 4) continue;
            CHECK(seen.insert(sentence).second);
        }
    }
    // Each card still names its order, in its summary.
    CHECK(contains(summary(o.card(0)), "Magnesium oxide"));
    CHECK(contains(summary(o.card(1)), "Magnesium oxide"));
}

TEST_CASE("oral fluoroquinolone with active oral magnesium: info about separating doses") {
    request r;
    r.hook = "order-sign";
    r.resources = {patient(), magnesium(2.0), egfr(75), mg_oxide_active()};
    r.drafts = {med_request("abx", "draft",
                            concept_of(coding(rxnorm, "309309", "ciprofloxacin 500 MG Oral Tablet"),
                                       "ciprofloxacin 500 MG Oral Tablet"))};
    auto const o = run(r);
    REQUIRE(o.cards().size() == 1);
    check_all_shapes(o);
    CHECK(indicator(o.card(0)) == "info");
    CHECK(contains(summary(o.card(0)), "2 h before or 6 h after magnesium"));
    r.drafts = {
        med_request("abx", "draft",
                    concept_of(coding(rxnorm, "1665497", "50 ML levofloxacin 5 MG/ML Injection"),
                               "levofloxacin injection"))};
    CHECK(run(r).cards().empty());
}

TEST_CASE(
    "magnesium ordered: IV rate, normal or high Mg, no recent level, renal bands, pregnancy") {
    request r;
    r.hook = "order-sign";
    r.resources = {patient("1990-01-01", "female"), magnesium(2.0), egfr(90)};

    SUBCASE("4 g over 10 min is 400 mg/min: critical") {
        r.resources[1] = magnesium(1.5);
        r.drafts = {mgso4_draft("m1", 4, 10)};
        auto const o = run(r);
        auto const* c = o.find("iv-magnesium-rate");
        REQUIRE(c);
        CHECK(indicator(*c) == "critical");
        CHECK(contains(summary(*c), "400 mg/min"));
        check_all_shapes(o);
    }
    SUBCASE("the same with pre-eclampsia: info only, and no 'no deficiency' warning") {
        r.resources.push_back(
            condition("pe", snomed, "398254007", "Pre-eclampsia (disorder)", "2025-03-09"));
        r.drafts = {mgso4_draft("m1", 4, 10)};
        auto const o = run(r);
        auto const* c = o.find("iv-magnesium-rate");
        REQUIRE(c);
        CHECK(indicator(*c) == "info");
        CHECK_FALSE(o.find("repletion-without-deficiency"));
    }
    SUBCASE("2 g over 20 min: no rate card; normal Mg warns that no deficiency is documented") {
        r.drafts = {mgso4_draft("m1", 2, 20)};
        auto const o = run(r);
        CHECK_FALSE(o.find("iv-magnesium-rate"));
        auto const* c = o.find("repletion-without-deficiency");
        REQUIRE(c);
        CHECK(indicator(*c) == "warning");
        CHECK(contains(summary(*c), "2.0 mg/dL (normal)"));
    }
    SUBCASE("Mg 2.8: hypermagnesemia") {
        r.resources[1] = magnesium(2.8);
        r.drafts = {mgso4_draft("m1", 2, 20)};
        auto const o_ = run(r);
        auto const* c = o_.find("repletion-hypermagnesemia");
        REQUIRE(c);
        CHECK(indicator(*c) == "warning");
    }
    SUBCASE("no Mg in 7 days: info with a level") {
        r.resources[1] = magnesium(1.5, "2025-02-01");
        r.drafts = {mgso4_draft("m1", 2, 20)};
        auto const o = run(r);
        auto const* c = o.find("repletion-without-recent-level");
        REQUIRE(c);
        CHECK(indicator(*c) == "info");
        CHECK(created(*c)[0].at("resourceType") == "ServiceRequest");
    }
    SUBCASE("eGFR 25: halve; eGFR 15: critical") {
        r.resources[1] = magnesium(1.5);
        r.resources[2] = egfr(25);
        r.drafts = {mgso4_draft("m1", 2, 20)};
        auto const o_ = run(r);
        auto const* c = o_.find("repletion-renal-severely-impaired");
        REQUIRE(c);
        CHECK(indicator(*c) == "warning");
        r.resources[2] = egfr(15);
        auto const o = run(r);
        auto const* c2 = o.find("repletion-renal-contraindicated");
        REQUIRE(c2);
        CHECK(indicator(*c2) == "critical");
    }
    SUBCASE("pregnant, continuous magnesium sulfate for 7 days: warning; 3 days: none") {
        r.resources[1] = magnesium(1.5);
        r.resources.push_back(
            condition("preg", snomed, "77386006", "Pregnancy (finding)", "2024-10-01"));
        r.drafts = {mgso4_infusion("m1", 7)};
        auto const o_ = run(r);
        auto const* c = o_.find("magnesium-sulfate-in-pregnancy");
        REQUIRE(c);
        CHECK(indicator(*c) == "warning");
        r.drafts = {mgso4_infusion("m1", 3)};
        CHECK_FALSE(run(r).find("magnesium-sulfate-in-pregnancy"));
    }
    SUBCASE(
        "pregnant, a single dose over 20 minutes is a bolus, not continuous, whatever its bounds") {
        r.resources[1] = magnesium(1.5);
        r.resources.push_back(
            condition("preg", snomed, "77386006", "Pregnancy (finding)", "2024-10-01"));
        r.drafts = {mgso4_draft("m1", 2, 20, "7")};
        CHECK_FALSE(run(r).find("magnesium-sulfate-in-pregnancy"));
        r.drafts = {mgso4_draft("m1", 2, 90, "7")};  // over 90 minutes: continuous
        CHECK(run(r).find("magnesium-sulfate-in-pregnancy"));
    }
}

TEST_CASE("no finding: no cards") {
    request r;
    r.resources = {patient(), magnesium(2.1), egfr(90)};
    CHECK(run(r).cards().empty());
    r.hook = "order-sign";
    r.drafts = {med_request("x", "draft", bj::object{{"text", "Paracetamol 500 mg tablet"}})};
    CHECK(run(r).cards().empty());
}

TEST_CASE("same input, same cards apart from uuids") {
    request r;
    r.hook = "order-sign";
    r.resources = {patient(), magnesium(1.1), egfr(45),
                   observation("k", "2823-3", 3.1, "mmol/L", "2025-03-10T06:00:00Z")};
    r.drafts = {med_request("d1", "draft", furosemide()),
                med_request("ppi1", "draft", omeprazole())};
    auto strip = [](bj::array cards) {
        for (auto& c : cards) {
            c.as_object().erase("uuid");
            if (auto* s = c.as_object().if_contains("suggestions"))
                for (auto& sg : s->as_array()) sg.as_object().erase("uuid");
        }
        return bj::serialize(cards);
    };
    auto const a = run(r);
    auto const b = run(r);
    CHECK(strip(a.cards()) == strip(b.cards()));
    CHECK_FALSE(a.result.trace.empty());
}

TEST_CASE("cards built in a caller's memory resource are the same cards, allocated there") {
    std::vector<request> requests(3);
    requests[0].resources = {patient(), magnesium(1.5), egfr(45)};  // oral repletion, impaired band
    requests[1].resources = {patient(), magnesium(1.0)};  // IV, renal unknown: creatinine too
    requests[1].unavailable = {"renal"};
    requests[2].hook = "order-sign";  // several cards, PPI switch (delete action)
    requests[2].resources = {patient(), magnesium(1.1), egfr(45),
                             observation("k", "2823-3", 3.1, "mmol/L", "2025-03-10T06:00:00Z")};
    requests[2].drafts = {med_request("d1", "draft", furosemide()),
                          med_request("ppi1", "draft", omeprazole())};
    for (auto const& r : requests) {
        auto const on_heap = run(r);
        bj::monotonic_resource arena;
        bj::storage_ptr const sp(&arena);
        auto const in_arena = run(r, *bundled(), &sp);
        REQUIRE_FALSE(on_heap.cards().empty());
        CHECK(in_arena.json() == on_heap.json());  // uuids come from the same counter
        CHECK(in_arena.result.trace.size() == on_heap.result.trace.size());
        CHECK(in_arena.cards().storage().get() == &arena);
        for (auto const& c : in_arena.cards()) {
            CHECK(c.storage().get() == &arena);
            if (auto const* s = c.as_object().if_contains("suggestions")) {
                for (auto const& sg : s->as_array()) {
                    for (auto const& a : sg.at("actions").as_array()) {
                        CHECK(a.storage().get() == &arena);
                        if (auto const* res = a.as_object().if_contains("resource"))
                            CHECK(res->storage().get() == &arena);
                    }
                }
            }
        }
    }
}

TEST_CASE(
    "newest result wins; a tie on time goes to the later issued; dataAbsentReason never counts") {
    request r;
    auto older = magnesium(1.1, "2025-03-09T06:00:00Z", "mg/dL", "mgA");
    auto newer = magnesium(1.5, "2025-03-10T06:00:00Z", "mg/dL", "mgB");
    r.resources = {patient(), older, newer, egfr(75)};
    CHECK(contains(summary(run(r).card(0)), "1.5 mg/dL"));

    auto tie_a = magnesium(1.1, "2025-03-10T06:00:00Z", "mg/dL", "mgA");
    tie_a.as_object()["issued"] = "2025-03-10T09:00:00Z";
    auto tie_b = magnesium(1.5, "2025-03-10T06:00:00Z", "mg/dL", "mgB");
    tie_b.as_object()["issued"] = "2025-03-10T07:00:00Z";
    r.resources = {patient(), tie_a, tie_b, egfr(75)};
    CHECK(contains(summary(run(r).card(0)), "1.1 mg/dL"));

    auto absent = magnesium(1.0, "2025-03-10T08:00:00Z", "mg/dL", "mgC");
    absent.as_object().erase("valueQuantity");
    absent.as_object()["dataAbsentReason"] = bj::object{{"text", "hemolysed"}};
    r.resources = {patient(), absent, newer, egfr(75)};
    CHECK(contains(summary(run(r).card(0)), "1.5 mg/dL"));
}

TEST_CASE("pregnancy from a pregnancy-status Observation in the last 9 months") {
    request r;
    r.hook = "order-sign";
    bj::object status{
        {"resourceType", "Observation"},
        {"id", "ps"},
        {"status", "final"},
        {"code",
         concept_of(coding("http://loinc.org", "82810-3", "Pregnancy status"), "Pregnancy status")},
        {"effectiveDateTime", "2025-01-15"},
        {"valueCodeableConcept", concept_of(coding(snomed, "77386006", "Pregnant"), "Pregnant")}};
    r.resources = {patient("1990-01-01", "female"), magnesium(1.5), egfr(90), status};
    r.drafts = {mgso4_infusion("m1", 6)};
    auto const o = run(r);
    auto const* c = o.find("magnesium-sulfate-in-pregnancy");
    REQUIRE(c);
    CHECK(contains(detail(*c), "pregnancy status"));
    CHECK_FALSE(contains(detail(*c), "Observation/ps"));
    status["effectiveDateTime"] = "2024-03-01";  // more than 9 months ago
    r.resources[3] = status;
    CHECK_FALSE(run(r).find("magnesium-sulfate-in-pregnancy"));
}

TEST_CASE("magnesium with normal Mg: the order's reason or acute asthma exempts it") {
    request r;
    r.hook = "order-sign";
    r.resources = {patient(), magnesium(2.0), egfr(90)};
    auto order = mgso4_draft("m1", 2, 20);
    order["reasonCode"] = bj::object{
        {"text", "Acute severe asthma"}};  // sent as a single object, as the sandbox does
    r.drafts = {order};
    CHECK_FALSE(run(r).find("repletion-without-deficiency"));

    r.drafts = {mgso4_draft("m1", 2, 20)};
    r.resources.push_back(condition("as", snomed, "195967001", "Asthma (disorder)", "2025-03-09"));
    CHECK_FALSE(run(r).find("repletion-without-deficiency"));
    r.resources.back() = condition("as", snomed, "195967001", "Asthma (disorder)", "2015-03-09");
    auto const o = run(r);
    CHECK(o.find("repletion-without-deficiency"));
}

TEST_CASE("IV rate from a mass rate; a rate in mL/h alone is not checked") {
    request r;
    r.hook = "order-sign";
    r.resources = {patient(), magnesium(1.5), egfr(90)};
    auto order = mgso4_draft("m1", 4, 0);
    auto& ds = order.at("dosageInstruction").as_array()[0].as_object();
    ds.erase("timing");
    ds["doseAndRate"].as_array()[0].as_object()["rateQuantity"] = bj::object{
        {"value", 12}, {"unit", "g/h"}, {"system", "http://unitsofmeasure.org"}, {"code", "g/h"}};
    r.drafts = {order};
    auto const o = run(r);
    auto const* c = o.find("iv-magnesium-rate");
    REQUIRE(c);
    CHECK(contains(summary(*c), "200 mg/min"));

    ds["doseAndRate"].as_array()[0].as_object()["rateQuantity"] =
        bj::object{{"value", 300},
                   {"unit", "mL/h"},
                   {"system", "http://unitsofmeasure.org"},
                   {"code", "mL/h"}};
    r.drafts = {order};
    CHECK_FALSE(run(r).find("iv-magnesium-rate"));
}

TEST_CASE("medicationReference to a contained Medication is classified by that Medication's code") {
    request r;
    r.hook = "order-select";
    r.resources = {patient(), magnesium(1.5), egfr(90)};
    bj::object draft{
        {"resourceType", "MedicationRequest"},
        {"id", "c1"},
        {"status", "draft"},
        {"intent", "order"},
        {"subject", bj::object{{"reference", "Patient/p1"}}},
        {"contained",
         bj::array{bj::object{{"resourceType", "Medication"},
                              {"id", "med"},
                              {"code", concept_of(coding(atc, "C03AA03", "hydrochlorothiazide"),
                                                  "Hydrochlorothiazide 25 mg")}}}},
        {"medicationReference", bj::object{{"reference", "#med"}}}};
    r.drafts = {draft};
    r.selections = {"MedicationRequest/c1"};
    auto const o = run(r);
    REQUIRE(o.find("wasting-drug-with-hypomagnesemia"));
    CHECK(contains(summary(o.card(0)), "with hydrochlorothiazide"));
}

TEST_CASE(
    "patient-view ignores draft orders; order hooks ignore active record orders as triggers") {
    request r;
    r.resources = {patient(), magnesium(2.0), egfr(90), med_request("f1", "active", furosemide())};
    r.hook = "order-sign";
    r.drafts = {med_request("x", "draft", bj::object{{"text", "Paracetamol 500 mg tablet"}})};
    CHECK(run(r).cards().empty());
}
