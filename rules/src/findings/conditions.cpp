#include "common/text.hpp"
#include "findings/parts.hpp"
#include "trace/record.hpp"

namespace cds::rules::findings {

bool condition_counts(fhir::condition const& c, rule_set_data const& d) {
    if (c.abated) return false;
    if (!c.verification_status.empty() &&
        d.condition_verification_excluded.contains(c.verification_status))
        return false;
    // clinicalStatus may be absent in older data; absent is read as active.
    return c.clinical_status.empty() || d.condition_active.contains(c.clinical_status);
}

bool condition_in(fhir::condition const& c, value_set const& vs) {
    return vs.matches_code(c.code) || vs.matches_text(concept_words(c.code));
}

// A Condition's date is its onset; recordedDate only when no onset is given (CLINICAL-BASIS.md
// §7 "Symptomatic": epilepsy with onset years ago, recorded yesterday, is not recent). An
// onset given without a date (onsetAge, onsetString) leaves the condition undated.
bool condition_recent(fhir::condition const& c, instant now, double days) {
    auto const& date = c.onset_given ? c.onset : c.recorded_date;
    if (!date) return false;
    return hours_between(date->start, now) <= days * 24;  // a future date is within too
}

std::string condition_label(fhir::condition const& c, rule_set_data const& d) {
    return concept_name(c.code, d.text("unnamed_condition"));  // no FHIR ids on a card (§5)
}

// Acute asthma and an active torsades or ventricular arrhythmia, whatever its onset, exempt
// magnesium orders (CLINICAL-BASIS.md §7 Exemptions).
void read_exemption_condition(patient_findings& f,
                              fhir::condition const& c,
                              rule_set_data const& d) {
    if (condition_in(c, *d.sets.asthma) && condition_recent(c, f.now, d.acute_asthma_onset_days))
        f.acute_asthma = true;
    if (condition_in(c, *d.sets.ventricular_arrhythmia) || condition_in(c, *d.sets.torsades)) {
        f.torsades_or_ventricular = true;
    }
}

namespace {

// Every Condition of the patient: counted (active, not refuted or entered in error) or not;
// one that is not counted may still be named by an order's reasonReference.
void trace_condition(fhir::condition const& c,
                     bool counts,
                     rule_set_data const& d,
                     trace_recorder trace) {
    if (!trace) return;
    std::string const label = condition_label(c, d);
    auto& e = trace::about_resource(
        trace, trace_section::condition, counts ? trace_decision::counted : trace_decision::skipped,
        counts ? trace_reason::none : trace_reason::status, "Condition", c.id,
        counts ? label + ": active" : label + ": not active (abated, refuted or entered in error)");
    e.values.push_back(trace::text("condition", label));
    if (!c.clinical_status.empty())
        e.values.push_back(trace::text("clinicalStatus", c.clinical_status));
    if (!c.verification_status.empty())
        e.values.push_back(trace::text("verificationStatus", c.verification_status));
}

}  // namespace

void read_conditions(patient_findings& f,
                     fhir::patient_snapshot const& snapshot,
                     hook_context const& context,
                     rule_set_data const& d,
                     trace_recorder trace) {
    for (auto const& c : snapshot.conditions) {
        if (names_other_patient(c.subject, context.patient_id)) {
            if (trace)
                trace::about_resource(trace, trace_section::condition, trace_decision::skipped,
                                      trace_reason::other_patient, "Condition", c.id,
                                      other_patient_note);
            continue;
        }
        f.conditions.push_back(&c);
        if (!condition_counts(c, d)) {
            trace_condition(c, false, d, trace);
            continue;
        }
        trace_condition(c, true, d, trace);
        read_ckd5_condition(f, c, d);
        read_pregnancy_condition(f, c, d);
        read_exemption_condition(f, c, d);
        read_symptom_condition(f, c, d, trace);
    }
}

}  // namespace cds::rules::findings
