// Rule: wasting-drug-with-hypomagnesemia (order-select, order-sign)   CLINICAL-BASIS.md §4, §5
// When a magnesium-wasting drug (loop or thiazide diuretic, PPI, other) is ordered while
// hypomagnesemia is current,
// Then it is part of the one card of that hypomagnesemia (warning; critical if severe or
// symptomatic; info when the deficiency is treated already): a line per drug with its
// implication, the repletion suggestions, and for a drafted PPI a suggestion that also
// replaces it with famotidine dosed by renal band (only if the PPI's indication allows).

#include "cards.hpp"
#include "common/text.hpp"
#include "trace/conditions.hpp"
#include "trace/record.hpp"

namespace cds::rules {

std::optional<card_draft> rule_wasting_drug_with_hypomagnesemia(rule_context const& rc) {
    auto const& f = rc.f;
    if (!f.magnesium.current_low()) return std::nullopt;
    auto const drugs = triggering(rc, dc_wasting);
    if (drugs.empty()) return std::nullopt;
    card_draft c;
    c.rule_id = "wasting-drug-with-hypomagnesemia";
    c.part_of = problem::current_hypomagnesemia;
    c.drugs = drugs;
    c.sort_key = drugs.front()->reference;
    // The famotidine doses are adult doses too (CLINICAL-BASIS.md §3: under 18 or unknown
    // age, no dose is suggested).
    bool const adult = f.age_years && *f.age_years >= rc.d.adult_age_years;
    for (auto const* e : drugs) {
        bool const ppi = e->is(dc_ppi);
        c.detail.push_back(fill(rc.d.text(ppi ? "implications.ppi" : "implications.wasting"),
                                {{"drug", drug_summary_name(rc, {e})}}));
        if (ppi && e->from_context && adult) c.suggestions.push_back(famotidine_switch(rc, *e));
    }
    return c;
}

// The conditions the explain trace shows for this rule: what it compares, and with what.
std::vector<trace_comparison> rule_wasting_drug_with_hypomagnesemia_conditions(
    rule_context const& rc) {
    return trace::low_magnesium_with(rc, "magnesium-wasting drug ordered", dc_wasting);
}

}  // namespace cds::rules
