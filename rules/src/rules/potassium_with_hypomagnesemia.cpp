// Rule: potassium-with-hypomagnesemia (order-select, order-sign)      CLINICAL-BASIS.md §4, §5, §7
// When potassium replacement is ordered while hypomagnesemia is current,
// Then it is part of the one card of that hypomagnesemia (warning; critical beside a severe
// or symptomatic deficiency): hypokalemia may not correct until magnesium is repleted —
// replete magnesium alongside potassium (don't delay potassium).

#include "cards.hpp"
#include "common/text.hpp"
#include "trace/conditions.hpp"
#include "trace/record.hpp"

namespace cds::rules {

std::optional<card_draft> rule_potassium_with_hypomagnesemia(rule_context const& rc) {
    if (!rc.f.magnesium.current_low()) return std::nullopt;
    auto const orders = triggering(rc, dc_potassium);
    if (orders.empty()) return std::nullopt;
    card_draft c;
    c.rule_id = "potassium-with-hypomagnesemia";
    c.part_of = problem::current_hypomagnesemia;
    c.drugs = orders;
    c.sort_key = orders.front()->reference;
    for (auto const* e : orders)
        c.detail.push_back(
            fill(rc.d.text("implications.potassium"), {{"drug", drug_summary_name(rc, {e})}}));
    return c;
}

// The conditions the explain trace shows for this rule: what it compares, and with what.
std::vector<trace_comparison> rule_potassium_with_hypomagnesemia_conditions(
    rule_context const& rc) {
    return trace::low_magnesium_with(rc, "potassium replacement ordered", dc_potassium);
}

}  // namespace cds::rules
