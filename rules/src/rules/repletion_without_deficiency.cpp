// Rule: repletion-without-deficiency (order-select, order-sign)        clinical-rules.md §4
// When a magnesium repletion product is ordered while the current serum magnesium is
// normal (1.8–2.5 mg/dL),
// Then warn that no deficiency is documented — except when the order's reason or an
// active Condition is pre-eclampsia/eclampsia, torsades (recent), or acute asthma (onset
// within 7 days), where magnesium is given without a deficiency.

#include "cards.hpp"
#include "common/text.hpp"

namespace cds::rules {

std::optional<card_draft> rule_repletion_without_deficiency(rule_context const& rc) {
    auto const& f = rc.f;
    auto const& m = f.magnesium;
    if (!m.current || !m.latest || m.level != mg_level::normal) return std::nullopt;
    std::vector<medication_exposure const*> orders;
    for (auto const* e : triggering_repletion_orders(rc)) {
        if (order_reason_in(*e->order, {"preeclampsia_eclampsia", "torsades", "asthma"}, rc.d)) {
            rc.note("repletion-without-deficiency", e->reference, "exempt: the order's reason is pre-eclampsia/eclampsia, torsades or asthma");
            continue;
        }
        orders.push_back(e);
    }
    if (orders.empty()) return std::nullopt;
    if (f.preeclampsia || f.recent_torsades || f.acute_asthma) {
        rc.note("repletion-without-deficiency", "conditions", "exempt: active pre-eclampsia/eclampsia, torsades or acute asthma");
        return std::nullopt;
    }
    card_draft c;
    c.rule_id = "repletion-without-deficiency";
    c.level = indicator::warning;
    c.sort_key = orders.front()->reference;
    c.summary = fill(rc.d.rule(c.rule_id).summary, {{"drug", drug_summary_name(orders)}, {"mg", mg_value_text(*m.latest)}});
    c.detail.push_back("Magnesium ordered: " + drugs_text(orders) + ".");
    c.detail.push_back(mg_evidence(rc));
    c.detail.push_back(rc.d.text("normal_exclusion"));
    c.detail.push_back(mg_thresholds(rc.d));
    c.detail.push_back(renal_text(rc));
    rc.note(c.rule_id, orders.front()->reference, "fires: magnesium ordered with normal current magnesium");
    return c;
}

}  // namespace cds::rules
