// Rule: repletion-without-deficiency (order-select, order-sign)        CLINICAL-BASIS.md §4, §7
// When a magnesium repletion product is ordered while the current serum magnesium is
// normal (1.8–2.5 mg/dL),
// Then warn that no deficiency is documented — except when exempt (§7): the order's reason
// or an active Condition is pre-eclampsia/eclampsia or torsades/ventricular arrhythmia (any
// onset), or asthma (a coded reason on the order, or an active Condition with onset within
// 7 days), where magnesium is given without a deficiency.

#include "cards.hpp"
#include "common/text.hpp"
#include "trace/conditions.hpp"
#include "trace/record.hpp"

namespace cds::rules {

std::optional<card_draft> rule_repletion_without_deficiency(rule_context const& rc) {
    auto const& f = rc.f;
    auto const& m = f.magnesium;
    if (!m.current || !m.latest || m.level != mg_level::normal) return std::nullopt;
    std::vector<medication_exposure const*> orders;
    for (auto const* e : triggering_repletion_orders(rc)) {
        std::string const why = exemption(rc, *e, true);
        if (!why.empty()) {
            rc.note("repletion-without-deficiency", e->reference, "exempt: ", why);
            continue;
        }
        orders.push_back(e);
    }
    if (orders.empty()) return std::nullopt;
    card_draft c;
    c.rule_id = "repletion-without-deficiency";
    c.level = indicator::warning;
    c.sort_key = orders.front()->reference;
    c.references = evidence_references(rc, orders);
    c.summary = fill(rc.d.rule(c.rule_id).summary,
                     {{"drug", drug_summary_name(rc, orders)}, {"mg", mg_summary_text(rc)}});
    c.detail.push_back(fill(rc.d.text("magnesium_ordered"), {{"drugs", drugs_text(rc, orders)}}));
    c.detail.push_back(mg_evidence(rc));
    c.detail.push_back(rc.d.text("normal_exclusion"));
    c.detail.push_back(mg_thresholds(rc));
    c.detail.push_back(renal_text(rc));
    if (auto s = remove_orders_suggestion(rc, orders)) c.suggestions.push_back(std::move(*s));
    return c;
}

// The conditions the explain trace shows for this rule: what it compares, and with what.
std::vector<trace_comparison> rule_repletion_without_deficiency_conditions(rule_context const& rc) {
    auto const& m = rc.f.magnesium;
    bool const normal = m.latest && m.level == mg_level::normal;
    return {trace::mg_known(rc),
            trace::compare("serum magnesium at or above the low threshold", trace::mg_value(rc),
                           ">=", rc.d.mg_low_below, "mg/dL", m.latest && !m.low()),
            trace::compare("serum magnesium at or below the high threshold", trace::mg_value(rc),
                           "<=", rc.d.mg_high_above, "mg/dL", normal),
            trace::mg_current(rc),
            trace::ordered("magnesium repletion ordered", triggering_repletion_orders(rc))};
}

}  // namespace cds::rules
