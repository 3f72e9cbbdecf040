// Rule: digoxin-with-hypomagnesemia (order-select, order-sign)        CLINICAL-BASIS.md §4, §5, §7
// When digoxin is ordered while hypomagnesemia is current,
// Then it is part of the one card of that hypomagnesemia (warning; critical beside a severe
// or symptomatic deficiency): low magnesium raises the risk of digoxin toxicity.

#include "cards.hpp"
#include "common/text.hpp"
#include "trace/conditions.hpp"
#include "trace/record.hpp"

namespace cds::rules {

std::optional<card_draft> rule_digoxin_with_hypomagnesemia(rule_context const& rc) {
    if (!rc.f.magnesium.current_low()) return std::nullopt;
    auto const orders = triggering(rc, dc_digoxin);
    if (orders.empty()) return std::nullopt;
    card_draft c;
    c.rule_id = "digoxin-with-hypomagnesemia";
    c.part_of = problem::current_hypomagnesemia;
    c.drugs = orders;
    c.sort_key = orders.front()->reference;
    for (auto const* e : orders)
        c.detail.push_back(
            fill(rc.d.text("implications.digoxin"), {{"drug", drug_summary_name(rc, {e})}}));
    // Besides the repletion, a serum digoxin level (CLINICAL-BASIS.md §3.4), with whichever
    // repletion is chosen, unless one is ordered already (§3.3).
    if (auto const* o = level_ordered_now(rc.f, level_kind::digoxin, rc.d))
        rc.note(c.rule_id, o->reference, "digoxin level already ordered: none suggested");
    else
        c.companions.push_back(digoxin_level_suggestion(rc));
    return c;
}

// The conditions the explain trace shows for this rule: what it compares, and with what.
std::vector<trace_comparison> rule_digoxin_with_hypomagnesemia_conditions(rule_context const& rc) {
    return trace::low_magnesium_with(rc, "digoxin ordered", dc_digoxin);
}

}  // namespace cds::rules
