// Rule: stale-low-magnesium (patient-view)                          CLINICAL-BASIS.md §2, §4
// When the newest serum magnesium was low but is older than 7 days (and at most 90 days) and
// no magnesium level is ordered for now (active or drafted, §3.3),
// Then an info card suggests a recheck of the level.

#include "cards.hpp"
#include "common/format.hpp"
#include "common/text.hpp"
#include "trace/conditions.hpp"
#include "trace/record.hpp"

namespace cds::rules {

std::optional<card_draft> rule_stale_low_magnesium(rule_context const& rc) {
    auto const& m = rc.f.magnesium;
    if (!m.stale_low || level_ordered_now(rc.f, level_kind::magnesium, rc.d)) return std::nullopt;
    card_draft c;
    c.rule_id = "stale-low-magnesium";
    c.level = indicator::info;
    c.summary =
        fill(rc.d.rule(c.rule_id).summary,
             {{"mg", mg_summary_text(rc)}, {"age", describe_age_hours(m.latest->age_hours, rc.d)}});
    auto const drugs = contributing_drugs(rc);
    c.references = evidence_references(rc, drugs);
    c.detail.push_back(
        fill(rc.d.text("stale_recheck"), {{"hours", format_number(rc.d.mg_current_hours)}}));
    c.detail.push_back(mg_evidence(rc) + " " + mg_thresholds(rc));
    if (!drugs.empty()) {
        c.detail.push_back(
            fill(rc.d.text("implications.contributing"), {{"drugs", drugs_text(rc, drugs)}}));
    }
    c.detail.push_back(renal_text(rc));
    c.wants = shared_suggestion::level;
    return c;
}

// The conditions the explain trace shows for this rule: what it compares, and with what.
std::vector<trace_comparison> rule_stale_low_magnesium_conditions(rule_context const& rc) {
    auto const& m = rc.f.magnesium;
    return {trace::mg_known(rc), trace::mg_low(rc),
            trace::compare("serum magnesium result older than the current window",
                           trace::mg_age_hours(rc), ">", rc.d.mg_current_hours, "h",
                           m.latest && !m.current),
            trace::compare("serum magnesium result within the stale-low window",
                           trace::mg_age_hours(rc), "<=", rc.d.mg_stale_low_days * 24, "h",
                           m.latest && m.latest->age_hours <= rc.d.mg_stale_low_days * 24),
            trace::no_mg_level_ordered(rc)};
}

}  // namespace cds::rules
