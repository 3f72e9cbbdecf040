// Rule: potassium-with-hypomagnesemia (order-select, order-sign)      CLINICAL-BASIS.md §4, §7
// When potassium replacement is ordered while hypomagnesemia is current,
// Then warn (critical beside a severe or symptomatic deficiency): hypokalemia may not
// correct until magnesium is repleted — replete magnesium alongside potassium (don't delay
// potassium), with repletion suggestions.

#include "cards.hpp"
#include "common/text.hpp"

namespace cds::rules {

std::optional<card_draft> rule_potassium_with_hypomagnesemia(rule_context const& rc) {
    auto const& f = rc.f;
    if (!f.magnesium.current_low()) return std::nullopt;
    auto const orders = triggering(rc, dc_potassium);
    if (orders.empty()) return std::nullopt;
    repletion_plan const& plan = rc.repletion();
    card_draft c;
    c.rule_id = "potassium-with-hypomagnesemia";
    // Beside a severe (or symptomatic) deficiency the card carries that deficiency's
    // indicator (CLINICAL-BASIS.md §5, §7: one problem, one indicator).
    c.level = plan.severe_path ? indicator::critical : indicator::warning;
    c.sort_key = orders.front()->reference;
    c.references = evidence_references(rc, orders);
    c.summary = fill(rc.d.rule(c.rule_id).summary, {{"mg", mg_summary_text(rc)},
                                                    {"severity", severity_text(rc)},
                                                    {"drug", drug_summary_name(orders)}});
    c.detail.push_back("Potassium replacement ordered: " + drugs_text(orders) + ". " +
                       rc.d.text("potassium_advice"));
    c.detail.push_back(mg_evidence(rc));
    c.detail.push_back(mg_thresholds(rc));
    for (auto& s : coexisting_text(rc)) c.detail.push_back(std::move(s));
    c.detail.push_back(renal_text(rc));
    for (auto const& n : plan.notes) c.detail.push_back(n);
    c.wants = shared_suggestion::repletion;
    return c;
}

}  // namespace cds::rules
