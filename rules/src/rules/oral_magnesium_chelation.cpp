// Rule: oral-magnesium-chelation (order-select, order-sign)           clinical-rules.md §4
// When an oral fluoroquinolone or tetracycline is ordered while oral magnesium (repletion
// salts, and magnesium antacids/laxatives taken by mouth) is active or drafted (or oral
// magnesium is ordered while one of them is active or drafted),
// Then an info card says to separate the doses (antibiotic ≥ 2 h before or 6 h after).

#include "cards.hpp"
#include "common/text.hpp"

namespace cds::rules {

std::optional<card_draft> rule_oral_magnesium_chelation(rule_context const& rc) {
    auto const& f = rc.f;
    auto oral_antibiotic = [](medication_exposure const& e) { return e.is(dc_fluoroquinolone | dc_tetracycline) && e.oral(); };
    // "Oral magnesium" here is any magnesium taken by mouth: the chelation is chemistry, not
    // indication, so a magnesium hydroxide antacid/laxative counts as much as a repletion
    // salt (clinical-rules.md §2 leaves laxatives alone as *repletion*; see
    // fixtures/scenarios/TRACEABILITY.md, decision B).
    auto oral_mg = [](medication_exposure const& e) {
        // Magnesium hydroxide has no other route, so an unstated route is by mouth; an enema is
        // classified rectal and does not count.
        bool const by_mouth = e.route == route_kind::oral || e.route == route_kind::unknown;
        return e.magnesium == mg_product::oral_repletion || (e.magnesium == mg_product::laxative && by_mouth);
    };
    std::vector<medication_exposure const*> antibiotics, magnesium;
    bool trigger = false;
    for (auto const& e : f.exposures) {
        if (oral_antibiotic(e)) { antibiotics.push_back(&e); trigger = trigger || e.trigger; }
        if (oral_mg(e)) { magnesium.push_back(&e); trigger = trigger || e.trigger; }
    }
    if (antibiotics.empty() || magnesium.empty() || !trigger) return std::nullopt;
    card_draft c;
    c.rule_id = "oral-magnesium-chelation";
    c.level = indicator::info;
    c.sort_key = antibiotics.front()->reference;
    c.summary = fill(rc.d.rule(c.rule_id).summary, {{"drug", drug_summary_name(antibiotics)}});
    c.detail.push_back("Oral antibiotic: " + drugs_text(antibiotics) + ". Oral magnesium: " + drugs_text(magnesium) + ".");
    c.detail.push_back(rc.d.text("chelation_advice"));
    rc.note(c.rule_id, antibiotics.front()->reference, "fires: oral antibiotic with oral magnesium");
    return c;
}

}  // namespace cds::rules
