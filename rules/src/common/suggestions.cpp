// Suggested orders as complete FHIR R4 resources (CLINICAL-BASIS.md §3): status draft,
// intent order, subject the context patient, encounter and requester from the context; each
// medication order signable as written (§3.1): one product, structured dose, route, timing and
// duration (IV: volume, pump rate in mL/h, infusion time), a dosage text of dose, route, timing
// and duration only. Products, doses and wording come from the rule configuration.

#include <algorithm>
#include <cctype>
#include <chrono>
#include <cmath>
#include <cstdlib>

#include "cards.hpp"
#include "common/format.hpp"
#include "common/text.hpp"
#include "findings/parts.hpp"

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

// A UCUM Quantity: `unit` as shown, `code` the UCUM code ("days", "d").
bj::object quantity_json(double value,
                         std::string const& unit,
                         std::string const& code,
                         bj::storage_ptr const& sp) {
    bj::object q(4, sp);
    q.emplace("value", number(value));
    q.emplace("unit", unit);
    q.emplace("system", ucum);
    q.emplace("code", code);
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

// A suggestion is built from parts, one order each: the action's description is the part's
// phrase, and the label joins the phrases with " + ", so that a label names every order its
// suggestion creates, updates or removes (CLINICAL-BASIS.md §3.1).
void add_part(suggestion_draft& s, std::string const& phrase, bj::object action) {
    if (s.label.empty()) {
        s.label = phrase;
        if (!s.label.empty() && s.label.front() >= 'a' && s.label.front() <= 'z')
            s.label.front() = static_cast<char>(s.label.front() - 'a' + 'A');
    } else {
        s.label += " + " + phrase;
    }
    s.actions.push_back(std::move(action));
}

std::string lower_first(std::string s) {
    if (!s.empty() && s.front() >= 'A' && s.front() <= 'Z')
        s.front() = static_cast<char>(s.front() - 'A' + 'a');
    return s;
}

std::string frequency_text(rule_set_data const& d, int times_per_day) {
    if (times_per_day == 1) return d.text("orders.once_daily");
    if (times_per_day == 2) return d.text("orders.twice_daily");
    return fill(d.text("orders.times_daily"), {{"times", std::to_string(times_per_day)}});
}

// An oral order: one product, its dose, route, timing and how long it runs (§3.1).
struct oral_order {
    concept_config const* medication = nullptr;
    std::string product_text;
    coding_config const* route = nullptr;
    double dose_mg = 0;
    int times_per_day = 1;
    std::string when;  // Timing event code, e.g. HS
    double days = 0;
    bool days_as_supply = false;  // dispenseRequest.expectedSupplyDuration, not a bound
    std::string dosage_text;
    bool repletion_reason = false;
};

bj::object days_json(double days, bj::storage_ptr const& sp) {
    return quantity_json(days, "days", "d", sp);
}

bj::object make_medication_request(rule_context const& rc,
                                   concept_config const& medication,
                                   std::string const& product_text,
                                   bj::object dosage,
                                   bool repletion_reason) {
    auto const& sp = rc.json_storage;
    bj::object r(11, sp);
    r["resourceType"] = "MedicationRequest";
    r["status"] = "draft";
    r["intent"] = "order";
    r["medicationCodeableConcept"] = concept_json(medication, sp, product_text);
    add_context_references(r, rc);
    if (repletion_reason) r["reasonCode"] = array_of(concept_json(rc.d.repletion_reason, sp), sp);
    r["dosageInstruction"] = array_of(std::move(dosage), sp);
    return r;
}

bj::object oral_medication_request(rule_context const& rc, oral_order const& o) {
    auto const& sp = rc.json_storage;
    bj::object repeat(5, sp);
    repeat["frequency"] = o.times_per_day;
    repeat["period"] = 1;
    repeat["periodUnit"] = "d";
    if (!o.when.empty()) repeat["when"] = array_of(bj::value(o.when, sp), sp);
    if (!o.days_as_supply) repeat["boundsDuration"] = days_json(o.days, sp);
    bj::object timing(1, sp);
    timing.emplace("repeat", std::move(repeat));
    bj::object ds(4, sp);
    ds["text"] = o.dosage_text;
    ds["timing"] = std::move(timing);
    ds["route"] = route_json(*o.route, sp);
    bj::object dose(1, sp);
    dose.emplace("doseQuantity", quantity_json(o.dose_mg, "mg", "mg", sp));
    ds["doseAndRate"] = array_of(std::move(dose), sp);
    auto r = make_medication_request(rc, *o.medication, o.product_text, std::move(ds),
                                     o.repletion_reason);
    if (o.days_as_supply) {
        bj::object dispense(1, sp);
        dispense["expectedSupplyDuration"] = days_json(o.days, sp);
        r["dispenseRequest"] = std::move(dispense);
    }
    return r;
}

}  // namespace

bj::object make_create_action(std::string description, bj::object resource) {
    bj::object a(3, resource.storage());
    a["type"] = "create";
    a["description"] = std::move(description);
    a["resource"] = std::move(resource);
    return a;
}

// CDS Hooks 2.0 Action: for `update`, `resource` is the updated resource in its entirety.
namespace {

// FHIR R4 (JSON representation): an element has a value or children, never null, {}, [] or "".
// A client's draft may carry such members; the update must not send them back.
bool empty_json(bj::value const& v) {
    return v.is_null() || (v.is_object() && v.get_object().empty()) ||
           (v.is_array() && v.get_array().empty()) || (v.is_string() && v.get_string().empty());
}

void drop_empty_members(bj::value& v) {
    if (v.is_object()) {
        auto& o = v.get_object();
        for (auto& member : o) drop_empty_members(member.value());
        for (auto it = o.begin(); it != o.end();)
            it = empty_json(it->value()) ? o.erase(it) : it + 1;
    } else if (v.is_array()) {
        auto& a = v.get_array();
        for (auto& item : a) drop_empty_members(item);
        for (auto it = a.begin(); it != a.end();) it = empty_json(*it) ? a.erase(it) : it + 1;
    }
}

}  // namespace

bj::object make_update_action(std::string description, bj::object resource) {
    bj::value cleaned(std::move(resource));
    drop_empty_members(cleaned);
    resource = std::move(cleaned.get_object());
    // An updated draft order stays a draft order (CDS Hooks 2.0 draftOrders; MedicationRequest
    // status and intent are required), whatever the client's copy carried there.
    resource["status"] = "draft";
    if (auto const* intent = resource.if_contains("intent"); !intent || !intent->is_string())
        resource["intent"] = "order";
    bj::object a(3, resource.storage());
    a["type"] = "update";
    a["description"] = std::move(description);
    a["resource"] = std::move(resource);
    return a;
}

// CDS Hooks 2.0 Action: for `delete`, `resourceId` is a relative reference to the resource.
bj::object make_delete_action(std::string description,
                              std::string const& resource_id,
                              bj::storage_ptr const& sp) {
    bj::object a(3, sp);
    a["type"] = "delete";
    a["description"] = std::move(description);
    a["resourceId"] = resource_id;
    return a;
}

namespace {

bj::object service_request(rule_context const& rc,
                           concept_config const& code,
                           double hours_from_now,
                           std::string const& reason,
                           std::string const& note) {
    auto const& sp = rc.json_storage;
    bj::object r(11, sp);
    r["resourceType"] = "ServiceRequest";
    r["status"] = "draft";
    r["intent"] = "order";
    r["code"] = concept_json(code, sp);
    add_context_references(r, rc);
    auto const at =
        rc.f.now + std::chrono::milliseconds(std::llround(hours_from_now * 3'600'000.0));
    r["occurrenceDateTime"] = fhir::format_instant(at);
    if (!reason.empty()) {
        bj::object reason_concept(1, sp);
        reason_concept.emplace("text", reason);
        r["reasonCode"] = array_of(std::move(reason_concept), sp);
    }
    if (!note.empty()) {
        bj::object annotation(1, sp);
        annotation.emplace("text", note);
        r["note"] = array_of(std::move(annotation), sp);
    }
    return r;
}

}  // namespace

bj::object make_service_request(rule_context const& rc,
                                concept_config const& code,
                                double hours_from_now,
                                std::string const& reason) {
    return service_request(rc, code, hours_from_now, reason, {});
}

namespace {

// How far ahead a recheck is, in whole hours below two days and whole days from there on.
std::string recheck_when(double hours, rule_set_data const& d) {
    double const whole_hours = std::round(hours);
    if (whole_hours < 1) return d.text("ages.now");
    std::string const age = whole_hours < 48 && std::fmod(whole_hours, 24) != 0
                                ? duration_text(whole_hours, time_unit::hour, d)
                                : duration_text(std::round(hours / 24), time_unit::day, d);
    return fill(d.text("ages.in"), {{"age", age}});
}

// Rounded to the millisecond, so that whole hours stay whole in the resources written.
fhir::instant hours_after(fhir::instant t, double hours) {
    return t + std::chrono::milliseconds(std::llround(hours * 3'600'000.0));
}

// The explain entry for a level not suggested because it is ordered already (§3.3).
void note_level_ordered(rule_context const& rc, level_order const& o, std::string message) {
    if (!rc.trace) return;
    auto& e = rc.trace.entries().emplace_back("repletion", o.reference, std::move(message));
    e.resource_type = "ServiceRequest";
    e.resource_id = o.request->id;
}

// The start of the (UTC) day of `t`: an oral recheck is due on a day (its interval is in days,
// CLINICAL-BASIS.md §3.2), so a level ordered for that morning is the recheck.
fhir::instant day_of(fhir::instant t) { return date::floor<date::days>(t); }

// A serum Mg recheck due `hours` from the hook's time (`on_the_day`: on that day) that is
// ordered already, noted in the explain trace; nullptr when none is.
level_order const* mg_recheck_ordered(rule_context const& rc, double hours, bool on_the_day) {
    fhir::instant const due = hours_after(rc.f.now, hours);
    auto const* o =
        recheck_ordered(rc.f, level_kind::magnesium, on_the_day ? day_of(due) : due, rc.d);
    if (o) note_level_ordered(rc, *o, "magnesium recheck already ordered: none suggested");
    return o;
}

// The renal-unknown creatinine goes with every repletion suggestion, and its label says so
// (CLINICAL-BASIS.md §3.2), unless a creatinine is ordered already (§3.3).
void add_creatinine_if_renal_unknown(rule_context const& rc, suggestion_draft& s) {
    if (rc.f.renal.band != renal_band::unknown) return;
    if (auto const* o = level_ordered_now(rc.f, level_kind::creatinine, rc.d)) {
        note_level_ordered(rc, *o, "creatinine level already ordered: none suggested");
        return;
    }
    auto const& d = rc.d;
    std::string const phrase = d.text("orders.creatinine_label");
    add_part(s, phrase,
             make_create_action(phrase, make_service_request(rc, d.creatinine_level_code, 0,
                                                             d.text("orders.creatinine_reason"))));
}

// A serum Mg recheck in `hours` from the hook's time; `after_repletion` when a dose goes with it
// (a recheck where nothing is given is monitoring).
void add_recheck(rule_context const& rc, suggestion_draft& s, double hours, bool after_repletion) {
    auto const& d = rc.d;
    std::string const phrase =
        fill(d.text("orders.recheck_label"), {{"when", recheck_when(hours, d)}});
    std::string const& reason =
        d.text(after_repletion ? "orders.recheck_reason" : "orders.monitoring_reason");
    add_part(s, phrase,
             make_create_action(phrase,
                                make_service_request(rc, d.magnesium_level_code, hours, reason)));
}

// After an infusion the level is drawn a fixed time after it ends (CLINICAL-BASIS.md §3.2):
// `hours` from the hook's time (for a dose given now: infusion minutes + recheck hours).
void add_recheck_after_infusion(rule_context const& rc, suggestion_draft& s, double hours) {
    auto const& d = rc.d;
    template_values const after{{"hours", format_number(d.iv_recheck_hours)}};
    std::string const phrase = fill(d.text("orders.recheck_after_infusion_label"), after);
    add_part(s, phrase,
             make_create_action(
                 phrase,
                 service_request(rc, d.magnesium_level_code, hours, d.text("orders.recheck_reason"),
                                 fill(d.text("orders.recheck_after_infusion_note"), after))));
}

}  // namespace

suggestion_draft level_suggestion(rule_context const& rc, std::string const& label) {
    suggestion_draft s;
    s.recommended = true;
    std::string const phrase = label.empty() ? rc.d.text("orders.level_label") : label;
    add_part(
        s, phrase,
        make_create_action(phrase, make_service_request(rc, rc.d.magnesium_level_code, 0,
                                                        rc.d.text("orders.monitoring_reason"))));
    add_creatinine_if_renal_unknown(rc, s);
    return s;
}

suggestion_draft recheck_after_infusion_suggestion(rule_context const& rc) {
    suggestion_draft s;
    s.recommended = true;
    add_recheck_after_infusion(rc, s, rc.d.iv_infusion_minutes / 60 + rc.d.iv_recheck_hours);
    return s;
}

suggestion_draft digoxin_level_suggestion(rule_context const& rc) {
    auto const& d = rc.d;
    suggestion_draft s;
    s.recommended = true;
    std::string const phrase = d.text("orders.digoxin_level_label");
    add_part(
        s, phrase,
        make_create_action(phrase, make_service_request(rc, d.digoxin_level_code, 0,
                                                        d.text("orders.digoxin_level_reason"))));
    return s;
}

namespace {

// Famotidine in place of the PPI, dosed by renal band (CLINICAL-BASIS.md §3.4); renal function
// unknown takes the 30–59 mL/min dose until it is known (§7).
void add_famotidine_switch(rule_context const& rc,
                           medication_exposure const& ppi,
                           suggestion_draft& s) {
    auto const& d = rc.d;
    auto const band = rc.f.renal.band;
    band_dose const bd = d.famotidine_by_band[static_cast<std::size_t>(band)];
    std::string const frequency = frequency_text(d, bd.times_per_day);
    std::string const dose = format_number(bd.dose_mg);
    std::string const ppi_name = lower_first(drug_summary_name(rc, {&ppi}));
    oral_order o;
    o.medication = &d.famotidine_medication;
    o.product_text = fill(d.famotidine_product_text, {{"dose", dose}});
    o.route = &d.famotidine_route;
    o.dose_mg = bd.dose_mg;
    o.times_per_day = bd.times_per_day;
    o.days = d.famotidine_supply_days;
    o.days_as_supply = true;
    o.dosage_text = fill(d.text("orders.famotidine_dosage"),
                         {{"dose", dose},
                          {"frequency", frequency},
                          {"days", format_number(d.famotidine_supply_days)}});
    std::string const phrase = fill(d.text("orders.switch_label"),
                                    {{"ppi", ppi_name}, {"dose", dose}, {"frequency", frequency}});
    std::string description = o.product_text + ": " + o.dosage_text;
    if (band == renal_band::unknown) description += " (" + d.text("famotidine_renal_unknown") + ")";
    // Both actions are one part of the label: "switch omeprazole to famotidine ...".
    add_part(s, phrase,
             make_delete_action(fill(d.text("orders.remove_ppi"), {{"ppi", ppi_name}}),
                                ppi.reference, rc.json_storage));
    s.actions.push_back(make_create_action(std::move(description), oral_medication_request(rc, o)));
}

}  // namespace

suggestion_draft famotidine_switch(rule_context const& rc, medication_exposure const& ppi) {
    suggestion_draft s;
    s.recommended = false;
    // The same repletion as the recommended suggestion: choosing the switch never means
    // choosing no magnesium (CLINICAL-BASIS.md §3.4).
    auto const& plan = rc.repletion();
    bool creatinine_ordered = false;
    if (!plan.suggestions.empty()) {
        auto const& repletion = plan.suggestions.front();
        s.label = repletion.label;
        for (auto const& a : repletion.actions) s.actions.emplace_back(a, rc.json_storage);
        creatinine_ordered = rc.f.renal.band == renal_band::unknown;
    }
    add_famotidine_switch(rc, ppi, s);
    if (!creatinine_ordered) add_creatinine_if_renal_unknown(rc, s);
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

suggestion_draft recheck_suggestion(rule_context const& rc, double hours, bool after_repletion) {
    suggestion_draft s;
    s.recommended = true;
    add_recheck(rc, s, hours, after_repletion);
    return s;
}

double oral_recheck_hours(rule_context const& rc) {
    return rc.d.oral_recheck_days[static_cast<std::size_t>(rc.f.renal.band)] * 24;
}

// When the treating dose starts, which the recheck is timed from (CLINICAL-BASIS.md §3.2): the
// start of its bounds when given; else a draft of this hook now, an order in the record when
// it was authored; now when nothing tells.
fhir::instant dose_start(rule_context const& rc, medication_exposure const& e) {
    for (auto const& ds : e.order->dosages) {
        if (ds.repeat && ds.repeat->bounds_period && ds.repeat->bounds_period->start)
            return ds.repeat->bounds_period->start->start;
    }
    if (!e.from_context && e.order->authored_on) return e.order->authored_on->start;
    return rc.f.now;
}

// How long an IV dose runs: its infusion time, else its dose at its mass rate, else the
// configured infusion time.
double infusion_minutes(medication_exposure const& e, rule_set_data const& d) {
    if (!e.order->dosages.empty()) {
        auto const& ds = e.order->dosages.front();
        if (ds.repeat && ds.repeat->duration) {
            auto const m = d.duration_min.convert(*ds.repeat->duration, ds.repeat->duration_unit);
            if (m && *m > 0) return *m;
        }
        auto const rate = iv_rate_mg_per_min(*e.order, d);
        if (rate && *rate > 0 && ds.dose && ds.dose->value) {
            double const dose_mg =
                d.dose_mg.convert(*ds.dose->value, ds.dose->unit_key()).value_or(0);
            if (dose_mg > 0) return dose_mg / *rate;
        }
    }
    return d.iv_infusion_minutes;
}

// When the recheck of a treating order is due: 6 h after its infusion ends, or the oral
// interval after its start (§3.2); `infusing` while the infusion has not ended.
struct recheck_due {
    fhir::instant at{};
    bool infusing = false;
};

recheck_due recheck_due_for(rule_context const& rc, medication_exposure const& treating) {
    auto const& d = rc.d;
    fhir::instant const start = dose_start(rc, treating);
    if (treating.magnesium != mg_product::parenteral) {
        fhir::instant due = hours_after(start, oral_recheck_hours(rc));
        // A level drawn once the recheck was due was that recheck: the course goes on, and the
        // next one is an interval after it.
        auto const& latest = rc.f.magnesium.latest;
        if (latest && latest->time >= due) due = hours_after(latest->time, oral_recheck_hours(rc));
        return {due, false};
    }
    fhir::instant const infusion_end = hours_after(start, infusion_minutes(treating, d) / 60);
    return {hours_after(infusion_end, d.iv_recheck_hours), infusion_end > rc.f.now};
}

// A magnesium level ordered before the recheck is due is not the recheck: it would not show
// the dose's effect. Said in the explain trace, since another is suggested beside it.
void note_early_levels(rule_context const& rc, fhir::instant due) {
    if (!rc.trace) return;
    for (auto const& o : rc.f.level_orders) {
        if (o.kind != level_kind::magnesium || o.time.end() > due) continue;
        note_level_ordered(rc, o,
                           "magnesium level ordered for " + format_card_date(o.time, rc.d) +
                               ", before the recheck is due (" +
                               format_card_date({due, fhir::date_precision::second, true}, rc.d) +
                               "): not the recheck");
    }
}

// Treated already (CLINICAL-BASIS.md §3.3): an active or drafted repletion of the route the
// severity calls for. The info card says so and when the recheck is due, timed from the dose,
// and suggests it only when no magnesium level is ordered for then.
void plan_treated(rule_context const& rc, medication_exposure const& treating, repletion_plan& p) {
    auto const& d = rc.d;
    bool const iv = treating.magnesium == mg_product::parenteral;
    recheck_due const due = recheck_due_for(rc, treating);
    double const hours = std::max(0.0, findings::hours_between(rc.f.now, due.at));
    template_values const after_infusion{{"hours", format_number(d.iv_recheck_hours)}};
    std::string const when =
        due.infusing ? fill(d.text("orders.recheck_after_infusion_note"), after_infusion)
                     : recheck_when(hours, d);
    p.downgrade_to_info = true;
    p.notes.push_back(fill(d.text("treated_already"), {{"drug", treating.name}, {"when", when}}));
    suggestion_draft s;
    s.recommended = true;
    fhir::instant const match_from = iv ? due.at : day_of(due.at);
    if (auto const* ordered = recheck_ordered(rc.f, level_kind::magnesium, match_from, d)) {
        // The summary says so; the order itself is named in the explain trace (the detail of a
        // card with several drugs has no words to spare, §5).
        p.action = d.text(iv ? "actions.on_iv_rechecked" : "actions.on_repletion_rechecked");
        if (rc.trace) {
            note_level_ordered(rc, *ordered,
                               "magnesium recheck already ordered for " +
                                   format_card_date(ordered->time, d) + ": none suggested");
        }
    } else {
        p.action = fill(d.text(iv ? "actions.on_iv" : "actions.on_repletion"), {{"when", when}});
        note_early_levels(rc, match_from);
        if (due.infusing)
            add_recheck_after_infusion(rc, s, hours);
        else
            add_recheck(rc, s, hours, true);
    }
    add_creatinine_if_renal_unknown(rc, s);
    if (!s.actions.empty()) p.suggestions.push_back(std::move(s));
}

// Which of the two it is (under the adult age, or age unknown), and, when nothing is given yet,
// what to do instead of an adult dose (CLINICAL-BASIS.md §3.4: the detail says what to review).
std::string age_note(rule_context const& rc, bool treated) {
    auto const& d = rc.d;
    auto const& age = rc.f.age_years;
    std::string note =
        age ? fill(d.text("pediatric"), {{"adult", std::to_string(d.adult_age_years)},
                                         {"age", *age < 1 ? d.text("pediatric_age.under_one")
                                                          : fill(d.text("pediatric_age.years"),
                                                                 {{"n", std::to_string(*age)}})}})
            : d.text("age_unknown");
    if (!treated) note += " " + d.text(age ? "pediatric_dosing" : "age_unknown_dosing");
    return note;
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
    if (treating)
        plan_treated(rc, *treating, p);
    else
        p.action = d.text("actions.no_dose");
    p.notes.push_back(age_note(rc, treating != nullptr));
    if (!rc.trace) return;
    std::string why = f.age_years ? "under the adult age: no dose" : "age unknown: no dose";
    if (treating) why += "; treated already";
    p.trace.push_back({"repletion", "patient", std::move(why)});
}

struct iv_dose {
    double dose_g, volume_ml, rate_ml_per_h;
};

iv_dose iv_dose_for(rule_set_data const& d, bool reduced) {
    if (reduced) return {d.iv_reduced_dose_g, d.iv_reduced_volume_ml, d.iv_reduced_rate_ml_per_h};
    return {d.iv_dose_g, d.iv_volume_ml, d.iv_rate_ml_per_h};
}

// The IV magnesium sulfate order as the premixed product runs it: dose, volume, pump rate in
// mL/h and infusion time, one dose (CLINICAL-BASIS.md §3.1, §3.2).
bj::object iv_medication_request(rule_context const& rc, iv_dose const& dose) {
    auto const& d = rc.d;
    auto const& sp = rc.json_storage;
    template_values const values{{"dose", format_number(dose.dose_g)},
                                 {"volume", format_number(dose.volume_ml)},
                                 {"minutes", format_number(d.iv_infusion_minutes)},
                                 {"rate", format_number(dose.rate_ml_per_h)},
                                 {"concentration", format_number(d.iv_concentration_mg_per_ml)}};
    bj::object ds(4, sp);
    ds["text"] = fill(d.text("orders.iv_dosage"), values);
    bj::object repeat(3, sp);
    repeat["count"] = 1;
    repeat["duration"] = number(d.iv_infusion_minutes);
    repeat["durationUnit"] = "min";
    bj::object timing(1, sp);
    timing.emplace("repeat", std::move(repeat));
    ds["timing"] = std::move(timing);
    ds["route"] = route_json(d.iv_route, sp);
    bj::object dose_and_rate(2, sp);
    dose_and_rate.emplace("doseQuantity", quantity_json(dose.dose_g, "g", "g", sp));
    dose_and_rate.emplace("rateQuantity", quantity_json(dose.rate_ml_per_h, "mL/h", "mL/h", sp));
    ds["doseAndRate"] = array_of(std::move(dose_and_rate), sp);
    auto r = make_medication_request(rc, d.iv_medication, fill(d.iv_product_text, values),
                                     std::move(ds), true);
    bj::object dispense(1, sp);
    dispense["quantity"] = quantity_json(dose.volume_ml, "mL", "mL", sp);
    r["dispenseRequest"] = std::move(dispense);
    return r;
}

// IV magnesium sulfate, halved when renal function is severely impaired or worse.
suggestion_draft iv_dose_suggestion(rule_context const& rc, bool reduced) {
    auto const& d = rc.d;
    iv_dose const dose = iv_dose_for(d, reduced);
    std::string const phrase =
        fill(d.text("orders.iv_label"), {{"dose", format_number(dose.dose_g)},
                                         {"volume", format_number(dose.volume_ml)},
                                         {"minutes", format_number(d.iv_infusion_minutes)},
                                         {"rate", format_number(dose.rate_ml_per_h)}});
    suggestion_draft s;
    s.recommended = true;
    add_part(s, phrase, make_create_action(phrase, iv_medication_request(rc, dose)));
    double const recheck_hours = d.iv_infusion_minutes / 60 + d.iv_recheck_hours;
    if (!mg_recheck_ordered(rc, recheck_hours, false))
        add_recheck_after_infusion(rc, s, recheck_hours);
    add_creatinine_if_renal_unknown(rc, s);
    return s;
}

// Severe or symptomatic: IV (CLINICAL-BASIS.md §3).
void plan_severe(rule_context const& rc, active_magnesium const& active, repletion_plan& p) {
    auto const& d = rc.d;
    auto const band = rc.f.renal.band;
    if (active.parenteral) {
        plan_treated(rc, *active.parenteral, p);
        return;
    }
    bool const reduced =
        band == renal_band::severely_impaired || band == renal_band::contraindicated;
    p.suggestions.push_back(iv_dose_suggestion(rc, reduced));
    p.action = fill(d.text(reduced ? "actions.iv_reduced" : "actions.iv"),
                    {{"dose", format_number(reduced ? d.iv_reduced_dose_g : d.iv_dose_g)}});
    if (active.oral)
        p.notes.push_back(fill(d.text("oral_not_enough"), {{"drug", active.oral->name}}));
    if (band == renal_band::contraindicated) {
        p.critical = true;
        p.notes.push_back(d.text("nephrology_advice"));
    } else if (band == renal_band::severely_impaired) {
        p.notes.push_back(d.text("halved_iv"));
    }
}

// Magnesium oxide (recommended) or the glycinate alternative until the recheck: the order runs
// as long as the recheck interval (CLINICAL-BASIS.md §3.2).
suggestion_draft oral_suggestion(rule_context const& rc,
                                 bool alternative,
                                 bool reduced,
                                 double recheck_hours,
                                 bool recheck_ordered) {
    auto const& d = rc.d;
    double const days = recheck_hours / 24;
    oral_order o;
    o.medication = alternative ? &d.alt_medication : &d.oral_medication;
    o.product_text = o.medication->text;
    o.route = alternative ? &d.alt_route : &d.oral_route;
    o.dose_mg = alternative ? (reduced ? d.alt_reduced_dose_mg : d.alt_dose_mg)
                            : (reduced ? d.oral_reduced_dose_mg : d.oral_dose_mg);
    o.when = alternative ? d.alt_timing_when : d.oral_timing_when;
    o.days = days;
    o.repletion_reason = true;
    std::string const& timing = alternative ? d.alt_timing_text : d.oral_timing_text;
    std::string const& amount = alternative
                                    ? (reduced ? d.alt_reduced_dose_note : d.alt_dose_note)
                                    : (reduced ? d.oral_reduced_dose_note : d.oral_dose_note);
    template_values const values{{"dose", format_number(o.dose_mg)},
                                 {"amount", amount},
                                 {"timing", timing},
                                 {"days", format_number(days)}};
    o.dosage_text =
        fill(d.text(alternative ? "orders.alternative_dosage" : "orders.oral_dosage"), values);
    std::string const phrase =
        fill(d.text(alternative ? "orders.alternative_label" : "orders.oral_label"), values);
    suggestion_draft s;
    s.recommended = !alternative;
    add_part(s, phrase, make_create_action(phrase, oral_medication_request(rc, o)));
    if (!recheck_ordered) add_recheck(rc, s, recheck_hours, true);
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
        p.suggestions.push_back(recheck_suggestion(rc, recheck_hours, false));
        return;
    }
    // Oral or IV repletion treats a mild–moderate deficiency (§3.3).
    if (active.oral || active.parenteral) {
        plan_treated(rc, active.oral ? *active.oral : *active.parenteral, p);
        return;
    }
    bool const reduced = band == renal_band::severely_impaired;
    bool const recheck_ordered = mg_recheck_ordered(rc, recheck_hours, true) != nullptr;
    p.suggestions.push_back(oral_suggestion(rc, false, reduced, recheck_hours, recheck_ordered));
    p.suggestions.push_back(oral_suggestion(rc, true, reduced, recheck_hours, recheck_ordered));
    p.action = fill(d.text(reduced ? "actions.oral_reduced" : "actions.oral"),
                    {{"dose", format_number(reduced ? d.oral_reduced_dose_mg : d.oral_dose_mg)}});
    if (band == renal_band::impaired)
        p.notes.push_back(
            fill(d.text("renal_impaired_recheck"), {{"when", recheck_when(recheck_hours, d)}}));
    if (reduced)
        p.notes.push_back(fill(d.text("halved_oral"), {{"when", recheck_when(recheck_hours, d)}}));
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
    if (trace)
        for (auto const& t : cache.repletion->trace) trace.entries().push_back(t);
    return *cache.repletion;
}

std::vector<suggestion_draft> rule_context::take_repletion_suggestions() const {
    (void)repletion();  // plans if no rule did, and notes as a fresh plan would
    return std::move(cache.repletion->suggestions);
}

// ---- way-out suggestions on a draft order (CLINICAL-BASIS.md §3.4) ----

namespace {

// The draft as received, copied into the card's storage; nullopt when the order is not an R4
// draft of this hook (only drafts are updated or removed).
std::optional<bj::object> draft_copy(rule_context const& rc, medication_exposure const& e) {
    // An update carries an R4 resource; a DSTU2 MedicationOrder draft is removed, not rewritten.
    if (!e.from_context || !e.order->source_json || e.order->resource_type != "MedicationRequest")
        return std::nullopt;
    return bj::object(*e.order->source_json, rc.json_storage);
}

// dosageInstruction[0] (MedicationRequest, DSTU2 MedicationOrder).
bj::object* first_dosage(bj::object& r) {
    auto* v = r.if_contains("dosageInstruction");
    if (!v || !v->is_array() || v->as_array().empty() || !v->as_array().front().is_object())
        return nullptr;
    return &v->as_array().front().as_object();
}

bj::object& member_object(bj::object& o, std::string_view key) {
    auto& v = o[key];
    if (!v.is_object()) v = bj::object(o.storage());
    return v.as_object();
}

// How often the draft is given, in words: the configured bedtime wording for a once-daily dose
// at bedtime (Timing.repeat.when), else once/twice/n times daily; empty for other periods.
std::string frequency_of(medication_exposure const& e,
                         bj::object const& dosage,
                         rule_set_data const& d) {
    auto const& ds = e.order->dosages.front();
    if (!ds.repeat || !ds.repeat->frequency) return {};
    if (ds.repeat->period.value_or(1) != 1 ||
        (!ds.repeat->period_unit.empty() && ds.repeat->period_unit != "d"))
        return {};
    int const times = static_cast<int>(*ds.repeat->frequency);
    if (times == 1) {
        auto const* timing = dosage.if_contains("timing");
        auto const* repeat =
            timing && timing->is_object() ? timing->as_object().if_contains("repeat") : nullptr;
        auto const* when =
            repeat && repeat->is_object() ? repeat->as_object().if_contains("when") : nullptr;
        if (when && when->is_array()) {
            for (auto const& w : when->as_array())
                if (w.is_string() && w.as_string() == d.oral_timing_when) return d.oral_timing_text;
        }
    }
    return frequency_text(d, times);
}

// The dosage text of an updated draft. dosageInstruction.text prints on the administration
// record (CLINICAL-BASIS.md §3.1): the prescriber's own text is kept unless it states an amount
// or a time — a digit, or a word of the configured list — that the update may change; then the
// text written from the new structured dosage replaces it, so that the order never contradicts
// itself. A draft without a text gets the written one.
void set_dosage_text(bj::object& dosage, rule_set_data const& d, std::string written) {
    if (auto const* text = dosage.if_contains("text"); text && text->is_string()) {
        std::string_view const own(text->get_string());
        bool const states_amount =
            std::any_of(own.begin(), own.end(), [](char c) { return c >= '0' && c <= '9'; }) ||
            d.sets.dosage_text_amounts->matches_text(value_set::lower(own));
        if (!own.empty() && !states_amount) return;
    }
    dosage["text"] = std::move(written);
}

// A filled template without the gaps an empty placeholder leaves.
std::string collapse_spaces(std::string const& s) {
    std::string out;
    for (char const ch : s) {
        if (ch == ' ' && (out.empty() || out.back() == ' ')) continue;
        out += ch;
    }
    while (!out.empty() && out.back() == ' ') out.pop_back();
    return out;
}

// ---- what the draft states in its own words ----

// A number and the word after it in free text ("2 g", "400mg", "50 mL", "10 minutes").
struct stated_quantity {
    double value = 0;
    std::string unit;
};

bool is_digit(char c) { return c >= '0' && c <= '9'; }
bool is_unit_char(char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '/' || c == '_';
}

std::vector<stated_quantity> quantities_in(std::string_view text) {
    std::vector<stated_quantity> out;
    std::size_t i = 0;
    while (i < text.size()) {
        bool const starts_number =
            is_digit(text[i]) &&
            (i == 0 || !(is_digit(text[i - 1]) || is_unit_char(text[i - 1]) || text[i - 1] == '.'));
        if (!starts_number) {
            ++i;
            continue;
        }
        std::size_t j = i;
        while (j < text.size() && (is_digit(text[j]) || text[j] == '.')) ++j;
        std::size_t unit_begin = j;
        while (unit_begin < text.size() && text[unit_begin] == ' ') ++unit_begin;
        std::size_t unit_end = unit_begin;
        while (unit_end < text.size() && is_unit_char(text[unit_end])) ++unit_end;
        out.push_back({std::strtod(std::string(text.substr(i, j - i)).c_str(), nullptr),
                       std::string(text.substr(unit_begin, unit_end - unit_begin))});
        i = std::max(j, unit_end);
    }
    return out;
}

bool same_unit(std::string_view a, std::string_view b) {
    return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin(), [](char x, char y) {
               return std::tolower(static_cast<unsigned char>(x)) ==
                      std::tolower(static_cast<unsigned char>(y));
           });
}

// A member's string value, empty when absent.
std::string string_member(bj::object const& o, std::string_view key) {
    auto const* v = o.if_contains(key);
    return v && v->is_string() ? std::string(v->as_string()) : std::string();
}

// ---- the updated dose, written so the draft stays consistent (CLINICAL-BASIS.md §3.1) ----

// doseAndRate[0], created when the draft has none (R4).
bj::object& dose_and_rate(bj::object& dosage) {
    auto& v = dosage["doseAndRate"];
    if (!v.is_array()) v = bj::array(dosage.storage());
    auto& a = v.as_array();
    if (a.empty() || !a.front().is_object()) a.insert(a.begin(), bj::object(dosage.storage()));
    return a.front().as_object();
}

// A dose in grams when it is whole tenths of a gram (IV), else in milligrams.
bj::object dose_quantity(double dose_mg, bj::storage_ptr const& sp) {
    bool const grams = dose_mg >= 1000 && std::fmod(dose_mg, 100) == 0;
    return grams ? quantity_json(dose_mg / 1000, "g", "g", sp)
                 : quantity_json(dose_mg, "mg", "mg", sp);
}

// The product the draft names, replaced by a configured one (medication[x] is a choice).
void set_product(bj::object& r, bj::object product) {
    r.erase("medicationReference");
    r["medicationCodeableConcept"] = std::move(product);
}

// The volume of one dose in mL from the draft's own product and dispensing, and whether its
// product text agrees with the dose: a product text "<amount> in <volume> mL" (the amount being
// the dose) or "<n> mg/mL", else a dispensed quantity in mL, else a pump rate in mL/h over the
// draft's infusion time. A product text stating another amount than the dose does not agree.
struct draft_volume {
    std::optional<double> ml;
    bool product_agrees = true;
};

draft_volume volume_from_product(std::string const& text, double dose_mg, rule_set_data const& d) {
    draft_volume v;
    std::optional<double> amount_mg;
    for (auto const& q : quantities_in(text)) {
        if (auto mg = d.dose_mg.convert(q.value, q.unit); mg && !amount_mg) amount_mg = mg;
        if (same_unit(q.unit, "mg/mL") && q.value > 0) v.ml = dose_mg / q.value;
        if (same_unit(q.unit, "mL") && amount_mg && *amount_mg > 0)
            v.ml = q.value * dose_mg / *amount_mg;
    }
    v.product_agrees = !amount_mg || std::fabs(*amount_mg - dose_mg) < 1e-6;
    return v;
}

// A Quantity member's value when its unit (code, else unit) is `unit`.
std::optional<double> quantity_in(bj::object const* o,
                                  std::string_view key,
                                  std::string_view unit) {
    auto const* v = o ? o->if_contains(key) : nullptr;
    if (!v || !v->is_object()) return std::nullopt;
    auto const& q = v->as_object();
    std::string const code = string_member(q, "code");
    auto const* value = q.if_contains("value");
    if (!value || !value->is_number() ||
        !same_unit(code.empty() ? string_member(q, "unit") : code, unit))
        return std::nullopt;
    return value->to_number<double>();
}

bj::object const* object_member(bj::object const* o, std::string_view key) {
    auto const* v = o ? o->if_contains(key) : nullptr;
    return v && v->is_object() ? &v->as_object() : nullptr;
}

draft_volume volume_of_draft(bj::object const& r,
                             medication_exposure const& e,
                             double dose_mg,
                             rule_set_data const& d) {
    draft_volume v = volume_from_product(e.order->resolved_code.text, dose_mg, d);
    if (v.ml) return v;
    v.ml = quantity_in(object_member(&r, "dispenseRequest"), "quantity", "mL");
    auto const& ds = e.order->dosages.front();
    if (!v.ml && ds.rate && ds.rate->value && same_unit(ds.rate->unit_key(), "mL/h") && ds.repeat &&
        ds.repeat->duration) {
        if (auto minutes = d.duration_min.convert(*ds.repeat->duration, ds.repeat->duration_unit))
            v.ml = *ds.rate->value * *minutes / 60;
    }
    return v;
}

// The configured premixed product holding `dose_mg` (CLINICAL-BASIS.md §3.2); its volume.
double set_configured_iv_product(bj::object& r, rule_context const& rc, double dose_mg) {
    auto const& d = rc.d;
    double const volume = dose_mg / d.iv_concentration_mg_per_ml;
    set_product(
        r, concept_json(d.iv_medication, r.storage(),
                        fill(d.iv_product_text,
                             {{"dose", format_number(dose_mg / 1000)},
                              {"volume", format_number(volume)},
                              {"concentration", format_number(d.iv_concentration_mg_per_ml)}})));
    return volume;
}

// An IV dose as the pump runs it (CLINICAL-BASIS.md §3.1): the dose, the pump rate in mL/h, the
// infusion minutes and, for one dose, `count` 1 and the dispensed volume.
void write_iv_dose(bj::object& r,
                   bj::object& dosage,
                   double dose_mg,
                   double volume_ml,
                   double minutes,
                   bool single_dose) {
    auto const& sp = r.storage();
    auto& holder = dose_and_rate(dosage);
    for (auto const* key : {"doseRange", "rateRatio", "rateRange"}) holder.erase(key);
    holder["doseQuantity"] = dose_quantity(dose_mg, sp);
    holder["rateQuantity"] = quantity_json(volume_ml * 60 / minutes, "mL/h", "mL/h", sp);
    auto& timing = member_object(dosage, "timing");
    auto& repeat = member_object(timing, "repeat");
    repeat["duration"] = number(minutes);
    repeat["durationUnit"] = "min";
    if (!single_dose) return;
    timing.erase("code");
    for (auto const* key : {"frequency", "frequencyMax", "period", "periodMax", "periodUnit",
                            "dayOfWeek", "timeOfDay", "when", "offset"})
        repeat.erase(key);
    repeat["count"] = 1;
    auto& dispense = member_object(r, "dispenseRequest");
    dispense["quantity"] = quantity_json(volume_ml, "mL", "mL", sp);
}

// One dose unless the draft repeats (a frequency, or a count above one).
bool draft_single_dose(bj::object const& dosage) {
    auto const* repeat = object_member(object_member(&dosage, "timing"), "repeat");
    if (!repeat) return true;
    auto const* count = repeat->if_contains("count");
    return !repeat->contains("frequency") &&
           (!count || (count->is_number() && count->to_number<double>() == 1));
}

// The parts of `more` (a recheck) joined to `s`: one suggestion, one label naming both.
void append_suggestion(suggestion_draft& s, suggestion_draft more) {
    if (more.actions.empty()) return;
    s.label += " + " + more.label;
    for (auto& a : more.actions) s.actions.push_back(std::move(a));
}

}  // namespace

std::optional<suggestion_draft> remove_orders_suggestion(
    rule_context const& rc, std::vector<medication_exposure const*> const& orders) {
    std::string const& phrase = rc.d.text("orders.remove_label");
    suggestion_draft s;
    s.recommended = true;
    // The label names what it removes (CLINICAL-BASIS.md §3.1: a button does what it says).
    s.label = phrase + ": ";
    for (auto const* e : orders) {
        if (!e->from_context || e->order->id.empty()) continue;
        s.actions.push_back(
            make_delete_action(phrase + ": " + e->name, e->reference, rc.json_storage));
        s.label.append(s.actions.size() > 1 ? "; " : "").append(e->name);
    }
    if (s.actions.empty()) return std::nullopt;
    return s;
}

// The same dose over whole steps of minutes at or below the maximum rate (CLINICAL-BASIS.md
// §3.4), with the pump rate in mL/h from the draft's own volume; when the draft does not state
// it (or its product names another amount) the configured premixed product for the dose is
// ordered, so that the product, volume and rate agree.
std::optional<suggestion_draft> slower_rate_suggestion(rule_context const& rc,
                                                       medication_exposure const& e) {
    auto const& d = rc.d;
    auto r = draft_copy(rc, e);
    auto const dose_mg = first_dose_mg(e, d);
    bj::object* dosage = r ? first_dosage(*r) : nullptr;
    if (!dosage || !dose_mg || *dose_mg <= 0) return std::nullopt;
    double const step = d.iv_rate_step_minutes;
    double const minutes = std::ceil(*dose_mg / d.iv_rate_max_mg_per_min / step - 1e-9) * step;
    auto const own = volume_of_draft(*r, e, *dose_mg, d);
    double const volume =
        own.ml && own.product_agrees ? *own.ml : set_configured_iv_product(*r, rc, *dose_mg);
    bool const single = draft_single_dose(*dosage);
    write_iv_dose(*r, *dosage, *dose_mg, volume, minutes, single);
    template_values const values{
        {"dose", format_number(*dose_mg / 1000)},
        {"minutes", format_number(minutes)},
        {"rate", format_number(*dose_mg / minutes, 0)},
        {"volume", format_number(volume)},
        {"ml_rate", format_number(volume * 60 / minutes)},
        {"timing", single ? d.text("orders.single_dose") : frequency_of(e, *dosage, d)}};
    set_dosage_text(*dosage, d, collapse_spaces(fill(d.text("orders.rate_dosage"), values)));
    std::string const phrase = fill(d.text("orders.rate_label"), values);
    suggestion_draft s;
    s.recommended = true;
    add_part(s, phrase, make_update_action(phrase, std::move(*r)));
    return s;
}

// The IV draft lowered to `new_dose_mg` as §3.2 orders it: the configured premixed product of that
// dose (a premixed bag is given whole, so the product changes with the dose), its volume over the
// configured minutes at the matching mL/h, one dose, and the recheck after the infusion.
std::optional<suggestion_draft> dose_change_suggestion(rule_context const& rc,
                                                       medication_exposure const& e,
                                                       double new_dose_mg,
                                                       std::string_view label_key) {
    auto const& d = rc.d;
    auto r = draft_copy(rc, e);
    auto const dose_mg = first_dose_mg(e, d);
    bj::object* dosage = r ? first_dosage(*r) : nullptr;
    if (!dosage || !dose_mg || new_dose_mg >= *dose_mg) return std::nullopt;
    double const minutes = d.iv_infusion_minutes;
    double const volume = set_configured_iv_product(*r, rc, new_dose_mg);
    write_iv_dose(*r, *dosage, new_dose_mg, volume, minutes, true);
    template_values const values{{"dose", format_number(new_dose_mg / 1000)},
                                 {"volume", format_number(volume)},
                                 {"minutes", format_number(minutes)},
                                 {"rate", format_number(volume * 60 / minutes)}};
    set_dosage_text(*dosage, d, fill(d.text("orders.iv_dosage"), values));
    std::string const phrase = fill(d.text(label_key), values);
    suggestion_draft s;
    s.recommended = true;
    add_part(s, phrase, make_update_action(phrase, std::move(*r)));
    append_suggestion(s, recheck_after_infusion_suggestion(rc));
    return s;
}

// The oral draft as the halved order of §3.2: the configured product (magnesium oxide, else the
// elemental alternative), its halved dose in tablets a nurse can give, at the configured time,
// for as long as the recheck interval, and that recheck.
std::optional<suggestion_draft> halved_oral_suggestion(rule_context const& rc,
                                                       medication_exposure const& e,
                                                       bool oxide) {
    auto const& d = rc.d;
    auto r = draft_copy(rc, e);
    bj::object* dosage = r ? first_dosage(*r) : nullptr;
    if (!dosage) return std::nullopt;
    auto const& sp = r->storage();
    double const dose_mg = oxide ? d.oral_reduced_dose_mg : d.alt_reduced_dose_mg;
    double const hours = oral_recheck_hours(rc);
    set_product(*r, concept_json(oxide ? d.oral_medication : d.alt_medication, sp));
    auto& holder = dose_and_rate(*dosage);
    holder.erase("doseRange");
    holder["doseQuantity"] = quantity_json(dose_mg, "mg", "mg", sp);
    bj::object repeat(5, sp);
    repeat["frequency"] = 1;
    repeat["period"] = 1;
    repeat["periodUnit"] = "d";
    repeat["when"] = array_of(bj::value(oxide ? d.oral_timing_when : d.alt_timing_when, sp), sp);
    repeat["boundsDuration"] = days_json(hours / 24, sp);
    bj::object timing(1, sp);
    timing.emplace("repeat", std::move(repeat));
    (*dosage)["timing"] = std::move(timing);
    if (auto* dispense = r->if_contains("dispenseRequest"); dispense && dispense->is_object())
        dispense->as_object().erase("expectedSupplyDuration");
    template_values const values{
        {"dose", format_number(dose_mg)},
        {"amount", oxide ? d.oral_reduced_dose_note : d.alt_reduced_dose_note},
        {"timing", oxide ? d.oral_timing_text : d.alt_timing_text},
        {"days", format_number(hours / 24)}};
    set_dosage_text(
        *dosage, d,
        fill(d.text(oxide ? "orders.oral_dosage" : "orders.alternative_dosage"), values));
    std::string const phrase = fill(d.text("orders.halve_oral_label"), values);
    suggestion_draft s;
    s.recommended = true;
    add_part(s, phrase, make_update_action(phrase, std::move(*r)));
    append_suggestion(s, recheck_suggestion(rc, hours, true));
    return s;
}

namespace {

// The pump rate in mL/h of a dosage whose rate is in mass units, from the concentration the
// order's product names ("2 g in 50 mL"); nothing when either is not stated.
std::optional<double> pump_ml_per_h(medication_exposure const& e,
                                    fhir::dosage const& ds,
                                    rule_set_data const& d) {
    if (!ds.rate || !ds.rate->value) return std::nullopt;
    auto const mg_per_min = d.rate_mg_per_min.convert(*ds.rate->value, ds.rate->unit_key());
    auto const ml_per_g = volume_from_product(e.order->resolved_code.text, 1000, d).ml;
    if (!mg_per_min || !ml_per_g || *ml_per_g <= 0) return std::nullopt;
    return *mg_per_min * 60 / 1000 * *ml_per_g;
}

// The administration text of a bounded draft: its dose or rate (and the pump rate, for an
// infusion in mass units), route and the new duration.
void set_bounded_dosage_text(bj::object& dosage,
                             rule_context const& rc,
                             medication_exposure const& e,
                             std::string const& duration) {
    auto const& ds = e.order->dosages.front();
    auto const& amount = ds.dose ? ds.dose : ds.rate;
    std::string const dose = amount && amount->value ? format_number(*amount->value) + " " +
                                                           std::string(amount->unit_key())
                                                     : std::string();
    std::string const route = ds.route.text.empty() ? concept_name(ds.route, {}) : ds.route.text;
    auto const ml_rate = !ds.dose && ds.rate ? pump_ml_per_h(e, ds, rc.d) : std::nullopt;
    template_values const values{{"dose", dose},
                                 {"route", route},
                                 {"duration", duration},
                                 {"ml_rate", ml_rate ? format_number(*ml_rate) : std::string()}};
    set_dosage_text(
        dosage, rc.d,
        collapse_spaces(fill(
            rc.d.text(ml_rate ? "orders.bounds_dosage_pump" : "orders.bounds_dosage"), values)));
}

}  // namespace

std::optional<suggestion_draft> limit_duration_suggestion(rule_context const& rc,
                                                          medication_exposure const& e,
                                                          double days) {
    auto r = draft_copy(rc, e);
    bj::object* dosage = r ? first_dosage(*r) : nullptr;
    if (!dosage) return std::nullopt;
    auto const& sp = r->storage();
    auto& repeat = member_object(member_object(*dosage, "timing"), "repeat");
    repeat.erase("boundsPeriod");
    repeat.erase("boundsRange");
    repeat["boundsDuration"] = days_json(days, sp);
    if (auto* dispense = r->if_contains("dispenseRequest"); dispense && dispense->is_object()) {
        dispense->as_object().erase("expectedSupplyDuration");
        if (dispense->as_object().empty()) r->erase("dispenseRequest");
    }
    std::string const duration = duration_text(days, time_unit::day, rc.d);
    if (!e.order->dosages.empty()) set_bounded_dosage_text(*dosage, rc, e, duration);
    std::string const phrase = fill(rc.d.text("orders.bounds_label"), {{"duration", duration}});
    suggestion_draft s;
    s.recommended = true;
    add_part(s, phrase, make_update_action(phrase, std::move(*r)));
    return s;
}

void prebuild_card_json(rule_set_data& d) {
    for (auto* c : {&d.iv_medication, &d.oral_medication, &d.alt_medication,
                    &d.famotidine_medication, &d.magnesium_level_code, &d.creatinine_level_code,
                    &d.digoxin_level_code, &d.repletion_reason}) {
        prebuild_concept_json(*c);
    }
    for (auto* c : {&d.iv_route, &d.oral_route, &d.alt_route, &d.famotidine_route})
        c->json = build_coding_json(*c);

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
