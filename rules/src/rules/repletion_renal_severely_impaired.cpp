// Rule: repletion-renal-severely-impaired (order-select, order-sign)  clinical-rules.md §1, §4
// When a magnesium repletion product is ordered and renal function is 20 to < 30 mL/min,
// Then warn to halve the dose (and recheck magnesium in 24–48 hours).

#include "cards.hpp"
#include "common/text.hpp"

namespace cds::rules {

std::optional<card_draft> rule_repletion_renal_severely_impaired(rule_context const& rc) {
    if (rc.f.renal.band != renal_band::severely_impaired) return std::nullopt;
    auto const orders = triggering_repletion_orders(rc);
    if (orders.empty()) return std::nullopt;
    card_draft c;
    c.rule_id = "repletion-renal-severely-impaired";
    c.level = indicator::warning;
    c.sort_key = orders.front()->reference;
    c.summary = fill(rc.d.rule(c.rule_id).summary, {{"drug", drug_summary_name(orders)}, {"renal", renal_short(rc)}});
    c.detail.push_back("Magnesium ordered: " + drugs_text(orders) + ".");
    c.detail.push_back(renal_text(rc));
    c.detail.push_back("Severely impaired renal function: halve every magnesium dose (IV " + format_number(rc.d.iv_reduced_dose_g) +
                       " g instead of " + format_number(rc.d.iv_dose_g) + " g; oral " + format_number(rc.d.oral_reduced_dose_mg) +
                       " mg instead of " + format_number(rc.d.oral_dose_mg) + " mg) and recheck magnesium within " +
                       format_number(rc.d.oral_recheck_days[2] * 24) + " hours.");
    if (rc.f.magnesium.latest) c.detail.push_back(mg_evidence(rc));
    rc.note(c.rule_id, orders.front()->reference, "fires: magnesium ordered with severely impaired renal function");
    return c;
}

}  // namespace cds::rules
