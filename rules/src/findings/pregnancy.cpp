#include "findings/parts.hpp"

namespace cds::rules::findings {

void read_pregnancy_condition(patient_findings& f,
                              fhir::condition const& c,
                              rule_set_data const& d) {
    if (condition_in(c, *d.sets.preeclampsia_eclampsia)) f.preeclampsia = true;
    if (condition_in(c, *d.sets.pregnancy) && !f.pregnant) {
        f.pregnant = true;
        f.pregnancy_evidence = condition_label(c, d);
    }
}

// A recent pregnancy status observation answering "pregnant" counts when no Condition says so.
void apply_pregnancy_status(patient_findings& f,
                            newest_results const& newest,
                            rule_set_data const& d) {
    if (f.pregnant || !newest.pregnancy_status || !newest.pregnancy_status_pregnant) return;
    f.pregnant = true;
    f.pregnancy_evidence = d.text("pregnancy_status_evidence");
}

}  // namespace cds::rules::findings
