// Rule: wasting-drug-with-hypomagnesemia (order-select, order-sign)   CLINICAL-BASIS.md §4
// When a magnesium-wasting drug (loop or thiazide diuretic, PPI, other) is ordered while
// hypomagnesemia is current,
// Then warn (critical if severe or symptomatic) with repletion suggestions; for a PPI also
// offer, as a separate non-recommended suggestion, to remove the draft PPI and start
// famotidine dosed by renal band (only if the PPI's indication allows).

#include "cards.hpp"
#include "common/text.hpp"

namespace cds::rules {

std::optional<card_draft> rule_wasting_drug_with_hypomagnesemia(rule_context const& rc) {
    auto const& f = rc.f;
    if (!f.magnesium.current_low()) return std::nullopt;
    auto const drugs = triggering(rc, dc_wasting);
    if (drugs.empty()) return std::nullopt;
    repletion_plan const& plan = rc.repletion();
    card_draft c;
    c.rule_id = "wasting-drug-with-hypomagnesemia";
    c.level = plan.severe_path ? indicator::critical : indicator::warning;
    c.sort_key = drugs.front()->reference;
    c.references = evidence_references(rc, drugs);
    c.summary = fill(rc.d.rule(c.rule_id).summary, {{"drug", drug_summary_name(drugs)},
                                                    {"mg", mg_summary_text(rc)},
                                                    {"severity", severity_text(rc)},
                                                    {"action", plan.action}});
    c.detail.push_back("Magnesium-wasting drug ordered: " + drugs_text(drugs) + ".");
    c.detail.push_back(mg_evidence(rc));
    c.detail.push_back(mg_thresholds(rc));
    for (auto& s : coexisting_text(rc)) c.detail.push_back(std::move(s));
    c.detail.push_back(renal_text(rc));
    for (auto const& n : plan.notes) c.detail.push_back(n);
    // The famotidine doses are adult doses too (CLINICAL-BASIS.md §3: under 18 or unknown
    // age, no dose is suggested).
    bool const adult = f.age_years && *f.age_years >= rc.d.adult_age_years;
    for (auto const* e : drugs) {
        if (!e->is(dc_ppi) || !e->from_context || !adult) continue;
        c.suggestions.push_back(famotidine_switch(rc, *e));
        c.detail.push_back(
            "Proton-pump inhibitors lower magnesium with long-term use (FDA 2011). " +
            rc.d.text("famotidine_note"));
    }
    c.wants = shared_suggestion::repletion;
    return c;
}

}  // namespace cds::rules
