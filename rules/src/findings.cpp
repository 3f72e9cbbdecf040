#include "findings.hpp"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <map>

#include "common/text.hpp"

namespace cds::rules {

namespace {

using fhir::instant;

double hours_between(instant from, instant to) {
    return std::chrono::duration<double, std::ratio<3600>>(to - from).count();
}

std::string obs_ref(fhir::observation const& o) { return "Observation/" + o.id; }

enum class obs_kind {
    magnesium_total, magnesium_ionized, creatinine, egfr, creatinine_clearance, potassium,
    calcium_total, calcium_ionized, body_weight, qtc, pregnancy_status, other
};

struct kind_entry {
    obs_kind kind;
    char const* value_set;
};
// Ionized kinds first: an ionized result must never be taken for a total one.
constexpr kind_entry kind_order[] = {
    {obs_kind::magnesium_ionized, "magnesium_ionized"}, {obs_kind::magnesium_total, "magnesium_total"},
    {obs_kind::calcium_ionized, "calcium_ionized"},     {obs_kind::calcium_total, "calcium_total"},
    {obs_kind::creatinine_clearance, "creatinine_clearance"}, {obs_kind::egfr, "egfr"},
    {obs_kind::creatinine, "creatinine"},               {obs_kind::potassium, "potassium"},
    {obs_kind::body_weight, "body_weight"},             {obs_kind::qtc, "qtc"},
    {obs_kind::pregnancy_status, "pregnancy_status"},
};

// Classified by the Observation's own code; the name in text is used only when the result
// carries no LOINC coding at all (clinical-rules.md §1: codes first).
obs_kind classify_observation(fhir::observation const& o, rule_set_data const& d) {
    for (auto const& k : kind_order) {
        if (d.vs(k.value_set).matches_code(o.code)) return k.kind;
    }
    bool const has_loinc = std::any_of(o.code.codings.begin(), o.code.codings.end(),
                                       [](fhir::coding const& c) { return c.system == "http://loinc.org"; });
    if (has_loinc) return obs_kind::other;
    std::string const words = concept_words(o.code);
    for (auto const& k : kind_order) {
        if (d.vs(k.value_set).matches_text(words)) return k.kind;
    }
    return obs_kind::other;
}

fhir::unit_table const* table_for(obs_kind k, rule_set_data const& d) {
    switch (k) {
        case obs_kind::magnesium_total: return &d.magnesium_mg_dl;
        case obs_kind::creatinine: return &d.creatinine_mg_dl;
        case obs_kind::egfr:
        case obs_kind::creatinine_clearance: return &d.renal_ml_min;
        case obs_kind::potassium: return &d.potassium_mmol_l;
        case obs_kind::calcium_total: return &d.calcium_total_mg_dl;
        case obs_kind::calcium_ionized: return &d.calcium_ionized_mmol_l;
        case obs_kind::body_weight: return &d.weight_kg;
        case obs_kind::qtc: return &d.qtc_ms;
        default: return nullptr;
    }
}

char const* kind_name(obs_kind k) {
    switch (k) {
        case obs_kind::magnesium_total: return "magnesium";
        case obs_kind::magnesium_ionized: return "ionized magnesium";
        case obs_kind::creatinine: return "creatinine";
        case obs_kind::egfr: return "eGFR";
        case obs_kind::creatinine_clearance: return "creatinine clearance";
        case obs_kind::potassium: return "potassium";
        case obs_kind::calcium_total: return "calcium";
        case obs_kind::calcium_ionized: return "ionized calcium";
        case obs_kind::body_weight: return "body weight";
        case obs_kind::qtc: return "QTc";
        case obs_kind::pregnancy_status: return "pregnancy status";
        case obs_kind::other: break;
    }
    return "other";
}

// Newer wins; a tie on the result time goes to the later `issued`.
bool newer(lab_result const& a, lab_result const& b) {
    if (a.time != b.time) return a.time > b.time;
    return a.issued > b.issued;
}

bool condition_counts(fhir::condition const& c, rule_set_data const& d) {
    if (c.abated) return false;
    if (!c.verification_status.empty() && d.condition_verification_excluded.contains(c.verification_status)) return false;
    // clinicalStatus may be absent in older data; absent is read as active.
    return c.clinical_status.empty() || d.condition_active.contains(c.clinical_status);
}

bool condition_in(fhir::condition const& c, value_set const& vs) {
    return vs.matches_code(c.code) || vs.matches_text(concept_words(c.code));
}

bool condition_recent(fhir::condition const& c, instant now, double days) {
    auto within = [&](std::optional<fhir::date_time> const& t) {
        if (!t) return false;
        double const h = hours_between(t->start, now);
        return h <= days * 24;  // a future date is within too
    };
    return within(c.onset) || within(c.recorded_date);
}

std::string condition_label(fhir::condition const& c) {
    std::string name = concept_name(c.code);
    if (name == "unnamed medication") name = "condition";
    return name + " (Condition/" + c.id + ")";
}

std::string route_words(fhir::dosage const& ds) {
    std::string w = concept_words(ds.route);
    return w;
}

}  // namespace

mg_level classify_magnesium(double v, fhir::quantity_comparator cmp, rule_set_data const& d) {
    using qc = fhir::quantity_comparator;
    // "<x": the true value is strictly below x, so x itself on a threshold falls below it.
    bool const below_strict = cmp == qc::less;
    bool const above_strict = cmp == qc::greater;
    if (v < d.mg_severe_below || (below_strict && v <= d.mg_severe_below)) return mg_level::severe;
    if (v < d.mg_low_below || (below_strict && v <= d.mg_low_below)) return mg_level::mild_moderate;
    if (v > d.mg_high_above || (above_strict && v >= d.mg_high_above)) return mg_level::high;
    return mg_level::normal;
}

renal_band band_for(double ml_min, rule_set_data const& d) {
    if (ml_min >= d.band_min[0]) return renal_band::normal;
    if (ml_min >= d.band_min[1]) return renal_band::impaired;
    if (ml_min >= d.band_min[2]) return renal_band::severely_impaired;
    return renal_band::contraindicated;
}

double cockcroft_gault(double age_years, double weight_kg, double creatinine_mg_dl, double sex_factor,
                       rule_set_data const& d) {
    return (d.cg_age_offset - age_years) * weight_kg / (d.cg_denominator * creatinine_mg_dl) * sex_factor;
}

std::optional<int> age_in_years(fhir::date_time const& birth, instant now) {
    auto const b = date::year_month_day{date::floor<date::days>(birth.start)};
    auto const n = date::year_month_day{date::floor<date::days>(now)};
    if (!b.ok() || !n.ok()) return std::nullopt;
    int years = static_cast<int>(n.year()) - static_cast<int>(b.year());
    if (n.month() < b.month() || (n.month() == b.month() && n.day() < b.day())) --years;
    if (years < 0) return std::nullopt;
    return years;
}

bool magnesium_status::any_within_days(instant now, double days) const {
    return std::any_of(result_times.begin(), result_times.end(),
                       [&](instant t) { return hours_between(t, now) <= days * 24; });
}

void classify_medication(medication_exposure& e, rule_set_data const& d) {
    auto const& o = *e.order;
    fhir::codeable_concept const& code = !o.resolved_code.empty() ? o.resolved_code
                                         : o.medication_concept ? *o.medication_concept
                                                                : o.resolved_code;
    std::vector<fhir::codeable_concept const*> concepts{&code};
    for (auto const& ing : o.resolved_ingredients) concepts.push_back(&ing);

    struct class_vs {
        std::uint32_t bit;
        char const* name;
    };
    static constexpr class_vs classes[] = {
        {dc_loop, "loop_diuretic"},          {dc_thiazide, "thiazide_diuretic"},
        {dc_ppi, "proton_pump_inhibitor"},   {dc_high_risk, "high_risk_magnesium_wasting"},
        {dc_calcineurin, "calcineurin_inhibitor"}, {dc_digoxin, "digoxin"},
        {dc_fluoroquinolone, "fluoroquinolone"}, {dc_tetracycline, "tetracycline"},
        {dc_mg_sulfate, "magnesium_sulfate"}, {dc_mg_oral_salt, "magnesium_oral_salt"},
        {dc_potassium, "potassium_replacement"}, {dc_famotidine, "famotidine"},
    };
    std::uint32_t by_code = 0;
    for (auto const& c : classes) {
        for (auto const* cc : concepts) {
            if (d.vs(c.name).matches_code(*cc)) by_code |= c.bit;
        }
    }
    std::string words;
    for (auto const* cc : concepts) {
        words += concept_words(*cc);
        words += " | ";
    }
    std::uint32_t by_text = 0;
    if (by_code == 0) {
        for (auto const& c : classes) {
            if (d.vs(c.name).matches_text(words)) by_text |= c.bit;
        }
    }
    e.classes = by_code | by_text;
    if (d.vs("magnesium_laxative").matches_text(words)) e.classes |= dc_mg_laxative;
    e.name = concept_name(code);

    // Route: the order's route, else the dose form, else words in the medication name.
    std::string dosage_text;
    for (auto const& ds : o.dosages) {
        if (e.route != route_kind::unknown) break;
        if (d.vs("route_intravenous").matches_code(ds.route)) e.route = route_kind::intravenous;
        else if (d.vs("route_oral").matches_code(ds.route)) e.route = route_kind::oral;
        else {
            std::string const rw = route_words(ds);
            if (d.vs("route_intravenous").matches_text(rw)) e.route = route_kind::intravenous;
            else if (d.vs("route_intramuscular").matches_text(rw)) e.route = route_kind::intramuscular;
            else if (d.vs("route_rectal").matches_text(rw)) e.route = route_kind::rectal;
            else if (d.vs("route_oral").matches_text(rw)) e.route = route_kind::oral;
        }
        dosage_text += value_set::lower(ds.text) + " | ";
    }
    std::string const form_words = concept_words(o.resolved_form) + " | " + words;
    bool const parenteral_form = d.vs("form_parenteral").matches_text(form_words);
    bool const oral_solid = d.vs("form_oral_solid").matches_text(form_words);
    bool const oral_liquid = !parenteral_form && d.vs("form_oral_liquid").matches_text(form_words);
    if (e.route == route_kind::unknown) {
        // An enema is a liquid but not taken by mouth: it neither repletes nor chelates.
        if (d.vs("route_rectal").matches_text(form_words)) e.route = route_kind::rectal;
        else if (parenteral_form) e.route = route_kind::intravenous;
        else if (oral_solid || oral_liquid) e.route = route_kind::oral;
        else if (d.vs("route_intravenous").matches_text(dosage_text)) e.route = route_kind::intravenous;
        else if (d.vs("route_intramuscular").matches_text(dosage_text)) e.route = route_kind::intramuscular;
        else if (d.vs("route_oral").matches_text(dosage_text + words)) e.route = route_kind::oral;
    }

    // Magnesium: IV/oral is decided by route and dose form, never by the code alone
    // (A12CC02 is oral magnesium sulfate); laxatives and bowel preparations are left alone.
    if (e.is(dc_mg_sulfate | dc_mg_oral_salt | dc_mg_laxative)) {
        if (e.is(dc_mg_laxative) || e.route == route_kind::rectal) e.magnesium = mg_product::laxative;
        else if (e.route == route_kind::intravenous || e.route == route_kind::intramuscular) e.magnesium = mg_product::parenteral;
        else if (e.route == route_kind::oral) e.magnesium = oral_liquid && !oral_solid ? mg_product::laxative : mg_product::oral_repletion;
        else if (e.is(dc_mg_sulfate)) {
            e.magnesium = mg_product::parenteral;  // magnesium sulfate with no route or form: the injectable
            e.route = route_kind::intravenous;
        } else {
            e.magnesium = mg_product::oral_repletion;
        }
    }
}

patient_findings build_findings(fhir::patient_snapshot const& snapshot, hook_context const& context,
                                rule_set_data const& d, std::vector<trace_entry>& trace) {
    patient_findings f;
    f.now = context.now;
    f.patient_id = context.patient_id;
    auto note = [&](std::string subject, std::string message) {
        trace.push_back({"findings", std::move(subject), std::move(message)});
    };

    if (snapshot.patient_record) {
        auto const& p = *snapshot.patient_record;
        if (p.birth_date) f.age_years = age_in_years(*p.birth_date, f.now);
        f.gender = p.gender;
        f.gender_present = p.gender_present;
        note("Patient/" + p.id, f.age_years ? "age " + std::to_string(*f.age_years) + " years" : "age unknown (no birthDate)");
    } else {
        note("Patient", "no Patient resource: age and sex unknown");
    }

    // ---- observations ----
    std::map<obs_kind, lab_result> newest;
    std::optional<lab_result> newest_pregnancy_status;
    bool pregnancy_status_pregnant = false;
    for (auto const& o : snapshot.observations) {
        obs_kind const kind = classify_observation(o, d);
        if (kind == obs_kind::other) continue;
        std::string const ref = obs_ref(o);
        if (kind == obs_kind::magnesium_ionized) {
            f.magnesium.skipped.push_back(ref + ": ionized magnesium is never compared with the total-magnesium thresholds");
            note(ref, "ionized magnesium: not compared with total-Mg thresholds");
            continue;
        }
        bool const preliminary = d.observation_preliminary.contains(o.status);
        if (!d.observation_counted.contains(o.status) && !preliminary) {
            note(ref, std::string(kind_name(kind)) + " skipped: status '" + o.status + "' does not count");
            if (kind == obs_kind::magnesium_total) f.magnesium.skipped.push_back(ref + ": status '" + o.status + "' does not count");
            continue;
        }
        auto const t = o.result_time();
        if (!t) {
            note(ref, std::string(kind_name(kind)) + " skipped: no effective time or issued");
            if (kind == obs_kind::magnesium_total) f.magnesium.skipped.push_back(ref + ": no result time");
            continue;
        }
        lab_result r;
        r.obs = &o;
        r.time = t->start;
        r.issued = o.issued ? o.issued->start : instant{};
        r.age_hours = std::max(0.0, hours_between(t->start, f.now));
        r.preliminary = preliminary;
        r.reference = ref;

        if (kind == obs_kind::pregnancy_status) {
            if (o.data_absent || !o.value_concept) continue;
            if (r.age_hours > d.pregnancy_status_days * 24) continue;
            if (!newest_pregnancy_status || newer(r, *newest_pregnancy_status)) {
                newest_pregnancy_status = r;
                auto const& vs = d.vs("pregnant_answer");
                pregnancy_status_pregnant = vs.matches_code(*o.value_concept) || vs.matches_text(concept_words(*o.value_concept));
            }
            continue;
        }
        if (o.data_absent || !o.value_quantity || !o.value_quantity->value) {
            note(ref, std::string(kind_name(kind)) + " skipped: no numeric value (dataAbsentReason or missing valueQuantity)");
            if (kind == obs_kind::magnesium_total) f.magnesium.skipped.push_back(ref + ": no numeric value");
            continue;
        }
        auto const& q = *o.value_quantity;
        auto const converted = table_for(kind, d)->convert(*q.value, q.unit_key());
        if (!converted) {
            std::string const why = std::string(kind_name(kind)) + " skipped: unknown unit '" + std::string(q.unit_key()) + "' (never guessed)";
            note(ref, why);
            if (kind == obs_kind::magnesium_total) f.magnesium.skipped.push_back(ref + ": unknown unit '" + std::string(q.unit_key()) + "' (never guessed)");
            else f.unavailable.push_back(ref + ": " + why);
            continue;
        }
        r.value = *converted;
        r.reported_value = *q.value;
        r.reported_unit = q.unit.empty() ? q.code : q.unit;
        r.comparator = q.comparator;
        if (kind == obs_kind::magnesium_total) f.magnesium.result_times.push_back(r.time);
        auto it = newest.find(kind);
        if (it == newest.end() || newer(r, it->second)) newest[kind] = r;
    }

    // ---- magnesium ----
    if (auto it = newest.find(obs_kind::magnesium_total); it != newest.end()) {
        auto& m = f.magnesium;
        m.latest = it->second;
        m.level = classify_magnesium(m.latest->value, m.latest->comparator, d);
        m.current = m.latest->age_hours <= d.mg_current_hours;
        m.stale_low = !m.current && m.low() && m.latest->age_hours <= d.mg_stale_low_days * 24;
        static constexpr char const* level_names[] = {"severe", "mild-moderate", "normal", "high"};
        note(m.latest->reference, "serum Mg " + comparator_text(m.latest->comparator) + format_number(m.latest->value) +
                                      " mg/dL: " + level_names[static_cast<int>(m.level)] +
                                      (m.current ? ", current" : m.stale_low ? ", stale-low" : ", not current") + " (" +
                                      describe_age_hours(m.latest->age_hours) + " old)");
    } else {
        note("magnesium", "no counted serum magnesium result");
    }

    // ---- coexisting K / Ca, QTc, weight ----
    auto current = [&](obs_kind k, double hours) -> std::optional<lab_result> {
        auto it = newest.find(k);
        if (it == newest.end() || it->second.age_hours > hours) return std::nullopt;
        return it->second;
    };
    f.potassium = current(obs_kind::potassium, d.coexisting_current_hours);
    f.calcium_total = current(obs_kind::calcium_total, d.coexisting_current_hours);
    f.calcium_ionized = current(obs_kind::calcium_ionized, d.coexisting_current_hours);
    f.qtc = current(obs_kind::qtc, d.qtc_current_hours);
    f.weight = current(obs_kind::body_weight, d.weight_max_age_days * 24);
    f.hypokalemia = f.potassium && f.potassium->value < d.potassium_low_below;
    f.hypocalcemia = (f.calcium_total && f.calcium_total->value < d.calcium_total_low_below) ||
                     (f.calcium_ionized && f.calcium_ionized->value < d.calcium_ionized_low_below);

    // ---- conditions ----
    for (auto const& c : snapshot.conditions) {
        if (!condition_counts(c, d)) continue;
        if (condition_in(c, d.vs("ckd_stage5_or_dialysis")) && !f.renal.ckd5) {
            f.renal.ckd5 = &c;
            f.renal.ckd5_label = condition_label(c);
        }
        if (condition_in(c, d.vs("preeclampsia_eclampsia"))) f.preeclampsia = true;
        if (condition_in(c, d.vs("pregnancy")) && !f.pregnant) {
            f.pregnant = true;
            f.pregnancy_evidence = condition_label(c);
        }
        bool const recent = condition_recent(c, f.now, d.symptom_onset_days);
        if (condition_in(c, d.vs("asthma")) && condition_recent(c, f.now, d.acute_asthma_onset_days)) f.acute_asthma = true;
        bool const va = condition_in(c, d.vs("ventricular_arrhythmia"));
        bool const symptomatic_kind = va || condition_in(c, d.vs("tetany")) || condition_in(c, d.vs("seizure")) ||
                                      condition_in(c, d.vs("prolonged_qt"));
        if (symptomatic_kind) {
            if (recent) {
                f.symptoms.push_back({&c, condition_label(c), va});
                if (va) f.recent_torsades_or_ventricular = true;
                if (condition_in(c, d.vs("torsades"))) f.recent_torsades = true;
                note("Condition/" + c.id, "recent symptom: escalates hypomagnesemia to the severe path");
            } else {
                note("Condition/" + c.id, "long-standing or undated: does not escalate (onset/recorded outside the window)");
            }
        }
        if (condition_in(c, d.vs("muscle_cramp")) || condition_in(c, d.vs("tremor")) || condition_in(c, d.vs("edema"))) {
            f.supporting.push_back(condition_label(c));
        }
    }
    if (f.qtc && f.qtc->value >= d.qtc_symptomatic_ms) {
        f.symptoms.push_back({nullptr, "QTc " + format_number(f.qtc->value, 0) + " ms (" + f.qtc->reference + ")", false});
        note(f.qtc->reference, "QTc >= " + format_number(d.qtc_symptomatic_ms, 0) + " ms: symptomatic");
    }
    f.symptomatic = !f.symptoms.empty();
    if (!f.pregnant && newest_pregnancy_status && pregnancy_status_pregnant) {
        f.pregnant = true;
        f.pregnancy_evidence = "pregnancy status \"pregnant\" (" + newest_pregnancy_status->reference + ")";
    }

    // ---- renal function ----
    auto& rf = f.renal;
    auto renal_candidate = [&](obs_kind k, renal_source src, char const* what) {
        auto it = newest.find(k);
        if (it == newest.end()) return;
        auto const& r = it->second;
        if (r.age_hours > d.renal_max_age_days * 24) {
            note(r.reference, std::string(what) + " older than the renal window: not used");
            return;
        }
        double v = r.value;
        renal_estimate e{src, v, r.time, r.age_hours / 24, r.reference,
                         std::string(what) + " " + comparator_text(r.comparator) + format_measurement(r.reported_value, 3) + " " +
                             r.reported_unit + " on " + fhir::format_date(r.time) + " (" + describe_age_hours(r.age_hours) + " old)"};
        rf.candidates.push_back(std::move(e));
    };
    renal_candidate(obs_kind::creatinine_clearance, renal_source::creatinine_clearance, "creatinine clearance");
    renal_candidate(obs_kind::egfr, renal_source::egfr, "eGFR");
    if (auto it = newest.find(obs_kind::creatinine); it != newest.end()) {
        auto const& cr = it->second;
        if (cr.age_hours > d.renal_max_age_days * 24) {
            rf.notes.push_back("creatinine of " + fhir::format_date(cr.time) + " is older than a year: not used");
        } else if (!f.age_years) {
            rf.notes.push_back("Cockcroft-Gault not computed: age unknown (no birthDate)");
        } else if (!f.weight) {
            rf.notes.push_back("Cockcroft-Gault not computed: no body weight within a year");
        } else if (cr.value <= 0 || *f.age_years >= d.cg_age_offset) {
            rf.notes.push_back("Cockcroft-Gault not computed: inputs out of range");
        } else {
            bool const female = f.gender == fhir::administrative_gender::female;
            bool const male = f.gender == fhir::administrative_gender::male;
            double const factor = female ? d.cg_female_factor : male ? 1.0 : d.cg_unknown_sex_factor;
            double const crcl = cockcroft_gault(*f.age_years, f.weight->value, cr.value, factor, d);
            std::string inputs = "Cockcroft-Gault from creatinine " + comparator_text(cr.comparator) +
                                 format_measurement(cr.reported_value, 3) + " " + cr.reported_unit +
                                 (value_set::lower(cr.reported_unit) == "mg/dl" ? std::string()
                                                                                 : " (= " + format_measurement(cr.value) + " mg/dL)") +
                                 " on " + fhir::format_date(cr.time) + " (" + describe_age_hours(cr.age_hours) +
                                 " old), age " + std::to_string(*f.age_years) + ", weight " + format_number(f.weight->value, 1) +
                                 " kg on " + fhir::format_date(f.weight->time) + ", ";
            if (female) inputs += "female × " + format_number(d.cg_female_factor);
            else if (male) inputs += "male";
            else {
                inputs += fill(d.text("unknown_sex"), {{"factor", format_number(d.cg_unknown_sex_factor)}});
            }
            rf.candidates.push_back({renal_source::cockcroft_gault, crcl, cr.time, cr.age_hours / 24, cr.reference, inputs});
        }
    }
    for (auto const& c : rf.candidates) {
        if (!rf.used || c.ml_min < rf.used->ml_min) rf.used = c;
    }
    if (rf.used) rf.band = band_for(rf.used->ml_min, d);
    if (rf.ckd5) rf.band = renal_band::contraindicated;
    note("renal_function", "band " + d.band_label[static_cast<std::size_t>(rf.band)] +
                               (rf.used ? " from " + format_number(rf.used->ml_min, 1) + " mL/min" : std::string()) +
                               (rf.ckd5 ? " (CKD stage 5 / dialysis condition)" : ""));

    // ---- unavailable optional data ----
    if (auto const* svc = [&]() -> service_definition const* {
            for (auto const& s : d.services) if (s.id == context.service_id) return &s;
            for (auto const& s : d.services) if (s.hook == context.hook) return &s;
            return nullptr;
        }()) {
        for (auto const& key : context.unavailable_prefetch) {
            for (auto const& t : svc->prefetch) {
                if (t.key != key) continue;
                f.unavailable.push_back(fill(d.text("data_unavailable"), {{"describes", t.describes}, {"key", t.key}}));
                if (key == "renal") f.renal_unavailable.push_back(fill(d.text("renal_unknown"), {{"describes", t.describes}}));
            }
        }
    }

    // ---- medications ----
    auto counted = [&](fhir::medication_order const& o) { return d.medication_counted.contains(o.status); };
    std::vector<std::string> context_refs;
    for (auto const& o : context.draft_orders) {
        if (!o.has_medication() && !o.medication_known) {
            note(o.resource_type + "/" + o.id, "draft order without a medication yet: skipped");
            continue;
        }
        if (d.medication_never.contains(o.status)) continue;
        medication_exposure e;
        e.order = &o;
        e.from_context = true;
        e.reference = (o.resource_type.empty() ? std::string("MedicationRequest") : o.resource_type) + "/" + o.id;
        if (context.hook == "order-sign") e.trigger = true;
        else if (context.hook == "order-select") {
            e.trigger = std::find(context.selections.begin(), context.selections.end(), e.reference) != context.selections.end();
        }
        classify_medication(e, d);
        context_refs.push_back(e.reference);
        f.exposures.push_back(std::move(e));
    }
    for (auto const& o : snapshot.medication_orders) {
        std::string const ref = (o.resource_type.empty() ? std::string("MedicationRequest") : o.resource_type) + "/" + o.id;
        if (std::find(context_refs.begin(), context_refs.end(), ref) != context_refs.end()) continue;
        if (!counted(o)) {
            if (!o.status.empty()) note(ref, "status '" + o.status + "' does not count");
            continue;
        }
        if (!o.has_medication() && !o.medication_known) continue;
        medication_exposure e;
        e.order = &o;
        e.reference = ref;
        classify_medication(e, d);
        f.exposures.push_back(std::move(e));
    }
    for (auto const& e : f.exposures) {
        if (e.classes == 0) continue;
        note(e.reference, e.name + ": drug classes 0x" + [&] {
            char buf[16];
            std::snprintf(buf, sizeof buf, "%x", e.classes);
            return std::string(buf);
        }() + (e.trigger ? " (triggering order)" : e.from_context ? " (draft, context)" : ""));
    }
    return f;
}

}  // namespace cds::rules
