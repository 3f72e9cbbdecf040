// Rule: repletion-without-recent-level (order-select, order-sign)      CLINICAL-BASIS.md §4
// When a magnesium repletion product is ordered, there is no serum magnesium result in the
// last 7 days and no magnesium level is ordered for now (active or drafted, §3.3),
// Then an info card suggests a magnesium level.

#include "cards.hpp"
#include "common/format.hpp"
#include "common/text.hpp"
#include "trace/conditions.hpp"
#include "trace/record.hpp"

namespace cds::rules {

std::optional<card_draft> rule_repletion_without_recent_level(rule_context const& rc) {
    auto const& f = rc.f;
    if (f.magnesium.any_within_days(f.now, rc.d.mg_before_repletion_days)) return std::nullopt;
    auto const orders = triggering_repletion_orders(rc);
    if (orders.empty() || level_ordered_now(f, level_kind::magnesium, rc.d)) return std::nullopt;
    std::string const window = duration_text(rc.d.mg_before_repletion_days, time_unit::day, rc.d);
    card_draft c;
    c.rule_id = "repletion-without-recent-level";
    c.level = indicator::info;
    c.sort_key = orders.front()->reference;
    c.references = evidence_references(rc, orders);
    c.summary = fill(rc.d.rule(c.rule_id).summary,
                     {{"drug", drug_summary_name(rc, orders)}, {"window", window}});
    c.detail.push_back(fill(rc.d.text("magnesium_ordered_no_level"),
                            {{"drugs", drugs_text(rc, orders)}, {"window", window}}));
    c.detail.push_back(mg_evidence(rc));
    c.detail.push_back(renal_text(rc));
    c.wants = shared_suggestion::level;
    return c;
}

// The conditions the explain trace shows for this rule: what it compares, and with what.
std::vector<trace_comparison> rule_repletion_without_recent_level_conditions(
    rule_context const& rc) {
    return {trace::no_mg_within(rc, "days since the newest serum magnesium",
                                rc.d.mg_before_repletion_days),
            trace::ordered("magnesium repletion ordered", triggering_repletion_orders(rc)),
            trace::no_mg_level_ordered(rc)};
}

}  // namespace cds::rules
