// Suggested orders as complete FHIR R4 resources (CLINICAL-BASIS.md §3): status draft,
// intent order, subject the context patient, encounter and requester from the context,
// readable dosageInstruction.text with structured dose, route and timing.

#include <chrono>
#include <cmath>

#include "cards.hpp"
#include "common/text.hpp"

namespace cds::rules {

namespace bj = boost::json;

namespace {

constexpr char const* ucum = "http://unitsofmeasure.org";

// Integral numbers as integers, so "2" is not serialized as "2E0".
bj::value number(double v) {
    double const r = std::round(v);
    if (std::fabs(v - r) < 1e-9 && std::fabs(r) < 1e15)
        return bj::value(static_cast<std::int64_t>(r));
    return bj::value(std::round(v * 1e6) / 1e6);
}

// ---- built once, at load time (prebuild_card_json) ----

bj::object build_coding_json(coding_config const& c) {
    bj::object o;
    o.reserve(3);
    o.emplace("system", c.system);
    o.emplace("code", c.code);
    if (!c.display.empty()) o.emplace("display", c.display);
    return o;
}

void prebuild_concept_json(concept_config& c) {
    c.coding_json.clear();
    for (auto& cc : c.coding) {
        cc.json = build_coding_json(cc);
        c.coding_json.push_back(cc.json);
    }
    c.json = {};
    if (!c.coding_json.empty()) c.json.emplace("coding", c.coding_json);
    if (!c.text.empty()) c.json.emplace("text", c.text);
}

// ---- per card: copies of the prebuilt parts ----
// Every value of a card is allocated from the card's storage (rule_context::json_storage):
// a value built elsewhere would be copied, not moved, into it. Objects are created with
// their final capacity so that filling them never regrows their table.

// A CodeableConcept: the configured one, or its codings with another text.
bj::object concept_json(concept_config const& c,
                        bj::storage_ptr const& sp,
                        std::string const& text_override = {}) {
    if (text_override.empty() || text_override == c.text) return bj::object(c.json, sp);
    bj::object o(2, sp);
    if (!c.coding_json.empty()) o.emplace("coding", c.coding_json);
    o.emplace("text", text_override);
    return o;
}

// A dosage route: {coding: [the route], text: its display}.
bj::object route_json(coding_config const& route, bj::storage_ptr const& sp) {
    bj::array codings(sp);
    codings.push_back(route.json);
    bj::object o(2, sp);
    o.emplace("coding", std::move(codings));
    o.emplace("text", route.display);
    return o;
}

bj::object quantity_json(double value, std::string const& unit, bj::storage_ptr const& sp) {
    bj::object q(4, sp);
    q.emplace("value", number(value));
    q.emplace("unit", unit);
    q.emplace("system", ucum);
    q.emplace("code", unit);
    return q;
}

std::string reference_to(std::string const& type, std::string const& id) {
    if (id.find('/') != std::string::npos) return id;
    return type + "/" + id;
}

// {"reference": ...}
bj::object reference_json(std::string_view reference, bj::storage_ptr const& sp) {
    bj::object o(1, sp);
    o.emplace("reference", reference);
    return o;
}

bj::object build_context_references(rule_context const& rc) {
    auto const& sp = rc.json_storage;
    bj::object r(4, sp);
    r.emplace("subject", reference_json(reference_to("Patient", rc.hook.patient_id), sp));
    if (!rc.hook.encounter_id.empty()) {
        r.emplace("encounter", reference_json(reference_to("Encounter", rc.hook.encounter_id), sp));
    }
    r.emplace("authoredOn", fhir::format_instant(rc.f.now));
    // CDS Hooks userId is "Practitioner/123" (or PractitionerRole/Patient/RelatedPerson).
    if (rc.hook.user_id.find('/') != std::string::npos)
        r.emplace("requester", reference_json(rc.hook.user_id, sp));
    return r;
}

// [value]
bj::array array_of(bj::value v, bj::storage_ptr const& sp) {
    bj::array a(sp);
    a.push_back(std::move(v));
    return a;
}

// subject, encounter, authoredOn and requester: the same for every resource of a request, so
// built once per request and copied.
void add_context_references(bj::object& r, rule_context const& rc) {
    auto& refs = rc.cache.context_references;
    if (!refs) refs = build_context_references(rc);
    for (auto const& member : *refs) r.emplace(member.key(), member.value());
}

struct oral_schedule {
    double dose_mg;
    int times_per_day;
    std::string when;  // Timing event code, e.g. HS
};

bj::object make_medication_request(rule_context const& rc,
                                   concept_config const& medication,
                                   std::string const& med_text,
                                   bj::object dosage,
                                   bool repletion_reason) {
    auto const& sp = rc.json_storage;
    bj::object r(10, sp);
    r["resourceType"] = "MedicationRequest";
    r["status"] = "draft";
    r["intent"] = "order";
    r["medicationCodeableConcept"] = concept_json(medication, sp, med_text);
    add_context_references(r, rc);
    if (repletion_reason) r["reasonCode"] = array_of(concept_json(rc.d.repletion_reason, sp), sp);
    r["dosageInstruction"] = array_of(std::move(dosage), sp);
    return r;
}

bj::object oral_dosage(std::string text,
                       coding_config const& route,
                       oral_schedule const& s,
                       bj::storage_ptr const& sp) {
    bj::object repeat(4, sp);
    repeat["frequency"] = s.times_per_day;
    repeat["period"] = 1;
    repeat["periodUnit"] = "d";
    if (!s.when.empty()) repeat["when"] = array_of(bj::value(s.when, sp), sp);
    bj::object ds(4, sp);
    ds["text"] = std::move(text);
    bj::object timing(1, sp);
    timing.emplace("repeat", std::move(repeat));
    ds["timing"] = std::move(timing);
    ds["route"] = route_json(route, sp);
    bj::object dose(1, sp);
    dose.emplace("doseQuantity", quantity_json(s.dose_mg, "mg", sp));
    ds["doseAndRate"] = array_of(std::move(dose), sp);
    return ds;
}

std::string renal_suffix(rule_context const& rc) {
    switch (rc.f.renal.band) {
        case renal_band::impaired:
            return " (renal function impaired)";
        case renal_band::severely_impaired:
            return " (halved: renal function severely impaired)";
        case renal_band::contraindicated:
            return " (halved: renal function < 20 mL/min)";
        default:
            return "";
    }
}

}  // namespace

bj::object make_create_action(std::string description, bj::object resource) {
    bj::object a(3, resource.storage());
    a["type"] = "create";
    a["description"] = std::move(description);
    a["resource"] = std::move(resource);
    return a;
}

bj::object make_delete_action(std::string description,
                              std::string const& resource_id,
                              bj::storage_ptr const& sp) {
    bj::object a(3, sp);
    a["type"] = "delete";
    a["description"] = std::move(description);
    a["resourceId"] = resource_id;
    return a;
}

bj::object make_service_request(rule_context const& rc,
                                concept_config const& code,
                                double hours_from_now,
                                std::string const& reason) {
    auto const& sp = rc.json_storage;
    bj::object r(10, sp);
    r["resourceType"] = "ServiceRequest";
    r["status"] = "draft";
    r["intent"] = "order";
    r["code"] = concept_json(code, sp);
    add_context_references(r, rc);
    auto const at = rc.f.now + std::chrono::duration_cast<std::chrono::milliseconds>(
                                   std::chrono::duration<double, std::ratio<3600>>(hours_from_now));
    r["occurrenceDateTime"] = fhir::format_instant(at);
    if (!reason.empty()) {
        bj::object reason_concept(1, sp);
        reason_concept.emplace("text", reason);
        r["reasonCode"] = array_of(std::move(reason_concept), sp);
    }
    return r;
}

namespace {

bj::object creatinine_action(rule_context const& rc) {
    return make_create_action(
        "Order a serum creatinine now: renal function is unknown",
        make_service_request(rc, rc.d.creatinine_level_code, 0,
                             "Renal function unknown before magnesium dosing"));
}

bj::object recheck_action(rule_context const& rc, double hours, std::string const& when_text) {
    return make_create_action("Recheck serum magnesium " + when_text,
                              make_service_request(rc, rc.d.magnesium_level_code, hours,
                                                   "Recheck after magnesium repletion"));
}

std::string recheck_when(double hours) {
    if (hours < 48 && std::fmod(hours, 24) != 0) return "in " + format_number(hours) + " hours";
    double const days = hours / 24;
    return "in " + format_number(days) + (days == 1 ? " day" : " days");
}

}  // namespace

suggestion_draft level_suggestion(rule_context const& rc, std::string const& label) {
    suggestion_draft s;
    s.label = label;
    s.recommended = true;
    s.actions.push_back(make_create_action(
        "Order a serum magnesium level now",
        make_service_request(rc, rc.d.magnesium_level_code, 0, "Magnesium monitoring")));
    if (rc.f.renal.band == renal_band::unknown) s.actions.push_back(creatinine_action(rc));
    return s;
}

suggestion_draft famotidine_switch(rule_context const& rc, medication_exposure const& ppi) {
    auto const& d = rc.d;
    auto const band = rc.f.renal.band;
    band_dose const bd = d.famotidine_by_band[static_cast<std::size_t>(band)];
    std::string const freq = bd.times_per_day == 1 ? "once daily"
                             : bd.times_per_day == 2
                                 ? "twice daily"
                                 : std::to_string(bd.times_per_day) + " times daily";
    std::string const dose_text =
        "Famotidine " + format_number(bd.dose_mg) + " mg by mouth " + freq;
    std::string band_note;
    if (band == renal_band::impaired)
        band_note = " (renal function 30–59 mL/min)";
    else if (band == renal_band::severely_impaired || band == renal_band::contraindicated)
        band_note = " (renal function < 30 mL/min)";
    else if (band == renal_band::unknown)
        band_note = " (" + d.text("famotidine_renal_unknown") + ")";
    oral_schedule const sched{bd.dose_mg, bd.times_per_day, ""};
    auto dosage = oral_dosage(dose_text + band_note + ". " + d.text("famotidine_note"),
                              d.famotidine_route, sched, rc.json_storage);
    auto med = make_medication_request(rc, d.famotidine_medication,
                                       "Famotidine " + format_number(bd.dose_mg) + " mg tablet",
                                       std::move(dosage), false);
    suggestion_draft s;
    s.label = d.text("ppi_alternative");
    s.recommended = false;
    s.actions.push_back(
        make_delete_action("Remove the draft order " + ppi.name, ppi.reference, rc.json_storage));
    s.actions.push_back(make_create_action(dose_text + band_note, std::move(med)));
    // The renal-unknown dose holds until renal function is known (CLINICAL-BASIS.md §7).
    if (band == renal_band::unknown) {
        s.label += " + " + d.text("with_creatinine");
        s.actions.push_back(creatinine_action(rc));
    }
    return s;
}

namespace {

// Magnesium already ordered (active in the record, or drafted in this hook).
struct active_magnesium {
    medication_exposure const* parenteral = nullptr;
    medication_exposure const* oral = nullptr;
};

active_magnesium find_active_magnesium(patient_findings const& f) {
    active_magnesium a;
    for (auto const& e : f.exposures) {
        if (e.magnesium == mg_product::parenteral && !a.parenteral) a.parenteral = &e;
        if (e.magnesium == mg_product::oral_repletion && !a.oral) a.oral = &e;
    }
    return a;
}

suggestion_draft recheck_suggestion(rule_context const& rc, double hours) {
    suggestion_draft s;
    s.label = "Recheck serum magnesium " + recheck_when(hours);
    s.recommended = true;
    s.actions.push_back(recheck_action(rc, hours, recheck_when(hours)));
    return s;
}

// The creatinine order goes with every suggestion while renal function is unknown.
void add_creatinine_if_renal_unknown(rule_context const& rc, suggestion_draft& s) {
    if (rc.f.renal.band == renal_band::unknown) s.actions.push_back(creatinine_action(rc));
}

double oral_recheck_hours(rule_context const& rc) {
    return rc.d.oral_recheck_days[static_cast<std::size_t>(rc.f.renal.band)] * 24;
}

// Under the adult age or age unknown: no dose. Treated already by the route the severity
// calls for (§3.3): the info card about the recheck, no dose either way (CLINICAL-BASIS.md
// §7 Age and treatment together).
void plan_without_dose(rule_context const& rc, active_magnesium const& active, repletion_plan& p) {
    auto const& f = rc.f;
    auto const& d = rc.d;
    medication_exposure const* treating = p.severe_path       ? active.parenteral
                                          : active.parenteral ? active.parenteral
                                                              : active.oral;
    p.action = treating
                   ? d.text(treating->magnesium == mg_product::parenteral ? "actions.on_iv"
                                                                          : "actions.on_repletion")
                   : d.text("actions.no_dose");
    if (treating) {
        p.downgrade_to_info = true;
        double const hours = treating->magnesium == mg_product::parenteral ? d.iv_recheck_hours
                                                                           : oral_recheck_hours(rc);
        p.notes.push_back(fill(d.text("treated_already"),
                               {{"drug", treating->name}, {"when", recheck_when(hours)}}));
        p.suggestions.push_back(recheck_suggestion(rc, hours));
    }
    p.notes.push_back(fill(d.text("pediatric"), {{"age", std::to_string(d.adult_age_years)}}));
    std::string why = f.age_years ? "under the adult age: no dose" : "age unknown: no dose";
    if (treating) why += "; treated already";
    p.trace.push_back({"repletion", "patient", std::move(why)});
}

// The IV magnesium sulfate order, with its structured dose, rate and infusion time.
bj::object iv_medication_request(rule_context const& rc,
                                 double dose_g,
                                 double rate,
                                 std::string const& dose_text) {
    auto const& d = rc.d;
    auto const& sp = rc.json_storage;
    bj::object ds(4, sp);
    ds["text"] = dose_text + renal_suffix(rc);
    bj::object repeat(3, sp);
    repeat["count"] = 1;
    repeat["duration"] = number(d.iv_infusion_minutes);
    repeat["durationUnit"] = "min";
    bj::object timing(1, sp);
    timing.emplace("repeat", std::move(repeat));
    ds["timing"] = std::move(timing);
    ds["route"] = route_json(d.iv_route, sp);
    bj::object dose_and_rate(2, sp);
    dose_and_rate.emplace("doseQuantity", quantity_json(dose_g, "g", sp));
    dose_and_rate.emplace("rateQuantity", quantity_json(rate, "mg/min", sp));
    ds["doseAndRate"] = array_of(std::move(dose_and_rate), sp);
    return make_medication_request(rc, d.iv_medication,
                                   "Magnesium sulfate " + format_number(dose_g) + " g IV",
                                   std::move(ds), true);
}

// IV magnesium sulfate, halved when renal function is severely impaired or worse.
suggestion_draft iv_dose_suggestion(rule_context const& rc, bool reduced) {
    auto const& d = rc.d;
    double const dose_g = reduced ? d.iv_reduced_dose_g : d.iv_dose_g;
    double const rate = dose_g * 1000 / d.iv_infusion_minutes;
    std::string const dose_text = "Magnesium sulfate " + format_number(dose_g) + " g IV over " +
                                  format_number(d.iv_infusion_minutes) + " minutes (" +
                                  format_number(rate) + " mg/min; never faster than " +
                                  format_number(d.iv_rate_max_mg_per_min) + " mg/min)";
    auto med = iv_medication_request(rc, dose_g, rate, dose_text);
    suggestion_draft s;
    s.label = "Magnesium sulfate " + format_number(dose_g) + " g IV over " +
              format_number(d.iv_infusion_minutes) + " min, recheck Mg " +
              recheck_when(d.iv_recheck_hours);
    s.recommended = true;
    s.actions.push_back(make_create_action(dose_text, std::move(med)));
    s.actions.push_back(recheck_action(rc, d.iv_recheck_hours,
                                       recheck_when(d.iv_recheck_hours) + " (after the dose)"));
    add_creatinine_if_renal_unknown(rc, s);
    return s;
}

// Severe or symptomatic: IV (CLINICAL-BASIS.md §3).
void plan_severe(rule_context const& rc, active_magnesium const& active, repletion_plan& p) {
    auto const& d = rc.d;
    auto const band = rc.f.renal.band;
    if (active.parenteral) {
        p.action = d.text("actions.on_iv");
        p.notes.push_back("Parenteral magnesium is already ordered (" + active.parenteral->name +
                          "): no second IV order is suggested; recheck the level.");
        suggestion_draft s = recheck_suggestion(rc, d.iv_recheck_hours);
        add_creatinine_if_renal_unknown(rc, s);
        p.suggestions.push_back(std::move(s));
        return;
    }
    bool const reduced =
        band == renal_band::severely_impaired || band == renal_band::contraindicated;
    p.suggestions.push_back(iv_dose_suggestion(rc, reduced));
    p.action = reduced ? d.text("actions.iv_reduced") : d.text("actions.iv");
    if (active.oral) {
        p.notes.push_back("Already on oral magnesium (" + active.oral->name +
                          "), now severe or symptomatic: IV magnesium is suggested.");
    }
    if (band == renal_band::contraindicated) {
        p.critical = true;
        p.notes.push_back(d.text("nephrology_advice"));
    } else if (band == renal_band::severely_impaired) {
        p.notes.push_back("Renal function severely impaired: the IV dose is halved.");
    }
}

suggestion_draft oxide_suggestion(rule_context const& rc, bool reduced, double recheck_hours) {
    auto const& d = rc.d;
    double const mg = reduced ? d.oral_reduced_dose_mg : d.oral_dose_mg;
    std::string const note = reduced ? d.oral_reduced_dose_note : d.oral_dose_note;
    std::string const dose_text = "Magnesium oxide " + format_number(mg) + " mg (" + note +
                                  ") by mouth " + d.oral_timing_text;
    auto med = make_medication_request(rc, d.oral_medication, d.oral_medication.text,
                                       oral_dosage(dose_text + renal_suffix(rc), d.oral_route,
                                                   {mg, 1, d.oral_timing_when}, rc.json_storage),
                                       true);
    suggestion_draft s;
    s.label = "Magnesium oxide " + format_number(mg) + " mg by mouth " + d.oral_timing_text +
              ", recheck Mg " + recheck_when(recheck_hours);
    s.recommended = true;
    s.actions.push_back(make_create_action(dose_text, std::move(med)));
    s.actions.push_back(recheck_action(rc, recheck_hours, recheck_when(recheck_hours)));
    add_creatinine_if_renal_unknown(rc, s);
    return s;
}

suggestion_draft alternative_salt_suggestion(rule_context const& rc,
                                             bool reduced,
                                             double recheck_hours) {
    auto const& d = rc.d;
    double const mg = reduced ? d.alt_reduced_dose_mg : d.alt_dose_mg;
    std::string const dose_text = "Magnesium citrate or glycinate, " + format_number(mg) + " mg (" +
                                  d.alt_dose_note + ") by mouth " + d.alt_timing_text +
                                  ": better absorbed, less diarrhoea";
    auto med = make_medication_request(rc, d.alt_medication, d.alt_medication.text,
                                       oral_dosage(dose_text + renal_suffix(rc), d.alt_route,
                                                   {mg, 1, d.alt_timing_when}, rc.json_storage),
                                       true);
    suggestion_draft s;
    s.label = "Alternative: magnesium citrate or glycinate " + format_number(mg) + " mg " +
              d.alt_timing_text + " (better absorbed, less diarrhoea), recheck Mg " +
              recheck_when(recheck_hours);
    s.recommended = false;
    s.actions.push_back(make_create_action(dose_text, std::move(med)));
    s.actions.push_back(recheck_action(rc, recheck_hours, recheck_when(recheck_hours)));
    add_creatinine_if_renal_unknown(rc, s);
    return s;
}

// Mild–moderate and asymptomatic: oral (CLINICAL-BASIS.md §3).
void plan_oral(rule_context const& rc, active_magnesium const& active, repletion_plan& p) {
    auto const& d = rc.d;
    auto const band = rc.f.renal.band;
    double const recheck_hours = oral_recheck_hours(rc);
    if (band == renal_band::contraindicated) {
        p.action = d.text("actions.nephrology");
        p.notes.push_back(
            fill(d.text("contraindicated_mild"), {{"days", format_number(recheck_hours / 24)}}));
        p.suggestions.push_back(recheck_suggestion(rc, recheck_hours));
        return;
    }
    if (active.oral) {
        p.downgrade_to_info = true;
        p.action = d.text("actions.on_repletion");
        p.notes.push_back("Already on oral magnesium (" + active.oral->name +
                          "): no second oral order is suggested; recheck the level " +
                          recheck_when(recheck_hours) + ".");
        suggestion_draft s = recheck_suggestion(rc, recheck_hours);
        add_creatinine_if_renal_unknown(rc, s);
        p.suggestions.push_back(std::move(s));
        return;
    }
    bool const reduced = band == renal_band::severely_impaired;
    p.suggestions.push_back(oxide_suggestion(rc, reduced, recheck_hours));
    p.suggestions.push_back(alternative_salt_suggestion(rc, reduced, recheck_hours));
    p.action = reduced ? d.text("actions.oral_reduced") : d.text("actions.oral");
    if (band == renal_band::impaired)
        p.notes.push_back("Renal function impaired: standard dose; recheck magnesium " +
                          recheck_when(recheck_hours) + ".");
    if (reduced)
        p.notes.push_back(
            "Renal function severely impaired: the oral dose is halved; recheck magnesium " +
            recheck_when(recheck_hours) + ".");
}

}  // namespace

repletion_plan plan_repletion(rule_context const& rc) {
    auto const& f = rc.f;
    auto const& d = rc.d;
    repletion_plan p;
    if (!f.magnesium.current_low()) return p;
    p.applies = true;
    p.severe_path = f.magnesium.level == mg_level::severe || f.symptomatic;
    active_magnesium const active = find_active_magnesium(f);
    bool const adult = f.age_years && *f.age_years >= d.adult_age_years;
    if (!adult)
        plan_without_dose(rc, active, p);
    else if (p.severe_path)
        plan_severe(rc, active, p);
    else
        plan_oral(rc, active, p);
    return p;
}

repletion_plan const& rule_context::repletion() const {
    if (!cache.repletion) cache.repletion = plan_repletion(*this);
    for (auto const& t : cache.repletion->trace) trace.push_back(t);
    return *cache.repletion;
}

std::vector<suggestion_draft> rule_context::take_repletion_suggestions() const {
    (void)repletion();  // plans if no rule did, and notes as a fresh plan would
    return std::move(cache.repletion->suggestions);
}

void prebuild_card_json(rule_set_data& d) {
    for (auto* c :
         {&d.iv_medication, &d.oral_medication, &d.alt_medication, &d.famotidine_medication,
          &d.magnesium_level_code, &d.creatinine_level_code, &d.repletion_reason}) {
        prebuild_concept_json(*c);
    }
    for (auto* c : {&d.iv_route, &d.oral_route, &d.alt_route, &d.famotidine_route})
        c->json = build_coding_json(*c);

    // overrideReasons carry the display even when empty (they are shown to the user).
    d.override_reasons_json.clear();
    for (auto& r : d.override_reasons) {
        d.override_reasons_json.push_back(
            bj::object{{"system", r.system}, {"code", r.code}, {"display", r.display}});
    }

    for (auto& [rule_id, t] : d.rule_texts) {
        bj::object topic;
        topic["system"] = d.topic_system;
        topic["version"] = d.version;
        topic["code"] = rule_id;
        topic["display"] = t.title;
        bj::object source;
        source["label"] = d.source_label;
        // source.url, the rule's documentation page, is set by the service, which knows
        // where it is served (CLINICAL-BASIS.md §5 "source").
        source["topic"] = std::move(topic);
        t.card_source = std::move(source);
        t.card_extension = bj::object{
            {"magnesium-cds",
             bj::object{{"ruleSetId", d.id}, {"ruleSetVersion", d.version}, {"ruleId", rule_id}}}};
    }
}

}  // namespace cds::rules
