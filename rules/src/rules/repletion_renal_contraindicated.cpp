// Rule: repletion-renal-contraindicated (order-select, order-sign)    CLINICAL-BASIS.md §1, §4
// When a magnesium repletion product is ordered and renal function is < 20 mL/min (or an
// active CKD stage 5 / dialysis Condition),
// Then a critical card: no oral supplementation; IV only for severe or symptomatic
// deficiency, halved, with nephrology input.

#include "cards.hpp"
#include "common/text.hpp"
#include "trace/conditions.hpp"
#include "trace/record.hpp"

namespace cds::rules {

std::optional<card_draft> rule_repletion_renal_contraindicated(rule_context const& rc) {
    if (rc.f.renal.band != renal_band::contraindicated) return std::nullopt;
    auto const orders = triggering_repletion_orders(rc);
    if (orders.empty()) return std::nullopt;
    bool const severe_path = rc.f.magnesium.current_low() &&
                             (rc.f.magnesium.level == mg_level::severe || rc.f.symptomatic);
    card_draft c;
    c.rule_id = "repletion-renal-contraindicated";
    c.level = indicator::critical;
    c.sort_key = orders.front()->reference;
    c.references = evidence_references(rc, orders);
    std::string const action = severe_path ? rc.d.text("actions.contraindicated_critical")
                                           : rc.d.text("actions.remove_nephrology");
    c.summary = fill(
        rc.d.rule(c.rule_id).summary,
        {{"drug", drug_summary_name(rc, orders)}, {"renal", renal_short(rc)}, {"action", action}});
    c.detail.push_back(fill(rc.d.text("magnesium_ordered"), {{"drugs", drugs_text(rc, orders)}}));
    c.detail.push_back(renal_text(rc));
    c.detail.push_back(rc.d.text("nephrology_advice"));
    if (rc.f.magnesium.latest) c.detail.push_back(mg_evidence(rc));
    // The way out (CLINICAL-BASIS.md §3.4): remove the order, unless it is the IV path for a
    // severe or symptomatic deficiency, which runs at the reduced dose.
    std::vector<medication_exposure const*> to_remove;
    for (auto const* e : orders) {
        if (severe_path && e->magnesium == mg_product::parenteral) {
            // Already at or below the reduced dose: the way out is its recheck.
            auto s = dose_change_suggestion(rc, *e, rc.d.iv_reduced_dose_g * 1000,
                                            "orders.reduce_label");
            c.suggestions.push_back(s ? std::move(*s) : recheck_after_infusion_suggestion(rc));
        } else {
            to_remove.push_back(e);
        }
    }
    if (auto s = remove_orders_suggestion(rc, to_remove)) c.suggestions.push_back(std::move(*s));
    return c;
}

// The conditions the explain trace shows for this rule: what it compares, and with what.
std::vector<trace_comparison> rule_repletion_renal_contraindicated_conditions(
    rule_context const& rc) {
    return {trace::compare("renal function below the severely impaired band",
                           trace::renal_estimate_ml_min(rc), "<", rc.d.band_min[2], "mL/min",
                           rc.f.renal.band == renal_band::contraindicated, trace::renal_note(rc)),
            trace::ordered("magnesium repletion ordered", triggering_repletion_orders(rc))};
}

}  // namespace cds::rules
