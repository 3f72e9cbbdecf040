// Logic units of the settled edges (CLINICAL-BASIS.md §7): the order's own reason (reasonCode
// and reasonReference), continuous magnesium sulfate versus a bolus, an order's daily dose,
// and the route checks of chelation when a route is not recognised.

#include <string>

#include <doctest/doctest.h>

#include "cards.hpp"
#include "helpers.hpp"

using namespace rules_test;

namespace {

cds::rules::rule_set_data const& data() { return bundled()->data(); }

cds::fhir::medication_order parsed(bj::value const& v) {
    cds::fhir::issue_list issues;
    auto o = cds::fhir::parse_medication_order(v, "order", issues);
    REQUIRE(o.has_value());
    return std::move(*o);
}

bj::object quantity(double v, std::string const& unit) {
    return bj::object{
        {"value", v}, {"unit", unit}, {"system", "http://unitsofmeasure.org"}, {"code", unit}};
}

bj::object mgso4_order(bj::object repeat, bj::object dose_and_rate) {
    bj::object ds{
        {"route",
         concept_of(coding(snomed, "47625008", "Intravenous route (qualifier value)"), "IV")},
        {"timing", bj::object{{"repeat", std::move(repeat)}}},
        {"doseAndRate", bj::array{std::move(dose_and_rate)}}};
    return med_request(
        "m1", "draft",
        concept_of(coding(rxnorm, "6585", "Magnesium Sulfate"), "Magnesium sulfate injection"),
        bj::array{ds});
}

}  // namespace

TEST_CASE(
    "continuous magnesium sulfate: over more than an hour, repeated, or a rate with no dose; a "
    "bolus is not") {
    auto continuous = [](bj::object repeat, bj::object dose_and_rate) {
        return cds::rules::runs_continuously(
            parsed(mgso4_order(std::move(repeat), std::move(dose_and_rate))), data());
    };
    bj::object const dose_4g{{"doseQuantity", quantity(4, "g")}};
    CHECK_FALSE(
        continuous(bj::object{{"count", 1}, {"duration", 20}, {"durationUnit", "min"}}, dose_4g));
    CHECK_FALSE(continuous(bj::object{{"count", 1}, {"duration", 60}, {"durationUnit", "min"}},
                           dose_4g));  // 1 hour: a bolus
    CHECK(continuous(bj::object{{"count", 1}, {"duration", 61}, {"durationUnit", "min"}}, dose_4g));
    CHECK(continuous(bj::object{{"count", 1}, {"duration", 2}, {"durationUnit", "h"}}, dose_4g));
    // Its dose at its rate: 4 g at 2 g/h runs 2 hours; 4 g at 8 g/h runs 30 minutes.
    CHECK(continuous(bj::object{}, bj::object{{"doseQuantity", quantity(4, "g")},
                                              {"rateQuantity", quantity(2, "g/h")}}));
    CHECK_FALSE(continuous(bj::object{}, bj::object{{"doseQuantity", quantity(4, "g")},
                                                    {"rateQuantity", quantity(8, "g/h")}}));
    // Repeated doses (IM every 4 hours), and an infusion rate with no dose to end it.
    CHECK(continuous(bj::object{{"frequency", 1}, {"period", 4}, {"periodUnit", "h"}}, dose_4g));
    CHECK(continuous(bj::object{{"boundsDuration", quantity(2, "d")}},
                     bj::object{{"rateQuantity", quantity(1, "g/h")}}));
}

TEST_CASE("daily dose of an oral order: dose times frequency per period") {
    auto daily = [](bj::object repeat, double mg) {
        bj::object ds{{"route", concept_of(coding(snomed, "26643006", "Oral route"), "by mouth")},
                      {"timing", bj::object{{"repeat", std::move(repeat)}}},
                      {"doseAndRate", bj::array{bj::object{{"doseQuantity", quantity(mg, "mg")}}}}};
        auto const o = parsed(med_request(
            "m1", "draft",
            concept_of(coding(atc, "A12CC10", "magnesium oxide"), "Magnesium oxide 400 mg tablet"),
            bj::array{ds}));
        return cds::rules::daily_dose_mg(o, data());
    };
    CHECK(daily(bj::object{{"frequency", 1}, {"period", 1}, {"periodUnit", "d"}}, 200).value() ==
          doctest::Approx(200));
    CHECK(daily(bj::object{{"frequency", 2}, {"period", 1}, {"periodUnit", "d"}}, 200).value() ==
          doctest::Approx(400));
    CHECK(daily(bj::object{}, 400).value() == doctest::Approx(400));
    auto const no_dose = parsed(med_request(
        "m2", "draft", concept_of(coding(atc, "A12CC10", "magnesium oxide"), "Magnesium oxide")));
    CHECK_FALSE(cds::rules::daily_dose_mg(no_dose, data()).has_value());
}

TEST_CASE(
    "the order's own reason: reasonCode, a contained or referenced Condition whatever its status, "
    "else the display") {
    cds::rules::patient_findings f;
    auto const resolved_eclampsia =
        condition("c9", snomed, "15938005", "Eclampsia (disorder)", "2026-01-01", "resolved");
    cds::fhir::snapshot_builder b;
    b.add(resolved_eclampsia, "prefetch.c");
    auto const snapshot = std::move(b).build();
    for (auto const& c : snapshot.conditions) f.conditions.push_back(&c);
    auto reason_is_eclampsia = [&](bj::object order) {
        return cds::rules::order_reason_in(parsed(order), f, {"preeclampsia_eclampsia"}, data());
    };
    auto order =
        med_request("m1", "draft",
                    concept_of(coding(rxnorm, "6585", "Magnesium Sulfate"), "Magnesium sulfate"));
    CHECK_FALSE(reason_is_eclampsia(order));
    auto by_data = order;
    by_data["reasonReference"] = bj::array{bj::object{{"reference", "Condition/c9"}}};
    CHECK(reason_is_eclampsia(by_data));
    auto contained = order;
    contained["contained"] =
        bj::array{condition("r1", snomed, "398254007", "Pre-eclampsia (disorder)", "", "inactive")};
    contained["reasonReference"] = bj::array{bj::object{{"reference", "#r1"}}};
    CHECK(reason_is_eclampsia(contained));
    auto display_only = order;
    display_only["reasonReference"] =
        bj::array{bj::object{{"reference", "Condition/elsewhere"}, {"display", "Eclampsia"}}};
    CHECK(reason_is_eclampsia(display_only));
    auto other = order;
    other["reasonReference"] = bj::array{bj::object{{"reference", "#missing"}}};
    CHECK_FALSE(reason_is_eclampsia(other));
}

TEST_CASE(
    "chelation needs an oral route or form on both drugs; a route not recognised is not oral") {
    request r;
    r.hook = "order-select";
    r.resources = {patient(), magnesium(1.5), egfr(90),
                   med_request("a1", "active",
                               concept_of(coding(rxnorm, "2551", "Ciprofloxacin"),
                                          "Ciprofloxacin 500 mg oral tablet"))};
    auto mg_draft = [](std::string const& route_text) {
        bj::object ds{
            {"route", bj::object{{"text", route_text}}},
            {"doseAndRate", bj::array{bj::object{{"doseQuantity", quantity(400, "mg")}}}}};
        return med_request(
            "d1", "draft",
            concept_of(coding(atc, "A12CC01", "magnesium chloride"), "Magnesium chloride"),
            bj::array{ds});
    };
    r.selections = {"MedicationRequest/d1"};
    r.drafts = {mg_draft("by mouth")};
    CHECK(run(r).find("oral-magnesium-chelation"));
    r.drafts = {mg_draft("IVPB")};
    CHECK_FALSE(run(r).find("oral-magnesium-chelation"));
}
