#include "common/decimal.hpp"
#include "common/text.hpp"
#include "findings/parts.hpp"
#include "trace/record.hpp"

namespace cds::rules::findings {

// Tetany, seizure, ventricular arrhythmia and prolonged QT escalate hypomagnesemia to the
// severe path only when recent (CLINICAL-BASIS.md §7 "Symptomatic"); cramps, tremor and edema
// support but never escalate.
void read_symptom_condition(patient_findings& f,
                            fhir::condition const& c,
                            rule_set_data const& d,
                            trace_recorder trace) {
    bool const va = condition_in(c, *d.sets.ventricular_arrhythmia);
    bool const symptomatic_kind = va || condition_in(c, *d.sets.tetany) ||
                                  condition_in(c, *d.sets.seizure) ||
                                  condition_in(c, *d.sets.prolonged_qt);
    if (symptomatic_kind) {
        if (condition_recent(c, f.now, d.symptom_onset_days)) {
            f.symptoms.push_back({&c, condition_label(c, d), va});
            if (va) f.recent_torsades_or_ventricular = true;
            if (condition_in(c, *d.sets.torsades)) f.recent_torsades = true;
            if (trace)
                trace::about_resource(
                    trace, trace_section::condition, trace_decision::noted, trace_reason::none,
                    "Condition", c.id,
                    "recent symptom: escalates hypomagnesemia to the severe path");
        } else if (trace) {
            trace::about_resource(
                trace, trace_section::condition, trace_decision::noted, trace_reason::too_old,
                "Condition", c.id,
                "long-standing or undated: does not escalate (onset/recorded outside the window)");
        }
    }
    if (condition_in(c, *d.sets.muscle_cramp) || condition_in(c, *d.sets.tremor) ||
        condition_in(c, *d.sets.edema)) {
        f.supporting.push_back(condition_label(c, d));
    }
}

// A current QTc at or above the threshold is a symptom too; called after every Condition.
void add_qtc_symptom(patient_findings& f, rule_set_data const& d, trace_recorder trace) {
    if (f.qtc && compare_as_decimal(f.qtc->value, d.qtc_symptomatic_ms) >= 0) {
        f.symptoms.push_back({nullptr,
                              fill(d.text("qtc_symptom"), {{"ms", format_number(f.qtc->value, 0)}}),
                              false});
    }
    f.symptomatic = !f.symptoms.empty();
    if (trace && f.qtc && compare_as_decimal(f.qtc->value, d.qtc_symptomatic_ms) >= 0) {
        auto const [type, id] = trace::split_reference(f.qtc->reference);
        trace::about_resource(
            trace, trace_section::condition, trace_decision::noted, trace_reason::none, type, id,
            "QTc >= " + format_number(d.qtc_symptomatic_ms, 0) + " ms: symptomatic")
            .compared.push_back(
                trace::compare("QTc", f.qtc->value, ">=", d.qtc_symptomatic_ms, "ms", true));
    }
}

}  // namespace cds::rules::findings
