#pragma once
// Small builders for rule tests: FHIR resources as JSON, a snapshot, a hook context with a
// fixed clock and a counting uuid source.

#include <string>
#include <vector>

#include <doctest/doctest.h>
#include <boost/json.hpp>

#include "cds/fhir/snapshot.hpp"
#include "cds/rules/evaluate.hpp"
#include "cds/rules/rule_set.hpp"

namespace rules_test {

namespace bj = boost::json;

inline std::shared_ptr<cds::rules::rule_set const> const& bundled() {
    static auto const loaded = cds::rules::load_rule_set(cds::rules::bundled_rule_set_json());
    return loaded.rules;
}

inline cds::fhir::instant at(std::string const& text) {
    auto r = cds::fhir::parse_date_time(text);
    REQUIRE_MESSAGE(r.value.has_value(), text);
    return r.value->start;
}

inline std::string const now_text = "2025-03-10T12:00:00Z";

inline bj::value patient(std::string const& birth = "1955-06-01",
                         std::string const& gender = "male") {
    bj::object p{{"resourceType", "Patient"}, {"id", "p1"}};
    if (!birth.empty()) p["birthDate"] = birth;
    if (!gender.empty()) p["gender"] = gender;
    return p;
}

inline bj::value observation(std::string const& id,
                             std::string const& loinc,
                             double value,
                             std::string const& unit,
                             std::string const& when,
                             std::string const& status = "final",
                             std::string const& comparator = "") {
    bj::object q{
        {"value", value}, {"unit", unit}, {"system", "http://unitsofmeasure.org"}, {"code", unit}};
    if (!comparator.empty()) q["comparator"] = comparator;
    return bj::object{
        {"resourceType", "Observation"},
        {"id", id},
        {"status", status},
        {"code", bj::object{{"coding", bj::array{bj::object{{"system", "http://loinc.org"},
                                                            {"code", loinc}}}}}},
        {"subject", bj::object{{"reference", "Patient/p1"}}},
        {"effectiveDateTime", when},
        {"valueQuantity", q}};
}

inline bj::value magnesium(double value,
                           std::string const& when = "2025-03-10T06:00:00Z",
                           std::string const& unit = "mg/dL",
                           std::string const& id = "mg1") {
    return observation(id, "19123-9", value, unit, when);
}

inline bj::value weight(double kg, std::string const& when = "2025-03-01") {
    return observation("wt1", "29463-7", kg, "kg", when);
}
inline bj::value egfr(double v, std::string const& when = "2025-03-09") {
    return observation("egfr1", "98979-8", v, "mL/min/{1.73_m2}", when);
}
inline bj::value creatinine(double v,
                            std::string const& unit = "mg/dL",
                            std::string const& when = "2025-03-09") {
    return observation("cr1", "2160-0", v, unit, when);
}

inline bj::object coding(std::string const& system,
                         std::string const& code,
                         std::string const& display = "") {
    bj::object c{{"system", system}, {"code", code}};
    if (!display.empty()) c["display"] = display;
    return c;
}
inline std::string const rxnorm = "http://www.nlm.nih.gov/research/umls/rxnorm";
inline std::string const atc = "http://www.whocc.no/atc";
inline std::string const snomed = "http://snomed.info/sct";

inline bj::object med_request(std::string const& id,
                              std::string const& status,
                              bj::object medication,
                              bj::array dosage = {}) {
    bj::object m{{"resourceType", "MedicationRequest"},
                 {"id", id},
                 {"status", status},
                 {"intent", "order"},
                 {"subject", bj::object{{"reference", "Patient/p1"}}},
                 {"medicationCodeableConcept", std::move(medication)}};
    if (!dosage.empty()) m["dosageInstruction"] = std::move(dosage);
    return m;
}

// A MedicationRequest naming its drug by medicationReference (resolved against the snapshot).
inline bj::object med_request_ref(std::string const& id,
                                  std::string const& status,
                                  std::string const& reference,
                                  std::string const& display = "") {
    bj::object ref{{"reference", reference}};
    if (!display.empty()) ref["display"] = display;
    return bj::object{{"resourceType", "MedicationRequest"},
                      {"id", id},
                      {"status", status},
                      {"intent", "order"},
                      {"subject", bj::object{{"reference", "Patient/p1"}}},
                      {"medicationReference", std::move(ref)}};
}

inline bj::object concept_of(bj::object c, std::string const& text) {
    return bj::object{{"coding", bj::array{std::move(c)}}, {"text", text}};
}

inline bj::object furosemide() {
    return concept_of(coding(rxnorm, "313988", "furosemide 40 MG Oral Tablet"),
                      "furosemide 40 MG Oral Tablet");
}
inline bj::object omeprazole() {
    return concept_of(coding(rxnorm, "198051", "omeprazole 20 MG Delayed Release Oral Capsule"),
                      "omeprazole 20 MG Delayed Release Oral Capsule");
}

inline bj::object condition(std::string const& id,
                            std::string const& system,
                            std::string const& code,
                            std::string const& display,
                            std::string const& onset = "",
                            std::string const& status = "active") {
    bj::object c{
        {"resourceType", "Condition"},
        {"id", id},
        {"clinicalStatus",
         bj::object{
             {"coding", bj::array{coding("http://terminology.hl7.org/CodeSystem/condition-clinical",
                                         status)}}}},
        {"code", concept_of(coding(system, code, display), display)},
        {"subject", bj::object{{"reference", "Patient/p1"}}}};
    if (!onset.empty()) c["onsetDateTime"] = onset;
    return c;
}

struct request {
    std::string hook = "patient-view";
    std::vector<bj::value> resources;
    std::vector<bj::value> drafts;
    std::vector<std::string> selections;
    std::vector<std::string> unavailable;
    std::vector<std::string> data_notes;  // hook_context::data_notes (what the fetch noted)
    std::string now = now_text;
    std::string encounter = "e1";
    std::string user = "Practitioner/u1";
    // hook_context::record_trace: on, since many tests read the trace (the service asks for it
    // only for explain; trace_test checks the cards are the same either way).
    bool record_trace = true;
};

struct outcome {
    cds::rules::evaluation_result result;
    [[nodiscard]] bj::array const& cards() const { return result.cards; }
    [[nodiscard]] bj::object const& card(std::size_t i) const {
        return result.cards.at(i).as_object();
    }
    [[nodiscard]] bj::object const* find(std::string const& rule_id) const {
        for (auto const& c : result.cards) {
            if (c.at("source").at("topic").at("code").as_string() == rule_id) return &c.as_object();
        }
        return nullptr;
    }
    [[nodiscard]] std::string json() const { return bj::serialize(result.cards); }
};

// `storage`: when given, the cards are built there (the evaluate overload with a storage_ptr).
inline outcome run(request const& r,
                   cds::rules::rule_set const& rules = *bundled(),
                   bj::storage_ptr const* storage = nullptr) {
    cds::fhir::snapshot_builder b;
    for (std::size_t i = 0; i < r.resources.size(); ++i)
        b.add(r.resources[i], "prefetch.r[" + std::to_string(i) + "]");
    cds::fhir::patient_snapshot snapshot = std::move(b).build();
    cds::rules::hook_context ctx;
    ctx.hook = r.hook;
    ctx.service_id = "magnesium-" + r.hook;
    ctx.now = at(r.now);
    ctx.patient_id = "p1";
    ctx.user_id = r.user;
    ctx.encounter_id = r.encounter;
    ctx.selections = r.selections;
    ctx.unavailable_prefetch = r.unavailable;
    ctx.data_notes = r.data_notes;
    ctx.record_trace = r.record_trace;
    for (std::size_t i = 0; i < r.drafts.size(); ++i) {
        cds::fhir::issue_list issues;
        if (r.drafts[i].is_object() && r.drafts[i].as_object().contains("resourceType") &&
            r.drafts[i].at("resourceType") == "ServiceRequest") {
            auto s = cds::fhir::parse_service_request(
                r.drafts[i], "context.draftOrders[" + std::to_string(i) + "]", issues);
            REQUIRE(s.has_value());
            ctx.draft_service_requests.push_back(std::move(*s));
            continue;
        }
        auto o = cds::fhir::parse_medication_order(
            r.drafts[i], "context.draftOrders[" + std::to_string(i) + "]", issues);
        REQUIRE(o.has_value());
        cds::fhir::resolve_medication(*o, snapshot, issues);
        if (r.drafts[i].is_object())
            o->source_json = std::make_shared<boost::json::object const>(r.drafts[i].get_object());
        ctx.draft_orders.push_back(std::move(*o));
    }
    int counter = 0;
    auto uuid = [&counter] {
        char buf[40];
        std::snprintf(buf, sizeof buf, "00000000-0000-4000-8000-%012d", ++counter);
        return std::string(buf);
    };
    if (storage) return {cds::rules::evaluate(snapshot, ctx, rules, uuid, *storage)};
    return {cds::rules::evaluate(snapshot, ctx, rules, uuid)};
}

inline std::string summary(bj::object const& card) {
    return std::string(card.at("summary").as_string());
}
inline std::string detail(bj::object const& card) {
    return std::string(card.at("detail").as_string());
}
inline std::string indicator(bj::object const& card) {
    return std::string(card.at("indicator").as_string());
}
inline bool contains(std::string const& hay, std::string const& needle) {
    return hay.find(needle) != std::string::npos;
}

// All resources created by the card's suggestions, in order.
inline std::vector<bj::object> created(bj::object const& card, std::size_t suggestion = 0) {
    std::vector<bj::object> out;
    auto const* s = card.if_contains("suggestions");
    if (!s || s->as_array().size() <= suggestion) return out;
    for (auto const& a : s->as_array()[suggestion].at("actions").as_array()) {
        if (a.at("type") == "create") out.push_back(a.at("resource").as_object());
    }
    return out;
}

inline std::size_t suggestion_count(bj::object const& card) {
    auto const* s = card.if_contains("suggestions");
    return s ? s->as_array().size() : 0;
}

}  // namespace rules_test
