#include "findings.hpp"

#include <algorithm>
#include <array>
#include <bit>
#include <charconv>
#include <chrono>
#include <cmath>

#include "common/decimal.hpp"
#include "common/format.hpp"
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

constexpr std::size_t obs_kind_count = static_cast<std::size_t>(obs_kind::other);
static_assert(std::size(kind_order) == obs_kind_count, "every kind but other is tested");

// Classified by the Observation's own code; the name in text is used only when the result
// carries no LOINC coding at all (clinical-rules.md §1: codes first). Bit i of the compiled
// look-up is kind_order[i], so the lowest bit set is the first kind in that order.
obs_kind classify_observation(fhir::observation const& o, rule_set_data const& d) {
    if (std::uint64_t const bits = d.observation_kind_codes.match_any(o.code)) {
        return kind_order[static_cast<std::size_t>(std::countr_zero(bits))].kind;
    }
    bool const has_loinc = std::any_of(o.code.codings.begin(), o.code.codings.end(),
                                       [](fhir::coding const& c) { return c.system == "http://loinc.org"; });
    if (has_loinc) return obs_kind::other;
    std::string const words = concept_words(o.code);
    for (std::size_t i = 0; i < obs_kind_count; ++i) {
        if (d.observation_kind_sets[i]->matches_text(words)) return kind_order[i].kind;
    }
    return obs_kind::other;
}

struct class_value_set {
    std::uint32_t bit;
    char const* name;
};
// The drug classes recognised by code (and, when no code matched, by name).
constexpr class_value_set drug_class_value_sets[] = {
    {dc_loop, "loop_diuretic"},          {dc_thiazide, "thiazide_diuretic"},
    {dc_ppi, "proton_pump_inhibitor"},   {dc_high_risk, "high_risk_magnesium_wasting"},
    {dc_calcineurin, "calcineurin_inhibitor"}, {dc_digoxin, "digoxin"},
    {dc_fluoroquinolone, "fluoroquinolone"}, {dc_tetracycline, "tetracycline"},
    {dc_mg_sulfate, "magnesium_sulfate"}, {dc_mg_oral_salt, "magnesium_oral_salt"},
    {dc_potassium, "potassium_replacement"}, {dc_famotidine, "famotidine"},
};

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

// A Condition's date is its onset; recordedDate only when no onset is given (clinical-rules.md
// §7 "Symptomatic": epilepsy with onset years ago, recorded yesterday, is not recent). An
// onset given without a date (onsetAge, onsetString) leaves the condition undated.
bool condition_recent(fhir::condition const& c, instant now, double days) {
    auto const& date = c.onset_given ? c.onset : c.recorded_date;
    if (!date) return false;
    return hours_between(date->start, now) <= days * 24;  // a future date is within too
}

// True when `subject` names a Patient other than the context patient: such a resource never
// counts (clinical-rules.md §1 "Which resources"). A resource without a subject, or whose
// subject is not a Patient reference (contained, urn:uuid, identifier only), is taken as the
// context patient's.
bool names_other_patient(std::string_view subject, std::string_view patient_id) {
    if (subject.empty() || patient_id.empty()) return false;
    fhir::reference const r = fhir::make_reference(subject);
    return r.kind == fhir::reference_kind::relative && r.type == "Patient" && r.id != patient_id;
}

constexpr char const* other_patient_note = "subject names a patient other than context.patientId: not counted";

// Why a converted result cannot be right (clinical-rules.md §1 "implausible values never
// count"), or nullopt. The bounds are configuration.
std::optional<std::string> implausible_reason(obs_kind kind, double value, rule_set_data const& d) {
    auto const& b = d.implausible;
    auto const implausible = [&](char const* unit, std::string const& plausible) {
        return "value " + format_number(value, 4) + " " + unit + " is implausible (plausible: " + plausible + "): not counted";
    };
    switch (kind) {
        case obs_kind::magnesium_total:
            if (compare_as_decimal(value, b.magnesium_below_mg_dl) < 0 || compare_as_decimal(value, b.magnesium_above_mg_dl) > 0) {
                return implausible("mg/dL", format_number(b.magnesium_below_mg_dl) + " to " + format_number(b.magnesium_above_mg_dl));
            }
            break;
        case obs_kind::creatinine:
            if (compare_as_decimal(value, b.creatinine_at_or_below_mg_dl) <= 0) {
                return implausible("mg/dL", "above " + format_number(b.creatinine_at_or_below_mg_dl));
            }
            break;
        case obs_kind::body_weight:
            if (compare_as_decimal(value, b.weight_at_or_below_kg) <= 0 || compare_as_decimal(value, b.weight_above_kg) > 0) {
                return implausible("kg", "above " + format_number(b.weight_at_or_below_kg) + " up to " + format_number(b.weight_above_kg));
            }
            break;
        default: break;
    }
    return std::nullopt;
}

std::string condition_label(fhir::condition const& c) {
    std::string name = concept_name(c.code);
    if (name == "unnamed medication") name = "condition";
    return name;  // card text names no FHIR ids (clinical-rules.md §5)
}

std::string route_words(fhir::dosage const& ds) {
    std::string w = concept_words(ds.route);
    return w;
}

// An order refers to its drug (medicationReference) but nothing identifies it: the Medication
// was not in the request's or the fetched data (or not readable), or has neither a code, an
// ingredient nor a name, and the reference has no display either.
bool medication_unidentified(fhir::medication_order const& o) {
    return !o.medication_known && o.medication_reference.has_value() &&
           !(o.medication_concept && !o.medication_concept->empty());
}

// Client data quoted in card text: bounded, so that a hostile reference cannot fill the card.
void append_bounded(std::string& out, std::string_view text, std::size_t limit = 96) {
    if (text.size() <= limit) {
        out += text;
        return;
    }
    std::size_t cut = limit;
    while (cut > 0 && (static_cast<unsigned char>(text[cut]) & 0xC0) == 0x80) --cut;  // UTF-8 boundary
    out += text.substr(0, cut);
    out += "...";
}

// One sentence for every counted order whose medication could not be identified, naming up
// to three of them (order and reference as written). Strings are built only for such orders.
void note_unidentified_medications(patient_findings& f, rule_set_data const& d, std::vector<trace_entry>& trace) {
    constexpr std::size_t named_at_most = 3;
    std::string orders;
    std::size_t count = 0;
    for (auto const& e : f.exposures) {
        if (!medication_unidentified(*e.order)) continue;
        auto const& ref = *e.order->medication_reference;
        std::string message = "medication not identified: medicationReference '";
        append_bounded(message, ref.reference);
        message += "' does not resolve to a Medication with a code, ingredient or name; not classified";
        trace.push_back({"findings", e.reference, std::move(message)});
        if (++count > named_at_most) continue;
        if (!orders.empty()) orders += "; ";
        orders += e.reference;
        if (!ref.reference.empty()) {
            orders += " (";
            append_bounded(orders, ref.reference);
            orders += ")";
        }
    }
    if (count == 0) return;
    if (count > named_at_most) {
        orders += " and ";
        orders += std::to_string(count - named_at_most);
        orders += " more";
    }
    f.unavailable.push_back(fill(d.text("medication_unidentified"), {{"describes", orders}}));
}

}  // namespace

mg_level classify_magnesium(double v, fhir::quantity_comparator cmp, rule_set_data const& d) {
    using qc = fhir::quantity_comparator;
    // "<x": the true value is strictly below x, so x itself on a threshold falls below it.
    bool const below_strict = cmp == qc::less;
    bool const above_strict = cmp == qc::greater;
    auto const to_severe = compare_as_decimal(v, d.mg_severe_below);
    if (to_severe < 0 || (below_strict && to_severe == 0)) return mg_level::severe;
    auto const to_low = compare_as_decimal(v, d.mg_low_below);
    if (to_low < 0 || (below_strict && to_low == 0)) return mg_level::mild_moderate;
    auto const to_high = compare_as_decimal(v, d.mg_high_above);
    if (to_high > 0 || (above_strict && to_high == 0)) return mg_level::high;
    return mg_level::normal;
}

bool magnesium_comparator_classifies(double v, fhir::quantity_comparator cmp, rule_set_data const& d) {
    using qc = fhir::quantity_comparator;
    if (cmp == qc::greater || cmp == qc::greater_or_equal) return compare_as_decimal(v, d.mg_high_above) >= 0;
    if (cmp == qc::less || cmp == qc::less_or_equal) return compare_as_decimal(v, d.mg_low_below) <= 0;
    return true;
}

renal_band band_for(double ml_min, rule_set_data const& d) {
    if (compare_as_decimal(ml_min, d.band_min[0]) >= 0) return renal_band::normal;
    if (compare_as_decimal(ml_min, d.band_min[1]) >= 0) return renal_band::impaired;
    if (compare_as_decimal(ml_min, d.band_min[2]) >= 0) return renal_band::severely_impaired;
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

void compile_lookups(rule_set_data& d) {
    d.observation_kind_sets.clear();
    for (std::size_t i = 0; i < obs_kind_count; ++i) {
        value_set const& set = d.vs(kind_order[i].value_set);
        for (auto const& c : set.codes()) d.observation_kind_codes.add(c.system, c.code, c.prefix, std::uint64_t{1} << i);
        d.observation_kind_sets.push_back(&set);
    }
    d.drug_class_sets.clear();
    for (auto const& [bit, name] : drug_class_value_sets) {
        value_set const& set = d.vs(name);
        for (auto const& c : set.codes()) d.drug_class_codes.add(c.system, c.code, c.prefix, bit);
        d.drug_class_sets.emplace_back(bit, &set);
    }
    auto& n = d.sets;
    n.pregnant_answer = &d.vs("pregnant_answer");
    n.magnesium_laxative = &d.vs("magnesium_laxative");
    n.route_intravenous = &d.vs("route_intravenous");
    n.route_intramuscular = &d.vs("route_intramuscular");
    n.route_rectal = &d.vs("route_rectal");
    n.route_oral = &d.vs("route_oral");
    n.form_parenteral = &d.vs("form_parenteral");
    n.form_oral_solid = &d.vs("form_oral_solid");
    n.form_oral_liquid = &d.vs("form_oral_liquid");
    n.ckd_stage5_or_dialysis = &d.vs("ckd_stage5_or_dialysis");
    n.preeclampsia_eclampsia = &d.vs("preeclampsia_eclampsia");
    n.pregnancy = &d.vs("pregnancy");
    n.asthma = &d.vs("asthma");
    n.ventricular_arrhythmia = &d.vs("ventricular_arrhythmia");
    n.tetany = &d.vs("tetany");
    n.seizure = &d.vs("seizure");
    n.prolonged_qt = &d.vs("prolonged_qt");
    n.torsades = &d.vs("torsades");
    n.muscle_cramp = &d.vs("muscle_cramp");
    n.tremor = &d.vs("tremor");
    n.edema = &d.vs("edema");
}

void classify_medication(medication_exposure& e, rule_set_data const& d) {
    auto const& o = *e.order;
    fhir::codeable_concept const& code = !o.resolved_code.empty() ? o.resolved_code
                                         : o.medication_concept ? *o.medication_concept
                                                                : o.resolved_code;
    std::vector<fhir::codeable_concept const*> concepts;
    concepts.reserve(1 + o.resolved_ingredients.size());
    concepts.push_back(&code);
    for (auto const& ing : o.resolved_ingredients) concepts.push_back(&ing);

    std::uint32_t by_code = 0;
    for (auto const* cc : concepts) by_code |= static_cast<std::uint32_t>(d.drug_class_codes.match_any(*cc));
    std::string words;
    for (auto const* cc : concepts) {
        words += concept_words(*cc);
        words += " | ";
    }
    std::uint32_t by_text = 0;
    if (by_code == 0) {
        for (auto const& [bit, set] : d.drug_class_sets) {
            if (set->matches_text(words)) by_text |= bit;
        }
    }
    e.classes = by_code | by_text;
    auto const& sets = d.sets;
    if (sets.magnesium_laxative->matches_text(words)) e.classes |= dc_mg_laxative;
    e.name = concept_name(code);

    // Route: the order's route, else the dose form, else words in the medication name.
    std::string dosage_text;
    for (auto const& ds : o.dosages) {
        if (e.route != route_kind::unknown) break;
        if (sets.route_intravenous->matches_code(ds.route)) e.route = route_kind::intravenous;
        else if (sets.route_oral->matches_code(ds.route)) e.route = route_kind::oral;
        else {
            std::string const rw = route_words(ds);
            if (sets.route_intravenous->matches_text(rw)) e.route = route_kind::intravenous;
            else if (sets.route_intramuscular->matches_text(rw)) e.route = route_kind::intramuscular;
            else if (sets.route_rectal->matches_text(rw)) e.route = route_kind::rectal;
            else if (sets.route_oral->matches_text(rw)) e.route = route_kind::oral;
        }
        dosage_text += value_set::lower(ds.text) + " | ";
    }
    std::string const form_words = concept_words(o.resolved_form) + " | " + words;
    bool const parenteral_form = sets.form_parenteral->matches_text(form_words);
    bool const oral_solid = sets.form_oral_solid->matches_text(form_words);
    bool const oral_liquid = !parenteral_form && sets.form_oral_liquid->matches_text(form_words);
    if (e.route == route_kind::unknown) {
        // An enema is a liquid but not taken by mouth: it neither repletes nor chelates.
        if (sets.route_rectal->matches_text(form_words)) e.route = route_kind::rectal;
        else if (parenteral_form) e.route = route_kind::intravenous;
        else if (oral_solid || oral_liquid) e.route = route_kind::oral;
        else if (sets.route_intravenous->matches_text(dosage_text)) e.route = route_kind::intravenous;
        else if (sets.route_intramuscular->matches_text(dosage_text)) e.route = route_kind::intramuscular;
        else if (sets.route_oral->matches_text(dosage_text + words)) e.route = route_kind::oral;
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
    // A result that never counts and is said: in the trace, and on the cards with the other
    // skipped magnesium results or the data that was not available.
    auto skip_result = [&](std::string ref, obs_kind kind, std::string why) {
        note(ref, std::string(kind_name(kind)) + " skipped: " + why);
        if (kind == obs_kind::magnesium_total) f.magnesium.skipped.push_back(ref + ": " + why);
        else f.unavailable.push_back(ref + ": " + kind_name(kind) + " " + why);
    };

    fhir::patient const* patient_record = snapshot.patient_record ? &*snapshot.patient_record : nullptr;
    if (patient_record && !patient_record->id.empty() && !context.patient_id.empty() && patient_record->id != context.patient_id) {
        note("Patient", "Patient resource is not context.patientId: not used");
        patient_record = nullptr;
    }
    if (patient_record) {
        auto const& p = *patient_record;
        if (p.birth_date) f.age_years = age_in_years(*p.birth_date, f.now);
        f.gender = p.gender;
        f.gender_present = p.gender_present;
        note("Patient/" + p.id, f.age_years ? "age " + std::to_string(*f.age_years) + " years" : "age unknown (no birthDate)");
    } else {
        note("Patient", "no Patient resource: age and sex unknown");
    }

    // ---- observations ----
    // The newest usable result of each kind, indexed by obs_kind.
    std::array<std::optional<lab_result>, obs_kind_count> newest;
    auto newest_of = [&](obs_kind k) -> std::optional<lab_result> const& { return newest[static_cast<std::size_t>(k)]; };
    std::optional<lab_result> newest_pregnancy_status;
    bool pregnancy_status_pregnant = false;
    for (auto const& o : snapshot.observations) {
        obs_kind const kind = classify_observation(o, d);
        if (kind == obs_kind::other) continue;
        if (names_other_patient(o.subject, context.patient_id)) {
            note(obs_ref(o), other_patient_note);
            continue;
        }
        // "Observation/<id>" is built only where it is used: skipped results and kept ones.
        if (kind == obs_kind::magnesium_ionized) {
            std::string const ref = obs_ref(o);
            f.magnesium.skipped.push_back(ref + ": ionized magnesium is never compared with the total-magnesium thresholds");
            note(ref, "ionized magnesium: not compared with total-Mg thresholds");
            continue;
        }
        bool const preliminary = d.observation_preliminary.contains(o.status);
        if (!d.observation_counted.contains(o.status) && !preliminary) {
            std::string const ref = obs_ref(o);
            note(ref, std::string(kind_name(kind)) + " skipped: status '" + o.status + "' does not count");
            if (kind == obs_kind::magnesium_total) f.magnesium.skipped.push_back(ref + ": status '" + o.status + "' does not count");
            continue;
        }
        auto const t = o.result_time();
        if (!t) {
            std::string const ref = obs_ref(o);
            note(ref, std::string(kind_name(kind)) + " skipped: no effective time or issued");
            if (kind == obs_kind::magnesium_total) f.magnesium.skipped.push_back(ref + ": no result time");
            continue;
        }
        if (hours_between(f.now, t->start) > d.result_future_tolerance_hours) {
            skip_result(obs_ref(o), kind, "dated " + format_card_date(*t) + ", more than " +
                                              format_number(d.result_future_tolerance_hours) +
                                              " hours after the hook's time (a data error): not counted");
            continue;
        }
        // The strings (reference, unit) are filled only for a result that is kept.
        lab_result r;
        r.obs = &o;
        r.time = t->start;
        r.issued = o.issued ? o.issued->start : instant{};
        r.age_hours = std::max(0.0, hours_between(t->start, f.now));
        r.preliminary = preliminary;

        if (kind == obs_kind::pregnancy_status) {
            if (o.data_absent || !o.value_concept) continue;
            if (r.age_hours > d.pregnancy_status_days * 24) continue;
            if (!newest_pregnancy_status || newer(r, *newest_pregnancy_status)) {
                r.reference = obs_ref(o);
                newest_pregnancy_status = std::move(r);
                auto const& vs = *d.sets.pregnant_answer;
                pregnancy_status_pregnant = vs.matches_code(*o.value_concept) || vs.matches_text(concept_words(*o.value_concept));
            }
            continue;
        }
        if (o.data_absent || !o.value_quantity || !o.value_quantity->value) {
            std::string const ref = obs_ref(o);
            note(ref, std::string(kind_name(kind)) + " skipped: no numeric value (dataAbsentReason or missing valueQuantity)");
            if (kind == obs_kind::magnesium_total) f.magnesium.skipped.push_back(ref + ": no numeric value");
            continue;
        }
        auto const& q = *o.value_quantity;
        auto const converted = table_for(kind, d)->convert(*q.value, q.unit_key());
        if (!converted) {
            std::string const ref = obs_ref(o);
            std::string const why = std::string(kind_name(kind)) + " skipped: unknown unit '" + std::string(q.unit_key()) + "' (never guessed)";
            note(ref, why);
            if (kind == obs_kind::magnesium_total) f.magnesium.skipped.push_back(ref + ": unknown unit '" + std::string(q.unit_key()) + "' (never guessed)");
            else f.unavailable.push_back(ref + ": " + why);
            continue;
        }
        if (auto why = implausible_reason(kind, *converted, d)) {
            skip_result(obs_ref(o), kind, std::move(*why));
            continue;
        }
        if (kind == obs_kind::magnesium_total && !magnesium_comparator_classifies(*converted, q.comparator, d)) {
            skip_result(obs_ref(o), kind,
                        "'" + comparator_text(q.comparator) + format_number(*q.value, 4) + " " + std::string(q.unit_key()) +
                            "' says neither low nor normal (a bound on the wrong side of the thresholds): not counted");
            continue;
        }
        r.value = *converted;
        r.reported_value = *q.value;
        r.comparator = q.comparator;
        if (kind == obs_kind::magnesium_total) f.magnesium.result_times.push_back(r.time);
        auto& kept = newest[static_cast<std::size_t>(kind)];
        if (!kept || newer(r, *kept)) {
            r.reported_unit = q.unit.empty() ? q.code : q.unit;
            r.reference = obs_ref(o);
            kept = std::move(r);
        }
    }

    // ---- magnesium ----
    if (auto const& latest = newest_of(obs_kind::magnesium_total)) {
        auto& m = f.magnesium;
        m.latest = latest;
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
        auto const& r = newest_of(k);
        if (!r || r->age_hours > hours) return std::nullopt;
        return r;
    };
    f.potassium = current(obs_kind::potassium, d.coexisting_current_hours);
    f.calcium_total = current(obs_kind::calcium_total, d.coexisting_current_hours);
    f.calcium_ionized = current(obs_kind::calcium_ionized, d.coexisting_current_hours);
    f.qtc = current(obs_kind::qtc, d.qtc_current_hours);
    f.weight = current(obs_kind::body_weight, d.weight_max_age_days * 24);
    f.hypokalemia = f.potassium && compare_as_decimal(f.potassium->value, d.potassium_low_below) < 0;
    f.hypocalcemia = (f.calcium_total && compare_as_decimal(f.calcium_total->value, d.calcium_total_low_below) < 0) ||
                     (f.calcium_ionized && compare_as_decimal(f.calcium_ionized->value, d.calcium_ionized_low_below) < 0);

    // ---- conditions ----
    for (auto const& c : snapshot.conditions) {
        if (names_other_patient(c.subject, context.patient_id)) {
            note("Condition/" + c.id, other_patient_note);
            continue;
        }
        f.conditions.push_back(&c);
        if (!condition_counts(c, d)) continue;
        if (condition_in(c, *d.sets.ckd_stage5_or_dialysis) && !f.renal.ckd5) {
            f.renal.ckd5 = &c;
            f.renal.ckd5_label = condition_label(c);
        }
        if (condition_in(c, *d.sets.preeclampsia_eclampsia)) f.preeclampsia = true;
        if (condition_in(c, *d.sets.pregnancy) && !f.pregnant) {
            f.pregnant = true;
            f.pregnancy_evidence = condition_label(c);
        }
        bool const recent = condition_recent(c, f.now, d.symptom_onset_days);
        if (condition_in(c, *d.sets.asthma) && condition_recent(c, f.now, d.acute_asthma_onset_days)) f.acute_asthma = true;
        bool const va = condition_in(c, *d.sets.ventricular_arrhythmia);
        if (va || condition_in(c, *d.sets.torsades)) f.torsades_or_ventricular = true;
        bool const symptomatic_kind = va || condition_in(c, *d.sets.tetany) || condition_in(c, *d.sets.seizure) ||
                                      condition_in(c, *d.sets.prolonged_qt);
        if (symptomatic_kind) {
            if (recent) {
                f.symptoms.push_back({&c, condition_label(c), va});
                if (va) f.recent_torsades_or_ventricular = true;
                if (condition_in(c, *d.sets.torsades)) f.recent_torsades = true;
                note("Condition/" + c.id, "recent symptom: escalates hypomagnesemia to the severe path");
            } else {
                note("Condition/" + c.id, "long-standing or undated: does not escalate (onset/recorded outside the window)");
            }
        }
        if (condition_in(c, *d.sets.muscle_cramp) || condition_in(c, *d.sets.tremor) || condition_in(c, *d.sets.edema)) {
            f.supporting.push_back(condition_label(c));
        }
    }
    if (f.qtc && compare_as_decimal(f.qtc->value, d.qtc_symptomatic_ms) >= 0) {
        f.symptoms.push_back({nullptr, "QTc " + format_number(f.qtc->value, 0) + " ms", false});
        note(f.qtc->reference, "QTc >= " + format_number(d.qtc_symptomatic_ms, 0) + " ms: symptomatic");
    }
    f.symptomatic = !f.symptoms.empty();
    if (!f.pregnant && newest_pregnancy_status && pregnancy_status_pregnant) {
        f.pregnant = true;
        f.pregnancy_evidence = "pregnancy status \"pregnant\"";
    }

    // ---- renal function ----
    auto& rf = f.renal;
    auto renal_candidate = [&](obs_kind k, renal_source src, char const* what) {
        auto const& found = newest_of(k);
        if (!found) return;
        auto const& r = *found;
        if (r.age_hours > d.renal_max_age_days * 24) {
            note(r.reference, std::string(what) + " older than the renal window: not used");
            return;
        }
        double v = r.value;
        renal_estimate e{src, v, r.time, r.age_hours / 24, r.reference,
                         std::string(what) + " " + comparator_text(r.comparator) + format_measurement(r.reported_value, 3) + " " +
                             format_unit(r.reported_unit) + ", " + card_when(r, f.now)};
        rf.candidates.push_back(std::move(e));
    };
    renal_candidate(obs_kind::creatinine_clearance, renal_source::creatinine_clearance, "creatinine clearance");
    renal_candidate(obs_kind::egfr, renal_source::egfr, "eGFR");
    if (auto const& found = newest_of(obs_kind::creatinine)) {
        auto const& cr = *found;
        if (cr.age_hours > d.renal_max_age_days * 24) {
            rf.notes.push_back("creatinine of " + card_when(cr, f.now) + " is older than a year: not used");
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
            std::string inputs = "Cockcroft-Gault " + format_computed(crcl) + " mL/min from creatinine " + comparator_text(cr.comparator) +
                                 format_measurement(cr.reported_value, 3) + " " + cr.reported_unit +
                                 (value_set::lower(cr.reported_unit) == "mg/dl" ? std::string()
                                                                                 : " (= " + format_computed(cr.value) + " mg/dL)") +
                                 ", " + card_when(cr, f.now) + "; age " + std::to_string(*f.age_years) + " y, weight " +
                                 format_number(f.weight->value, 1) + " kg, ";
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

    // ---- incomplete data ----
    // Shown with the unavailable data on every card: a note means some evidence (e.g. a
    // wasting drug) may be missing from what the rules saw.
    for (auto const& data_note : context.data_notes) {
        note("data", "incomplete: " + data_note);
        f.unavailable.push_back(fill(d.text("data_incomplete"), {{"describes", data_note}}));
    }

    // ---- medications ----
    auto counted = [&](fhir::medication_order const& o) { return d.medication_counted.contains(o.status); };
    std::vector<std::string> context_refs;
    for (auto const& o : context.draft_orders) {
        if (names_other_patient(o.subject, context.patient_id)) {
            note(o.resource_type + "/" + o.id, other_patient_note);
            continue;
        }
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
        if (names_other_patient(o.subject, context.patient_id)) {
            note(ref, other_patient_note);
            continue;
        }
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
    // A counted order whose Medication is not in the data (or names no drug) cannot be
    // classified: said on the card rather than silently not counted.
    note_unidentified_medications(f, d, trace);
    for (auto const& e : f.exposures) {
        if (e.classes == 0) continue;
        char hex[16];
        auto const hex_end = std::to_chars(hex, hex + sizeof hex, e.classes, 16).ptr;  // lower case, as %x
        note(e.reference, e.name + ": drug classes 0x" + std::string(hex, hex_end) +
                              (e.trigger ? " (triggering order)" : e.from_context ? " (draft, context)" : ""));
    }
    return f;
}

}  // namespace cds::rules
