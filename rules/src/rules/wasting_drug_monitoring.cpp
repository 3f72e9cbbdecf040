// Rule: wasting-drug-monitoring (all hooks)                          CLINICAL-BASIS.md §1, §4
// When the patient is on a magnesium-wasting drug (patient-view: active in the record;
// order hooks: the triggering orders) and there is no serum magnesium in the last 12
// months — 7 days for the high-risk ones (cisplatin, cetuximab, panitumumab, amphotericin
// B, aminoglycosides, foscarnet, pentamidine) — and no magnesium level is ordered for now
// (active or drafted, §3.3),
// Then an info card suggests a magnesium level.

#include "cards.hpp"
#include "common/format.hpp"
#include "common/text.hpp"
#include "trace/conditions.hpp"
#include "trace/record.hpp"

namespace cds::rules {

namespace {

// The days within which a serum magnesium is expected on a wasting drug of that risk.
double monitoring_days(bool high_risk, rule_set_data const& d) {
    return high_risk ? d.mg_monitoring_high_risk_days : d.mg_monitoring_days;
}

// That window in words: "12 months" for a year or more, else its days.
std::string monitoring_window_text(bool high_risk, rule_set_data const& d) {
    double const days = monitoring_days(high_risk, d);
    return days >= 365 ? duration_text(12, time_unit::month, d)
                       : duration_text(days, time_unit::day, d);
}

}  // namespace

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
        if (f.magnesium.any_within_days(f.now, monitoring_days(high_risk, d))) continue;
        due.push_back(&e);
        high_risk_due = high_risk_due || high_risk;
    }
    if (due.empty()) return std::nullopt;
    std::string const window_text = monitoring_window_text(high_risk_due, d);
    card_draft c;
    c.rule_id = "wasting-drug-monitoring";
    c.level = indicator::info;
    c.sort_key = due.front()->reference;
    c.references = evidence_references(rc, due);
    c.summary = fill(d.rule(c.rule_id).summary,
                     {{"drug", drug_summary_name(rc, due)}, {"window", window_text}});
    // One sentence per window, each naming the drugs it applies to.
    for (bool const high_risk : {true, false}) {
        std::vector<medication_exposure const*> drugs;
        for (auto const* e : due) {
            if (e->is(dc_high_risk) == high_risk) drugs.push_back(e);
        }
        if (drugs.empty()) continue;
        c.detail.push_back(fill(
            d.text("monitoring_expected"),
            {{"drugs", drugs_text(rc, drugs)}, {"window", monitoring_window_text(high_risk, d)}}));
    }
    c.detail.push_back(mg_evidence(rc));
    c.detail.push_back(renal_text(rc));
    c.wants = shared_suggestion::level;
    return c;
}

// The conditions the explain trace shows for this rule: what it compares, and with what.
std::vector<trace_comparison> rule_wasting_drug_monitoring_conditions(rule_context const& rc) {
    bool const patient_view = rc.hook.hook == "patient-view";
    std::vector<medication_exposure const*> wasting, high_risk;
    for (auto const& e : rc.f.exposures) {
        if (!e.is(dc_wasting) || (patient_view ? e.from_context : !e.trigger)) continue;
        wasting.push_back(&e);
        if (e.is(dc_high_risk)) high_risk.push_back(&e);
    }
    std::vector<trace_comparison> out{trace::ordered(patient_view
                                                         ? "a magnesium-wasting drug in the record"
                                                         : "a magnesium-wasting drug ordered",
                                                     wasting)};
    if (!high_risk.empty()) {
        out.push_back(trace::no_mg_within(rc,
                                          "days since the newest serum magnesium (high-risk drug)",
                                          rc.d.mg_monitoring_high_risk_days));
    }
    if (high_risk.size() < wasting.size() || wasting.empty()) {
        out.push_back(trace::no_mg_within(rc, "days since the newest serum magnesium",
                                          rc.d.mg_monitoring_days));
    }
    out.push_back(trace::no_mg_level_ordered(rc));
    return out;
}

}  // namespace cds::rules
