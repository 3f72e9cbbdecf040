// Rule: repletion-renal-severely-impaired (order-select, order-sign)  CLINICAL-BASIS.md §1, §4, §7
// When a magnesium repletion product is ordered and renal function is 20 to < 30 mL/min,
// Then warn to halve the dose (and recheck magnesium in 24–48 hours). An oral order already
// at the halved dose is correct and gets no card (§7 Halving); a full-dose oral order's card
// gives its halved dose. Only an oral route or dose form makes an order oral: an order whose
// route is not recognised is warned about without a judgement of its dose (§7).

#include "cards.hpp"
#include "common/decimal.hpp"
#include "common/text.hpp"
#include "trace/conditions.hpp"
#include "trace/record.hpp"

namespace cds::rules {

namespace {

// Magnesium oxide, or another salt dosed as elemental magnesium (CLINICAL-BASIS.md §3.2).
bool is_oxide(medication_exposure const& e, rule_set_data const& d) {
    auto const& oxide = d.vs("magnesium_oxide");
    auto const& o = *e.order;
    auto names = [&](fhir::codeable_concept const& cc) {
        return oxide.matches_code(cc) || oxide.matches_text(concept_words(cc));
    };
    return names(o.resolved_code) || (o.medication_concept && names(*o.medication_concept));
}

// The halved oral amount a day for this product (CLINICAL-BASIS.md §3.2): magnesium oxide
// 200 mg, other salts as elemental magnesium (glycinate 120 mg).
double halved_oral_mg(medication_exposure const& e, rule_set_data const& d) {
    return is_oxide(e, d) ? d.oral_reduced_dose_mg : d.alt_reduced_dose_mg;
}

}  // namespace

std::optional<card_draft> rule_repletion_renal_severely_impaired(rule_context const& rc) {
    auto const& d = rc.d;
    if (rc.f.renal.band != renal_band::severely_impaired) return std::nullopt;
    std::vector<medication_exposure const*> orders;
    std::vector<std::string> halvings;
    std::vector<suggestion_draft> way_out;
    for (auto const* e : triggering_repletion_orders(rc)) {
        if (e->oral()) {
            double const halved = halved_oral_mg(*e, d);
            auto const daily = daily_dose_mg(*e->order, d);
            if (daily && *daily <= halved) {
                rc.note("repletion-renal-severely-impaired", e->reference,
                        "oral dose already halved: correct, no card");
                continue;
            }
            if (daily)
                halvings.push_back(
                    fill(d.text("oral_halving"),
                         {{"dose", format_number(*daily)}, {"halved", format_number(halved)}}));
            if (auto s = halved_oral_suggestion(rc, *e, is_oxide(*e, d)))
                way_out.push_back(std::move(*s));
        } else if (auto s = dose_change_suggestion(rc, *e, d.iv_reduced_dose_g * 1000,
                                                   "orders.halve_label")) {
            way_out.push_back(std::move(*s));
        }
        orders.push_back(e);
    }
    if (orders.empty()) return std::nullopt;
    card_draft c;
    c.rule_id = "repletion-renal-severely-impaired";
    c.level = indicator::warning;
    c.sort_key = orders.front()->reference;
    c.references = evidence_references(rc, orders);
    c.summary = fill(d.rule(c.rule_id).summary,
                     {{"drug", drug_summary_name(rc, orders)}, {"renal", renal_short(rc)}});
    c.detail.push_back(fill(rc.d.text("magnesium_ordered"), {{"drugs", drugs_text(rc, orders)}}));
    for (auto& h : halvings) c.detail.push_back(std::move(h));
    c.detail.push_back(renal_text(rc));
    c.detail.push_back(
        // The oral halving is stated per order above (its own product's dose), so only the IV
        // dose is named here.
        fill(d.text("halve_every_dose"), {{"iv_reduced", format_number(d.iv_reduced_dose_g)},
                                          {"hours", format_number(d.oral_recheck_days[2] * 24)}}));
    if (rc.f.magnesium.latest) c.detail.push_back(mg_evidence(rc));
    c.suggestions = std::move(way_out);
    return c;
}

// The conditions the explain trace shows for this rule: what it compares, and with what.
std::vector<trace_comparison> rule_repletion_renal_severely_impaired_conditions(
    rule_context const& rc) {
    auto const v = trace::renal_estimate_ml_min(rc);
    bool const in_band = rc.f.renal.band == renal_band::severely_impaired;
    return {
        trace::compare("renal function at or above the severely impaired band", v,
                       ">=", rc.d.band_min[2], "mL/min",
                       v && compare_as_decimal(*v, rc.d.band_min[2]) >= 0 && !rc.f.renal.ckd5,
                       trace::renal_note(rc)),
        trace::compare("renal function below the impaired band", v, "<", rc.d.band_min[1], "mL/min",
                       in_band || (v && compare_as_decimal(*v, rc.d.band_min[1]) < 0)),
        trace::ordered("magnesium repletion ordered", triggering_repletion_orders(rc))};
}

}  // namespace cds::rules
