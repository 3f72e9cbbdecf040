#include "common/decimal.hpp"
#include "common/format.hpp"
#include "common/text.hpp"
#include "findings/parts.hpp"
#include "trace/record.hpp"

namespace cds::rules {

renal_band band_for(double ml_min, rule_set_data const& d) {
    if (compare_as_decimal(ml_min, d.band_min[0]) >= 0) return renal_band::normal;
    if (compare_as_decimal(ml_min, d.band_min[1]) >= 0) return renal_band::impaired;
    if (compare_as_decimal(ml_min, d.band_min[2]) >= 0) return renal_band::severely_impaired;
    return renal_band::contraindicated;
}

double cockcroft_gault(double age_years,
                       double weight_kg,
                       double creatinine_mg_dl,
                       double sex_factor,
                       rule_set_data const& d) {
    return (d.cg_age_offset - age_years) * weight_kg / (d.cg_denominator * creatinine_mg_dl) *
           sex_factor;
}

namespace findings {

namespace {

// A measured clearance or eGFR within the renal window; `inputs_text` words it for the card.
void add_measured_candidate(patient_findings& f,
                            newest_results const& newest,
                            obs_kind k,
                            renal_source src,
                            char const* what,
                            std::string_view inputs_text,
                            rule_set_data const& d,
                            trace_recorder trace) {
    auto const& found = newest.of(k);
    if (!found) return;
    auto const& r = *found;
    bool const too_old = r.age_hours > d.renal_max_age_days * 24;
    if (trace) {
        auto const [type, id] = trace::split_reference(r.reference);
        auto& e = trace::about_resource(
            trace, trace_section::renal,
            too_old ? trace_decision::skipped : trace_decision::counted,
            too_old ? trace_reason::too_old : trace_reason::none, type, id,
            std::string(what) + " " + format_number(r.value, 1) + " mL/min" +
                (too_old ? ": older than the renal window, not used" : ": a renal estimate"));
        e.values = {trace::text("source", what), trace::number("value", r.value, "mL/min"),
                    trace::number("ageDays", r.age_hours / 24, "d")};
        e.compared.push_back(trace::compare("result age within the renal window", r.age_hours / 24,
                                            "<=", d.renal_max_age_days, "d", !too_old));
    }
    if (too_old) return;
    f.renal.candidates.push_back(
        {src, r.value, r.time, r.age_hours / 24, r.reference,
         fill(d.text(inputs_text),
              {{"value", comparator_text(r.comparator) + format_measurement(r.reported_value, 3) +
                             " " + format_unit(r.reported_unit)},
               {"when", card_when(r, f.now, d)}})});
}

// The weight as reported, with its value in kg when it was reported in another unit (CLINICAL-BASIS
// §5: values with the unit as reported).
std::string weight_as_reported(lab_result const& weight) {
    std::string const kg = format_number(weight.value, 1) + " kg";
    if (weight.reported_unit.empty() || value_set::lower(weight.reported_unit) == "kg") return kg;
    return format_measurement(weight.reported_value, 1) + " " + format_unit(weight.reported_unit) +
           " (" + kg + ")";
}

// The inputs of a Cockcroft-Gault estimate in plain words, for the card.
std::string cockcroft_gault_inputs(patient_findings const& f,
                                   lab_result const& cr,
                                   double crcl,
                                   rule_set_data const& d) {
    std::string creatinine = comparator_text(cr.comparator) +
                             format_measurement(cr.reported_value, 3) + " " +
                             format_unit(cr.reported_unit);
    if (value_set::lower(cr.reported_unit) != "mg/dl")
        creatinine += " (= " + format_computed(cr.value) + " mg/dL)";
    std::string sex;
    if (f.gender == fhir::administrative_gender::female)
        sex = fill(d.text("renal_inputs.female"), {{"factor", format_number(d.cg_female_factor)}});
    else if (f.gender == fhir::administrative_gender::male)
        sex = d.text("renal_inputs.male");
    else
        sex = fill(d.text("unknown_sex"), {{"factor", format_number(d.cg_unknown_sex_factor)}});
    return fill(d.text("renal_inputs.cockcroft_gault"), {{"estimate", format_computed(crcl)},
                                                         {"creatinine", std::move(creatinine)},
                                                         {"when", card_when(cr, f.now, d)},
                                                         {"age", std::to_string(*f.age_years)},
                                                         {"weight", weight_as_reported(*f.weight)},
                                                         {"sex", std::move(sex)}});
}

char const* gender_name(fhir::administrative_gender g) {
    switch (g) {
        case fhir::administrative_gender::male:
            return "male";
        case fhir::administrative_gender::female:
            return "female";
        case fhir::administrative_gender::other:
            return "other";
        case fhir::administrative_gender::unknown:
            break;
    }
    return "unknown";
}

// The Cockcroft-Gault formula with the configured constants, in words for the trace.
std::string cockcroft_gault_formula(rule_set_data const& d) {
    std::string formula = "(";
    formula += format_number(d.cg_age_offset);
    formula += " - age) x weight / (";
    formula += format_number(d.cg_denominator);
    formula += " x creatinine) x sex factor";
    return formula;
}

// The trace of a Cockcroft-Gault estimate: computed with its inputs and sex factor, or why not.
void trace_cockcroft_gault(patient_findings const& f,
                           lab_result const& cr,
                           std::optional<double> crcl,
                           std::optional<double> sex_factor,
                           std::string const& why_not,
                           rule_set_data const& d,
                           trace_recorder trace) {
    auto& e = trace::about_value(
        trace, trace_section::renal, crcl ? trace_decision::computed : trace_decision::not_computed,
        "cockcroft_gault",
        crcl ? "Cockcroft-Gault " + format_computed(*crcl) + " mL/min: a renal estimate"
             : "Cockcroft-Gault not computed: " + why_not);
    if (!crcl)
        e.reason = cr.age_hours > d.renal_max_age_days * 24 ? trace_reason::too_old
                                                            : trace_reason::missing_input;
    e.values.push_back(trace::text("formula", cockcroft_gault_formula(d)));
    e.values.push_back(trace::text("creatinineResource", cr.reference));
    e.values.push_back(trace::number("creatinine", cr.value, "mg/dL"));
    e.values.push_back(trace::number("creatinineAgeDays", cr.age_hours / 24, "d"));
    if (f.age_years) e.values.push_back(trace::number("age", *f.age_years, "years"));
    if (f.weight) {
        e.values.push_back(trace::text("weightResource", f.weight->reference));
        e.values.push_back(trace::number("weight", f.weight->value, "kg"));
    }
    e.values.push_back(trace::text("sex", gender_name(f.gender)));
    if (crcl) e.values.push_back(trace::number("estimate", *crcl, "mL/min"));
    if (sex_factor) e.values.push_back(trace::number("sexFactor", *sex_factor));
}

enum class cockcroft_gault_gap { none, creatinine_too_old, no_age, no_weight, out_of_range };

// What keeps Cockcroft-Gault from being computed from this creatinine, age and weight.
cockcroft_gault_gap cockcroft_gault_missing(patient_findings const& f,
                                            lab_result const& cr,
                                            rule_set_data const& d) {
    if (cr.age_hours > d.renal_max_age_days * 24) return cockcroft_gault_gap::creatinine_too_old;
    if (!f.age_years) return cockcroft_gault_gap::no_age;
    if (!f.weight) return cockcroft_gault_gap::no_weight;
    if (cr.value <= 0 || *f.age_years >= d.cg_age_offset) return cockcroft_gault_gap::out_of_range;
    return cockcroft_gault_gap::none;
}

// The gap in words, for the trace.
std::string cockcroft_gault_gap_text(cockcroft_gault_gap gap,
                                     patient_findings const& f,
                                     lab_result const& cr,
                                     rule_set_data const& d) {
    switch (gap) {
        case cockcroft_gault_gap::creatinine_too_old:
            return "creatinine of " + card_when(cr, f.now, d) + " is older than a year: not used";
        case cockcroft_gault_gap::no_age:
            return "Cockcroft-Gault not computed: age unknown (no birthDate)";
        case cockcroft_gault_gap::no_weight:
            return "Cockcroft-Gault not computed: no body weight within a year";
        case cockcroft_gault_gap::out_of_range:
            return "Cockcroft-Gault not computed: inputs out of range";
        case cockcroft_gault_gap::none:
            break;
    }
    return {};
}

// Cockcroft-Gault from the newest creatinine, age, weight and sex; or a note saying why not.
void add_cockcroft_gault_candidate(patient_findings& f,
                                   newest_results const& newest,
                                   rule_set_data const& d,
                                   trace_recorder trace) {
    auto const& found = newest.of(obs_kind::creatinine);
    if (!found) {
        if (trace)
            trace::about_value(trace, trace_section::renal, trace_decision::not_computed,
                               "cockcroft_gault",
                               "Cockcroft-Gault not computed: no counted creatinine")
                .reason = trace_reason::missing_input;
        return;
    }
    auto& rf = f.renal;
    auto const& cr = *found;
    if (auto const gap = cockcroft_gault_missing(f, cr, d); gap != cockcroft_gault_gap::none) {
        if (trace)
            trace_cockcroft_gault(f, cr, std::nullopt, std::nullopt,
                                  cockcroft_gault_gap_text(gap, f, cr, d), d, trace);
        return;
    }
    bool const female = f.gender == fhir::administrative_gender::female;
    bool const male = f.gender == fhir::administrative_gender::male;
    double const factor = female ? d.cg_female_factor : male ? 1.0 : d.cg_unknown_sex_factor;
    double const crcl = cockcroft_gault(*f.age_years, f.weight->value, cr.value, factor, d);
    if (trace) trace_cockcroft_gault(f, cr, crcl, factor, {}, d, trace);
    rf.candidates.push_back({renal_source::cockcroft_gault, crcl, cr.time, cr.age_hours / 24,
                             cr.reference, cockcroft_gault_inputs(f, cr, crcl, d)});
}

char const* source_name(renal_source s) {
    switch (s) {
        case renal_source::creatinine_clearance:
            return "creatinine clearance";
        case renal_source::egfr:
            return "eGFR";
        case renal_source::cockcroft_gault:
            break;
    }
    return "Cockcroft-Gault";
}

// The band chosen: from which estimate (the lowest), its thresholds, and the CKD 5 override.
void trace_renal_band(renal_function const& rf, rule_set_data const& d, trace_recorder trace) {
    std::string const band = d.band_label[static_cast<std::size_t>(rf.band)];
    std::string message = "band " + band;
    if (rf.used)
        message += " from " + std::string(source_name(rf.used->source)) + " " +
                   format_number(rf.used->ml_min, 1) + " mL/min (the lowest of " +
                   std::to_string(rf.candidates.size()) + " estimate" +
                   (rf.candidates.size() == 1 ? "" : "s") + ")";
    else
        message += ": no renal estimate within " + format_number(d.renal_max_age_days) + " days";
    if (rf.ckd5) message += "; CKD stage 5 / dialysis Condition: contraindicated band";
    auto& e = trace::about_value(trace, trace_section::renal, trace_decision::chosen,
                                 "renal_function", std::move(message));
    e.values.push_back(trace::text("band", band));
    if (rf.used) {
        e.values.push_back(trace::text("source", source_name(rf.used->source)));
        e.values.push_back(trace::number("estimate", rf.used->ml_min, "mL/min"));
        e.values.push_back(trace::text("estimateResource", rf.used->reference));
    }
    if (rf.ckd5) e.values.push_back(trace::text("ckd5Condition", "Condition/" + rf.ckd5->id));
    if (!rf.used) return;
    static constexpr char const* band_names[] = {"normal", "impaired", "severely impaired"};
    for (std::size_t i = 0; i < 3; ++i) {
        e.compared.push_back(
            trace::compare(std::string("estimate at or above the ") + band_names[i] + " band",
                           rf.used->ml_min, ">=", d.band_min[i], "mL/min",
                           compare_as_decimal(rf.used->ml_min, d.band_min[i]) >= 0));
    }
}

}  // namespace

void read_ckd5_condition(patient_findings& f, fhir::condition const& c, rule_set_data const& d) {
    if (condition_in(c, *d.sets.ckd_stage5_or_dialysis) && !f.renal.ckd5) {
        f.renal.ckd5 = &c;
        f.renal.ckd5_label = condition_label(c, d);
    }
}

// The lowest estimate within the window sets the band; CKD stage 5 or dialysis overrides it
// (CLINICAL-BASIS.md §1).
void assess_renal(patient_findings& f,
                  newest_results const& newest,
                  rule_set_data const& d,
                  trace_recorder trace) {
    auto& rf = f.renal;
    add_measured_candidate(f, newest, obs_kind::creatinine_clearance,
                           renal_source::creatinine_clearance, "creatinine clearance",
                           "renal_inputs.clearance", d, trace);
    add_measured_candidate(f, newest, obs_kind::egfr, renal_source::egfr, "eGFR",
                           "renal_inputs.egfr", d, trace);
    add_cockcroft_gault_candidate(f, newest, d, trace);
    for (auto const& c : rf.candidates) {
        if (!rf.used || c.ml_min < rf.used->ml_min) rf.used = c;
    }
    if (rf.used) rf.band = band_for(rf.used->ml_min, d);
    if (rf.ckd5) rf.band = renal_band::contraindicated;
    if (trace) trace_renal_band(rf, d, trace);
}

}  // namespace findings
}  // namespace cds::rules
