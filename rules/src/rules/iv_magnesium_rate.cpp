// Rule: iv-magnesium-rate (order-select, order-sign)                   CLINICAL-BASIS.md §3, §4, §7
// When IV magnesium is ordered faster than 150 mg/min (from a dose and a rate in mass
// units, or a dose and an infusion duration; a rate in mL/h alone is not checked) — an order
// whose route is not recognised is checked too when its rate is in mass terms —
// Then a critical card — but only info when exempt (§7): the order's reason or an active
// Condition (any onset) is torsades or ventricular arrhythmia, or pre-eclampsia/eclampsia
// (emergency and obstetric loading doses, e.g. 4–6 g over 15–20 minutes, are faster by design).

#include <algorithm>

#include <cmath>

#include "cards.hpp"
#include "common/text.hpp"
#include "trace/conditions.hpp"
#include "trace/record.hpp"

namespace cds::rules {

namespace {

// The computed rate, and for one order of one dosage with a dose in mass units the dose and
// minutes behind it and the fewest minutes that dose needs: the prescriber sees why, in the
// order's own terms.
std::string rate_sentence(rule_context const& rc,
                          std::vector<medication_exposure const*> const& fast,
                          double fastest) {
    auto const& d = rc.d;
    std::optional<double> dose_mg;
    if (fast.size() == 1 && fast.front()->order->dosages.size() == 1)
        dose_mg = first_dose_mg(*fast.front(), d);
    bool const own_dose = dose_mg && *dose_mg > 0;
    double const example_mg = own_dose ? *dose_mg : d.iv_dose_g * 1000;
    template_values const values{
        {"drugs", drugs_text(rc, fast)},
        {"rate", format_number(fastest, 1)},
        {"max", format_number(d.iv_rate_max_mg_per_min)},
        {"dose", format_number(example_mg / 1000)},
        {"given", format_number(example_mg / fastest, example_mg / fastest < 10 ? 1 : 0)},
        {"minutes", format_number(std::ceil(example_mg / d.iv_rate_max_mg_per_min), 0)}};
    return fill(d.text(own_dose ? "iv_rate_computed_dose" : "iv_rate_computed"), values);
}

}  // namespace

std::optional<card_draft> rule_iv_magnesium_rate(rule_context const& rc) {
    auto const& d = rc.d;
    std::vector<medication_exposure const*> fast;
    double fastest = 0;
    for (auto const* e : triggering_repletion_orders(rc)) {
        // Oral and intramuscular orders have no infusion rate; any other route (IV, or one
        // not recognised) is checked when its rate is in mass terms (CLINICAL-BASIS.md §7).
        if (e->route == route_kind::oral || e->route == route_kind::intramuscular) continue;
        auto const rate = iv_rate_mg_per_min(*e->order, d);
        if (!rate) {
            rc.note("iv-magnesium-rate", e->reference,
                    "rate not computable (no dose with a mass rate or an infusion duration)");
            continue;
        }
        if (*rate <= d.iv_rate_max_mg_per_min) continue;
        fast.push_back(e);
        fastest = std::max(fastest, *rate);
    }
    if (fast.empty()) return std::nullopt;
    // Exempt only when every fast order is: by its own reason, or by an active Condition.
    std::string why_exempt;
    for (auto const* e : fast) {
        std::string const why = exemption(rc, *e, false);
        if (why.empty()) {
            why_exempt.clear();
            break;
        }
        if (why_exempt.empty()) why_exempt = why;
    }
    bool const exempt = !why_exempt.empty();
    card_draft c;
    c.rule_id = "iv-magnesium-rate";
    c.level = exempt ? indicator::info : indicator::critical;
    c.sort_key = fast.front()->reference;
    c.references = evidence_references(rc, fast);
    c.summary =
        fill(d.rule(c.rule_id).summary,
             {{"rate", format_number(fastest, 0)},
              {"max", format_number(d.iv_rate_max_mg_per_min)},
              {"drug", drug_summary_name(rc, fast)},
              {"action", d.text(exempt ? "iv_rate_actions.exempt" : "iv_rate_actions.slow")}});
    c.detail.push_back(rate_sentence(rc, fast, fastest));
    if (exempt) {
        c.detail.push_back(d.text("exemptions.iv_rate_lead") + " " + why_exempt + ". " +
                           d.text("iv_rate_exemption"));
    } else {
        // Names the override reason that fits a loading dose the rules could not see as one.
        c.detail.push_back(d.text("iv_rate_override_note"));
    }
    // The way out (CLINICAL-BASIS.md §3.4): each fast draft over enough whole steps.
    if (!exempt) {
        for (auto const* e : fast)
            if (auto s = slower_rate_suggestion(rc, *e)) c.suggestions.push_back(std::move(*s));
    }
    return c;
}

// The conditions the explain trace shows for this rule: what it compares, and with what.
std::vector<trace_comparison> rule_iv_magnesium_rate_conditions(rule_context const& rc) {
    std::vector<medication_exposure const*> infused;
    std::vector<trace_comparison> out;
    for (auto const* e : triggering_repletion_orders(rc)) {
        if (e->route == route_kind::oral || e->route == route_kind::intramuscular) continue;
        infused.push_back(e);
        auto const rate = iv_rate_mg_per_min(*e->order, rc.d);
        out.push_back(trace::compare("infusion rate of " + e->reference, rate, ">",
                                     rc.d.iv_rate_max_mg_per_min, "mg/min",
                                     rate && *rate > rc.d.iv_rate_max_mg_per_min,
                                     rate ? std::string() : "rate not computable"));
    }
    out.insert(out.begin(), trace::ordered("IV magnesium ordered", infused));
    return out;
}

}  // namespace cds::rules
