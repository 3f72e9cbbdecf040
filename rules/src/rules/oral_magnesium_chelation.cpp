// Rule: oral-magnesium-chelation (order-select, order-sign)           CLINICAL-BASIS.md §4, §7
// When an oral fluoroquinolone or tetracycline is ordered while oral magnesium is active or
// drafted, or oral magnesium is ordered while one of those antibiotics is active,
// Then an info card says to separate the doses (antibiotic ≥ 2 h before or 6 h after).
// "Oral magnesium" is any magnesium taken by mouth: repletion salts, and magnesium
// antacids/laxatives (magnesium hydroxide, milk of magnesia) — chelation is chemistry, not
// indication, so they count here though the repletion rules leave them alone. Both drugs need
// an oral route or dose form: rectal products and orders whose route is not recognised do not
// count (§7).

#include "cards.hpp"
#include "common/text.hpp"
#include "trace/conditions.hpp"
#include "trace/record.hpp"

namespace cds::rules {

namespace {

bool oral_antibiotic(medication_exposure const& e) {
    return e.is(dc_fluoroquinolone | dc_tetracycline) && e.oral();
}

bool oral_magnesium(medication_exposure const& e) {
    return (e.magnesium == mg_product::oral_repletion || e.magnesium == mg_product::laxative) &&
           e.oral();
}

}  // namespace

std::optional<card_draft> rule_oral_magnesium_chelation(rule_context const& rc) {
    auto const& f = rc.f;
    // An antibiotic ordered meets any oral magnesium, active or drafted; magnesium ordered
    // meets an antibiotic that is active (in the record) or ordered with it.
    bool antibiotic_ordered = false;
    bool magnesium_ordered = false;
    for (auto const& e : f.exposures) {
        if (!e.trigger) continue;
        antibiotic_ordered = antibiotic_ordered || oral_antibiotic(e);
        magnesium_ordered = magnesium_ordered || oral_magnesium(e);
    }
    std::vector<medication_exposure const*> antibiotics, magnesium;
    for (auto const& e : f.exposures) {
        bool const active_or_ordered = e.trigger || !e.from_context;
        if (oral_antibiotic(e) && active_or_ordered) antibiotics.push_back(&e);
        if (oral_magnesium(e) && (active_or_ordered || antibiotic_ordered)) magnesium.push_back(&e);
    }
    bool const antibiotic_meets_magnesium = antibiotic_ordered && !magnesium.empty();
    bool const magnesium_meets_antibiotic = magnesium_ordered && !antibiotics.empty();
    if (!antibiotic_meets_magnesium && !magnesium_meets_antibiotic) return std::nullopt;
    card_draft c;
    c.rule_id = "oral-magnesium-chelation";
    c.level = indicator::info;
    c.sort_key = antibiotics.front()->reference;
    c.references = evidence_references(rc, antibiotics);
    c.summary = fill(rc.d.rule(c.rule_id).summary, {{"drug", drug_summary_name(rc, antibiotics)}});
    c.detail.push_back(fill(
        rc.d.text("chelation_pair"),
        {{"antibiotics", drugs_text(rc, antibiotics)}, {"magnesium", drugs_text(rc, magnesium)}}));
    c.detail.push_back(rc.d.text("chelation_advice"));
    return c;
}

// The conditions the explain trace shows for this rule: what it compares, and with what.
// An antibiotic ordered meets any oral magnesium; magnesium ordered meets an antibiotic that is
// active or ordered with it.
std::vector<trace_comparison> rule_oral_magnesium_chelation_conditions(rule_context const& rc) {
    std::vector<medication_exposure const*> antibiotic_ordered, magnesium_ordered, antibiotics,
        magnesium;
    for (auto const& e : rc.f.exposures) {
        if (oral_antibiotic(e) && e.trigger) antibiotic_ordered.push_back(&e);
        if (oral_magnesium(e) && e.trigger) magnesium_ordered.push_back(&e);
        if (oral_antibiotic(e) && (e.trigger || !e.from_context)) antibiotics.push_back(&e);
        if (oral_magnesium(e)) magnesium.push_back(&e);
    }
    bool const antibiotic_meets_magnesium = !antibiotic_ordered.empty() && !magnesium.empty();
    bool const magnesium_meets_antibiotic = !magnesium_ordered.empty() && !antibiotics.empty();
    std::string note = "antibiotic ordered: " + trace::references_of(antibiotic_ordered) +
                       "; oral magnesium ordered: " + trace::references_of(magnesium_ordered) +
                       "; antibiotic active or ordered: " + trace::references_of(antibiotics) +
                       "; oral magnesium: " + trace::references_of(magnesium);
    return {trace::condition(
        "oral fluoroquinolone or tetracycline with oral magnesium, one of them ordered",
        antibiotic_meets_magnesium || magnesium_meets_antibiotic, std::move(note))};
}

}  // namespace cds::rules
