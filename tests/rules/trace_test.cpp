// The explain trace (cds/rules/trace.hpp): every resource read is counted or skipped with its
// reason, the magnesium result and the renal band are chosen with their inputs and thresholds,
// and every registered rule has one entry saying whether it fired and what it compared.

#include <algorithm>
#include <string>
#include <vector>

#include <doctest/doctest.h>
#include <boost/json.hpp>

#include "helpers.hpp"
#include "registry.hpp"

using namespace rules_test;
using cds::rules::trace_comparison;
using cds::rules::trace_decision;
using cds::rules::trace_entry;
using cds::rules::trace_reason;
using cds::rules::trace_section;

namespace {

// The entries about one subject ("Observation/mg1", "renal_function", a rule's "rule").
std::vector<trace_entry const*> about(outcome const& o, std::string const& subject) {
    std::vector<trace_entry const*> out;
    for (auto const& t : o.result.trace) {
        if (t.subject == subject) out.push_back(&t);
    }
    return out;
}

// The one entry of a resource or derived value in a section; fails the test when there is
// not exactly one.
trace_entry const& only(outcome const& o, std::string const& subject, trace_section section) {
    trace_entry const* found = nullptr;
    int count = 0;
    for (auto const* t : about(o, subject)) {
        if (t->section != section) continue;
        found = t;
        ++count;
    }
    REQUIRE_MESSAGE(count == 1, subject);
    return *found;
}

trace_entry const& rule_entry(outcome const& o, std::string const& rule_id) {
    trace_entry const* found = nullptr;
    int count = 0;
    for (auto const& t : o.result.trace) {
        if (t.section != trace_section::rule || t.rule != rule_id || t.subject != "rule") continue;
        found = &t;
        ++count;
    }
    REQUIRE_MESSAGE(count == 1, rule_id);
    return *found;
}

std::string value_text(trace_entry const& e, std::string const& name) {
    for (auto const& v : e.values) {
        if (v.name != name) continue;
        if (auto const* s = std::get_if<std::string>(&v.value)) return *s;
        return std::to_string(std::get<double>(v.value));
    }
    return "(absent)";
}

double value_number(trace_entry const& e, std::string const& name) {
    for (auto const& v : e.values) {
        if (v.name == name) {
            REQUIRE(std::holds_alternative<double>(v.value));
            return std::get<double>(v.value);
        }
    }
    FAIL("no value " << name);
    return 0;
}

trace_comparison const& comparison(trace_entry const& e, std::string const& what_starts) {
    for (auto const& c : e.compared) {
        if (c.what.rfind(what_starts, 0) == 0) return c;
    }
    FAIL("no comparison " << what_starts << " in " << e.rule << " " << e.subject);
    return e.compared.front();
}

}  // namespace

TEST_CASE("each observation is counted or skipped with its reason, type and id") {
    request r;
    bj::value cancelled = magnesium(1.0, "2025-03-10T08:00:00Z", "mg/dL", "mg-cancelled");
    cancelled.as_object()["status"] = "cancelled";
    bj::value other = magnesium(1.0, "2025-03-10T08:00:00Z", "mg/dL", "mg-other");
    other.as_object()["subject"] = bj::object{{"reference", "Patient/p2"}};
    bj::value unknown_code =
        observation("glucose1", "2345-7", 100, "mg/dL", "2025-03-10T08:00:00Z");
    r.resources = {patient(),
                   magnesium(1.9, "2025-03-10T06:00:00Z"),
                   magnesium(0.9, "2025-03-10T07:00:00Z", "mg%", "mg-unit"),
                   cancelled,
                   other,
                   magnesium(1.0, "2025-03-12T07:00:00Z", "mg/dL", "mg-future"),
                   magnesium(0.05, "2025-03-10T07:00:00Z", "mg/dL", "mg-implausible"),
                   unknown_code};
    auto const o = run(r);

    struct expected_skip {
        char const* id;
        trace_reason reason;
    };
    for (expected_skip const& skip : {expected_skip{"mg-unit", trace_reason::unit},
                                      expected_skip{"mg-cancelled", trace_reason::status},
                                      expected_skip{"mg-other", trace_reason::other_patient},
                                      expected_skip{"mg-future", trace_reason::future_date},
                                      expected_skip{"mg-implausible", trace_reason::implausible},
                                      expected_skip{"glucose1", trace_reason::code}}) {
        std::string const id = skip.id;
        CAPTURE(id);
        auto const& e = only(o, "Observation/" + id, trace_section::observation);
        CHECK(e.decision == trace_decision::skipped);
        CHECK(e.reason == skip.reason);
        CHECK(e.resource_type == "Observation");
        CHECK(e.resource_id == id);
    }
    CHECK(contains(only(o, "Observation/mg-unit", trace_section::observation).message, "'mg%'"));
    CHECK(value_text(only(o, "Observation/mg-cancelled", trace_section::observation), "status") ==
          "cancelled");

    auto const& counted = only(o, "Observation/mg1", trace_section::observation);
    CHECK(counted.decision == trace_decision::counted);
    CHECK(value_number(counted, "value") == doctest::Approx(1.9));
    CHECK(value_number(counted, "ageHours") == doctest::Approx(6));
    CHECK(value_text(counted, "status") == "final");
}

TEST_CASE("the magnesium result chosen: the newest counted, its band and the thresholds") {
    request r;
    r.resources = {patient(), magnesium(1.5, "2025-03-01T06:00:00Z", "mg/dL", "mg-old"),
                   magnesium(1.1, "2025-03-10T06:00:00Z")};
    auto const o = run(r);
    auto const& chosen = only(o, "Observation/mg1", trace_section::magnesium);
    CHECK(chosen.decision == trace_decision::chosen);
    CHECK(value_text(chosen, "level") == "severe");
    CHECK(value_text(chosen, "currency") == "current");
    CHECK(value_number(chosen, "countedResults") == 2);
    CHECK(contains(chosen.message, "the newest of 2 counted results"));
    auto const& severe = comparison(chosen, "serum magnesium 1.1 mg/dL below the severe");
    CHECK(severe.holds);
    CHECK(severe.op == "<");
    CHECK(*severe.threshold == doctest::Approx(1.2));
    CHECK(*severe.value == doctest::Approx(1.1));
    CHECK_FALSE(comparison(chosen, "serum magnesium 1.1 mg/dL above the high").holds);
    CHECK(about(o, "Observation/mg-old").size() == 1);  // counted, not chosen

    request none;
    none.resources = {patient()};
    auto const without = run(none);
    auto const& unknown = only(without, "magnesium", trace_section::magnesium);
    CHECK(contains(unknown.message, "no counted serum magnesium result"));
}

TEST_CASE("a stale low result: the age compared with the current window, and which rule fired") {
    request r;
    r.resources = {patient(), magnesium(1.4, "2025-02-20T06:00:00Z")};
    auto const o = run(r);
    auto const& chosen = only(o, "Observation/mg1", trace_section::magnesium);
    CHECK(value_text(chosen, "currency") == "stale-low");
    auto const& window = comparison(chosen, "result age within the current window");
    CHECK_FALSE(window.holds);
    CHECK(*window.threshold == doctest::Approx(168));
    CHECK(*window.value > 168);

    auto const& hypo = rule_entry(o, "hypomagnesemia");
    CHECK(hypo.decision == trace_decision::not_fired);
    CHECK(comparison(hypo, "serum magnesium below the low threshold").holds);
    auto const& current = comparison(hypo, "serum magnesium result within the current window");
    CHECK_FALSE(current.holds);
    CHECK(*current.threshold == doctest::Approx(168));
    CHECK(contains(hypo.message, "not met: serum magnesium result within the current window"));

    auto const& stale = rule_entry(o, "stale-low-magnesium");
    CHECK(stale.decision == trace_decision::fired);
    CHECK(value_text(stale, "indicator") == "info");
    CHECK(std::all_of(stale.compared.begin(), stale.compared.end(),
                      [](trace_comparison const& c) { return c.holds; }));
}

TEST_CASE("renal band: Cockcroft-Gault inputs and formula, eGFR, and which estimate was chosen") {
    request r;
    bj::value female = patient("1955-06-01", "female");
    r.resources = {female, magnesium(1.5), creatinine(1.2), weight(60), egfr(35)};
    auto const o = run(r);

    auto const& cg = only(o, "cockcroft_gault", trace_section::renal);
    CHECK(cg.decision == trace_decision::computed);
    CHECK(value_number(cg, "age") == 69);
    CHECK(value_number(cg, "weight") == doctest::Approx(60));
    CHECK(value_number(cg, "creatinine") == doctest::Approx(1.2));
    CHECK(value_number(cg, "sexFactor") == doctest::Approx(0.85));
    CHECK(value_text(cg, "sex") == "female");
    CHECK(value_text(cg, "creatinineResource") == "Observation/cr1");
    CHECK(contains(value_text(cg, "formula"), "(140 - age) x weight / (72 x creatinine)"));
    double const expected = (140.0 - 69) * 60 / (72 * 1.2) * 0.85;
    CHECK(value_number(cg, "estimate") == doctest::Approx(expected));

    auto const& measured = only(o, "Observation/egfr1", trace_section::renal);
    CHECK(measured.decision == trace_decision::counted);
    CHECK(value_text(measured, "source") == "eGFR");

    auto const& band = only(o, "renal_function", trace_section::renal);
    CHECK(band.decision == trace_decision::chosen);
    CHECK(value_text(band, "source") == "eGFR");  // 35 is lower than Cockcroft-Gault's 41.9
    CHECK(value_number(band, "estimate") == doctest::Approx(35));
    CHECK(contains(band.message, "the lowest of 2 estimates"));
    CHECK_FALSE(comparison(band, "estimate at or above the normal band").holds);
    CHECK(comparison(band, "estimate at or above the impaired band").holds);
    CHECK(*comparison(band, "estimate at or above the impaired band").threshold ==
          doctest::Approx(30));
}

TEST_CASE("renal: why Cockcroft-Gault was not computed, and an eGFR too old for the window") {
    request r;
    r.resources = {patient("", "male"), magnesium(1.5), creatinine(1.2), egfr(45, "2023-01-01")};
    auto const o = run(r);
    auto const& cg = only(o, "cockcroft_gault", trace_section::renal);
    CHECK(cg.decision == trace_decision::not_computed);
    CHECK(cg.reason == trace_reason::missing_input);
    CHECK(contains(cg.message, "age unknown"));
    auto const& old = only(o, "Observation/egfr1", trace_section::renal);
    CHECK(old.decision == trace_decision::skipped);
    CHECK(old.reason == trace_reason::too_old);
    CHECK(contains(only(o, "renal_function", trace_section::renal).message, "no renal estimate"));
}

TEST_CASE("medication orders: counted with drug, classes and route; skipped with the reason") {
    request r;
    r.hook = "order-sign";
    r.resources = {patient(), magnesium(1.5), egfr(75),
                   med_request("old1", "cancelled", omeprazole())};
    bj::value other = med_request("d-other", "draft", furosemide());
    other.as_object()["subject"] = bj::object{{"reference", "Patient/p2"}};
    r.drafts = {med_request("d1", "draft", furosemide()), other};
    auto const o = run(r);
    auto const& d1 = only(o, "MedicationRequest/d1", trace_section::medication);
    CHECK(d1.decision == trace_decision::counted);
    CHECK(contains(value_text(d1, "classes"), "loop_diuretic"));
    CHECK(value_text(d1, "route") == "oral");
    CHECK(value_text(d1, "origin") == "triggering order of this hook");
    auto const& cancelled = only(o, "MedicationRequest/old1", trace_section::medication);
    CHECK(cancelled.decision == trace_decision::skipped);
    CHECK(cancelled.reason == trace_reason::status);
    CHECK(only(o, "MedicationRequest/d-other", trace_section::medication).reason ==
          trace_reason::other_patient);

    auto const& wasting = rule_entry(o, "wasting-drug-with-hypomagnesemia");
    CHECK(wasting.decision == trace_decision::fired);
    auto const& ordered = comparison(wasting, "magnesium-wasting drug ordered");
    CHECK(ordered.holds);
    CHECK(ordered.note == "MedicationRequest/d1");
}

namespace {

// A ServiceRequest of patient p1 with the code, status and occurrence given.
bj::object level_request(std::string const& id,
                         std::string const& status,
                         bj::object code,
                         bj::object occurrence) {
    bj::object s{{"resourceType", "ServiceRequest"},
                 {"id", id},
                 {"status", status},
                 {"intent", "order"},
                 {"code", std::move(code)},
                 {"subject", bj::object{{"reference", "Patient/p1"}}}};
    for (auto& member : occurrence) s[member.key()] = std::move(member.value());
    return s;
}

bj::object serum_mg() {
    return concept_of(
        coding("http://loinc.org", "19123-9", "Magnesium [Mass/volume] in Serum or Plasma"),
        "Serum magnesium");
}

}  // namespace

TEST_CASE("service requests: a level already ordered is counted, others skipped with the reason") {
    request r;
    r.hook = "order-sign";
    bj::object const in_7_days{{"occurrenceDateTime", "2025-03-17T12:00:00Z"}};
    auto other = level_request("sr-other", "active", serum_mg(), in_7_days);
    other["subject"] = bj::object{{"reference", "Patient/p2"}};
    r.resources = {
        patient(),
        magnesium(1.5),
        egfr(75),
        level_request("sr-fit", "active", serum_mg(), in_7_days),
        level_request("sr-done", "completed", serum_mg(), in_7_days),
        other,
        level_request("sr-xray", "active", bj::object{{"text", "Chest X-ray"}}, in_7_days),
        level_request(
            "sr-timing", "active", serum_mg(),
            bj::object{{"occurrenceTiming", bj::object{{"event", bj::array{"2025-03-17"}}}}})};
    r.drafts = {med_request("d1", "draft", furosemide()),
                level_request("sr-dig", "draft", bj::object{{"text", "Digoxin level"}}, {})};
    auto const o = run(r);
    auto const& fit = only(o, "ServiceRequest/sr-fit", trace_section::service_request);
    CHECK(fit.decision == trace_decision::counted);
    CHECK(value_text(fit, "kind") == "magnesium");
    CHECK(value_text(fit, "origin") == "in the record");
    auto const& dig = only(o, "ServiceRequest/sr-dig", trace_section::service_request);
    CHECK(dig.decision == trace_decision::counted);
    CHECK(value_text(dig, "kind") == "digoxin");
    CHECK(value_text(dig, "origin") == "draft order of this hook");
    CHECK(only(o, "ServiceRequest/sr-done", trace_section::service_request).reason ==
          trace_reason::status);
    CHECK(only(o, "ServiceRequest/sr-other", trace_section::service_request).reason ==
          trace_reason::other_patient);
    CHECK(only(o, "ServiceRequest/sr-xray", trace_section::service_request).reason ==
          trace_reason::code);
    CHECK(only(o, "ServiceRequest/sr-timing", trace_section::service_request).reason ==
          trace_reason::no_time);

    // The oral repletion's 7-day recheck is the level ordered: it is not suggested again, and
    // the plan says which order stands for it.
    auto const* c = o.find("wasting-drug-with-hypomagnesemia");
    REQUIRE(c);
    REQUIRE(suggestion_count(*c) >= 1);
    for (std::size_t i = 0; i < suggestion_count(*c); ++i) {
        for (auto const& res : created(*c, i)) CHECK(res.at("resourceType") != "ServiceRequest");
    }
    auto const notes = about(o, "ServiceRequest/sr-fit");
    CHECK(std::any_of(notes.begin(), notes.end(), [](trace_entry const* t) {
        return t->rule == "repletion" && contains(t->message, "recheck already ordered");
    }));
}

TEST_CASE("every registered rule has exactly one entry: fired, not fired, disabled or not run") {
    request r;
    r.resources = {patient(), magnesium(1.1)};
    auto const o = run(r);
    for (auto const& rule : cds::rules::registered_rules()) {
        auto const& e = rule_entry(o, std::string(rule.id));
        bool const on_hook = (rule.hooks & cds::rules::hook_patient_view) != 0;
        CHECK((e.decision == trace_decision::not_run) == !on_hook);
    }
    auto const& hypo = rule_entry(o, "hypomagnesemia");
    CHECK(hypo.decision == trace_decision::fired);
    CHECK(value_text(hypo, "indicator") == "critical");
    auto const& low = comparison(hypo, "serum magnesium below the low threshold");
    CHECK(low.holds);
    CHECK(*low.value == doctest::Approx(1.1));
    CHECK(*low.threshold == doctest::Approx(1.8));
    CHECK(low.unit == "mg/dL");
    CHECK(contains(rule_entry(o, "repletion-hypermagnesemia").message, "order-sign"));

    auto v = bj::parse(std::string(cds::rules::bundled_rule_set_json()));
    v.at("rules").at("hypomagnesemia").as_object()["enabled"] = false;
    auto const changed = cds::rules::load_rule_set(bj::serialize(v));
    REQUIRE(changed.rules);
    auto const disabled = run(r, *changed.rules);
    CHECK(rule_entry(disabled, "hypomagnesemia").decision == trace_decision::disabled);
}

TEST_CASE("a rule that fired met every condition it records, over order-hook scenarios") {
    // Each rule's recorded conditions are the trace's account of it: a card whose rule's
    // conditions were not all met would be explained wrongly.
    request r;
    r.hook = "order-sign";
    r.resources = {patient(), magnesium(1.1), egfr(25)};
    r.drafts = {med_request("d1", "draft", furosemide()),
                med_request("d2", "draft",
                            concept_of(coding(rxnorm, "197604", "digoxin 0.125 MG Oral Tablet"),
                                       "digoxin 0.125 MG Oral Tablet"))};
    auto const o = run(r);
    int fired = 0;
    for (auto const& t : o.result.trace) {
        if (t.section != trace_section::rule || t.decision != trace_decision::fired) continue;
        ++fired;
        CAPTURE(t.rule);
        for (auto const& c : t.compared) {
            CAPTURE(c.what);
            CHECK(c.holds);
        }
    }
    // Furosemide and digoxin with the same deficiency: two rules fire, one card (§5); the
    // rule whose part joined the other's card says so.
    CHECK(o.cards().size() == 1);
    CHECK(fired >= 2);
    CHECK(contains(rule_entry(o, "digoxin-with-hypomagnesemia").message, "joined the"));
}

TEST_CASE("the trace is recorded only when asked for, and the cards are the same either way") {
    // Every kind of decision the trace records: results counted, skipped (other code, status,
    // unit, too old), the renal band from eGFR and Cockcroft-Gault, conditions, orders counted
    // and skipped, and rules fired, not fired and not run.
    request r;
    r.hook = "order-sign";
    r.resources = {
        patient("1940-02-01", "female"),
        magnesium(1.1),
        magnesium(1.9, "2025-03-01T06:00:00Z", "mg/dL", "mg-old"),
        observation("mg-prelim", "19123-9", 1.0, "mg/dL", "2025-03-10T07:00:00Z", "cancelled"),
        observation("mg-unit", "19123-9", 0.6, "furlongs", "2025-03-10T08:00:00Z"),
        observation("hb", "718-7", 13.1, "g/dL", "2025-03-10T06:00:00Z"),
        egfr(28),
        creatinine(1.9),
        weight(61),
        observation("k1", "2823-3", 3.1, "mmol/L", "2025-03-10T06:00:00Z"),
        condition("c1", snomed, "59282003", "Pulmonary embolism"),
        med_request("old1", "cancelled", omeprazole())};
    r.drafts = {med_request("d1", "draft", furosemide()),
                med_request("d2", "draft",
                            concept_of(coding(rxnorm, "197604", "digoxin 0.125 MG Oral Tablet"),
                                       "digoxin 0.125 MG Oral Tablet"))};
    auto const on = run(r);
    r.record_trace = false;
    auto const off = run(r);

    CHECK(off.result.trace.empty());
    CHECK(on.result.trace.size() > 20);
    REQUIRE_FALSE(on.cards().empty());
    CHECK(off.json() == on.json());
}
