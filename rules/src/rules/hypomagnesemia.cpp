// Rule: hypomagnesemia (patient-view)                       CLINICAL-BASIS.md §2, §3, §4
// When a current serum magnesium (at most 7 days old) is below 1.8 mg/dL,
// Then warn (critical when below 1.2 mg/dL or symptomatic), show the evidence, the
// contributing drugs, coexisting hypokalemia/hypocalcemia and the renal band, and suggest
// repletion per §3 (IV for severe or symptomatic, oral otherwise, adjusted to renal
// function; none for patients under 18 or of unknown age; an info card about the recheck
// when oral repletion is already active, or, under 18 or of unknown age, any repletion of
// the route the severity calls for).

#include "cards.hpp"
#include "common/text.hpp"

namespace cds::rules {

std::optional<card_draft> rule_hypomagnesemia(rule_context const& rc) {
    auto const& f = rc.f;
    if (!f.magnesium.current_low()) return std::nullopt;
    repletion_plan const& plan = rc.repletion();
    card_draft c;
    c.rule_id = "hypomagnesemia";
    c.level = plan.severe_path ? indicator::critical : indicator::warning;
    if (plan.downgrade_to_info) c.level = indicator::info;
    c.summary = fill(
        rc.d.rule(c.rule_id).summary,
        {{"mg", mg_summary_text(rc)}, {"severity", severity_text(rc)}, {"action", plan.action}});
    auto const drugs = contributing_drugs(rc);
    c.references = evidence_references(rc, drugs);
    c.detail.push_back(mg_evidence(rc));
    c.detail.push_back(mg_thresholds(rc));
    if (!drugs.empty())
        c.detail.push_back("Contributing magnesium-wasting drugs: " + drugs_text(drugs) + ".");
    for (auto& s : coexisting_text(rc)) c.detail.push_back(std::move(s));
    c.detail.push_back(renal_text(rc));
    for (auto const& n : plan.notes) c.detail.push_back(n);
    c.wants = shared_suggestion::repletion;
    return c;
}

}  // namespace cds::rules
