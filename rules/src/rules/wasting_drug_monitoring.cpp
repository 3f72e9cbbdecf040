// Rule: wasting-drug-monitoring (all hooks)                          CLINICAL-BASIS.md §1, §4
// When the patient is on a magnesium-wasting drug (patient-view: active in the record;
// order hooks: the triggering orders) and there is no serum magnesium in the last 12
// months — 7 days for the high-risk ones (cisplatin, cetuximab, panitumumab, amphotericin
// B, aminoglycosides, foscarnet, pentamidine) — and no magnesium level is ordered for now
// (active or drafted, §3.3),
// Then an info card suggests a magnesium level.

#include "cards.hpp"
#include "common/text.hpp"

namespace cds::rules {

std::optional<card_draft> rule_wasting_drug_monitoring(rule_context const& rc) {
    auto const& f = rc.f;
    auto const& d = rc.d;
    if (level_ordered_now(f, level_kind::magnesium, d)) return std::nullopt;
    bool const patient_view = rc.hook.hook == "patient-view";
    std::vector<medication_exposure const*> due;
    bool high_risk_due = false;
    for (auto const& e : f.exposures) {
        if (!e.is(dc_wasting)) continue;
        if (patient_view ? e.from_context : !e.trigger) continue;
        bool const high_risk = e.is(dc_high_risk);
        double const window = high_risk ? d.mg_monitoring_high_risk_days : d.mg_monitoring_days;
        if (f.magnesium.any_within_days(f.now, window)) continue;
        due.push_back(&e);
        high_risk_due = high_risk_due || high_risk;
    }
    if (due.empty()) return std::nullopt;
    double const window = high_risk_due ? d.mg_monitoring_high_risk_days : d.mg_monitoring_days;
    std::string const window_text = window >= 365 ? "12 months" : format_number(window) + " days";
    card_draft c;
    c.rule_id = "wasting-drug-monitoring";
    c.level = indicator::info;
    c.sort_key = due.front()->reference;
    c.references = evidence_references(rc, due);
    c.summary = fill(d.rule(c.rule_id).summary,
                     {{"drug", drug_summary_name(due)}, {"window", window_text}});
    c.detail.push_back(fill(d.text("monitoring_expected"),
                            {{"drugs", drugs_text(due)},
                             {"days", format_number(d.mg_monitoring_days)},
                             {"high_risk_days", format_number(d.mg_monitoring_high_risk_days)}}));
    c.detail.push_back(mg_evidence(rc));
    c.detail.push_back(renal_text(rc));
    c.wants = shared_suggestion::level;
    return c;
}

}  // namespace cds::rules
