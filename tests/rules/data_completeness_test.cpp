// Incomplete data is said on the cards, never silently evaluated around: notes from the
// FHIR-server fetch (hook_context::data_notes) and medication orders whose medicationReference
// names no identifiable drug are shown on the cards, like unavailable optional prefetch, with
// the texts taken from the rule file: once per response (CLINICAL-BASIS.md §5: no sentence on
// two cards), on the first card.

#include <algorithm>

#include <doctest/doctest.h>
#include <boost/json.hpp>

#include "helpers.hpp"

using namespace rules_test;

namespace {

std::string const fetch_note =
    "the medication Medication/med-9 named by a fetched medication order could not be read: it "
    "does not exist on "
    "the FHIR server";

bool trace_has(outcome const& o, std::string const& subject, std::string const& fragment) {
    return std::any_of(o.result.trace.begin(), o.result.trace.end(),
                       [&](cds::rules::trace_entry const& t) {
                           return t.subject == subject && contains(t.message, fragment);
                       });
}

bj::value const* find_card_with(outcome const& o, std::string const& fragment) {
    for (auto const& c : o.cards()) {
        if (contains(detail(c.as_object()), fragment)) return &c;
    }
    return nullptr;
}

// Magnesium sulfate 4 g IV over 10 minutes (400 mg/min: the IV-rate card).
bj::object mgso4_fast() {
    bj::object ds{
        {"route",
         concept_of(coding(snomed, "47625008", "Intravenous route (qualifier value)"), "IV")},
        {"timing",
         bj::object{
             {"repeat", bj::object{{"count", 1}, {"duration", 10}, {"durationUnit", "min"}}}}},
        {"doseAndRate",
         bj::array{bj::object{{"doseQuantity", bj::object{{"value", 4},
                                                          {"unit", "g"},
                                                          {"system", "http://unitsofmeasure.org"},
                                                          {"code", "g"}}}}}}};
    return med_request("m1", "draft",
                       concept_of(coding(rxnorm, "6585", "Magnesium Sulfate"),
                                  "Magnesium sulfate in water for injection"),
                       bj::array{ds});
}

bj::object digoxin() {
    return concept_of(coding(rxnorm, "197604", "digoxin 0.125 MG Oral Tablet"),
                      "digoxin 0.125 MG Oral Tablet");
}

}  // namespace

TEST_CASE("notes from the fetch are shown once per response, and in the trace") {
    request r;
    r.hook = "order-sign";
    r.resources = {patient(), magnesium(1.5), egfr(75)};
    r.drafts = {med_request("d1", "draft", furosemide()), med_request("d2", "draft", digoxin())};
    // Furosemide and digoxin with low magnesium are one problem, one card; a fast IV magnesium
    // draft is another (the IV rate).
    r.drafts.push_back(mgso4_fast());
    auto const without = run(r);
    REQUIRE(without.cards().size() == 2);
    CHECK_FALSE(contains(without.json(), "all of the data"));

    r.data_notes = {fetch_note,
                    "the search for prefetch key 'conditions' was cut at the limit of 20 pages"};
    auto const o = run(r);
    REQUIRE(o.cards().size() == 2);
    // On the first card only: no sentence appears on two cards of one response (§5).
    CHECK_FALSE(contains(detail(o.card(1)), "Not available"));
    {
        auto const text = detail(o.card(0));
        CAPTURE(text);
        // The card says what is missing without the FHIR id (CLINICAL-BASIS.md §5).
        CHECK(contains(text,
                       "Not available: all of the data (the medication a medication named by a "
                       "fetched medication order"));
        CHECK_FALSE(contains(text, "Medication/med-9"));
        CHECK(contains(text,
                       "Not available: all of the data (the search for prefetch key 'conditions' "
                       "was cut at the "
                       "limit of 20 pages)."));
    }
    CHECK(trace_has(o, "data", "incomplete: " + fetch_note));
    // Nothing else changes: same cards, same suggestions.
    CHECK(summary(o.card(0)) == summary(without.card(0)));
    CHECK(suggestion_count(o.card(0)) == suggestion_count(without.card(0)));
}

TEST_CASE("notes alone never make a card") {
    request r;
    r.resources = {patient(), magnesium(2.0), egfr(75)};
    r.data_notes = {fetch_note};
    auto const o = run(r);
    CHECK(o.cards().empty());
    CHECK(trace_has(o, "data", "incomplete"));
}

TEST_CASE("the note's words are data in the rule file") {
    auto v = bj::parse(cds::rules::bundled_rule_set_json());
    v.at("texts").as_object()["data_incomplete"] = "Datenlage unvollständig: {describes}";
    v.at("texts").as_object()["medication_unidentified"] = "Medikament nicht erkannt: {describes}";
    auto const changed = cds::rules::load_rule_set(bj::serialize(v));
    REQUIRE(changed.rules);
    request r;
    r.resources = {patient(), magnesium(1.5), egfr(75),
                   med_request_ref("x1", "active", "Medication/gone")};
    r.data_notes = {fetch_note};
    auto const o = run(r, *changed.rules);
    REQUIRE(o.cards().size() == 1);
    CHECK(contains(detail(o.card(0)),
                   "Datenlage unvollständig: the medication a medication named by a fetched"));
    CHECK(contains(detail(o.card(0)), "Medikament nicht erkannt: an order"));
    CHECK_FALSE(contains(detail(o.card(0)), "MedicationRequest/x1"));
}

TEST_CASE(
    "a counted order whose Medication is not in the data: the card says it was not identified") {
    request r;
    r.resources = {patient(), magnesium(1.5), egfr(75),
                   med_request_ref("x1", "active", "Medication/gone")};
    auto const o = run(r);
    REQUIRE(o.cards().size() == 1);
    auto const text = detail(o.card(0));
    CAPTURE(text);
    CHECK(contains(text, "Not available: the medication of an order: "));
    CHECK_FALSE(contains(text, "MedicationRequest/x1"));
    CHECK(contains(text, "not identified and not counted"));
    CHECK_FALSE(contains(text, "Contributing"));
    CHECK(trace_has(o, "MedicationRequest/x1",
                    "medication not identified: medicationReference 'Medication/gone'"));

    SUBCASE("an order that does not count (stopped) is not mentioned") {
        r.resources.back() = med_request_ref("x1", "stopped", "Medication/gone");
        auto const stopped = run(r);
        REQUIRE(stopped.cards().size() == 1);
        CHECK_FALSE(contains(detail(stopped.card(0)), "not identified"));
    }
    SUBCASE("the reference's display names the drug: it is counted by name, nothing to say") {
        r.resources.back() =
            med_request_ref("x1", "active", "Medication/gone", "Furosemide 40 mg tablet");
        auto const named = run(r);
        REQUIRE(named.cards().size() == 1);
        CHECK_FALSE(contains(detail(named.card(0)), "not identified"));
        CHECK(contains(detail(named.card(0)),
                       "Contributing magnesium-wasting drugs: Furosemide 40 mg tablet"));
    }
    SUBCASE("a Medication that is there but names no drug is not identified either") {
        r.resources.push_back(bj::object{{"resourceType", "Medication"},
                                         {"id", "gone"},
                                         {"form", bj::object{{"text", "tablet"}}}});
        auto const empty = run(r);
        REQUIRE(empty.cards().size() == 1);
        CHECK(contains(detail(empty.card(0)), "the medication of an order"));
        CHECK_FALSE(contains(detail(empty.card(0)), "MedicationRequest/x1"));
    }
    SUBCASE("the Medication is there: counted, nothing to say") {
        r.resources.push_back(
            bj::object{{"resourceType", "Medication"}, {"id", "gone"}, {"code", furosemide()}});
        auto const found = run(r);
        REQUIRE(found.cards().size() == 1);
        CHECK_FALSE(contains(detail(found.card(0)), "not identified"));
        CHECK(contains(detail(found.card(0)), "Contributing magnesium-wasting drugs"));
    }
}

TEST_CASE("an unidentified draft order is said on every card of the hook") {
    request r;
    r.hook = "order-sign";
    r.resources = {patient(), magnesium(1.5), egfr(75)};
    r.drafts = {med_request("d1", "draft", digoxin()),
                med_request_ref("d2", "draft", "Medication/not-sent")};
    auto const o = run(r);
    REQUIRE(o.cards().size() == 1);
    CHECK(contains(detail(o.card(0)), "the medication of an order"));
    CHECK_FALSE(contains(detail(o.card(0)), "MedicationRequest/d2"));
}

TEST_CASE("a urn:uuid reference inside a Bundle is resolved: the drug counts") {
    request r;
    bj::object bundle{
        {"resourceType", "Bundle"},
        {"type", "collection"},
        {"entry",
         bj::array{bj::object{{"fullUrl", "urn:uuid:2b7c9d4e-1f3a-4c5b-8d6e-7f8091a2b3c4"},
                              {"resource",
                               med_request_ref("x1", "active",
                                               "urn:uuid:6a1b2c3d-4e5f-4a6b-9c7d-8e9f0a1b2c3d")}},
                   bj::object{{"fullUrl", "urn:uuid:6a1b2c3d-4e5f-4a6b-9c7d-8e9f0a1b2c3d"},
                              {"resource", bj::object{{"resourceType", "Medication"},
                                                      {"code", furosemide()}}}}}}};
    r.resources = {patient(), magnesium(1.5), egfr(75), bundle};
    auto const o = run(r);
    REQUIRE(o.cards().size() == 1);
    CHECK(contains(detail(o.card(0)),
                   "Contributing magnesium-wasting drugs: furosemide 40 MG Oral Tablet."));
    CHECK_FALSE(contains(detail(o.card(0)), "MedicationRequest/x1"));
    CHECK_FALSE(contains(detail(o.card(0)), "not identified"));
}

TEST_CASE(
    "many unidentified orders: three named, the rest counted; quoted references are bounded") {
    request r;
    r.resources = {patient(), magnesium(1.5), egfr(75)};
    for (int i = 1; i <= 5; ++i) {
        auto const number = std::to_string(i);
        r.resources.push_back(med_request_ref(std::string{"x"}.append(number), "active",
                                              std::string{"Medication/gone-"}.append(number)));
    }
    std::string const long_id(300, 'a');
    r.resources.push_back(
        med_request_ref("x6", "active", std::string{"Medication/"}.append(long_id)));
    auto const o = run(r);
    REQUIRE(o.cards().size() == 1);
    auto const text = detail(o.card(0));
    CAPTURE(text);
    CHECK(contains(text, "an order; an order; an order and 3 more: "));
    CHECK_FALSE(contains(text, "MedicationRequest/x1"));
    CHECK_FALSE(contains(text, "MedicationRequest/x4"));
    // Every one is in the trace, each reference quoted at most ~100 characters.
    CHECK(trace_has(o, "MedicationRequest/x5", "Medication/gone-5"));
    CHECK(trace_has(o, "MedicationRequest/x6", "..."));
    CHECK_FALSE(trace_has(o, "MedicationRequest/x6", long_id));
    CHECK(find_card_with(o, "and 3 more") != nullptr);
}
