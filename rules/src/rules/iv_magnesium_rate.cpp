// Rule: iv-magnesium-rate (order-select, order-sign)                   clinical-rules.md §3, §4
// When IV magnesium is ordered faster than 150 mg/min (from a dose and a rate in mass
// units, or a dose and an infusion duration; a rate in mL/h alone is not checked),
// Then a critical card — but only info when the patient is symptomatic with torsades or
// ventricular arrhythmia, or has pre-eclampsia/eclampsia (an active Condition, or the
// order's own reason) (emergency and obstetric loading
// doses, e.g. 4–6 g over 15–20 minutes, are faster by design).

#include <algorithm>

#include "cards.hpp"
#include "common/text.hpp"

namespace cds::rules {

std::optional<card_draft> rule_iv_magnesium_rate(rule_context const& rc) {
    auto const& d = rc.d;
    std::vector<medication_exposure const*> fast;
    double fastest = 0;
    for (auto const* e : triggering_repletion_orders(rc)) {
        if (e->magnesium != mg_product::parenteral || e->route == route_kind::intramuscular) continue;
        auto const rate = iv_rate_mg_per_min(*e->order, d);
        if (!rate) {
            rc.note("iv-magnesium-rate", e->reference, "rate not computable (no dose with a mass rate or an infusion duration)");
            continue;
        }
        if (*rate <= d.iv_rate_max_mg_per_min) continue;
        fast.push_back(e);
        fastest = std::max(fastest, *rate);
    }
    if (fast.empty()) return std::nullopt;
    // The order's own reason is the prescriber's statement of the emergency or obstetric
    // indication (an eclampsia loading dose is often ordered before the Condition is coded).
    bool const reason_exempt = std::all_of(fast.begin(), fast.end(), [&](medication_exposure const* e) {
        return order_reason_in(*e->order, {"preeclampsia_eclampsia", "ventricular_arrhythmia"}, d);
    });
    bool const exempt = rc.f.recent_torsades_or_ventricular || rc.f.preeclampsia || reason_exempt;
    card_draft c;
    c.rule_id = "iv-magnesium-rate";
    c.level = exempt ? indicator::info : indicator::critical;
    c.sort_key = fast.front()->reference;
    c.summary = fill(d.rule(c.rule_id).summary, {{"rate", format_number(fastest, 0)}, {"max", format_number(d.iv_rate_max_mg_per_min)},
                                                 {"drug", drug_summary_name(fast)}});
    c.detail.push_back("IV magnesium ordered: " + drugs_text(fast) + ", computed rate " + format_number(fastest, 1) +
                       " mg/min; the maximum is " + format_number(d.iv_rate_max_mg_per_min) + " mg/min (e.g. " +
                       format_number(d.iv_dose_g) + " g over at least " + format_number(d.iv_dose_g * 1000 / d.iv_rate_max_mg_per_min, 0) +
                       " minutes).");
    if (exempt) {
        c.detail.push_back(std::string("Exempt from the critical alert: ") +
                           (rc.f.preeclampsia                      ? "pre-eclampsia/eclampsia"
                            : rc.f.recent_torsades_or_ventricular ? "recent torsades / ventricular arrhythmia"
                                                                   : "the order's reason is pre-eclampsia/eclampsia or torsades / ventricular arrhythmia") +
                           ". " + d.text("iv_rate_exemption"));
    } else {
        c.detail.push_back(d.text("iv_rate_exemption"));
    }
    rc.note(c.rule_id, fast.front()->reference, "fires: IV rate " + format_number(fastest, 1) + " mg/min");
    return c;
}

}  // namespace cds::rules
