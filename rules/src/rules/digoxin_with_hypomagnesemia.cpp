// Rule: digoxin-with-hypomagnesemia (order-select, order-sign)        CLINICAL-BASIS.md §4, §7
// When digoxin is ordered while hypomagnesemia is current,
// Then warn (critical beside a severe or symptomatic deficiency): low magnesium raises the
// risk of digoxin toxicity.

#include "cards.hpp"
#include "common/text.hpp"

namespace cds::rules {

std::optional<card_draft> rule_digoxin_with_hypomagnesemia(rule_context const& rc) {
    auto const& f = rc.f;
    if (!f.magnesium.current_low()) return std::nullopt;
    auto const orders = triggering(rc, dc_digoxin);
    if (orders.empty()) return std::nullopt;
    repletion_plan const& plan = rc.repletion();
    card_draft c;
    c.rule_id = "digoxin-with-hypomagnesemia";
    // Beside a severe (or symptomatic) deficiency the card carries that deficiency's
    // indicator (CLINICAL-BASIS.md §5, §7: one problem, one indicator).
    c.level = plan.severe_path ? indicator::critical : indicator::warning;
    c.sort_key = orders.front()->reference;
    c.references = evidence_references(rc, orders);
    c.summary = fill(rc.d.rule(c.rule_id).summary, {{"mg", mg_summary_text(rc)},
                                                    {"severity", severity_text(rc)},
                                                    {"drug", drug_summary_name(orders)}});
    c.detail.push_back("Digoxin ordered: " + drugs_text(orders) + ". " +
                       rc.d.text("digoxin_advice"));
    c.detail.push_back(mg_evidence(rc));
    c.detail.push_back(mg_thresholds(rc));
    for (auto& s : coexisting_text(rc)) c.detail.push_back(std::move(s));
    c.detail.push_back(renal_text(rc));
    for (auto const& n : plan.notes) c.detail.push_back(n);
    c.suggestions.push_back(digoxin_level_suggestion(rc));
    c.wants = shared_suggestion::repletion;
    rc.note(c.rule_id, orders.front()->reference,
            "fires: digoxin ordered with current hypomagnesemia");
    return c;
}

}  // namespace cds::rules
