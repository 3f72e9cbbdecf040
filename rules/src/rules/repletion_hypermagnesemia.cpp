// Rule: repletion-hypermagnesemia (order-select, order-sign)           CLINICAL-BASIS.md §4
// When a magnesium repletion product is ordered while the current serum magnesium is
// above 2.5 mg/dL,
// Then warn (hypermagnesemia).

#include "cards.hpp"
#include "common/text.hpp"
#include "trace/conditions.hpp"
#include "trace/record.hpp"

namespace cds::rules {

std::optional<card_draft> rule_repletion_hypermagnesemia(rule_context const& rc) {
    auto const& m = rc.f.magnesium;
    if (!m.current || !m.latest || m.level != mg_level::high) return std::nullopt;
    auto const orders = triggering_repletion_orders(rc);
    if (orders.empty()) return std::nullopt;
    card_draft c;
    c.rule_id = "repletion-hypermagnesemia";
    c.level = indicator::warning;
    c.sort_key = orders.front()->reference;
    c.references = evidence_references(rc, orders);
    c.summary = fill(rc.d.rule(c.rule_id).summary,
                     {{"drug", drug_summary_name(rc, orders)}, {"mg", mg_summary_text(rc)}});
    c.detail.push_back(fill(rc.d.text("magnesium_ordered"), {{"drugs", drugs_text(rc, orders)}}));
    c.detail.push_back(mg_evidence(rc) + " " + rc.d.text("hypermagnesemia_toxicity"));
    c.detail.push_back(mg_thresholds(rc));
    c.detail.push_back(renal_text(rc));
    if (auto s = remove_orders_suggestion(rc, orders)) c.suggestions.push_back(std::move(*s));
    return c;
}

// The conditions the explain trace shows for this rule: what it compares, and with what.
std::vector<trace_comparison> rule_repletion_hypermagnesemia_conditions(rule_context const& rc) {
    return {trace::mg_known(rc),
            trace::compare("serum magnesium above the high threshold", trace::mg_value(rc), ">",
                           rc.d.mg_high_above, "mg/dL", rc.f.magnesium.level == mg_level::high),
            trace::mg_current(rc),
            trace::ordered("magnesium repletion ordered", triggering_repletion_orders(rc))};
}

}  // namespace cds::rules
