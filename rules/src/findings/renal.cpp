#include "common/decimal.hpp"
#include "common/format.hpp"
#include "common/text.hpp"
#include "findings/parts.hpp"

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

// A measured clearance or eGFR within the renal window.
void add_measured_candidate(patient_findings& f,
                            newest_results const& newest,
                            obs_kind k,
                            renal_source src,
                            char const* what,
                            rule_set_data const& d,
                            std::vector<trace_entry>& trace) {
    auto const& found = newest.of(k);
    if (!found) return;
    auto const& r = *found;
    if (r.age_hours > d.renal_max_age_days * 24) {
        note(trace, r.reference, std::string(what) + " older than the renal window: not used");
        return;
    }
    f.renal.candidates.push_back({src, r.value, r.time, r.age_hours / 24, r.reference,
                                  std::string(what) + " " + comparator_text(r.comparator) +
                                      format_measurement(r.reported_value, 3) + " " +
                                      format_unit(r.reported_unit) + ", " + card_when(r, f.now)});
}

// The inputs of a Cockcroft-Gault estimate in plain words, for the card.
std::string cockcroft_gault_inputs(patient_findings const& f,
                                   lab_result const& cr,
                                   double crcl,
                                   rule_set_data const& d) {
    std::string inputs = "Cockcroft-Gault " + format_computed(crcl) + " mL/min from creatinine " +
                         comparator_text(cr.comparator) + format_measurement(cr.reported_value, 3) +
                         " " + cr.reported_unit +
                         (value_set::lower(cr.reported_unit) == "mg/dl"
                              ? std::string()
                              : " (= " + format_computed(cr.value) + " mg/dL)") +
                         ", " + card_when(cr, f.now) + "; age " + std::to_string(*f.age_years) +
                         " y, weight " + format_number(f.weight->value, 1) + " kg, ";
    if (f.gender == fhir::administrative_gender::female)
        inputs += "female × " + format_number(d.cg_female_factor);
    else if (f.gender == fhir::administrative_gender::male)
        inputs += "male";
    else
        inputs += fill(d.text("unknown_sex"), {{"factor", format_number(d.cg_unknown_sex_factor)}});
    return inputs;
}

// Cockcroft-Gault from the newest creatinine, age, weight and sex; or a note saying why not.
void add_cockcroft_gault_candidate(patient_findings& f,
                                   newest_results const& newest,
                                   rule_set_data const& d) {
    auto const& found = newest.of(obs_kind::creatinine);
    if (!found) return;
    auto& rf = f.renal;
    auto const& cr = *found;
    if (cr.age_hours > d.renal_max_age_days * 24) {
        rf.notes.push_back("creatinine of " + card_when(cr, f.now) +
                           " is older than a year: not used");
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
        rf.candidates.push_back({renal_source::cockcroft_gault, crcl, cr.time, cr.age_hours / 24,
                                 cr.reference, cockcroft_gault_inputs(f, cr, crcl, d)});
    }
}

}  // namespace

void read_ckd5_condition(patient_findings& f, fhir::condition const& c, rule_set_data const& d) {
    if (condition_in(c, *d.sets.ckd_stage5_or_dialysis) && !f.renal.ckd5) {
        f.renal.ckd5 = &c;
        f.renal.ckd5_label = condition_label(c);
    }
}

// The lowest estimate within the window sets the band; CKD stage 5 or dialysis overrides it
// (CLINICAL-BASIS.md §1).
void assess_renal(patient_findings& f,
                  newest_results const& newest,
                  rule_set_data const& d,
                  std::vector<trace_entry>& trace) {
    auto& rf = f.renal;
    add_measured_candidate(f, newest, obs_kind::creatinine_clearance,
                           renal_source::creatinine_clearance, "creatinine clearance", d, trace);
    add_measured_candidate(f, newest, obs_kind::egfr, renal_source::egfr, "eGFR", d, trace);
    add_cockcroft_gault_candidate(f, newest, d);
    for (auto const& c : rf.candidates) {
        if (!rf.used || c.ml_min < rf.used->ml_min) rf.used = c;
    }
    if (rf.used) rf.band = band_for(rf.used->ml_min, d);
    if (rf.ckd5) rf.band = renal_band::contraindicated;
    note(trace, "renal_function",
         "band " + d.band_label[static_cast<std::size_t>(rf.band)] +
             (rf.used ? " from " + format_number(rf.used->ml_min, 1) + " mL/min" : std::string()) +
             (rf.ckd5 ? " (CKD stage 5 / dialysis condition)" : ""));
}

}  // namespace findings
}  // namespace cds::rules
