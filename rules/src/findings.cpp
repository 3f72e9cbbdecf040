#include "findings.hpp"

#include "findings/parts.hpp"

namespace cds::rules {

namespace {

void compile_named_sets(rule_set_data& d) {
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
    n.magnesium_total = &d.vs("magnesium_total");
    n.creatinine = &d.vs("creatinine");
    n.digoxin_level = &d.vs("digoxin_level");
    n.dosage_text_amounts = &d.vs("dosage_text_amounts");
}

}  // namespace

void compile_lookups(rule_set_data& d) {
    findings::compile_observation_kinds(d);
    findings::compile_drug_classes(d);
    compile_named_sets(d);
}

// The order of the parts is the order of the trace; later parts read what earlier ones found
// (renal function needs age and weight, symptoms the QTc).
patient_findings build_findings(fhir::patient_snapshot const& snapshot,
                                hook_context const& context,
                                rule_set_data const& d,
                                trace_recorder trace) {
    using namespace findings;
    patient_findings f;
    f.now = context.now;
    f.patient_id = context.patient_id;
    read_demographics(f, snapshot, context, trace);
    newest_results const newest = read_observations(f, snapshot, context, d, trace);
    assess_magnesium(f, newest, d, trace);
    read_coexisting(f, newest, d);
    read_conditions(f, snapshot, context, d, trace);
    add_qtc_symptom(f, d, trace);
    apply_pregnancy_status(f, newest, d);
    assess_renal(f, newest, d, trace);
    note_unavailable_data(f, context, d, trace);
    read_exposures(f, snapshot, context, d, trace);
    read_level_orders(f, snapshot, context, d, trace);
    return f;
}

}  // namespace cds::rules
