// The suggested orders (CLINICAL-BASIS.md §3.1, §3.2, §3.4): every created medication order is
// signable as written, labels name every order, and each warning or critical card about a draft
// offers a way out (update or delete per CDS Hooks 2.0).

#include <string>

#include <doctest/doctest.h>
#include <boost/json.hpp>

#include "cds/rules/rule_set.hpp"
#include "helpers.hpp"

namespace bj = boost::json;
using namespace rules_test;

namespace {

bj::object ucum(double value, std::string const& code) {
    return bj::object{
        {"value", value}, {"unit", code}, {"system", "http://unitsofmeasure.org"}, {"code", code}};
}

// A drafted IV magnesium sulfate: `grams` over `minutes` (no timing when 0).
bj::object iv_draft(std::string const& id, double grams, double minutes) {
    bj::object ds{
        {"text", "as ordered"},
        {"route",
         concept_of(coding(snomed, "47625008", "Intravenous route (qualifier value)"), "IV")},
        {"doseAndRate", bj::array{bj::object{{"doseQuantity", ucum(grams, "g")}}}}};
    if (minutes > 0)
        ds["timing"] =
            bj::object{{"repeat", bj::object{{"duration", minutes}, {"durationUnit", "min"}}}};
    auto m = med_request(id, "draft",
                         concept_of(coding(rxnorm, "6585", "Magnesium Sulfate"),
                                    "Magnesium sulfate in water for injection"),
                         bj::array{ds});
    m["encounter"] = bj::object{{"reference", "Encounter/e1"}};
    return m;
}

bj::object oral_oxide_draft(std::string const& id, double mg) {
    bj::object ds{
        {"text", "as ordered"},
        {"route", concept_of(coding(snomed, "26643006", "Oral route"), "oral")},
        {"timing",
         bj::object{{"repeat", bj::object{{"frequency", 1}, {"period", 1}, {"periodUnit", "d"}}}}},
        {"doseAndRate", bj::array{bj::object{{"doseQuantity", ucum(mg, "mg")}}}}};
    return med_request(
        id, "draft",
        concept_of(coding(atc, "A12CC10", "magnesium oxide"), "Magnesium oxide 400 mg tablet"),
        bj::array{ds});
}

bj::object const& first_dosage_of(bj::object const& res) {
    return res.at("dosageInstruction").as_array()[0].as_object();
}

double number_of(bj::value const& v) { return v.to_number<double>(); }

bj::object const& dose_of(bj::object const& res) {
    return first_dosage_of(res).at("doseAndRate").as_array()[0].at("doseQuantity").as_object();
}

std::string label_of(bj::object const& card, std::size_t i) {
    return std::string(card.at("suggestions").as_array()[i].at("label").as_string());
}

bj::array const& actions_of(bj::object const& card, std::size_t i) {
    return card.at("suggestions").as_array()[i].at("actions").as_array();
}

}  // namespace

TEST_CASE("IV repletion: the premix as it runs, and a recheck 6 h after the infusion ends") {
    request r;
    r.resources = {patient(), magnesium(1.0), egfr(90)};
    auto const o = run(r);
    auto const& c = o.card(0);
    auto const res = created(c, 0);
    REQUIRE(res.size() == 2);
    auto const& mr = res[0];
    CHECK(mr.at("medicationCodeableConcept").at("text") ==
          "Magnesium sulfate 2 g in 50 mL premixed IV solution (40 mg/mL)");
    auto const& ds = first_dosage_of(mr);
    CHECK(ds.at("text") == "2 g (50 mL) IV over 20 minutes at 150 mL/h, single dose");
    auto const& repeat = ds.at("timing").at("repeat");
    CHECK(number_of(repeat.at("count")) == 1);
    CHECK(number_of(repeat.at("duration")) == 20);
    auto const& rate = ds.at("doseAndRate").as_array()[0].at("rateQuantity");
    CHECK(number_of(rate.at("value")) == 150);
    CHECK(rate.at("code") == "mL/h");
    CHECK(number_of(mr.at("dispenseRequest").at("quantity").at("value")) == 50);
    // now + 20 min + 6 h
    CHECK(res[1].at("occurrenceDateTime") == "2025-03-10T18:20:00.000Z");
    CHECK(res[1].at("note").as_array()[0].at("text") == "6 h after the infusion ends");
    CHECK(label_of(c, 0) ==
          "Magnesium sulfate 2 g IV over 20 min (50 mL at 150 mL/h) + Mg recheck 6 h after the "
          "infusion");
}

TEST_CASE("oral repletion runs until the recheck; the dosage text has no rationale") {
    SUBCASE("normal renal function: 7 days") {
        request r;
        r.resources = {patient(), magnesium(1.5), egfr(90)};
        auto const o = run(r);
        auto const& c = o.card(0);
        auto const oxide = created(c, 0);
        auto const& ds = first_dosage_of(oxide[0]);
        CHECK(ds.at("text") == "400 mg (one tablet) by mouth at bedtime for 7 days");
        CHECK(number_of(ds.at("timing").at("repeat").at("boundsDuration").at("value")) == 7);
        CHECK(label_of(c, 0) ==
              "Magnesium oxide 400 mg at bedtime for 7 days + Mg recheck in 7 days");
        auto const glycinate = created(c, 1);
        CHECK(first_dosage_of(glycinate[0]).at("text") ==
              "240 mg elemental magnesium (two tablets) by mouth at bedtime for 7 days");
    }
    SUBCASE("severely impaired: halved, 2 days") {
        request r;
        r.resources = {patient(), magnesium(1.5), egfr(25)};
        auto const o = run(r);
        auto const& c = o.card(0);
        auto const oxide = created(c, 0);
        auto const& ds = first_dosage_of(oxide[0]);
        CHECK(ds.at("text") == "200 mg (half a tablet) by mouth at bedtime for 2 days");
        CHECK(number_of(ds.at("timing").at("repeat").at("boundsDuration").at("value")) == 2);
        auto const glycinate = created(c, 1);
        CHECK(number_of(dose_of(glycinate[0]).at("value")) == 120);
    }
}

TEST_CASE("renal function unknown: each repletion suggestion orders a creatinine and says so") {
    request r;
    r.resources = {patient(), magnesium(1.5)};
    auto const o = run(r);
    auto const& c = o.card(0);
    REQUIRE(suggestion_count(c) == 2);
    for (std::size_t i = 0; i < 2; ++i) {
        CAPTURE(i);
        auto const res = created(c, i);
        REQUIRE(res.size() == 3);
        CHECK(res[2].at("code").at("coding").as_array()[0].at("code") == "2160-0");
        CHECK(contains(label_of(c, i), "+ serum creatinine now"));
    }
}

TEST_CASE("IV draft too fast: an update over whole 5-minute steps at or below 150 mg/min") {
    request r;
    r.hook = "order-sign";
    r.resources = {patient(), magnesium(1.5), egfr(90)};
    SUBCASE("4 g over 10 minutes: 30 minutes") {
        r.drafts = {iv_draft("m1", 4, 10)};
        auto const o = run(r);
        auto const* c = o.find("iv-magnesium-rate");
        REQUIRE(c);
        // The draft's product states no volume: the configured 40 mg/mL product for 4 g.
        CHECK(label_of(*c, 0) == "Run 4 g over 30 min (133 mg/min: 100 mL at 200 mL/h)");
        auto const& a = actions_of(*c, 0)[0];
        CHECK(a.at("type") == "update");
        auto const& res = a.at("resource").as_object();
        CHECK(res.at("id") == "m1");  // the draft itself, whole
        CHECK(res.at("encounter").at("reference") == "Encounter/e1");
        CHECK(res.at("medicationCodeableConcept").at("text") ==
              "Magnesium sulfate 4 g in 100 mL premixed IV solution (40 mg/mL)");
        auto const& ds = first_dosage_of(res);
        CHECK(number_of(ds.at("timing").at("repeat").at("duration")) == 30);
        CHECK(number_of(ds.at("timing").at("repeat").at("count")) == 1);
        auto const& rate = ds.at("doseAndRate").as_array()[0].at("rateQuantity");
        CHECK(rate.at("code") == "mL/h");
        CHECK(number_of(rate.at("value")) == 200);
        CHECK(number_of(res.at("dispenseRequest").at("quantity").at("value")) == 100);
        CHECK(ds.at("text") == "as ordered");  // the prescriber's text states no time: kept
    }
    SUBCASE("the draft's own concentration and a text stating the time") {
        auto order = iv_draft("m1", 4, 10);
        order["medicationCodeableConcept"] = concept_of(coding(rxnorm, "6585", "Magnesium Sulfate"),
                                                        "Magnesium sulfate 4 g in 250 mL");
        order.at("dosageInstruction").as_array()[0].as_object()["text"] = "4 g IV over 10 minutes";
        r.drafts = {order};
        auto const o = run(r);
        auto const* c = o.find("iv-magnesium-rate");
        REQUIRE(c);
        auto const& res = actions_of(*c, 0)[0].at("resource").as_object();
        CHECK(res.at("medicationCodeableConcept").at("text") == "Magnesium sulfate 4 g in 250 mL");
        auto const& ds = first_dosage_of(res);
        CHECK(number_of(ds.at("doseAndRate").as_array()[0].at("rateQuantity").at("value")) == 500);
        CHECK(ds.at("text") == "4 g (250 mL) IV over 30 minutes at 500 mL/h, single dose");
    }
    SUBCASE("4 g at 12 g/h: the mass rate is rewritten") {
        auto order = iv_draft("m1", 4, 0);
        order.at("dosageInstruction")
            .as_array()[0]
            .at("doseAndRate")
            .as_array()[0]
            .as_object()["rateQuantity"] = ucum(12, "g/h");
        r.drafts = {order};
        auto const o = run(r);
        auto const* c = o.find("iv-magnesium-rate");
        REQUIRE(c);
        auto const& res = actions_of(*c, 0)[0].at("resource").as_object();
        auto const& rate = first_dosage_of(res).at("doseAndRate").as_array()[0].at("rateQuantity");
        CHECK(rate.at("code") == "mL/h");
        CHECK(number_of(rate.at("value")) == 200);  // 100 mL over 30 minutes
    }
}

TEST_CASE("magnesium drafted without a deficiency or with high Mg: remove the draft") {
    request r;
    r.hook = "order-sign";
    r.drafts = {iv_draft("m1", 2, 20)};
    for (double mg : {2.0, 3.1}) {
        CAPTURE(mg);
        r.resources = {patient(), magnesium(mg), egfr(90)};
        auto const o = run(r);
        REQUIRE(o.cards().size() == 1);
        auto const& c = o.card(0);
        CHECK(label_of(c, 0) ==
              "Remove the magnesium order: Magnesium sulfate in water for injection");
        auto const& a = actions_of(c, 0)[0];
        CHECK(a.at("type") == "delete");
        CHECK(a.at("resourceId") == "MedicationRequest/m1");
    }
}

// The draft's dosage text, as the prescriber wrote it.
bj::object with_dosage_text(bj::object order, std::string const& text) {
    order.at("dosageInstruction").as_array()[0].as_object()["text"] = text;
    return order;
}

TEST_CASE("full-dose oral magnesium drafted while severely impaired: an update to half") {
    request r;
    r.hook = "order-sign";
    r.resources = {patient(), magnesium(1.5), egfr(25)};
    r.drafts = {with_dosage_text(oral_oxide_draft("ox1", 400), "400 mg by mouth once daily")};
    auto const o = run(r);
    auto const* c = o.find("repletion-renal-severely-impaired");
    REQUIRE(c);
    REQUIRE(suggestion_count(*c) >= 1);
    auto const& a = actions_of(*c, 0)[0];
    CHECK(a.at("type") == "update");
    auto const& res = a.at("resource").as_object();
    CHECK(number_of(dose_of(res).at("value")) == 200);
    CHECK(label_of(*c, 0) ==
          "Halve the magnesium order to 200 mg (half a tablet) at bedtime for 2 days + Mg recheck "
          "in 2 days");
    auto const& repeat = first_dosage_of(res).at("timing").at("repeat");
    CHECK(number_of(repeat.at("boundsDuration").at("value")) == 2);
    CHECK(repeat.at("when").as_array()[0] == "HS");
    // The prescriber's text states the old dose: replaced by the text of the halved order.
    CHECK(first_dosage_of(res).at("text") ==
          "200 mg (half a tablet) by mouth at bedtime for 2 days");
    auto const& recheck = actions_of(*c, 0)[1];
    CHECK(recheck.at("type") == "create");
    CHECK(recheck.at("resource").at("resourceType") == "ServiceRequest");
}

TEST_CASE("halving a full-dose oral draft whose text states the dose replaces the text") {
    request r;
    r.hook = "order-sign";
    r.resources = {patient(), magnesium(1.5), egfr(25)};
    auto order = oral_oxide_draft("ox1", 400);
    order.at("dosageInstruction").as_array()[0].as_object()["text"] = "400mg by mouth daily";
    r.drafts = {order};
    auto const o = run(r);
    auto const* c = o.find("repletion-renal-severely-impaired");
    REQUIRE(c);
    CHECK(first_dosage_of(actions_of(*c, 0)[0].at("resource").as_object()).at("text") ==
          "200 mg (half a tablet) by mouth at bedtime for 2 days");
}

// CLINICAL-BASIS.md §3.1: the dosage text prints on the administration record. An update keeps
// the prescriber's own words unless they state an amount or a time it changes; then they are
// replaced by the text of the new dosage, so that the order never contradicts itself.
TEST_CASE("an update keeps the prescriber's dosage text unless it states the dose or time") {
    request r;
    r.hook = "order-sign";
    auto const updated_text = [&](bj::object draft, char const* rule) {
        r.drafts = {std::move(draft)};
        auto const o = run(r);
        auto const* c = o.find(rule);
        REQUIRE(c);
        auto const& a = actions_of(*c, 0)[0];
        REQUIRE(a.at("type") == "update");
        return std::string(first_dosage_of(a.at("resource").as_object()).at("text").as_string());
    };
    SUBCASE("halving an oral dose") {
        r.resources = {patient(), magnesium(1.5), egfr(25)};
        char const* const rule = "repletion-renal-severely-impaired";
        CHECK(updated_text(with_dosage_text(oral_oxide_draft("ox1", 400), "Take with food"),
                           rule) == "Take with food");
        CHECK(updated_text(with_dosage_text(oral_oxide_draft("ox1", 400), "at bedtime, with water"),
                           rule) == "at bedtime, with water");
        CHECK(updated_text(with_dosage_text(oral_oxide_draft("ox1", 400), "400mg PO nightly"),
                           rule) == "200 mg (half a tablet) by mouth at bedtime for 2 days");
        CHECK(updated_text(
                  with_dosage_text(oral_oxide_draft("ox1", 400), "One tablet by mouth once daily"),
                  rule) == "200 mg (half a tablet) by mouth at bedtime for 2 days");
    }
    SUBCASE("slowing an infusion") {
        r.resources = {patient(), magnesium(1.5), egfr(90)};
        char const* const rule = "iv-magnesium-rate";
        CHECK(updated_text(with_dosage_text(iv_draft("m1", 4, 10), "via the central line"), rule) ==
              "via the central line");
        auto const written =
            updated_text(with_dosage_text(iv_draft("m1", 4, 10), "4 g IV over 10 minutes"), rule);
        CHECK(written.find("30 min") != std::string::npos);
        CHECK(written.find("10 min") == std::string::npos);
        CHECK(updated_text(with_dosage_text(iv_draft("m1", 4, 10), "IV push"), rule) == written);
    }
}

TEST_CASE("IV magnesium drafted in the contraindicated band for a severe deficiency: 1 g") {
    request r;
    r.hook = "order-sign";
    r.resources = {patient(), magnesium(1.0), egfr(15)};
    r.drafts = {iv_draft("m1", 2, 20)};
    auto const o = run(r);
    auto const* c = o.find("repletion-renal-contraindicated");
    REQUIRE(c);
    REQUIRE(suggestion_count(*c) == 1);
    auto const& a = actions_of(*c, 0)[0];
    CHECK(a.at("type") == "update");
    auto const& res = a.at("resource").as_object();
    auto const& dose = dose_of(res);
    CHECK(number_of(dose.at("value")) == 1);
    CHECK(dose.at("code") == "g");
    CHECK(label_of(*c, 0) ==
          "Reduce the magnesium order to 1 g IV over 20 min (25 mL at 75 mL/h) + Mg recheck 6 h "
          "after the infusion");
    CHECK(res.at("medicationCodeableConcept").at("text") ==
          "Magnesium sulfate 1 g in 25 mL premixed IV solution (40 mg/mL)");
    auto const& ds = first_dosage_of(res);
    CHECK(number_of(ds.at("doseAndRate").as_array()[0].at("rateQuantity").at("value")) == 75);
    CHECK(number_of(ds.at("timing").at("repeat").at("count")) == 1);
    CHECK(number_of(res.at("dispenseRequest").at("quantity").at("value")) == 25);
    CHECK(actions_of(*c, 0)[1].at("resource").at("resourceType") == "ServiceRequest");
}

TEST_CASE("continuous magnesium sulfate drafted in pregnancy beyond 5 days: bounded to 5 days") {
    request r;
    r.hook = "order-sign";
    r.resources = {patient("1990-01-01", "female"), magnesium(1.5), egfr(90),
                   condition("preg", snomed, "77386006", "Pregnancy (finding)", "2024-10-01")};
    bj::object ds{
        {"text", "1 g/h"},
        {"route",
         concept_of(coding(snomed, "47625008", "Intravenous route (qualifier value)"), "IV")},
        {"timing", bj::object{{"repeat", bj::object{{"boundsDuration", ucum(7, "d")}}}}},
        {"doseAndRate", bj::array{bj::object{{"rateQuantity", ucum(1, "g/h")}}}}};
    r.drafts = {med_request(
        "inf1", "draft",
        concept_of(coding(rxnorm, "6585", "Magnesium Sulfate"), "Magnesium sulfate 20 g in 500 mL"),
        bj::array{ds})};
    auto const o = run(r);
    auto const* c = o.find("magnesium-sulfate-in-pregnancy");
    REQUIRE(c);
    REQUIRE(suggestion_count(*c) == 1);
    auto const& a = actions_of(*c, 0)[0];
    CHECK(a.at("type") == "update");
    auto const& bounds = first_dosage_of(a.at("resource").as_object())
                             .at("timing")
                             .at("repeat")
                             .at("boundsDuration");
    CHECK(number_of(bounds.at("value")) == 5);
    CHECK(label_of(*c, 0) == "Limit magnesium sulfate to 5 days");
    // The prescriber's text states an amount ("1 g/h"): rewritten with the new duration, so the
    // order never says one thing in words and another in its fields.
    CHECK(first_dosage_of(a.at("resource").as_object()).at("text") ==
          "1 g/h (25 mL/h) IV for 5 days");
}

TEST_CASE("digoxin with low magnesium: a digoxin level besides the repletion, text only") {
    request r;
    r.hook = "order-sign";
    r.resources = {patient(), magnesium(1.5), egfr(90)};
    r.drafts = {med_request("dg1", "draft",
                            concept_of(coding(rxnorm, "197604", "digoxin 0.125 MG Oral Tablet"),
                                       "digoxin 0.125 MG Oral Tablet"))};
    auto const o = run(r);
    auto const* c = o.find("digoxin-with-hypomagnesemia");
    REQUIRE(c);
    bool level = false;
    // The level goes with each repletion alternative (one card per problem, CLINICAL-BASIS.md §5).
    for (auto const& s : c->at("suggestions").as_array()) {
        for (auto const& action : s.at("actions").as_array()) {
            auto const& a = action.at("resource");
            if (a.at("resourceType") == "ServiceRequest" &&
                a.at("code").at("text") == "Serum digoxin level") {
                level = true;
                CHECK_FALSE(a.at("code").as_object().contains("coding"));  // no verified LOINC
            }
        }
    }
    CHECK(level);
}

TEST_CASE("PPI drafted with low magnesium: the switch keeps the repletion") {
    request r;
    r.hook = "order-select";
    r.resources = {patient(), magnesium(1.5), egfr(90)};
    r.drafts = {med_request("ppi1", "draft", omeprazole())};
    r.selections = {"MedicationRequest/ppi1"};
    auto const o = run(r);
    auto const& c = o.card(0);
    REQUIRE(suggestion_count(c) == 3);
    auto const& switch_actions = actions_of(c, 2);
    REQUIRE(switch_actions.size() == 4);
    CHECK(switch_actions[0].at("resource").at("medicationCodeableConcept").at("text") ==
          "Magnesium oxide 400 mg tablet");
    CHECK(switch_actions[2].at("type") == "delete");
    CHECK(switch_actions[2].at("resourceId") == "MedicationRequest/ppi1");
    auto const& famotidine = switch_actions[3].at("resource").as_object();
    CHECK(famotidine.at("medicationCodeableConcept").at("text") == "Famotidine 20 mg tablet");
    CHECK(number_of(famotidine.at("dispenseRequest").at("expectedSupplyDuration").at("value")) ==
          30);
    CHECK(label_of(c, 2) ==
          "Magnesium oxide 400 mg at bedtime for 7 days + Mg recheck in 7 days + switch omeprazole "
          "to famotidine 20 mg twice daily (if the indication allows: not for H. pylori treatment "
          "or bleeding prophylaxis)");
}

TEST_CASE("a premix whose volume does not hold its dose is rejected at load") {
    auto v = bj::parse(cds::rules::bundled_rule_set_json());
    v.at("doses").at("intravenous").as_object()["volume_ml"] = 40;
    auto const ps = cds::rules::load_rule_set(bj::serialize(v)).problems;
    bool found = false;
    for (auto const& p : ps) found = found || p.path == "/doses/intravenous/volume_ml";
    CHECK(found);
}
